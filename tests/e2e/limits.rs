//! Never send what Discord will refuse: every subject's renderer, on hostile and worst-case
//! values, stays within Discord's limits on its own (`limits::check`, without the safety net of
//! `limits::enforce`), and the local Discord's independent check of the JSON body agrees. Then
//! the case that used to drop pages: a 3 000-character alert name with the on-call mention
//! configured is posted, within every limit, and the role is pinged.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use fake_discord::CHANNEL_ID;
use loopbot::config::Secret;
use loopbot::discord::limits;
use loopbot::discord::message::{edit_body, post_body};
use loopbot::discord::render;
use loopbot::domain::alert::{AlertStatus, MentionTarget};
use loopbot::domain::alert_vote::VoteCounts;
use loopbot::domain::bands::Bands;
use loopbot::domain::checkin::{Checkin, CheckinState, CheckinView};
use loopbot::domain::deploy::{Deploy, DeployStatus};
use loopbot::domain::feedback::Tally;
use loopbot::domain::incident_review::{EventKind, TimelineEntry};
use loopbot::domain::period::Period;
use loopbot::domain::summary::{Counts, Figures, Summary};
use loopbot::store::alerts::{AlertGroupView, AlertView, DeployLinkView, LinkedAlert};
use loopbot::store::{DeliverySubject, IncidentCard};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;

use crate::hostile::{hostile_text, stored_deploy};
use crate::support::app::{TestApp, PATIENCE};

/// The subject's message is within every limit as its renderer made it, the safety net leaves it
/// alone, and the local Discord would take both its post and its edit.
fn check_subject(subject: &DeliverySubject) -> Result<(), String> {
    let Some(message) = render::compose(subject) else {
        return Ok(());
    };
    if let Err(found) = limits::check(&message) {
        let found: Vec<String> = found.iter().map(ToString::to_string).collect();
        return Err(found.join("; "));
    }
    if render::render(subject).as_ref() != Some(&message) {
        return Err("the safety net changed a message within limits".into());
    }
    for body in [post_body(&message, "n1".into()), edit_body(&message)] {
        if let Some(errors) = fake_discord::limits::message_refusal(&body) {
            return Err(format!("the local Discord refuses it: {errors}"));
        }
    }
    Ok(())
}

fn long(n: usize) -> String {
    // Four bytes each and wide: counted as one character by Discord.
    "🚨".repeat(n / 2) + &"n".repeat(n - n / 2)
}

fn deploy(text: &str) -> Deploy {
    let now = Utc::now();
    Deploy {
        id: 42,
        service: text.to_owned(),
        version: text.to_owned(),
        environment: text.to_owned(),
        status: DeployStatus::Succeeded,
        deployer: Some(text.to_owned()),
        commit_sha: Some(text.to_owned()),
        commit_at: None,
        url: Some(format!("https://ci.example.com/{}", "u".repeat(1900))),
        changelog: Some(text.to_owned()),
        started_at: now - Duration::minutes(5),
        finished_at: Some(now),
    }
}

fn alert(i: usize, name: &str, status: AlertStatus) -> AlertView {
    AlertView {
        id: i as i64,
        fingerprint: format!("fp-{i}"),
        name: name.to_owned(),
        status,
        severity: name.to_owned(),
        service: Some(name.to_owned()),
        environment: Some(name.to_owned()),
        instance: Some(name.to_owned()),
        summary: Some(name.to_owned()),
        description: Some(name.to_owned()),
        labels: BTreeMap::new(),
        generator_url: Some(format!("https://g.example.com/{}", "g".repeat(1500))),
        runbook_url: Some(format!("https://r.example.com/{}", "r".repeat(1500))),
        dashboard_url: Some(format!("https://d.example.com/{}", "d".repeat(1500))),
        panel_url: Some(format!("https://p.example.com/{}", "p".repeat(1500))),
        silence_url: Some(format!("https://s.example.com/{}", "s".repeat(1500))),
        value_string: Some(name.to_owned()),
        starts_at: Utc::now() - Duration::minutes(3),
        resolved_at: (status == AlertStatus::Resolved).then(Utc::now),
    }
}

fn link(i: usize, text: &str, verdict: Option<&str>) -> DeployLinkView {
    DeployLinkView {
        deploy_id: i64::MAX - i as i64,
        service: text.to_owned(),
        version: text.to_owned(),
        environment: text.to_owned(),
        deployer: Some(text.to_owned()),
        delay_ms: 60_000,
        verdict: verdict.map(str::to_owned),
        verdict_by_name: verdict.map(|_| text.to_owned()),
        verdict_at: verdict.map(|_| Utc::now()),
    }
}

#[derive(Debug)]
struct GroupParts {
    name: String,
    texts: Vec<String>,
    alerts: Vec<(String, bool)>,
    links: Vec<(String, Option<&'static str>)>,
    mention: Option<MentionTarget>,
    firing: bool,
    acked: bool,
    silenced: bool,
}

fn group(parts: GroupParts) -> AlertGroupView {
    let text = |i: usize| parts.texts.get(i).cloned().unwrap_or_default();
    let now = Utc::now();
    let status = if parts.firing {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    let mut common_labels = BTreeMap::new();
    common_labels.insert("alertname".to_owned(), parts.name.clone());
    for (i, t) in parts.texts.iter().enumerate() {
        common_labels.insert(format!("label{i}-{t}"), t.clone());
    }
    AlertGroupView {
        id: i64::MAX,
        source: "alertmanager".into(),
        status,
        title: Some(parts.name.clone()).filter(|_| parts.texts.len().is_multiple_of(2)),
        message: Some(text(0)),
        service: Some(text(1)),
        environment: Some(text(2)),
        severity: text(3),
        common_labels,
        external_url: Some(text(4)),
        truncated_alerts: i64::MAX,
        first_fired_at: now - Duration::hours(2),
        resolved_at: (!parts.firing).then_some(now),
        acked_by: parts.acked.then_some(u64::MAX),
        acked_by_name: parts.acked.then(|| text(5)),
        acked_at: parts.acked.then_some(now),
        silenced_by_name: parts.silenced.then(|| text(6)),
        silenced_at: parts.silenced.then_some(now),
        silenced_until: parts.silenced.then_some(now + Duration::hours(1)),
        mention: parts.mention,
        silence_available: true,
        incident_id: Some(i64::MAX),
        votes: VoteCounts {
            useful: i64::MAX,
            noise: i64::MAX,
        },
        alerts: parts
            .alerts
            .iter()
            .enumerate()
            .map(|(i, (name, firing))| {
                let status = if *firing {
                    AlertStatus::Firing
                } else {
                    AlertStatus::Resolved
                };
                alert(i, name, status)
            })
            .collect(),
        links: parts
            .links
            .iter()
            .enumerate()
            .map(|(i, (t, verdict))| link(i, t, *verdict))
            .collect(),
    }
}

fn linked_alert(i: usize, name: &str) -> LinkedAlert {
    LinkedAlert {
        group_id: i as i64,
        name: name.to_owned(),
        severity: name.to_owned(),
        status: if i.is_multiple_of(2) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        },
        delay_ms: i as i64 * 1000,
        verdict: [None, Some("confirmed"), Some("rejected")][i % 3].map(str::to_owned),
    }
}

fn checkin_view(text: &str, state: CheckinState, mention: Option<u64>) -> CheckinView {
    let now = Utc::now();
    CheckinView {
        checkin: Checkin {
            id: i64::MAX,
            deploy_id: 42,
            channel_id: CHANNEL_ID,
            state,
            due_at: now,
            late: true,
            close_at: Some(now + Duration::hours(24)),
            mention_user_id: mention,
            message_id: None,
            thread_id: None,
            cancel_reason: Some(text.to_owned()),
        },
        deploy: deploy(text),
        tally: Tally {
            good: i64::MAX,
            meh: i64::MAX,
            bad: i64::MAX,
            comments: i64::MAX,
        },
        health: worst_health(now),
    }
}

/// As many health lines as a configuration may have, each as long as one can be.
fn worst_health(now: chrono::DateTime<Utc>) -> Vec<loopbot::domain::health::HealthReading> {
    use loopbot::domain::health::{HealthReading, Unavailable, NAME_MAX, QUERIES_MAX};
    (0..QUERIES_MAX)
        .map(|i| HealthReading {
            name: format!("{i}{}", "W_".repeat(NAME_MAX))
                .chars()
                .take(NAME_MAX)
                .collect(),
            higher_is_better: i % 2 == 0,
            tolerance: 0.1,
            before_at: now,
            before: if i % 3 == 0 {
                Err(Unavailable::SeveralSeries)
            } else {
                Ok(-f64::MIN_POSITIVE)
            },
            after_at: now,
            after: if i % 3 == 1 {
                Err(Unavailable::SeveralSeries)
            } else {
                Ok(f64::MIN)
            },
        })
        .collect()
}

fn summary_of_services(names: &[String]) -> String {
    let period = Period::iso_week("2026-W47", chrono_tz::Tz::UTC).unwrap();
    let counts = Counts {
        total: 9,
        succeeded: 6,
        failed: 2,
        rolled_back: 1,
        started: 0,
    };
    let figures = Figures {
        by_service: names
            .iter()
            .map(|n| (n.clone(), n.clone(), counts))
            .collect(),
        production: loopbot::domain::summary::ProductionCounts {
            deployed: 1000,
            change_failures: 200,
            probable_change_failures: 300,
            deploy_failures: 200,
        },
        recovery_time_median: Some(3_000_000.0),
        recoveries: 150,
        daily: vec![(3, 1, 0, 2); 7],
        ..Default::default()
    };
    let summary = Summary::build(
        &period,
        &figures,
        &Figures::default(),
        names.iter().map(|n| format!("{n}/*")).collect(),
        &Bands::default(),
        Utc::now(),
        vec![],
    );
    serde_json::to_string(&summary).unwrap()
}

/// An incident whose every free text is `text` (a declared title, a service, a name).
fn incident_card(text: &str, resolved: bool) -> IncidentCard {
    let at = Utc::now();
    IncidentCard {
        id: i64::MAX,
        title: text.to_owned(),
        severity: text.to_owned(),
        service: Some(text.to_owned()),
        environment: Some(text.to_owned()),
        opened_at: at,
        resolved_at: resolved.then_some(at),
        acknowledged_at: None,
        acknowledged_by: None,
        deploy_id: None,
        group_id: None,
        declared_by: Some(u64::MAX),
        declared_by_name: Some(text.to_owned()),
        thread_id: None,
    }
}

/// A timeline entry naming `text` as its actor and detail.
fn timeline_entry(text: &str) -> TimelineEntry {
    TimelineEntry {
        id: i64::MAX,
        incident_id: i64::MAX,
        kind: EventKind::FollowupDone,
        actor: Some(text.to_owned()),
        detail: Some(text.to_owned()),
        at: Utc::now(),
    }
}

// ---------------------------------------------------------------- the named worst cases

#[test]
fn the_worst_case_of_every_subject_fits_discord_limits() {
    let huge = long(3000);
    let cases: Vec<(&str, DeliverySubject)> = vec![
        (
            "a deploy of long values",
            DeliverySubject::Deploy(deploy(&huge)),
        ),
        (
            "a deploy with many linked alerts",
            DeliverySubject::DeployWithAlerts(
                deploy(&huge),
                (0..200).map(|i| linked_alert(i, &huge)).collect(),
            ),
        ),
        (
            "an alert group with many linked deploys",
            DeliverySubject::AlertGroup(group(GroupParts {
                name: huge.clone(),
                texts: vec![huge.clone(); 8],
                alerts: (0..60).map(|i| (huge.clone(), i % 3 != 0)).collect(),
                links: (0..100)
                    .map(|i| {
                        (
                            huge.clone(),
                            [None, Some("confirmed"), Some("rejected")][i % 3],
                        )
                    })
                    .collect(),
                mention: Some(MentionTarget::Role(u64::MAX)),
                firing: true,
                acked: true,
                silenced: true,
            })),
        ),
        (
            "a digest of 60 long alerts",
            DeliverySubject::Digest(
                (0..60)
                    .map(|i| {
                        DeliverySubject::AlertGroup(group(GroupParts {
                            name: format!("{i}{huge}"),
                            texts: vec![huge.clone(); 7],
                            alerts: vec![(huge.clone(), true); 3],
                            links: vec![(huge.clone(), None); 3],
                            mention: None,
                            firing: i % 2 == 0,
                            acked: false,
                            silenced: false,
                        }))
                    })
                    .collect(),
            ),
        ),
        (
            "an open check-in with long names",
            DeliverySubject::Checkin(checkin_view(&huge, CheckinState::Open, Some(u64::MAX))),
        ),
        (
            "a closed check-in with long names",
            DeliverySubject::Checkin(checkin_view(&huge, CheckinState::Closed, Some(u64::MAX))),
        ),
        (
            "a cancelled check-in's note",
            DeliverySubject::CheckinCancelled(checkin_view(&huge, CheckinState::Cancelled, None)),
        ),
        (
            "a declared incident",
            DeliverySubject::Incident(incident_card(&huge, false)),
        ),
        (
            "a resolved declared incident",
            DeliverySubject::Incident(incident_card(&huge, true)),
        ),
        (
            "an incident's timeline entry",
            DeliverySubject::IncidentEvent(timeline_entry(&huge)),
        ),
        (
            "an incident's retro prompt",
            DeliverySubject::IncidentPrompt(incident_card(&huge, true)),
        ),
        (
            "a summary of 200 services",
            DeliverySubject::Summary(summary_of_services(
                &(0..200)
                    .map(|i| format!("service-{i}-{}", long(150)))
                    .collect::<Vec<_>>(),
            )),
        ),
    ];
    for (what, subject) in &cases {
        if let Err(problem) = check_subject(subject) {
            panic!("{what}: {problem}");
        }
    }
    // The mention line with a 3 000-character name, for a role and for a user: the ping comes
    // first and survives the cut.
    for (target, ping) in [
        (MentionTarget::Role(555), "<@&555> "),
        (MentionTarget::User(777), "<@777> "),
    ] {
        let subject = DeliverySubject::AlertGroup(group(GroupParts {
            name: "N".repeat(3000),
            texts: vec!["critical".into(); 4],
            alerts: vec![("N".repeat(3000), true)],
            links: vec![],
            mention: Some(target),
            firing: true,
            acked: false,
            silenced: false,
        }));
        check_subject(&subject).unwrap();
        let message = render::compose(&subject).unwrap();
        let content = message.content.unwrap();
        assert!(content.starts_with(ping), "{content}");
        assert_eq!(content.chars().count(), 2000);
        assert!(content.ends_with("NN…"));
        assert_eq!(
            message.mentions.roles.len() + message.mentions.users.len(),
            1
        );
    }
}

// ---------------------------------------------------------------- every subject, hostile values

fn alert_group_parts() -> impl Strategy<Value = GroupParts> {
    (
        hostile_text(),
        prop::collection::vec(hostile_text(), 0..8),
        prop::collection::vec((hostile_text(), any::<bool>()), 0..61),
        prop::collection::vec(
            (
                hostile_text(),
                prop_oneof![Just(None), Just(Some("confirmed")), Just(Some("rejected"))],
            ),
            0..40,
        ),
        prop_oneof![
            Just(None),
            any::<u64>().prop_map(|id| Some(MentionTarget::Role(id))),
            any::<u64>().prop_map(|id| Some(MentionTarget::User(id))),
        ],
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(name, texts, alerts, links, mention, (firing, acked, silenced))| GroupParts {
                name,
                texts,
                alerts,
                links,
                mention,
                firing,
                acked,
                silenced,
            },
        )
}

fn any_subject() -> impl Strategy<Value = DeliverySubject> {
    prop_oneof![
        stored_deploy().prop_map(DeliverySubject::Deploy),
        (
            stored_deploy(),
            prop::collection::vec(hostile_text(), 1..120)
        )
            .prop_map(|(d, names)| DeliverySubject::DeployWithAlerts(
                d,
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| linked_alert(i, n))
                    .collect()
            )),
        alert_group_parts().prop_map(|p| DeliverySubject::AlertGroup(group(p))),
        (
            hostile_text(),
            prop_oneof![
                Just(CheckinState::Scheduled),
                Just(CheckinState::Open),
                Just(CheckinState::Closed),
                Just(CheckinState::Cancelled)
            ],
            prop::option::of(any::<u64>()),
            any::<bool>(),
        )
            .prop_map(|(text, state, mention, cancelled)| {
                let view = checkin_view(&text, state, mention);
                if cancelled {
                    DeliverySubject::CheckinCancelled(view)
                } else {
                    DeliverySubject::Checkin(view)
                }
            }),
        (hostile_text(), 0..3u8).prop_map(|(text, which)| match which {
            0 => DeliverySubject::Incident(incident_card(&text, text.len() % 2 == 0)),
            1 => DeliverySubject::IncidentEvent(timeline_entry(&text)),
            _ => DeliverySubject::IncidentPrompt(incident_card(&text, true)),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_subject_renders_within_discord_limits(subject in any_subject()) {
        check_subject(&subject).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_digest_of_up_to_60_hostile_alerts_renders_within_discord_limits(
        members in prop::collection::vec(any_subject(), 0..61)
    ) {
        check_subject(&DeliverySubject::Digest(members)).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    // Each case draws the summary's chart, which is slow in a debug build.
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn a_summary_of_up_to_200_hostile_services_renders_within_discord_limits(
        names in prop::collection::vec(hostile_text(), 0..201)
    ) {
        check_subject(&DeliverySubject::Summary(summary_of_services(&names)))
            .map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------- through the local Discord

#[tokio::test]
async fn a_3000_character_alert_name_with_the_mention_is_posted_within_limits_and_pings_the_role() {
    const ROLE: &str = "555000000000000001";
    let app = TestApp::spawn_with(|c| {
        c.alerts.alertmanager_token = Some(Secret::new("limits-am-token"));
        c.alerts.mention = MentionTarget::parse(&format!("role:{ROLE}"));
    })
    .await;
    let name = format!("Checkout{}", "Down".repeat(748));
    assert_eq!(name.chars().count(), 3000);
    let labels = json!({"alertname": name, "job": "checkout", "severity": "critical"});
    let body = json!({
        "version": "4", "groupKey": "{}:{alertname=\"long\"}", "status": "firing",
        "receiver": "loopbot", "groupLabels": {"alertname": name},
        "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "labels": labels, "annotations": {"summary": "checkout is down"},
            "startsAt": Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com/graph", "fingerprint": "fp-long",
        }],
    });
    let response = app
        .http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth("limits-am-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await,
        "the page was not posted; the local Discord refused: {:?}",
        app.discord.refused_bodies()
    );
    let sent = app.discord.message_posts(CHANNEL_ID)[0].body.clone();
    // Within every limit (the local Discord checks them all) and pinging exactly the role.
    assert_eq!(fake_discord::limits::message_refusal(&sent), None);
    assert!(app.discord.refused_bodies().is_empty());
    let content = sent["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!("<@&{ROLE}> CheckoutDown")),
        "{content}"
    );
    assert!(content.chars().count() <= 2000);
    assert_eq!(sent["allowed_mentions"]["roles"], json!([ROLE]));
    assert_eq!(sent["allowed_mentions"]["parse"], json!([]));
    let shown = app.discord.messages(CHANNEL_ID);
    assert!(shown[0]["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .contains("CheckoutDown"));
    // Delivered, not dead-lettered.
    assert_eq!(app.count("outbox where state = 'failed'").await, 0);
}
