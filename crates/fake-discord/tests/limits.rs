//! Bodies over Discord's limits, seen by a plain HTTP client: refused with Discord's 400 (code
//! 50035, `errors` naming the value), nothing stored or changed, and listed by `refused_bodies`;
//! an injected 400 is not counted as one.

use fake_discord::{FakeDiscord, Fault, CHANNEL_ID};
use serde_json::{json, Value};

#[tokio::test]
async fn over_limit_posts_edits_and_threads_are_refused_like_discord() {
    let fake = FakeDiscord::start().await;
    let http = reqwest::Client::new();
    let messages = format!("{}/api/v10/channels/{CHANNEL_ID}/messages", fake.url());
    let send = |request: reqwest::RequestBuilder, body: Value| async move {
        let response = request
            .header("Authorization", "Bot t")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };

    let (status, answer) = send(http.post(&messages), json!({ "content": "x".repeat(2001) })).await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], 50035);
    assert_eq!(answer["message"], "Invalid Form Body");
    assert_eq!(
        answer["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(fake.messages(CHANNEL_ID).is_empty());

    let (status, posted) = send(http.post(&messages), json!({ "content": "x".repeat(2000) })).await;
    assert_eq!(status, 200);
    let id = posted["id"].as_str().unwrap().to_owned();
    let (status, answer) = send(
        http.patch(format!("{messages}/{id}")),
        json!({ "embeds": [{ "title": "t".repeat(257) }] }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["errors"]["embeds"]["0"]["title"]["_errors"].is_array());
    assert_eq!(fake.messages(CHANNEL_ID)[0]["embeds"], json!([]));

    let (status, answer) = send(
        http.post(format!("{messages}/{id}/threads")),
        json!({ "name": "n".repeat(101) }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["errors"]["name"]["_errors"].is_array());

    // An injected 400 is a fault the test chose, not a refused body.
    fake.fail_next(1, Fault::Status(400));
    let (status, _) = send(http.post(&messages), json!({ "content": "hi" })).await;
    assert_eq!(status, 400);

    let refused = fake.refused_bodies();
    let methods: Vec<(&str, bool)> = refused
        .iter()
        .map(|(r, _)| (r.method.as_str(), r.status == 400))
        .collect();
    assert_eq!(
        methods,
        [("POST", true), ("PATCH", true), ("POST", true)],
        "{refused:?}"
    );
    assert!(refused[2].0.path.ends_with("/threads"));
}
