//! The foreign-key migration (20261202152000_retention_fks) on a database of the schema before it,
//! populated: every row and reference survives, the new rules hold, and the pass that failed on the
//! old schema prunes everything.

use super::tests::{deploy, exec, group, ids, inbound, incident, old, prune};
use crate::store::Store;

#[tokio::test]
async fn a_populated_database_of_the_old_schema_migrates_with_every_reference_intact() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let store = Store::connect(&url).await.unwrap();
    let before: Vec<_> = crate::store::MIGRATOR
        .migrations
        .iter()
        .filter(|m| m.version < 20261202152000)
        .cloned()
        .collect();
    let old_schema = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(before),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    old_schema.run(store.pool()).await.unwrap();
    inbound(&store, 1, "api", old()).await;
    inbound(&store, 2, "api", old()).await;
    deploy(&store, 1, old()).await;
    exec(
        &store,
        &format!(
            "insert into deploy_status_change (id, deploy_id, status, event_id, at, created_at)
         values (7, 1, 'succeeded', 1, {0}, {0})",
            old()
        ),
    )
    .await;
    group(&store, 1, "resolved", old()).await;
    exec(
        &store,
        &format!(
        "insert into alert_state_change (id, group_id, alert_id, state, event_id, at, created_at)
         values (9, 1, 1, 'resolved', 2, {0}, {0})", old()
    ),
    )
    .await;
    incident(&store, 1, Some(1), Some(old()), old()).await;
    // The old schema wedged here: the deploy is blamed by the incident, no on-delete rule.
    assert!(sqlx::query("delete from deploy where id = 1")
        .execute(store.pool())
        .await
        .is_err());

    store.migrate().await.unwrap();

    let violations: Vec<(String, i64)> =
        sqlx::query_as("select \"table\", rowid from pragma_foreign_key_check")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(violations, vec![]);
    let kept: (i64, Option<i64>, i64, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "select s.id, s.event_id, a.id, a.event_id, i.deploy_id, i.alert_id
         from deploy_status_change s, alert_state_change a, incident i where a.id = 9",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(kept, (7, Some(1), 9, Some(2), Some(1), Some(1)));
    for (table, column, rule) in [
        ("incident", "deploy_id", "SET NULL"),
        ("incident", "alert_id", "SET NULL"),
        ("incident", "group_id", "CASCADE"),
        ("alert_state_change", "event_id", "SET NULL"),
        ("alert_state_change", "group_id", "CASCADE"),
        ("deploy_status_change", "event_id", "SET NULL"),
        ("deploy_status_change", "deploy_id", "CASCADE"),
    ] {
        let on_delete: String = sqlx::query_scalar(&format!(
            "select on_delete from pragma_foreign_key_list('{table}') where \"from\" = '{column}'"
        ))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(on_delete, rule, "{table}.{column}");
    }
    let expected = [
        "incident_opened",
        "summary_incident_resolved",
        "summary_incident_deploy",
        "incident_alert",
        "alert_state_change_group",
        "alert_state_change_alert",
        "alert_state_change_event",
        "deploy_status_change_deploy",
        "deploy_status_change_event",
        "outbox_message",
        "webhook_delivery_deploy",
        "inbound_event_received",
    ];
    let indexes: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'index' and name not like 'sqlite_%'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for name in expected {
        assert!(
            indexes.iter().any(|i| i == name),
            "index {name} missing: {indexes:?}"
        );
    }

    // And the pass that failed before now empties every table.
    let pruned = prune(&store).await;
    for table in [
        "inbound_event",
        "deploy",
        "deploy_status_change",
        "alert_group",
        "alert_state_change",
        "incident",
    ] {
        assert_eq!(
            ids(&store, table).await,
            Vec::<i64>::new(),
            "{table}: {pruned:?}"
        );
    }
}
