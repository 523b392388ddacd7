//! Spawning loopbot for a test: in-process (the builder `main` uses) or as the real binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_discord::{FakeDiscord, CHANNEL_ID, GUILD_ID};
use loopbot::config::{Config, DeliverySettings, LogFormat, Secret};
use loopbot::domain::{ChannelId, GuildId};
use loopbot::startup::Application;
use serde_json::Value;
use sqlx::AnyPool;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const API_TOKEN: &str = "test-api-token-0123456789";
pub const DISCORD_TOKEN: &str = "test-discord-token-SECRET";

/// How long a test waits for something that should take well under a second.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub discord: FakeDiscord,
    pub db: AnyPool,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

/// The test configuration: the defaults of an empty environment, pointed at the local Discord
/// and the test's database (see `support::postgres`), with fast retries. New settings need no
/// change here.
pub fn test_config(discord: &FakeDiscord, dir: &Path) -> Config {
    let mut config = Config::from_lookup(|_| None).expect("the defaults are valid");
    config.discord_token = Some(Secret::new(DISCORD_TOKEN));
    config.discord_api_url = Some(discord.url());
    config.database_url = super::postgres::database_url(dir);
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.api_token = Some(Secret::new(API_TOKEN));
    config.default_channel = Some(ChannelId(CHANNEL_ID));
    config.guild_ids = vec![GuildId(GUILD_ID)];
    config.delivery = DeliverySettings {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
        ..DeliverySettings::default()
    };
    config
}

fn init_logs() {
    // Logs only when asked: TEST_LOG=1 cargo test
    if std::env::var_os("TEST_LOG").is_some() {
        loopbot::telemetry::init(LogFormat::Pretty);
    }
}

impl TestApp {
    /// A fresh local Discord, a fresh database, the default test configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let discord = FakeDiscord::start().await;
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_on(discord, dir, adjust).await
    }

    /// Starts the application on an existing local Discord and database directory.
    pub async fn spawn_on(
        discord: FakeDiscord,
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        init_logs();
        let mut config = test_config(&discord, dir.path());
        adjust(&mut config);
        let app = Application::build(config)
            .await
            .expect("application builds");
        let addr = app.local_addr();
        let db = app.store().pool().clone();
        let task = tokio::spawn(async move {
            if let Err(e) = app.run_until_stopped().await {
                eprintln!("application stopped: {e}");
            }
        });
        assert!(
            discord.wait_for_identify(PATIENCE).await,
            "the bot never identified on the local gateway"
        );
        let test_app = TestApp {
            addr,
            discord,
            db,
            dir,
            http: reqwest::Client::new(),
            task,
        };
        test_app.wait_ready().await;
        test_app
    }

    /// Waits until /readyz says the gateway session is ready (commands registered).
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let status = self
                .http
                .get(self.url("/readyz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 200 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the application (HTTP server, delivery worker, jobs) and hands back the local Discord
    /// and the database directory, so a test can start it again on the same data with `spawn_on`.
    pub async fn stop(mut self) -> (FakeDiscord, tempfile::TempDir) {
        self.task.abort();
        let _ = (&mut self.task).await;
        // Close the database like a dying process would: a transaction cut off mid-way by the
        // abort must not keep SQLite's write lock from the next instance.
        self.db.close().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.discord.clone(), dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a deploy event with the right token; returns status and JSON body.
    pub async fn post_deploy(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/deploys"))
            .bearer_auth(API_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until loopbot stored the Discord message `message` as one of its own (the delivery
    /// that posted it settled). A person cannot press a button that fast; a test can, and a press
    /// before it is refused as naming a message the bot does not know yet.
    pub async fn wait_message_known(&self, message: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let known: i64 =
                sqlx::query_scalar("select count(*) from message where discord_message_id = $1")
                    .bind(message as i64)
                    .fetch_one(&self.db)
                    .await
                    .unwrap();
            if known > 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {message} never stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&loopbot::store::numbered(&format!(
            "select count(*) from {table}"
        )))
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
        // The local Discord holds every body to Discord's limits in every test: one it refused
        // (400, code 50035) would have been lost in production, whatever the test asserted.
        let refused = self.discord.refused_bodies();
        if !refused.is_empty() && !std::thread::panicking() {
            let refused: Vec<String> = refused
                .iter()
                .map(|(r, errors)| format!("{} {}: {errors}", r.method, r.path))
                .collect();
            panic!(
                "the local Discord refused bodies over Discord's limits:\n{}",
                refused.join("\n")
            );
        }
    }
}

/// The real `loopbot` binary as a child process, for tests that kill it or read its output.
pub struct BinaryApp {
    pub child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loopbot"))
}

/// A command for the binary with a clean environment (no .env, no inherited variables).
pub fn binary_command(dir: &Path, vars: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command.env_clear().current_dir(dir).kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

impl BinaryApp {
    /// Runs `loopbot serve` against `discord` with the database in `dir`; returns once it listens.
    pub async fn serve(discord: &FakeDiscord, dir: &Path) -> BinaryApp {
        Self::serve_with_env(discord, dir, &[]).await
    }

    /// Like `serve`, with extra environment variables (e.g. `LOOPBOT_CHECKIN_DELAYS`).
    pub async fn serve_with_env(
        discord: &FakeDiscord,
        dir: &Path,
        extra: &[(&str, String)],
    ) -> BinaryApp {
        let mut vars = vec![
            ("DISCORD_TOKEN", DISCORD_TOKEN.to_owned()),
            ("DISCORD_API_URL", discord.url()),
            ("DATABASE_URL", super::postgres::database_url(dir)),
            ("LOOPBOT_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
            ("LOOPBOT_DEFAULT_CHANNEL", CHANNEL_ID.to_string()),
            ("LOOPBOT_GUILD_ID", GUILD_ID.to_string()),
            ("LOOPBOT_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        vars.extend(extra.iter().cloned());
        let mut child = binary_command(dir, &vars)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the loopbot binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let log_writer = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut addr_tx = Some(addr_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(json) = serde_json::from_str::<Value>(&line) {
                    if json["message"] == "HTTP API listening" {
                        if let Some(tx) = addr_tx.take() {
                            let _ = tx.send(json["addr"].as_str().unwrap_or("").to_owned());
                        }
                    }
                }
                log_writer.lock().unwrap().push(line);
            }
        });
        let addr = match tokio::time::timeout(PATIENCE, addr_rx).await {
            Ok(Ok(addr)) => addr.parse().expect("a socket address"),
            _ => panic!(
                "the binary did not log its address; it said: {:?}",
                log.lock().unwrap()
            ),
        };
        BinaryApp { child, addr, log }
    }

    pub async fn post_deploy(&self, body: &Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("http://{}/api/v1/deploys", self.addr))
            .bearer_auth(API_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, then waits for the process to exit. Returns its exit status and what it logged.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30s of SIGTERM")
            .unwrap();
        // Let the log reader catch the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }

    /// SIGKILL: no shutdown code runs. Returns what it logged.
    pub async fn kill(mut self) -> Vec<String> {
        self.child.kill().await.unwrap();
        let _ = self.child.wait().await;
        let log = self.log.lock().unwrap().clone();
        log
    }
}

/// A deploy event body with sensible defaults, overridden by `fields`.
pub fn deploy(fields: Value) -> Value {
    let mut body = serde_json::json!({
        "service": "checkout",
        "version": "v1.4.2",
        "environment": "production",
        "status": "succeeded",
    });
    if let (Some(base), Some(extra)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    body
}

/// A choice option as Discord's client sends it: the value registered for the chosen name.
pub fn choice(app: &TestApp, command: &str, name: &str, chosen: &str) -> Value {
    let registered = app
        .discord
        .registered_commands()
        .into_iter()
        .find(|c| c["name"] == command)
        .unwrap_or_else(|| panic!("/{command} not registered"));
    let option = registered["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("/{command} has no option {name}: {registered}"))
        .clone();
    let value = option["choices"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == chosen))
        .unwrap_or_else(|| panic!("{name} has no choice {chosen}: {option}"))["value"]
        .clone();
    serde_json::json!({"name": name, "type": option["type"], "value": value})
}

/// Sends a slash command through the local gateway and returns the bot's first answer to it.
pub async fn command(app: &TestApp, channel: u64, user: u64, name: &str, options: Value) -> Value {
    let id = app
        .discord
        .send_slash_command(channel, user, name, options)
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "/{name} got no answer"
    );
    app.discord.interaction_responses(id)[0].clone()
}
