//! Prometheus' HTTP API, as far as loopbot calls it: one instant query at a time
//! (`GET /api/v1/query?query=…&time=…`), with a timeout. What the answer means is read by
//! `domain::health::read_answer`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::health::{read_answer, Failure, Unavailable};

/// Largest answer read: an instant query of one series is a few hundred bytes.
const ANSWER_MAX: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Prometheus {
    client: reqwest::Client,
    query_url: reqwest::Url,
}

impl Prometheus {
    /// A client for the Prometheus at `base_url` (`LOOPBOT_PROMETHEUS_URL`, already checked to be
    /// an http(s) URL); each query gives up after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Option<Self> {
        let query_url =
            reqwest::Url::parse(&format!("{}/api/v1/query", base_url.trim_end_matches('/')))
                .ok()?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("loopbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()?;
        Some(Self { client, query_url })
    }

    /// The value of `promql` at `at`, or why not.
    pub async fn query(&self, promql: &str, at: DateTime<Utc>) -> Result<f64, Failure> {
        let mut url = self.query_url.clone();
        let time = format!("{}.{:03}", at.timestamp(), at.timestamp_subsec_millis());
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair("time", &time);
        let response = self.client.get(url).send().await.map_err(failure)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            body.extend_from_slice(&chunk);
            if body.len() > ANSWER_MAX {
                return Err(Failure::new(
                    Unavailable::BadAnswer,
                    format!("an answer over {ANSWER_MAX} bytes"),
                ));
            }
        }
        read_answer(status, &String::from_utf8_lossy(&body))
    }
}

fn failure(error: reqwest::Error) -> Failure {
    // Refused, reset or cut off: to the check-in, Prometheus is out of reach either way.
    let reason = if error.is_timeout() {
        Unavailable::Timeout
    } else {
        Unavailable::Unreachable
    };
    // Without the URL: it holds the query, which the log line names anyway.
    Failure::new(reason, error.without_url().to_string())
}
