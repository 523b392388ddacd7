//! Retention of incidents with an end: declared incidents (no alert group) go on their own, an
//! incident with an open follow-up (or one opened or closed inside the window) is kept, its
//! timeline, retro and follow-ups go with it, and the messages about it once it is gone.

use super::tests::{exec, group, ids, incident, new, old, prune, DAY};
use crate::store::Store;

/// A declared incident `id` resolved at `at`, with a timeline entry, a retro and a follow-up in
/// `followup_state` opened at `at`.
async fn declared(store: &Store, id: i64, at: i64, followup_state: &str) {
    let closed = if followup_state == "done" {
        at.to_string()
    } else {
        "null".into()
    };
    exec(
        store,
        &format!(
            "insert into incident (id, title, severity, opened_at, resolved_at, declared_by,
                                   declared_by_name, declared_channel, updated_at, created_at)
             values ({id}, 'payments down', 'critical', {at}, {at}, 7, 'alice', 100, {at}, {at});
             insert into incident_event (incident_id, kind, at, created_at)
             values ({id}, 'declared', {at}, {at});
             insert into incident_retro (incident_id, author_id, author_name, what_happened,
                                         what_helped, sooner, at, created_at)
             values ({id}, 7, 'alice', 'a', 'b', 'c', {at}, {at});
             insert into followup (incident_id, what, owner_text, state, opened_by, opened_by_name,
                                   opened_at, closed_at, updated_at, created_at)
             values ({id}, 'fix it', 'team', '{followup_state}', 7, 'alice', {at}, {closed}, {at}, {at});
             insert into message (channel_id, subject_kind, subject_id, updated_at, created_at)
             values (100, 'incident', {id}, {at}, {at})"
        ),
    )
    .await;
}

#[tokio::test]
async fn declared_incidents_go_when_old_and_done_and_an_open_followup_keeps_one() {
    let (store, _dir) = Store::temporary().await;
    declared(&store, 1, old(), "done").await;
    declared(&store, 2, old(), "open").await;
    declared(&store, 3, new(), "done").await;
    let pruned = prune(&store).await;
    assert_eq!(pruned.rows("incident"), 1);
    assert_eq!(ids(&store, "incident").await, [2, 3]);
    let kept = |table: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&crate::store::numbered(&format!(
                "select count(*) from {table} where incident_id = 1"
            )))
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    for table in ["incident_event", "incident_retro", "followup"] {
        assert_eq!(kept(table).await, 0, "{table} goes with its incident");
    }
    let messages: Vec<i64> = sqlx::query_scalar(
        "select subject_id from message where subject_kind = 'incident' order by 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(messages, [2, 3], "the gone incident's message goes too");
}

#[tokio::test]
async fn an_alert_incident_with_an_open_followup_keeps_its_group() {
    let (store, _dir) = Store::temporary().await;
    for id in [1, 2] {
        group(&store, id, "resolved", old()).await;
        incident(&store, id, None, Some(old()), old()).await;
    }
    exec(
        &store,
        &format!(
            "insert into followup (incident_id, what, owner_text, state, opened_by, opened_by_name,
                                   opened_at, updated_at, created_at)
             values (2, 'fix it', 'team', 'open', 7, 'alice', {0}, {0}, {0})",
            old() - DAY
        ),
    )
    .await;
    prune(&store).await;
    assert_eq!(ids(&store, "incident").await, [2]);
    assert_eq!(ids(&store, "alert_group").await, [2]);
    assert_eq!(ids(&store, "followup").await, [1]);
}
