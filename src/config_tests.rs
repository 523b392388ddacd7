//! Unit tests of `config`: parsing each variable, refusals naming the variable.

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
fn delays_are_a_humantime_list() {
    let secs = Duration::from_secs;
    assert_eq!(parse_delays("1h, 24h"), Ok(vec![secs(3600), secs(86400)]));
    assert_eq!(parse_delays("300ms"), Ok(vec![Duration::from_millis(300)]));
    assert!(parse_delays("soon").is_err());
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = config(&[]).unwrap();
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.http_addr.to_string(), DEFAULT_HTTP_ADDR);
    assert!(c.require_discord_token().is_err());
    assert_eq!(c.shutdown_grace, Duration::from_secs(10));
    assert_eq!(c.retention_days, 400);
}

#[test]
fn shutdown_grace_and_retention_parse() {
    let c = config(&[
        ("LOOPBOT_SHUTDOWN_GRACE", "1m 30s"),
        ("LOOPBOT_RETENTION_DAYS", "90"),
    ])
    .unwrap();
    assert_eq!(c.shutdown_grace, Duration::from_secs(90));
    assert_eq!(c.retention_days, 90);
    assert!(c.describe().contains("LOOPBOT_SHUTDOWN_GRACE = 1m 30s"));
}

#[test]
fn malformed_values_name_their_variable_in_one_line() {
    for (name, value) in [
        ("LOOPBOT_DEFAULT_CHANNEL", "general"),
        ("LOOPBOT_GUILD_ID", "-1"),
        ("LOOPBOT_GUILD_IDS", "1,two"),
        ("LOOPBOT_GUILD_IDS", ","),
        ("LOOPBOT_RESPONDER_ROLES", "admins"),
        ("LOOPBOT_HTTP_ADDR", "localhost"),
        ("DATABASE_URL", "mysql://x"),
        ("LOOPBOT_LOG_FORMAT", "xml"),
        ("LOOPBOT_SUMMARY_CRON", "every monday"),
        ("LOOPBOT_TIMEZONE", "Mars/Olympus"),
        ("LOOPBOT_DORA_BANDS", "lead_time=fast"),
        ("DISCORD_API_URL", "not a url"),
        ("LOOPBOT_CHECKIN_DELAYS", "soon"),
        ("LOOPBOT_CHECKIN_CLOSE_AFTER", "later"),
        ("LOOPBOT_FEEDBACK_EMOJI", "👍=lots"),
        ("LOOPBOT_SHUTDOWN_GRACE", "soon"),
        ("LOOPBOT_RETENTION_DAYS", "30"),
        ("LOOPBOT_RETENTION_DAYS", "forever"),
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
    // The values, not the word: GRAFANA_WEBHOOK_SECRET is a variable name.
    assert!(!shown.contains("tok-SECRET-1"), "{shown}");
    assert!(!shown.contains("api-SECRET-2"), "{shown}");
    assert!(c.describe().contains("DISCORD_TOKEN = (set, redacted)"));
}

#[test]
fn integration_secrets_never_print_and_bad_values_name_their_variable() {
    let c = config(&[
        ("GITHUB_WEBHOOK_SECRET", "gh-SECRET-3"),
        ("GITHUB_TOKEN", "ghp-SECRET-4"),
        ("GITLAB_WEBHOOK_TOKEN", "gl-SECRET-5"),
    ])
    .unwrap();
    let shown = format!("{c:?}\n{}", c.describe());
    assert!(!shown.contains("-SECRET-"), "{shown}");
    assert!(shown.contains("GITLAB_WEBHOOK_TOKEN = (set, redacted)"));
    for (name, value) in [
        ("GITHUB_API_URL", "api.github.com"),
        ("LOOPBOT_GITHUB_DEPLOY_WORKFLOWS", "Deploy=,=prod"),
    ] {
        assert_eq!(config(&[(name, value)]).unwrap_err().variable, name);
    }
}

#[test]
fn alert_settings_parse_and_name_their_variable() {
    let c = config(&[
        ("ALERTMANAGER_TOKEN", "am-SECRET-3"),
        ("GRAFANA_BASIC_AUTH", "user:gf-SECRET-4"),
        ("LOOPBOT_ALERT_MENTION", "<@&42>"),
        ("LOOPBOT_CORRELATION_WINDOW", "90m"),
        ("LOOPBOT_ALERT_SERVICE_LABELS", "app, service"),
    ])
    .unwrap();
    assert_eq!(c.alerts.correlation_window, Duration::from_secs(5400));
    assert_eq!(c.alerts.service_labels, vec!["app", "service"]);
    assert_eq!(
        c.alerts.mention,
        Some(crate::domain::alert::MentionTarget::Role(42))
    );
    let shown = format!("{c:?}\n{}", c.describe());
    assert!(
        !shown.contains("am-SECRET-3") && !shown.contains("gf-SECRET-4"),
        "{shown}"
    );
    assert_eq!(
        config(&[]).unwrap().alerts.correlation_window,
        Duration::from_secs(3600)
    );
    for (name, value) in [
        ("LOOPBOT_CORRELATION_WINDOW", "soon"),
        ("LOOPBOT_ALERT_MENTION", "@everyone"),
        ("ALERTMANAGER_URL", "alertmanager:9093"),
        ("ALERTMANAGER_BASIC_AUTH", "no-colon"),
        ("GRAFANA_BASIC_AUTH", "no-colon"),
    ] {
        let err = config(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name);
    }
}

#[test]
fn env_example_documents_every_variable() {
    let example = include_str!("../.env.example");
    for (name, _, _) in VARIABLES {
        assert!(example.contains(name), "{name} missing from .env.example");
    }
}

/// `cp .env.example .env` plus a token must give a valid configuration: the README's first command.
#[test]
fn env_example_parses_into_a_valid_configuration() {
    let example = include_str!("../.env.example");
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(example.as_bytes()) {
        let (name, value) = item.expect(".env.example parses as a .env file");
        vars.insert(name, value);
    }
    vars.insert("DISCORD_TOKEN".into(), "token".into());
    let config = Config::from_lookup(|name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!(".env.example is not a valid configuration: {e}"));
    assert!(config.require_discord_token().is_ok());
}

/// docs/configuration.md is generated from `VARIABLES`; this keeps the two in step.
#[test]
fn the_configuration_page_lists_every_variable_and_no_other() {
    let page = include_str!("../docs/configuration.md");
    let documented: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let known: Vec<&str> = VARIABLES.iter().map(|(name, _, _)| *name).collect();
    for name in &known {
        assert!(
            documented.contains(name),
            "docs/configuration.md does not document {name}"
        );
    }
    for name in &documented {
        assert!(
            known.contains(name),
            "docs/configuration.md documents {name}, which config::VARIABLES does not list"
        );
    }
}

#[test]
fn unreachable_give_up_defaults_to_a_week_and_names_itself_when_bad() {
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(config(&[]).unwrap().delivery.refusals.give_up, week);
    let c = config(&[("LOOPBOT_UNREACHABLE_GIVE_UP", "12h")]).unwrap();
    assert_eq!(c.delivery.refusals.give_up, Duration::from_secs(12 * 3600));
    assert!(c.describe().contains("LOOPBOT_UNREACHABLE_GIVE_UP = 12h"));
    for bad in ["soon", "0s"] {
        let err = config(&[("LOOPBOT_UNREACHABLE_GIVE_UP", bad)]).unwrap_err();
        assert_eq!(err.variable, "LOOPBOT_UNREACHABLE_GIVE_UP", "{bad:?}");
    }
}

#[test]
fn servers_and_responder_roles_are_lists_and_the_old_name_still_works() {
    let c = Config::from_lookup(|name| match name {
        "LOOPBOT_GUILD_IDS" => Some(" 11, 22 ,".into()),
        "LOOPBOT_GUILD_ID" => Some("33".into()),
        "LOOPBOT_RESPONDER_ROLES" => Some("44,55".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.guild_ids, vec![GuildId(11), GuildId(22)]);
    assert_eq!(c.responder_roles, vec![44, 55]);
    assert!(c.describe().contains("LOOPBOT_GUILD_IDS = 11,22"));
    assert!(c.describe().contains("LOOPBOT_RESPONDER_ROLES = 44,55"));
    let old =
        Config::from_lookup(|name| (name == "LOOPBOT_GUILD_ID").then(|| "33".into())).unwrap();
    assert_eq!(old.guild_ids, vec![GuildId(33)]);
    let unset = Config::from_lookup(|_| None).unwrap();
    assert!(unset.guild_ids.is_empty() && unset.responder_roles.is_empty());
    assert!(unset.describe().contains("LOOPBOT_GUILD_IDS = (not set)"));
}

#[test]
fn a_postgres_url_is_accepted_and_its_password_never_shown() {
    let c = config(&[(
        "DATABASE_URL",
        "postgres://loopbot:s3cret-pw@db.internal:5432/loopbot?sslmode=require",
    )])
    .unwrap();
    let shown = c.describe();
    assert!(!shown.contains("s3cret-pw"), "{shown}");
    assert!(
        shown.contains("postgres://loopbot:***@db.internal:5432/loopbot?sslmode=require"),
        "{shown}"
    );
    assert_eq!(hide_password("sqlite://loopbot.db"), "sqlite://loopbot.db");
    assert_eq!(hide_password("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        hide_password("postgres://u:p@ss@h/db"),
        "postgres://u:***@h/db"
    );
}
