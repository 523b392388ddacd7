//! A real browser for the tests: Debian's headless Chromium driven over WebDriver (chromedriver,
//! package `chromium-driver`, installed by `.ci/run`) with fantoccini. Missing programs fail the
//! test (CI must have them), never skip it. Screenshots go under the test binary's output
//! directory (`CARGO_TARGET_TMPDIR/screenshots/<name>.png`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

pub struct Browser {
    pub client: Client,
    /// The chromedriver process; killed when the browser is dropped.
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn program(candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} is installed (Debian: chromium, chromium-driver)")
        })
        .to_string()
}

impl Browser {
    /// A fresh headless Chromium (its own profile) with a desktop-sized window.
    pub async fn start() -> Browser {
        Self::start_sized(1100, 1400).await
    }

    pub async fn start_sized(width: u32, height: u32) -> Browser {
        let driver_path = program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chromium = program(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver on {url} never answered: {error}"),
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Saves what the browser shows as `<name>.png` under the tests' output directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (the driver process goes with the value).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
