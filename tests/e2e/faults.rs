//! Fault injection through the local Discord and the OS: a lost gateway, Discord's REST side down
//! for a minute, a locked, read-only or full database, and SIGKILLs in the middle of a burst.
//! Each test ends by showing that every accepted event was announced exactly once.
//! (500s, 429s and slow answers are in delivery.rs.)
//!
//! The disk tests mount filesystems (tmpfs, an ext4 loop image) and so need root, `mount`,
//! `losetup` support and e2fsprogs; without them they fail rather than skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fake_discord::{FakeDiscord, CHANNEL_ID, PLAIN_USER_ID};
use rand::Rng;
use serde_json::{json, Value};

use crate::support::app::{deploy, BinaryApp, TestApp, API_TOKEN, PATIENCE};

/// How long Discord's REST side stays down in the outage test (the issue says a minute).
const REST_OUTAGE: Duration = Duration::from_secs(60);
/// How many times the binary is SIGKILLed in the middle of a burst.
const KILL_ROUNDS: usize = 5;

/// How many times each version was announced in the channel (title: "✅ Deployed: svc VERSION → env").
fn announcements_by_version(discord: &FakeDiscord) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for message in discord.messages(CHANNEL_ID) {
        let title = message["embeds"][0]["title"].as_str().unwrap_or("");
        let version = title.split_whitespace().nth(3).unwrap_or("").to_owned();
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

/// Waits until exactly `versions` are announced, then checks for a while that nothing is repeated.
async fn assert_announced_once(discord: &FakeDiscord, versions: &BTreeSet<String>, wait: Duration) {
    let complete = discord
        .wait_for(wait, |d| {
            let seen = announcements_by_version(d);
            versions.iter().all(|v| seen.contains_key(v))
        })
        .await;
    let seen = announcements_by_version(discord);
    assert!(
        complete,
        "not everything was announced: want {versions:?}, got {seen:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = announcements_by_version(discord);
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "announced more than once: {duplicated:?}"
    );
}

async fn ask_help(app: &TestApp) {
    let id = app
        .discord
        .send_slash_command(CHANNEL_ID, PLAIN_USER_ID, "help", Value::Null)
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "/help got no answer after the gateway came back"
    );
    let answer = &app.discord.interaction_responses(id)[0];
    assert!(
        answer.to_string().contains("/subscribe"),
        "unexpected /help answer: {answer}"
    );
}

async fn post_and_expect(app: &TestApp, version: &str) {
    let (status, body) = app
        .post_deploy(&deploy(json!({ "version": version })))
        .await;
    assert_eq!(status, 202, "{version}: {body}");
}

/// The gateway closes with `code`; the bot must come back (by RESUME or a new IDENTIFY), be ready,
/// answer commands and keep announcing, with nothing lost or repeated across the gap.
async fn gateway_comes_back(code: u16) -> TestApp {
    let app = TestApp::spawn().await;
    post_and_expect(&app, "v1").await;
    let mut want: BTreeSet<String> = ["v1".to_owned()].into();
    assert_announced_once(&app.discord, &want, PATIENCE).await;

    app.discord.close_gateway(code).await;
    // Accepted while the gateway is away: REST still works, so these go out regardless.
    post_and_expect(&app, "v2").await;
    want.insert("v2".into());
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.resume_count() + d.identify_count() >= 2)
            .await,
        "the bot never reconnected after close code {code}"
    );
    app.wait_ready().await;
    ask_help(&app).await;
    post_and_expect(&app, "v3").await;
    want.insert("v3".into());
    assert_announced_once(&app.discord, &want, PATIENCE).await;
    assert_eq!(announcements_by_version(&app.discord).len(), 3);
    app
}

#[tokio::test]
async fn gateway_closed_with_4000_resumes_and_keeps_working() {
    let app = gateway_comes_back(4000).await;
    assert_eq!(app.discord.resume_count(), 1, "4000 is resumable");
    assert_eq!(app.discord.identify_count(), 1, "no new session needed");
}

#[tokio::test]
async fn gateway_closed_with_4009_identifies_again_and_keeps_working() {
    let app = gateway_comes_back(4009).await;
    assert_eq!(app.discord.resume_count(), 0, "the session was invalidated");
    assert_eq!(app.discord.identify_count(), 2, "a fresh session");
}

#[tokio::test]
async fn gateway_closed_with_1000_identifies_again_and_keeps_working() {
    let app = gateway_comes_back(1000).await;
    assert_eq!(app.discord.resume_count(), 0, "the session was invalidated");
    assert_eq!(app.discord.identify_count(), 2, "a fresh session");
}

#[tokio::test]
async fn discord_rest_down_for_a_minute_loses_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    app.discord.set_down(true);
    let started = tokio::time::Instant::now();
    let mut want = BTreeSet::new();
    let mut n = 0;
    // Deploys keep arriving through the outage, and each is accepted.
    while started.elapsed() < REST_OUTAGE {
        n += 1;
        let version = format!("v{n}");
        post_and_expect(&app, &version).await;
        want.insert(version);
        tokio::time::sleep(REST_OUTAGE / 12).await;
    }
    assert!(n >= 10);
    assert!(app.discord.messages(CHANNEL_ID).is_empty());
    let attempts = app
        .discord
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .count();
    assert!(attempts >= n, "the bot kept trying ({attempts} attempts)");
    // Nothing was given up on: every row is still pending.
    assert_eq!(app.count("outbox where state = 'failed'").await, 0);
    assert_eq!(app.count("outbox where state = 'pending'").await, n as i64);

    app.discord.set_down(false);
    assert_announced_once(&app.discord, &want, PATIENCE).await;
    assert_eq!(announcements_by_version(&app.discord).len(), n);
    assert_eq!(app.count("outbox where state = 'sent'").await, n as i64);
}

/// Deploy rows, inbound events and outbox rows: what one accepted deploy writes.
async fn written(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("deploy").await,
        app.count("inbound_event").await,
        app.count("outbox").await,
    )
}

fn assert_unavailable(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    let reason = body["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("database unavailable"),
        "{what}: 503 without a reason: {body}"
    );
}

#[tokio::test]
async fn a_database_locked_past_the_busy_timeout_answers_503_then_recovers() {
    if crate::support::postgres::on_postgres() {
        return; // SQLite's write lock and busy timeout; PostgreSQL waits on row locks instead.
    }
    let app = TestApp::spawn().await;
    post_and_expect(&app, "v1").await;
    assert_announced_once(&app.discord, &["v1".to_owned()].into(), PATIENCE).await;
    let before = written(&app).await;

    // Another process-like connection takes SQLite's write lock and keeps it.
    use sqlx::Connection;
    let url = format!("sqlite://{}", app.dir.path().join("loopbot.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("begin immediate")
        .execute(&mut other)
        .await
        .unwrap();

    let started = tokio::time::Instant::now();
    let (status, body) = app.post_deploy(&deploy(json!({ "version": "v2" }))).await;
    assert_unavailable(status, &body, "while locked");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited for the lock before giving up ({:?})",
        started.elapsed()
    );
    sqlx::query("rollback").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    assert_eq!(written(&app).await, before, "nothing half-written");

    // The sender retries once the lock is gone.
    post_and_expect(&app, "v2").await;
    assert_announced_once(
        &app.discord,
        &["v1".to_owned(), "v2".to_owned()].into(),
        PATIENCE,
    )
    .await;
    assert_eq!(announcements_by_version(&app.discord).len(), 2);
}

/// Runs a command that must succeed (the disk tests fail loudly without root or the tools).
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A mounted filesystem; lazily unmounted (and its loop image dropped) when the test ends.
struct Mounted {
    dir: PathBuf,
    _holder: tempfile::TempDir,
}

impl Mounted {
    fn tmpfs(size: &str) -> Mounted {
        let holder = tempfile::tempdir().unwrap();
        let dir = holder.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        Mounted {
            dir,
            _holder: holder,
        }
    }

    /// A small ext4 image on a loop device that turns read-only on the first filesystem error,
    /// like a real disk does when the kernel stops trusting it.
    fn ext4_remount_ro_on_error() -> Mounted {
        let holder = tempfile::tempdir().unwrap();
        let image = holder.path().join("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        run("mkfs.ext4", &["-q", image.to_str().unwrap()]);
        let dir = holder.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                image.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        Mounted {
            dir,
            _holder: holder,
        }
    }

    fn device(&self) -> String {
        run(
            "findmnt",
            &["-n", "-o", "SOURCE", self.dir.to_str().unwrap()],
        )
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("loopbot.db").display())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l", self.dir.to_str().unwrap()])
            .status();
    }
}

/// Fills the filesystem at `dir` until it has no byte left.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    // The last partial page too.
    while file.write_all(&[0u8]).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_answers_503_writes_nothing_half_and_recovers_when_space_returns() {
    let disk = Mounted::tmpfs("8m");
    let url = disk.database_url();
    let app = TestApp::spawn_with(|config| config.database_url = url).await;
    post_and_expect(&app, "v0").await;
    let mut accepted: BTreeSet<String> = ["v0".to_owned()].into();
    assert_announced_once(&app.discord, &accepted, PATIENCE).await;

    let filler = fill(&disk.dir);
    // Big events (a changelog near the limit) need new pages at once; the first write that
    // finds no space must be refused, not half-kept.
    let changelog = "x".repeat(60 * 1024);
    let mut refused = Vec::new();
    for n in 1..=40 {
        let version = format!("full{n}");
        let (status, body) = app
            .post_deploy(&deploy(
                json!({ "version": version, "changelog": changelog }),
            ))
            .await;
        match status {
            202 => {
                accepted.insert(version);
            }
            _ => {
                assert_unavailable(status, &body, &version);
                refused.push(version);
                if refused.len() == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused.len(), 3, "a full disk never refused a write");
    // What was refused left no trace; what was accepted is whole.
    let versions: Vec<String> = sqlx::query_scalar("select version from deploy")
        .fetch_all(&app.db)
        .await
        .unwrap();
    for version in &refused {
        assert!(!versions.contains(version), "{version} was half-written");
    }
    let stored: BTreeSet<String> = versions.into_iter().collect();
    assert_eq!(stored, accepted, "accepted = stored");
    let outbox = app.count("outbox").await;
    assert_eq!(outbox as usize, accepted.len(), "one outbox row per deploy");

    // Space returns: the refused events are sent again and everything is announced once.
    std::fs::remove_file(filler).unwrap();
    for version in &refused {
        let (status, body) = app
            .post_deploy(&deploy(json!({ "version": version, "changelog": "retry" })))
            .await;
        assert_eq!(status, 202, "{version} after space returned: {body}");
        accepted.insert(version.clone());
    }
    assert_announced_once(&app.discord, &accepted, PATIENCE).await;
    assert_eq!(announcements_by_version(&app.discord).len(), accepted.len());
    app.stop().await;
}

#[tokio::test]
async fn a_disk_gone_read_only_answers_503_and_a_restart_on_a_healthy_disk_recovers() {
    let disk = Mounted::ext4_remount_ro_on_error();
    let url = disk.database_url();
    let app = TestApp::spawn_with({
        let url = url.clone();
        |config| config.database_url = url
    })
    .await;
    post_and_expect(&app, "v1").await;
    assert_announced_once(&app.discord, &["v1".to_owned()].into(), PATIENCE).await;
    let before = written(&app).await;

    // The kernel turns the filesystem read-only under the running bot. What was written before
    // reached the disk first: with synchronous=NORMAL a commit not yet written back is lost with
    // the page cache, which is an OS crash, not this test's subject.
    run("sync", &[]);
    let device = disk.device();
    let name = Path::new(&device).file_name().unwrap().to_str().unwrap();
    std::fs::write(
        format!("/sys/fs/ext4/{name}/trigger_fs_error"),
        "loopbot test",
    )
    .expect("trigger an ext4 error");
    let options = run(
        "findmnt",
        &["-n", "-o", "OPTIONS", disk.dir.to_str().unwrap()],
    );
    assert!(
        options.split(',').any(|o| o == "ro" || o == "emergency_ro"),
        "still writable: {options}"
    );

    for n in 2..=3 {
        let (status, body) = app
            .post_deploy(&deploy(json!({ "version": format!("v{n}") })))
            .await;
        assert_unavailable(status, &body, "read-only disk");
    }
    assert_eq!(written(&app).await, before, "nothing half-written");
    // Probes tell the operator too.
    let ready = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the process itself is alive");

    // The operator moves the database to a healthy disk and restarts the bot there. (Repairing
    // the same image in place needs an unmount, which a stopped in-process instance can keep busy
    // for a while under load.)
    let (discord, dir) = app.stop().await;
    let healthy = tempfile::tempdir().unwrap();
    for file in ["loopbot.db", "loopbot.db-wal", "loopbot.db-shm"] {
        let from = disk.dir.join(file);
        if from.exists() {
            std::fs::copy(&from, healthy.path().join(file)).unwrap();
        }
    }
    let url = format!("sqlite://{}", healthy.path().join("loopbot.db").display());
    let app = TestApp::spawn_on(discord, dir, |config| config.database_url = url).await;
    let versions: Vec<String> = sqlx::query_scalar("select version from deploy")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        versions,
        ["v1"],
        "what was on disk before the failure survived"
    );
    for version in ["v2", "v3"] {
        let (status, body) = app
            .post_deploy(&deploy(json!({ "version": version })))
            .await;
        assert_eq!(status, 202, "{version}: {body}");
        assert_eq!(
            body["duplicate"], false,
            "{version} was refused, not kept: {body}"
        );
    }
    assert_announced_once(
        &app.discord,
        &["v1", "v2", "v3"].iter().map(|v| v.to_string()).collect(),
        PATIENCE,
    )
    .await;
    assert_eq!(announcements_by_version(&app.discord).len(), 3);
    app.stop().await;
}

/// POSTs without panicking when the server dies mid-request; `None` = no answer.
async fn try_post(http: &reqwest::Client, addr: std::net::SocketAddr, body: &Value) -> Option<u16> {
    http.post(format!("http://{addr}/api/v1/deploys"))
        .bearer_auth(API_TOKEN)
        .json(body)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn sigkill_at_random_points_of_a_burst_loses_and_repeats_nothing() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut accepted = BTreeSet::new();
    let mut sent = BTreeSet::new();
    let mut rng = rand::thread_rng();
    for round in 0..KILL_ROUNDS {
        let bot = BinaryApp::serve(&discord, dir.path()).await;
        let addr = bot.addr;
        // 8 senders, up to 20 deploys each, as fast as the bot takes them; the kill comes after a
        // random number of answers, so it lands mid-burst however fast the bot is.
        let answers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let kill_after = rng.gen_range(1..100);
        let mut senders = Vec::new();
        for sender in 0..8 {
            let http = http.clone();
            let answers = answers.clone();
            senders.push(tokio::spawn(async move {
                let mut answered = Vec::new();
                for n in 0..20 {
                    let version = format!("r{round}s{sender}n{n}");
                    let status =
                        try_post(&http, addr, &deploy(json!({ "version": version }))).await;
                    answered.push((version, status));
                    if status.is_none() {
                        break;
                    }
                    answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                answered
            }));
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while answers.load(std::sync::atomic::Ordering::SeqCst) < kill_after {
            assert!(tokio::time::Instant::now() < deadline, "the burst stalled");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        bot.kill().await;
        for sender in senders {
            for (version, status) in sender.await.unwrap() {
                sent.insert(version.clone());
                if let Some(status) = status {
                    assert_eq!(status, 202, "{version}");
                    accepted.insert(version);
                }
            }
        }
    }
    assert!(
        accepted.len() >= KILL_ROUNDS,
        "too few accepted to prove anything"
    );
    assert!(accepted.len() < sent.len(), "no kill landed mid-burst");

    let bot = BinaryApp::serve(&discord, dir.path()).await;
    assert_announced_once(&discord, &accepted, PATIENCE * 3).await;
    let rows = stored_deploys(dir.path()).await;
    // Events committed but cut off before their answer are announced too, possibly after the
    // accepted ones: wait for them rather than count a moment too early.
    discord
        .wait_for(PATIENCE, |d| announcements_by_version(d).len() >= rows)
        .await;
    let seen = announcements_by_version(&discord);
    // An event cut off before its answer may or may not have been committed; either way it is
    // announced at most once, and nothing that was never sent appears.
    for version in seen.keys() {
        assert!(
            sent.contains(version),
            "announced {version} that was never sent"
        );
    }
    assert_eq!(rows, seen.len(), "every stored deploy was announced");
    bot.kill().await;
}

/// How many deploys the database in `dir` holds.
async fn stored_deploys(dir: &Path) -> usize {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&crate::support::postgres::database_url(dir))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("select count(*) from deploy")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows as usize
}

/// The database loses its last commits (an OS crash with synchronous=NORMAL, a restored backup):
/// the next event reuses the lost event's row ids. Its post must not be mistaken by Discord for the
/// lost one's (same nonce) and silently dropped.
#[tokio::test]
async fn a_database_that_lost_its_last_commits_does_not_swallow_the_next_announcement() {
    if crate::support::postgres::on_postgres() {
        return; // Copies SQLite's files back to lose commits; PostgreSQL's sequences never reuse ids.
    }
    let app = TestApp::spawn().await;
    let (discord, dir) = app.stop().await;
    let backup = tempfile::tempdir().unwrap();
    let files = ["loopbot.db", "loopbot.db-wal", "loopbot.db-shm"];
    for file in files {
        let from = dir.path().join(file);
        if from.exists() {
            std::fs::copy(&from, backup.path().join(file)).unwrap();
        }
    }

    let app = TestApp::spawn_on(discord, dir, |_| {}).await;
    post_and_expect(&app, "v1").await;
    assert_announced_once(&app.discord, &["v1".to_owned()].into(), PATIENCE).await;
    let (discord, dir) = app.stop().await;

    // Back to the state before v1 was accepted.
    for file in files {
        let _ = std::fs::remove_file(dir.path().join(file));
        let from = backup.path().join(file);
        if from.exists() {
            std::fs::copy(&from, dir.path().join(file)).unwrap();
        }
    }
    let app = TestApp::spawn_on(discord, dir, |_| {}).await;
    assert_eq!(app.count("deploy").await, 0, "the restore took");
    post_and_expect(&app, "v2").await;
    assert_announced_once(
        &app.discord,
        &["v1".to_owned(), "v2".to_owned()].into(),
        PATIENCE,
    )
    .await;
}
