//! `loopbot sandbox` in-process: the same `Sandbox::build` the command runs, on a free port and
//! a temporary database, returned once the bot is ready and its commands are registered.

use std::time::Duration;

use fake_discord::FakeDiscord;
use loopbot::sandbox::{Options, Sandbox};
use serde_json::Value;

use super::app::PATIENCE;

pub struct SandboxApp {
    pub addr: std::net::SocketAddr,
    pub discord: FakeDiscord,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl SandboxApp {
    pub async fn spawn() -> SandboxApp {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            database: dir.path().join("sandbox.db"),
            fresh: true,
        };
        // Only the address comes from the environment here; the sandbox sets the rest itself.
        let env = [("LOOPBOT_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned())];
        let sandbox = Sandbox::build(options, env)
            .await
            .expect("the sandbox builds");
        let addr = sandbox.local_addr();
        let discord = sandbox.discord().clone();
        let task = tokio::spawn(async move {
            if let Err(e) = sandbox.run_until_stopped().await {
                eprintln!("sandbox stopped: {e}");
            }
        });
        let app = SandboxApp {
            addr,
            discord,
            http: reqwest::Client::new(),
            _dir: dir,
            task,
        };
        assert!(
            app.discord
                .wait_for(PATIENCE, |d| d
                    .registered_commands()
                    .iter()
                    .any(|c| c["name"] == "checkin"))
                .await,
            "the bot never registered its commands in the sandbox"
        );
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `f` holds for the messages of `channel`.
    pub async fn wait_messages(&self, channel: u64, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let holds = self
            .discord
            .wait_for(PATIENCE, |d| f(&d.messages(channel)))
            .await;
        let messages = self.discord.messages(channel);
        assert!(holds, "never happened; messages: {messages:#?}");
        messages
    }
}

impl Drop for SandboxApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long a browser test waits for the page to show something.
pub const PAGE_PATIENCE: Duration = Duration::from_secs(15);
