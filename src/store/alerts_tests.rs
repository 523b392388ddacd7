//! `record_alerts` against a real database: what the rows say after a sequence of notifications.

use super::*;
use crate::domain::alert::{RawGenericAlert, Severity};

fn policy() -> AlertPolicy {
    AlertPolicy {
        incident_severity: Severity::new(Some("critical")),
        mention: None,
        mention_severity: Severity::new(Some("critical")),
        correlation_window: chrono::Duration::hours(1),
        service_labels: vec!["service".into()],
        alertmanager_configured: false,
    }
}

fn alert(status: &str, starts_at: DateTime<Utc>) -> AlertNotification {
    let raw: RawGenericAlert = serde_json::from_value(serde_json::json!({
        "service": "checkout", "name": "Errors", "severity": "critical", "status": status,
        "id": "e-1", "starts_at": starts_at.to_rfc3339(),
    }))
    .unwrap();
    AlertNotification::from_generic(&raw).unwrap()
}

async fn scalar(store: &Store, sql: &str) -> Option<i64> {
    sqlx::query_scalar(&crate::store::numbered(sql))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rejected_link_stays_off_the_incident_and_out_of_the_change_failure_count() {
    let (store, _dir) = Store::temporary().await;
    let t0 = Utc::now() - chrono::Duration::hours(2);
    sqlx::query(
        "insert into deploy (source, external_id, service, version, environment, status,
            started_at, finished_at, updated_at, created_at)
         values ('api', 'd1', 'checkout', 'v1', 'production', 'succeeded', $1, $2, $3, $4)",
    )
    .bind(time_to_db(t0))
    .bind(time_to_db(t0))
    .bind(time_to_db(t0))
    .bind(time_to_db(t0))
    .execute(store.pool())
    .await
    .unwrap();
    let starts = t0 + chrono::Duration::minutes(10);
    let now = Utc::now();
    let r = store
        .record_alerts("{}", &alert("firing", starts), &policy(), None, now)
        .await
        .unwrap();
    assert_eq!(
        scalar(&store, "select deploy_id from incident").await,
        Some(1)
    );
    // A repeat changes nothing.
    let again = store
        .record_alerts("{}", &alert("firing", starts), &policy(), None, now)
        .await
        .unwrap();
    assert!(!again.changed);

    store
        .answer_deploy_link(r.group_id, 1, false, 7, "bob", now)
        .await
        .unwrap();
    store
        .record_alerts("{}", &alert("resolved", starts), &policy(), None, now)
        .await
        .unwrap();
    assert_eq!(scalar(&store, "select deploy_id from incident").await, None);
    assert!(scalar(&store, "select resolved_at from incident")
        .await
        .is_some());
    // Change failure rate's numerator: deploys linked to incidents, not rejected by a human.
    assert_eq!(
        scalar(
            &store,
            "select count(distinct deploy_id) from incident where deploy_id is not null"
        )
        .await,
        Some(0)
    );

    // The same alert firing again later is a new episode: a new group (and message).
    let later = store
        .record_alerts(
            "{}",
            &alert("firing", starts + chrono::Duration::minutes(30)),
            &policy(),
            None,
            now,
        )
        .await
        .unwrap();
    assert!(later.changed);
    assert_ne!(later.group_id, r.group_id);
}

#[tokio::test]
async fn a_stored_value_the_code_cannot_read_is_an_error_not_a_default() {
    let (store, _dir) = Store::temporary().await;
    let now = Utc::now();
    let r = store
        .record_alerts("{}", &alert("firing", now), &policy(), None, now)
        .await
        .unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    assert!(load_alert_group(&mut conn, r.group_id)
        .await
        .unwrap()
        .is_some());
    // (The status columns have CHECK constraints; the JSON and mention columns do not.)
    for (sql, column) in [
        ("update alert set labels = 'not json'", "alert.labels"),
        (
            "update alert_group set common_labels = '[1]'",
            "alert_group.common_labels",
        ),
        (
            "update alert_group set mention_kind = 'role'",
            "alert_group.mention_kind",
        ),
    ] {
        let (store, _dir) = Store::temporary().await;
        let r = store
            .record_alerts("{}", &alert("firing", now), &policy(), None, now)
            .await
            .unwrap();
        sqlx::query(&crate::store::numbered(sql))
            .execute(store.pool())
            .await
            .unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        let error = load_alert_group(&mut conn, r.group_id).await.unwrap_err();
        assert!(
            matches!(&error, crate::store::StoreError::Corrupt(what) if what.contains(column)),
            "{sql}: {error}"
        );
    }
    // Recording reads the same rows: it refuses too rather than guess.
    sqlx::query("update alert set annotations = '{'")
        .execute(store.pool())
        .await
        .unwrap();
    let error = store
        .record_alerts("{}", &alert("firing", now), &policy(), None, now)
        .await
        .unwrap_err();
    assert!(
        matches!(error, crate::store::StoreError::Corrupt(_)),
        "{error}"
    );
}

/// A link written again (the same alert and deploy) stores nothing and leaves the rollups as the
/// rows say: `on conflict do nothing` ran the rollups' before-insert trigger, which took the
/// deploy's `probable` out for a row never inserted.
#[tokio::test]
async fn a_link_written_twice_leaves_the_rollups_equal_to_the_rows() {
    let (store, _dir) = Store::temporary().await;
    let t0 = Utc::now() - chrono::Duration::hours(2);
    sqlx::query(
        "insert into deploy (source, external_id, service, version, environment, status,
            started_at, finished_at, updated_at, created_at)
         values ('api', 'd1', 'checkout', 'v1', 'production', 'succeeded', $1, $1, $1, $1)",
    )
    .bind(time_to_db(t0))
    .execute(store.pool())
    .await
    .unwrap();
    let now = Utc::now();
    let r = store
        .record_alerts(
            "{}",
            &alert("firing", t0 + chrono::Duration::minutes(10)),
            &policy(),
            None,
            now,
        )
        .await
        .unwrap();
    let probable = "select cast(sum(probable) as bigint) from rollup_deploy";
    assert_eq!(
        scalar(&store, probable).await,
        Some(1),
        "linked to an incident"
    );
    let alert_id = scalar(&store, "select id from alert").await.unwrap();
    let link = crate::domain::correlation::Link {
        alert_id,
        deploy_id: 1,
        delay_ms: 600_000,
    };
    let mut tx = store.begin_write().await.unwrap();
    Store::write_link(&mut tx, r.group_id, &link, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        scalar(&store, "select count(*) from alert_deploy_link").await,
        Some(1)
    );
    assert_eq!(scalar(&store, probable).await, Some(1));
}
