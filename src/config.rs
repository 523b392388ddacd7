//! Configuration from the environment (and `.env`, loaded by `main` before this runs).
//!
//! One table, [`VARIABLES`], names every variable with its documentation: `--help`, `check-config`
//! and the test that keeps `.env.example` complete all read it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::checkin::{CheckinSettings, EmojiMap};
use crate::domain::refusal::RefusalPolicy;
use crate::domain::{ChannelId, GuildId};

mod database;
mod health;
mod http;
mod production;
mod replicas;
mod web;
pub use database::hide_password;
pub use health::{HealthSettings, QUERY_PREFIX as HEALTH_QUERY_PREFIX};
pub use http::HttpLimits;
pub use replicas::ReplicaSettings;
pub use web::{WebSettings, PUBLIC_URL_MAX};

/// Every environment variable loopbot reads: name, whether it is a secret, and what it is for.
pub const VARIABLES: &[(&str, bool, &str)] = &[
    ("DISCORD_TOKEN", true, "Bot token from the Discord developer portal. Required by `serve`."),
    ("DISCORD_API_URL", false, "Base URL of the Discord API (default https://discord.com). Point it at a Discord-compatible server, such as the local sandbox, to run without Discord."),
    ("DATABASE_URL", false, "sqlite://PATH (default sqlite://loopbot.db; created if missing) or postgres://USER:PASSWORD@HOST:PORT/DB (several replicas on one database; TLS with ?sslmode=require). Migrated on start. Its password is never shown."),
    ("LOOPBOT_HTTP_ADDR", false, "Address the webhook/API server listens on (default 127.0.0.1:8080)."),
    ("LOOPBOT_HTTP_REQUEST_TIMEOUT", false, "Longest an HTTP request may take from its headers to the answer (default 30s): a body still arriving then gets 408, a slow answer 503."),
    ("LOOPBOT_HTTP_MAX_IN_FLIGHT", false, "HTTP requests handled at once (default 256); beyond it the bot answers 503 at once instead of queueing. GET /healthz is not counted."),
    ("LOOPBOT_HTTP_MAX_CONNECTIONS", false, "Open HTTP connections at most (default 1024); further ones wait in the kernel's accept queue."),
    ("LOOPBOT_API_TOKEN", true, "Bearer token senders must present to the write API. Unset: the API answers 503."),
    ("LOOPBOT_DEFAULT_CHANNEL", false, "Discord channel id for events that match no subscription. Unset: such events are stored, not posted."),
    ("LOOPBOT_GUILD_IDS", false, "The servers loopbot serves, comma-separated ids: commands are registered in each (instant), any other server the bot is added to is left, interactions from elsewhere are refused. Unset: every server it is in (a warning at start)."),
    ("LOOPBOT_GUILD_ID", false, "One server id; an older spelling of LOOPBOT_GUILD_IDS, used when that is unset."),
    ("LOOPBOT_RESPONDER_ROLES", false, "Role ids, comma-separated, whose members may act on alerts, incidents and deploys (Acknowledge, Silence, Caused by / Not this deploy, /checkin). Unset: members with Manage Server or Manage Messages in the channel."),
    ("LOOPBOT_LOG_FORMAT", false, "Log format: pretty (default) or json."),
    ("RUST_LOG", false, "Log filter, e.g. info or loopbot=debug,hyper=warn (default info)."),
    ("ALERTMANAGER_TOKEN", true, "Bearer token Alertmanager presents on POST /hooks/alertmanager (http_config.authorization.credentials)."),
    ("ALERTMANAGER_BASIC_AUTH", true, "user:pass Alertmanager may present instead, as HTTP Basic auth. Neither set: the hook answers 503."),
    ("ALERTMANAGER_URL", false, "Base URL of Alertmanager (e.g. http://alertmanager:9093). Set: alert messages offer Silence 1h."),
    ("GRAFANA_TOKEN", true, "Bearer token Grafana's webhook contact point presents on /hooks/grafana."),
    ("GRAFANA_BASIC_AUTH", true, "user:pass Grafana may present instead, as HTTP Basic auth."),
    ("GRAFANA_WEBHOOK_SECRET", true, "Set: /hooks/grafana also requires X-Grafana-Alerting-Signature (HMAC-SHA256 of the body)."),
    ("LOOPBOT_ALERT_MENTION", false, "Ping this on-call role or user for firing alerts: role:ID, user:ID, <@&ID>, <@ID> (a bare ID is a role). Unset: alerts ping nobody."),
    ("LOOPBOT_ALERT_MENTION_SEVERITY", false, "Lowest severity that pings LOOPBOT_ALERT_MENTION (default critical)."),
    ("LOOPBOT_INCIDENT_SEVERITY", false, "Lowest severity whose firing alert opens an incident (default critical)."),
    ("LOOPBOT_CORRELATION_WINDOW", false, "An alert starting this long after a deploy of its service finished is linked to it (default 1h)."),
    ("LOOPBOT_ALERT_SERVICE_LABELS", false, "Alert labels naming the service, first match wins (default service,app,job)."),
    ("LOOPBOT_CHECKIN_DELAYS", false, "When to ask how a release is doing, after a successful deploy: a list of durations (default 1h,24h)."),
    ("LOOPBOT_PRODUCTION_ENVIRONMENTS", false, "What production is, for check-ins and the four keys: environment globs, comma-separated, case-insensitive (default prod*)."),
    ("LOOPBOT_CHECKIN_ENVIRONMENTS", false, "Environment globs whose deploys get check-ins, comma-separated, overriding LOOPBOT_PRODUCTION_ENVIRONMENTS for check-ins only (default: the production environments)."),
    ("LOOPBOT_CHECKIN_CLOSE_AFTER", false, "How long a check-in stays open before its message shows the tally (default 24h)."),
    ("LOOPBOT_PROMETHEUS_URL", false, "Base URL of Prometheus' HTTP API (e.g. http://prometheus:9090): each check-in shows the health queries' values before and after the deploy. Unset: no release health."),
    ("LOOPBOT_HEALTH_QUERY_<NAME>", false, "One variable per health query, e.g. LOOPBOT_HEALTH_QUERY_ERROR_RATE=sum(rate(http_requests_total{service=\"$service\",code=~\"5..\"}[5m])) / sum(rate(http_requests_total{service=\"$service\"}[5m])); $service and $environment become the release's, escaped; at most 10. NAME ending in _RATE or _RATIO shows as a percentage, in _SECONDS as a duration."),
    ("LOOPBOT_HEALTH_HIGHER_IS_BETTER", false, "Query NAMEs, comma-separated, for which a higher value is better (default: lower is better for every query)."),
    ("LOOPBOT_HEALTH_TOLERANCE", false, "A change within this percentage of the before value reads as unchanged (default 10%)."),
    ("LOOPBOT_FEEDBACK_EMOJI", false, "Reactions that count as feedback, e.g. 👍=+1,👀=0,👎=-1 (default 👍✅🎉🚀 +1, 👀🤔 0, 👎❌🔥🐛 -1)."),
    ("GITHUB_WEBHOOK_SECRET", true, "Secret of the GitHub webhook (POST /hooks/github), checked against X-Hub-Signature-256. Unset: the hook answers 503."),
    ("GITHUB_TOKEN", true, "GitHub token with read access to contents: lists the commits each GitHub deploy shipped (compare API), for lead time. Unset: GitHub deploys keep what their payload says."),
    ("GITHUB_API_URL", false, "Base URL of the GitHub REST API (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)."),
    ("LOOPBOT_GITHUB_DEPLOY_WORKFLOWS", false, "GitHub Actions workflows whose runs count as deploys: comma-separated GLOB or GLOB=ENVIRONMENT (default environment production). Unset: workflow_run events are ignored."),
    ("GITLAB_WEBHOOK_TOKEN", true, "Secret token of the GitLab webhook (POST /hooks/gitlab), checked against X-Gitlab-Token. Unset: the hook answers 503."),
    ("GITLAB_TOKEN", true, "GitLab token with read_api: lists the commits each GitLab deploy shipped (compare API), for lead time. Unset: GitLab deploys have no commit time."),
    ("GITLAB_API_URL", false, "Base URL of the GitLab REST API (default https://gitlab.com/api/v4; self-managed: https://HOST/api/v4)."),
    ("LOOPBOT_URL", false, "Used by `loopbot notify`: base URL of the running bot's API, e.g. https://loopbot.example.com."),
    ("LOOPBOT_SHUTDOWN_GRACE", false, "On SIGTERM/SIGINT, how long pending deliveries may still go out before exit, e.g. 10s (default 10s)."),
    ("LOOPBOT_UNREACHABLE_GIVE_UP", false, "How long a channel the bot cannot post in (access or permission lost, channel deleted) keeps its messages waiting before they are dead-lettered, e.g. 7d (default 7d)."),
    ("LOOPBOT_RETENTION_DAYS", false, "Days history is kept (raw payloads, deploys, alerts, incidents, check-ins, feedback, delivered messages); older rows are pruned daily (default 400, at least 62 so summaries keep their comparison window)."),
    ("LOOPBOT_SUMMARY_CRON", false, "When weekly summaries are posted (default `0 9 * * MON`): 5-field cron, or the 6/7-field form with seconds (and year), read in LOOPBOT_TIMEZONE."),
    ("LOOPBOT_TIMEZONE", false, "IANA time zone of the summary schedule and of week/day boundaries (default UTC), e.g. Europe/Berlin."),
    ("LOOPBOT_PUBLIC_URL", false, "Base URL people open the bot's HTTP server at, e.g. https://loopbot.example.com: /dashboard in Discord answers with a signed link under it. Unset: the address the server listens on."),
    ("LOOPBOT_REPLICA_ID", false, "This replica's name in the lease table and /readyz when several replicas share one database (default: the host name; replicas on one host must each set their own)."),
    ("LOOPBOT_SHARDS", false, "Discord gateway shards, each run by one replica at a time (default 1)."),
    ("LOOPBOT_LEASE_TTL", false, "How long a replica's lease on a job, the outbox or a shard lasts unrenewed: another replica takes over within about this long after it dies (default 10s)."),
    ("LOOPBOT_DORA_BANDS", false, "Override the DORA band thresholds, e.g. `lead_time=1d,7d,30d;change_failure_rate=5,10,15` (see docs/summaries.md)."),
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
    /// A channel with more than this many alert messages waiting for their first post is
    /// flooded: they go out as one digest message (Discord takes about 5 messages per 5 s).
    pub digest_after: usize,
    /// Most subjects one digest stands for.
    pub digest_max: usize,
    /// Requests per second to Discord across all channels (Discord's global limit is 50).
    pub global_per_second: u32,
    /// Held channels and a rejected token: back-off, give-up (`LOOPBOT_UNREACHABLE_GIVE_UP`).
    pub refusals: RefusalPolicy,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            digest_after: 5,
            // About what a digest's description can name one by one.
            digest_max: 60,
            global_per_second: 50,
            refusals: RefusalPolicy::default(),
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
    pub http: HttpLimits,
    pub api_token: Option<Secret>,
    pub default_channel: Option<ChannelId>,
    /// `LOOPBOT_GUILD_IDS` (or `LOOPBOT_GUILD_ID`); empty: every server the bot is in.
    pub guild_ids: Vec<GuildId>,
    /// `LOOPBOT_RESPONDER_ROLES`; empty: Manage Server or Manage Messages stands in.
    pub responder_roles: Vec<u64>,
    pub log_format: LogFormat,
    pub delivery: DeliverySettings,
    pub alerts: AlertSettings,
    /// Post-release check-ins (`LOOPBOT_CHECKIN_*`, `LOOPBOT_FEEDBACK_EMOJI`).
    pub checkins: CheckinSettings,
    pub integrations: IntegrationsConfig,
    /// `LOOPBOT_SHUTDOWN_GRACE`: how long the outbox may drain after a stop signal.
    pub shutdown_grace: Duration,
    /// `LOOPBOT_RETENTION_DAYS`.
    pub retention_days: u32,
    pub summaries: SummarySettings,
    pub web: WebSettings,
    /// Release health from Prometheus (`LOOPBOT_PROMETHEUS_URL`, `LOOPBOT_HEALTH_*`).
    pub health: HealthSettings,
    /// Leases and shards when several replicas share the database.
    pub replicas: ReplicaSettings,
}

/// When and how weekly summaries are made.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySettings {
    pub schedule: crate::summaries::Schedule,
    pub timezone: chrono_tz::Tz,
    pub bands: crate::domain::bands::Bands,
    /// `LOOPBOT_PRODUCTION_ENVIRONMENTS`: the environments the four keys count.
    pub production: crate::domain::production::Environments,
}

impl SummarySettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::domain::bands::Bands;
        use crate::domain::period::parse_timezone;
        use crate::summaries::{Schedule, DEFAULT_CRON};
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
            production: production::production(&get)?,
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
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// Summaries compare the current period (at most a month) with the one before it: retention
/// never reaches into those 62 days.
pub const MIN_RETENTION_DAYS: u32 = 62;

impl Config {
    /// `DATABASE_URL` as it may be printed or logged: a password in it is replaced by `***`.
    pub fn database_url_shown(&self) -> String {
        hide_password(&self.database_url)
    }

    /// Reads the configuration from these variables (`main` passes the process environment).
    /// Unlike [`Config::from_lookup`], this also finds the `LOOPBOT_HEALTH_QUERY_<NAME>` family.
    pub fn from_environment(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: std::collections::HashMap<String, String> = vars.into_iter().collect();
        let names: Vec<String> = vars.keys().cloned().collect();
        Self::read(|name| vars.get(name).cloned(), &names)
    }

    /// Reads the configuration through `lookup`, variable by variable: every variable but the
    /// health queries, which only [`Config::from_environment`] can list. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(lookup, &[])
    }

    fn read(
        lookup: impl Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let discord_api_url = get("DISCORD_API_URL")
            .map(|raw| parse_base_url("DISCORD_API_URL", &raw))
            .transpose()?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if crate::store::Backend::of_url(&database_url).is_none() {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "is neither a SQLite nor a PostgreSQL URL".into(),
                expected: "sqlite://PATH (e.g. sqlite://loopbot.db) or postgres://USER:PASSWORD@HOST:PORT/DB",
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
        let shutdown_grace = get("LOOPBOT_SHUTDOWN_GRACE")
            .map(|raw| {
                humantime::parse_duration(raw.trim()).map_err(|_| ConfigError {
                    variable: "LOOPBOT_SHUTDOWN_GRACE",
                    problem: "is not a duration".into(),
                    expected: "a duration such as 10s, 500ms or 1m",
                })
            })
            .transpose()?
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE);
        let retention_days = get("LOOPBOT_RETENTION_DAYS")
            .map(|raw| {
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|days| *days >= MIN_RETENTION_DAYS)
                    .ok_or(ConfigError {
                        variable: "LOOPBOT_RETENTION_DAYS",
                        problem: "is not a number of days of at least 62".into(),
                        expected: "whole days, at least 62 (summaries compare two monthly periods)",
                    })
            })
            .transpose()?
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        Ok(Self {
            shutdown_grace,
            retention_days,
            discord_token: get("DISCORD_TOKEN").map(|t| Secret::new(t.trim())),
            discord_api_url,
            database_url,
            http_addr,
            http: HttpLimits::from_lookup(&get)?,
            api_token: get("LOOPBOT_API_TOKEN").map(|t| Secret::new(t.trim())),
            default_channel: get("LOOPBOT_DEFAULT_CHANNEL")
                .map(|raw| parse_snowflake("LOOPBOT_DEFAULT_CHANNEL", &raw))
                .transpose()?
                .map(ChannelId),
            guild_ids: match get("LOOPBOT_GUILD_IDS") {
                Some(raw) => parse_snowflakes("LOOPBOT_GUILD_IDS", &raw)?,
                None => get("LOOPBOT_GUILD_ID")
                    .map(|raw| parse_snowflake("LOOPBOT_GUILD_ID", &raw))
                    .transpose()?
                    .into_iter()
                    .collect(),
            }
            .into_iter()
            .map(GuildId)
            .collect(),
            responder_roles: get("LOOPBOT_RESPONDER_ROLES")
                .map(|raw| parse_snowflakes("LOOPBOT_RESPONDER_ROLES", &raw))
                .transpose()?
                .unwrap_or_default(),
            log_format,
            delivery: delivery_settings(&get)?,
            alerts: AlertSettings::from_lookup(&get)?,
            checkins: checkin_settings(&get)?,
            integrations: IntegrationsConfig::from_lookup(&get)?,
            web: WebSettings::from_lookup(&get)?,
            replicas: ReplicaSettings::from_lookup(&get)?,
            health: HealthSettings::from_lookup(&get, names)?,
            summaries: SummarySettings::from_lookup(get)?,
        })
    }

    /// Who may do what from Discord, built once from `LOOPBOT_GUILD_IDS` and
    /// `LOOPBOT_RESPONDER_ROLES`.
    pub fn access_policy(&self) -> crate::domain::access::Policy {
        crate::domain::access::Policy {
            guilds: self.guild_ids.iter().map(|g| g.0).collect(),
            responder_roles: self.responder_roles.clone(),
        }
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
        let ids = |ids: Vec<u64>| {
            let list: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            opt(Some(list.join(",")).filter(|l| !l.is_empty()))
        };
        [
            ("DISCORD_TOKEN", secret(&self.discord_token)),
            (
                "DISCORD_API_URL",
                self.discord_api_url
                    .clone()
                    .unwrap_or_else(|| "https://discord.com (default)".to_owned()),
            ),
            ("DATABASE_URL", self.database_url_shown()),
            ("LOOPBOT_HTTP_ADDR", self.http_addr.to_string()),
            ("LOOPBOT_API_TOKEN", secret(&self.api_token)),
            (
                "LOOPBOT_DEFAULT_CHANNEL",
                opt(self.default_channel.map(|c| c.0.to_string())),
            ),
            (
                "LOOPBOT_GUILD_IDS",
                ids(self.guild_ids.iter().map(|g| g.0).collect()),
            ),
            ("LOOPBOT_RESPONDER_ROLES", ids(self.responder_roles.clone())),
            (
                "LOOPBOT_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Pretty => "pretty".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                },
            ),
            (
                "LOOPBOT_CHECKIN_DELAYS",
                self.checkins
                    .delays
                    .iter()
                    .map(|d| humantime::format_duration(*d).to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "LOOPBOT_CHECKIN_ENVIRONMENTS",
                self.checkins.environments.to_string(),
            ),
            (
                "LOOPBOT_CHECKIN_CLOSE_AFTER",
                humantime::format_duration(self.checkins.close_after).to_string(),
            ),
            (
                "LOOPBOT_FEEDBACK_EMOJI",
                if self.checkins.emoji == EmojiMap::default() {
                    "(default)".to_owned()
                } else {
                    "(custom)".to_owned()
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
            (
                "LOOPBOT_SHUTDOWN_GRACE",
                humantime::format_duration(self.shutdown_grace).to_string(),
            ),
            (
                "LOOPBOT_UNREACHABLE_GIVE_UP",
                humantime::format_duration(self.delivery.refusals.give_up).to_string(),
            ),
            ("LOOPBOT_RETENTION_DAYS", self.retention_days.to_string()),
        ]
        .into_iter()
        .chain(self.http.describe())
        .chain(self.integrations.describe())
        .chain(self.alerts.describe())
        .chain(self.web.describe())
        .chain(self.replicas.describe())
        .chain(self.health.describe())
        .chain(production::describe(&self.summaries.production))
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect()
    }
}

fn delivery_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<DeliverySettings, ConfigError> {
    let mut settings = DeliverySettings::default();
    if let Some(raw) = get("LOOPBOT_UNREACHABLE_GIVE_UP") {
        settings.refusals.give_up = humantime::parse_duration(raw.trim())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(ConfigError {
                variable: "LOOPBOT_UNREACHABLE_GIVE_UP",
                problem: "is not a positive duration".into(),
                expected: "a duration such as 7d, 12h or 30m",
            })?;
    }
    Ok(settings)
}

fn checkin_settings(get: &impl Fn(&str) -> Option<String>) -> Result<CheckinSettings, ConfigError> {
    let mut settings = CheckinSettings::default();
    if let Some(raw) = get("LOOPBOT_CHECKIN_DELAYS") {
        settings.delays = parse_delays(&raw).map_err(|reason| ConfigError {
            variable: "LOOPBOT_CHECKIN_DELAYS",
            problem: format!("is not a list of durations ({reason})"),
            expected: "durations separated by commas, e.g. 1h,24h or 30m",
        })?;
    }
    settings.environments = production::checkins(get, &production::production(get)?)?;
    if let Some(raw) = get("LOOPBOT_CHECKIN_CLOSE_AFTER") {
        settings.close_after = humantime::parse_duration(raw.trim()).map_err(|e| ConfigError {
            variable: "LOOPBOT_CHECKIN_CLOSE_AFTER",
            problem: format!("is not a duration ({e})"),
            expected: "a duration such as 24h or 90m",
        })?;
    }
    if let Some(raw) = get("LOOPBOT_FEEDBACK_EMOJI") {
        settings.emoji = EmojiMap::parse(&raw).map_err(|e| ConfigError {
            variable: "LOOPBOT_FEEDBACK_EMOJI",
            problem: format!("is not an emoji map ({})", e.reason),
            expected: "EMOJI=VALUE pairs with values +1, 0 or -1, e.g. 👍=+1,👀=0,👎=-1",
        })?;
    }
    Ok(settings)
}

/// Parses a humantime list such as `1h,24h` or `300ms, 2s`.
fn parse_delays(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| humantime::parse_duration(d).map_err(|e| format!("{d:?}: {e}")))
        .collect()
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

/// A comma-separated list of ids (at least one; blanks between commas are skipped).
fn parse_snowflakes(variable: &'static str, raw: &str) -> Result<Vec<u64>, ConfigError> {
    let ids = raw
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| parse_snowflake(variable, part))
        .collect::<Result<Vec<u64>, _>>()?;
    if ids.is_empty() {
        return Err(ConfigError {
            variable,
            problem: "names no id".into(),
            expected: "comma-separated numeric ids, e.g. 123456789012345678,234567890123456789",
        });
    }
    Ok(ids)
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

/// GitHub and GitLab webhooks and the GitHub API (issue 6).
#[derive(Debug, Clone)]
pub struct IntegrationsConfig {
    pub github_webhook_secret: Option<Secret>,
    pub github_token: Option<Secret>,
    pub github_api_url: String,
    pub github_deploy_workflows: crate::domain::webhook::WorkflowFilter,
    pub gitlab_webhook_token: Option<Secret>,
    pub gitlab_token: Option<Secret>,
    pub gitlab_api_url: String,
    /// First delay before retrying a failed commit lookup; doubles per attempt. Not an env var.
    pub lookup_retry_base: Duration,
}

pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITLAB_API_URL: &str = "https://gitlab.com/api/v4";

impl IntegrationsConfig {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            github_webhook_secret: get("GITHUB_WEBHOOK_SECRET").map(Secret::new),
            github_token: get("GITHUB_TOKEN").map(|t| Secret::new(t.trim())),
            github_api_url: get("GITHUB_API_URL")
                .map(|raw| parse_base_url("GITHUB_API_URL", &raw))
                .transpose()?
                .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned()),
            github_deploy_workflows: crate::domain::webhook::WorkflowFilter::parse(
                &get("LOOPBOT_GITHUB_DEPLOY_WORKFLOWS").unwrap_or_default(),
            )
            .map_err(|e| ConfigError {
                variable: "LOOPBOT_GITHUB_DEPLOY_WORKFLOWS",
                problem: e.reason,
                expected: "comma-separated GLOB or GLOB=ENVIRONMENT, e.g. Deploy*=production",
            })?,
            gitlab_webhook_token: get("GITLAB_WEBHOOK_TOKEN").map(|t| Secret::new(t.trim())),
            gitlab_token: get("GITLAB_TOKEN").map(|t| Secret::new(t.trim())),
            gitlab_api_url: get("GITLAB_API_URL")
                .map(|raw| parse_base_url("GITLAB_API_URL", &raw))
                .transpose()?
                .unwrap_or_else(|| DEFAULT_GITLAB_API_URL.to_owned()),
            lookup_retry_base: Duration::from_secs(30),
        })
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let secret = |s: &Option<Secret>| match s {
            Some(_) => "(set, redacted)".to_owned(),
            None => "(not set)".to_owned(),
        };
        vec![
            ("GITHUB_WEBHOOK_SECRET", secret(&self.github_webhook_secret)),
            ("GITHUB_TOKEN", secret(&self.github_token)),
            ("GITHUB_API_URL", self.github_api_url.clone()),
            (
                "LOOPBOT_GITHUB_DEPLOY_WORKFLOWS",
                if self.github_deploy_workflows.is_empty() {
                    "(not set)".to_owned()
                } else {
                    "(set)".to_owned()
                },
            ),
            ("GITLAB_WEBHOOK_TOKEN", secret(&self.gitlab_webhook_token)),
            ("GITLAB_TOKEN", secret(&self.gitlab_token)),
            ("GITLAB_API_URL", self.gitlab_api_url.clone()),
        ]
    }
}

/// Alert intake and notification settings (issue 3).
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub alertmanager_token: Option<Secret>,
    /// `user:pass`.
    pub alertmanager_basic_auth: Option<Secret>,
    pub alertmanager_url: Option<String>,
    pub grafana_token: Option<Secret>,
    pub grafana_basic_auth: Option<Secret>,
    pub grafana_webhook_secret: Option<Secret>,
    pub mention: Option<crate::domain::alert::MentionTarget>,
    pub mention_severity: crate::domain::alert::Severity,
    pub incident_severity: crate::domain::alert::Severity,
    pub correlation_window: Duration,
    pub service_labels: Vec<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self::from_lookup(&|_: &str| None).expect("the defaults are valid")
    }
}

impl AlertSettings {
    /// The alert rules' view of these settings (built once, at startup).
    pub fn policy(&self) -> crate::domain::alert_group::AlertPolicy {
        crate::domain::alert_group::AlertPolicy {
            incident_severity: self.incident_severity.clone(),
            mention: self.mention,
            mention_severity: self.mention_severity.clone(),
            correlation_window: chrono::Duration::from_std(self.correlation_window)
                .unwrap_or(chrono::Duration::hours(1)),
            service_labels: self.service_labels.clone(),
            alertmanager_configured: self.alertmanager_url.is_some(),
        }
    }

    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::domain::alert::{MentionTarget, Severity};
        let secret = |name: &str| get(name).map(|t| Secret::new(t.trim()));
        let severity = |name: &str| Severity::new(Some(get(name).as_deref().unwrap_or("critical")));
        let mention = get("LOOPBOT_ALERT_MENTION")
            .map(|raw| {
                MentionTarget::parse(&raw).ok_or(ConfigError {
                    variable: "LOOPBOT_ALERT_MENTION",
                    problem: "is not a role or user".into(),
                    expected: "role:ID, user:ID, <@&ID> or <@ID>",
                })
            })
            .transpose()?;
        let correlation_window = match get("LOOPBOT_CORRELATION_WINDOW") {
            None => Duration::from_secs(3600),
            Some(raw) => humantime::parse_duration(raw.trim()).map_err(|_| ConfigError {
                variable: "LOOPBOT_CORRELATION_WINDOW",
                problem: "is not a duration".into(),
                expected: "a duration such as 1h, 30m or 90min",
            })?,
        };
        let service_labels: Vec<String> = get("LOOPBOT_ALERT_SERVICE_LABELS")
            .unwrap_or_else(|| "service,app,job".into())
            .split(',')
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        for name in ["ALERTMANAGER_BASIC_AUTH", "GRAFANA_BASIC_AUTH"] {
            if get(name).is_some_and(|v| !v.contains(':')) {
                return Err(ConfigError {
                    variable: if name.starts_with('A') {
                        "ALERTMANAGER_BASIC_AUTH"
                    } else {
                        "GRAFANA_BASIC_AUTH"
                    },
                    problem: "is not user:pass".into(),
                    expected: "user:pass",
                });
            }
        }
        Ok(Self {
            alertmanager_token: secret("ALERTMANAGER_TOKEN"),
            alertmanager_basic_auth: secret("ALERTMANAGER_BASIC_AUTH"),
            alertmanager_url: get("ALERTMANAGER_URL")
                .map(|raw| parse_base_url("ALERTMANAGER_URL", &raw))
                .transpose()?,
            grafana_token: secret("GRAFANA_TOKEN"),
            grafana_basic_auth: secret("GRAFANA_BASIC_AUTH"),
            grafana_webhook_secret: secret("GRAFANA_WEBHOOK_SECRET"),
            mention,
            mention_severity: severity("LOOPBOT_ALERT_MENTION_SEVERITY"),
            incident_severity: severity("LOOPBOT_INCIDENT_SEVERITY"),
            correlation_window,
            service_labels: if service_labels.is_empty() {
                vec!["service".into(), "app".into(), "job".into()]
            } else {
                service_labels
            },
        })
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let secret = |s: &Option<Secret>| match s {
            Some(_) => "(set, redacted)".to_owned(),
            None => "(not set)".to_owned(),
        };
        vec![
            ("ALERTMANAGER_TOKEN", secret(&self.alertmanager_token)),
            (
                "ALERTMANAGER_BASIC_AUTH",
                secret(&self.alertmanager_basic_auth),
            ),
            (
                "ALERTMANAGER_URL",
                self.alertmanager_url
                    .clone()
                    .unwrap_or_else(|| "(not set)".into()),
            ),
            ("GRAFANA_TOKEN", secret(&self.grafana_token)),
            ("GRAFANA_BASIC_AUTH", secret(&self.grafana_basic_auth)),
            (
                "GRAFANA_WEBHOOK_SECRET",
                secret(&self.grafana_webhook_secret),
            ),
            (
                "LOOPBOT_ALERT_MENTION",
                self.mention
                    .map(|m| format!("{m:?}"))
                    .unwrap_or_else(|| "(not set: alerts ping nobody)".into()),
            ),
            (
                "LOOPBOT_ALERT_MENTION_SEVERITY",
                self.mention_severity.to_string(),
            ),
            (
                "LOOPBOT_INCIDENT_SEVERITY",
                self.incident_severity.to_string(),
            ),
            (
                "LOOPBOT_CORRELATION_WINDOW",
                humantime::format_duration(self.correlation_window).to_string(),
            ),
            (
                "LOOPBOT_ALERT_SERVICE_LABELS",
                self.service_labels.join(","),
            ),
        ]
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
