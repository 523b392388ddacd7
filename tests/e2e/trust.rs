//! Who may act (issue 14): responders only on alerts and `/checkin`, buttons that must name what
//! their message shows, the servers loopbot serves (others are left and refused, DMs refused),
//! deployer links that cannot be taken silently, and `/checkin` at most once per 10 minutes.
//! Each through the local Discord; a local recording Alertmanager sees every silence request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_discord::{
    ADMIN_USER_ID, APP_ID, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, MANAGE_MESSAGES, OTHER_CHANNEL_ID,
    OTHER_GUILD_CHANNEL_ID, OTHER_GUILD_ID, PLAIN_PERMISSIONS, PLAIN_USER_ID, RESPONDER_ROLE_ID,
    RESPONDER_USER_ID,
};
use loopbot::config::{Config, Secret};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::support::app::{choice, command, deploy, BinaryApp, TestApp, PATIENCE};

const AM_TOKEN: &str = "trust-am-token-0123456789";

/// A local Alertmanager that records every silence request and creates it.
struct RecordingAlertmanager {
    url: String,
    silences: Arc<Mutex<Vec<Value>>>,
}

impl RecordingAlertmanager {
    async fn start() -> Self {
        let silences = Arc::new(Mutex::new(Vec::new()));
        let seen = silences.clone();
        let app = axum::Router::new().route(
            "/api/v2/silences",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body);
                    axum::Json(json!({ "silenceID": "silence-1" }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, silences }
    }

    fn requests(&self) -> usize {
        self.silences.lock().unwrap().len()
    }
}

fn with_alertmanager(url: String, roles: Vec<u64>) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.alerts.alertmanager_token = Some(Secret::new(AM_TOKEN));
        c.alerts.alertmanager_url = Some(url);
        c.responder_roles = roles;
    }
}

/// Posts one Alertmanager group (its `alertname` names it) and returns its message once posted.
async fn alert_message(app: &TestApp, name: &str) -> Value {
    let body = json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"), "status": "firing",
        "receiver": "loopbot", "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "job": "checkout", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://am.example.com", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "job": "checkout", "severity": "critical"},
            "annotations": {"summary": "errors"},
            "startsAt": "2026-11-24T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com/graph", "fingerprint": format!("fp-{name}")
        }]
    });
    let status = app
        .http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth(AM_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    let find = |d: &fake_discord::FakeDiscord| {
        d.messages(CHANNEL_ID)
            .into_iter()
            .find(|m| m["embeds"].to_string().contains(name))
    };
    assert!(
        app.discord.wait_for(PATIENCE, |d| find(d).is_some()).await,
        "the alert {name} was not posted"
    );
    find(&app.discord).unwrap()
}

fn id_of(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

fn button(message: &Value, prefix: &str) -> String {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .find(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} button on {message}"))
}

/// Presses `custom_id` on `message` in `channel` as `user`; returns the bot's answer.
async fn press_as(app: &TestApp, channel: u64, user: u64, message: u64, custom_id: &str) -> Value {
    let id = app
        .discord
        .send_component_interaction(channel, user, message, custom_id)
        .await;
    answer(app, id).await
}

async fn answer(app: &TestApp, interaction: u64) -> Value {
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d
                .interaction_responses(interaction)
                .is_empty())
            .await,
        "the interaction got no answer"
    );
    app.discord.interaction_responses(interaction)[0].clone()
}

fn text(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn assert_refused(answer: &Value, containing: &str) {
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(text(answer).contains(containing), "{answer}");
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(&loopbot::store::numbered(sql))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn only_responders_acknowledge_and_silence_and_a_refusal_changes_nothing() {
    let am = RecordingAlertmanager::start().await;
    let app = TestApp::spawn_with(with_alertmanager(am.url.clone(), vec![RESPONDER_ROLE_ID])).await;
    let message = alert_message(&app, "DiskFull").await;
    let (ack, silence) = (
        button(&message, "alerts:ack:"),
        button(&message, "alerts:silence:"),
    );

    // Bob has no responder role; an admin has Manage Server but not the role either.
    for user in [PLAIN_USER_ID, ADMIN_USER_ID] {
        for custom_id in [&ack, &silence] {
            let refused = press_as(&app, CHANNEL_ID, user, id_of(&message), custom_id).await;
            assert_refused(&refused, &format!("<@&{RESPONDER_ROLE_ID}>"));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(am.requests(), 0, "no silence request reached Alertmanager");
    assert_eq!(
        scalar(&app, "select count(*) from alert_group where acked_at is not null or silenced_at is not null").await,
        0
    );
    assert_eq!(
        app.discord.message_edits(CHANNEL_ID).len(),
        0,
        "the message is unchanged"
    );

    // A responder's presses work.
    let acked = press_as(&app, CHANNEL_ID, RESPONDER_USER_ID, id_of(&message), &ack).await;
    assert!(text(&acked).contains("Acknowledged"), "{acked}");
    let silenced = press_as(
        &app,
        CHANNEL_ID,
        RESPONDER_USER_ID,
        id_of(&message),
        &silence,
    )
    .await;
    assert!(
        text(&silenced).contains("Silenced for 1 hour"),
        "{silenced}"
    );
    assert_eq!(am.requests(), 1);
    assert_eq!(
        scalar(&app, "select count(*) from alert_group where acked_by_name = 'rita-responder' and silence_id = 'silence-1'").await,
        1
    );
}

#[tokio::test]
async fn without_responder_roles_manage_messages_or_manage_server_stand_in() {
    let am = RecordingAlertmanager::start().await;
    let app = TestApp::spawn_with(with_alertmanager(am.url.clone(), vec![])).await;
    let message = alert_message(&app, "HighLatency").await;
    let ack = button(&message, "alerts:ack:");
    let refused = press_as(&app, CHANNEL_ID, PLAIN_USER_ID, id_of(&message), &ack).await;
    assert_refused(&refused, "Manage Server or Manage Messages");
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where acked_at is not null"
        )
        .await,
        0
    );

    app.discord.set_member(
        GUILD_ID,
        PLAIN_USER_ID,
        &[],
        PLAIN_PERMISSIONS | MANAGE_MESSAGES,
    );
    let acked = press_as(&app, CHANNEL_ID, PLAIN_USER_ID, id_of(&message), &ack).await;
    assert!(text(&acked).contains("Acknowledged"), "{acked}");
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where acked_at is not null"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_button_naming_another_messages_subject_is_refused_and_changes_nothing() {
    let am = RecordingAlertmanager::start().await;
    let app = TestApp::spawn_with(with_alertmanager(am.url.clone(), vec![RESPONDER_ROLE_ID])).await;
    let first = alert_message(&app, "First").await;
    let second = alert_message(&app, "Second").await;
    let second_ack = button(&second, "alerts:ack:");
    let second_silence = button(&second, "alerts:silence:");
    let second_group: i64 = second_ack.rsplit(':').next().unwrap().parse().unwrap();

    // The second group's buttons, pressed on the first message.
    for forged in [&second_ack, &second_silence] {
        let refused = press_as(&app, CHANNEL_ID, RESPONDER_USER_ID, id_of(&first), forged).await;
        assert_refused(&refused, "does not belong to the message");
    }
    // The right message, in another channel (where the bot never showed it).
    let elsewhere = press_as(
        &app,
        OTHER_CHANNEL_ID,
        RESPONDER_USER_ID,
        id_of(&second),
        &second_ack,
    )
    .await;
    assert_refused(&elsewhere, "does not belong to the message");
    // A check-in's buttons and form on an alert message.
    for forged in [
        format!("checkin:vote:{second_group}:good"),
        format!("checkin:comment:{second_group}"),
    ] {
        let refused = press_as(&app, CHANNEL_ID, PLAIN_USER_ID, id_of(&second), &forged).await;
        assert_refused(&refused, "does not belong to the message");
    }
    let modal = app
        .discord
        .send_modal_submit(
            CHANNEL_ID,
            PLAIN_USER_ID,
            Some(id_of(&second)),
            &format!("checkin:modal:{second_group}"),
            &[("comment", "forged")],
        )
        .await;
    assert_refused(&answer(&app, modal).await, "does not belong to the message");

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(am.requests(), 0);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where acked_at is not null"
        )
        .await,
        0
    );
    assert_eq!(app.count("feedback").await, 0);

    // The same button on its own message works.
    let acked = press_as(
        &app,
        CHANNEL_ID,
        RESPONDER_USER_ID,
        id_of(&second),
        &second_ack,
    )
    .await;
    assert!(text(&acked).contains("Acknowledged"), "{acked}");
}

fn quick_checkins(close_ms: u64) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.checkins.delays = vec![Duration::from_millis(100)];
        c.checkins.close_after = Duration::from_millis(close_ms);
        c.checkins.tick = Duration::from_millis(50);
    }
}

async fn checkin_message(app: &TestApp) -> Value {
    let find = |d: &fake_discord::FakeDiscord| {
        d.messages(CHANNEL_ID)
            .into_iter()
            .find(|m| m["content"].as_str().is_some_and(|c| c.contains("How is")))
    };
    assert!(
        app.discord.wait_for(PATIENCE, |d| find(d).is_some()).await,
        "no check-in"
    );
    find(&app.discord).unwrap()
}

#[tokio::test]
async fn check_in_buttons_prove_their_check_in_and_a_form_after_the_close_is_refused() {
    let app = TestApp::spawn_with(quick_checkins(1500)).await;
    app.post_deploy(&deploy(json!({}))).await;
    let message = checkin_message(&app).await;
    let vote = button(&message, "checkin:vote:");
    let checkin: i64 = vote.split(':').nth(2).unwrap().parse().unwrap();

    // Another check-in's id on this message: refused, nothing stored.
    let forged = vote.replace(&format!(":{checkin}:"), &format!(":{}:", checkin + 1));
    let refused = press_as(&app, CHANNEL_ID, PLAIN_USER_ID, id_of(&message), &forged).await;
    assert_refused(&refused, "does not belong to the message");
    assert_eq!(app.count("feedback").await, 0);
    // Every member may answer a check-in: feedback is open to all.
    let thanked = press_as(&app, CHANNEL_ID, PLAIN_USER_ID, id_of(&message), &vote).await;
    assert!(text(&thanked).contains("Thanks"), "{thanked}");
    assert_eq!(app.count("feedback").await, 1);

    // The form stays on someone's screen past the close: refused, with the reason.
    let closed = app
        .discord
        .wait_for(PATIENCE, |d| {
            d.messages(CHANNEL_ID).iter().any(|m| {
                m["content"].as_str().is_some_and(|c| c.contains("How is"))
                    && m["components"].to_string().contains("\"disabled\":true")
            })
        })
        .await;
    assert!(closed, "the check-in closed");
    let modal = app
        .discord
        .send_modal_submit(
            CHANNEL_ID,
            PLAIN_USER_ID,
            Some(id_of(&message)),
            &format!("checkin:modal:{checkin}"),
            &[("comment", "late words")],
        )
        .await;
    assert_refused(&answer(&app, modal).await, "closed");
    assert_eq!(
        app.count("feedback").await,
        1,
        "the late comment was not stored"
    );
}

#[tokio::test]
async fn another_server_is_left_and_refused_and_a_dm_is_refused() {
    let app = TestApp::spawn().await;
    // Commands are registered in the listed server only, never globally.
    let guild_path = format!("/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands");
    assert_eq!(app.discord.command_registration_paths(), vec![guild_path]);
    assert!(
        app.discord
            .registered_commands()
            .iter()
            .all(|c| c["contexts"] == json!([0])),
        "guild-only: {:?}",
        app.discord.registered_commands()
    );

    app.discord.add_bot_to_guild(OTHER_GUILD_ID).await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.guilds_left() == vec![OTHER_GUILD_ID])
            .await,
        "the bot left the other server"
    );
    let leave = format!("/api/v10/users/@me/guilds/{OTHER_GUILD_ID}");
    assert_eq!(
        app.discord
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE" && r.path == leave)
            .count(),
        1
    );

    // Its admin subscribes there anyway (a command already on their screen): refused.
    let kind = choice(&app, "subscribe", "kind", "all");
    let refused = command(
        &app,
        OTHER_GUILD_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([kind]),
    )
    .await;
    assert_refused(&refused, "not set up for this server");
    assert_eq!(app.count("subscription").await, 0);
    // A deploy goes to the served server's default channel, never to the other one.
    app.post_deploy(&deploy(json!({}))).await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_posts(CHANNEL_ID).is_empty())
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.discord.message_posts(OTHER_GUILD_CHANNEL_ID).is_empty());
    assert!(app.discord.messages(OTHER_GUILD_CHANNEL_ID).is_empty());

    // Direct messages: a command and a button, both refused.
    let dm = command(&app, DM_CHANNEL_ID, PLAIN_USER_ID, "help", json!(null)).await;
    assert_refused(&dm, "direct messages");
    let dm_kind = choice(&app, "subscribe", "kind", "all");
    let dm = command(
        &app,
        DM_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([dm_kind]),
    )
    .await;
    assert_refused(&dm, "direct messages");
    let id = app
        .discord
        .send_component_interaction(DM_CHANNEL_ID, PLAIN_USER_ID, 42, "alerts:ack:1")
        .await;
    assert_refused(&answer(&app, id).await, "direct messages");
    assert_eq!(app.count("subscription").await, 0);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where acked_at is not null"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn the_real_binary_logs_one_line_per_server_it_leaves_and_warns_when_it_serves_any() {
    let discord = fake_discord::FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = BinaryApp::serve_with_env(
        &discord,
        dir.path(),
        &[("LOOPBOT_GUILD_IDS", GUILD_ID.to_string())],
    )
    .await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| !d.command_registration_paths().is_empty())
            .await
    );
    discord.add_bot_to_guild(OTHER_GUILD_ID).await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| d.guilds_left() == vec![OTHER_GUILD_ID])
            .await
    );
    let (_, log) = app.terminate().await;
    let left: Vec<&String> = log.iter().filter(|l| l.contains("left a server")).collect();
    assert_eq!(left.len(), 1, "{log:#?}");
    assert!(left[0].contains(&OTHER_GUILD_ID.to_string()), "{}", left[0]);
    assert!(
        !log.iter().any(|l| l.contains("serves every server")),
        "{log:#?}"
    );

    // Unset (the old single-id variable empty too): a warning, commands registered globally.
    let discord = fake_discord::FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app =
        BinaryApp::serve_with_env(&discord, dir.path(), &[("LOOPBOT_GUILD_ID", String::new())])
            .await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| !d.command_registration_paths().is_empty())
            .await
    );
    assert_eq!(
        discord.command_registration_paths(),
        vec![format!("/api/v10/applications/{APP_ID}/commands")]
    );
    let (_, log) = app.terminate().await;
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("serves every server"))
            .count(),
        1,
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_deployer_name_held_by_someone_else_is_taken_only_with_manage_server() {
    let app = TestApp::spawn().await;
    let link = |user, name: &'static str| {
        let app = &app;
        async move {
            let options = if name.is_empty() {
                json!(null)
            } else {
                json!([{"name": "name", "type": 3, "value": name}])
            };
            text(&command(app, CHANNEL_ID, user, "link-deployer", options).await)
        }
    };
    let owner = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select user_id from deployer_link where ci_name = 'ana'")
                .fetch_optional(&db)
                .await
                .unwrap()
                .map(|u| u as u64)
        }
    };
    assert!(link(PLAIN_USER_ID, "ana").await.contains("Linked"));
    // Another member cannot take it.
    let refused = link(RESPONDER_USER_ID, "ANA").await;
    assert!(
        refused.contains("stays theirs") && refused.contains("Manage Server"),
        "{refused}"
    );
    assert_eq!(owner(&app).await, Some(PLAIN_USER_ID));
    let refused = command(
        &app,
        CHANNEL_ID,
        RESPONDER_USER_ID,
        "unlink-deployer",
        json!([{"name": "name", "type": 3, "value": "ana"}]),
    )
    .await;
    assert_refused(&refused, "Manage Server");
    assert_eq!(owner(&app).await, Some(PLAIN_USER_ID));
    // Without a name: your links.
    assert!(link(PLAIN_USER_ID, "").await.contains("`ana`"));
    assert!(link(RESPONDER_USER_ID, "")
        .await
        .contains("No CI name is linked to you"));
    // An admin can take it, and says whose it was.
    let taken = link(ADMIN_USER_ID, "ana").await;
    assert!(taken.contains(&format!("<@{PLAIN_USER_ID}>")), "{taken}");
    assert_eq!(owner(&app).await, Some(ADMIN_USER_ID));
    // One's own link can be removed.
    let unlinked = command(
        &app,
        CHANNEL_ID,
        ADMIN_USER_ID,
        "unlink-deployer",
        json!([{"name": "name", "type": 3, "value": "ana"}]),
    )
    .await;
    assert!(text(&unlinked).contains("Unlinked"), "{unlinked}");
    assert_eq!(owner(&app).await, None);
}

#[tokio::test]
async fn a_manual_checkin_is_for_responders_and_at_most_once_per_ten_minutes() {
    let app = TestApp::spawn_with(|c| c.responder_roles = vec![RESPONDER_ROLE_ID]).await;
    app.post_deploy(&deploy(json!({}))).await;
    let release = json!([{"name": "release", "type": 3, "value": "checkout@v1.4.2"}]);
    let refused = command(&app, CHANNEL_ID, PLAIN_USER_ID, "checkin", release.clone()).await;
    assert_refused(&refused, &format!("<@&{RESPONDER_ROLE_ID}>"));
    assert_eq!(app.count("checkin").await, 0);

    let asked = command(
        &app,
        CHANNEL_ID,
        RESPONDER_USER_ID,
        "checkin",
        release.clone(),
    )
    .await;
    assert!(text(&asked).contains("on its way"), "{asked}");
    let again = command(
        &app,
        CHANNEL_ID,
        RESPONDER_USER_ID,
        "checkin",
        release.clone(),
    )
    .await;
    assert_refused(&again, "less than 10 minutes ago");
    assert_eq!(
        scalar(
            &app,
            "select count(*) from checkin where origin = 'command'"
        )
        .await,
        1
    );
    // Another channel may ask.
    let elsewhere = command(
        &app,
        OTHER_CHANNEL_ID,
        RESPONDER_USER_ID,
        "checkin",
        release,
    )
    .await;
    assert!(text(&elsewhere).contains("on its way"), "{elsewhere}");
}

/// Forged `custom_id`s of every shape, pressed by a responder on a real alert message: each gets
/// a private answer, nothing changes, and the bot keeps answering.
#[tokio::test]
async fn forged_custom_ids_are_answered_privately_and_change_nothing() {
    let am = RecordingAlertmanager::start().await;
    let app = TestApp::spawn_with(with_alertmanager(am.url.clone(), vec![RESPONDER_ROLE_ID])).await;
    let message = alert_message(&app, "Target").await;
    let group: i64 = button(&message, "alerts:ack:")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let part = prop_oneof![
        Just(String::new()),
        Just((group + 1).to_string()),
        Just("-1".to_owned()),
        Just(i64::MAX.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just("yes".to_owned()),
        "[a-z:@<>&%\u{0}-\u{1f}\u{202e}🔥]{0,12}",
    ];
    let forged = (
        prop_oneof![Just("alerts"), Just("checkin"), Just("nope"), Just("")],
        prop_oneof![
            Just("ack"),
            Just("silence"),
            Just("cause"),
            Just("vote"),
            Just("comment"),
            Just("modal")
        ],
        proptest::collection::vec(part, 0..4),
    )
        .prop_map(|(feature, verb, rest)| {
            let mut id = format!("{feature}:{verb}");
            for p in rest {
                id.push(':');
                id.push_str(&p);
            }
            id.chars().take(100).collect::<String>()
        });
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::with_cases(40),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[14; 32]),
    );
    for _ in 0..40 {
        let custom_id = forged.new_tree(&mut runner).unwrap().current();
        // The group's own ack is the one honest press; skip it if generated.
        if custom_id == format!("alerts:ack:{group}")
            || custom_id == format!("alerts:silence:{group}")
        {
            continue;
        }
        let reply = press_as(
            &app,
            CHANNEL_ID,
            RESPONDER_USER_ID,
            id_of(&message),
            &custom_id,
        )
        .await;
        assert_eq!(reply["data"]["flags"], 64, "{custom_id:?}: {reply}");
    }
    assert_eq!(am.requests(), 0);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where acked_at is not null"
        )
        .await,
        0
    );
    assert_eq!(app.count("feedback").await, 0);
    let help = command(&app, CHANNEL_ID, PLAIN_USER_ID, "help", json!(null)).await;
    assert!(text(&help).contains("loopbot"));
}

/// Acknowledge and Silence are honoured only while the group fires: a stale or forged press on
/// a resolved alert is refused with the reason, stores nothing and silences nothing.
#[tokio::test]
async fn acknowledge_and_silence_on_a_resolved_alert_are_refused_and_change_nothing() {
    let am = RecordingAlertmanager::start().await;
    let app = TestApp::spawn_with(with_alertmanager(am.url.clone(), vec![RESPONDER_ROLE_ID])).await;
    let message = alert_message(&app, "CacheCold").await;
    let (ack, silence) = (
        button(&message, "alerts:ack:"),
        button(&message, "alerts:silence:"),
    );
    let resolved = json!({
        "version": "4", "groupKey": "{}:{alertname=\"CacheCold\"}", "status": "resolved",
        "receiver": "loopbot", "groupLabels": {"alertname": "CacheCold"},
        "commonLabels": {"alertname": "CacheCold", "job": "checkout", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://am.example.com", "truncatedAlerts": 0,
        "alerts": [{
            "status": "resolved",
            "labels": {"alertname": "CacheCold", "job": "checkout", "severity": "critical"},
            "annotations": {"summary": "errors"},
            "startsAt": "2026-11-24T09:00:00Z", "endsAt": "2026-11-24T09:10:00Z",
            "generatorURL": "http://prometheus.example.com/graph", "fingerprint": "fp-CacheCold"
        }]
    });
    let status = app
        .http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth(AM_TOKEN)
        .json(&resolved)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_edits(CHANNEL_ID).is_empty())
            .await,
        "the resolve was shown"
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from alert_group where status = 'resolved'"
        )
        .await,
        1
    );
    let edits_before = app.discord.message_edits(CHANNEL_ID).len();

    for custom_id in [&ack, &silence] {
        let refused = press_as(
            &app,
            CHANNEL_ID,
            RESPONDER_USER_ID,
            id_of(&message),
            custom_id,
        )
        .await;
        assert_refused(&refused, "has resolved");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(am.requests(), 0, "no silence request reached Alertmanager");
    assert_eq!(
        scalar(&app, "select count(*) from alert_group where acked_at is not null or silenced_at is not null").await,
        0
    );
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), edits_before);
}
