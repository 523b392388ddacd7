//! Ingestion and delivery benchmark: `cargo bench --bench ingest`.
//!
//! Prints figures measured in one run, as ratios against a baseline measured in the same run,
//! never asserted: these machines are shared and noisy. Phases:
//! 1. the real `loopbot` binary against the local Discord: idle RSS;
//! 2. accepted → posted latency at 20 events/s (p50, p99);
//! 3. durable ingestion: deploys/s answered 202 at 64 concurrent connections, p99 accept latency,
//!    and a count of the rows in the database afterwards (nothing lost); RSS after;
//! 4. the baseline: plain axum + sqlx inserting the same row with group commit (this same
//!    executable, re-run as a server), under the same load;
//! 5. the weekly and 30-day summary over a generated year (`loopbot bench summary`), in the same
//!    report;
//! 6. PostgreSQL (a throwaway cluster started like the tests' one, `tests/support/postgres.rs`):
//!    phases 3 and 4 again on it, then two replicas on one database under the same load, and the
//!    time the survivor takes to hold every lease after the holder is SIGKILLed
//!    (`ingest/postgres.rs`).
//!
//! `LOOPBOT_BENCH_SECS` sets the length of each load phase (default 5).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_discord as discord;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const CONCURRENCY: usize = 64;
const TOKEN: &str = "bench-token";
const ROLE_VAR: &str = "LOOPBOT_BENCH_ROLE";

// The tests' throwaway cluster; the benchmark uses only its always-PostgreSQL half.
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod pg_cluster;
#[path = "ingest/postgres.rs"]
mod postgres;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if std::env::var(ROLE_VAR).as_deref() == Ok("baseline-postgres") {
        let url = std::env::args()
            .nth(1)
            .expect("the baseline needs a database URL");
        runtime.block_on(postgres::baseline::serve(url));
        return;
    }
    if std::env::var(ROLE_VAR).as_deref() == Ok("baseline") {
        let db = std::env::args()
            .nth(1)
            .expect("baseline needs a database path");
        runtime.block_on(baseline::serve(PathBuf::from(db)));
        return;
    }
    // `cargo bench` passes --bench; anything else (e.g. a test harness filter) is ignored.
    runtime.block_on(report());
}

async fn report() {
    let seconds: u64 = std::env::var("LOOPBOT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let phase = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = discord::FakeDiscord::start().await;

    println!("loopbot ingestion benchmark ({seconds}s per load phase, {CONCURRENCY} connections)");
    println!("machine: {} cores, {}", num_cores(), cpu_model());

    let bot_db = dir.path().join("loopbot.db");
    let (mut bot, bot_addr) = spawn_bot(&fake, &bot_db).await;
    let pid = bot.id().expect("bot pid");
    wait_ready(bot_addr).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(pid);

    // Accepted → posted, at a rate under Discord's limits.
    let latencies = post_latency(&fake, bot_addr, 20, phase).await;

    // Durable ingestion against the bot, with the local Discord enforcing Discord's per-channel
    // limit as the real one would: the announcements wait in the outbox, paced.
    fake.set_rate_limits(true);
    let bot_load = load(bot_addr, "/api/v1/deploys", phase, "w").await;
    let after_rss = rss_kib(pid);
    let stored = count_rows(
        &bot_db,
        "select count(*) from deploy where service like 'load-%'",
    )
    .await;
    let _ = bot.kill().await;

    // The same load against the baseline.
    let base_db = dir.path().join("baseline.db");
    let (mut base, base_addr) = spawn_baseline(&base_db).await;
    let base_load = load(base_addr, "/api/v1/deploys", phase, "w").await;
    let _ = base.kill().await;
    let summary_report = summary_bench(dir.path()).await;
    let postgres_report = postgres::run(&fake, dir.path(), phase).await;

    println!();
    println!("durable ingestion (202 after commit)");
    println!(
        "  loopbot : {:>8.0} deploys/s  p50 {:>6.1} ms  p99 {:>6.1} ms  errors {}",
        bot_load.rate(),
        ms(bot_load.percentile(0.50)),
        ms(bot_load.percentile(0.99)),
        bot_load.errors
    );
    println!(
        "  baseline: {:>8.0} rows/s     p50 {:>6.1} ms  p99 {:>6.1} ms  errors {}",
        base_load.rate(),
        ms(base_load.percentile(0.50)),
        ms(base_load.percentile(0.99)),
        base_load.errors
    );
    println!(
        "  ratio loopbot/baseline: {:.2} (target >= 0.50); p99 accept target < 50 ms",
        bot_load.rate() / base_load.rate().max(1.0)
    );
    println!(
        "  accepted {} / stored {} (lost: {})",
        bot_load.accepted,
        stored,
        bot_load.accepted as i64 - stored
    );
    println!();
    println!("accepted -> posted through the local Discord at 20 events/s");
    println!(
        "  p50 {:.1} ms  p99 {:.1} ms  ({} events; target p99 < 100 ms)",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        latencies.len()
    );
    println!();
    println!("memory (VmRSS of the loopbot process)");
    println!(
        "  idle after start: {:.1} MiB (target < 40)   after ingestion: {:.1} MiB (target < 80)",
        idle_rss as f64 / 1024.0,
        after_rss as f64 / 1024.0
    );
    println!();
    println!("summaries over a generated year (loopbot bench summary)");
    for line in summary_report.lines() {
        println!("  {line}");
    }
    postgres_report.print();
}

/// Runs `loopbot bench summary` and returns what it printed.
async fn summary_bench(dir: &Path) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loopbot"))
        .args(["bench", "summary", "--runs", "10"])
        .env_clear()
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("unused.db").display()),
        )
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => format!("failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => format!("could not run: {e}"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted_or_not: &[Duration], p: f64) -> Duration {
    if sorted_or_not.is_empty() {
        return Duration::ZERO;
    }
    let mut v = sorted_or_not.to_vec();
    v.sort();
    let index = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[index.min(v.len() - 1)]
}

struct Load {
    accepted: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    /// Two loads run at the same time, as one.
    fn joint(a: Load, b: Load) -> Load {
        let mut latencies = a.latencies;
        latencies.extend(b.latencies);
        Load {
            accepted: a.accepted + b.accepted,
            errors: a.errors + b.errors,
            elapsed: a.elapsed.max(b.elapsed),
            latencies,
        }
    }

    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// CONCURRENCY connections posting distinct deploy events back to back for `phase`; `tag` keeps
/// the ids of two loads at once apart.
async fn load(addr: std::net::SocketAddr, path: &str, phase: Duration, tag: &str) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let url = format!("http://{addr}{path}");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let client = client.clone();
        let url = url.clone();
        let stop = stop.clone();
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({
                    "id": format!("{tag}{worker}-{n}"),
                    "service": format!("load-{}", worker % 200),
                    "version": format!("v{n}"),
                    "environment": "production",
                    "status": "succeeded",
                    "commit_sha": "0123456789abcdef0123456789abcdef01234567",
                });
                let sent = Instant::now();
                match client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 202 => latencies.push(sent.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    let mut result = Load {
        accepted: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (latencies, errors) = task.await.unwrap();
        result.accepted += latencies.len() as u64;
        result.errors += errors;
        result.latencies.extend(latencies);
    }
    result.elapsed = started.elapsed();
    result
}

/// Sends `rate` events a second for `phase`; returns, per event, the time from its 202 to the
/// local Discord receiving the post.
async fn post_latency(
    fake: &discord::FakeDiscord,
    addr: std::net::SocketAddr,
    rate: u64,
    phase: Duration,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/v1/deploys");
    let total = rate * phase.as_secs().max(1);
    let mut accepted_at = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / rate));
    for n in 0..total {
        ticker.tick().await;
        let body = json!({
            "service": "latency", "version": format!("l{n}"),
            "environment": "production", "status": "succeeded",
        });
        let response = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await;
        if matches!(response, Ok(ref r) if r.status().as_u16() == 202) {
            accepted_at.push((format!("latency l{n} "), Instant::now()));
        }
    }
    fake.wait_for(Duration::from_secs(30), |d| {
        d.message_posts(discord::CHANNEL_ID).len() >= accepted_at.len()
    })
    .await;
    let posts = fake.message_posts(discord::CHANNEL_ID);
    accepted_at
        .iter()
        .filter_map(|(needle, at)| {
            posts
                .iter()
                .find(|p| {
                    p.body["embeds"][0]["title"]
                        .as_str()
                        .unwrap_or("")
                        .contains(needle)
                })
                .map(|p| p.at.saturating_duration_since(*at))
        })
        .collect()
}

async fn spawn_bot(
    fake: &discord::FakeDiscord,
    db: &Path,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loopbot"));
    command
        .arg("serve")
        .env_clear()
        .current_dir(db.parent().unwrap())
        .env("DISCORD_TOKEN", "bench")
        .env("DISCORD_API_URL", fake.url())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LOOPBOT_HTTP_ADDR", "127.0.0.1:0")
        .env("LOOPBOT_API_TOKEN", TOKEN)
        .env("LOOPBOT_DEFAULT_CHANNEL", discord::CHANNEL_ID.to_string())
        .env("LOOPBOT_GUILD_IDS", discord::GUILD_ID.to_string())
        .env("LOOPBOT_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,loopbot::startup=info");
    spawn_and_read_addr(command, "addr").await
}

async fn spawn_baseline(db: &Path) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command.env(ROLE_VAR, "baseline").arg(db);
    spawn_and_read_addr(command, "addr").await
}

/// Starts a server process and reads the JSON log line carrying its listening address.
async fn spawn_and_read_addr(
    mut command: tokio::process::Command,
    field: &str,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for stream in [
        Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        let field = field.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Some(addr) = v[&field].as_str().and_then(|a| a.parse().ok()) {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
    }
    let addr = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the server reports its address")
        .expect("the server reports its address");
    (child, addr)
}

async fn wait_ready(addr: std::net::SocketAddr) {
    let client = reqwest::Client::new();
    for _ in 0..500 {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("loopbot never became ready");
}

async fn count_rows(db: &Path, sql: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open the database");
    sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap_or(-1)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1).map(|m| m.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The baseline: the least a durable HTTP ingest can do. axum, sqlx, the same SQLite settings
/// (WAL, synchronous=NORMAL), one writer committing whatever is queued in one transaction.
mod baseline {
    use std::path::PathBuf;
    use std::str::FromStr;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use tokio::sync::{mpsc, oneshot};

    pub(crate) type Job = (Value, oneshot::Sender<i64>);

    pub async fn serve(db: PathBuf) {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::query(
            "create table if not exists deploy (id integer primary key, external_id text unique,
             service text, version text, environment text, status text, body text)",
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

    /// Queues the body for the writer and answers 202 once it is committed (both engines).
    pub(crate) async fn accept(
        State(tx): State<mpsc::Sender<Job>>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let (done, committed) = oneshot::channel();
        if tx.send((body, done)).await.is_err() {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
        }
        match committed.await {
            Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "deploy_id": id }))),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({}))),
        }
    }

    async fn writer(pool: sqlx::SqlitePool, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 1024).await > 0 {
            let mut tx = pool.begin().await.unwrap();
            let mut ids = Vec::with_capacity(batch.len());
            for (body, _) in &batch {
                let id: i64 = sqlx::query_scalar(
                    "insert into deploy (external_id, service, version, environment, status, body)
                     values (?, ?, ?, ?, ?, ?) returning id",
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
