//! Several replicas on one database (`LOOPBOT_REPLICA_ID`, `LOOPBOT_SHARDS`, `LOOPBOT_LEASE_TTL`).

use std::time::Duration;

use super::ConfigError;

/// Most gateway shards: Discord asks for one per 2 500 servers; this is far beyond one team.
pub const SHARDS_MAX: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSettings {
    /// `LOOPBOT_REPLICA_ID`: this replica's name in the `lease` table and in `/readyz`. Unset: the
    /// host name (a pod's name), so a process restarted in its place renews its own leases at once
    /// instead of waiting for them to expire. Replicas on one host must each set their own.
    pub id: String,
    /// `LOOPBOT_SHARDS`: gateway shards, each a lease (default 1).
    pub shards: u32,
    /// `LOOPBOT_LEASE_TTL`: how long a lease lasts unrenewed: a dead replica's work is taken over
    /// within about this long (default 10s; renewed every quarter of it).
    pub lease_ttl: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            id: default_id(),
            shards: 1,
            lease_ttl: Duration::from_secs(10),
        }
    }
}

fn default_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "loopbot".to_owned())
}

impl ReplicaSettings {
    pub(super) fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Self::default();
        if let Some(id) = get("LOOPBOT_REPLICA_ID") {
            let id = id.trim();
            if id.chars().count() > 100 || id.chars().any(char::is_control) {
                return Err(ConfigError {
                    variable: "LOOPBOT_REPLICA_ID",
                    problem: "is longer than 100 characters or has control characters".into(),
                    expected: "a short name such as loopbot-0 (the pod's name)",
                });
            }
            settings.id = id.to_owned();
        }
        if let Some(raw) = get("LOOPBOT_SHARDS") {
            settings.shards = raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=SHARDS_MAX).contains(n))
                .ok_or_else(|| ConfigError {
                    variable: "LOOPBOT_SHARDS",
                    problem: format!("is {raw:?}"),
                    expected: "a number of gateway shards from 1 to 64",
                })?;
        }
        if let Some(raw) = get("LOOPBOT_LEASE_TTL") {
            settings.lease_ttl = humantime::parse_duration(raw.trim())
                .ok()
                .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(300)).contains(d))
                .ok_or_else(|| ConfigError {
                    variable: "LOOPBOT_LEASE_TTL",
                    problem: format!("is {raw:?}"),
                    expected: "a duration from 1s to 5m, e.g. 10s",
                })?;
        }
        Ok(settings)
    }

    pub(super) fn describe(&self) -> [(&'static str, String); 3] {
        [
            ("LOOPBOT_REPLICA_ID", self.id.clone()),
            ("LOOPBOT_SHARDS", self.shards.to_string()),
            (
                "LOOPBOT_LEASE_TTL",
                humantime::format_duration(self.lease_ttl).to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<ReplicaSettings, ConfigError> {
        ReplicaSettings::from_lookup(&|name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_and_overrides() {
        let default = read(&[]).unwrap();
        assert_eq!(default.shards, 1);
        assert_eq!(default.lease_ttl, Duration::from_secs(10));
        assert!(!default.id.is_empty());
        let set = read(&[
            ("LOOPBOT_REPLICA_ID", "loopbot-1"),
            ("LOOPBOT_SHARDS", "4"),
            ("LOOPBOT_LEASE_TTL", "3s"),
        ])
        .unwrap();
        assert_eq!(
            (set.id.as_str(), set.shards, set.lease_ttl),
            ("loopbot-1", 4, Duration::from_secs(3))
        );
    }

    #[test]
    fn out_of_range_values_name_the_variable() {
        for (name, value) in [
            ("LOOPBOT_SHARDS", "0"),
            ("LOOPBOT_SHARDS", "65"),
            ("LOOPBOT_SHARDS", "two"),
            ("LOOPBOT_LEASE_TTL", "100ms"),
            ("LOOPBOT_LEASE_TTL", "1h"),
            ("LOOPBOT_REPLICA_ID", "a\nb"),
        ] {
            assert_eq!(read(&[(name, value)]).unwrap_err().variable, name);
        }
    }
}
