//! The PostgreSQL phases of the ingestion benchmark: loopbot on one PostgreSQL database against
//! its baseline (plain axum + sqlx inserting the same row into PostgreSQL with group commit), and
//! two replicas on one database: their joint rate, nothing lost, and the time the survivor takes
//! to hold every lease after the holder is killed (SIGKILL).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{discord, load, spawn_and_read_addr, wait_ready, Load, ROLE_VAR, TOKEN};

/// What the PostgreSQL phases measured.
pub struct Report {
    pub bot: Load,
    pub bot_stored: i64,
    pub baseline: Load,
    pub replicas: Load,
    pub replicas_stored: i64,
    /// From the SIGKILL of the replica holding every lease to the other's `/readyz` listing them.
    pub takeover: Option<Duration>,
    pub lease_ttl: Duration,
}

const LEASE_TTL: Duration = Duration::from_secs(2);

pub async fn run(fake: &discord::FakeDiscord, dir: &Path, phase: Duration) -> Report {
    // One replica against its baseline.
    let one = super::pg_cluster::postgres_database_url(&fresh(dir, "pg-one"));
    let (mut bot, addr) = spawn(fake, dir, &one, "bench-one").await;
    wait_ready(addr).await;
    let bot_load = load(addr, "/api/v1/deploys", phase, "w").await;
    let bot_stored = count(&one).await;
    let _ = bot.kill().await;

    let base_url = super::pg_cluster::postgres_database_url(&fresh(dir, "pg-baseline"));
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command.env(ROLE_VAR, "baseline-postgres").arg(&base_url);
    let (mut base, base_addr) = spawn_and_read_addr(command, "addr").await;
    let baseline = load(base_addr, "/api/v1/deploys", phase, "w").await;
    let _ = base.kill().await;

    // Two replicas on one database: both take webhooks; the first holds every lease.
    let shared = super::pg_cluster::postgres_database_url(&fresh(dir, "pg-two"));
    let (mut first, first_addr) = spawn(fake, dir, &shared, "bench-a").await;
    wait_ready(first_addr).await;
    let held = wait_leases(first_addr, &[], Duration::from_secs(30)).await;
    let (mut second, second_addr) = spawn(fake, dir, &shared, "bench-b").await;
    wait_ready(second_addr).await;
    let (a, b) = tokio::join!(
        load(first_addr, "/api/v1/deploys", phase, "a"),
        load(second_addr, "/api/v1/deploys", phase, "b"),
    );
    let replicas = Load::joint(a, b);
    let killed = Instant::now();
    let _ = first.kill().await;
    let takeover = match held {
        Some(held) => wait_leases(second_addr, &held, Duration::from_secs(60))
            .await
            .map(|_| killed.elapsed()),
        None => None,
    };
    let replicas_stored = count(&shared).await;
    let _ = second.kill().await;
    Report {
        bot: bot_load,
        bot_stored,
        baseline,
        replicas,
        replicas_stored,
        takeover,
        lease_ttl: LEASE_TTL,
    }
}

impl Report {
    pub fn print(&self) {
        let line = |name: &str, load: &Load| {
            println!(
                "  {name}: {:>8.0} /s  p50 {:>6.1} ms  p99 {:>6.1} ms  errors {}",
                load.rate(),
                super::ms(load.percentile(0.50)),
                super::ms(load.percentile(0.99)),
                load.errors
            )
        };
        println!();
        println!("PostgreSQL (a throwaway local cluster, fsync off): durable ingestion (202 after commit)");
        line("loopbot      ", &self.bot);
        line("baseline     ", &self.baseline);
        println!(
            "  ratio loopbot/baseline: {:.2}; accepted {} / stored {} (lost: {})",
            self.bot.rate() / self.baseline.rate().max(1.0),
            self.bot.accepted,
            self.bot_stored,
            self.bot.accepted as i64 - self.bot_stored
        );
        line("two replicas ", &self.replicas);
        println!(
            "  ratio two replicas/baseline: {:.2}; accepted {} / stored {} (lost: {})",
            self.replicas.rate() / self.baseline.rate().max(1.0),
            self.replicas.accepted,
            self.replicas_stored,
            self.replicas.accepted as i64 - self.replicas_stored
        );
        match self.takeover {
            Some(t) => println!(
                "  take-over after SIGKILL of the lease holder: {:.2} s (LOOPBOT_LEASE_TTL={}s; bound: term + a quarter)",
                t.as_secs_f64(),
                self.lease_ttl.as_secs()
            ),
            None => println!("  take-over after SIGKILL: not seen within 60 s"),
        }
    }
}

fn fresh(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("a directory for the database marker");
    path
}

async fn spawn(
    fake: &discord::FakeDiscord,
    dir: &Path,
    url: &str,
    replica: &str,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loopbot"));
    command
        .arg("serve")
        .env_clear()
        .current_dir(dir)
        .env("DISCORD_TOKEN", "bench")
        .env("DISCORD_API_URL", fake.url())
        .env("DATABASE_URL", url)
        .env("LOOPBOT_HTTP_ADDR", "127.0.0.1:0")
        .env("LOOPBOT_API_TOKEN", TOKEN)
        .env("LOOPBOT_DEFAULT_CHANNEL", discord::CHANNEL_ID.to_string())
        .env("LOOPBOT_GUILD_IDS", discord::GUILD_ID.to_string())
        .env("LOOPBOT_REPLICA_ID", replica)
        .env("LOOPBOT_LEASE_TTL", format!("{}s", LEASE_TTL.as_secs()))
        .env("LOOPBOT_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,loopbot::startup=info");
    spawn_and_read_addr(command, "addr").await
}

/// Waits until the replica at `addr` holds `wanted` (or, when empty, any lease including the
/// outbox's); returns what it then holds.
async fn wait_leases(
    addr: std::net::SocketAddr,
    wanted: &[String],
    patience: Duration,
) -> Option<Vec<String>> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
            if let Ok(body) = r.json::<Value>().await {
                let held: Vec<String> = body["leases"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let done = if wanted.is_empty() {
                    held.iter().any(|l| l == "outbox")
                } else {
                    wanted.iter().all(|w| held.contains(w))
                };
                if done {
                    return Some(held);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn count(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .expect("open the database");
    let n = sqlx::query_scalar("select count(*) from deploy where service like 'load-%'")
        .fetch_one(&pool)
        .await
        .unwrap_or(-1);
    pool.close().await;
    n
}

/// The baseline on PostgreSQL: axum, sqlx, one writer committing whatever is queued in one
/// transaction (group commit), the same row as the SQLite baseline.
pub mod baseline {
    use axum::routing::post;
    use axum::Router;
    use serde_json::json;
    use tokio::sync::mpsc;

    use crate::baseline::{accept, Job};

    pub async fn serve(url: String) {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query(
            "create table if not exists deploy (id bigint generated by default as identity primary key,
             external_id text unique, service text, version text, environment text, status text,
             body text)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let (tx, rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(writer(pool, rx));
        let app = Router::new()
            .route("/api/v1/deploys", post(accept))
            .with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!(
            "{}",
            json!({"addr": listener.local_addr().unwrap().to_string()})
        );
        axum::serve(listener, app).await.unwrap();
    }

    async fn writer(pool: sqlx::PgPool, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 1024).await > 0 {
            let mut tx = pool.begin().await.unwrap();
            let mut ids = Vec::with_capacity(batch.len());
            for (body, _) in &batch {
                let id: i64 = sqlx::query_scalar(
                    "insert into deploy (external_id, service, version, environment, status, body)
                     values ($1, $2, $3, $4, $5, $6) returning id",
                )
                .bind(body["id"].as_str())
                .bind(body["service"].as_str())
                .bind(body["version"].as_str())
                .bind(body["environment"].as_str())
                .bind(body["status"].as_str())
                .bind(body.to_string())
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                ids.push(id);
            }
            tx.commit().await.unwrap();
            for ((_, done), id) in batch.drain(..).zip(ids) {
                let _ = done.send(id);
            }
        }
    }
}
