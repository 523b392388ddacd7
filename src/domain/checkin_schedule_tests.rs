//! The check-in rules as tables: given deploy and check-in states and now, what happens.

use chrono::TimeZone;

use super::*;
use crate::domain::subscription::Pattern;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(s)
}

const HOUR: i64 = 3600;

/// Asks an hour and a day after a production deploy; open for a day.
fn settings() -> CheckinSettings {
    CheckinSettings {
        delays: vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)],
        environments: crate::domain::production::Environments::parse("production").unwrap(),
        close_after: Duration::from_secs(24 * 3600),
        ..Default::default()
    }
}

fn succeeded_at(at: DateTime<Utc>) -> FinishedDeploy {
    FinishedDeploy {
        deploy_id: 7,
        service: "checkout".into(),
        environment: "production".into(),
        status: DeployStatus::Succeeded,
        finished_at: Some(at),
        already_scheduled: false,
        latest_success_at: Some(at),
        announced_in: vec![ChannelId(300)],
    }
}

fn subscribed(channel: u64, service: &str) -> Subscription {
    Subscription {
        channel: ChannelId(channel),
        kind: Kind::Checkins,
        service: Pattern::parse("service", Some(service)).unwrap(),
        environment: Pattern::parse("environment", None).unwrap(),
        filters: Default::default(),
    }
}

/// (channel, sequence, due at in seconds after t0) of a check-in scheduled.
type Scheduled = (u64, usize, i64);

fn scheduled(d: &FinishedDeploy, subs: &[Subscription], now: DateTime<Utc>) -> Vec<Scheduled> {
    schedule(d, subs, &settings(), now)
        .into_iter()
        .map(|c| {
            assert_eq!(c.deploy_id, d.deploy_id);
            (c.channel.0, c.sequence, (c.due_at - t0()).num_seconds())
        })
        .collect()
}

#[test]
fn scheduling() {
    let fresh = succeeded_at(t0());
    let one_per_delay = vec![(300, 0, HOUR), (300, 1, 24 * HOUR)];
    let horizon = 48 * HOUR; // the longest delay plus the time a check-in stays open
    let cases: Vec<(&str, FinishedDeploy, i64, Vec<Scheduled>)> = vec![
        (
            "a fresh success: one per delay",
            fresh.clone(),
            10,
            one_per_delay.clone(),
        ),
        (
            "at the horizon's edge",
            fresh.clone(),
            horizon,
            one_per_delay.clone(),
        ),
        (
            "past the horizon: history",
            fresh.clone(),
            horizon + 1,
            vec![],
        ),
        (
            "the environment compares without case",
            FinishedDeploy {
                environment: "PRODUCTION".into(),
                ..fresh.clone()
            },
            10,
            one_per_delay.clone(),
        ),
        (
            "staging is not asked about",
            FinishedDeploy {
                environment: "staging".into(),
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "rolled back since it succeeded",
            FinishedDeploy {
                status: DeployStatus::RolledBack,
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "already scheduled: nothing twice",
            FinishedDeploy {
                already_scheduled: true,
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "superseded before the job saw it",
            FinishedDeploy {
                latest_success_at: Some(secs(5)),
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "a later success that was undone supersedes nothing",
            FinishedDeploy {
                latest_success_at: None,
                ..fresh.clone()
            },
            10,
            one_per_delay.clone(),
        ),
        (
            "no finish time: nothing to count from",
            FinishedDeploy {
                finished_at: None,
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "announced nowhere and subscribed nowhere",
            FinishedDeploy {
                announced_in: vec![],
                ..fresh.clone()
            },
            10,
            vec![],
        ),
        (
            "each announcing channel, in order",
            FinishedDeploy {
                announced_in: vec![ChannelId(302), ChannelId(301)],
                finished_at: Some(secs(60)),
                latest_success_at: Some(secs(60)),
                ..fresh.clone()
            },
            70,
            vec![
                (302, 0, HOUR + 60),
                (302, 1, 24 * HOUR + 60),
                (301, 0, HOUR + 60),
                (301, 1, 24 * HOUR + 60),
            ],
        ),
    ];
    for (name, deploy, now, expect) in cases {
        assert_eq!(scheduled(&deploy, &[], secs(now)), expect, "{name}");
    }
}

#[test]
fn subscribed_channels_are_asked_too_once_each() {
    let subs = [
        subscribed(300, "checkout"),
        subscribed(400, "check*"),
        subscribed(500, "billing"),
    ];
    assert_eq!(
        scheduled(&succeeded_at(t0()), &subs, secs(1)),
        vec![
            (300, 0, HOUR),
            (300, 1, 24 * HOUR),
            (400, 0, HOUR),
            (400, 1, 24 * HOUR),
        ],
        "the announcing channel first, the subscriber after, 300 once, billing's not at all"
    );
}

#[test]
fn no_delays_or_no_environments_schedule_nothing() {
    for settings in [
        CheckinSettings {
            delays: vec![],
            ..settings()
        },
        CheckinSettings {
            environments: crate::domain::production::Environments::none(),
            ..settings()
        },
    ] {
        assert!(schedule(&succeeded_at(t0()), &[], &settings, secs(1)).is_empty());
    }
}

#[test]
fn cancelling() {
    let latest = |version: &str, at: i64| {
        Some(LatestSuccess {
            version: version.into(),
            finished_at: secs(at),
        })
    };
    let pending = |status, latest_success| Pending {
        checkin_id: 1,
        deploy_status: status,
        deploy_finished_at: Some(secs(0)),
        latest_success,
    };
    use DeployStatus::*;
    let cases = [
        (
            "still the latest success",
            pending(Succeeded, latest("v1", 0)),
            None,
        ),
        (
            "rolled back",
            pending(RolledBack, latest("v0", -10)),
            Some("the deploy was rolled back"),
        ),
        (
            "failed after all",
            pending(Failed, None),
            Some("the deploy was failed"),
        ),
        (
            "a later success",
            pending(Succeeded, latest("v3", 20)),
            Some("superseded by v3"),
        ),
        (
            "rolled back and superseded: the rollback is the reason",
            pending(RolledBack, latest("v3", 20)),
            Some("the deploy was rolled back"),
        ),
        (
            "the same finish time is not later",
            pending(Succeeded, latest("v2", 0)),
            None,
        ),
        (
            "an earlier latest success",
            pending(Succeeded, latest("v0", -5)),
            None,
        ),
        (
            "no finish time: never superseded",
            Pending {
                deploy_finished_at: None,
                ..pending(Succeeded, latest("v3", 20))
            },
            None,
        ),
    ];
    for (name, pending, expect) in cases {
        assert_eq!(
            cancellation(&pending).map(|r| r.to_string()).as_deref(),
            expect,
            "{name}"
        );
    }
}

#[test]
fn opening_late_and_closing_time() {
    let started = secs(2 * HOUR);
    // (due, now) -> (late, closes at)
    let cases = [
        ("due now, bot up", secs(3 * HOUR), secs(3 * HOUR), false),
        (
            "due while up, claimed a bit later",
            secs(3 * HOUR),
            secs(3 * HOUR + 1),
            false,
        ),
        ("due the moment the bot started", started, started, false),
        ("fell due while down", secs(HOUR), started, true),
    ];
    for (name, due, now, late) in cases {
        assert_eq!(
            opening(due, now, started, &settings()),
            Opening {
                late,
                close_at: now + TimeDelta::hours(24)
            },
            "{name}"
        );
    }
}

#[test]
fn the_next_wake_is_the_earliest_event() {
    for (due, close, expect) in [
        (None, None, None),
        (Some(secs(5)), None, Some(secs(5))),
        (None, Some(secs(7)), Some(secs(7))),
        (Some(secs(9)), Some(secs(7)), Some(secs(7))),
        (Some(secs(3)), Some(secs(7)), Some(secs(3))),
    ] {
        assert_eq!(next_wake(due, close), expect);
    }
}

#[test]
fn durations_too_long_for_chrono_do_not_panic() {
    let settings = CheckinSettings {
        delays: vec![Duration::MAX],
        close_after: Duration::MAX,
        ..settings()
    };
    let scheduled = schedule(&succeeded_at(t0()), &[], &settings, secs(1));
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].due_at, DateTime::<Utc>::MAX_UTC);
    assert!(!opening(t0(), t0(), t0(), &settings).late);
}
