//! The rollups are an optimisation only: random events (deploys and their status changes, alert
//! links and verdicts, incidents, check-ins, votes, retractions, deletes) over random days, then
//! every figure read through the rollups equals the figure read from the rows, for random periods
//! in random zones (half-hour and 45-minute offsets, DST changes) and scopes; and the rollup tables
//! equal what the migration's backfill computes from the rows.

use super::*;
use crate::domain::subscription::Pattern;
use crate::domain::summary::Figures;
use crate::store::ReadFrom;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

/// 2026-03-20 00:00 UTC: the generated days cross Europe's and Lord Howe's DST changes.
fn base() -> i64 {
    time_to_db(Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap())
}

const MINUTE: i64 = 60_000;
/// The generated instants fall within this many minutes after `base` (20 days).
const SPREAD: u32 = 20 * 24 * 60;

#[derive(Debug, Clone)]
enum Op {
    Deploy {
        service: u8,
        environment: u8,
        status: u8,
        start: u32,
        duration: Option<u16>,
        commit_before: Option<u32>,
    },
    SetStatus {
        deploy: u16,
        status: u8,
        finish: Option<u32>,
    },
    /// An alert linked to a deploy, in a new group (with an incident or not) or in an existing one.
    Link {
        deploy: u16,
        verdict: u8,
        incident: bool,
        resolved_after: Option<u16>,
        group: Option<u16>,
    },
    Verdict {
        link: u16,
        verdict: u8,
    },
    Incident {
        group: u16,
    },
    DropIncident {
        incident: u16,
    },
    Checkin {
        deploy: u16,
        state: u8,
        opened: Option<u32>,
    },
    SetCheckin {
        checkin: u16,
        state: u8,
        opened: Option<u32>,
    },
    Feedback {
        target: u16,
        on_checkin: bool,
        sentiment: Option<i8>,
        given: u32,
        comment: bool,
    },
    Retract {
        feedback: u16,
        retracted: bool,
    },
    Revote {
        feedback: u16,
        sentiment: Option<i8>,
    },
    DeleteFeedback {
        feedback: u16,
    },
    DeleteDeploy {
        deploy: u16,
    },
    DeleteGroup {
        group: u16,
    },
    DeleteCheckin {
        checkin: u16,
    },
    DeleteLink {
        link: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let minute = 0..SPREAD;
    let sentiment = proptest::option::of(-1i8..=1);
    prop_oneof![
        6 => (0u8..3, 0u8..3, 0u8..4, minute.clone(), proptest::option::of(0u16..3000),
              proptest::option::of(0u32..20_000))
            .prop_map(|(service, environment, status, start, duration, commit_before)| Op::Deploy {
                service, environment, status, start, duration, commit_before
            }),
        2 => (any::<u16>(), 0u8..4, proptest::option::of(minute.clone()))
            .prop_map(|(deploy, status, finish)| Op::SetStatus { deploy, status, finish }),
        // Few deploys get the links, so a deploy often has several (through several groups).
        3 => (0u16..6, 0u8..3, any::<bool>(), proptest::option::of(0u16..3000),
              proptest::option::of(any::<u16>()))
            .prop_map(|(deploy, verdict, incident, resolved_after, group)| Op::Link {
                deploy, verdict, incident, resolved_after, group
            }),
        1 => (any::<u16>(), 0u8..3).prop_map(|(link, verdict)| Op::Verdict { link, verdict }),
        2 => any::<u16>().prop_map(|group| Op::Incident { group }),
        1 => any::<u16>().prop_map(|incident| Op::DropIncident { incident }),
        3 => (any::<u16>(), 0u8..4, proptest::option::of(minute.clone()))
            .prop_map(|(deploy, state, opened)| Op::Checkin { deploy, state, opened }),
        1 => (any::<u16>(), 0u8..4, proptest::option::of(minute.clone()))
            .prop_map(|(checkin, state, opened)| Op::SetCheckin { checkin, state, opened }),
        6 => (any::<u16>(), any::<bool>(), sentiment.clone(), minute, any::<bool>())
            .prop_map(|(target, on_checkin, sentiment, given, comment)| Op::Feedback {
                target, on_checkin, sentiment, given, comment
            }),
        2 => (any::<u16>(), any::<bool>())
            .prop_map(|(feedback, retracted)| Op::Retract { feedback, retracted }),
        1 => (any::<u16>(), sentiment).prop_map(|(feedback, sentiment)| Op::Revote { feedback, sentiment }),
        1 => any::<u16>().prop_map(|feedback| Op::DeleteFeedback { feedback }),
        1 => any::<u16>().prop_map(|deploy| Op::DeleteDeploy { deploy }),
        2 => any::<u16>().prop_map(|group| Op::DeleteGroup { group }),
        1 => any::<u16>().prop_map(|checkin| Op::DeleteCheckin { checkin }),
        2 => any::<u16>().prop_map(|link| Op::DeleteLink { link }),
    ]
}

const STATUSES: [&str; 4] = ["started", "succeeded", "failed", "rolled_back"];
const STATES: [&str; 4] = ["scheduled", "open", "closed", "cancelled"];

/// The id of the `n`th row (modulo their count) of `table`, if it has any.
async fn nth(store: &Store, table: &str, n: u16) -> Option<i64> {
    sqlx::query_scalar(&crate::store::numbered(&format!(
        "select id from {table} order by id limit 1
         offset ?1 % max(1, (select count(*) from {table}))"
    )))
    .bind(i64::from(n))
    .fetch_optional(store.pool())
    .await
    .unwrap()
}

fn at(minute: u32) -> i64 {
    base() + i64::from(minute) * MINUTE
}

async fn apply(store: &Store, op: &Op, n: usize) {
    let pool = store.pool();
    let verdict = |v: u8| [None, Some("confirmed"), Some("rejected")][v as usize % 3];
    match op {
        Op::Deploy {
            service,
            environment,
            status,
            start,
            duration,
            commit_before,
        } => {
            let status = STATUSES[*status as usize % 4];
            let started = at(*start);
            let finished = (status != "started")
                .then(|| duration.map(|d| started + i64::from(d) * MINUTE))
                .flatten();
            sqlx::query(
                "insert into deploy (source, external_id, service, version, environment, status,
                     commit_at, started_at, finished_at, updated_at, created_at)
                 values ('api', $1, $2, 'v1', $3, $4, $5, $6, $7, 0, 0)",
            )
            .bind(format!("d{n}"))
            .bind(["api", "web", "Batch"][*service as usize % 3])
            .bind(["production", "staging", "Prod-EU"][*environment as usize % 3])
            .bind(status)
            .bind(commit_before.map(|c| started - i64::from(c) * MINUTE))
            .bind(started)
            .bind(finished)
            .execute(pool)
            .await
            .unwrap();
        }
        Op::SetStatus {
            deploy,
            status,
            finish,
        } => {
            if let Some(id) = nth(store, "deploy", *deploy).await {
                sqlx::query(
                    "update deploy set status = $1, finished_at = coalesce($2, finished_at) where id = $3",
                )
                .bind(STATUSES[*status as usize % 4])
                .bind(finish.map(at))
                .bind(id)
                .execute(pool)
                .await
                .unwrap();
            }
        }
        Op::Link {
            deploy,
            verdict: v,
            incident,
            resolved_after,
            group: existing,
        } => {
            let Some(deploy_id) = nth(store, "deploy", *deploy).await else {
                return;
            };
            let existing = match existing {
                Some(g) => nth(store, "alert_group", *g).await,
                None => None,
            };
            let (service, opened): (String, i64) = sqlx::query_as(
                "select service, coalesce(finished_at, started_at) + 600000 from deploy where id = $1",
            )
            .bind(deploy_id)
            .fetch_one(pool)
            .await
            .unwrap();
            let group: i64 = match existing {
                Some(group) => group,
                None => sqlx::query_scalar(
                "insert into alert_group (source, group_key, status, service, environment, severity,
                     first_fired_at, updated_at, created_at)
                 values ('api', $1, 'firing', $2, 'production', 'critical', $3, 0, 0) returning id",
            )
            .bind(format!("g{n}"))
            .bind(&service)
            .bind(opened)
            .fetch_one(pool)
            .await
            .unwrap(),
            };
            let alert: i64 = sqlx::query_scalar(
                "insert into alert (group_id, source, fingerprint, name, service, environment, severity,
                     status, starts_at, updated_at, created_at)
                 values ($1, 'api', $2, 'HighErrors', $3, 'production', 'critical', 'firing', $4, 0, 0)
                 returning id",
            )
            .bind(group)
            .bind(format!("f{n}"))
            .bind(&service)
            .bind(opened)
            .fetch_one(pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, verdict, created_at)
                 values ($1, $2, $3, 600000, $4, 0)",
            )
            .bind(alert)
            .bind(group)
            .bind(deploy_id)
            .bind(verdict(*v))
            .execute(pool)
            .await
            .unwrap();
            if *incident && existing.is_none() {
                open_incident(store, group, alert, &service, opened, *resolved_after).await;
            }
        }
        Op::Verdict { link, verdict: v } => {
            if let Some(id) = nth(store, "alert_deploy_link", *link).await {
                sqlx::query("update alert_deploy_link set verdict = $1 where id = $2")
                    .bind(verdict(*v))
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Op::Incident { group } => {
            let Some(group) = nth(store, "alert_group", *group).await else {
                return;
            };
            let (alert, service, opened): (i64, String, i64) = sqlx::query_as(
                "select a.id, a.service, a.starts_at from alert a where a.group_id = $1
                 and not exists (select 1 from incident i where i.group_id = a.group_id)",
            )
            .bind(group)
            .fetch_optional(pool)
            .await
            .unwrap()
            .unwrap_or((0, String::new(), 0));
            if alert != 0 {
                open_incident(store, group, alert, &service, opened, Some(90)).await;
            }
        }
        Op::DropIncident { incident } => {
            if let Some(id) = nth(store, "incident", *incident).await {
                sqlx::query("delete from incident where id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Op::Checkin {
            deploy,
            state,
            opened,
        } => {
            if let Some(deploy_id) = nth(store, "deploy", *deploy).await {
                sqlx::query(
                    "insert into checkin (deploy_id, channel_id, origin, state, due_at, opened_at,
                         updated_at, created_at)
                     values ($1, 1, 'command', $2, 0, $3, 0, 0)",
                )
                .bind(deploy_id)
                .bind(STATES[*state as usize % 4])
                .bind(opened.map(at))
                .execute(pool)
                .await
                .unwrap();
            }
        }
        Op::SetCheckin {
            checkin,
            state,
            opened,
        } => {
            if let Some(id) = nth(store, "checkin", *checkin).await {
                sqlx::query("update checkin set state = $1, opened_at = $2 where id = $3")
                    .bind(STATES[*state as usize % 4])
                    .bind(opened.map(at))
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Op::Feedback {
            target,
            on_checkin,
            sentiment,
            given,
            comment,
        } => {
            let (deploy_id, checkin_id) = if *on_checkin {
                let Some(checkin) = nth(store, "checkin", *target).await else {
                    return;
                };
                let deploy: i64 = sqlx::query_scalar("select deploy_id from checkin where id = $1")
                    .bind(checkin)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                (deploy, Some(checkin))
            } else {
                let Some(deploy) = nth(store, "deploy", *target).await else {
                    return;
                };
                (deploy, None)
            };
            sqlx::query(
                "insert into feedback (deploy_id, checkin_id, source, sentiment, body, user_id,
                     user_name, given_at, updated_at, created_at)
                 values ($1, $2, 'command', $3, $4, 1, 'someone', $5, 0, 0)",
            )
            .bind(deploy_id)
            .bind(checkin_id)
            .bind(sentiment.map(i64::from))
            .bind(comment.then(|| format!("comment {n}")))
            .bind(at(*given))
            .execute(pool)
            .await
            .unwrap();
        }
        Op::Retract {
            feedback,
            retracted,
        } => {
            if let Some(id) = nth(store, "feedback", *feedback).await {
                sqlx::query("update feedback set retracted_at = $1 where id = $2")
                    .bind(retracted.then_some(1_i64))
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Op::Revote {
            feedback,
            sentiment,
        } => {
            if let Some(id) = nth(store, "feedback", *feedback).await {
                sqlx::query("update feedback set sentiment = $1 where id = $2")
                    .bind(sentiment.map(i64::from))
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Op::DeleteFeedback { feedback } => delete(store, "feedback", *feedback).await,
        Op::DeleteDeploy { deploy } => delete(store, "deploy", *deploy).await,
        Op::DeleteGroup { group } => delete(store, "alert_group", *group).await,
        Op::DeleteCheckin { checkin } => delete(store, "checkin", *checkin).await,
        Op::DeleteLink { link } => delete(store, "alert_deploy_link", *link).await,
    }
}

async fn delete(store: &Store, table: &str, n: u16) {
    if let Some(id) = nth(store, table, n).await {
        sqlx::query(&crate::store::numbered(&format!(
            "delete from {table} where id = ?"
        )))
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    }
}

async fn open_incident(
    store: &Store,
    group: i64,
    alert: i64,
    service: &str,
    opened: i64,
    resolved_after: Option<u16>,
) {
    sqlx::query(
        "insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
             resolved_at, updated_at, created_at)
         values ($1, $2, 'HighErrors', $3, 'production', 'critical', $4, $5, 0, 0)",
    )
    .bind(group)
    .bind(alert)
    .bind(service)
    .bind(opened)
    .bind(resolved_after.map(|m| opened + i64::from(m) * MINUTE))
    .execute(store.pool())
    .await
    .unwrap();
}

/// The rollup tables without their zero rows, and the same computed from the rows by the
/// migration's backfill statements.
async fn rollups_and_recomputed(store: &Store) -> (Vec<String>, Vec<String>) {
    let kept: Vec<String> = sqlx::query_scalar(
        "select 'd ' || day || ' ' || service || ' ' || environment || ' ' || started || ' ' ||
                succeeded || ' ' || failed || ' ' || rolled_back || ' ' || lacking_commit || ' ' ||
                confirmed || ' ' || probable
         from rollup_deploy
         where started or succeeded or failed or rolled_back or lacking_commit or confirmed or probable
         union all
         select 'e ' || day || ' ' || environment || ' ' || started || ' ' || succeeded || ' ' ||
                failed || ' ' || rolled_back || ' ' || lacking_commit || ' ' || confirmed || ' ' ||
                probable
         from rollup_deploy_env
         where started or succeeded or failed or rolled_back or lacking_commit or confirmed or probable
         union all
         select 'f ' || day || ' ' || service || ' ' || environment || ' ' || positive || ' ' ||
                neutral || ' ' || negative
         from rollup_feedback where positive or neutral or negative
         union all
         select 'c ' || day || ' ' || service || ' ' || environment || ' ' || asked || ' ' || answered
         from rollup_checkin where asked or answered
         union all
         select 'fe ' || day || ' ' || environment || ' ' || positive || ' ' || neutral || ' ' || negative
         from rollup_feedback_env where positive or neutral or negative
         union all
         select 'ce ' || day || ' ' || environment || ' ' || asked || ' ' || answered
         from rollup_checkin_env where asked or answered
         order by 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let recomputed: Vec<String> = sqlx::query_scalar(
        "select 'd ' || day || ' ' || service || ' ' || environment || ' ' || started || ' ' ||
                succeeded || ' ' || failed || ' ' || rolled_back || ' ' || lacking_commit || ' ' ||
                confirmed || ' ' || probable
         from (select coalesce(d.finished_at, d.started_at) / 86400000 as day, d.service,
                      d.environment, sum(d.status = 'started') as started,
                      sum(d.status = 'succeeded') as succeeded, sum(d.status = 'failed') as failed,
                      sum(d.status = 'rolled_back') as rolled_back,
                      sum(d.status in ('succeeded', 'rolled_back') and d.commit_at is null) as lacking_commit,
                      sum(d.status = 'succeeded' and exists (
                          select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                          where l.deploy_id = d.id and l.verdict = 'confirmed')) as confirmed,
                      sum(d.status = 'succeeded' and exists (
                          select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                          where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))) as probable
               from deploy d group by 1, 2, 3)
         union all
         select 'e ' || day || ' ' || environment || ' ' || started || ' ' || succeeded || ' ' ||
                failed || ' ' || rolled_back || ' ' || lacking_commit || ' ' || confirmed || ' ' ||
                probable
         from (select coalesce(d.finished_at, d.started_at) / 86400000 as day, d.environment,
                      sum(d.status = 'started') as started,
                      sum(d.status = 'succeeded') as succeeded, sum(d.status = 'failed') as failed,
                      sum(d.status = 'rolled_back') as rolled_back,
                      sum(d.status in ('succeeded', 'rolled_back') and d.commit_at is null) as lacking_commit,
                      sum(d.status = 'succeeded' and exists (
                          select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                          where l.deploy_id = d.id and l.verdict = 'confirmed')) as confirmed,
                      sum(d.status = 'succeeded' and exists (
                          select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                          where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))) as probable
               from deploy d group by 1, 2)
         union all
         select 'f ' || day || ' ' || service || ' ' || environment || ' ' || positive || ' ' ||
                neutral || ' ' || negative
         from (select f.given_at / 86400000 as day, d.service, d.environment,
                      sum(f.sentiment = 1) as positive, sum(f.sentiment = 0) as neutral,
                      sum(f.sentiment = -1) as negative
               from feedback f join deploy d on d.id = f.deploy_id
               where f.retracted_at is null and f.sentiment is not null group by 1, 2, 3)
         union all
         select 'c ' || day || ' ' || service || ' ' || environment || ' ' || asked || ' ' || answered
         from (select c.opened_at / 86400000 as day, d.service, d.environment, count(*) as asked,
                      sum(exists (select 1 from feedback f
                                  where f.checkin_id = c.id and f.retracted_at is null)) as answered
               from checkin c join deploy d on d.id = c.deploy_id
               where c.state in ('open', 'closed') and c.opened_at is not null group by 1, 2, 3)
         union all
         select 'fe ' || day || ' ' || environment || ' ' || positive || ' ' || neutral || ' ' || negative
         from (select f.given_at / 86400000 as day, d.environment,
                      sum(f.sentiment = 1) as positive, sum(f.sentiment = 0) as neutral,
                      sum(f.sentiment = -1) as negative
               from feedback f join deploy d on d.id = f.deploy_id
               where f.retracted_at is null and f.sentiment is not null group by 1, 2)
         union all
         select 'ce ' || day || ' ' || environment || ' ' || asked || ' ' || answered
         from (select c.opened_at / 86400000 as day, d.environment, count(*) as asked,
                      sum(exists (select 1 from feedback f
                                  where f.checkin_id = c.id and f.retracted_at is null)) as answered
               from checkin c join deploy d on d.id = c.deploy_id
               where c.state in ('open', 'closed') and c.opened_at is not null group by 1, 2)
         order by 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (kept, recomputed)
}

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
];

fn scope(which: u8) -> Scope {
    let pattern = |kind, raw: &str| Pattern::parse(kind, Some(raw)).unwrap();
    match which % 4 {
        0 => Scope::all(),
        1 => Scope::of(&pattern("service", "api"), &Pattern::any()),
        2 => Scope::of(&pattern("service", "*"), &pattern("environment", "prod*")),
        _ => Scope {
            pairs: vec![
                ("web".into(), "*".into()),
                ("batch".into(), "staging".into()),
            ],
            reader: crate::domain::visibility::Reader::Operator,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn figures_read_through_the_rollups_equal_the_figures_read_from_the_rows(
        ops in proptest::collection::vec(op(), 1..120),
        periods in proptest::collection::vec((0usize..6, 0i64..24, 1i64..22, 0u8..4, any::<bool>()), 1..6),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (store, _dir) = Store::temporary().await;
            for (n, op) in ops.iter().enumerate() {
                apply(&store, op, n).await;
            }
            let (kept, recomputed) = rollups_and_recomputed(&store).await;
            assert_eq!(kept, recomputed, "rollup tables after {ops:?}");
            let unpaired: i64 = sqlx::query_scalar(
                "select count(*) from deploy d where not exists (
                     select 1 from rollup_pair p
                     where p.service = d.service and p.environment = d.environment)",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert_eq!(unpaired, 0, "a deploy's pair missing from rollup_pair after {ops:?}");
            let production = Environments::default();
            let first = NaiveDate::from_ymd_opt(2026, 3, 18).unwrap();
            for (zone, from, days, which, details) in periods {
                let tz: Tz = ZONES[zone].parse().unwrap();
                let from = first + Duration::days(from);
                let period = Period::new(from, from + Duration::days(days), tz);
                let scope = scope(which);
                let read = |reading| {
                    let (store, scope, production) = (&store, &scope, &production);
                    async move {
                        store
                            .summary_figures_from(reading, &period, scope, production, details)
                            .await
                            .unwrap()
                    }
                };
                let (rolled, rows): (Figures, Figures) =
                    (read(ReadFrom::Rollups).await, read(ReadFrom::Rows).await);
                assert_eq!(rolled, rows, "{period:?} {scope:?} details {details}");
                let weeks = crate::domain::trend::weeks_ending_with(&period, 3);
                let now = period.end();
                let trend = |reading| {
                    let (store, scope, production, weeks) = (&store, &scope, &production, &weeks);
                    async move {
                        crate::summaries::trend_from(reading, store, weeks, scope, production, now)
                            .await
                            .unwrap()
                    }
                };
                assert_eq!(trend(ReadFrom::Rollups).await, trend(ReadFrom::Rows).await,
                           "trend ending {period:?} {scope:?}");
            }
        });
    }
}

/// A Berlin week (23:00 UTC to 23:00 UTC) reads its last day as the whole UTC day less its last
/// hour: deploys, check-ins and feedback on each side of both edges land in the right period.
#[tokio::test]
async fn a_berlin_week_counts_what_happened_in_it_and_not_the_hour_taken_away() {
    let (store, _dir) = Store::temporary().await;
    // Minutes after base (2026-03-20 00:00 UTC); the week is minutes 1380 to 11460.
    let (before_start, after_start, before_end, after_end) = (1370, 1390, 11430, 11490);
    let mut ops = Vec::new();
    for (i, start) in [before_start, after_start, before_end, after_end]
        .into_iter()
        .enumerate()
    {
        let i = i as u16;
        ops.push(Op::Deploy {
            service: 0,
            environment: 0,
            status: 1,
            start,
            duration: Some(5),
            commit_before: Some(60),
        });
        ops.push(Op::Checkin {
            deploy: i,
            state: 2,
            opened: Some(start + 6),
        });
        ops.push(Op::Feedback {
            target: i,
            on_checkin: true,
            sentiment: Some(if i == 3 { 1 } else { -1 }),
            given: start + 7,
            comment: false,
        });
    }
    for (n, op) in ops.iter().enumerate() {
        apply(&store, op, n).await;
    }
    let from = NaiveDate::from_ymd_opt(2026, 3, 21).unwrap();
    let period = Period::new(from, from + Duration::days(7), chrono_tz::Europe::Berlin);
    assert_eq!(
        period.start(),
        Utc.with_ymd_and_hms(2026, 3, 20, 23, 0, 0).unwrap()
    );
    let production = Environments::default();
    let read = |reading| {
        let (store, period, production) = (&store, &period, &production);
        async move {
            store
                .summary_figures_from(reading, period, &Scope::all(), production, true)
                .await
                .unwrap()
        }
    };
    let rolled = read(ReadFrom::Rollups).await;
    assert_eq!(rolled, read(ReadFrom::Rows).await);
    assert_eq!(rolled.production.deployed, 2, "{rolled:?}");
    let checkins = rolled.checkins.clone().unwrap();
    assert_eq!((checkins.asked, checkins.answered), (2, 2), "{checkins:?}");
    assert_eq!(
        (checkins.positive, checkins.neutral, checkins.negative),
        (0, 0, 2),
        "{checkins:?}"
    );
    let per_day: i64 = rolled.daily.iter().map(|d| d.0).sum();
    assert_eq!(per_day, 2, "{:?}", rolled.daily);
}
