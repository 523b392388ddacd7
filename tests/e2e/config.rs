//! The binary's configuration handling, run as a user would: a process with an environment.

use std::process::Stdio;

use crate::support::app::{binary_command, API_TOKEN, DISCORD_TOKEN};

async fn run(args: &[&str], vars: &[(&str, String)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = binary_command(dir.path(), vars)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn serve_without_a_token_stops_with_one_line_naming_it() {
    let (code, _, stderr) = run(&["serve"], &[]).await;
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DISCORD_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn a_malformed_value_stops_with_one_line_naming_the_variable() {
    for (name, value) in [
        ("LOOPBOT_DEFAULT_CHANNEL", "#general"),
        ("LOOPBOT_HTTP_ADDR", "everywhere"),
        ("LOOPBOT_LOG_FORMAT", "xml"),
    ] {
        let vars = [
            ("DISCORD_TOKEN", DISCORD_TOKEN.to_owned()),
            (name, value.to_owned()),
        ];
        let (code, _, stderr) = run(&["serve"], &vars).await;
        assert_ne!(code, 0, "{name}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(!stderr.contains(DISCORD_TOKEN));
    }
}

#[tokio::test]
async fn check_config_prints_everything_but_the_secrets() {
    let vars = [
        ("DISCORD_TOKEN", DISCORD_TOKEN.to_owned()),
        ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
        ("LOOPBOT_DEFAULT_CHANNEL", "123".to_owned()),
    ];
    let (code, stdout, stderr) = run(&["check-config"], &vars).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("LOOPBOT_DEFAULT_CHANNEL = 123"), "{stdout}");
    assert!(
        stdout.contains("DISCORD_TOKEN = (set, redacted)"),
        "{stdout}"
    );
    assert!(!stdout.contains(DISCORD_TOKEN) && !stdout.contains(API_TOKEN));
    assert!(!stderr.contains(DISCORD_TOKEN) && !stderr.contains(API_TOKEN));

    let (code, _, stderr) = run(&["check-config"], &[]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("DISCORD_TOKEN"));
}

#[tokio::test]
async fn help_documents_every_variable_and_shows_no_secret() {
    let vars = [("DISCORD_TOKEN", DISCORD_TOKEN.to_owned())];
    let (code, stdout, _) = run(&["--help"], &vars).await;
    assert_eq!(code, 0);
    for (name, _, _) in loopbot::config::VARIABLES {
        assert!(stdout.contains(name), "{name} not in --help");
    }
    for sub in ["serve", "migrate", "check-config"] {
        assert!(stdout.contains(sub));
    }
    assert!(!stdout.contains(DISCORD_TOKEN));
}

#[tokio::test]
async fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let vars = [("DATABASE_URL", format!("sqlite://{}", db.display()))];
    let output = binary_command(dir.path(), &vars)
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from sqlite_master where type = 'table' and name in ('deploy', 'outbox', 'subscription', 'message', 'inbound_event')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 5);
}
