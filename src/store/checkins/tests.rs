//! The check-in job and feedback against a real (temporary) database.

use std::time::Duration;

use chrono::TimeZone;

use sqlx::Row;

use super::*;
use crate::domain::deploy::{DeployEvent, RawDeployEvent};
use crate::domain::feedback::{FeedbackSource, Sentiment};
use crate::domain::visibility::Reader;
use crate::store::NewFeedback;

const CHANNEL: ChannelId = ChannelId(300);

fn settings() -> CheckinSettings {
    CheckinSettings {
        delays: vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)],
        ..Default::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

fn at(offset: Duration) -> DateTime<Utc> {
    t0() + chrono::Duration::from_std(offset).unwrap()
}

async fn deploy(store: &Store, version: &str, env: &str, status: &str, now: DateTime<Utc>) -> i64 {
    let raw = RawDeployEvent {
        service: Some("checkout".into()),
        version: Some(version.into()),
        environment: Some(env.into()),
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

async fn states(store: &Store) -> Vec<(String, i64, Option<String>)> {
    sqlx::query("select state, late, cancel_reason from checkin order by id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn a_checkin_opens_when_due_and_only_once() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    deploy(&store, "v1", "production", "succeeded", t0()).await;

    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(1)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.scheduled, 2, "one per delay");
    assert!(run.opened.is_empty());

    let just_before = at(Duration::from_secs(3600)) - chrono::Duration::milliseconds(1);
    let run = store
        .run_checkins(&settings(), just_before, started, 0)
        .await
        .unwrap();
    assert!(run.opened.is_empty(), "not due yet");
    assert_eq!(run.scheduled, 0, "scheduling is idempotent");

    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(3600)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.opened.len(), 1);
    let again = store
        .run_checkins(&settings(), at(Duration::from_secs(3600)), started, 0)
        .await
        .unwrap();
    assert!(
        again.opened.is_empty(),
        "a claimed check-in is never claimed twice"
    );

    let queued: i64 = sqlx::query_scalar(
        "select count(*) from outbox o join message m on m.id = o.message_id
         where m.subject_kind = 'checkin' and m.channel_id = $1",
    )
    .bind(to_db(CHANNEL.0))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        queued, 1,
        "the post is queued in the announcement's channel"
    );
    assert_eq!(
        states(&store).await,
        vec![("open".into(), 0, None), ("scheduled".into(), 0, None)]
    );
    assert_eq!(
        store.next_checkin_at().await.unwrap(),
        Some(at(Duration::from_secs(24 * 3600))),
        "the next event is the second check-in (due before the first one closes)"
    );
}

#[tokio::test]
async fn a_checkin_due_while_down_opens_late() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, "v1", "production", "succeeded", t0()).await;
    let restarted = at(Duration::from_secs(2 * 3600));
    let run = store
        .run_checkins(&settings(), restarted, restarted, 0)
        .await
        .unwrap();
    assert_eq!(run.opened.len(), 1, "only the one that fell due");
    assert_eq!(states(&store).await[0], ("open".into(), 1, None));
}

#[tokio::test]
async fn rollback_and_supersession_cancel_scheduled_checkins() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    deploy(&store, "v1", "production", "succeeded", t0()).await;
    store
        .run_checkins(&settings(), at(Duration::from_secs(1)), started, 0)
        .await
        .unwrap();
    deploy(
        &store,
        "v1",
        "production",
        "rolled_back",
        at(Duration::from_secs(600)),
    )
    .await;
    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(7200)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.cancelled.len(), 2);
    assert!(run.opened.is_empty(), "a cancelled check-in is never asked");
    assert_eq!(
        states(&store).await,
        vec![
            (
                "cancelled".into(),
                0,
                Some("the deploy was rolled back".into())
            );
            2
        ]
    );

    deploy(
        &store,
        "v2",
        "production",
        "succeeded",
        at(Duration::from_secs(8000)),
    )
    .await;
    store
        .run_checkins(&settings(), at(Duration::from_secs(8001)), started, 0)
        .await
        .unwrap();
    deploy(
        &store,
        "v3",
        "production",
        "succeeded",
        at(Duration::from_secs(9000)),
    )
    .await;
    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(9001)), started, 0)
        .await
        .unwrap();
    assert_eq!(
        run.cancelled.len(),
        2,
        "v2's check-ins were superseded by v3"
    );
    let reasons = states(&store).await;
    assert_eq!(reasons[2].2.as_deref(), Some("superseded by v3"));
    assert_eq!(reasons[4].0, "scheduled", "v3's own check-ins stand");
}

#[tokio::test]
async fn a_rolled_back_success_supersedes_nothing_and_the_one_before_it_counts_again() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    // v2 goes bad before the job sees any: v1 is the latest success again, and v0 stays
    // superseded by it.
    for (version, status, second) in [
        ("v0", "succeeded", 0),
        ("v1", "succeeded", 3),
        ("v2", "succeeded", 5),
        ("v2", "rolled_back", 8),
    ] {
        deploy(
            &store,
            version,
            "production",
            status,
            at(Duration::from_secs(second)),
        )
        .await;
    }
    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(10)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.scheduled, 2, "v1 is asked about; v0 and v2 are not");
    let versions: Vec<String> = sqlx::query_scalar(
        "select distinct d.version from checkin c join deploy d on d.id = c.deploy_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(versions, vec!["v1".to_owned()]);

    // v3 succeeds: v1's check-ins are superseded by v3, not by the rolled-back v2.
    deploy(
        &store,
        "v3",
        "production",
        "succeeded",
        at(Duration::from_secs(20)),
    )
    .await;
    let run = store
        .run_checkins(
            &settings(),
            at(Duration::from_secs(30)),
            started,
            run.considered_through,
        )
        .await
        .unwrap();
    assert_eq!(run.cancelled.len(), 2);
    let reasons = states(&store).await;
    assert_eq!(reasons[0].2.as_deref(), Some("superseded by v3"));
}

/// Deploys recorded before `deploy_latest_success` existed still supersede: the migration
/// fills the table from them.
#[tokio::test]
async fn the_latest_success_table_is_filled_from_deploys_stored_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join("older");
    std::fs::create_dir(&older).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".sql") && name.as_str() < "20261124001000" {
            std::fs::copy(&path, older.join(name)).unwrap();
        }
    }
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(older.as_path())
        .await
        .unwrap()
        .run(store.pool())
        .await
        .unwrap();
    // Written with plain SQL: today's writer reads tables and columns the older schema lacks.
    for (version, status, second) in [
        ("v1", "succeeded", 0),
        ("v2", "succeeded", 5),
        ("v3", "rolled_back", 10),
    ] {
        let t = time_to_db(at(Duration::from_secs(second)));
        sqlx::query(
            "insert into deploy (source, external_id, service, version, environment, status,
                    started_at, finished_at, updated_at, created_at)
             values ('api', $1, 'checkout', $2, 'production', $3, $4, $5, $6, $7)",
        )
        .bind(version)
        .bind(version)
        .bind(status)
        .bind(t)
        .bind(t)
        .bind(t)
        .bind(t)
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();

    let latest: Vec<(String, i64)> = sqlx::query_as(
        "select d.version, l.finished_at from deploy_latest_success l
         join deploy d on d.id = l.deploy_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        latest,
        vec![("v2".to_owned(), time_to_db(at(Duration::from_secs(5))))]
    );
}

#[tokio::test]
async fn other_environments_and_failures_get_no_checkin() {
    let (store, _dir) = Store::temporary().await;
    deploy(&store, "v1", "staging", "succeeded", t0()).await;
    deploy(&store, "v2", "production", "failed", t0()).await;
    deploy(&store, "v3", "production", "started", t0()).await;
    let run = store
        .run_checkins(&settings(), at(Duration::from_secs(90_000)), t0(), 0)
        .await
        .unwrap();
    assert_eq!(
        run,
        CheckinRun {
            considered_through: run.considered_through,
            ..CheckinRun::default()
        }
    );
}

#[tokio::test]
async fn a_deploy_superseded_before_scheduling_gets_none_and_later_successes_are_found() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    deploy(&store, "v1", "production", "succeeded", t0()).await;
    deploy(
        &store,
        "v2",
        "production",
        "succeeded",
        at(Duration::from_secs(5)),
    )
    .await;
    deploy(
        &store,
        "v3",
        "production",
        "started",
        at(Duration::from_secs(6)),
    )
    .await;
    let first = store
        .run_checkins(&settings(), at(Duration::from_secs(10)), started, 0)
        .await
        .unwrap();
    assert_eq!(first.scheduled, 2, "only v2, the latest, is asked about");
    assert!(first.cancelled.is_empty());

    // v3 succeeds after the run: the next run, starting where the first stopped, finds it.
    deploy(
        &store,
        "v3",
        "production",
        "succeeded",
        at(Duration::from_secs(20)),
    )
    .await;
    let second = store
        .run_checkins(
            &settings(),
            at(Duration::from_secs(30)),
            started,
            first.considered_through,
        )
        .await
        .unwrap();
    assert_eq!(second.scheduled, 2, "v3's check-ins");
    assert_eq!(second.cancelled.len(), 2, "v2's, superseded by v3");
    assert!(second.considered_through > first.considered_through);
}

#[tokio::test]
async fn an_open_checkin_closes_after_its_time() {
    let (store, _dir) = Store::temporary().await;
    let started = t0() - chrono::Duration::hours(1);
    let settings = CheckinSettings {
        delays: vec![Duration::from_secs(60)],
        close_after: Duration::from_secs(600),
        ..Default::default()
    };
    deploy(&store, "v1", "production", "succeeded", t0()).await;
    let run = store
        .run_checkins(&settings, at(Duration::from_secs(60)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.opened.len(), 1);
    let run = store
        .run_checkins(&settings, at(Duration::from_secs(659)), started, 0)
        .await
        .unwrap();
    assert!(run.closed.is_empty());
    let run = store
        .run_checkins(&settings, at(Duration::from_secs(660)), started, 0)
        .await
        .unwrap();
    assert_eq!(run.closed, run_ids(&store).await);
    assert_eq!(states(&store).await[0].0, "closed");
}

async fn run_ids(store: &Store) -> Vec<i64> {
    sqlx::query_scalar("select id from checkin order by id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn votes_replace_and_reactions_retract() {
    let (store, _dir) = Store::temporary().await;
    let deploy_id = deploy(&store, "v1", "production", "succeeded", t0()).await;
    let checkin = store
        .request_checkin(deploy_id, None, CHANNEL, 1, t0())
        .await
        .unwrap()
        .unwrap();
    let vote = |user: u64, sentiment| NewFeedback {
        deploy_id,
        checkin_id: Some(checkin),
        source: FeedbackSource::Button,
        sentiment: Some(sentiment),
        body: None,
        emoji: None,
        user_id: user,
        user_name: format!("u{user}"),
        guild_id: None,
        channel_id: Some(CHANNEL.0),
        message_id: Some(9),
    };
    store
        .record_feedback(&vote(1, Sentiment::Good), t0())
        .await
        .unwrap();
    store
        .record_feedback(&vote(1, Sentiment::Bad), t0())
        .await
        .unwrap();
    store
        .record_feedback(&vote(2, Sentiment::Good), t0())
        .await
        .unwrap();
    let tally = store
        .release_tally(deploy_id, Reader::Operator)
        .await
        .unwrap();
    assert_eq!((tally.good, tally.bad), (1, 1));

    let reaction = NewFeedback {
        source: FeedbackSource::Reaction,
        emoji: Some("🔥".into()),
        checkin_id: None,
        ..vote(3, Sentiment::Bad)
    };
    store.record_feedback(&reaction, t0()).await.unwrap();
    assert_eq!(
        store
            .release_tally(deploy_id, Reader::Operator)
            .await
            .unwrap()
            .bad,
        2
    );
    assert!(store.retract_reaction(9, 3, "🔥", t0()).await.unwrap());
    assert_eq!(
        store
            .release_tally(deploy_id, Reader::Operator)
            .await
            .unwrap()
            .bad,
        1
    );
    store.record_feedback(&reaction, t0()).await.unwrap();
    assert_eq!(
        store
            .release_tally(deploy_id, Reader::Operator)
            .await
            .unwrap()
            .bad,
        2,
        "re-added counts again"
    );
}

#[tokio::test]
async fn a_stored_time_out_of_range_is_an_error_not_a_default() {
    let (store, _dir) = Store::temporary().await;
    let deploy_id = deploy(&store, "v1", "production", "succeeded", t0()).await;
    let id = store
        .request_checkin(deploy_id, None, CHANNEL, 1, t0())
        .await
        .unwrap()
        .unwrap();
    sqlx::query("update checkin set due_at = $1 where id = $2")
        .bind(i64::MAX)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.checkin(id).await,
        Err(crate::store::StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.next_checkin_at().await,
        Err(crate::store::StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_manual_checkin_is_asked_at_most_once_per_ten_minutes_per_release_and_channel() {
    let (store, _dir) = Store::temporary().await;
    let deploy_id = deploy(&store, "v1", "production", "succeeded", t0()).await;
    let other_deploy = deploy(&store, "v2", "production", "succeeded", t0()).await;
    let ask = |deploy, channel, at| store.request_checkin(deploy, None, channel, 1, at);
    assert!(ask(deploy_id, CHANNEL, t0()).await.unwrap().is_ok());
    let later = t0() + chrono::Duration::minutes(9);
    assert_eq!(
        ask(deploy_id, CHANNEL, later).await.unwrap(),
        Err(t0() + chrono::Duration::minutes(10))
    );
    // Another release, or another channel, is another question.
    assert!(ask(other_deploy, CHANNEL, later).await.unwrap().is_ok());
    assert!(ask(deploy_id, ChannelId(CHANNEL.0 + 1), later)
        .await
        .unwrap()
        .is_ok());
    let after = t0() + chrono::Duration::minutes(10);
    assert!(ask(deploy_id, CHANNEL, after).await.unwrap().is_ok());
    assert_eq!(
        run_ids(&store).await.len(),
        4,
        "the refused one left no row"
    );
}
