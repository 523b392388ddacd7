//! The HTTP edge (issue 14, item 6): half-sent requests are cut off, requests have a deadline and
//! a ceiling, credentials in headers are checked before any body is read, metrics label only what
//! the server defines, and probes say what is wrong without the database's own words.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::support::app::{command, deploy, TestApp, API_TOKEN};
use fake_discord::{CHANNEL_ID, PLAIN_USER_ID};
use loopbot::config::Secret;

const GITLAB_TOKEN: &str = "gitlab-hook-token-0123";
const ALERTMANAGER_TOKEN: &str = "alertmanager-token-0123";
const GITHUB_SECRET: &str = "github-hook-secret-0123";
const GRAFANA_SECRET: &str = "grafana-hook-secret-0123";

/// Sends `head` (and nothing after it) on a fresh connection.
async fn send_partial(addr: std::net::SocketAddr, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads one HTTP response (status, JSON body) from `stream`, waiting at most `within`.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<(u16, Value)> {
    let mut bytes = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            bytes.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&bytes).to_string();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                let status = text[9..12].parse().ok()?;
                let body = serde_json::from_slice(&bytes[end + 4..end + 4 + length])
                    .unwrap_or(Value::Null);
                return Some((status, body));
            }
        }
    };
    timeout(within, read).await.ok().flatten()
}

/// Whether the server has closed `stream` (EOF or reset), waiting at most `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 the server wrote before closing counts as closing too.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_sent_requests_do_not_hold_the_server_and_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let mut held = Vec::new();
    for i in 0..300 {
        // Half a request line, then nothing.
        held.push(send_partial(app.addr, &format!("GET /healthz?n={i} HT")).await);
    }
    for _ in 0..20 {
        // Connected, and never a byte.
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }

    let asked = Instant::now();
    let health = timeout(
        Duration::from_secs(1),
        app.http.get(app.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answered within a second while 320 connections hang")
    .unwrap();
    assert_eq!(health.status(), 200, "after {:?}", asked.elapsed());
    // Writes still work too.
    let (status, body) = app.post_deploy(&deploy(json!({ "version": "v1" }))).await;
    assert_eq!(status, 202, "{body}");

    // Still open a few seconds in: it is the header timeout (10 s) that ends them, not something else.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(10)).await,
        "a half-sent request was closed after only {:?}",
        started.elapsed()
    );
    let deadline = started + Duration::from_secs(15);
    let mut still_open = 0;
    for stream in &mut held {
        if !closed_within(stream, deadline.saturating_duration_since(Instant::now())).await {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "connections still open 15 s after sending half a request"
    );
    // The server is none the worse.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// `(labels)` of every `loopbot_http_request_duration_seconds` series on `/metrics`.
async fn http_series(app: &TestApp) -> BTreeSet<String> {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("loopbot_http_request_duration_seconds_count{"))
        .map(|l| l.split('}').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = TestApp::spawn().await;
    // One request of each kind the server knows, so the series those make already exist.
    app.http.get(app.url("/healthz")).send().await.unwrap();
    app.http.get(app.url("/nope")).send().await.unwrap();
    let before = http_series(&app).await;

    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("FROB{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            format!("/made/up/{i}")
        } else {
            "/api/v1/deploys".to_owned()
        };
        let response = app
            .http
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    let after = http_series(&app).await;
    let added: Vec<_> = after.difference(&before).collect();
    assert!(
        added.len() <= 3,
        "300 made-up requests added {} series: {added:?}",
        added.len()
    );
    let known_routes: BTreeSet<&str> = loopbot::http::ROUTES
        .iter()
        .map(|r| r.path)
        .chain(["unmatched"])
        .collect();
    for series in &after {
        assert!(
            !series.contains("FROB") && !series.contains("/made/"),
            "{series}"
        );
        let label = |name: &str| {
            series
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        assert!(
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"]
                .contains(&label("method").as_str()),
            "{series}"
        );
        assert!(known_routes.contains(label("route").as_str()), "{series}");
    }
    assert!(
        after.iter().any(|s| s.contains("method=\"other\"")),
        "the made-up requests were counted under `other`: {after:?}"
    );
}

/// A POST with good credentials whose body never finishes arriving.
fn unfinished_deploy(token: &str) -> String {
    format!(
        "POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"service\": \"api\", "
    )
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_a_slow_answer_503_at_the_request_timeout() {
    let app = TestApp::spawn_with(|c| c.http.request_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut stream = send_partial(app.addr, &unfinished_deploy(API_TOKEN)).await;
    let (status, body) = read_response(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer at the request timeout");
    assert_eq!(status, 408, "{body}");
    assert_eq!(
        body["error"], "the request body did not arrive within 1s",
        "{body}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(app.count("deploy").await, 0);

    // The database is locked by someone else: the answer would come after SQLite's busy timeout
    // (on PostgreSQL, after the lock is released).
    use sqlx::Connection;
    let url = crate::support::postgres::database_url(app.dir.path());
    sqlx::any::install_default_drivers();
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    if crate::support::postgres::on_postgres() {
        sqlx::query("begin").execute(&mut other).await.unwrap();
        sqlx::query("lock table inbound_event in exclusive mode")
            .execute(&mut other)
            .await
            .unwrap();
    } else {
        sqlx::query("begin immediate")
            .execute(&mut other)
            .await
            .unwrap();
    }
    let started = Instant::now();
    let (status, body) = app.post_deploy(&deploy(json!({ "version": "v1" }))).await;
    let took = started.elapsed();
    sqlx::query("rollback").execute(&mut other).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"], "the request was not answered within 1s; retry later",
        "{body}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}

#[tokio::test]
async fn the_request_timeout_is_30_seconds_and_the_header_timeout_10_by_default() {
    let config = loopbot::config::Config::from_lookup(|_| None).unwrap();
    assert_eq!(config.http.request_timeout, Duration::from_secs(30));
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.http.max_in_flight, 256);
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_get_503_at_once_and_probes_still_answer() {
    let app = TestApp::spawn_with(|c| c.http.max_in_flight = 2).await;
    // Two requests whose bodies never finish hold both places.
    let mut holders = vec![
        send_partial(app.addr, &unfinished_deploy(API_TOKEN)).await,
        send_partial(app.addr, &unfinished_deploy(API_TOKEN)).await,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let (status, body) = app.post_deploy(&deploy(json!({ "version": "v1" }))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"], "the bot is already handling 2 requests; retry in a moment",
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    let refused = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    // Liveness is not counted.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(app.count("deploy").await, 0);

    // The holders give up: their places come back.
    for stream in &mut holders {
        stream.shutdown().await.unwrap();
    }
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = app.post_deploy(&deploy(json!({ "version": "v1" }))).await;
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "the places never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("deploy").await, 1);
}

#[tokio::test]
async fn wrong_credentials_in_headers_are_refused_before_the_body_arrives() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_TOKEN));
        c.integrations.github_webhook_secret = Some(Secret::new(GITHUB_SECRET));
        c.alerts.alertmanager_token = Some(Secret::new(ALERTMANAGER_TOKEN));
        c.alerts.grafana_webhook_secret = Some(Secret::new(GRAFANA_SECRET));
    })
    .await;
    let cases = [
        ("/api/v1/deploys", "Authorization: Bearer wrong-token"),
        ("/api/v1/deploys", "X-Nothing: here"),
        ("/api/v1/alerts", "Authorization: Bearer wrong-token"),
        ("/hooks/gitlab", "X-Gitlab-Token: wrong-token"),
        ("/hooks/gitlab", "X-Gitlab-Event: Deployment Hook"),
        ("/hooks/alertmanager", "Authorization: Bearer wrong-token"),
        // GitHub's and Grafana's signatures are HMACs over the body: only a missing one is known
        // before the body arrives.
        ("/hooks/github", "X-GitHub-Event: deployment_status"),
        ("/hooks/grafana", "X-Grafana-Alerting-Timestamp: 1700000000"),
    ];
    for (path, credential) in cases {
        let mut stream = send_partial(
            app.addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n{credential}\r\nContent-Type: application/json\r\n\
                 Content-Length: 100000\r\n\r\n{{\"partial\": "
            ),
        )
        .await;
        let started = Instant::now();
        let (status, body) = read_response(&mut stream, Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("{path} with {credential}: no answer while the body hangs"));
        assert_eq!(status, 401, "{path} with {credential}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(app.count("inbound_event").await, 0);
}

/// The database stops answering: the application's own pool is closed under it. (Overwriting
/// the files SQLite has open or mapped made it read a garbage WAL index: in CI that exhausted
/// memory and aborted the whole test binary.)
async fn break_database(app: &TestApp) {
    app.db.close().await;
}

#[tokio::test]
async fn readyz_with_a_broken_database_says_so_in_plain_words() {
    let app = TestApp::spawn().await;
    break_database(&app).await;
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, json!({ "error": "database not answering" }));
}

#[tokio::test]
async fn a_command_over_a_broken_database_answers_in_plain_words() {
    let app = TestApp::spawn().await;
    break_database(&app).await;
    let reply = command(&app, CHANNEL_ID, PLAIN_USER_ID, "subscriptions", json!([])).await;
    assert_eq!(
        reply["data"]["content"],
        "the bot's database is unavailable right now; please try again in a moment",
        "{reply}"
    );
    assert_eq!(
        reply["data"]["flags"], 64,
        "only the asker sees it: {reply}"
    );
}
