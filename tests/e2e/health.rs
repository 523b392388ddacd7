//! Release health from Prometheus (issue 16): a real Prometheus (Debian's `prometheus`) scrapes an
//! exporter this test serves; a check-in after a deploy whose error counter jumped shows the
//! error rate before → after, marked worse; with Prometheus stopped, or too slow, the check-in
//! still posts, saying unavailable, and the metric says why.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fake_discord::CHANNEL_ID;
use loopbot::config::Config;
use loopbot::domain::health::HealthQuery;
use serde_json::{json, Value};

use crate::support::app::{binary_command, deploy, TestApp, API_TOKEN, DISCORD_TOKEN};

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Prometheus starts, scrapes every second and answers; on a busy machine that takes a while.
const SLOW_PATIENCE: Duration = Duration::from_secs(45);
/// Short ranges, so a jump shows within a few scrapes.
const ERROR_RATE: &str = r#"sum(rate(http_requests_total{service="$service",env="$environment",code=~"5.."}[10s])) / sum(rate(http_requests_total{service="$service",env="$environment"}[10s]))"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An exporter of `http_requests_total` for checkout in production: every scrape adds 100
/// successful requests and `errors_per_scrape` failed ones.
struct Exporter {
    addr: std::net::SocketAddr,
    errors_per_scrape: Arc<AtomicU64>,
}

async fn serve_exporter() -> Exporter {
    let errors_per_scrape = Arc::new(AtomicU64::new(1));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let step = errors_per_scrape.clone();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let ok = ok.fetch_add(100, Ordering::SeqCst) + 100;
            let errors =
                errors.fetch_add(step.load(Ordering::SeqCst), Ordering::SeqCst) + step.load(Ordering::SeqCst);
            async move {
                format!(
                    "# HELP http_requests_total Requests served.\n\
                     # TYPE http_requests_total counter\n\
                     http_requests_total{{service=\"checkout\",env=\"production\",code=\"200\"}} {ok}\n\
                     http_requests_total{{service=\"checkout\",env=\"production\",code=\"500\"}} {errors}\n\
                     http_requests_total{{service=\"search\",env=\"production\",code=\"500\"}} {ok}\n"
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Exporter {
        addr,
        errors_per_scrape,
    }
}

struct Prometheus {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

/// Starts the real Prometheus on a loopback port, scraping `target` every second, and waits until
/// it is ready. Fails when the program is missing: CI installs it (.ci/run).
async fn start_prometheus(target: std::net::SocketAddr) -> Prometheus {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install it with `apt-get install -y --no-install-recommends \
         prometheus` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: [\"{target}\"]\n"
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + SLOW_PATIENCE;
    loop {
        if let Ok(r) = http.get(format!("{url}/-/ready")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Prometheus {
        child,
        url,
        _dir: dir,
    }
}

impl Prometheus {
    /// Waits until the error rate of checkout in production, as Prometheus computes it now,
    /// satisfies `wanted`; returns it.
    async fn wait_for_error_rate(&self, wanted: impl Fn(f64) -> bool) -> f64 {
        let query = loopbot::domain::health::substitute(ERROR_RATE, "checkout", "production");
        let deadline = tokio::time::Instant::now() + SLOW_PATIENCE;
        let mut last = Value::Null;
        loop {
            if let Ok(r) = reqwest::Client::new()
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query.as_str())])
                .send()
                .await
            {
                last = r.json().await.unwrap_or(Value::Null);
                let value = last["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if let Some(value) = value.filter(|v| v.is_finite() && wanted(*v)) {
                    return value;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prometheus never showed the error rate wanted; last answer {last}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
        let _ = self.child.wait().await;
    }
}

fn with_health(url: String, timeout: Duration) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.checkins.delays = vec![Duration::from_millis(200)];
        config.checkins.close_after = Duration::from_secs(3600);
        config.checkins.tick = Duration::from_millis(50);
        config.health.prometheus_url = Some(url);
        config.health.timeout = timeout;
        config.health.queries = vec![HealthQuery {
            name: "ERROR_RATE".into(),
            promql: ERROR_RATE.into(),
            higher_is_better: false,
        }];
    }
}

/// The "Release health" field of the check-in of `version`, once it is posted.
async fn health_field(app: &TestApp, version: &str) -> String {
    let asked = format!("How is **checkout {version}**");
    let find = |app: &TestApp| {
        app.discord
            .messages(CHANNEL_ID)
            .into_iter()
            .find(|m| m["content"].as_str().is_some_and(|c| c.contains(&asked)))
    };
    assert!(
        app.discord
            .wait_for(SLOW_PATIENCE, |_| find(app).is_some())
            .await,
        "no check-in of {version}; messages: {:?}",
        app.discord.messages(CHANNEL_ID)
    );
    let message = find(app).unwrap();
    let fields = message["embeds"][0]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    fields
        .iter()
        .find(|f| f["name"] == "Release health")
        .unwrap_or_else(|| panic!("no Release health field: {message}"))["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn metric(app: &TestApp, series: &str) -> f64 {
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
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn feedback_json(app: &TestApp, deploy_id: i64) -> Value {
    app.http
        .get(app.url(&format!("/api/v1/releases/{deploy_id}/feedback")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn dashboard(app: &TestApp, path: &str) -> String {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_checkin_shows_the_error_rate_before_and_after_from_a_real_prometheus() {
    let exporter = serve_exporter().await;
    let prometheus = start_prometheus(exporter.addr).await;
    // 1 error per 100 requests before the deploy: Prometheus must have seen it.
    prometheus
        .wait_for_error_rate(|v| (v - 1.0 / 101.0).abs() < 1e-6)
        .await;
    let app =
        TestApp::spawn_with(with_health(prometheus.url.clone(), Duration::from_secs(5))).await;

    let (status, body) = app.post_deploy(&deploy(json!({"status": "started"}))).await;
    assert_eq!(status, 202, "{body}");
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    // The release breaks things: 30 errors per 100 requests, until Prometheus sees it.
    exporter.errors_per_scrape.store(30, Ordering::SeqCst);
    prometheus.wait_for_error_rate(|v| v > 0.1).await;
    let (status, _) = app.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 202);

    let line = health_field(&app, "v1.4.2").await;
    assert!(
        line.starts_with("error rate 0.99% → ") && line.ends_with("% ⚠ worse"),
        "{line}"
    );
    let json = feedback_json(&app, deploy_id).await;
    let health = &json["health"][0];
    assert_eq!(health["query"], "ERROR_RATE", "{json}");
    assert_eq!(health["verdict"], "worse");
    assert_eq!(health["line"], line.as_str());
    let before = health["before"]["value"].as_f64().unwrap();
    let after = health["after"]["value"].as_f64().unwrap();
    assert!((before - 1.0 / 101.0).abs() < 1e-6 && after > 0.1, "{json}");
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from checkin_health where name = 'ERROR_RATE' and after_value > 0.1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let page = dashboard(&app, &format!("/dashboard/releases/{deploy_id}")).await;
    assert!(
        page.contains("<h2>Release health</h2>")
            && page.contains("0.99%")
            && page.contains("⚠ worse"),
        "{page}"
    );
    let main = dashboard(&app, "/dashboard").await;
    assert!(main.contains("⚠ worse: error rate"), "{main}");

    // Prometheus stops: the next release's check-in still goes out, saying unavailable.
    prometheus.stop().await;
    let (status, _) = app.post_deploy(&deploy(json!({"version": "v1.4.3"}))).await;
    assert_eq!(status, 202);
    let line = health_field(&app, "v1.4.3").await;
    assert_eq!(line, "error rate unavailable (Prometheus unreachable)");
    let failures = metric(
        &app,
        r#"loopbot_health_query_failures_total{query="ERROR_RATE",reason="unreachable"}"#,
    )
    .await;
    assert_eq!(failures, 2.0, "before and after");
}

#[tokio::test]
async fn a_prometheus_that_never_answers_does_not_hold_the_checkin() {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let app = TestApp::spawn_with(with_health(url, Duration::from_millis(300))).await;
    let (status, _) = app.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 202);
    let line = health_field(&app, "v1.4.2").await;
    assert_eq!(line, "error rate unavailable (Prometheus timed out)");
    assert_eq!(
        metric(
            &app,
            r#"loopbot_health_query_failures_total{query="ERROR_RATE",reason="timeout"}"#
        )
        .await,
        2.0
    );
}

/// The queries are the one family of variables the binary finds by listing its environment
/// (and `.env`): `check-config` shows them, and a query without a Prometheus stops it.
#[tokio::test]
async fn the_binary_finds_the_queries_in_its_environment_and_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "LOOPBOT_HEALTH_QUERY_AVAILABILITY='avg(up{job=\"$service\"})'\n",
    )
    .unwrap();
    let run = |vars: Vec<(&'static str, String)>| {
        let mut command = binary_command(dir.path(), &vars);
        async move {
            command
                .arg("check-config")
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let token = ("DISCORD_TOKEN", DISCORD_TOKEN.to_owned());
    let output = run(vec![
        token.clone(),
        ("LOOPBOT_PROMETHEUS_URL", "http://127.0.0.1:9090/".into()),
        ("LOOPBOT_HEALTH_QUERY_ERROR_RATE", ERROR_RATE.into()),
        ("LOOPBOT_HEALTH_HIGHER_IS_BETTER", "availability".into()),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for line in [
        "LOOPBOT_PROMETHEUS_URL = http://127.0.0.1:9090",
        "LOOPBOT_HEALTH_QUERY_<NAME> = AVAILABILITY,ERROR_RATE",
        "LOOPBOT_HEALTH_HIGHER_IS_BETTER = AVAILABILITY",
        "LOOPBOT_HEALTH_TOLERANCE = 10%",
    ] {
        assert!(stdout.contains(line), "{line} not in {stdout}");
    }
    let output = run(vec![token]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("LOOPBOT_PROMETHEUS_URL"), "{stderr}");
}
