//! What one HTTP client may hold of the server (`LOOPBOT_HTTP_*`); moved out of config.rs to keep
//! it under 800 lines.

use std::time::Duration;

use super::ConfigError;

/// What one HTTP client may hold of the server (`LOOPBOT_HTTP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Not configurable: a sender's headers arrive at once; 10 s is generous.
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    pub max_connections: usize,
}

impl HttpLimits {
    pub(super) fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let count = |variable: &'static str, default: usize| {
            get(variable).map_or(Ok(default), |raw| {
                raw.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError {
                        variable,
                        problem: "is not a positive number".into(),
                        expected: "a whole number above 0, e.g. 256",
                    })
            })
        };
        let request_timeout =
            get("LOOPBOT_HTTP_REQUEST_TIMEOUT").map_or(Ok(Duration::from_secs(30)), |raw| {
                humantime::parse_duration(raw.trim())
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or(ConfigError {
                        variable: "LOOPBOT_HTTP_REQUEST_TIMEOUT",
                        problem: "is not a duration above zero".into(),
                        expected: "a duration such as 30s or 1m",
                    })
            })?;
        Ok(Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout,
            max_in_flight: count("LOOPBOT_HTTP_MAX_IN_FLIGHT", 256)?,
            max_connections: count("LOOPBOT_HTTP_MAX_CONNECTIONS", 1024)?,
        })
    }

    pub(super) fn describe(&self) -> [(&'static str, String); 3] {
        [
            (
                "LOOPBOT_HTTP_REQUEST_TIMEOUT",
                humantime::format_duration(self.request_timeout).to_string(),
            ),
            ("LOOPBOT_HTTP_MAX_IN_FLIGHT", self.max_in_flight.to_string()),
            (
                "LOOPBOT_HTTP_MAX_CONNECTIONS",
                self.max_connections.to_string(),
            ),
        ]
    }
}
