//! Release health from Prometheus: `LOOPBOT_PROMETHEUS_URL`, `LOOPBOT_HEALTH_QUERY_<NAME>`,
//! `LOOPBOT_HEALTH_HIGHER_IS_BETTER`, `LOOPBOT_HEALTH_TOLERANCE`.
//!
//! The queries are the one family of variables found by listing the environment: their names
//! come from [`super::Config::from_environment`].

use std::time::Duration;

use super::{parse_base_url, ConfigError};
use crate::domain::health::{
    parse_tolerance, valid_name, HealthQuery, DEFAULT_TOLERANCE, NAME_MAX, QUERIES_MAX,
};

/// The prefix of a query's variable; the rest of the name is the query's `<NAME>`.
pub const QUERY_PREFIX: &str = "LOOPBOT_HEALTH_QUERY_";
/// How long one query may take: a slow Prometheus must not hold a check-in back for long.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Base URL of Prometheus' HTTP API, without a trailing slash.
    pub prometheus_url: Option<String>,
    /// Sorted by name: the order of a check-in's lines.
    pub queries: Vec<HealthQuery>,
    /// A fraction: 0.1 is 10%.
    pub tolerance: f64,
    /// Per query (not an env var: tests shorten it).
    pub timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            prometheus_url: None,
            queries: Vec::new(),
            tolerance: DEFAULT_TOLERANCE,
            timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }
}

impl HealthSettings {
    /// Whether check-ins read health: a Prometheus and at least one query.
    pub fn enabled(&self) -> bool {
        self.prometheus_url.is_some() && !self.queries.is_empty()
    }

    /// `names`: every variable name set in the environment (the queries are among them).
    pub(super) fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<Self, ConfigError> {
        const QUERY: &str = "LOOPBOT_HEALTH_QUERY_<NAME>";
        let mut queries: Vec<HealthQuery> = Vec::new();
        for variable in names {
            let Some(name) = variable.strip_prefix(QUERY_PREFIX) else {
                continue;
            };
            let Some(promql) = get(variable) else {
                continue;
            };
            if !valid_name(name) {
                return Err(ConfigError {
                    variable: QUERY,
                    problem: format!("{variable} does not end in a name"),
                    expected: "a NAME of letters, digits and _ (at most 40), e.g. LOOPBOT_HEALTH_QUERY_ERROR_RATE",
                });
            }
            queries.push(HealthQuery {
                name: name.to_owned(),
                promql: promql.trim().to_owned(),
                higher_is_better: false,
            });
        }
        queries.sort_by(|a, b| a.name.cmp(&b.name));
        queries.dedup_by(|a, b| a.name == b.name);
        if queries.len() > QUERIES_MAX {
            return Err(ConfigError {
                variable: QUERY,
                problem: format!("is set for {} names", queries.len()),
                expected: "at most 10 health queries (a check-in shows one line per query)",
            });
        }
        if let Some(raw) = get("LOOPBOT_HEALTH_HIGHER_IS_BETTER") {
            for wanted in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let wanted = wanted.strip_prefix(QUERY_PREFIX).unwrap_or(wanted);
                let query = queries
                    .iter_mut()
                    .find(|q| q.name.eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| ConfigError {
                        variable: "LOOPBOT_HEALTH_HIGHER_IS_BETTER",
                        problem: format!(
                            "names {:?}, which no LOOPBOT_HEALTH_QUERY_<NAME> defines",
                            wanted.chars().take(NAME_MAX).collect::<String>()
                        ),
                        expected: "query NAMEs, comma-separated, e.g. AVAILABILITY,SUCCESS_RATIO",
                    })?;
                query.higher_is_better = true;
            }
        }
        let tolerance = get("LOOPBOT_HEALTH_TOLERANCE")
            .map(|raw| {
                parse_tolerance(&raw).map_err(|problem| ConfigError {
                    variable: "LOOPBOT_HEALTH_TOLERANCE",
                    problem,
                    expected: "a percentage such as 10% or 25%",
                })
            })
            .transpose()?
            .unwrap_or(DEFAULT_TOLERANCE);
        let prometheus_url = get("LOOPBOT_PROMETHEUS_URL")
            .map(|raw| parse_base_url("LOOPBOT_PROMETHEUS_URL", &raw))
            .transpose()?;
        if prometheus_url.is_none() && !queries.is_empty() {
            return Err(ConfigError {
                variable: "LOOPBOT_PROMETHEUS_URL",
                problem: "is not set, but health queries are".into(),
                expected: "the base URL of Prometheus, e.g. http://prometheus:9090",
            });
        }
        Ok(Self {
            prometheus_url,
            queries,
            tolerance,
            timeout: DEFAULT_QUERY_TIMEOUT,
        })
    }

    pub(super) fn describe(&self) -> Vec<(&'static str, String)> {
        let names = |higher: bool| {
            let names: Vec<&str> = self
                .queries
                .iter()
                .filter(|q| !higher || q.higher_is_better)
                .map(|q| q.name.as_str())
                .collect();
            if names.is_empty() {
                "(not set)".to_owned()
            } else {
                names.join(",")
            }
        };
        vec![
            (
                "LOOPBOT_PROMETHEUS_URL",
                self.prometheus_url
                    .clone()
                    .unwrap_or_else(|| "(not set: no release health)".into()),
            ),
            ("LOOPBOT_HEALTH_QUERY_<NAME>", names(false)),
            ("LOOPBOT_HEALTH_HIGHER_IS_BETTER", names(true)),
            (
                "LOOPBOT_HEALTH_TOLERANCE",
                format!("{}%", self.tolerance * 100.0),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<HealthSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<String> = map.keys().cloned().collect();
        HealthSettings::from_lookup(&|name: &str| map.get(name).cloned(), &names)
    }

    #[test]
    fn queries_come_from_their_variables_sorted_by_name() {
        let s = settings(&[
            ("LOOPBOT_PROMETHEUS_URL", "http://prometheus:9090/"),
            (
                "LOOPBOT_HEALTH_QUERY_LATENCY_SECONDS",
                "histogram_quantile(0.99, x)",
            ),
            ("LOOPBOT_HEALTH_QUERY_ERROR_RATE", " sum(rate(e[5m])) "),
            ("LOOPBOT_HEALTH_QUERY_AVAILABILITY", "avg(up)"),
            ("LOOPBOT_HEALTH_HIGHER_IS_BETTER", "availability"),
            ("LOOPBOT_HEALTH_TOLERANCE", "25%"),
            ("UNRELATED", "x"),
        ])
        .unwrap();
        assert!(s.enabled());
        assert_eq!(s.prometheus_url.as_deref(), Some("http://prometheus:9090"));
        let names: Vec<&str> = s.queries.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["AVAILABILITY", "ERROR_RATE", "LATENCY_SECONDS"]);
        assert_eq!(s.queries[1].promql, "sum(rate(e[5m]))");
        assert!(s.queries[0].higher_is_better && !s.queries[1].higher_is_better);
        assert_eq!(s.tolerance, 0.25);
        let described = s.describe();
        assert!(described.contains(&("LOOPBOT_HEALTH_HIGHER_IS_BETTER", "AVAILABILITY".into())));
        assert!(described.contains(&("LOOPBOT_HEALTH_TOLERANCE", "25%".into())));
    }

    #[test]
    fn unset_is_off_and_mistakes_name_their_variable() {
        let off = settings(&[]).unwrap();
        assert!(!off.enabled());
        assert_eq!(off.tolerance, DEFAULT_TOLERANCE);
        let url = ("LOOPBOT_PROMETHEUS_URL", "http://p:9090");
        for (vars, variable) in [
            (
                vec![("LOOPBOT_HEALTH_QUERY_ERROR_RATE", "x")],
                "LOOPBOT_PROMETHEUS_URL",
            ),
            (
                vec![url, ("LOOPBOT_HEALTH_QUERY_", "x")],
                "LOOPBOT_HEALTH_QUERY_<NAME>",
            ),
            (
                vec![url, ("LOOPBOT_HEALTH_QUERY_A-B", "x")],
                "LOOPBOT_HEALTH_QUERY_<NAME>",
            ),
            (
                vec![
                    url,
                    ("LOOPBOT_HEALTH_QUERY_A", "x"),
                    ("LOOPBOT_HEALTH_HIGHER_IS_BETTER", "B"),
                ],
                "LOOPBOT_HEALTH_HIGHER_IS_BETTER",
            ),
            (
                vec![url, ("LOOPBOT_HEALTH_TOLERANCE", "lots")],
                "LOOPBOT_HEALTH_TOLERANCE",
            ),
            (
                vec![("LOOPBOT_PROMETHEUS_URL", "prometheus:9090")],
                "LOOPBOT_PROMETHEUS_URL",
            ),
        ] {
            assert_eq!(settings(&vars).unwrap_err().variable, variable, "{vars:?}");
        }
        let many: Vec<(String, String)> = (0..=QUERIES_MAX)
            .map(|i| (format!("LOOPBOT_HEALTH_QUERY_Q{i}"), "x".to_owned()))
            .collect();
        let mut vars: Vec<(&str, &str)> =
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.push(url);
        assert_eq!(
            settings(&vars).unwrap_err().variable,
            "LOOPBOT_HEALTH_QUERY_<NAME>"
        );
    }
}
