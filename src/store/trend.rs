//! The figures of the trend's weeks (`domain::trend`): the four keys of each week.

use super::{Result, Scope, Store};
use crate::domain::period::Period;
use crate::domain::production::Environments;
use crate::domain::summary::Figures;

impl Store {
    /// The figures of each of `weeks` for `scope`, in order. Only the four keys' fields are
    /// meant to be read: per-day counts and comments are not computed.
    pub async fn trend_figures(
        &self,
        weeks: &[Period],
        scope: &Scope,
        production: &Environments,
    ) -> Result<Vec<Figures>> {
        let mut out = Vec::with_capacity(weeks.len());
        for week in weeks {
            out.push(self.summary_figures(week, scope, production, false).await?);
        }
        Ok(out)
    }
}
