//! The incident rules as tables of cases: no database.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::domain::alert::Severity;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

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

fn member(id: i64, status: AlertStatus, severity: &str, starts: i64) -> StoredAlert {
    StoredAlert {
        id,
        fingerprint: format!("f{id}"),
        name: format!("Alert{id}"),
        status,
        severity: Severity::new(Some(severity)),
        service: (id != 2).then(|| "cart".to_owned()),
        environment: None,
        starts_at: at(starts),
        resolved_at: None,
        labels: Default::default(),
        annotations: Default::default(),
        summary: None,
    }
}

fn group(status: AlertStatus) -> GroupState {
    GroupState {
        status,
        service: Some("shop".into()),
        environment: Some("production".into()),
        severity: Severity::new(Some("critical")),
        first_fired_at: at(0),
        resolved_at: (status == AlertStatus::Resolved).then(|| at(30)),
        mention: None,
        silence_available: false,
    }
}

fn link(deploy_id: i64, delay_ms: i64, verdict: Option<Verdict>) -> StoredLink {
    StoredLink {
        deploy_id,
        delay_ms,
        verdict,
    }
}

#[test]
fn which_deploy_an_incident_is_blamed_on() {
    use Verdict::{Confirmed, Rejected};
    let cases = [
        (vec![], None),
        (vec![link(1, 500, None), link(2, 100, None)], Some(2)),
        (
            vec![link(1, 500, None), link(2, 100, Some(Rejected))],
            Some(1),
        ),
        (
            vec![link(1, 500, Some(Confirmed)), link(2, 100, Some(Rejected))],
            Some(1),
        ),
        (vec![link(2, 100, Some(Rejected))], None),
        // A tie goes to the link loaded first.
        (vec![link(3, 100, None), link(2, 100, None)], Some(3)),
    ];
    for (links, expect) in cases {
        assert_eq!(blamed_deploy(&links), expect, "{links:?}");
    }
}

#[test]
fn when_an_incident_opens_and_what_it_says() {
    use AlertStatus::{Firing, Resolved};
    let ack = Ack {
        by: Some(9),
        at: at(1),
    };
    let links = [link(4, 100, None)];
    // (members, the opening alert's id)
    let cases = [
        (vec![member(1, Firing, "warning", 0)], None),
        (vec![member(1, Resolved, "critical", 0)], None),
        (vec![member(1, Firing, "critical", 5)], Some(1)),
        (
            vec![
                member(1, Firing, "critical", 5),
                member(2, Firing, "fatal", 3),
            ],
            Some(2),
        ),
        (
            vec![
                member(1, Firing, "critical", 3),
                member(3, Firing, "critical", 3),
            ],
            Some(1),
        ),
        (
            vec![
                member(1, Firing, "warning", 0),
                member(3, Firing, "critical", 9),
            ],
            Some(3),
        ),
    ];
    for (members, opener) in cases {
        let change = decide(None, &members, &group(Firing), &links, Some(ack), &policy());
        match (change, opener) {
            (IncidentChange::None, None) => {}
            (IncidentChange::Open(incident), Some(id)) => {
                let a = members.iter().find(|a| a.id == id).unwrap();
                assert_eq!(incident.alert_id, id);
                assert_eq!(incident.title, a.name);
                assert_eq!(incident.severity, a.severity.as_str());
                assert_eq!(incident.opened_at, a.starts_at);
                assert_eq!(incident.ack, Some(ack), "an earlier ack counts");
                assert_eq!(incident.deploy_id, Some(4));
                // The alert's own service, else the group's; the group's environment.
                let service = if id == 2 { "shop" } else { "cart" };
                assert_eq!(incident.service.as_deref(), Some(service));
                assert_eq!(incident.environment.as_deref(), Some("production"));
            }
            (change, opener) => panic!("{members:?}: {change:?}, expected opener {opener:?}"),
        }
    }
}

#[test]
fn an_open_incident_follows_its_group() {
    use AlertStatus::{Firing, Resolved};
    let members = [member(1, Firing, "critical", 0)];
    let links = [link(4, 100, None)];
    let incident = |deploy_id| StoredIncident { id: 1, deploy_id };
    // (stored deploy, group status, resolved_at, deploy after)
    let cases = [
        (None, Resolved, Some(at(30)), Some(4)),
        (Some(8), Resolved, Some(at(30)), Some(8)),
        // Firing again within the episode: open again.
        (Some(8), Firing, None, Some(8)),
    ];
    for (deploy, status, resolved_at, deploy_after) in cases {
        let change = decide(
            Some(incident(deploy)),
            &members,
            &group(status),
            &links,
            None,
            &policy(),
        );
        assert_eq!(
            change,
            IncidentChange::Update {
                resolved_at,
                deploy_id: deploy_after
            }
        );
    }
}

#[test]
fn a_verdict_names_or_clears_the_cause() {
    use Verdict::{Confirmed, Rejected};
    let cases = [
        (None, 4, Confirmed, Some(4)),
        (Some(3), 4, Confirmed, Some(4)),
        (Some(4), 4, Rejected, None),
        (Some(3), 4, Rejected, Some(3)),
        (None, 4, Rejected, None),
    ];
    for (current, deploy, verdict, expect) in cases {
        assert_eq!(
            deploy_after_verdict(current, deploy, verdict),
            expect,
            "{current:?} {verdict:?}"
        );
    }
}
