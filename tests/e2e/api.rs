//! The HTTP API's refusals: status codes, JSON reasons, nothing stored, nothing posted.

use fake_discord::CHANNEL_ID;
use serde_json::{json, Value};

use crate::support::app::{deploy, TestApp, API_TOKEN};

async fn send(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/api/v1/deploys"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_get_their_documented_status_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let good = serde_json::to_vec(&deploy(json!({}))).unwrap();
    let json_type = "application/json";

    // (what, token, content type, body, expected status, text the error or field must contain)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no token",
            None,
            json_type,
            good.clone(),
            401,
            "Authorization",
        ),
        (
            "wrong token",
            Some("nope"),
            json_type,
            good.clone(),
            401,
            "invalid API token",
        ),
        (
            "malformed JSON",
            Some(API_TOKEN),
            json_type,
            b"{\"service\": ".to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "not an object",
            Some(API_TOKEN),
            json_type,
            b"[1,2]".to_vec(),
            422,
            "body",
        ),
        (
            "missing field",
            Some(API_TOKEN),
            json_type,
            br#"{"service":"checkout","version":"1","environment":"prod"}"#.to_vec(),
            422,
            "status",
        ),
        (
            "empty service",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"service": " "}))).unwrap(),
            422,
            "service",
        ),
        (
            "unknown status",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"status": "done"}))).unwrap(),
            422,
            "status",
        ),
        (
            "bad timestamp",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"commit_at": "yesterday"}))).unwrap(),
            422,
            "commit_at",
        ),
        (
            "a link with a space in it",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"url": "https://ci.example.com/run 1"}))).unwrap(),
            422,
            "url",
        ),
        (
            "wrong type",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"version": 3}))).unwrap(),
            422,
            "version",
        ),
        (
            "oversized body",
            Some(API_TOKEN),
            json_type,
            serde_json::to_vec(&deploy(json!({"changelog": "x".repeat(300 * 1024)}))).unwrap(),
            413,
            "larger than",
        ),
        (
            "form body",
            Some(API_TOKEN),
            "application/x-www-form-urlencoded",
            b"a=b".to_vec(),
            415,
            "application/json",
        ),
    ];
    for (name, token, content_type, body, want_status, want_text) in cases {
        let (status, reply) = send(&app, token, content_type, body).await;
        assert_eq!(status, want_status, "{name}: {reply}");
        let error = reply["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no JSON error: {reply}"));
        assert!(
            error.contains(want_text) || reply["field"] == want_text,
            "{name}: {reply}"
        );
        if status == 422 {
            assert_eq!(
                reply["field"], want_text,
                "{name}: the field is named: {reply}"
            );
        }
    }

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.count("inbound_event").await, 0);
    assert_eq!(app.count("deploy").await, 0);
    assert_eq!(app.count("outbox").await, 0);
    assert!(app.discord.message_posts(CHANNEL_ID).is_empty());
}

#[tokio::test]
async fn without_an_api_token_the_api_answers_503_with_a_reason() {
    let app = TestApp::spawn_with(|c| c.api_token = None).await;
    let (status, reply) = app.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 503);
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .contains("LOOPBOT_API_TOKEN"));
    assert_eq!(app.count("deploy").await, 0);
}

#[tokio::test]
async fn probes_and_unknown_routes_answer_json() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let missing = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["error"].is_string());
    let wrong_method = app
        .http
        .get(app.url("/api/v1/deploys"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
}
