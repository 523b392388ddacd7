//! Incidents with an end (issue 16 item 2) on the real application and the local Discord: a
//! critical alert opens an incident and its thread, the timeline arrives there in order with
//! times, the retro prompt's forms are submitted through real interactions, follow-ups are listed
//! and closed (owner or responder only), the incident API and the summary show it all; and the
//! same for an incident declared with `/incident declare`.

use fake_discord::{CHANNEL_ID, GUILD_ID, MANAGE_MESSAGES, PLAIN_PERMISSIONS, PLAIN_USER_ID};
use serde_json::{json, Value};

use crate::support::app::{command, deploy, TestApp, API_TOKEN, PATIENCE};

/// Bob is a responder (Manage Messages stands in when no responder role is configured).
const BOB: u64 = PLAIN_USER_ID;
/// Carol owns a follow-up; she is no responder.
const CAROL: u64 = 400_000_000_000_000_077;
/// Dave is a member who neither owns nor responds.
const DAVE: u64 = 400_000_000_000_000_078;

async fn spawn() -> TestApp {
    let app = TestApp::spawn().await;
    app.discord
        .set_member(GUILD_ID, BOB, &[], PLAIN_PERMISSIONS | MANAGE_MESSAGES);
    app.discord
        .set_member(GUILD_ID, CAROL, &[], PLAIN_PERMISSIONS);
    app.discord
        .set_member(GUILD_ID, DAVE, &[], PLAIN_PERMISSIONS);
    app
}

async fn post_alert(app: &TestApp, status: &str) {
    let response = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"service": "checkout", "environment": "production",
                      "name": "CheckoutErrors", "severity": "critical", "status": status,
                      "id": "checkout-errors", "summary": "5xx above 5%"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

fn text_of(message: &Value) -> String {
    format!(
        "{}\n{}\n{}",
        message["content"], message["embeds"], message["components"]
    )
}

fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

fn custom_ids(message: &Value) -> Vec<String> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect()
}

/// Waits for a message of `channel` that `f` accepts.
async fn wait_message(
    app: &TestApp,
    channel: u64,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let found = app
        .discord
        .wait_for(PATIENCE, |d| d.messages(channel).iter().any(&f))
        .await;
    let messages = app.discord.messages(channel);
    assert!(
        found,
        "{what}; messages: {:#?}",
        messages.iter().map(text_of).collect::<Vec<_>>()
    );
    messages.into_iter().find(|m| f(m)).unwrap()
}

/// The thread's messages' contents, in order.
fn thread_lines(app: &TestApp, thread: u64) -> Vec<String> {
    app.discord
        .messages(thread)
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_thread_line(app: &TestApp, thread: u64, needle: &str) {
    let found = app
        .discord
        .wait_for(PATIENCE, |d| {
            d.messages(thread)
                .iter()
                .any(|m| m["content"].as_str().unwrap_or_default().contains(needle))
        })
        .await;
    assert!(
        found,
        "{needle:?} in the thread: {:#?}",
        thread_lines(app, thread)
    );
}

/// Waits until loopbot knows the Discord message showing `kind` `id` (its delivery settled).
async fn wait_known(app: &TestApp, kind: &str, id: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let known: i64 = sqlx::query_scalar(
            "select count(*) from message m where m.subject_kind = $1 and m.subject_id = $2
             and m.discord_message_id is not null
             and not exists (select 1 from outbox o where o.message_id = m.id and o.state = 'pending')",
        )
        .bind(kind)
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if known > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} {id} never shown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn answer(app: &TestApp, interaction: u64) -> Value {
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d
                .interaction_responses(interaction)
                .is_empty())
            .await,
        "interaction {interaction} got no answer"
    );
    app.discord.interaction_responses(interaction)[0].clone()
}

async fn press(app: &TestApp, channel: u64, user: u64, message: u64, custom_id: &str) -> Value {
    let id = app
        .discord
        .send_component_interaction(channel, user, message, custom_id)
        .await;
    answer(app, id).await
}

fn assert_private(answer: &Value, contains: &str) {
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains(contains), "{content}");
}

/// The value Discord's client sends for `chosen` of a subcommand's choice option.
fn sub_choice(app: &TestApp, command: &str, sub: &str, option: &str, chosen: &str) -> Value {
    let registered = app
        .discord
        .registered_commands()
        .into_iter()
        .find(|c| c["name"] == command)
        .unwrap_or_else(|| panic!("/{command} not registered"));
    let spec = registered["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == sub))
        .and_then(|s| s["options"].as_array())
        .and_then(|o| o.iter().find(|o| o["name"] == option))
        .unwrap_or_else(|| panic!("/{command} {sub} has no {option}: {registered}"))
        .clone();
    let value = spec["choices"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == chosen))
        .unwrap_or_else(|| panic!("{option} has no choice {chosen}: {spec}"))["value"]
        .clone();
    json!({"name": option, "type": spec["type"], "value": value})
}

async fn incident_json(app: &TestApp, id: i64) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// A dashboard page as the operator reads it (the API token as bearer).
async fn dashboard(app: &TestApp, path: &str) -> String {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().await.unwrap()
}

/// The summary JSON of the last seven days.
async fn summary_json(app: &TestApp) -> Value {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(6);
    let response = app
        .http
        .get(app.url(&format!("/api/v1/summary?from={from}&to={today}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// Opens the retro prompt's two forms and submits them as Bob, Carol owning the follow-up;
/// returns the follow-up's id.
async fn submit_retro_and_followup(app: &TestApp, thread: u64, incident: i64) -> i64 {
    let prompt = wait_message(app, thread, "the retro prompt", |m| {
        custom_ids(m).contains(&format!("incident:retro:{incident}"))
    })
    .await;
    assert_eq!(
        custom_ids(&prompt),
        [
            format!("incident:retro:{incident}"),
            format!("incident:followup:{incident}")
        ]
    );
    let prompt_id = message_id(&prompt);
    wait_known(app, "incident_prompt", incident).await;

    // A member who is no responder cannot open the forms.
    let refused = press(
        app,
        thread,
        DAVE,
        prompt_id,
        &format!("incident:retro:{incident}"),
    )
    .await;
    assert_private(&refused, "Only responders");

    let opened = press(
        app,
        thread,
        BOB,
        prompt_id,
        &format!("incident:retro:{incident}"),
    )
    .await;
    assert_eq!(opened["type"], 9, "a form: {opened}");
    assert_eq!(
        opened["data"]["custom_id"],
        format!("incident:retro_form:{incident}")
    );
    let submitted = app
        .discord
        .send_modal_submit(
            thread,
            BOB,
            Some(prompt_id),
            &format!("incident:retro_form:{incident}"),
            &[
                ("what_happened", "a bad config rolled out to checkout"),
                ("what_helped", "the runbook and a quick rollback"),
                ("sooner", "a canary stage"),
            ],
        )
        .await;
    assert_private(&answer(app, submitted).await, "retro of incident");

    let opened = press(
        app,
        thread,
        BOB,
        prompt_id,
        &format!("incident:followup:{incident}"),
    )
    .await;
    assert_eq!(opened["type"], 9, "a form: {opened}");
    // An invalid due date is refused with the reason, and nothing is stored.
    let bad = app
        .discord
        .send_modal_submit(
            thread,
            BOB,
            Some(prompt_id),
            &format!("incident:followup_form:{incident}"),
            &[("what", "x"), ("owner", "y"), ("due", "soon")],
        )
        .await;
    assert_private(&answer(app, bad).await, "due date");
    let owner = format!("<@{CAROL}>");
    let added = app
        .discord
        .send_modal_submit(
            thread,
            BOB,
            Some(prompt_id),
            &format!("incident:followup_form:{incident}"),
            &[
                ("what", "add a canary stage"),
                ("owner", &owner),
                ("due", "2099-01-31"),
            ],
        )
        .await;
    let added = answer(app, added).await;
    assert_private(&added, "Follow-up #");
    sqlx::query_scalar(
        "select id from followup where incident_id = $1 and what = 'add a canary stage'",
    )
    .bind(incident)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// `/followups` lists it with age and owner; a guest's `/followup-done` is refused, the owner's works.
async fn list_and_close(app: &TestApp, followup: i64) {
    let listed = command(app, CHANNEL_ID, DAVE, "followups", json!([])).await;
    let text = listed["data"]["content"].as_str().unwrap_or_default();
    assert_eq!(listed["data"]["flags"], 64);
    assert!(
        text.contains(&format!("#{followup}** add a canary stage")),
        "{text}"
    );
    assert!(text.contains(&format!("owner <@{CAROL}>")), "{text}");
    assert!(text.contains("0 days old, due 2099-01-31"), "{text}");

    let refused = command(
        app,
        CHANNEL_ID,
        DAVE,
        "followup-done",
        json!([{"name": "id", "type": 4, "value": followup}]),
    )
    .await;
    assert_private(&refused, "Only its owner or a responder");
    let state: String = sqlx::query_scalar("select state from followup where id = $1")
        .bind(followup)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "open");
    let closed = command(
        app,
        CHANNEL_ID,
        CAROL,
        "followup-done",
        json!([{"name": "id", "type": 4, "value": followup}]),
    )
    .await;
    assert_private(&closed, &format!("Closed follow-up #{followup}"));
    let listed = command(app, CHANNEL_ID, DAVE, "followups", json!([])).await;
    assert!(
        listed["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("No open follow-ups"),
        "{listed}"
    );
}

#[tokio::test]
async fn a_critical_alert_opens_an_incident_whose_thread_holds_the_timeline_retro_and_followups() {
    let app = spawn().await;
    // A production deploy of checkout just before: the alert is linked to it.
    let (status, body) = app
        .post_deploy(&deploy(json!({"status": "succeeded"})))
        .await;
    assert_eq!(status, 202, "{body}");
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    post_alert(&app, "firing").await;
    let alert = wait_message(&app, CHANNEL_ID, "the alert is posted", |m| {
        text_of(m).contains("CheckoutErrors") && text_of(m).contains("incident #")
    })
    .await;
    let alert_id = message_id(&alert);
    let (incident, group): (i64, i64) = sqlx::query_as("select id, group_id from incident")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // The thread is started on the alert's message (Discord gives it the message's id).
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.requests().iter().any(|r| r
                .path
                .ends_with(&format!("/messages/{alert_id}/threads"))
                && r.status == 201))
            .await,
        "the incident's thread is started"
    );
    let thread = alert_id;
    wait_thread_line(&app, thread, "Fired: CheckoutErrors (critical)").await;

    wait_known(&app, "alert_group", group).await;
    let acked = press(
        &app,
        CHANNEL_ID,
        BOB,
        alert_id,
        &format!("alerts:ack:{group}"),
    )
    .await;
    assert_private(&acked, "Acknowledged");
    wait_thread_line(&app, thread, "Acknowledged by bob").await;
    let confirmed = press(
        &app,
        CHANNEL_ID,
        BOB,
        alert_id,
        &format!("alerts:cause:{group}:{deploy_id}:yes"),
    )
    .await;
    assert_private(&confirmed, "caused this alert");
    wait_thread_line(&app, thread, "Linked deploy by bob").await;
    post_alert(&app, "resolved").await;
    wait_thread_line(&app, thread, "Resolved: after").await;

    // In order, each with its time.
    let lines = thread_lines(&app, thread);
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in {lines:#?}"))
    };
    let order = [
        at("Fired: CheckoutErrors"),
        at("Acknowledged by bob"),
        at("Linked deploy by bob: #"),
        at("Resolved: after"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
    for line in lines.iter().filter(|l| !l.contains("**Incident")) {
        assert!(
            line.starts_with("<t:") && line.contains(":T> · "),
            "timed: {line}"
        );
    }
    // Every post into the thread pings nobody.
    for post in app.discord.message_posts(thread) {
        assert_eq!(
            post.body["allowed_mentions"]["parse"],
            json!([]),
            "{:?}",
            post.body
        );
    }

    let followup = submit_retro_and_followup(&app, thread, incident).await;
    list_and_close(&app, followup).await;

    // The API returns it all.
    let body = incident_json(&app, incident).await;
    assert_eq!(body["origin"], "alert");
    assert_eq!(body["state"], "resolved");
    assert_eq!(body["deploy_id"], deploy_id);
    assert_eq!(body["thread_id"], thread.to_string());
    let kinds: Vec<&str> = body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "fired",
        "acknowledged",
        "deploy_linked",
        "resolved",
        "retro",
        "followup",
        "followup_done",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(body["time_to_acknowledge_ms"].as_i64().is_some());
    assert_eq!(
        body["retro"][0]["what_helped"],
        "the runbook and a quick rollback"
    );
    assert_eq!(body["retro"][0]["author"], "bob");
    assert_eq!(
        body["followups"][0],
        json!({"id": followup, "what": "add a canary stage", "owner": format!("<@{CAROL}>"),
               "owner_id": CAROL.to_string(), "due": "2099-01-31", "state": "done",
               "opened_by": "bob", "opened_at": body["followups"][0]["opened_at"],
               "closed_by": body["followups"][0]["closed_by"],
               "closed_at": body["followups"][0]["closed_at"]})
    );
    assert!(body["followups"][0]["closed_at"].is_string());

    // Unknown incidents are a JSON 404.
    let missing = app
        .http
        .get(app.url("/api/v1/incidents/999"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert!(missing["error"].as_str().unwrap().contains("999"));

    // The summary counts it: one incident, acknowledged and restored, one follow-up opened and closed.
    let summary = summary_json(&app).await;
    let incidents = &summary["incidents"];
    assert_eq!(incidents["count"], 1, "{incidents}");
    assert!(
        incidents["time_to_acknowledge_median"].as_f64().is_some(),
        "{incidents}"
    );
    assert!(
        incidents["time_to_restore_median"].as_f64().is_some(),
        "{incidents}"
    );
    assert_eq!(incidents["followups"], json!({"opened": 1, "closed": 1}));
    assert_eq!(incidents["open_older_than_7_days"], json!([]));
}

#[tokio::test]
async fn a_declared_incident_gets_the_same_thread_and_retro_prompt() {
    let app = spawn().await;
    let severity = sub_choice(&app, "incident", "declare", "severity", "critical");
    // Only responders declare.
    let refused = command(
        &app,
        CHANNEL_ID,
        DAVE,
        "incident",
        json!([{"type": 1, "name": "declare", "options": [
            {"name": "title", "type": 3, "value": "payments slow"}, severity.clone()]}]),
    )
    .await;
    assert_private(&refused, "Only responders");
    let declared = command(
        &app,
        CHANNEL_ID,
        BOB,
        "incident",
        json!([{"type": 1, "name": "declare", "options": [
            {"name": "title", "type": 3, "value": "payments slow"}, severity,
            {"name": "service", "type": 3, "value": "payments"}]}]),
    )
    .await;
    assert_private(&declared, "Declared incident #");
    let incident: i64 = sqlx::query_scalar("select id from incident where declared_by is not null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let card = wait_message(&app, CHANNEL_ID, "the incident's message", |m| {
        text_of(m).contains("INCIDENT (critical): payments slow")
    })
    .await;
    let thread = message_id(&card);
    wait_thread_line(&app, thread, "Declared by bob: payments slow (critical)").await;

    // Resolved from its thread, without naming it.
    let resolved = command(
        &app,
        thread,
        BOB,
        "incident",
        json!([{"type": 1, "name": "resolve", "options": []}]),
    )
    .await;
    assert_private(&resolved, &format!("Resolved incident #{incident}"));
    wait_thread_line(&app, thread, "Resolved by bob: after").await;
    wait_message(&app, CHANNEL_ID, "the message says resolved", |m| {
        text_of(m).contains("RESOLVED INCIDENT: payments slow")
    })
    .await;
    let followup = submit_retro_and_followup(&app, thread, incident).await;
    list_and_close(&app, followup).await;

    let body = incident_json(&app, incident).await;
    assert_eq!(body["origin"], "declared");
    assert_eq!(body["declared_by"], "bob");
    assert_eq!(body["service"], "payments");
    assert_eq!(
        body["retro"][0]["what_happened"],
        "a bad config rolled out to checkout"
    );
    assert_eq!(body["followups"][0]["state"], "done");
    let summary = summary_json(&app).await;
    assert_eq!(summary["incidents"]["count"], 1, "{}", summary["incidents"]);
    assert_eq!(summary["incidents"]["followups"]["closed"], 1);

    // The dashboard's incident page shows the timeline, the retro and the follow-ups.
    let page = dashboard(&app, &format!("/dashboard/incidents/{incident}")).await;
    assert!(
        page.contains("Declared by bob: payments slow (critical)"),
        "{page}"
    );
    assert!(page.contains("a canary stage"), "{page}");
    assert!(page.contains("add a canary stage"), "{page}");
    assert!(page.contains(r#"data-kind="followup_done""#), "{page}");
}

#[tokio::test]
async fn the_dashboard_lists_open_incidents_and_open_followups() {
    let app = spawn().await;
    let severity = sub_choice(&app, "incident", "declare", "severity", "warning");
    command(
        &app,
        CHANNEL_ID,
        BOB,
        "incident",
        json!([{"type": 1, "name": "declare", "options": [
            {"name": "title", "type": 3, "value": "queue backlog"}, severity]}]),
    )
    .await;
    let incident: i64 = sqlx::query_scalar("select id from incident")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let main = dashboard(&app, "/dashboard").await;
    assert!(
        main.contains(&format!(r#"data-incident="{incident}""#)),
        "{main}"
    );
    assert!(main.contains("No open follow-ups."), "{main}");
}

/// `LOOPBOT_INCIDENT_SEVERITY=warning` in the real binary's environment: a warning alert opens an
/// incident with its thread, an info alert does not.
#[tokio::test]
async fn the_incident_severity_set_in_the_environment_opens_incidents_from_warnings() {
    use crate::support::app::BinaryApp;
    use fake_discord::FakeDiscord;

    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("LOOPBOT_INCIDENT_SEVERITY", "warning".to_owned())];
    let bot = BinaryApp::serve_with_env(&discord, dir.path(), &env).await;
    assert!(discord.wait_for_identify(PATIENCE).await);
    let http = reqwest::Client::new();
    for (name, severity) in [("DiskNotice", "info"), ("LatencyHigh", "warning")] {
        let response = http
            .post(format!("http://{}/api/v1/alerts", bot.addr))
            .bearer_auth(API_TOKEN)
            .json(&json!({"service": "checkout", "environment": "production",
                          "name": name, "severity": severity, "status": "firing",
                          "id": name, "summary": "over the line"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
    }
    let posted = |name: &'static str| {
        move |d: &FakeDiscord| {
            d.messages(CHANNEL_ID)
                .iter()
                .any(|m| text_of(m).contains(name))
        }
    };
    assert!(discord.wait_for(PATIENCE, posted("DiskNotice")).await);
    // The incident's number may arrive as an edit of the alert's message.
    let warning_opened = |d: &FakeDiscord| {
        d.messages(CHANNEL_ID)
            .iter()
            .any(|m| text_of(m).contains("LatencyHigh") && text_of(m).contains("incident #"))
    };
    assert!(
        discord.wait_for(PATIENCE, warning_opened).await,
        "the warning opens an incident: {:?}",
        discord.messages(CHANNEL_ID)
    );
    let found = |name: &str| {
        discord
            .messages(CHANNEL_ID)
            .into_iter()
            .find(|m| text_of(m).contains(name))
            .unwrap()
    };
    let warning = found("LatencyHigh");
    let thread = message_id(&warning);
    assert!(
        discord
            .wait_for(PATIENCE, |d| d.messages(thread).iter().any(|m| m
                ["content"]
                .as_str()
                .unwrap_or_default()
                .contains("Fired: LatencyHigh (warning)")))
            .await,
        "the warning's incident thread: {:?}",
        discord.messages(thread)
    );
    let info = found("DiskNotice");
    assert!(!text_of(&info).contains("incident #"), "{info}");
    assert!(discord.messages(message_id(&info)).is_empty());
    bot.kill().await;
}

/// Silencing an incident's alert from Discord (Alertmanager configured) reaches the incident's
/// thread as a timeline line, with who did it.
#[tokio::test]
async fn silencing_the_alert_is_on_the_incidents_timeline() {
    let alertmanager = axum::Router::new().route(
        "/api/v2/silences",
        axum::routing::post(|| async { axum::Json(json!({ "silenceID": "silence-1" })) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let am_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, alertmanager).await });
    let app = TestApp::spawn_with(move |c| {
        c.alerts.alertmanager_url = Some(am_url);
        c.alerts.alertmanager_token = Some(loopbot::config::Secret::new("am-token"));
    })
    .await;
    app.discord
        .set_member(GUILD_ID, BOB, &[], PLAIN_PERMISSIONS | MANAGE_MESSAGES);

    let labels = json!({"alertname": "CheckoutErrors", "job": "checkout", "severity": "critical"});
    let group = json!({
        "version": "4", "groupKey": "{}:{alertname=\"CheckoutErrors\"}", "status": "firing",
        "receiver": "loopbot", "groupLabels": {"alertname": "CheckoutErrors"},
        "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am.example.com",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "labels": labels, "annotations": {"summary": "5xx above 5%"},
            "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com/graph", "fingerprint": "fp-1"
        }]
    });
    let status = app
        .http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth("am-token")
        .json(&group)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    let alert = wait_message(&app, CHANNEL_ID, "the alert opens an incident", |m| {
        text_of(m).contains("CheckoutErrors") && text_of(m).contains("incident #")
    })
    .await;
    let thread = message_id(&alert);
    wait_thread_line(&app, thread, "Fired: CheckoutErrors (critical)").await;
    let group: i64 = sqlx::query_scalar("select group_id from incident")
        .fetch_one(&app.db)
        .await
        .unwrap();
    wait_known(&app, "alert_group", group).await;
    let silenced = press(
        &app,
        CHANNEL_ID,
        BOB,
        thread,
        &format!("alerts:silence:{group}"),
    )
    .await;
    assert_private(&silenced, "Silenced");
    wait_thread_line(&app, thread, "Silenced by bob").await;
}
