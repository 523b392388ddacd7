//! The incident's timeline, thread, retro and follow-ups against a real database.

use chrono::{NaiveDate, Utc};

use super::*;
use crate::domain::alert::{AlertNotification, RawGenericAlert, Severity};
use crate::domain::alert_group::AlertPolicy;
use crate::domain::GuildId;

const CHANNEL: ChannelId = ChannelId(100);
const THREAD: ChannelId = ChannelId(555);

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

fn alice() -> Person {
    Person {
        id: 7,
        name: "Alice".into(),
    }
}

async fn kinds(store: &Store, incident: i64) -> Vec<String> {
    sqlx::query_scalar("select kind from incident_event where incident_id = $1 order by id")
        .bind(incident)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The subjects queued in `channel`, in order.
async fn queued(store: &Store, channel: ChannelId) -> Vec<(String, i64)> {
    sqlx::query_as(
        "select m.subject_kind, m.subject_id from outbox o join message m on m.id = o.message_id
         where o.channel_id = $1 order by o.id",
    )
    .bind(channel_to_db(channel))
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_alert_incident_records_its_timeline_and_queues_it_once_its_thread_exists() {
    let (store, _dir) = Store::temporary().await;
    let t0 = Utc::now() - chrono::Duration::minutes(30);
    let r = store
        .record_alerts(
            "{}",
            &alert("firing", t0),
            &policy(),
            Some(CHANNEL),
            Utc::now(),
        )
        .await
        .unwrap();
    let incident: i64 = sqlx::query_scalar("select id from incident")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // The thread is started after the alert's message, in the same channel's queue.
    assert_eq!(
        queued(&store, CHANNEL).await,
        vec![
            ("alert_group".to_owned(), r.group_id),
            ("incident_thread".to_owned(), incident)
        ]
    );
    store
        .ack_alert_group(r.group_id, 7, "Alice", Utc::now())
        .await
        .unwrap();
    assert_eq!(kinds(&store, incident).await, ["fired", "acknowledged"]);
    assert!(queued(&store, THREAD).await.is_empty(), "no thread yet");

    store
        .learn_channels(GuildId(1), &[CHANNEL], Utc::now())
        .await
        .unwrap();
    store
        .incident_thread_started(incident, CHANNEL, THREAD, Utc::now())
        .await
        .unwrap();
    // Twice (a retried delivery) changes nothing.
    store
        .incident_thread_started(incident, CHANNEL, ChannelId(999), Utc::now())
        .await
        .unwrap();
    let events: Vec<i64> = sqlx::query_scalar("select id from incident_event order by id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(
        queued(&store, THREAD).await,
        events
            .iter()
            .map(|e| ("incident_event".to_owned(), *e))
            .collect::<Vec<_>>()
    );
    let guild: i64 =
        sqlx::query_scalar("select guild_id from discord_channel where channel_id = 555")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(guild, 1, "the thread belongs to its parent's server");

    // Resolving posts the entry and the retro prompt into the thread.
    store
        .record_alerts(
            "{}",
            &alert("resolved", t0),
            &policy(),
            Some(CHANNEL),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&store, incident).await,
        ["fired", "acknowledged", "resolved"]
    );
    let tail: Vec<String> = queued(&store, THREAD)
        .await
        .into_iter()
        .rev()
        .take(2)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(tail, ["incident_prompt", "incident_event"]);

    let detail = store
        .incident_detail(incident, Reader::Operator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.card.thread_id, Some(THREAD.0));
    assert_eq!(detail.timeline[1].actor.as_deref(), Some("Alice"));
    assert!(detail.timeline[2]
        .detail
        .as_deref()
        .unwrap()
        .starts_with("after 30m"));
    // Another server does not see it; the thread's does.
    assert!(store
        .incident_detail(incident, Reader::Server(GuildId(2)))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_declared_incident_resolves_by_command_with_its_retro_and_followups() {
    let (store, _dir) = Store::temporary().await;
    store
        .learn_channels(GuildId(1), &[CHANNEL], Utc::now())
        .await
        .unwrap();
    let now = Utc::now();
    let declared = Declared {
        title: "payments down".into(),
        severity: "critical".into(),
        service: Some("payments".into()),
    };
    let id = store
        .declare_incident(&declared, &alice(), CHANNEL, now)
        .await
        .unwrap();
    assert_eq!(
        queued(&store, CHANNEL).await,
        vec![
            ("incident".to_owned(), id),
            ("incident_thread".to_owned(), id)
        ]
    );
    store
        .incident_thread_started(id, CHANNEL, THREAD, now)
        .await
        .unwrap();
    // Resolved from its thread without naming it.
    let resolved = store
        .resolve_declared(None, THREAD, &alice(), now)
        .await
        .unwrap();
    assert_eq!(
        resolved,
        ResolveOutcome::Resolved {
            id,
            title: "payments down".into()
        }
    );
    assert_eq!(
        store
            .resolve_declared(Some(id), CHANNEL, &alice(), now)
            .await
            .unwrap(),
        ResolveOutcome::AlreadyResolved { id }
    );
    assert_eq!(
        store
            .resolve_declared(None, ChannelId(3), &alice(), now)
            .await
            .unwrap(),
        ResolveOutcome::NotFound
    );

    let retro = Retro::parse(
        "card processor timed out",
        "the status page",
        "a latency SLO",
    )
    .unwrap();
    assert!(store.write_retro(id, &retro, &alice(), now).await.unwrap());
    let rewritten = Retro::parse("processor timeouts", "x", "y").unwrap();
    assert!(store
        .write_retro(id, &rewritten, &alice(), now)
        .await
        .unwrap());
    assert!(!store
        .write_retro(id + 1, &retro, &alice(), now)
        .await
        .unwrap());

    let today = now.date_naive();
    let followup =
        NewFollowup::parse("add a latency alert", "<@400000000000000077>", "", today).unwrap();
    let f = store
        .add_followup(id, &followup, &alice(), now)
        .await
        .unwrap()
        .unwrap();
    let team = NewFollowup::parse("runbook", "team-payments", "2099-01-01", today).unwrap();
    store.add_followup(id, &team, &alice(), now).await.unwrap();

    let open = store
        .open_followups(Reader::Server(GuildId(1)))
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].owner, Owner::User(400_000_000_000_000_077));
    assert_eq!(open[1].due, NaiveDate::from_ymd_opt(2099, 1, 1));
    assert!(store
        .open_followups(Reader::Server(GuildId(2)))
        .await
        .unwrap()
        .is_empty());

    let guest = Person {
        id: 8,
        name: "Guest".into(),
    };
    let owner = Person {
        id: 400_000_000_000_000_077,
        name: "Carol".into(),
    };
    let server = Reader::Server(GuildId(1));
    assert_eq!(
        store
            .close_followup(f, &guest, false, server, now)
            .await
            .unwrap(),
        CloseOutcome::Refused(CloseRefusal::NotOwner)
    );
    assert_eq!(
        store
            .close_followup(f, &owner, false, Reader::Server(GuildId(2)), now)
            .await
            .unwrap(),
        CloseOutcome::NotFound,
        "another server's follow-up is not there"
    );
    assert_eq!(
        store
            .close_followup(f, &owner, false, server, now)
            .await
            .unwrap(),
        CloseOutcome::Closed {
            what: "add a latency alert".into()
        }
    );
    assert_eq!(
        store
            .close_followup(f, &alice(), true, server, now)
            .await
            .unwrap(),
        CloseOutcome::Refused(CloseRefusal::AlreadyDone)
    );

    let detail = store.incident_detail(id, server).await.unwrap().unwrap();
    assert_eq!(detail.retros.len(), 1, "one retro per author, the latest");
    assert_eq!(detail.retros[0].what_happened, "processor timeouts");
    assert_eq!(detail.followups[0].state, FollowupState::Done);
    assert_eq!(detail.followups[0].closed_by_name.as_deref(), Some("Carol"));
    assert_eq!(
        kinds(&store, id).await,
        [
            "declared",
            "resolved",
            "retro",
            "retro",
            "followup",
            "followup",
            "followup_done"
        ]
    );
}

#[tokio::test]
async fn an_alert_incident_is_not_resolved_by_command() {
    let (store, _dir) = Store::temporary().await;
    let t0 = Utc::now() - chrono::Duration::minutes(5);
    store
        .record_alerts(
            "{}",
            &alert("firing", t0),
            &policy(),
            Some(CHANNEL),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .resolve_declared(Some(1), CHANNEL, &alice(), Utc::now())
            .await
            .unwrap(),
        ResolveOutcome::FromAlert { id: 1 }
    );
}

#[tokio::test]
async fn the_summary_section_counts_incidents_followups_and_lists_the_stale_ones() {
    use crate::domain::period::Period;
    use crate::store::Scope;
    let (store, _dir) = Store::temporary().await;
    let now = Utc::now();
    let tz = chrono_tz::UTC;
    let today = now.date_naive();
    let period = Period::new(
        today - chrono::Days::new(6),
        today + chrono::Days::new(1),
        tz,
    );
    let declared = Declared {
        title: "payments down".into(),
        severity: "critical".into(),
        service: None,
    };
    let id = store
        .declare_incident(
            &declared,
            &alice(),
            CHANNEL,
            now - chrono::Duration::hours(2),
        )
        .await
        .unwrap();
    store
        .resolve_declared(
            Some(id),
            CHANNEL,
            &alice(),
            now - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let f = NewFollowup::parse("fix", "team", "", today).unwrap();
    store.add_followup(id, &f, &alice(), now).await.unwrap();
    // One opened 9 days ago and still open, one opened then and closed today.
    for (what, state, closed) in [("old one", "open", "null"), ("done one", "done", "?2")] {
        sqlx::query(&crate::store::numbered(&format!(
            "insert into followup (incident_id, what, owner_id, state, opened_by, opened_by_name,
                                   opened_at, closed_at, updated_at, created_at)
             values (?1, '{what}', 400000000000000077, '{state}', 7, 'alice', ?3, {closed}, ?3, ?3)"
        )))
        .bind(id)
        .bind(time_to_db(now))
        .bind(time_to_db(now - chrono::Duration::days(9)))
        .execute(store.pool())
        .await
        .unwrap();
    }
    let section = store
        .incident_section(&period, &Scope::all(), now)
        .await
        .unwrap();
    assert_eq!(section.count, 1);
    assert_eq!(section.time_to_restore_median, Some(3600.0));
    assert_eq!(section.time_to_acknowledge_median, None);
    assert_eq!(section.followups.opened, 1);
    assert_eq!(section.followups.closed, 1);
    assert_eq!(section.open_older_than_7_days_total, 1);
    assert_eq!(section.open_older_than_7_days[0].what, "old one");
    assert_eq!(
        section.open_older_than_7_days[0].owner,
        "<@400000000000000077>"
    );
    assert_eq!(section.open_older_than_7_days[0].age_days, 9);
}
