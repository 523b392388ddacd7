use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_764_000_000 + seconds, 0).unwrap()
}

fn send_messages() -> Refusal {
    Refusal::ChannelUnreachable(Unreachable::MissingPermission(Some("Send Messages".into())))
}

fn held(since: i64, reason: &str, retry_s: u64) -> Hold {
    Hold {
        since: at(since),
        reason: reason.into(),
        missing: Some("Send Messages".into()),
        retry_in: Duration::from_secs(retry_s),
    }
}

#[test]
fn each_refusal_has_one_decision() {
    let policy = RefusalPolicy::default();
    let hold = |since, reason: &str, retry_s, changed| Decision::Hold {
        hold: Hold {
            missing: (reason == "missing Send Messages").then(|| "Send Messages".to_owned()),
            ..held(since, reason, retry_s)
        },
        changed,
    };
    let seven_days = 7 * 24 * 3600;
    // (case, refusal, editing, current hold, now in seconds, expected decision)
    type Case = (&'static str, Refusal, bool, Option<Hold>, i64, Decision);
    let cases: Vec<Case> = vec![
        (
            "edit of a deleted message",
            Refusal::UnknownMessage,
            true,
            None,
            0,
            Decision::Repost,
        ),
        (
            "post answered Unknown Message",
            Refusal::UnknownMessage,
            false,
            None,
            0,
            Decision::DeadLetter,
        ),
        (
            "a body Discord refuses",
            Refusal::Other,
            false,
            None,
            0,
            Decision::DeadLetter,
        ),
        (
            "an edit Discord refuses",
            Refusal::Other,
            true,
            None,
            0,
            Decision::DeadLetter,
        ),
        (
            "token rejected",
            Refusal::TokenRejected,
            false,
            None,
            0,
            Decision::Pause {
                retry_in: Duration::from_secs(60),
            },
        ),
        (
            "first refusal holds for 1 s",
            send_messages(),
            false,
            None,
            5,
            hold(5, "missing Send Messages", 1, true),
        ),
        (
            "the next doubles, same spell",
            send_messages(),
            false,
            Some(held(5, "missing Send Messages", 1)),
            6,
            hold(5, "missing Send Messages", 2, false),
        ),
        (
            "doubling stops at 10 min",
            send_messages(),
            false,
            Some(held(5, "missing Send Messages", 400)),
            900,
            hold(5, "missing Send Messages", 600, false),
        ),
        (
            "a new reason is a change worth a log line",
            Refusal::ChannelUnreachable(Unreachable::UnknownChannel),
            true,
            Some(held(5, "missing Send Messages", 4)),
            10,
            hold(5, "the channel no longer exists", 8, true),
        ),
        (
            "just under a week: still held",
            send_messages(),
            false,
            Some(held(0, "missing Send Messages", 600)),
            seven_days - 1,
            hold(0, "missing Send Messages", 600, false),
        ),
        (
            "a week unreachable: give up",
            send_messages(),
            false,
            Some(held(0, "missing Send Messages", 600)),
            seven_days,
            Decision::GiveUp { since: at(0) },
        ),
    ];
    for (name, refusal, editing, current, now, expect) in cases {
        assert_eq!(
            decide(&refusal, editing, current.as_ref(), at(now), &policy),
            expect,
            "{name}"
        );
    }
}

#[test]
fn the_warning_names_what_is_missing() {
    let cases = [
        (Unreachable::MissingAccess, "missing View Channel"),
        (
            Unreachable::MissingPermission(Some("Send Messages".into())),
            "missing Send Messages",
        ),
        (Unreachable::MissingPermission(None), "missing permissions"),
        (Unreachable::UnknownChannel, "the channel no longer exists"),
    ];
    for (why, text) in cases {
        assert_eq!(why.describe(), text);
    }
}

#[test]
fn a_clock_that_went_back_does_not_give_up() {
    let policy = RefusalPolicy::default();
    let decision = decide(
        &send_messages(),
        false,
        Some(&held(100, "missing Send Messages", 1)),
        at(0),
        &policy,
    );
    assert!(matches!(decision, Decision::Hold { .. }), "{decision:?}");
}
