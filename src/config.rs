//! Configuration from the environment (and `.env`, loaded by `main` before this runs).
//!
//! One table, [`VARIABLES`], names every variable with its documentation: `--help`, `check-config`
//! and the test that keeps `.env.example` complete all read it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::{ChannelId, GuildId};

/// Every environment variable loopbot reads: name, whether it is a secret, and what it is for.
pub const VARIABLES: &[(&str, bool, &str)] = &[
    ("DISCORD_TOKEN", true, "Bot token from the Discord developer portal. Required by `serve`."),
    ("DISCORD_API_URL", false, "Base URL of the Discord API (default https://discord.com). Point it at a Discord-compatible server, such as the local sandbox, to run without Discord."),
    ("DATABASE_URL", false, "SQLite database (default sqlite://loopbot.db); created if missing and migrated on start."),
    ("LOOPBOT_HTTP_ADDR", false, "Address the webhook/API server listens on (default 127.0.0.1:8080)."),
    ("LOOPBOT_API_TOKEN", true, "Bearer token senders must present to the write API. Unset: the API answers 503."),
    ("LOOPBOT_DEFAULT_CHANNEL", false, "Discord channel id for events that match no subscription. Unset: such events are stored, not posted."),
    ("LOOPBOT_GUILD_ID", false, "Register slash commands in this server only (instant) instead of globally (up to an hour)."),
    ("LOOPBOT_LOG_FORMAT", false, "Log format: pretty (default) or json."),
    ("RUST_LOG", false, "Log filter, e.g. info or loopbot=debug,serenity=warn (default info)."),
    ("LOOPBOT_SUMMARY_CRON", false, "When weekly summaries are posted (default `0 9 * * MON`): 5-field cron, or the 6/7-field form with seconds (and year), read in LOOPBOT_TIMEZONE."),
    ("LOOPBOT_TIMEZONE", false, "IANA time zone of the summary schedule and of week/day boundaries (default UTC), e.g. Europe/Berlin."),
    ("LOOPBOT_DORA_BANDS", false, "Override the DORA band thresholds, e.g. `lead_time=1d,7d,30d;change_failure_rate=5,10,15` (see README, Summaries)."),
];

/// A value that must never be printed: its `Debug` and `Display` say `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value: call sites that do are easy to find.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration value is missing or malformed. Displays as one line naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}; expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub expected: &'static str,
}

/// How the outbox worker paces retries. Not environment variables: tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// First retry delay after a 5xx or timeout; doubles per attempt.
    pub retry_base: Duration,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// How long one request to Discord may take before it counts as failed.
    pub request_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub discord_token: Option<Secret>,
    /// `None`: the real Discord.
    pub discord_api_url: Option<String>,
    pub database_url: String,
    pub http_addr: SocketAddr,
    pub api_token: Option<Secret>,
    pub default_channel: Option<ChannelId>,
    pub guild_id: Option<GuildId>,
    pub log_format: LogFormat,
    pub delivery: DeliverySettings,
    pub summaries: SummarySettings,
}

/// When and how weekly summaries are made.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySettings {
    pub schedule: crate::domain::summary::Schedule,
    pub timezone: chrono_tz::Tz,
    pub bands: crate::domain::summary::Bands,
}

impl SummarySettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::domain::summary::{parse_timezone, Bands, Schedule, DEFAULT_CRON};
        let schedule =
            Schedule::parse(&get("LOOPBOT_SUMMARY_CRON").unwrap_or_else(|| DEFAULT_CRON.into()))
                .map_err(|problem| ConfigError {
                    variable: "LOOPBOT_SUMMARY_CRON",
                    problem,
                    expected: "a cron expression such as `0 9 * * MON`",
                })?;
        let timezone = parse_timezone(&get("LOOPBOT_TIMEZONE").unwrap_or_else(|| "UTC".into()))
            .map_err(|problem| ConfigError {
                variable: "LOOPBOT_TIMEZONE",
                problem,
                expected: "an IANA name such as Europe/Berlin or UTC",
            })?;
        let bands = match get("LOOPBOT_DORA_BANDS") {
            Some(raw) => Bands::parse(&raw).map_err(|problem| ConfigError {
                variable: "LOOPBOT_DORA_BANDS",
                problem,
                expected: "key=elite,high,medium pairs separated by ;",
            })?,
            None => Bands::default(),
        };
        Ok(Self {
            schedule,
            timezone,
            bands,
        })
    }
}

impl Default for SummarySettings {
    fn default() -> Self {
        Self::from_lookup(|_| None).expect("the defaults are valid")
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://loopbot.db";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

impl Config {
    /// Reads the configuration through `lookup` (the process environment in `main`).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let discord_api_url = get("DISCORD_API_URL")
            .map(|raw| parse_base_url("DISCORD_API_URL", &raw))
            .transpose()?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !database_url.starts_with("sqlite:") {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "is not a SQLite URL".into(),
                expected: "sqlite://PATH, e.g. sqlite://loopbot.db",
            });
        }
        let http_addr = get("LOOPBOT_HTTP_ADDR")
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned())
            .trim()
            .parse()
            .map_err(|_| ConfigError {
                variable: "LOOPBOT_HTTP_ADDR",
                problem: "is not an address".into(),
                expected: "IP:PORT, e.g. 127.0.0.1:8080",
            })?;
        let log_format = match get("LOOPBOT_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => {
                return Err(ConfigError {
                    variable: "LOOPBOT_LOG_FORMAT",
                    problem: "is not a known format".into(),
                    expected: "pretty or json",
                })
            }
        };
        Ok(Self {
            discord_token: get("DISCORD_TOKEN").map(|t| Secret::new(t.trim())),
            discord_api_url,
            database_url,
            http_addr,
            api_token: get("LOOPBOT_API_TOKEN").map(|t| Secret::new(t.trim())),
            default_channel: get("LOOPBOT_DEFAULT_CHANNEL")
                .map(|raw| parse_snowflake("LOOPBOT_DEFAULT_CHANNEL", &raw))
                .transpose()?
                .map(ChannelId),
            guild_id: get("LOOPBOT_GUILD_ID")
                .map(|raw| parse_snowflake("LOOPBOT_GUILD_ID", &raw))
                .transpose()?
                .map(GuildId),
            log_format,
            delivery: DeliverySettings::default(),
            summaries: SummarySettings::from_lookup(get)?,
        })
    }

    /// What `serve` needs on top of a parseable configuration.
    pub fn require_discord_token(&self) -> Result<&Secret, ConfigError> {
        self.discord_token.as_ref().ok_or(ConfigError {
            variable: "DISCORD_TOKEN",
            problem: "is not set".into(),
            expected: "the bot token from the Discord developer portal (Bot → Reset Token)",
        })
    }

    /// The configuration as `check-config` prints it: one `NAME = value` line per variable,
    /// secrets shown only as set or unset.
    pub fn describe(&self) -> String {
        let secret = |s: &Option<Secret>| match s {
            Some(_) => "(set, redacted)".to_owned(),
            None => "(not set)".to_owned(),
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "(not set)".to_owned());
        [
            ("DISCORD_TOKEN", secret(&self.discord_token)),
            (
                "DISCORD_API_URL",
                self.discord_api_url
                    .clone()
                    .unwrap_or_else(|| "https://discord.com (default)".to_owned()),
            ),
            ("DATABASE_URL", self.database_url.clone()),
            ("LOOPBOT_HTTP_ADDR", self.http_addr.to_string()),
            ("LOOPBOT_API_TOKEN", secret(&self.api_token)),
            (
                "LOOPBOT_DEFAULT_CHANNEL",
                opt(self.default_channel.map(|c| c.0.to_string())),
            ),
            (
                "LOOPBOT_GUILD_ID",
                opt(self.guild_id.map(|g| g.0.to_string())),
            ),
            (
                "LOOPBOT_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Pretty => "pretty".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                },
            ),
            (
                "LOOPBOT_SUMMARY_CRON",
                self.summaries.schedule.source().to_owned(),
            ),
            (
                "LOOPBOT_TIMEZONE",
                self.summaries.timezone.name().to_owned(),
            ),
        ]
        .into_iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect()
    }
}

fn parse_snowflake(variable: &'static str, raw: &str) -> Result<u64, ConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ConfigError {
            variable,
            problem: "is not a Discord id".into(),
            expected: "a numeric id (Discord: Developer Mode → right-click → Copy ID)",
        })
}

fn parse_base_url(variable: &'static str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError {
            variable,
            problem: "is not an http(s) URL".into(),
            expected: "a base URL such as https://discord.com or http://127.0.0.1:5001",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert!(c.require_discord_token().is_err());
    }

    #[test]
    fn malformed_values_name_their_variable_in_one_line() {
        for (name, value) in [
            ("LOOPBOT_DEFAULT_CHANNEL", "general"),
            ("LOOPBOT_GUILD_ID", "-1"),
            ("LOOPBOT_HTTP_ADDR", "localhost"),
            ("DATABASE_URL", "postgres://x"),
            ("LOOPBOT_LOG_FORMAT", "xml"),
            ("LOOPBOT_SUMMARY_CRON", "every monday"),
            ("LOOPBOT_TIMEZONE", "Mars/Olympus"),
            ("LOOPBOT_DORA_BANDS", "lead_time=fast"),
            ("DISCORD_API_URL", "not a url"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name);
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[
            ("DISCORD_TOKEN", "tok-SECRET-1"),
            ("LOOPBOT_API_TOKEN", "api-SECRET-2"),
        ])
        .unwrap();
        let shown = format!("{c:?}\n{}", c.describe());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(c.describe().contains("DISCORD_TOKEN = (set, redacted)"));
    }

    #[test]
    fn env_example_documents_every_variable() {
        let example = include_str!("../.env.example");
        for (name, _, _) in VARIABLES {
            assert!(example.contains(name), "{name} missing from .env.example");
        }
    }
}
