//! Hostile input, by property tests: every inbound parser (generic deploy, GitHub, GitLab,
//! Alertmanager, Grafana, generic alert) and the rendering to Discord get strings with control
//! characters, invalid UTF-8, Discord markdown and mention syntax, huge and deeply nested values.
//! Nothing may panic, every refusal is a 4xx with a JSON reason, and every message that reaches
//! the local Discord fits Discord's limits and can ping nobody.
//!
//! A new inbound format is one more entry in `endpoints()` (and, for its pure parser, one more
//! `proptest!` case below). Case counts keep the whole file to well under a minute in CI.

use std::collections::BTreeMap;

use chrono::Utc;
use fake_discord::CHANNEL_ID;
use hmac::{Hmac, Mac};
use loopbot::config::Secret;
use loopbot::discord::message::{edit_body, post_body, Rendered};
use loopbot::discord::render;
use loopbot::domain::alert::{
    AlertNotification, AlertSource, RawAlertmanagerPayload, RawGenericAlert,
};
use loopbot::domain::deploy::{Deploy, DeployEvent, DeployStatus, RawDeployEvent, WebUrl};
use loopbot::domain::webhook::{self, WebhookOutcome, WorkflowFilter};
use loopbot::store::DeliverySubject;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::app::{TestApp, API_TOKEN, PATIENCE};

const GITHUB_SECRET: &str = "hostile-github-secret";
const GITLAB_TOKEN: &str = "hostile-gitlab-token";
const ALERTMANAGER_TOKEN: &str = "hostile-am-token";
const GRAFANA_TOKEN: &str = "hostile-grafana-token";

// ---------------------------------------------------------------- strategies

/// Text a hostile or careless sender could put in any field.
pub(crate) fn hostile_text() -> BoxedStrategy<String> {
    let nasty = prop_oneof![
        Just("@everyone".to_owned()),
        Just("@here".to_owned()),
        Just("<@&100000000000000010>".to_owned()),
        Just("<@400000000000000005>".to_owned()),
        Just("<@!400000000000000005>".to_owned()),
        Just("<#300000000000000003>".to_owned()),
        Just("</subscribe:1>".to_owned()),
        Just("**bold** __u__ ~~s~~ ||spoiler|| `code` ```rust\nfn x(){}\n```".to_owned()),
        Just("> quote\n# Heading\n- list\n[link](https://evil.example/)".to_owned()),
        Just("\u{0}\u{1}\u{7}\u{8}\u{1b}[31m\r\n\t\u{7f}".to_owned()),
        Just("\u{202e}gnp.exe\u{200b}\u{feff}\u{2028}".to_owned()),
        Just("e\u{301}\u{301}\u{301}👨‍👩‍👧‍👦🏳️‍🌈".to_owned()),
        Just("Robert'); DROP TABLE deploy;--".to_owned()),
        Just("${jndi:ldap://x}{{7*7}}%s%n".to_owned()),
    ];
    prop_oneof![
        3 => any::<String>(),
        2 => "[ -~]{0,40}",
        2 => nasty.clone(),
        2 => (nasty.clone(), any::<String>(), nasty).prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        // Longer than every limit: characters, bytes (4-byte emoji) and lines.
        1 => (0usize..12_000, prop_oneof![Just("x"), Just("🚀"), Just("@everyone "), Just("\n")])
            .prop_map(|(n, unit)| unit.repeat(n)),
    ]
    .boxed()
}

/// Any JSON, with hostile strings and some depth.
fn hostile_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        Just(json!(u64::MAX)),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(hostile_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Every leaf path (JSON pointer) of `value`, objects and arrays included.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// A valid payload with some of its values (strings, numbers, objects) replaced by hostile JSON:
/// gets past the first checks so the deeper code sees the hostile values.
fn mutated(valid: Value) -> BoxedStrategy<Value> {
    let mut paths = Vec::new();
    pointers(&valid, String::new(), &mut paths);
    let n = paths.len();
    prop::collection::vec((0..n, hostile_json()), 0..5)
        .prop_map(move |changes| {
            let mut value = valid.clone();
            for (i, replacement) in changes {
                if let Some(slot) = value.pointer_mut(&paths[i]) {
                    *slot = replacement;
                }
            }
            value
        })
        .boxed()
}

/// A valid payload whose string leaves may each become hostile text (keeps the shape).
fn with_hostile_strings(valid: Value) -> BoxedStrategy<Value> {
    let mut paths = Vec::new();
    pointers(&valid, String::new(), &mut paths);
    let strings: Vec<String> = paths
        .into_iter()
        .filter(|p| valid.pointer(p).is_some_and(Value::is_string))
        .collect();
    let n = strings.len();
    prop::collection::vec(prop::option::of(hostile_text()), n)
        .prop_map(move |texts| {
            let mut value = valid.clone();
            for (path, text) in strings.iter().zip(texts) {
                if let (Some(text), Some(slot)) = (text, value.pointer_mut(path)) {
                    *slot = Value::String(text);
                }
            }
            value
        })
        .boxed()
}

fn deploy_payload() -> Value {
    json!({
        "service": "checkout", "version": "v1.4.2", "environment": "production",
        "status": "succeeded", "deployer": "ana", "commit_sha": "0123456789abcdef",
        "commit_at": "2026-11-24T10:00:00Z", "url": "https://ci.example.com/run/1",
        "changelog": "- fix", "id": "job-1"
    })
}

fn github_fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/github/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn gitlab_payload() -> Value {
    json!({
        "object_kind": "deployment", "status": "success",
        "status_changed_at": "2026-11-24 10:00:00 +0100", "deployment_id": 15,
        "deployable_id": 796, "deployable_url": "http://gitlab.example.com/root/shop/-/jobs/796",
        "environment": "staging", "environment_tier": "staging",
        "environment_external_url": "https://staging.example.com",
        "project": {"id": 30, "name": "shop", "path_with_namespace": "root/shop"},
        "short_sha": "279484c0", "user": {"id": 1, "name": "Administrator", "username": "root"},
        "commit_url": "http://gitlab.example.com/root/shop/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
        "commit_title": "Add new file", "ref": "1.0.0"
    })
}

fn alertmanager_payload() -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
        "receiver": "loopbot", "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "job": "checkout", "severity": "critical"},
        "commonAnnotations": {"summary": "errors"}, "externalURL": "http://am.example.com",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "job": "checkout", "severity": "critical",
                       "instance": "web-1", "environment": "production"},
            "annotations": {"summary": "5xx above 5%", "description": "see the dashboard",
                            "runbook_url": "https://runbooks.example.com/x"},
            "startsAt": "2026-11-24T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com/graph", "fingerprint": "fp-1"
        }]
    })
}

fn grafana_payload() -> Value {
    let mut payload = alertmanager_payload();
    payload["version"] = json!("1");
    payload["title"] = json!("[FIRING:1] CPUHigh");
    payload["state"] = json!("alerting");
    payload["message"] = json!("**Firing**\nValue: B=93.5");
    payload["alerts"][0]["silenceURL"] = json!("https://grafana.example.com/silence");
    payload["alerts"][0]["dashboardURL"] = json!("https://grafana.example.com/d/x");
    payload["alerts"][0]["valueString"] = json!("[ var='B' value=93.5 ]");
    payload
}

fn generic_alert_payload() -> Value {
    json!({
        "service": "checkout", "name": "HighErrorRate", "severity": "critical",
        "status": "firing", "summary": "5xx above 5%", "description": "see the dashboard",
        "fingerprint": "fp-2", "environment": "production", "instance": "web-1",
        "starts_at": "2026-11-24T09:00:00Z", "url": "https://example.com/alert",
        "runbook_url": "https://runbooks.example.com/x", "labels": {"team": "payments"}
    })
}

// ---------------------------------------------------------------- what Discord may receive

/// Discord's limits on a message body and the "pings nobody" rule, on a body as sent.
fn check_discord_body(body: &Value) -> Result<(), String> {
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
    if chars(&body["content"]) > 2000 {
        return Err(format!("content of {} characters", chars(&body["content"])));
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        return Err(format!("{} embeds", embeds.len()));
    }
    let mut total = 0;
    for embed in &embeds {
        let limits = [
            ("title", chars(&embed["title"]), 256),
            ("description", chars(&embed["description"]), 4096),
            ("footer", chars(&embed["footer"]["text"]), 2048),
            ("author", chars(&embed["author"]["name"]), 256),
        ];
        for (what, n, max) in limits {
            if n > max {
                return Err(format!("embed {what} of {n} characters (max {max})"));
            }
            total += n;
        }
        let fields = embed["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return Err(format!("{} fields", fields.len()));
        }
        for field in &fields {
            let (name, value) = (chars(&field["name"]), chars(&field["value"]));
            if name == 0 || name > 256 || value == 0 || value > 1024 {
                return Err(format!(
                    "field name {name} / value {value} characters: {field}"
                ));
            }
            total += name + value;
        }
        if embed["url"].as_str().is_some_and(|u| u.len() > 2048) {
            return Err("embed url over 2048".into());
        }
    }
    if total > 6000 {
        return Err(format!("embeds total {total} characters"));
    }
    let mentions = &body["allowed_mentions"];
    if !mentions.is_object() {
        return Err(format!("no explicit allowed_mentions: {body}"));
    }
    if mentions["parse"] != json!([]) {
        return Err(format!("allowed_mentions.parse is {}", mentions["parse"]));
    }
    for kind in ["users", "roles"] {
        if !mentions[kind].as_array().is_none_or(|a| a.is_empty()) {
            return Err(format!("allowed_mentions.{kind} is {}", mentions[kind]));
        }
    }
    Ok(())
}

fn check_rendered(message: &Rendered) -> Result<(), String> {
    check_discord_body(&post_body(message, "n1".into()))?;
    check_discord_body(&edit_body(message))
}

/// The stored deploy an accepted event becomes, rendered as the bot would.
fn render_event(event: &DeployEvent) -> Result<(), TestCaseError> {
    let deploy = Deploy::first_seen(1, event, Utc::now());
    let message = render::render(&DeliverySubject::Deploy(deploy)).expect("a deploy renders");
    check_rendered(&message).map_err(TestCaseError::fail)
}

// ---------------------------------------------------------------- pure parsers and rendering

fn raw_deploy() -> impl Strategy<Value = RawDeployEvent> {
    // Mostly valid values, so that many events pass validation and reach the rendering with the
    // hostile ones mixed in.
    let field = |valid: &'static str| {
        prop_oneof![
            3 => Just(Some(valid.to_owned())),
            2 => prop::option::of(hostile_text()),
        ]
    };
    let status = prop_oneof![
        Just(Some("started".to_owned())),
        Just(Some("succeeded".to_owned())),
        Just(Some(" FAILED ".to_owned())),
        Just(Some("rolled_back".to_owned())),
        prop::option::of(hostile_text()),
    ];
    let url = prop_oneof![
        1 => prop::option::of(hostile_text()),
        1 => hostile_text().prop_map(|t| Some(format!("https://ci.example.com/{t}"))),
        2 => (0usize..2100).prop_map(|n| Some(format!("https://ci.example.com/{}", "u".repeat(n)))),
    ];
    let sha = prop_oneof![
        2 => "[0-9a-f]{4,64}".prop_map(Some),
        1 => prop::option::of(hostile_text()),
    ];
    (
        (
            field("checkout"),
            field("v1.4.2"),
            field("production"),
            status,
            field("ana"),
        ),
        (
            sha,
            field("2026-11-24T10:00:00Z"),
            url,
            field("- fix"),
            field("job-1"),
        ),
    )
        .prop_map(
            |((service, version, environment, status, deployer), (sha, at, url, log, id))| {
                RawDeployEvent {
                    service,
                    version,
                    environment,
                    status,
                    deployer,
                    commit_sha: sha,
                    commit_at: at,
                    url,
                    changelog: log,
                    id,
                    ..Default::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generic_deploy_parse_never_panics_and_what_it_accepts_renders_within_limits(
        raw in raw_deploy()
    ) {
        if let Ok(event) = DeployEvent::parse(&raw) {
            render_event(&event)?;
        }
    }

    #[test]
    fn github_mapping_never_panics(
        event in prop_oneof![
            Just("deployment".to_owned()), Just("deployment_status".to_owned()),
            Just("workflow_run".to_owned()), Just("ping".to_owned()), hostile_text()
        ],
        body in prop_oneof![
            with_hostile_strings(github_fixture("deployment.default")),
            with_hostile_strings(github_fixture("deployment_status.default")),
            with_hostile_strings(github_fixture("workflow_run.completed")),
            mutated(github_fixture("deployment_status.default")),
            mutated(github_fixture("workflow_run.completed")),
            hostile_json(),
        ],
    ) {
        let workflows = WorkflowFilter::parse("*").unwrap();
        if let Ok(WebhookOutcome::Deploy(deploy)) = webhook::github(&event, &body, &workflows) {
            render_event(&deploy.event)?;
        }
    }

    #[test]
    fn gitlab_mapping_never_panics(
        event in prop_oneof![Just("Deployment Hook".to_owned()), hostile_text()],
        body in prop_oneof![
            with_hostile_strings(gitlab_payload()),
            mutated(gitlab_payload()),
            hostile_json(),
        ],
    ) {
        if let Ok(WebhookOutcome::Deploy(deploy)) = webhook::gitlab(&event, &body) {
            render_event(&deploy.event)?;
        }
    }

    #[test]
    fn alert_parsers_never_panic(
        am in prop_oneof![
            with_hostile_strings(alertmanager_payload()),
            with_hostile_strings(grafana_payload()),
            mutated(alertmanager_payload()),
            hostile_json(),
        ],
        generic in prop_oneof![
            with_hostile_strings(generic_alert_payload()),
            mutated(generic_alert_payload()),
            hostile_json(),
        ],
    ) {
        let labels = vec!["service".to_owned(), "job".to_owned()];
        if let Ok(raw) = serde_json::from_value::<RawAlertmanagerPayload>(am) {
            for source in [AlertSource::Alertmanager, AlertSource::Grafana] {
                let by_labels = |l: &std::collections::BTreeMap<String, String>| format!("{l:?}");
                let _ = AlertNotification::from_alertmanager(source, &raw, &labels, &by_labels);
            }
        }
        if let Ok(raw) = serde_json::from_value::<RawGenericAlert>(generic) {
            let _ = AlertNotification::from_generic(&raw);
        }
    }

    #[test]
    fn any_deploy_renders_within_discord_limits_and_pings_nobody(deploy in stored_deploy()) {
        let message = render::render(&DeliverySubject::Deploy(deploy)).unwrap();
        check_rendered(&message).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn a_digest_of_hostile_deploys_fits_discord_limits_and_pings_nobody(
        deploys in prop::collection::vec(stored_deploy(), 0..150)
    ) {
        let members = deploys.into_iter().map(DeliverySubject::Deploy).collect();
        let message = render::render(&DeliverySubject::Digest(members)).unwrap();
        check_rendered(&message).map_err(TestCaseError::fail)?;
    }
}

/// A deploy straight from the store, as if validation had let anything through.
pub(crate) fn stored_deploy() -> impl Strategy<Value = Deploy> {
    (
        (hostile_text(), hostile_text(), hostile_text()),
        (
            prop::option::of(hostile_text()),
            prop::option::of(hostile_text()),
            // URLs are checked at the edge (http(s), bounded); Discord refuses any other.
            hostile_text().prop_map(|t| {
                WebUrl::parse("url", &format!("https://ci.example.com/{t}"))
                    .ok()
                    .map(|u| u.as_str().to_owned())
            }),
            prop::option::of(hostile_text()),
        ),
        prop_oneof![
            Just(DeployStatus::Started),
            Just(DeployStatus::Succeeded),
            Just(DeployStatus::Failed),
            Just(DeployStatus::RolledBack),
        ],
        0i64..10_000_000,
    )
        .prop_map(
            |((service, version, environment), (deployer, changelog, url, sha), status, took)| {
                let now = Utc::now();
                Deploy {
                    id: i64::MAX,
                    service,
                    version,
                    environment,
                    status,
                    deployer,
                    commit_sha: sha,
                    commit_at: None,
                    url,
                    changelog,
                    started_at: now - chrono::Duration::seconds(took),
                    finished_at: Some(now),
                }
            },
        )
}

// ---------------------------------------------------------------- through the real router

/// One inbound format: where it is posted, how it authenticates, a valid body to start from.
struct Endpoint {
    path: &'static str,
    headers: fn(&[u8]) -> Vec<(String, String)>,
    valid: fn() -> Value,
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

fn github_headers(body: &[u8]) -> Vec<(String, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    vec![
        ("x-hub-signature-256".into(), signature),
        ("x-github-event".into(), "deployment_status".into()),
    ]
}

fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint {
            path: "/api/v1/deploys",
            headers: |_| bearer(API_TOKEN),
            valid: deploy_payload,
        },
        Endpoint {
            path: "/hooks/github",
            headers: github_headers,
            valid: || github_fixture("deployment_status.default"),
        },
        Endpoint {
            path: "/hooks/gitlab",
            headers: |_| {
                vec![
                    ("x-gitlab-token".into(), GITLAB_TOKEN.into()),
                    ("x-gitlab-event".into(), "Deployment Hook".into()),
                ]
            },
            valid: gitlab_payload,
        },
        Endpoint {
            path: "/hooks/alertmanager",
            headers: |_| bearer(ALERTMANAGER_TOKEN),
            valid: alertmanager_payload,
        },
        Endpoint {
            path: "/hooks/grafana",
            headers: |_| bearer(GRAFANA_TOKEN),
            valid: grafana_payload,
        },
        Endpoint {
            path: "/api/v1/alerts",
            headers: |_| bearer(API_TOKEN),
            valid: generic_alert_payload,
        },
    ]
}

fn hostile_app(rt: &tokio::runtime::Runtime) -> TestApp {
    rt.block_on(TestApp::spawn_with(|config| {
        config.integrations.github_webhook_secret = Some(Secret::new(GITHUB_SECRET));
        config.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_TOKEN));
        config.alerts.alertmanager_token = Some(Secret::new(ALERTMANAGER_TOKEN));
        config.alerts.grafana_token = Some(Secret::new(GRAFANA_TOKEN));
    }))
}

async fn post_bytes(app: &TestApp, endpoint: &Endpoint, body: Vec<u8>) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url(endpoint.path))
        .header("content-type", "application/json");
    for (name, value) in (endpoint.headers)(&body) {
        request = request.header(name, value);
    }
    let response = match request.body(body).send().await {
        Ok(response) => response,
        // The server may answer 413 and close before a huge body is written: a refusal too.
        Err(e) => return (0, Value::String(e.to_string())),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A refusal is a 4xx a sender can act on, with a JSON reason; never a 5xx.
fn check_answer(endpoint: &Endpoint, status: u16, body: &Value) -> Result<(), String> {
    match status {
        200 | 202 => Ok(()),
        400 | 413 | 415 | 422 => match body["error"].as_str() {
            Some(reason) if !reason.is_empty() => Ok(()),
            _ => Err(format!(
                "{} {status} without a JSON reason: {body}",
                endpoint.path
            )),
        },
        _ => Err(format!("{} answered {status}: {body}", endpoint.path)),
    }
}

/// Every body the bot sent to the local Discord (posts and edits) is within limits and pings nobody.
async fn check_everything_sent(app: &TestApp) {
    // Let the outbox drain first.
    let drained = app.discord.wait_for(PATIENCE * 3, |_| true).await;
    assert!(drained);
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    while app.count("outbox where state = 'pending'").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never drained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let failed: Vec<(String,)> =
        sqlx::query_as("select coalesce(last_error, '') from outbox where state = 'failed'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(failed.is_empty(), "Discord refused messages: {failed:?}");
    // The local Discord holds every body to Discord's limits: it refused none of them.
    let refused = app.discord.refused_bodies();
    assert!(refused.is_empty(), "the local Discord refused: {refused:?}");
    let statuses: Vec<u16> = app.discord.requests().iter().map(|r| r.status).collect();
    assert!(
        !statuses.contains(&400),
        "a 400 from the local Discord: {statuses:?}"
    );
    let sent: Vec<_> = app
        .discord
        .requests()
        .into_iter()
        .filter(|r| (r.method == "POST" || r.method == "PATCH") && r.path.contains("/messages"))
        .collect();
    for request in &sent {
        if let Err(problem) = check_discord_body(&request.body) {
            panic!(
                "{} {}: {problem}\n{}",
                request.method, request.path, request.body
            );
        }
    }
    // Sanity: hostile-but-valid input did get through to the channel.
    assert!(!app.discord.messages(CHANNEL_ID).is_empty());
}

#[test]
fn every_inbound_endpoint_answers_hostile_json_with_a_4xx_or_accepts_it_safely() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = hostile_app(&rt);
    let accepted = std::cell::RefCell::new(BTreeMap::new());
    for endpoint in endpoints() {
        // A fixed seed: the assertion below needs some generated bodies to be valid, and a random
        // seed occasionally produced none for one format (a flaky test, not a bug).
        let mut runner = TestRunner::new_with_rng(
            ProptestConfig::with_cases(48),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strategy = prop_oneof![
            3 => with_hostile_strings((endpoint.valid)()),
            2 => mutated((endpoint.valid)()),
            1 => hostile_json(),
        ];
        runner
            .run(&strategy, |body| {
                let bytes = serde_json::to_vec(&body).unwrap();
                let (status, answer) = rt.block_on(post_bytes(&app, &endpoint, bytes));
                if status == 202 {
                    *accepted.borrow_mut().entry(endpoint.path).or_insert(0) += 1;
                }
                check_answer(&endpoint, status, &answer).map_err(TestCaseError::fail)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", endpoint.path));
    }
    // Each format accepted some hostile-but-valid bodies, so rendering saw them.
    let accepted = accepted.into_inner();
    for endpoint in endpoints() {
        assert!(
            accepted.get(endpoint.path).is_some_and(|n| *n > 0),
            "{} accepted nothing: {accepted:?}",
            endpoint.path
        );
    }
    rt.block_on(check_everything_sent(&app));
}

#[test]
fn raw_bytes_invalid_utf8_deep_nesting_and_10_mb_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = hostile_app(&rt);
    let ten_mb = format!(r#"{{"service": "{}"}}"#, "a".repeat(10 * 1024 * 1024)).into_bytes();
    let deep_array = "[".repeat(100_000).into_bytes();
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)).into_bytes();
    let mut invalid_utf8 = br#"{"service": "chec"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
    invalid_utf8
        .extend_from_slice(br#"kout", "version": "v1", "environment": "p", "status": "started"}"#);
    let escaped_nul =
        br#"{"service": "a\u0000b", "version": "\ud800", "environment": "p", "status": "started"}"#
            .to_vec();
    for endpoint in endpoints() {
        for (what, body, expected) in [
            ("10 MB", ten_mb.clone(), &[413, 0][..]),
            ("deep array", deep_array.clone(), &[400, 422][..]),
            ("deep object", deep_object.clone(), &[400, 422][..]),
            ("invalid UTF-8", invalid_utf8.clone(), &[400][..]),
            (
                "lone surrogate / NUL escapes",
                escaped_nul.clone(),
                &[400, 422][..],
            ),
            ("empty", Vec::new(), &[400, 422][..]),
        ] {
            let (status, answer) = rt.block_on(post_bytes(&app, &endpoint, body));
            assert!(
                expected.contains(&status),
                "{} {what}: {status} {answer}",
                endpoint.path
            );
            if status != 0 {
                check_answer(&endpoint, status, &answer).unwrap();
            }
        }
        // A 10 MB body sent with its length in advance: refused by the limit, as JSON.
        let (status, answer) = rt.block_on(async {
            let mut request = app.http.post(app.url(endpoint.path));
            for (name, value) in (endpoint.headers)(b"") {
                request = request.header(name, value);
            }
            let response = request
                .header("content-type", "application/json")
                .header("content-length", ten_mb.len().to_string())
                .body(reqwest::Body::wrap_stream(futures::stream::iter(
                    ten_mb
                        .chunks(64 * 1024)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>(),
                )))
                .send()
                .await;
            match response {
                Ok(r) => (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                ),
                Err(e) => (0, Value::String(e.to_string())),
            }
        });
        if status != 0 {
            assert_eq!(status, 413, "{}: {answer}", endpoint.path);
            assert!(
                answer["error"].as_str().is_some(),
                "{}: {answer}",
                endpoint.path
            );
        }
    }
    assert_eq!(rt.block_on(app.count("deploy")), 0);
    // The bot is still alive and well.
    let status = rt.block_on(async {
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);

    // Arbitrary bytes, not JSON at all.
    let mut runner = TestRunner::new(ProptestConfig::with_cases(64));
    let endpoints = endpoints();
    runner
        .run(
            &(
                0..endpoints.len(),
                prop::collection::vec(any::<u8>(), 0..2048),
            ),
            |(i, bytes)| {
                let (status, answer) = rt.block_on(post_bytes(&app, &endpoints[i], bytes));
                check_answer(&endpoints[i], status, &answer).map_err(TestCaseError::fail)
            },
        )
        .unwrap();
}
