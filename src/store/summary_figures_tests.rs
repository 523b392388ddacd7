//! Hand-computed figures for known weeks of deploys, alerts and check-ins.

use super::*;
use crate::config::SummarySettings;
use crate::domain::bands::Band;
use crate::domain::summary::Trend;
use chrono_tz::Tz;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Inserts a deploy as the API would have left it.
async fn deploy(
    store: &Store,
    service: &str,
    environment: &str,
    status: &str,
    commit_at: Option<&str>,
    finished_at: Option<&str>,
    started_at: &str,
) {
    static N: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sqlx::query(
        "insert into deploy (source, external_id, service, version, environment, status, commit_at,
             started_at, finished_at, updated_at, created_at)
         values ('api', $1, $2, 'v1', $3, $4, $5, $6, $7, 0, 0)",
    )
    .bind(format!("d{n}"))
    .bind(service)
    .bind(environment)
    .bind(status)
    .bind(commit_at.map(|c| time_to_db(at(c))))
    .bind(time_to_db(at(started_at)))
    .bind(finished_at.map(|f| time_to_db(at(f))))
    .execute(store.pool())
    .await
    .unwrap();
}

/// A deploy that finished at `finished`, started ten minutes earlier.
async fn done(
    store: &Store,
    service: &str,
    env: &str,
    status: &str,
    commit: Option<&str>,
    finished: &str,
) {
    let started = (at(finished) - chrono::Duration::minutes(10)).to_rfc3339();
    deploy(
        store,
        service,
        env,
        status,
        commit,
        Some(finished),
        &started,
    )
    .await;
}

async fn known_week(store: &Store) {
    // Week 2026-W47 in UTC: Mon 2026-11-16 00:00 to Mon 2026-11-23 00:00.
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        Some("2026-11-16T08:00:00Z"),
        "2026-11-16T10:00:00Z",
    )
    .await; // 2h
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        Some("2026-11-17T09:00:00Z"),
        "2026-11-17T13:00:00Z",
    )
    .await; // 4h
    done(
        store,
        "checkout",
        "production",
        "failed",
        Some("2026-11-18T09:00:00Z"),
        "2026-11-18T12:00:00Z",
    )
    .await;
    done(
        store,
        "checkout",
        "production",
        "rolled_back",
        Some("2026-11-19T00:00:00Z"),
        "2026-11-19T06:00:00Z",
    )
    .await; // 6h
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        None,
        "2026-11-20T10:00:00Z",
    )
    .await; // no commit time
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        Some("2026-11-20T10:00:00Z"),
        "2026-11-21T10:00:00Z",
    )
    .await; // 24h
    done(
        store,
        "payments",
        "production",
        "succeeded",
        Some("2026-11-22T22:00:00Z"),
        "2026-11-22T23:00:00Z",
    )
    .await; // 1h
    done(
        store,
        "checkout",
        "staging",
        "succeeded",
        Some("2026-11-18T08:00:00Z"),
        "2026-11-18T09:00:00Z",
    )
    .await;
    deploy(
        store,
        "checkout",
        "production",
        "started",
        None,
        None,
        "2026-11-22T12:00:00Z",
    )
    .await;
    // Exactly at the start (included) and exactly at the end (next week).
    done(
        store,
        "payments",
        "staging",
        "succeeded",
        None,
        "2026-11-16T00:00:00Z",
    )
    .await;
    done(
        store,
        "payments",
        "staging",
        "succeeded",
        None,
        "2026-11-23T00:00:00Z",
    )
    .await;
    // The week before: two production deploys, lead times 1h and 3h.
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        Some("2026-11-10T09:00:00Z"),
        "2026-11-10T10:00:00Z",
    )
    .await;
    done(
        store,
        "checkout",
        "production",
        "succeeded",
        Some("2026-11-12T09:00:00Z"),
        "2026-11-12T12:00:00Z",
    )
    .await;
}

#[tokio::test]
async fn known_deploys_give_hand_computed_figures() {
    let (store, _dir) = Store::temporary().await;
    known_week(&store).await;
    let settings = SummarySettings::default();
    let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
    let now = at("2026-11-23T09:00:00Z");
    let s = crate::summaries::compute(&store, &settings, &period, &Scope::all(), now)
        .await
        .unwrap();

    // 10 deploys in the week: 7 succeeded, 1 failed, 1 rolled back, 1 still running.
    assert_eq!(
        (s.deploys.total, s.deploys.succeeded, s.deploys.failed),
        (10, 7, 1)
    );
    assert_eq!((s.deploys.rolled_back, s.deploys.started), (1, 1));
    assert_eq!(s.previous_deploys.total, 2);
    let line = |svc: &str, env: &str| {
        s.services
            .iter()
            .find(|l| l.service == svc && l.environment == env)
            .unwrap()
            .clone()
    };
    let checkout = line("checkout", "production");
    assert_eq!(
        (
            checkout.counts.total,
            checkout.counts.succeeded,
            checkout.counts.failed
        ),
        (7, 4, 1)
    );
    assert_eq!(
        (
            checkout.counts.rolled_back,
            checkout.counts.started,
            checkout.previous.total
        ),
        (1, 1, 2)
    );
    assert_eq!(line("checkout", "staging").counts.total, 1);
    assert_eq!(line("payments", "production").counts.total, 1);
    assert_eq!(
        line("payments", "staging").counts.total,
        1,
        "start included, end excluded"
    );

    let k = &s.keys;
    // Deployment frequency: 6 production deploys reached production (5 succeeded + 1 rolled back) / 7 days.
    assert!((k.deployment_frequency.value.unwrap() - 6.0 / 7.0).abs() < 1e-9);
    assert!((k.deployment_frequency.previous.unwrap() - 2.0 / 7.0).abs() < 1e-9);
    assert_eq!(k.deployment_frequency.trend, Trend::Up);
    assert_eq!(k.deployment_frequency.band, Some(Band::High));
    // Lead time over 1h, 2h, 4h, 6h, 24h: median 4h, p90 (rank ceil(4.5) = 5) 24h; one lacks a commit.
    assert_eq!(k.lead_time.median.value, Some(14_400.0));
    assert_eq!(k.lead_time.p90, Some(86_400.0));
    assert_eq!(k.lead_time.deploys_measured, 5);
    assert_eq!(k.lead_time.deploys_lacking_commit_time, 1);
    assert_eq!(k.lead_time.median.band, Some(Band::Elite));
    // Previous: 1h and 3h, median is their mean (2h), p90 is rank 2 (3h).
    assert_eq!(k.lead_time.median.previous, Some(7_200.0));
    assert_eq!(k.lead_time.previous_p90, Some(10_800.0));
    assert_eq!(k.lead_time.median.trend, Trend::Up);
    // Change failure rate: 1 rolled back / 6 that reached production; the failed job is beside it.
    assert!((k.change_failure_rate.value.unwrap() - 100.0 / 6.0).abs() < 1e-9);
    assert_eq!(k.change_failure_rate.previous, Some(0.0));
    assert_eq!(k.change_failure_rate.band, Some(Band::Low));
    assert_eq!(
        (k.change_failures, k.production_deploys, k.deploy_failures),
        (1, 6, 1)
    );
    assert_eq!(
        k.probable_change_failure_rate.value,
        k.change_failure_rate.value
    );
    // Recovery: rolled back at 11-19 06:00, next checkout/production success 11-20 10:00: 28h.
    assert_eq!(k.failed_deployment_recovery_time.value, Some(100_800.0));
    assert_eq!(k.failed_deployment_recovery_time.band, Some(Band::Medium));
    assert_eq!(k.recoveries, 1);
    // No incident data in this database.
    assert_eq!(k.time_to_restore.value, None);

    let day = |i: usize| {
        let d = &s.daily[i];
        (d.succeeded, d.failed, d.rolled_back)
    };
    assert_eq!(s.daily.len(), 7);
    assert_eq!(s.daily[0].date.to_string(), "2026-11-16");
    assert_eq!(
        [day(0), day(1), day(2), day(3)],
        [(2, 0, 0), (1, 0, 0), (1, 1, 0), (0, 0, 1)]
    );
    assert_eq!([day(4), day(5), day(6)], [(1, 0, 0), (1, 0, 0), (1, 0, 0)]);
    assert!(!s.empty);

    // Scoped to one service: only its deploys.
    let scoped = crate::summaries::compute(
        &store,
        &settings,
        &period,
        &Scope::of(
            &Pattern::parse("service", Some("Checkout")).unwrap(),
            &Pattern::any(),
        ),
        now,
    )
    .await
    .unwrap();
    assert_eq!(scoped.deploys.total, 8);
    assert_eq!(scoped.keys.lead_time.deploys_measured, 4);
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(&crate::store::numbered(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

fn ms(s: &str) -> i64 {
    time_to_db(at(s))
}

/// Alerts, incidents and check-ins in W47, inserted as the alerts and check-ins features store them.
async fn known_alerts_and_checkins(store: &Store) {
    let g = |id: i64,
             status: &str,
             service: &str,
             first: &str,
             acked: Option<&str>,
             resolved: Option<&str>| {
        format!(
            "insert into alert_group (id, source, group_key, status, service, environment, severity,
                 first_fired_at, acked_at, resolved_at, updated_at, created_at)
             values ({id}, 'api', 'g{id}', '{status}', '{service}', 'production', 'critical', {}, {}, {}, 0, 0)",
            ms(first),
            acked.map_or("null".into(), |a| ms(a).to_string()),
            resolved.map_or("null".into(), |r| ms(r).to_string()),
        )
    };
    exec(
        store,
        &g(
            1,
            "resolved",
            "checkout",
            "2026-11-19T07:00:00Z",
            Some("2026-11-19T07:10:00Z"),
            Some("2026-11-19T08:00:00Z"),
        ),
    )
    .await;
    exec(
        store,
        &g(
            2,
            "firing",
            "checkout",
            "2026-11-20T03:00:00Z",
            Some("2026-11-20T03:30:00Z"),
            None,
        ),
    )
    .await;
    exec(
        store,
        &g(
            3,
            "resolved",
            "payments",
            "2026-11-22T10:00:00Z",
            None,
            Some("2026-11-22T12:00:00Z"),
        ),
    )
    .await;
    let a = |id: i64, group: i64, name: &str, service: &str, starts: &str| {
        format!(
            "insert into alert (id, group_id, source, fingerprint, name, service, environment, severity, status,
                 starts_at, updated_at, created_at)
             values ({id}, {group}, 'api', 'f{id}', '{name}', '{service}', 'production', 'critical', 'firing', {}, 0, 0)",
            ms(starts)
        )
    };
    exec(
        store,
        &a(1, 1, "HighErrorRate", "checkout", "2026-11-19T07:00:00Z"),
    )
    .await;
    exec(
        store,
        &a(2, 1, "HighErrorRate", "checkout", "2026-11-19T07:05:00Z"),
    )
    .await;
    exec(
        store,
        &a(3, 2, "HighLatency", "checkout", "2026-11-20T03:00:00Z"),
    )
    .await;
    exec(
        store,
        &a(4, 3, "DiskFull", "payments", "2026-11-22T10:00:00Z"),
    )
    .await;
    // Incident 1 (1h) blames checkout deploy 2; incident 2 (2h) blamed payments deploy 7, but a
    // human rejected that link.
    exec(
        store,
        &format!(
        "insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
             resolved_at, deploy_id, updated_at, created_at)
         values (1, 1, 'HighErrorRate', 'checkout', 'production', 'critical', {}, {}, 2, 0, 0),
                (3, 4, 'DiskFull', 'payments', 'production', 'critical', {}, {}, 7, 0, 0)",
        ms("2026-11-19T07:00:00Z"), ms("2026-11-19T08:00:00Z"),
        ms("2026-11-22T10:00:00Z"), ms("2026-11-22T12:00:00Z"),
    ),
    )
    .await;
    // A responder confirmed incident 1's link to deploy 2; its second alert's link to deploy 1
    // nobody answered.
    exec(store, "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, verdict, created_at)
                 values (4, 3, 7, 0, 'rejected', 0), (1, 1, 2, 0, 'confirmed', 0), (2, 1, 1, 0, null, 0)").await;

    let c = |id: i64, deploy: i64, state: &str, opened: &str| {
        format!(
            "insert into checkin (id, deploy_id, channel_id, sequence, origin, state, due_at, opened_at,
                 updated_at, created_at)
             values ({id}, {deploy}, 300000000000000003, 0, 'schedule', '{state}', {t}, {t}, 0, 0)",
            t = ms(opened)
        )
    };
    exec(store, &c(1, 1, "closed", "2026-11-16T11:00:00Z")).await;
    exec(store, &c(2, 2, "closed", "2026-11-17T14:00:00Z")).await; // never answered
    exec(store, &c(3, 6, "open", "2026-11-21T11:00:00Z")).await;
    exec(store, &c(4, 7, "open", "2026-11-22T23:30:00Z")).await;
    exec(store, "insert into checkin (id, deploy_id, channel_id, sequence, origin, state, due_at, updated_at, created_at)
                 values (5, 5, 1, 0, 'schedule', 'scheduled', 0, 0, 0)").await; // not asked yet
    let f = |deploy: i64,
             checkin: i64,
             source: &str,
             sentiment: &str,
             body: &str,
             user: &str,
             message: &str,
             given: &str,
             retracted: &str| {
        format!(
            "insert into feedback (deploy_id, checkin_id, source, sentiment, body, emoji, user_id, user_name,
                 guild_id, channel_id, message_id, given_at, updated_at, retracted_at, created_at)
             values ({deploy}, {checkin}, '{source}', {sentiment}, {body}, {emoji}, {uid}, '{user}',
                 100000000000000001, 300000000000000003, {message}, {t}, {t}, {retracted}, 0)",
            emoji = if source == "reaction" { "'👎'" } else { "null" },
            uid = user.len(),
            t = ms(given),
        )
    };
    exec(
        store,
        &f(
            1,
            1,
            "button",
            "1",
            "null",
            "u1",
            "null",
            "2026-11-16T11:05:00Z",
            "null",
        ),
    )
    .await;
    exec(
        store,
        &f(
            1,
            1,
            "reply",
            "-1",
            "'checkout is slow\nagain'",
            "user2",
            "555",
            "2026-11-16T12:00:00Z",
            "null",
        ),
    )
    .await;
    exec(
        store,
        &f(
            6,
            3,
            "button",
            "0",
            "null",
            "u3",
            "null",
            "2026-11-21T11:30:00Z",
            "null",
        ),
    )
    .await;
    exec(
        store,
        &f(
            6,
            3,
            "reaction",
            "-1",
            "null",
            "u3x",
            "777",
            "2026-11-21T11:31:00Z",
            "1",
        ),
    )
    .await; // retracted
    exec(
        store,
        &f(
            6,
            3,
            "modal",
            "1",
            "'great'",
            "u4",
            "null",
            "2026-11-21T09:00:00Z",
            "null",
        ),
    )
    .await;
    exec(
        store,
        &f(
            7,
            4,
            "command",
            "null",
            "'looks fine'",
            "u5",
            "null",
            "2026-11-22T23:40:00Z",
            "null",
        ),
    )
    .await;
}

#[tokio::test]
async fn known_alerts_incidents_and_checkins_give_hand_computed_figures() {
    let (store, _dir) = Store::temporary().await;
    known_week(&store).await;
    known_alerts_and_checkins(&store).await;
    let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
    let s = crate::summaries::compute(
        &store,
        &SummarySettings::default(),
        &period,
        &Scope::all(),
        at("2026-11-23T09:00:00Z"),
    )
    .await
    .unwrap();
    assert!(s.unavailable.is_empty(), "{:?}", s.unavailable);
    let k = &s.keys;
    // (1 rolled back + deploy 2, confirmed cause of incident 1) / 6; deploy 7's link was rejected;
    // probable adds deploy 1 (unanswered).
    assert!((k.change_failure_rate.value.unwrap() - 200.0 / 6.0).abs() < 1e-9);
    assert_eq!(k.change_failures, 2);
    assert_eq!(k.probable_change_failure_rate.value, Some(50.0));
    // Recovery: the rollback, 28h; incident 1 opened 11-19 07:00, resolved 08:00 (before the
    // next success): 1h. Median: their mean.
    assert_eq!(k.failed_deployment_recovery_time.value, Some(52_200.0));
    assert_eq!(k.recoveries, 2);
    // Time to restore: incidents of 1h and 2h → median 1h30m, "high".
    assert_eq!(k.time_to_restore.value, Some(5_400.0));
    assert_eq!(k.time_to_restore.band, Some(Band::High));
    assert_eq!(k.time_to_restore.previous, None);

    let a = s.alerts.as_ref().unwrap();
    assert_eq!(a.count, 4);
    assert_eq!(
        a.noisiest
            .iter()
            .map(|e| (e.name.as_str(), e.fired, e.noise_votes, e.useful_votes))
            .collect::<Vec<_>>(),
        vec![
            ("HighErrorRate", 2, 0, 0),
            ("DiskFull", 1, 0, 0),
            ("HighLatency", 1, 0, 0)
        ]
    );
    // Acknowledged after 10 and 30 minutes → median 20 minutes.
    assert_eq!(a.time_to_acknowledge_median, Some(1_200.0));
    assert_eq!(
        (a.still_firing, a.incidents_opened, a.previous_count),
        (1, 2, 0)
    );
    let alerts_per_day: Vec<i64> = s.daily.iter().map(|d| d.alerts).collect();
    assert_eq!(alerts_per_day, vec![0, 0, 0, 2, 1, 0, 1]);

    let c = s.checkins.as_ref().unwrap();
    assert_eq!((c.asked, c.answered, c.unanswered), (4, 3, 1));
    assert_eq!(c.response_rate, Some(75.0));
    assert_eq!(c.previous_response_rate, None);
    assert_eq!(
        (c.positive, c.neutral, c.negative),
        (2, 1, 1),
        "the retracted reaction does not count"
    );
    let texts: Vec<&str> = c.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["checkout is slow again", "looks fine", "great"],
        "negative first, then newest"
    );
    assert_eq!(
        c.comments[0].link.as_deref(),
        Some("https://discord.com/channels/100000000000000001/300000000000000003/555")
    );
    assert_eq!(c.comments[1].link, None);
    let text = s.render(true);
    assert!(
        text.contains("**Check-ins:** 4 asked, 3 answered, 1 unanswered; response rate 75%"),
        "{text}"
    );
    assert!(text.contains("Sentiment: +2 / 0 1 / −1"), "{text}");
    assert!(
        text.contains("[checkout is slow again](https://discord.com/channels/"),
        "{text}"
    );
    assert!(
        text.contains("Noisiest: HighErrorRate ×2, DiskFull ×1, HighLatency ×1"),
        "{text}"
    );

    // Scoped to payments: its alert, incident and comment only.
    let p = crate::summaries::compute(
        &store,
        &SummarySettings::default(),
        &period,
        &Scope::of(
            &Pattern::parse("service", Some("payments")).unwrap(),
            &Pattern::any(),
        ),
        at("2026-11-23T09:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(p.alerts.as_ref().unwrap().count, 1);
    assert_eq!(p.keys.time_to_restore.value, Some(7_200.0));
    assert_eq!(p.checkins.as_ref().unwrap().asked, 1);
    assert_eq!(p.keys.change_failure_rate.value, Some(0.0));
}

#[tokio::test]
async fn events_at_the_edges_of_a_berlin_week_across_dst_land_in_the_right_week() {
    let (store, _dir) = Store::temporary().await;
    // W43 in Berlin: 2026-10-18T22:00Z (Mon 00:00 CEST) to 2026-10-25T23:00Z (Mon 00:00 CET).
    for finished in [
        "2026-10-18T21:59:59.999Z", // Sunday 23:59:59 CEST: the week before
        "2026-10-18T22:00:00Z",     // Monday 00:00 CEST: first instant
        "2026-10-25T22:59:59.999Z", // Sunday 23:59:59 CET, after the change: last instant
        "2026-10-25T23:00:00Z",     // Monday 00:00 CET: the week after
    ] {
        done(
            &store,
            "checkout",
            "production",
            "succeeded",
            None,
            finished,
        )
        .await;
    }
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let settings = SummarySettings::default();
    let week = Period::iso_week("2026-W43", tz).unwrap();
    let s = crate::summaries::compute(
        &store,
        &settings,
        &week,
        &Scope::all(),
        at("2026-10-26T08:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(s.deploys.total, 2);
    assert_eq!(s.previous_deploys.total, 1);
    assert_eq!(s.daily[0].succeeded, 1);
    assert_eq!(s.daily[6].succeeded, 1);
    assert_eq!(s.daily[6].date.to_string(), "2026-10-25");
    let next = Period::iso_week("2026-W44", tz).unwrap();
    let n = crate::summaries::compute(
        &store,
        &settings,
        &next,
        &Scope::all(),
        at("2026-11-02T08:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(n.deploys.total, 1);
}

#[tokio::test]
async fn an_empty_week_says_so() {
    let (store, _dir) = Store::temporary().await;
    let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
    let s = crate::summaries::compute(
        &store,
        &SummarySettings::default(),
        &period,
        &Scope::all(),
        at("2026-11-23T09:00:00Z"),
    )
    .await
    .unwrap();
    assert!(s.empty);
    assert!(s.render(false).contains("Nothing happened in this period"));
    assert!(!s.render(false).contains("Four keys"));
}
