//! Release health values against a real (temporary) database: which check-ins wait for them,
//! that a check-in is asked only once they are read, the round trip, and retention.

use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::domain::checkin::CheckinSettings;
use crate::domain::deploy::{DeployEvent, RawDeployEvent};
use crate::domain::health::Unavailable;
use crate::domain::ChannelId;

const CHANNEL: ChannelId = ChannelId(300);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

fn settings() -> CheckinSettings {
    CheckinSettings {
        delays: vec![Duration::from_secs(60)],
        ..Default::default()
    }
}

async fn deploy(store: &Store, status: &str, now: DateTime<Utc>) -> i64 {
    let raw = RawDeployEvent {
        service: Some("checkout".into()),
        version: Some("v1".into()),
        environment: Some("production".into()),
        status: Some(status.into()),
        ..Default::default()
    };
    let event = DeployEvent::parse(&raw).unwrap();
    store
        .record_deploy("api", "{}", &event, Some(CHANNEL), now)
        .await
        .unwrap()
        .deploy_id
}

fn readings(before_at: DateTime<Utc>, after_at: DateTime<Utc>) -> Vec<HealthReading> {
    vec![
        HealthReading {
            name: "ERROR_RATE".into(),
            higher_is_better: false,
            tolerance: 0.1,
            before_at,
            before: Ok(0.002),
            after_at,
            after: Ok(0.014),
        },
        HealthReading {
            name: "AVAILABILITY".into(),
            higher_is_better: true,
            tolerance: 0.1,
            before_at,
            before: Err(Unavailable::NoData),
            after_at,
            after: Err(Unavailable::Timeout),
        },
    ]
}

#[tokio::test]
async fn a_checkin_waits_for_its_health_then_opens_with_it() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    let deploy_id = deploy(&store, "started", t0()).await;
    deploy(&store, "succeeded", t0() + chrono::Duration::seconds(5)).await;
    let run = store
        .run_checkins_after_health(&settings(), t0(), started, 0, true)
        .await
        .unwrap();
    assert_eq!(run.scheduled, 1);
    let due = t0() + chrono::Duration::seconds(65);
    assert!(store
        .checkins_awaiting_health(t0(), 10)
        .await
        .unwrap()
        .is_empty());
    let awaiting = store.checkins_awaiting_health(due, 10).await.unwrap();
    assert_eq!(awaiting.len(), 1);
    let release = &awaiting[0];
    assert_eq!(
        (
            release.deploy_id,
            release.service.as_str(),
            release.environment.as_str()
        ),
        (deploy_id, "checkout", "production")
    );
    assert_eq!(release.started_at, t0(), "before is the deploy's start");

    // Due, but its health is unread: not asked yet.
    let run = store
        .run_checkins_after_health(&settings(), due, started, 0, true)
        .await
        .unwrap();
    assert!(run.opened.is_empty());
    // Without queries configured the same check-in would be asked.
    store
        .record_health(&[release.checkin_id], &readings(t0(), due), due)
        .await
        .unwrap();
    assert!(store
        .checkins_awaiting_health(due, 10)
        .await
        .unwrap()
        .is_empty());
    let run = store
        .run_checkins_after_health(&settings(), due, started, 0, true)
        .await
        .unwrap();
    assert_eq!(run.opened, vec![release.checkin_id]);

    let mut conn = store.pool().acquire().await.unwrap();
    let shown = health_of(&mut conn, release.checkin_id).await.unwrap();
    let mut expected = readings(t0(), due);
    expected.reverse(); // sorted by name
    assert_eq!(shown, expected);
    let all = store.release_health(deploy_id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(id, _)| *id == release.checkin_id));

    // Read again (a retry after a crash): replaced, not doubled.
    store
        .record_health(&[release.checkin_id], &readings(t0(), due), due)
        .await
        .unwrap();
    assert_eq!(store.release_health(deploy_id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn without_health_queries_checkins_open_unread() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, "succeeded", t0()).await;
    let due = t0() + chrono::Duration::seconds(61);
    store
        .run_checkins_after_health(&settings(), t0(), t0(), 0, false)
        .await
        .unwrap();
    let run = store
        .run_checkins_after_health(&settings(), due, t0(), 0, false)
        .await
        .unwrap();
    assert_eq!(run.opened.len(), 1);
}

#[tokio::test]
async fn health_values_go_with_their_checkin_at_retention() {
    let (store, _dir) = Store::temporary().await;
    let old = t0() - chrono::Duration::days(30);
    deploy(&store, "succeeded", old).await;
    store
        .run_checkins_after_health(&settings(), old, old, 0, false)
        .await
        .unwrap();
    let asked = old + chrono::Duration::seconds(61);
    store
        .run_checkins_after_health(&settings(), asked, old, 0, false)
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("select id from checkin")
        .fetch_one(store.pool())
        .await
        .unwrap();
    store
        .record_health(&[id], &readings(old, asked), asked)
        .await
        .unwrap();
    let count = |table: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&crate::store::numbered(&format!(
                "select count(*) from {table}"
            )))
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    // Open: kept, values too.
    let pruned = store.prune(t0()).await;
    assert_eq!(pruned.failures().count(), 0, "{pruned:?}");
    assert_eq!(count("checkin_health").await, 2);
    // Closed long ago: the check-in and its values go.
    store
        .run_checkins_after_health(
            &settings(),
            asked + chrono::Duration::days(2),
            old,
            0,
            false,
        )
        .await
        .unwrap();
    sqlx::query("update outbox set state = 'sent'")
        .execute(store.pool())
        .await
        .unwrap();
    let pruned = store.prune(t0()).await;
    assert_eq!(pruned.failures().count(), 0, "{pruned:?}");
    assert_eq!(pruned.rows("checkin_health"), 2);
    assert_eq!(pruned.rows("checkin"), 1);
    assert_eq!(count("checkin_health").await, 0);
}
