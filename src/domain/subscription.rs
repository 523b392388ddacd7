//! Which channels hear about what: subscriptions and the routing rule.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub channel: ChannelId,
    pub kind: Kind,
    pub service: Pattern,
    pub environment: Pattern,
}

impl Subscription {
    pub fn matches(&self, kind: Kind, service: &str, environment: &str) -> bool {
        self.kind == kind && self.service.matches(service) && self.environment.matches(environment)
    }
}

/// Where an event goes: every channel with a matching subscription, else the default channel,
/// else nowhere (the event is still stored; the caller logs why nothing was posted).
pub fn route(
    subscriptions: &[Subscription],
    kind: Kind,
    service: &str,
    environment: &str,
    default_channel: Option<ChannelId>,
) -> Vec<ChannelId> {
    let matching: BTreeSet<ChannelId> = subscriptions
        .iter()
        .filter(|s| s.matches(kind, service, environment))
        .map(|s| s.channel)
        .collect();
    if matching.is_empty() {
        default_channel.into_iter().collect()
    } else {
        matching.into_iter().collect()
    }
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
                Some(ChannelId(9))
            ),
            vec![ChannelId(1), ChannelId(3)]
        );
        let only_alerts = vec![sub(2, Kind::Alerts, "*", "*")];
        assert_eq!(
            route(&only_alerts, Kind::Deploys, "x", "y", Some(ChannelId(9))),
            vec![ChannelId(9)]
        );
        assert!(route(&only_alerts, Kind::Deploys, "x", "y", None).is_empty());
    }

    #[test]
    fn all_means_every_kind() {
        assert_eq!(Kind::parse_many("all").unwrap().len(), 4);
        assert_eq!(Kind::parse_many("deploys").unwrap(), vec![Kind::Deploys]);
        assert_eq!(Kind::parse_many("nope").unwrap_err().field, "kind");
    }
}
