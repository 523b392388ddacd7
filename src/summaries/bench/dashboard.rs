//! The web dashboard's main page in `loopbot bench summary`: the whole page (summary with its
//! trend, recent deploys, open incidents, HTML) on the generated year, timed as the operator
//! sees it (everything). Target: p99 under 50 ms.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::SummarySettings;
use crate::domain::visibility::Reader;
use crate::http::dashboard::{main_page_html, Viewer};
use crate::store::{Store, StoreError};

/// Renders enough to read a p99 from.
pub const RENDERS: usize = 200;

pub async fn measure(
    store: &Store,
    settings: &SummarySettings,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let viewer = Viewer {
        reader: Reader::Operator,
        carry: String::new(),
    };
    let mut out = String::new();
    for period in ["last-week", "last-30-days"] {
        let mut times: Vec<Duration> = Vec::with_capacity(RENDERS);
        let mut size = 0;
        for _ in 0..RENDERS {
            let t = Instant::now();
            let page = main_page_html(store, settings, &viewer, period, now).await?;
            times.push(t.elapsed());
            size = page.map_or(0, |p| p.len());
        }
        times.sort();
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        out.push_str(&format!(
            "dashboard main page ({period}, {} KiB of HTML): median {:.1} ms, p99 {:.1} ms, max {:.1} ms over {RENDERS} renders (target p99 < 50 ms)\n",
            size / 1024,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        ));
    }
    Ok(out)
}
