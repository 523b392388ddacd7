//! The unauthenticated-route walk: every route of `http::ROUTES` (which a unit test keeps equal to
//! the router's `.route(...)` calls) is requested without credentials and with wrong ones.

use loopbot::config::Secret;
use loopbot::http::{Auth, ROUTES};
use serde_json::Value;

use crate::support::app::{deploy, TestApp};

const WRITE_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];
const ALL_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A concrete path for a route pattern (`{param}` → `1`).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let mut request = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .header("content-type", "application/json")
        .body(deploy(serde_json::json!({})).to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or(Value::Null), www)
}

/// What a caller without the right credential must get from a route using `auth`.
fn wrong_credentials(auth: Auth) -> Vec<Vec<(&'static str, &'static str)>> {
    let none = vec![];
    match auth {
        // Refused with plain HTML pages (401/403), walked in tests/e2e/dashboard.rs.
        Auth::Public | Auth::DashboardLink => vec![],
        Auth::ApiToken => vec![
            none,
            vec![("authorization", "Bearer not-the-token")],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            vec![("authorization", "Bearer ")],
        ],
        Auth::GithubSignature => vec![
            none,
            vec![("x-github-event", "deployment")],
            vec![
                ("x-github-event", "deployment"),
                ("x-hub-signature-256", "sha256=00"),
            ],
            vec![("x-hub-signature-256", "sha1=abcdef")],
            // The API token is no key to the GitHub hook.
            vec![("authorization", "Bearer test-api-token-0123456789")],
        ],
        Auth::Alertmanager => vec![
            none,
            vec![("authorization", "Bearer not-the-token")],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            vec![("authorization", "Bearer test-api-token-0123456789")],
        ],
        Auth::Grafana => vec![
            none,
            vec![("authorization", "Bearer not-the-token")],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            // The right token without the body's signature (the secret is set too).
            vec![("authorization", "Bearer grafana-token-for-the-walk")],
            vec![
                ("authorization", "Bearer grafana-token-for-the-walk"),
                ("x-grafana-alerting-signature", "00ff"),
            ],
        ],
        Auth::GitlabToken => vec![
            none,
            vec![("x-gitlab-token", "wrong")],
            vec![("x-gitlab-event", "Deployment Hook")],
            vec![("authorization", "Bearer test-api-token-0123456789")],
        ],
    }
}

#[tokio::test]
async fn every_write_route_refuses_an_unauthenticated_request() {
    let app = TestApp::spawn_with(|config| {
        config.integrations.github_webhook_secret = Some(Secret::new("gh-secret-for-the-walk"));
        config.integrations.gitlab_webhook_token = Some(Secret::new("gl-token-for-the-walk"));
        config.alerts.alertmanager_token = Some(Secret::new("am-token-for-the-walk"));
        config.alerts.grafana_token = Some(Secret::new("grafana-token-for-the-walk"));
        config.alerts.grafana_webhook_secret = Some(Secret::new("grafana-secret-for-the-walk"));
    })
    .await;
    let mut writes = 0;
    for route in ROUTES {
        let path = concrete(route.path);
        let is_write = WRITE_METHODS.contains(&route.method);
        if is_write {
            writes += 1;
            assert_ne!(
                route.auth,
                Auth::Public,
                "{} {} writes without authentication",
                route.method,
                route.path
            );
        }
        for headers in wrong_credentials(route.auth) {
            let (status, body, www) = send(&app, route.method, &path, &headers).await;
            assert_eq!(
                status, 401,
                "{} {path} with {headers:?} answered {status} {body}",
                route.method
            );
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{} {path}: 401 without a JSON reason: {body}",
                route.method
            );
            if route.auth == Auth::ApiToken {
                assert_eq!(www.as_deref(), Some("Bearer"));
            }
        }
    }
    assert!(writes >= 3, "the table lists too few write routes");
    // Nothing got through.
    assert_eq!(app.count("deploy").await, 0);
    assert_eq!(app.count("outbox").await, 0);
    assert_eq!(app.count("alert").await, 0);

    // Methods a route does not list: 405 (known path) with a JSON error, never a handler.
    let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    paths.dedup();
    for pattern in paths {
        let path = concrete(pattern);
        for method in ALL_METHODS {
            if ROUTES
                .iter()
                .any(|r| r.path == pattern && r.method == method)
            {
                continue;
            }
            let (status, body, _) = send(&app, method, &path, &[]).await;
            assert_eq!(status, 405, "{method} {path}: {status} {body}");
            assert_eq!(body["error"], "method not allowed");
        }
    }
    // Paths the table does not list: 404 for every method, so no unlisted route exists there.
    for path in [
        "/",
        "/api",
        "/api/v1",
        "/api/v1/deploys/1",
        "/api/v1/releases",
        "/api/v1/alerts/1",
        "/hooks",
        "/hooks/bitbucket",
        "/admin",
        "/debug",
    ] {
        for method in ALL_METHODS {
            let (status, body, _) = send(&app, method, path, &[]).await;
            assert_eq!(status, 404, "{method} {path}: {status} {body}");
        }
    }
}

#[tokio::test]
async fn write_routes_whose_secret_is_unset_answer_503_not_200() {
    // The default test config sets the API token but no hook secrets.
    let app = TestApp::spawn().await;
    for route in ROUTES.iter().filter(|r| WRITE_METHODS.contains(&r.method)) {
        if route.auth == Auth::ApiToken {
            continue;
        }
        let (status, body, _) = send(&app, route.method, &concrete(route.path), &[]).await;
        assert_eq!(status, 503, "{} {}: {body}", route.method, route.path);
        assert!(
            body["error"].as_str().unwrap().contains("disabled"),
            "{body}"
        );
    }
    let app = TestApp::spawn_with(|config| config.api_token = None).await;
    for route in ROUTES.iter().filter(|r| r.auth == Auth::ApiToken) {
        let (status, body, _) = send(
            &app,
            route.method,
            &concrete(route.path),
            &[("authorization", "Bearer anything")],
        )
        .await;
        assert_eq!(status, 503, "{} {}: {body}", route.method, route.path);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("LOOPBOT_API_TOKEN"),
            "{body}"
        );
    }
    assert_eq!(app.count("deploy").await, 0);
}

#[tokio::test]
async fn grafana_with_only_a_signing_secret_refuses_unsigned_requests_before_reading_them() {
    let app = TestApp::spawn_with(|config| {
        config.alerts.grafana_webhook_secret = Some(Secret::new("grafana-secret-only"));
    })
    .await;
    for method in ["POST", "PUT"] {
        for headers in [
            vec![],
            vec![("x-grafana-alerting-signature", "00ff")],
            vec![("x-grafana-alerting-signature", "not hex")],
        ] {
            // The body is not even a Grafana payload: the signature decides first.
            let (status, body, _) = send(&app, method, "/hooks/grafana", &headers).await;
            assert_eq!(status, 401, "{method} {headers:?}: {body}");
        }
    }
    assert_eq!(app.count("alert").await, 0);
}
