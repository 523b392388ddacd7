use chrono::{NaiveDate, TimeZone, Utc};

use super::*;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, h, m, s).unwrap()
}

#[test]
fn kinds_read_back_as_stored() {
    for kind in EventKind::ALL {
        assert_eq!(EventKind::from_stored(kind.as_str()), Some(kind));
    }
    assert_eq!(EventKind::from_stored("exploded"), None);
}

#[test]
fn entries_read_with_who_what_and_when() {
    let entry = |kind, actor: Option<&str>, detail: Option<&str>| TimelineEntry {
        id: 1,
        incident_id: 1,
        kind,
        actor: actor.map(str::to_owned),
        detail: detail.map(str::to_owned),
        at: at(14, 3, 9),
    };
    for (given, text) in [
        (
            entry(EventKind::Fired, None, Some("HighErrorRate (critical)")),
            "🔥 Fired: HighErrorRate (critical)",
        ),
        (
            entry(EventKind::Acknowledged, Some("Alice"), None),
            "👀 Acknowledged by Alice",
        ),
        (
            entry(
                EventKind::DeployLinked,
                Some("Bob"),
                Some("#3 checkout v1 → production"),
            ),
            "🚀 Linked deploy by Bob: #3 checkout v1 → production",
        ),
        (entry(EventKind::Resolved, None, Some("")), "✅ Resolved"),
    ] {
        assert_eq!(given.text(), text);
    }
    assert_eq!(
        entry(EventKind::Silenced, Some("Bob"), None).line(),
        "2026-12-03 14:03:09 UTC · 🔕 Silenced by Bob"
    );
    assert_eq!(
        resolved_detail(at(14, 0, 0), at(14, 12, 30)),
        "after 12m 30s"
    );
    assert_eq!(
        deploy_detail(3, "checkout", "v1.4.2", "production"),
        "#3 checkout v1.4.2 → production"
    );
}

#[test]
fn the_retro_needs_three_answers_within_their_lengths() {
    let retro = Retro::parse(" db failover ", "the runbook", "an alert on replica lag").unwrap();
    assert_eq!(retro.what_happened, "db failover");
    for (a, b, c, field) in [
        ("", "x", "x", "what happened"),
        ("x", "  ", "x", "what helped"),
        ("x", "x", "", "what would have caught it sooner"),
    ] {
        assert_eq!(Retro::parse(a, b, c).unwrap_err().field, field);
    }
    let long = "é".repeat(WHAT_HAPPENED_MAX + 1);
    let error = Retro::parse(&long, "x", "x").unwrap_err();
    assert!(error.reason.contains("at most 1500"), "{error}");
    assert!(Retro::parse(&"é".repeat(WHAT_HAPPENED_MAX), "x", "x").is_ok());
}

#[test]
fn an_owner_is_a_person_when_the_form_names_one_else_text() {
    for (raw, owner) in [
        (
            "<@400000000000000077>",
            Owner::User(400_000_000_000_000_077),
        ),
        (
            "<@!400000000000000077>",
            Owner::User(400_000_000_000_000_077),
        ),
        ("400000000000000077", Owner::User(400_000_000_000_000_077)),
        ("team-payments", Owner::Text("team-payments".into())),
        ("@alice", Owner::Text("@alice".into())),
        ("12", Owner::Text("12".into())),
        ("<@abc>", Owner::Text("<@abc>".into())),
    ] {
        assert_eq!(Owner::parse(raw), Ok(owner), "{raw}");
    }
    assert_eq!(Owner::parse(" ").unwrap_err().field, "owner");
    assert!(Owner::parse(&"o".repeat(OWNER_MAX + 1)).is_err());
    assert_eq!(Owner::User(5).display(Some("Carol")), "Carol");
    assert_eq!(Owner::User(5).to_string(), "<@5>");
}

#[test]
fn a_followup_has_what_an_owner_and_maybe_a_due_date_not_in_the_past() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let f = NewFollowup::parse("add replica lag alert", "team-db", "2026-12-10", today).unwrap();
    assert_eq!(f.due, NaiveDate::from_ymd_opt(2026, 12, 10));
    assert_eq!(NewFollowup::parse("x", "y", " ", today).unwrap().due, None);
    assert!(NewFollowup::parse("x", "y", "2026-12-03", today).is_ok());
    for (what, owner, due, field) in [
        ("", "y", "", "what"),
        ("x", "", "", "owner"),
        ("x", "y", "next week", "due date"),
        ("x", "y", "2026-12-02", "due date"),
    ] {
        assert_eq!(
            NewFollowup::parse(what, owner, due, today)
                .unwrap_err()
                .field,
            field,
            "{what:?} {owner:?} {due:?}"
        );
    }
    assert!(NewFollowup::parse(&"w".repeat(FOLLOWUP_WHAT_MAX + 1), "y", "", today).is_err());
}

#[test]
fn responders_and_the_owner_close_a_followup_nobody_else() {
    use FollowupState::*;
    for (responder, user, owner, state, expect) in [
        (true, 1, None, Open, Ok(())),
        (false, 7, Some(7), Open, Ok(())),
        (false, 8, Some(7), Open, Err(CloseRefusal::NotOwner)),
        (false, 8, None, Open, Err(CloseRefusal::NotOwner)),
        (true, 1, Some(7), Done, Err(CloseRefusal::AlreadyDone)),
        (false, 7, Some(7), Done, Err(CloseRefusal::AlreadyDone)),
    ] {
        assert_eq!(may_close_followup(responder, user, owner, state), expect);
    }
}

#[test]
fn declared_titles_ages_and_medians() {
    assert_eq!(declared_title("  payments down ").unwrap(), "payments down");
    assert!(declared_title("").is_err());
    assert!(declared_title(&"t".repeat(TITLE_MAX + 1)).is_err());
    assert_eq!(
        age_days(at(0, 0, 0) - chrono::Duration::days(8), at(0, 0, 0)),
        8
    );
    assert_eq!(age_days(at(1, 0, 0), at(0, 0, 0)), 0);
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
}
