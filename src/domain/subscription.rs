//! Which channels hear about what: subscriptions and the routing rule.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::alert::Severity;
use super::{ChannelId, ValidationError};

/// What a channel can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Deploys,
    Alerts,
    Checkins,
    Summaries,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Deploys, Kind::Alerts, Kind::Checkins, Kind::Summaries];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deploys => "deploys",
            Kind::Alerts => "alerts",
            Kind::Checkins => "checkins",
            Kind::Summaries => "summaries",
        }
    }

    /// Parses a kind as a person types it; `all` stands for every kind.
    pub fn parse_many(raw: &str) -> Result<Vec<Kind>, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Kind::ALL.to_vec()),
            other => other.parse().map(|kind| vec![kind]),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "kind",
                    format!("must be deploys, alerts, checkins, summaries or all (got {s:?})"),
                )
            })
    }
}

/// A glob over names: `*` any run of characters, `?` one character; case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub const MAX_LEN: usize = 100;

    pub fn any() -> Self {
        Self("*".to_owned())
    }

    pub fn parse(field: &'static str, raw: Option<&str>) -> Result<Self, ValidationError> {
        let text = raw.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Ok(Self::any());
        }
        if text.len() > Self::MAX_LEN || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "must be a name or glob such as checkout* without spaces, at most {} characters",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    /// Builds a pattern from what the store holds (already validated when it was written).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0 == "*" || super::glob::matches(&self.0, &name.to_ascii_lowercase())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which deploys a deploys subscription hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Every deploy, from `started` on.
    #[default]
    All,
    /// A deploy once it failed or was rolled back, then its later changes.
    Failures,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::All => "all",
            Outcome::Failures => "failures",
        }
    }
}

impl FromStr for Outcome {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Outcome::All),
            "failures" => Ok(Outcome::Failures),
            other => Err(ValidationError::new(
                "outcome",
                format!("must be all or failures (got {other:?})"),
            )),
        }
    }
}

/// The least severe alert an alerts subscription hears about: that severity and above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MinSeverity {
    Info,
    Warning,
    Critical,
}

impl MinSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            MinSeverity::Info => "info",
            MinSeverity::Warning => "warning",
            MinSeverity::Critical => "critical",
        }
    }

    /// Ranks as [`Severity::rank`] does; a severity no one ranks counts as info.
    pub fn admits(self, severity: &Severity) -> bool {
        let threshold = match self {
            MinSeverity::Info => 1,
            MinSeverity::Warning => 2,
            MinSeverity::Critical => 4,
        };
        severity.rank().max(1) >= threshold
    }
}

impl FromStr for MinSeverity {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(MinSeverity::Info),
            "warning" => Ok(MinSeverity::Warning),
            "critical" => Ok(MinSeverity::Critical),
            other => Err(ValidationError::new(
                "severity",
                format!("must be critical, warning or info (got {other:?})"),
            )),
        }
    }
}

/// What a subscription narrows its kind to. Each filter belongs to one kind: `outcome` to
/// deploys, `severity` to alerts; a subscription of another kind ignores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filters {
    pub outcome: Outcome,
    pub min_severity: Option<MinSeverity>,
}

impl Filters {
    /// Checks the filters asked for fit the kinds asked for: `outcome:failures` with
    /// `kind:alerts` is a mistake worth saying, not a filter to ignore.
    pub fn for_kinds(
        kinds: &[Kind],
        outcome: Option<Outcome>,
        min_severity: Option<MinSeverity>,
    ) -> Result<Self, ValidationError> {
        if outcome.is_some() && !kinds.contains(&Kind::Deploys) {
            return Err(ValidationError::new(
                "outcome",
                "applies to deploys only (use kind:deploys or kind:all)",
            ));
        }
        if min_severity.is_some() && !kinds.contains(&Kind::Alerts) {
            return Err(ValidationError::new(
                "severity",
                "applies to alerts only (use kind:alerts or kind:all)",
            ));
        }
        Ok(Filters {
            outcome: outcome.unwrap_or_default(),
            min_severity,
        })
    }

    /// The part of the filters that applies to `kind` (stored per row, so `/subscriptions`
    /// shows on each row only what narrows it).
    pub fn for_kind(self, kind: Kind) -> Self {
        Filters {
            outcome: if kind == Kind::Deploys {
                self.outcome
            } else {
                Outcome::All
            },
            min_severity: self.min_severity.filter(|_| kind == Kind::Alerts),
        }
    }

    /// Words for `/subscriptions`, empty when nothing narrows.
    pub fn describe(self) -> Option<String> {
        let mut parts = Vec::new();
        if self.outcome == Outcome::Failures {
            parts.push("failures only (failed or rolled back)".to_owned());
        }
        if let Some(min) = self.min_severity {
            parts.push(match min {
                MinSeverity::Critical => "critical only".to_owned(),
                other => format!("{} and above", other.as_str()),
            });
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub channel: ChannelId,
    pub kind: Kind,
    pub service: Pattern,
    pub environment: Pattern,
    pub filters: Filters,
}

/// What routing knows of the subject beyond its kind, service and environment: what the
/// filters look at.
#[derive(Debug, Clone, Copy)]
pub enum Facet<'a> {
    /// Check-ins and summaries: no filter applies.
    Plain,
    /// A deploy; `failed` when its current status is failed or rolled back.
    Deploy { failed: bool },
    /// An alert group, by its worst severity.
    Alert { severity: &'a Severity },
}

impl Subscription {
    pub fn matches(&self, kind: Kind, service: &str, environment: &str) -> bool {
        self.kind == kind && self.service.matches(service) && self.environment.matches(environment)
    }

    /// The subscription's filters let the subject through.
    pub fn admits(&self, facet: Facet<'_>) -> bool {
        match facet {
            Facet::Plain => true,
            Facet::Deploy { failed } => failed || self.filters.outcome == Outcome::All,
            Facet::Alert { severity } => self
                .filters
                .min_severity
                .is_none_or(|min| min.admits(severity)),
        }
    }
}

/// Where an event goes: every channel with a matching subscription whose filters let it
/// through, else (no subscription covers its service and environment at all) the default
/// channel, else nowhere (the event is still stored; the caller logs why nothing was posted).
/// A subject that subscriptions cover but filter out goes nowhere: the filter is a choice.
pub fn route(
    subscriptions: &[Subscription],
    kind: Kind,
    service: &str,
    environment: &str,
    facet: Facet<'_>,
    default_channel: Option<ChannelId>,
) -> Vec<ChannelId> {
    let covering: Vec<&Subscription> = subscriptions
        .iter()
        .filter(|s| s.matches(kind, service, environment))
        .collect();
    if covering.is_empty() {
        return default_channel.into_iter().collect();
    }
    let admitted: BTreeSet<ChannelId> = covering
        .into_iter()
        .filter(|s| s.admits(facet))
        .map(|s| s.channel)
        .collect();
    admitted.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(channel: u64, kind: Kind, service: &str, env: &str) -> Subscription {
        Subscription {
            channel: ChannelId(channel),
            kind,
            service: Pattern::parse("service", Some(service)).unwrap(),
            environment: Pattern::parse("environment", Some(env)).unwrap(),
            filters: Filters::default(),
        }
    }

    #[test]
    fn globs_match_case_insensitively() {
        let p = Pattern::parse("service", Some("Checkout*")).unwrap();
        assert!(p.matches("checkout-api"));
        assert!(p.matches("CHECKOUT"));
        assert!(!p.matches("payments"));
        assert!(Pattern::parse("service", None).unwrap().matches("anything"));
    }

    #[test]
    fn routing_prefers_subscriptions_then_the_default() {
        let subs = vec![
            sub(1, Kind::Deploys, "checkout*", "prod*"),
            sub(2, Kind::Alerts, "*", "*"),
            sub(3, Kind::Deploys, "*", "*"),
        ];
        assert_eq!(
            route(
                &subs,
                Kind::Deploys,
                "checkout",
                "production",
                Facet::Plain,
                Some(ChannelId(9))
            ),
            vec![ChannelId(1), ChannelId(3)]
        );
        let only_alerts = vec![sub(2, Kind::Alerts, "*", "*")];
        assert_eq!(
            route(
                &only_alerts,
                Kind::Deploys,
                "x",
                "y",
                Facet::Plain,
                Some(ChannelId(9))
            ),
            vec![ChannelId(9)]
        );
        assert!(route(&only_alerts, Kind::Deploys, "x", "y", Facet::Plain, None).is_empty());
    }

    #[test]
    fn all_means_every_kind() {
        assert_eq!(Kind::parse_many("all").unwrap().len(), 4);
        assert_eq!(Kind::parse_many("deploys").unwrap(), vec![Kind::Deploys]);
        assert_eq!(Kind::parse_many("nope").unwrap_err().field, "kind");
    }

    #[test]
    fn a_failures_only_channel_hears_a_deploy_once_it_failed() {
        let mut failures = sub(1, Kind::Deploys, "*", "*");
        failures.filters.outcome = Outcome::Failures;
        let subs = vec![failures, sub(2, Kind::Deploys, "billing", "*")];
        let to = |failed| {
            route(
                &subs,
                Kind::Deploys,
                "checkout",
                "production",
                Facet::Deploy { failed },
                Some(ChannelId(9)),
            )
        };
        assert!(
            to(false).is_empty(),
            "covered but filtered out: nowhere, not the default channel"
        );
        assert_eq!(to(true), vec![ChannelId(1)]);
    }

    #[test]
    fn a_severity_filter_takes_that_severity_and_above_and_unknown_counts_as_info() {
        let with = |min| {
            let mut s = sub(1, Kind::Alerts, "*", "*");
            s.filters.min_severity = Some(min);
            s
        };
        let sev = |raw: &str| Severity::new(Some(raw));
        let admits = |min, raw: &str| {
            with(min).admits(Facet::Alert {
                severity: &sev(raw),
            })
        };
        assert!(admits(MinSeverity::Critical, "critical"));
        assert!(admits(MinSeverity::Critical, "P1"));
        assert!(!admits(MinSeverity::Critical, "error"));
        assert!(!admits(MinSeverity::Critical, "warning"));
        assert!(admits(MinSeverity::Warning, "error"));
        assert!(admits(MinSeverity::Warning, "warning"));
        assert!(!admits(MinSeverity::Warning, "info"));
        assert!(!admits(MinSeverity::Warning, "whatever"));
        assert!(admits(MinSeverity::Info, "whatever"));
        assert!(admits(MinSeverity::Info, ""));
    }

    #[test]
    fn filters_belong_to_their_kind() {
        assert_eq!(
            Filters::for_kinds(&[Kind::Alerts], Some(Outcome::Failures), None)
                .unwrap_err()
                .field,
            "outcome"
        );
        assert_eq!(
            Filters::for_kinds(&[Kind::Deploys], None, Some(MinSeverity::Critical))
                .unwrap_err()
                .field,
            "severity"
        );
        let all = Filters::for_kinds(
            &Kind::ALL,
            Some(Outcome::Failures),
            Some(MinSeverity::Warning),
        )
        .unwrap();
        assert_eq!(all.for_kind(Kind::Deploys).outcome, Outcome::Failures);
        assert_eq!(all.for_kind(Kind::Deploys).min_severity, None);
        assert_eq!(
            all.for_kind(Kind::Alerts).min_severity,
            Some(MinSeverity::Warning)
        );
        assert_eq!(all.for_kind(Kind::Checkins), Filters::default());
        assert_eq!(Filters::default().describe(), None);
        assert_eq!(
            all.for_kind(Kind::Alerts).describe().as_deref(),
            Some("warning and above")
        );
    }
}
