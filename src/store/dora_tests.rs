//! The production filter agrees with the domain's matcher; change failures, their probable rate,
//! deploy failures and recovery times on hand-computed cases.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::*;
use crate::config::SummarySettings;
use crate::domain::period::Period;
use crate::domain::summary::Summary;
use crate::store::ids::time_to_db;
use crate::store::{Scope, Store};

#[tokio::test]
async fn the_sql_filter_agrees_with_the_domain_matcher() {
    let (store, _dir) = Store::temporary().await;
    let lists = [
        "prod*",
        "production",
        "live,prod-??",
        "*-prod,eu-*",
        "p?od",
        "a[b]*,[x]",
        "it's*",
        "prÖd*",
        "*",
        "ca*f?",
    ];
    let environments = [
        "production",
        "Production",
        "PROD",
        "prod-eu",
        "prod-eu-1",
        "preprod",
        "staging",
        "live",
        "LIVE",
        "eu-west",
        "us-prod",
        "pxod",
        "a[b]c",
        "ab",
        "[x]",
        "x",
        "it's-live",
        "its-live",
        "prÖd-1",
        "PRÖD-1",
        "pröd-1",
        "café",
        "",
        "a*b",
    ];
    for list in lists {
        let set = Environments::parse(list).unwrap();
        let condition = production_sql("d", &set);
        for environment in environments {
            let crate::store::ids::Flag(in_sql) = sqlx::query_scalar(&crate::store::numbered(
                &format!("select {condition} from (select ? as environment) d"),
            ))
            .bind(environment)
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert_eq!(
                in_sql,
                set.matches(environment),
                "{list:?} against {environment:?} ({condition})"
            );
        }
    }
    assert_eq!(production_sql("d", &Environments::none()), "false");
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(&crate::store::numbered(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

/// A deploy finished at `finished` (started ten minutes before); returns its id.
async fn deploy(store: &Store, service: &str, env: &str, status: &str, finished: &str) -> i64 {
    let f = time_to_db(at(finished));
    sqlx::query_scalar(
        "insert into deploy (source, external_id, service, version, environment, status,
             started_at, finished_at, updated_at, created_at)
         values ('api', $1, $2, 'v1', $3, $4, $5, $6, 0, 0) returning id",
    )
    .bind(format!("{service}-{env}-{f}"))
    .bind(service)
    .bind(env)
    .bind(status)
    .bind(f - 600_000)
    .bind(f)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// An alert group with one critical alert and its incident, opened and (maybe) resolved, and a
/// link from the alert to `deploy` with `verdict` (SQL: `'confirmed'`, `'rejected'` or `null`).
async fn incident(
    store: &Store,
    id: i64,
    opened: &str,
    resolved: Option<&str>,
    deploy: i64,
    verdict: &str,
) {
    let (o, r) = (
        time_to_db(at(opened)),
        resolved.map_or("null".to_owned(), |r| time_to_db(at(r)).to_string()),
    );
    exec(store, &format!(
        "insert into alert_group (id, source, group_key, status, service, environment, severity,
             first_fired_at, resolved_at, updated_at, created_at)
         values ({id}, 'api', 'g{id}', 'resolved', 'checkout', 'production', 'critical', {o}, {r}, 0, 0);
         insert into alert (id, group_id, source, fingerprint, name, service, environment, severity,
             status, starts_at, updated_at, created_at)
         values ({id}, {id}, 'api', 'f{id}', 'Errors', 'checkout', 'production', 'critical', 'firing', {o}, 0, 0);
         insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
             resolved_at, deploy_id, updated_at, created_at)
         values ({id}, {id}, 'Errors', 'checkout', 'production', 'critical', {o}, {r}, {deploy}, 0, 0);
         insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, verdict, created_at)
         values ({id}, {id}, {deploy}, 0, {verdict}, 0);"
    ))
    .await;
}

async fn summary(store: &Store, settings: &SummarySettings, week: &str, now: &str) -> Summary {
    let period = Period::iso_week(week, Tz::UTC).unwrap();
    crate::summaries::compute(store, settings, &period, &Scope::all(), at(now))
        .await
        .unwrap()
}

#[tokio::test]
async fn change_failures_count_rollbacks_and_confirmed_incidents_only() {
    let (store, _dir) = Store::temporary().await;
    // W47 (UTC), production unless said otherwise.
    let ok = deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-16T10:00:00Z",
    )
    .await;
    let confirmed = deploy(
        &store,
        "checkout",
        "prod-eu",
        "succeeded",
        "2026-11-17T10:00:00Z",
    )
    .await;
    let unanswered = deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-18T10:00:00Z",
    )
    .await;
    let rejected = deploy(
        &store,
        "payments",
        "production",
        "succeeded",
        "2026-11-18T11:00:00Z",
    )
    .await;
    deploy(
        &store,
        "payments",
        "production",
        "rolled_back",
        "2026-11-19T10:00:00Z",
    )
    .await;
    let failed = deploy(
        &store,
        "payments",
        "production",
        "failed",
        "2026-11-19T12:00:00Z",
    )
    .await;
    // Not production: neither counted nor a failure of it.
    let staging = deploy(
        &store,
        "checkout",
        "staging",
        "rolled_back",
        "2026-11-19T13:00:00Z",
    )
    .await;
    deploy(
        &store,
        "checkout",
        "preprod",
        "failed",
        "2026-11-19T14:00:00Z",
    )
    .await;
    incident(
        &store,
        1,
        "2026-11-17T10:30:00Z",
        Some("2026-11-17T11:00:00Z"),
        confirmed,
        "'confirmed'",
    )
    .await;
    incident(&store, 2, "2026-11-18T10:30:00Z", None, unanswered, "null").await;
    incident(
        &store,
        3,
        "2026-11-18T11:30:00Z",
        None,
        rejected,
        "'rejected'",
    )
    .await;
    // A confirmed link on a failed job changes nothing: it never reached production.
    incident(
        &store,
        4,
        "2026-11-19T12:30:00Z",
        None,
        failed,
        "'confirmed'",
    )
    .await;
    incident(
        &store,
        5,
        "2026-11-19T13:30:00Z",
        None,
        staging,
        "'confirmed'",
    )
    .await;
    let _ = ok;

    let settings = SummarySettings::default();
    let s = summary(&store, &settings, "2026-W47", "2026-11-23T09:00:00Z").await;
    let k = &s.keys;
    // Reached production: 4 succeeded + 1 rolled back; change failures: the rollback and the
    // confirmed incident; probable adds the unanswered link; the failed job is beside it.
    assert_eq!(
        (
            k.production_deploys,
            k.change_failures,
            k.probable_change_failures,
            k.deploy_failures
        ),
        (5, 2, 3, 1)
    );
    assert_eq!(k.change_failure_rate.value, Some(40.0));
    assert_eq!(k.probable_change_failure_rate.value, Some(60.0));
    // Frequency counts the same 5 deploys.
    assert!((k.deployment_frequency.value.unwrap() - 5.0 / 7.0).abs() < 1e-9);

    // Production as the team defines it: only prod-eu.
    let settings = SummarySettings {
        production: Environments::parse("PROD-EU").unwrap(),
        ..SummarySettings::default()
    };
    let s = summary(&store, &settings, "2026-W47", "2026-11-23T09:00:00Z").await;
    let k = &s.keys;
    assert_eq!(
        (k.production_deploys, k.change_failures, k.deploy_failures),
        (1, 1, 0)
    );
    assert_eq!(k.change_failure_rate.value, Some(100.0));
}

#[tokio::test]
async fn recovery_runs_from_the_failure_to_the_next_success_or_the_resolution() {
    let (store, _dir) = Store::temporary().await;
    // 1. Rolled back, the rollback recorded at 11:00 (after the deploy finished at 10:00); the next
    //    checkout/production success is at 14:00 (a staging one and another service's at 12:00
    //    do not count): 3h.
    let rolled = deploy(
        &store,
        "checkout",
        "production",
        "rolled_back",
        "2026-11-17T10:00:00Z",
    )
    .await;
    exec(
        &store,
        &format!(
            "insert into deploy_status_change (deploy_id, status, at, created_at)
         values ({rolled}, 'succeeded', {}, 0), ({rolled}, 'rolled_back', {}, 0)",
            time_to_db(at("2026-11-17T10:00:00Z")),
            time_to_db(at("2026-11-17T11:00:00Z")),
        ),
    )
    .await;
    deploy(
        &store,
        "checkout",
        "staging",
        "succeeded",
        "2026-11-17T12:00:00Z",
    )
    .await;
    deploy(
        &store,
        "payments",
        "production",
        "succeeded",
        "2026-11-17T12:00:00Z",
    )
    .await;
    deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-17T14:00:00Z",
    )
    .await;
    // 2. A confirmed incident opened at 09:00, resolved at 09:20, before the next success: 20m.
    let caused = deploy(
        &store,
        "payments",
        "production",
        "succeeded",
        "2026-11-19T08:00:00Z",
    )
    .await;
    incident(
        &store,
        1,
        "2026-11-19T09:00:00Z",
        Some("2026-11-19T09:20:00Z"),
        caused,
        "'confirmed'",
    )
    .await;
    deploy(
        &store,
        "payments",
        "production",
        "succeeded",
        "2026-11-19T10:00:00Z",
    )
    .await;
    // 3. A confirmed incident still open, fixed by the next deploy 1h after it opened: 1h.
    let fixed = deploy(
        &store,
        "search",
        "production",
        "succeeded",
        "2026-11-20T08:00:00Z",
    )
    .await;
    incident(
        &store,
        2,
        "2026-11-20T09:00:00Z",
        None,
        fixed,
        "'confirmed'",
    )
    .await;
    deploy(
        &store,
        "search",
        "production",
        "succeeded",
        "2026-11-20T10:00:00Z",
    )
    .await;
    // 4. Unanswered: a probable failure, no recovery time.
    let probable = deploy(
        &store,
        "cart",
        "production",
        "succeeded",
        "2026-11-21T08:00:00Z",
    )
    .await;
    incident(
        &store,
        3,
        "2026-11-21T09:00:00Z",
        Some("2026-11-21T09:10:00Z"),
        probable,
        "null",
    )
    .await;
    // 5. Rolled back on Sunday night (no status change stored: its finish stands for it) and
    //    recovered on Monday of the next week: a failure of this week, 2h.
    deploy(
        &store,
        "auth",
        "production",
        "rolled_back",
        "2026-11-22T23:00:00Z",
    )
    .await;
    deploy(
        &store,
        "auth",
        "production",
        "succeeded",
        "2026-11-23T01:00:00Z",
    )
    .await;
    // 6. Rolled back and not recovered yet.
    deploy(
        &store,
        "mail",
        "production",
        "rolled_back",
        "2026-11-21T10:00:00Z",
    )
    .await;

    let settings = SummarySettings::default();
    let s = summary(&store, &settings, "2026-W47", "2026-11-23T09:00:00Z").await;
    let k = &s.keys;
    // 20m, 1h, 2h, 3h → median 1h30m (the unrecovered one has no value yet).
    assert_eq!(k.recoveries, 4);
    assert_eq!(k.failed_deployment_recovery_time.value, Some(5_400.0));
    // Incident time to restore stays: incidents resolved in the week, 20m and 10m → 15m.
    assert_eq!(k.time_to_restore.value, Some(900.0));
    let text = s.render(false);
    assert!(
        text.contains("Failed deployment recovery time (median): 1h 30m"),
        "{text}"
    );
    assert!(text.contains("4 recovered"), "{text}");
    assert!(
        text.contains("Incident time to restore (median): 15m 0s"),
        "{text}"
    );

    // A rollback recorded long after its deploy finished is a failure of the week it was
    // recorded in: search v1 finished in W46, rolled back in W48, fixed 30 minutes later.
    let late = deploy(
        &store,
        "search",
        "production",
        "rolled_back",
        "2026-11-12T08:00:00Z",
    )
    .await;
    exec(
        &store,
        &format!(
            "insert into deploy_status_change (deploy_id, status, at, created_at)
             values ({late}, 'rolled_back', {}, 0)",
            time_to_db(at("2026-11-24T08:00:00Z")),
        ),
    )
    .await;
    deploy(
        &store,
        "search",
        "production",
        "succeeded",
        "2026-11-24T08:30:00Z",
    )
    .await;
    let next = summary(&store, &settings, "2026-W48", "2026-11-30T09:00:00Z").await;
    assert_eq!(next.keys.recoveries, 1);
    assert_eq!(
        next.keys.failed_deployment_recovery_time.value,
        Some(1_800.0)
    );
    assert_eq!(
        next.keys.failed_deployment_recovery_time.previous,
        Some(5_400.0)
    );
    let again = summary(&store, &settings, "2026-W47", "2026-11-23T09:00:00Z").await;
    assert_eq!(again.keys.recoveries, 4, "W47 is unchanged");
}

/// `deploy`'s commits: (sha, committed at).
async fn commits(store: &Store, deploy: i64, list: &[(&str, &str)]) {
    for (sha, committed) in list {
        sqlx::query(
            "insert into deploy_commit (deploy_id, sha, committed_at, created_at) values ($1, $2, $3, 0)",
        )
        .bind(deploy)
        .bind(sha)
        .bind(time_to_db(at(committed)))
        .execute(store.pool())
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn lead_time_is_over_commits_each_counted_at_the_first_production_deploy_that_shipped_it() {
    let (store, _dir) = Store::temporary().await;
    let settings = SummarySettings::default();
    // W46: checkout ships aaaa (committed 2 h before) to production.
    let before = deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-13T10:00:00Z",
    )
    .await;
    commits(&store, before, &[("aaaa", "2026-11-13T08:00:00Z")]).await;
    // W47, Monday: checkout ships four commits, aaaa again (counted last week) and three new ones
    // committed 7 d, 2 d and 1 h before the deploy finished.
    let big = deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-16T10:00:00Z",
    )
    .await;
    commits(
        &store,
        big,
        &[
            ("aaaa", "2026-11-13T08:00:00Z"),
            ("bbbb", "2026-11-09T10:00:00Z"),
            ("cccc", "2026-11-14T10:00:00Z"),
            ("dddd", "2026-11-16T09:00:00Z"),
        ],
    )
    .await;
    // The same commits reach the second production region later: nothing counted twice.
    let region = deploy(
        &store,
        "checkout",
        "prod-eu",
        "succeeded",
        "2026-11-16T12:00:00Z",
    )
    .await;
    commits(
        &store,
        region,
        &[
            ("bbbb", "2026-11-09T10:00:00Z"),
            ("dddd", "2026-11-16T09:00:00Z"),
        ],
    )
    .await;
    // Staging shipped eeee first; it is not production, so eeee counts at its production deploy.
    let staging = deploy(
        &store,
        "checkout",
        "staging",
        "succeeded",
        "2026-11-17T08:00:00Z",
    )
    .await;
    commits(&store, staging, &[("eeee", "2026-11-17T07:00:00Z")]).await;
    // Search (another service) ships bbbb too: a change of search, counted for it. Its head
    // commit only (no list): 30 min.
    let search = deploy(
        &store,
        "search",
        "production",
        "rolled_back",
        "2026-11-17T10:00:00Z",
    )
    .await;
    exec(
        &store,
        &format!(
            "update deploy set commit_sha = 'bbbb', commit_at = {} where id = {search}",
            time_to_db(at("2026-11-17T09:30:00Z"))
        ),
    )
    .await;
    let prod_e = deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-17T10:00:00Z",
    )
    .await;
    commits(&store, prod_e, &[("eeee", "2026-11-17T07:00:00Z")]).await;
    // A failed job shipped nothing; a production deploy without commit information lacks one.
    let failed = deploy(
        &store,
        "checkout",
        "production",
        "failed",
        "2026-11-18T10:00:00Z",
    )
    .await;
    commits(&store, failed, &[("ffff", "2026-11-18T09:00:00Z")]).await;
    deploy(
        &store,
        "checkout",
        "production",
        "succeeded",
        "2026-11-18T11:00:00Z",
    )
    .await;

    let s = summary(&store, &settings, "2026-W47", "2026-11-23T00:00:00Z").await;
    let lead = &s.keys.lead_time;
    // Commits: bbbb 7 d, cccc 2 d, dddd 1 h (big); eeee 3 h; search's bbbb 30 min.
    // Sorted: 0.5 h, 1 h, 3 h, 2 d, 7 d: median 3 h; p90 the ⌈4.5⌉ = 5th, 7 d.
    assert_eq!(lead.median.value, Some(3.0 * 3600.0), "{lead:?}");
    assert_eq!(lead.p90, Some(7.0 * 86_400.0));
    assert_eq!(lead.commits_measured, 5);
    // Deploys with commit information: big, region, search, prod_e; lacking: the last one.
    assert_eq!(lead.deploys_measured, 4);
    assert_eq!(lead.deploys_lacking_commit_time, 1);
    // The week before: aaaa, 2 h.
    assert_eq!(lead.median.previous, Some(2.0 * 3600.0));
    assert!(
        s.render(false)
            .contains("5 commits in 4 deploys measured, 1 lacking a commit time"),
        "{}",
        s.render(false)
    );
}
