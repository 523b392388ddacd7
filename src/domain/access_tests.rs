use super::*;

const A: u64 = 1;
const B: u64 = 2;
const RESPONDERS: u64 = 10;
const OTHER_ROLE: u64 = 11;

fn member(guild: Option<u64>) -> Actor {
    Actor {
        guild,
        ..Actor::default()
    }
}

fn with_roles(roles: &[u64]) -> Actor {
    Actor {
        roles: roles.to_vec(),
        ..member(Some(A))
    }
}

fn moderator() -> Actor {
    Actor {
        manage_messages: true,
        ..member(Some(A))
    }
}

fn admin() -> Actor {
    Actor {
        manage_server: true,
        ..member(Some(A))
    }
}

#[test]
fn the_place_and_the_server_come_first() {
    let only_a = Policy {
        guilds: vec![A],
        responder_roles: vec![],
    };
    let every = Policy::default();
    let cases = [
        (
            &only_a,
            member(None),
            Action::Help,
            Err(Refusal::DirectMessage),
        ),
        (
            &every,
            member(None),
            Action::GiveFeedback,
            Err(Refusal::DirectMessage),
        ),
        (
            &only_a,
            member(Some(B)),
            Action::Help,
            Err(Refusal::OtherServer),
        ),
        // An admin of another server is still in another server.
        (
            &only_a,
            Actor {
                manage_server: true,
                ..member(Some(B))
            },
            Action::Subscribe,
            Err(Refusal::OtherServer),
        ),
        (&only_a, member(Some(A)), Action::Help, Ok(())),
        (&every, member(Some(B)), Action::Help, Ok(())),
    ];
    for (policy, actor, action, expected) in cases {
        assert_eq!(
            decide(policy, &actor, action),
            expected,
            "{actor:?} {action:?}"
        );
    }
    assert!(only_a.serves(A) && !only_a.serves(B));
    assert!(every.serves(A) && every.serves(B));
}

#[test]
fn each_action_needs_what_the_table_says() {
    let roles = Policy {
        guilds: vec![],
        responder_roles: vec![RESPONDERS],
    };
    let no_roles = Policy::default();
    let responder = Err(Refusal::NeedsResponder(vec![RESPONDERS]));
    let moderator_needed = Err(Refusal::NeedsResponder(vec![]));
    use Action::*;
    let cases = [
        // Feedback and reading: every member.
        (&roles, member(Some(A)), GiveFeedback, Ok(())),
        (&roles, member(Some(A)), FeedbackSummary, Ok(())),
        (&roles, member(Some(A)), LinkOwnDeployerName, Ok(())),
        (&roles, member(Some(A)), ListAlerts, Ok(())),
        // A noise vote is an opinion: every member, no responder role needed.
        (&roles, member(Some(A)), VoteAlert, Ok(())),
        (&no_roles, member(Some(A)), VoteAlert, Ok(())),
        // Follow-ups: listed by anyone; closing passes this gate for anyone (the owner rule is
        // `incident_review::may_close_followup`).
        (&roles, member(Some(A)), ListFollowups, Ok(())),
        (&roles, member(Some(A)), CloseFollowup, Ok(())),
        // Manage Server: admins only, whatever their roles.
        (
            &roles,
            with_roles(&[RESPONDERS]),
            Subscribe,
            Err(Refusal::NeedsManageServer),
        ),
        (
            &roles,
            moderator(),
            Unsubscribe,
            Err(Refusal::NeedsManageServer),
        ),
        (&roles, admin(), Subscribe, Ok(())),
        (
            &roles,
            member(Some(A)),
            TakeDeployerName,
            Err(Refusal::NeedsManageServer),
        ),
        (&roles, admin(), TakeDeployerName, Ok(())),
        // Responders, roles configured: the role and nothing else.
        (&roles, with_roles(&[RESPONDERS]), Acknowledge, Ok(())),
        (
            &roles,
            with_roles(&[OTHER_ROLE, RESPONDERS]),
            Silence,
            Ok(()),
        ),
        (
            &roles,
            with_roles(&[OTHER_ROLE]),
            JudgeCause,
            responder.clone(),
        ),
        (&roles, member(Some(A)), RequestCheckin, responder.clone()),
        (&roles, with_roles(&[RESPONDERS]), MarkRolledBack, Ok(())),
        (&roles, member(Some(A)), MarkRolledBack, responder.clone()),
        (&roles, with_roles(&[RESPONDERS]), DeclareIncident, Ok(())),
        (&roles, member(Some(A)), DeclareIncident, responder.clone()),
        (&roles, with_roles(&[RESPONDERS]), ReviewIncident, Ok(())),
        (&roles, member(Some(A)), ReviewIncident, responder.clone()),
        (&roles, admin(), Acknowledge, responder.clone()),
        (&roles, moderator(), Silence, responder),
        // Responders, no roles configured: Manage Server or Manage Messages.
        (
            &no_roles,
            with_roles(&[RESPONDERS]),
            Acknowledge,
            moderator_needed.clone(),
        ),
        (&no_roles, member(Some(A)), RequestCheckin, moderator_needed),
        (&no_roles, moderator(), Silence, Ok(())),
        (&no_roles, moderator(), MarkRolledBack, Ok(())),
        (&no_roles, admin(), JudgeCause, Ok(())),
    ];
    for (policy, actor, action, expected) in cases {
        assert_eq!(
            decide(policy, &actor, action),
            expected,
            "{actor:?} {action:?}"
        );
    }
}

#[test]
fn refusals_name_what_is_needed() {
    assert!(Refusal::NeedsResponder(vec![RESPONDERS])
        .to_string()
        .contains("<@&10>"));
    assert!(Refusal::NeedsResponder(vec![])
        .to_string()
        .contains("Manage Server or Manage Messages"));
    assert!(Refusal::NeedsManageServer
        .to_string()
        .contains("Manage Server"));
    assert!(Refusal::DirectMessage
        .to_string()
        .contains("direct messages"));
    assert!(Refusal::OtherServer
        .to_string()
        .contains("LOOPBOT_GUILD_IDS"));
}

#[test]
fn a_button_must_name_what_its_message_shows() {
    let group = |id| Shown {
        kind: "alert_group",
        id,
    };
    let checkin = |id| Shown {
        kind: "checkin",
        id,
    };
    assert_eq!(proves_target(Some(group(7)), group(7)), Ok(()));
    for (shown, claimed) in [
        (Some(group(7)), group(8)),
        (Some(checkin(7)), group(7)),
        (None, group(7)),
    ] {
        assert_eq!(
            proves_target(shown, claimed),
            Err(Refusal::NotThisMessage),
            "{shown:?} {claimed:?}"
        );
    }
}

#[test]
fn the_web_dashboard_opens_for_the_token_or_a_signed_unexpired_link_of_a_served_server() {
    use chrono::TimeZone;
    let now = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let only_a = Policy {
        guilds: vec![A],
        responder_roles: vec![],
    };
    let grant = Grant::issue(A, 7, now);
    assert_eq!(grant.expires, now + chrono::Duration::hours(12));
    let link = |grant, signed| WebCredential::Link { grant, signed };
    let at = |hours: i64| now + chrono::Duration::hours(hours);
    let cases = [
        (WebCredential::None, now, Err(WebRefusal::NoCredential)),
        (
            WebCredential::ApiToken { valid: true },
            now,
            Ok(Reader::Operator),
        ),
        (
            WebCredential::ApiToken { valid: false },
            now,
            Err(WebRefusal::BadToken),
        ),
        (WebCredential::Malformed, now, Err(WebRefusal::Forged)),
        (link(grant, true), now, Ok(Reader::Server(GuildId(A)))),
        (link(grant, true), at(11), Ok(Reader::Server(GuildId(A)))),
        (link(grant, false), now, Err(WebRefusal::Forged)),
        (link(grant, true), at(12), Err(WebRefusal::Expired)),
        (
            link(Grant::issue(B, 7, now), true),
            now,
            Err(WebRefusal::OtherServer),
        ),
    ];
    for (credential, when, expected) in cases {
        assert_eq!(
            decide_web(&only_a, credential, when),
            expected,
            "{credential:?} at {when}"
        );
    }
    assert_eq!(WebRefusal::Expired.status(), 403);
    assert_eq!(WebRefusal::Forged.status(), 403);
    assert_eq!(WebRefusal::NoCredential.status(), 401);
    // The signed text names every field, so no two grants share it.
    assert_ne!(
        Grant::issue(A, 7, now).signed_text(),
        Grant::issue(A, 8, now).signed_text()
    );
    assert_eq!(
        Action::OpenDashboard.need(),
        Need::Member,
        "every member may open their server's dashboard"
    );
}
