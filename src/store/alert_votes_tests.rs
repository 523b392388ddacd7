//! Votes as stored and counted: one per person per episode, the latest; the noisiest list by
//! alert name over the period's votes, within the summary's scope.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::*;
use crate::config::SummarySettings;
use crate::domain::period::Period;
use crate::domain::subscription::Pattern;
use crate::store::Scope;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A resolved group `id` of `service` holding one alert per name, started at `started`.
async fn group(store: &Store, id: i64, service: &str, names: &[&str], started: &str) {
    let t = time_to_db(at(started));
    sqlx::query(
        "insert into alert_group (id, source, group_key, status, severity, service, first_fired_at,
                                  resolved_at, updated_at, created_at)
         values ($1, 'api', 'g' || $1, 'resolved', 'warning', $2, $3, $3, $3, $3)",
    )
    .bind(id)
    .bind(service)
    .bind(t)
    .execute(store.pool())
    .await
    .unwrap();
    for (i, name) in names.iter().enumerate() {
        // Two instances of the same name: a vote still counts once for the name.
        for instance in 0..2 {
            sqlx::query(
                "insert into alert (group_id, source, fingerprint, name, service, severity, status,
                                    starts_at, updated_at, created_at)
                 values ($1, 'api', $2, $3, $4, 'warning', 'resolved', $5, $6, $7)",
            )
            .bind(id)
            .bind(format!("f{id}-{i}-{instance}"))
            .bind(name)
            .bind(service)
            .bind(t)
            .bind(t)
            .bind(t)
            .execute(store.pool())
            .await
            .unwrap();
        }
    }
}

async fn vote(store: &Store, group: i64, user: u64, vote: Vote, when: &str) -> VoteOutcome {
    store
        .vote_alert_group(group, user, &format!("u{user}"), vote, at(when))
        .await
        .unwrap()
}

#[tokio::test]
async fn one_vote_per_person_per_episode_and_the_latest_counts() {
    let (store, _dir) = Store::temporary().await;
    group(&store, 1, "checkout", &["Disk"], "2026-11-17T10:00:00Z").await;
    let when = "2026-11-17T10:05:00Z";
    assert_eq!(
        vote(&store, 1, 7, Vote::Noise, when).await,
        VoteOutcome::Recorded {
            previous: None,
            counts: VoteCounts {
                useful: 0,
                noise: 1
            }
        }
    );
    assert_eq!(
        vote(&store, 1, 8, Vote::Noise, when).await,
        VoteOutcome::Recorded {
            previous: None,
            counts: VoteCounts {
                useful: 0,
                noise: 2
            }
        }
    );
    assert_eq!(
        vote(&store, 1, 7, Vote::Useful, when).await,
        VoteOutcome::Recorded {
            previous: Some(Vote::Noise),
            counts: VoteCounts {
                useful: 1,
                noise: 1
            }
        }
    );
    assert_eq!(
        vote(&store, 1, 7, Vote::Useful, when).await,
        VoteOutcome::Unchanged {
            counts: VoteCounts {
                useful: 1,
                noise: 1
            }
        }
    );
    assert_eq!(
        vote(&store, 99, 7, Vote::Noise, when).await,
        VoteOutcome::NotFound
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from alert_vote")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2);
}

#[tokio::test]
async fn the_noisiest_count_the_periods_votes_by_name_within_the_scope() {
    let (store, _dir) = Store::temporary().await;
    // W47 is 2026-11-16 .. 2026-11-22 (UTC).
    group(
        &store,
        1,
        "checkout",
        &["Disk", "Cpu"],
        "2026-11-17T10:00:00Z",
    )
    .await;
    group(&store, 2, "checkout", &["Disk"], "2026-11-18T10:00:00Z").await;
    // Fired the week before, voted in W47: listed with fired 0.
    group(&store, 3, "payments", &["Old"], "2026-11-10T10:00:00Z").await;
    group(&store, 4, "checkout", &["Quiet"], "2026-11-19T10:00:00Z").await;
    group(&store, 5, "checkout", &["Quiet"], "2026-11-19T11:00:00Z").await;
    vote(&store, 1, 7, Vote::Noise, "2026-11-17T11:00:00Z").await;
    vote(&store, 1, 8, Vote::Useful, "2026-11-17T11:00:00Z").await;
    vote(&store, 2, 7, Vote::Noise, "2026-11-18T11:00:00Z").await;
    vote(&store, 3, 7, Vote::Noise, "2026-11-18T11:00:00Z").await;
    // Given after the period: not counted in it.
    vote(&store, 4, 7, Vote::Noise, "2026-11-24T11:00:00Z").await;

    let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
    let settings = SummarySettings::default();
    let now = at("2026-11-25T09:00:00Z");
    let s = crate::summaries::compute(&store, &settings, &period, &Scope::all(), now)
        .await
        .unwrap();
    let list: Vec<(&str, i64, i64, i64)> = s
        .alerts
        .as_ref()
        .unwrap()
        .noisiest
        .iter()
        .map(|e| (e.name.as_str(), e.fired, e.noise_votes, e.useful_votes))
        .collect();
    assert_eq!(
        list,
        vec![
            // Groups 1 and 2 (two instances each: still one vote per group).
            ("Disk", 4, 2, 1),
            ("Cpu", 2, 1, 1),
            ("Old", 0, 1, 0),
            ("Quiet", 4, 0, 0),
        ]
    );
    let text = s.render(true);
    assert!(
        text.contains("Called noise by the team: Disk (2 noise votes), Old (1 noise vote)"),
        "{text}"
    );

    // Scoped to payments: only its vote.
    let payments = Scope::of(
        &Pattern::parse("service", Some("payments")).unwrap(),
        &Pattern::any(),
    );
    let s = crate::summaries::compute(&store, &settings, &period, &payments, now)
        .await
        .unwrap();
    let list: Vec<(&str, i64, i64)> = s
        .alerts
        .as_ref()
        .unwrap()
        .noisiest
        .iter()
        .map(|e| (e.name.as_str(), e.fired, e.noise_votes))
        .collect();
    assert_eq!(list, vec![("Old", 0, 1)]);
}
