//! The figures of the trend's weeks (`domain::trend`): the four keys of each week.

use super::{ReadFrom, Result, Scope, Store};
use crate::domain::period::Period;
use crate::domain::production::Environments;
use crate::domain::summary::Figures;
use crate::domain::visibility::Reader;

impl Store {
    /// The figures of each of `weeks` for `scope`, in order. Only the four keys' fields are
    /// meant to be read: per-day counts and comments are not computed.
    pub async fn trend_figures(
        &self,
        weeks: &[Period],
        scope: &Scope,
        production: &Environments,
    ) -> Result<Vec<Figures>> {
        self.trend_figures_from(ReadFrom::Rollups, weeks, scope, production)
            .await
    }

    /// [`Store::trend_figures`], read as `reading` says: from the rollups, all weeks at once, or
    /// from the rows, one whole summary per week.
    pub async fn trend_figures_from(
        &self,
        reading: ReadFrom,
        weeks: &[Period],
        scope: &Scope,
        production: &Environments,
    ) -> Result<Vec<Figures>> {
        if reading == ReadFrom::Rollups && scope.reader == Reader::Operator {
            return self.trend_figures_rollups(weeks, scope, production).await;
        }
        let mut out = Vec::with_capacity(weeks.len());
        for week in weeks {
            out.push(
                self.summary_figures_from(ReadFrom::Rows, week, scope, production, false)
                    .await?,
            );
        }
        Ok(out)
    }
}
