//! Retention, table by table: rows are written as they are stored (plain SQL, every time chosen
//! around a fixed cutoff), a pass runs, and the test reads which rows are left.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{Pruned, CHUNK};
use crate::domain::period::Period;
use crate::store::ids::time_to_db;
use crate::store::summary_figures::Scope;
use crate::store::{Store, PRUNED_BODY};

pub(super) fn cutoff() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub(super) const DAY: i64 = 86_400_000;

/// Ten days before the cutoff (pruned when nothing keeps it).
pub(super) fn old() -> i64 {
    time_to_db(cutoff()) - 10 * DAY
}

/// Ten days after the cutoff (inside the window: always kept).
pub(super) fn new() -> i64 {
    time_to_db(cutoff()) + 10 * DAY
}

pub(super) async fn exec(store: &Store, sql: &str) {
    sqlx::query(&crate::store::numbered(sql))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub(super) async fn ids(store: &Store, table: &str) -> Vec<i64> {
    sqlx::query_scalar(&crate::store::numbered(&format!(
        "select rowid from {table} order by rowid"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
}

pub(super) async fn prune(store: &Store) -> Pruned {
    let pruned = store.prune(cutoff()).await;
    assert_eq!(pruned.failures().count(), 0, "{pruned:?}");
    pruned
}

pub(super) async fn deploy(store: &Store, id: i64, updated_at: i64) {
    exec(
        store,
        &format!(
            "insert into deploy (id, source, external_id, service, version, environment, status,
                             started_at, finished_at, updated_at, created_at)
         values ({id}, 'api', 'd{id}', 'checkout', 'v{id}', 'production', 'succeeded',
                 {updated_at}, {updated_at}, {updated_at}, {updated_at})"
        ),
    )
    .await;
}

pub(super) async fn inbound(store: &Store, id: i64, source: &str, at: i64) {
    exec(
        store,
        &format!(
            "insert into inbound_event (id, source, body, received_at, created_at)
         values ({id}, '{source}', '{{\"n\":{id}}}', {at}, {at})"
        ),
    )
    .await;
}

async fn message(store: &Store, id: i64, kind: &str, subject: i64, at: i64) {
    exec(
        store,
        &format!(
            "insert into message (id, channel_id, subject_kind, subject_id, updated_at, created_at)
         values ({id}, 100, '{kind}', {subject}, {at}, {at})"
        ),
    )
    .await;
}

async fn outbox(store: &Store, id: i64, message: i64, state: &str, at: i64) {
    exec(
        store,
        &format!(
            "insert into outbox (id, message_id, channel_id, state, due_at, created_at)
         values ({id}, {message}, 100, '{state}', {at}, {at})"
        ),
    )
    .await;
}

/// An alert group with one alert (id = group id) and a firing change.
pub(super) async fn group(store: &Store, id: i64, status: &str, at: i64) {
    let resolved = if status == "resolved" {
        at.to_string()
    } else {
        "null".into()
    };
    exec(
        store,
        &format!(
            "insert into alert_group (id, source, group_key, status, severity, first_fired_at,
                                  resolved_at, updated_at, created_at)
         values ({id}, 'api', 'g{id}', '{status}', 'critical', {at}, {resolved}, {at}, {at});
         insert into alert (id, group_id, source, fingerprint, name, severity, status, starts_at,
                            resolved_at, updated_at, created_at)
         values ({id}, {id}, 'api', 'f{id}', 'HighErrorRate', 'critical', '{status}', {at},
                 {resolved}, {at}, {at});
         insert into alert_state_change (group_id, alert_id, state, at, created_at)
         values ({id}, {id}, 'firing', {at}, {at})"
        ),
    )
    .await;
}

pub(super) async fn incident(
    store: &Store,
    group: i64,
    deploy: Option<i64>,
    resolved: Option<i64>,
    at: i64,
) {
    let deploy = deploy.map_or("null".into(), |d| d.to_string());
    let resolved = resolved.map_or("null".into(), |r| r.to_string());
    exec(
        store,
        &format!(
            "insert into incident (id, group_id, alert_id, title, severity, opened_at, resolved_at,
                               deploy_id, updated_at, created_at)
         values ({group}, {group}, {group}, 'HighErrorRate', 'critical', {at}, {resolved},
                 {deploy}, {at}, {at})"
        ),
    )
    .await;
}

async fn checkin(store: &Store, id: i64, deploy: i64, state: &str, at: i64) {
    exec(
        store,
        &format!(
            "insert into checkin (id, deploy_id, channel_id, sequence, origin, state, due_at,
                              opened_at, updated_at, created_at)
         values ({id}, {deploy}, 100, {id}, 'schedule', '{state}', {at}, {at}, {at}, {at})"
        ),
    )
    .await;
}

async fn feedback(store: &Store, id: i64, deploy: i64, checkin: Option<i64>, at: i64) {
    let checkin = checkin.map_or("null".into(), |c| c.to_string());
    exec(
        store,
        &format!(
        "insert into feedback (id, deploy_id, checkin_id, source, sentiment, user_id, user_name,
                               given_at, updated_at, created_at)
         values ({id}, {deploy}, {checkin}, 'command', 1, 7, 'ada', {at}, {at}, {at})"
    ),
    )
    .await;
}

#[tokio::test]
async fn inbound_events_of_every_source_older_than_the_window_go_even_when_referenced() {
    let (store, _dir) = Store::temporary().await;
    for (id, source) in [
        (1, "api"),
        (2, "alertmanager"),
        (3, "github"),
        (4, "grafana"),
    ] {
        inbound(&store, id, source, old()).await;
    }
    inbound(&store, 5, "api", new()).await;
    // A kept deploy and a kept (firing) alert group still point at the old events: the reference
    // let go instead of refusing the delete (the pass that used to fail every day).
    deploy(&store, 10, new()).await;
    exec(
        &store,
        &format!(
            "insert into deploy_status_change (deploy_id, status, event_id, at, created_at)
         values (10, 'succeeded', 1, {0}, {0})",
            old()
        ),
    )
    .await;
    group(&store, 20, "firing", new()).await;
    exec(
        &store,
        &format!(
            "insert into alert_state_change (group_id, alert_id, state, event_id, at, created_at)
         values (20, 20, 'resolved', 2, {0}, {0})",
            old()
        ),
    )
    .await;

    let pruned = prune(&store).await;

    assert_eq!(ids(&store, "inbound_event").await, vec![5]);
    assert_eq!(pruned.rows("inbound_event"), 4);
    let event: Option<i64> = sqlx::query_scalar("select event_id from deploy_status_change")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(event, None);
    let events: Vec<Option<i64>> =
        sqlx::query_scalar("select event_id from alert_state_change order by id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(events, vec![None, None]);
    let body: String = sqlx::query_scalar("select body from inbound_event")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        body, r#"{"n":5}"#,
        "a body inside the window is kept verbatim"
    );
}

#[tokio::test]
async fn inbound_event_bodies_are_blanked_when_the_rows_cannot_go_and_the_other_tables_still_are_pruned(
) {
    let (store, _dir) = Store::temporary().await;
    // A table this version does not know refuses the deletes of inbound_event.
    exec(
        &store,
        "create table blocker (event_id integer references inbound_event (id))",
    )
    .await;
    inbound(&store, 1, "api", old()).await;
    inbound(&store, 2, "api", old()).await;
    exec(&store, "insert into blocker values (1)").await;
    exec(
        &store,
        &format!(
            "insert into webhook_delivery (source, delivery_id, received_at, created_at)
         values ('github', 'x', {0}, {0})",
            old()
        ),
    )
    .await;

    let pruned = store.prune(cutoff()).await;

    let failed: Vec<&str> = pruned.failures().map(|t| t.table).collect();
    assert_eq!(failed, vec!["inbound_event"], "{pruned:?}");
    assert!(pruned.tables[0]
        .error
        .as_deref()
        .unwrap()
        .contains("FOREIGN KEY"));
    // The step's own delete was refused as a whole; the body step still blanked both.
    assert_eq!(ids(&store, "inbound_event").await, vec![1, 2]);
    let bodies: Vec<String> = sqlx::query_scalar("select body from inbound_event")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(bodies, vec![PRUNED_BODY, PRUNED_BODY]);
    assert_eq!(pruned.rows("inbound_event_body"), 2);
    assert_eq!(ids(&store, "webhook_delivery").await, Vec::<i64>::new());
}

#[tokio::test]
async fn webhook_deliveries_older_than_the_window_go() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, new()).await;
    for (id, at) in [(1, old()), (2, new())] {
        exec(&store, &format!(
            "insert into webhook_delivery (id, source, delivery_id, deploy_id, received_at, created_at)
             values ({id}, 'github', 'd{id}', 1, {at}, {at})"
        ))
        .await;
    }
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "webhook_delivery").await, vec![2]);
    assert_eq!(pruned.rows("webhook_delivery"), 1);
}

#[tokio::test]
async fn outbox_rows_go_when_done_and_old_never_while_pending() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, new()).await;
    message(&store, 1, "deploy", 1, new()).await;
    outbox(&store, 1, 1, "sent", old()).await;
    outbox(&store, 2, 1, "failed", old()).await;
    outbox(&store, 3, 1, "pending", old()).await;
    outbox(&store, 4, 1, "sent", new()).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "outbox").await, vec![3, 4]);
    assert_eq!(pruned.rows("outbox"), 2);
}

#[tokio::test]
async fn feedback_given_before_the_window_goes_and_keeps_its_release_while_newer_feedback_names_it()
{
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, old()).await;
    feedback(&store, 1, 1, None, old()).await;
    feedback(&store, 2, 1, None, new()).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "feedback").await, vec![2]);
    assert_eq!(pruned.rows("feedback"), 1);
    assert_eq!(
        ids(&store, "deploy").await,
        vec![1],
        "named by kept feedback"
    );
}

#[tokio::test]
async fn checkins_go_when_closed_or_cancelled_before_the_window() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, old()).await;
    checkin(&store, 1, 1, "closed", old()).await;
    checkin(&store, 2, 1, "cancelled", old()).await;
    checkin(&store, 3, 1, "open", old()).await; // still asking: kept
    checkin(&store, 4, 1, "closed", new()).await;
    checkin(&store, 5, 1, "closed", old()).await; // its message still waits for delivery
    message(&store, 1, "checkin", 5, old()).await;
    outbox(&store, 1, 1, "pending", old()).await;
    checkin(&store, 6, 1, "closed", old()).await; // answered inside the window
    feedback(&store, 1, 1, Some(6), new()).await;
    message(&store, 2, "checkin", 1, old()).await; // the pruned check-in's message
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "checkin").await, vec![3, 4, 5, 6]);
    assert_eq!(pruned.rows("checkin"), 2);
    assert_eq!(ids(&store, "message").await, vec![1]);
    assert_eq!(
        ids(&store, "deploy").await,
        vec![1],
        "named by kept check-ins"
    );
}

/// Groups: 1 resolved before the window (pruned whole), 2 still firing since then, 3 resolved
/// inside the window, 4 resolved before the window but its message still waiting for delivery,
/// 5 resolved before the window with an incident never closed.
async fn alert_fixture(store: &Store) {
    deploy(store, 1, old() - DAY).await;
    group(store, 1, "resolved", old()).await;
    group(store, 2, "firing", old()).await;
    group(store, 3, "resolved", new()).await;
    group(store, 4, "resolved", old()).await;
    group(store, 5, "resolved", old()).await;
    for g in 1..=5 {
        let resolved = (g != 5).then_some(if g == 3 { new() } else { old() });
        incident(
            store,
            g,
            Some(1),
            resolved,
            if g == 3 { new() } else { old() },
        )
        .await;
        exec(
            store,
            &format!(
            "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, created_at)
             values ({g}, {g}, 1, 60000, {0})", old()
        ),
        )
        .await;
        exec(
            store,
            &format!(
                "insert into alert_state_change (group_id, state, actor_id, at, created_at)
             values ({g}, 'acked', 7, {0}, {0})",
                old()
            ),
        )
        .await;
        message(store, g, "alert_group", g, old()).await;
    }
    outbox(store, 1, 4, "pending", old()).await;
}

#[tokio::test]
async fn alert_groups_go_only_when_resolved_before_the_window() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "alert_group").await, vec![2, 3, 4, 5]);
    assert_eq!(pruned.rows("alert_group"), 1);
    // Its message goes with it (nothing queued for it); the others stay.
    assert_eq!(ids(&store, "message").await, vec![2, 3, 4, 5]);
}

#[tokio::test]
async fn alerts_go_with_their_group() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "alert").await, vec![2, 3, 4, 5]);
    assert_eq!(pruned.rows("alert"), 1);
}

#[tokio::test]
async fn alert_state_changes_go_with_their_group() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    let pruned = prune(&store).await;
    let groups: Vec<i64> =
        sqlx::query_scalar("select distinct group_id from alert_state_change order by group_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(groups, vec![2, 3, 4, 5]);
    assert_eq!(
        pruned.rows("alert_state_change"),
        2,
        "the firing and the ack of group 1"
    );
}

#[tokio::test]
async fn alert_votes_go_with_their_group_and_a_vote_inside_the_window_keeps_it() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    // Group 6 resolved before the window too, but someone voted on it inside the window: the
    // summaries of the window count that vote under its alert's name.
    group(&store, 6, "resolved", old()).await;
    for (g, user, at) in [(1, 7, old()), (3, 7, old()), (6, 7, old()), (6, 8, new())] {
        exec(
            &store,
            &format!(
                "insert into alert_vote (group_id, user_id, user_name, vote, voted_at, updated_at, created_at)
                 values ({g}, {user}, 'u{user}', 'noise', {at}, {at}, {at})"
            ),
        )
        .await;
    }
    let pruned = prune(&store).await;
    let voted: Vec<(i64, i64)> =
        sqlx::query_as("select group_id, user_id from alert_vote order by group_id, user_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(voted, vec![(3, 7), (6, 7), (6, 8)]);
    assert_eq!(pruned.rows("alert_vote"), 1, "group 1's vote");
    assert_eq!(ids(&store, "alert_group").await, vec![2, 3, 4, 5, 6]);
    assert_eq!(ids(&store, "alert").await, vec![2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn incidents_go_with_their_group_and_an_open_one_never() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "incident").await, vec![2, 3, 4, 5]);
    assert_eq!(pruned.rows("incident"), 1);
    let open: Option<i64> = sqlx::query_scalar("select resolved_at from incident where id = 5")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(open, None);
}

#[tokio::test]
async fn alert_deploy_links_go_with_their_group_and_keep_their_deploy_until_then() {
    let (store, _dir) = Store::temporary().await;
    alert_fixture(&store).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "alert_deploy_link").await, vec![2, 3, 4, 5]);
    assert_eq!(pruned.rows("alert_deploy_link"), 1);
    assert_eq!(
        ids(&store, "deploy").await,
        vec![1],
        "named by kept incidents"
    );

    // Once every group that blamed it is gone, the deploy goes too, in the same pass.
    exec(
        &store,
        "delete from outbox; update alert_group set status = 'resolved';",
    )
    .await;
    exec(
        &store,
        &format!(
            "update incident set resolved_at = {0}, updated_at = {0}",
            old()
        ),
    )
    .await;
    exec(
        &store,
        &format!(
            "update alert_group set updated_at = {0}, resolved_at = {0}",
            old()
        ),
    )
    .await;
    let pruned = prune(&store).await;
    for table in [
        "alert_group",
        "alert",
        "incident",
        "alert_deploy_link",
        "deploy",
    ] {
        assert_eq!(
            ids(&store, table).await,
            Vec::<i64>::new(),
            "{table}: {pruned:?}"
        );
    }
}

#[tokio::test]
async fn a_deploy_blamed_by_an_incident_can_be_deleted_and_the_incident_keeps_its_facts() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, old()).await;
    group(&store, 1, "resolved", new()).await;
    incident(&store, 1, Some(1), Some(new()), new()).await;
    // Retention keeps such a deploy; the reference itself no longer refuses a delete (it did,
    // and wedged retention: no on-delete rule).
    exec(&store, "delete from deploy where id = 1").await;
    let (deploy, title): (Option<i64>, String) =
        sqlx::query_as("select deploy_id, title from incident where id = 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((deploy, title.as_str()), (None, "HighErrorRate"));
    exec(&store, "delete from alert where id = 1").await;
    let alert: Option<i64> = sqlx::query_scalar("select alert_id from incident where id = 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(alert, None);
}

#[tokio::test]
async fn summaries_of_periods_before_the_window_go() {
    let (store, _dir) = Store::temporary().await;
    for (id, at) in [(1, old()), (2, new()), (3, old())] {
        exec(&store, &format!(
            "insert into summary (id, channel_id, period_start, period_end, scheduled_for, body, created_at)
             values ({id}, {id}, {0}, {at}, {at}, '{{}}', {at})", at - 7 * DAY
        ))
        .await;
        message(&store, id, "summary", id, at).await;
    }
    outbox(&store, 1, 3, "pending", old()).await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "summary").await, vec![2, 3]);
    assert_eq!(pruned.rows("summary"), 1);
    assert_eq!(ids(&store, "message").await, vec![2, 3]);
}

#[tokio::test]
async fn deploy_status_changes_go_with_their_deploy() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, old()).await;
    deploy(&store, 2, new()).await;
    for (d, at) in [(1, old()), (1, old()), (2, old()), (2, new())] {
        exec(
            &store,
            &format!(
                "insert into deploy_status_change (deploy_id, status, at, created_at)
             values ({d}, 'started', {at}, {at})"
            ),
        )
        .await;
    }
    let pruned = prune(&store).await;
    let left: Vec<i64> = sqlx::query_scalar("select deploy_id from deploy_status_change")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(left, vec![2, 2], "a kept deploy keeps its whole history");
    assert_eq!(pruned.rows("deploy_status_change"), 2);
}

#[tokio::test]
async fn deploys_go_when_not_updated_since_and_nothing_kept_names_them() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, old()).await; // goes
    deploy(&store, 2, new()).await;
    deploy(&store, 3, old()).await; // its post still waits for Discord
    message(&store, 1, "deploy", 3, old()).await;
    outbox(&store, 1, 1, "pending", old()).await;
    deploy(&store, 4, old()).await; // a check-in about it is still scheduled
    checkin(&store, 1, 4, "scheduled", old()).await;
    message(&store, 2, "deploy", 1, old()).await;
    exec(
        &store,
        &format!(
            "insert into commit_lookup (deploy_id, repo, sha, next_attempt_at, created_at)
         values (1, 'o/r', 'abc', {0}, {0})",
            old()
        ),
    )
    .await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "deploy").await, vec![2, 3, 4]);
    assert_eq!(pruned.rows("deploy"), 1);
    assert_eq!(ids(&store, "commit_lookup").await, Vec::<i64>::new());
    assert_eq!(
        ids(&store, "message").await,
        vec![1],
        "the pruned deploy's message went"
    );
}

#[tokio::test]
async fn messages_go_when_their_subject_is_gone_and_nothing_is_queued() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, 1, new()).await;
    message(&store, 1, "deploy", 1, old()).await; // subject kept
    message(&store, 2, "deploy", 99, old()).await; // subject gone
    message(&store, 3, "checkin_cancelled", 99, old()).await; // subject gone
    message(&store, 4, "something_newer", 99, old()).await; // unknown kind: kept
    message(&store, 5, "deploy", 98, old()).await; // subject gone, a failed row left
    outbox(&store, 1, 5, "failed", new()).await;
    message(&store, 6, "deploy", 97, new()).await; // changed inside the window
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "message").await, vec![1, 4, 5, 6]);
    assert_eq!(pruned.rows("message"), 2);
}

#[tokio::test]
async fn digests_go_once_none_of_their_messages_is_left() {
    let (store, _dir) = Store::temporary().await;
    for (id, at) in [(1, old()), (2, old()), (3, new())] {
        exec(
            &store,
            &format!("insert into digest (id, channel_id, created_at) values ({id}, 100, {at})"),
        )
        .await;
    }
    // Digest 1's members were groups pruned long ago; digest 2 still has a kept member.
    group(&store, 1, "firing", old()).await;
    message(&store, 1, "alert_group", 1, old()).await;
    message(&store, 2, "alert_group", 50, old()).await;
    exec(&store, "update message set digest_id = 2 where id = 1; update message set digest_id = 1 where id = 2").await;
    let pruned = prune(&store).await;
    assert_eq!(ids(&store, "digest").await, vec![2, 3]);
    assert_eq!(pruned.rows("digest"), 1);
    assert_eq!(ids(&store, "message").await, vec![1]);
}

#[tokio::test]
async fn large_tables_are_pruned_in_chunks_until_done() {
    let (store, _dir) = Store::temporary().await;
    let rows = 2 * CHUNK + 7;
    exec(
        &store,
        &format!(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < {rows})
         insert into webhook_delivery (source, delivery_id, received_at, created_at)
         select 'github', 'd' || i, {0}, {0} from n",
            old()
        ),
    )
    .await;
    let pruned = prune(&store).await;
    assert_eq!(pruned.rows("webhook_delivery"), rows as u64);
    assert_eq!(ids(&store, "webhook_delivery").await, Vec::<i64>::new());
    assert_eq!(
        store.prune(cutoff()).await.total(),
        0,
        "a second pass finds nothing"
    );
}

#[tokio::test]
async fn summaries_inside_the_window_give_the_same_figures_after_a_prune() {
    let (store, _dir) = Store::temporary().await;
    // Everything twice: once before the window (pruned), once inside it (counted).
    for (base, at) in [(100, old()), (200, new())] {
        deploy(&store, base, at - DAY).await;
        deploy(&store, base + 1, at).await;
        exec(
            &store,
            &format!(
                "update deploy set commit_at = {} where id = {base}",
                at - 2 * DAY
            ),
        )
        .await;
        group(&store, base, "resolved", at).await;
        incident(&store, base, Some(base), Some(at + 3_600_000), at).await;
        exec(&store, &format!(
            "update alert_group set acked_at = {0}, resolved_at = {1}, updated_at = {1} where id = {base};
             insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, created_at)
             values ({base}, {base}, {base}, 60000, {at})",
            at + 60_000, at + 3_600_000
        ))
        .await;
        checkin(&store, base, base + 1, "closed", at).await;
        feedback(&store, base, base + 1, Some(base), at + 1000).await;
        exec(
            &store,
            &format!(
            "insert into feedback (deploy_id, source, sentiment, body, user_id, user_name, given_at,
                                   updated_at, created_at)
             values ({base}, 'command', -1, 'slow checkout', 8, 'bob', {at}, {at}, {at})"
        ),
        )
        .await;
    }
    // The window's whole month, as a summary would ask for it, and the whole table before.
    let day = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap().date_naive();
    let inside = Period::new(
        day(new()) - chrono::Days::new(9),
        day(new()) + chrono::Days::new(20),
        chrono_tz::UTC,
    );
    let before_figures = store
        .summary_figures(&inside, &Scope::all(), &Default::default(), true)
        .await
        .unwrap();
    assert!(
        before_figures.production.deployed >= 2,
        "{before_figures:?}"
    );
    let everything = Period::new(
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        chrono_tz::UTC,
    );
    let all_before = store
        .summary_figures(&everything, &Scope::all(), &Default::default(), true)
        .await
        .unwrap();

    let pruned = prune(&store).await;
    assert!(pruned.rows("deploy") >= 2, "{pruned:?}");
    assert!(
        pruned.rows("alert_group") == 1 && pruned.rows("checkin") == 1,
        "{pruned:?}"
    );

    let after_figures = store
        .summary_figures(&inside, &Scope::all(), &Default::default(), true)
        .await
        .unwrap();
    assert_eq!(before_figures, after_figures);
    // The same period seen from before the window did lose what was pruned (the test can fail).
    let all_after = store
        .summary_figures(&everything, &Scope::all(), &Default::default(), true)
        .await
        .unwrap();
    assert_ne!(all_before, all_after);
}
