//! The alert group rules as tables of cases: no database.

use chrono::TimeZone;

use super::*;
use crate::domain::alert::RawGenericAlert;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn policy() -> AlertPolicy {
    AlertPolicy {
        incident_severity: Severity::new(Some("critical")),
        mention: Some(MentionTarget::Role(5)),
        mention_severity: Severity::new(Some("error")),
        correlation_window: chrono::Duration::hours(1),
        service_labels: vec!["service".into()],
        alertmanager_configured: true,
    }
}

/// A generic notification about alert `id` (fingerprint and group key).
fn notification(id: &str, status: &str, starts: Option<i64>) -> AlertNotification {
    let mut raw = serde_json::json!({
        "service": "checkout", "name": "Errors", "severity": "critical", "status": status, "id": id,
    });
    if let Some(minute) = starts {
        raw["starts_at"] = at(minute).to_rfc3339().into();
    }
    let raw: RawGenericAlert = serde_json::from_value(raw).unwrap();
    AlertNotification::from_generic(&raw).unwrap()
}

/// The alert as storing `notification(id, status, starts)` leaves it.
fn stored_alert(row: i64, id: &str, status: AlertStatus, starts: i64) -> StoredAlert {
    let n = notification(id, status.as_str(), Some(starts));
    let e = &n.alerts[0];
    StoredAlert {
        id: row,
        fingerprint: e.fingerprint.clone(),
        name: e.name.clone(),
        status,
        severity: e.severity.clone(),
        service: e.service.clone(),
        environment: e.environment.clone(),
        starts_at: at(starts),
        resolved_at: (status == AlertStatus::Resolved).then(|| at(starts + 5)),
        labels: e.labels.clone(),
        annotations: e.annotations.clone(),
        summary: None,
    }
}

fn group(status: AlertStatus, alerts: Vec<StoredAlert>) -> StoredGroup {
    StoredGroup {
        id: 7,
        status,
        truncated_alerts: 0,
        common_labels: notification("a", "firing", None).common_labels,
        ack: None,
        alerts,
    }
}

#[test]
fn which_episode_a_notification_belongs_to() {
    use AlertStatus::{Firing, Resolved};
    let firing_a = || group(Firing, vec![stored_alert(1, "a", Firing, 0)]);
    let resolved_a = || group(Resolved, vec![stored_alert(1, "a", Resolved, 0)]);
    // (what is stored, what arrives, the episode)
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<StoredGroup>, AlertNotification, Episode)> = vec![
        ("first notification", None, notification("a", "firing", Some(0)), Episode::Start),
        ("first, resolved", None, notification("a", "resolved", Some(0)), Episode::Start),
        ("repeat while firing", Some(firing_a()), notification("a", "firing", Some(0)), Episode::Continue(7)),
        ("new alert while firing", Some(firing_a()), notification("b", "firing", Some(9)), Episode::Continue(7)),
        ("resolve", Some(firing_a()), notification("a", "resolved", Some(0)), Episode::Continue(7)),
        ("fires again after resolving", Some(resolved_a()), notification("a", "firing", Some(30)), Episode::Start),
        ("fires again, no start given", Some(resolved_a()), notification("a", "firing", None), Episode::Start),
        ("another alert fires after resolving", Some(resolved_a()), notification("b", "firing", Some(0)), Episode::Start),
        ("late retry of the old firing", Some(resolved_a()), notification("a", "firing", Some(0)), Episode::Continue(7)),
        ("late retry of an earlier start", Some(resolved_a()), notification("a", "firing", Some(-5)), Episode::Continue(7)),
        ("resolve repeated after resolving", Some(resolved_a()), notification("a", "resolved", Some(0)), Episode::Continue(7)),
    ];
    for (case, latest, n, expect) in cases {
        assert_eq!(episode(latest.as_ref(), &n), expect, "{case}");
        assert_eq!(plan(latest.as_ref(), &n, at(60)).episode, expect, "{case}");
    }
}

#[test]
fn what_a_notification_does_to_each_alert() {
    use AlertStatus::{Firing, Resolved};
    let now = at(60);
    let firing_a = || group(Firing, vec![stored_alert(1, "a", Firing, 0)]);
    let resolved_a = || group(Resolved, vec![stored_alert(1, "a", Resolved, 0)]);
    let mut new_labels = notification("a", "firing", Some(0));
    new_labels.alerts[0]
        .labels
        .insert("pod".into(), "web-2".into());
    let mut new_summary = notification("a", "firing", Some(0));
    new_summary.alerts[0].summary = Some("worse".into());
    let mut new_common = notification("a", "firing", Some(0));
    new_common.common_labels.insert("team".into(), "pay".into());
    let mut truncated = notification("a", "firing", Some(0));
    truncated.truncated_alerts = 3;
    let mut refire_same_episode = group(Firing, vec![stored_alert(1, "a", Resolved, 0)]);
    refire_same_episode
        .alerts
        .push(stored_alert(2, "b", Firing, 0));
    // (case, stored, arriving, changed, [(transition, status, starts_at)])
    type Expect = Vec<(Transition, AlertStatus, DateTime<Utc>)>;
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<StoredGroup>, AlertNotification, bool, Expect)> = vec![
        ("new alert", None, notification("a", "firing", Some(0)), true, vec![(Transition::New, Firing, at(0))]),
        ("new, no start: heard now", None, notification("a", "firing", None), true, vec![(Transition::New, Firing, now)]),
        ("new and already resolved", None, notification("a", "resolved", Some(0)), true, vec![(Transition::New, Resolved, at(0))]),
        ("a repeat changes nothing", Some(firing_a()), notification("a", "firing", Some(0)), false, vec![]),
        ("a repeat without start changes nothing", Some(firing_a()), notification("a", "firing", None), false, vec![]),
        ("resolves", Some(firing_a()), notification("a", "resolved", Some(0)), true, vec![(Transition::Resolve, Resolved, at(0))]),
        ("a repeated resolve changes nothing", Some(resolved_a()), notification("a", "resolved", Some(0)), false, vec![]),
        ("a late firing never reopens", Some(resolved_a()), notification("a", "firing", Some(0)), false, vec![]),
        ("labels changed", Some(firing_a()), new_labels, true, vec![(Transition::Details, Firing, at(0))]),
        ("summary changed", Some(firing_a()), new_summary, true, vec![(Transition::Details, Firing, at(0))]),
        ("common labels changed", Some(firing_a()), new_common, true, vec![]),
        ("truncated count changed", Some(firing_a()), truncated, true, vec![]),
        ("re-fires within a firing episode", Some(refire_same_episode.clone()), notification("a", "firing", Some(20)), true, vec![(Transition::Refire, Firing, at(20))]),
        ("re-fires, no start: now", Some(refire_same_episode), notification("a", "firing", None), true, vec![(Transition::Refire, Firing, now)]),
        ("fires again after the group resolved: a new row", Some(resolved_a()), notification("a", "firing", Some(30)), true, vec![(Transition::New, Firing, at(30))]),
    ];
    for (case, latest, n, changed, expect) in cases {
        let plan = plan(latest.as_ref(), &n, now);
        assert_eq!(plan.changed, changed, "{case}");
        let got: Expect = plan
            .writes
            .iter()
            .map(|w| (w.transition, w.status, w.starts_at))
            .collect();
        assert_eq!(got, expect, "{case}");
    }
}

#[test]
fn state_changes_and_starts_follow_the_transition() {
    let n = notification("a", "resolved", Some(0));
    let write = |transition, status, resolved_at| AlertWrite {
        id: None,
        event: &n.alerts[0],
        transition,
        status,
        starts_at: at(0),
        resolved_at,
    };
    use AlertStatus::{Firing, Resolved};
    #[rustfmt::skip]
    let cases = [
        (write(Transition::New, Firing, None), vec![(Firing, at(0))], Some(at(0))),
        (write(Transition::New, Resolved, Some(at(5))), vec![(Firing, at(0)), (Resolved, at(5))], Some(at(0))),
        (write(Transition::Refire, Firing, None), vec![(Firing, at(0))], Some(at(0))),
        (write(Transition::Resolve, Resolved, Some(at(5))), vec![(Resolved, at(5))], None),
        (write(Transition::Details, Firing, None), vec![], None),
    ];
    for (w, changes, started) in cases {
        assert_eq!(w.state_changes(), changes, "{:?}", w.transition);
        assert_eq!(w.started_at(), started, "{:?}", w.transition);
    }
    // A resolve without an end time resolves when loopbot heard of it.
    let latest = group(AlertStatus::Firing, vec![stored_alert(1, "a", Firing, 0)]);
    let plan = plan(Some(&latest), &n, at(42));
    assert_eq!(plan.writes[0].resolved_at, Some(at(42)));
}

#[test]
fn times_compare_as_stored_to_the_millisecond() {
    // Stored 10:00:00.000 from a start of 10:00:00.000900: the same start again is a repeat.
    let precise = at(0) + chrono::Duration::microseconds(900);
    let mut n = notification("a", "firing", Some(0));
    n.alerts[0].starts_at = Some(precise);
    let latest = group(
        AlertStatus::Resolved,
        vec![stored_alert(1, "a", AlertStatus::Resolved, 0)],
    );
    let plan = plan(Some(&latest), &n, at(60));
    assert_eq!(plan.episode, Episode::Continue(7));
    assert!(!plan.changed);
}

#[test]
fn the_group_state_derives_from_its_members() {
    use AlertStatus::{Firing, Resolved};
    let n = notification("a", "firing", Some(0));
    let member = |id: &str, status, severity: &str, starts| {
        let mut a = stored_alert(0, id, status, starts);
        a.severity = Severity::new(Some(severity));
        a
    };
    // (members, status, severity, first fired, resolved at, mention)
    type Case = (
        Vec<StoredAlert>,
        AlertStatus,
        &'static str,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        bool,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (vec![member("a", Firing, "critical", 0)], Firing, "critical", at(0), None, true),
        (vec![member("a", Firing, "warning", 3), member("b", Resolved, "critical", 1)], Firing, "critical", at(1), None, false),
        (vec![member("a", Firing, "error", 3), member("b", Firing, "info", 1)], Firing, "error", at(1), None, true),
        (vec![member("a", Resolved, "critical", 0), member("b", Resolved, "warning", 10)], Resolved, "critical", at(0), Some(at(15)), false),
        (vec![], Resolved, "none", at(60), Some(at(60)), false),
    ];
    for (members, status, severity, first, resolved, mention) in cases {
        let g = group_state(&n, &members, &policy(), at(60));
        assert_eq!(g.status, status, "{members:?}");
        assert_eq!(g.severity.as_str(), severity, "{members:?}");
        assert_eq!(g.first_fired_at, first, "{members:?}");
        assert_eq!(g.resolved_at, resolved, "{members:?}");
        assert_eq!(g.mention.is_some(), mention, "{members:?}");
        assert_eq!(g.service.as_deref(), Some("checkout"));
        assert!(
            !g.silence_available,
            "only Alertmanager alerts can be silenced"
        );
    }
    let mut from_am = n.clone();
    from_am.source = AlertSource::Alertmanager;
    assert!(group_state(&from_am, &[], &policy(), at(0)).silence_available);
    let unconfigured = AlertPolicy {
        alertmanager_configured: false,
        ..policy()
    };
    assert!(!group_state(&from_am, &[], &unconfigured, at(0)).silence_available);
}

#[test]
fn queued_channels_are_the_routed_ones_then_those_showing_it() {
    let c = ChannelId;
    let cases = [
        (vec![c(1), c(2)], vec![], vec![c(1), c(2)]),
        (vec![c(1)], vec![c(3), c(1)], vec![c(1), c(3)]),
        (vec![], vec![c(3)], vec![c(3)]),
    ];
    for (routed, showing, expect) in cases {
        assert_eq!(channels_to_queue(routed, showing), expect);
    }
}
