//! The database a test runs on: a SQLite file in the test's directory, or, when
//! `LOOPBOT_TEST_DATABASE=postgres`, a fresh database on a throwaway PostgreSQL cluster that this
//! test process starts once (`initdb` and `postgres` from Debian's package, on a temporary directory
//! and a loopback port, as the unprivileged `postgres` user when the tests run as root). A missing
//! PostgreSQL is a failure, never a skip.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether this run's tests use PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("LOOPBOT_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// The `DATABASE_URL` of the test whose files live in `dir`: the same database every time it is
/// asked for the same directory (a restart of the app finds its data).
pub fn database_url(dir: &Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}", dir.join("loopbot.db").display());
    }
    postgres_database_url(dir)
}

/// A PostgreSQL database for `dir` on the throwaway cluster, whatever the run's engine (the
/// ingestion benchmark's PostgreSQL phases).
pub fn postgres_database_url(dir: &Path) -> String {
    let marker = dir.join("postgres-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return url;
    }
    let url = cluster().create_database();
    std::fs::write(&marker, &url).expect("write the database marker");
    url
}

struct Cluster {
    port: u16,
    bin: PathBuf,
    _dir: PathBuf,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

/// Where Debian puts PostgreSQL's server programs (the newest version installed).
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").exists());
    versions.sort();
    versions.pop().expect(
        "PostgreSQL is not installed (apt-get install postgresql): LOOPBOT_TEST_DATABASE=postgres needs it",
    )
}

/// The uid and gid the server runs as: PostgreSQL refuses to run as root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("running as root needs the `postgres` user that Debian's package creates");
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().unwrap(), fields[3].parse().unwrap()))
}

fn as_server_user(command: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        command.uid(uid).gid(gid);
    }
    command
}

impl Cluster {
    fn start() -> Cluster {
        let bin = server_bin();
        let dir = std::env::temp_dir().join(format!("loopbot-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some((uid, gid)) = server_user() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let data = dir.join("data");
        let status = as_server_user(Command::new(bin.join("initdb")).args([
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .stdout(Stdio::null())
        .status()
        .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The server lives as long as this test process: a thread that never ends spawns it with
        // a parent-death signal (tied to the spawning thread), so no cluster outlives its tests.
        let (tx, rx) = std::sync::mpsc::channel();
        let (server, data_dir, socket_dir) = (bin.join("postgres"), data.clone(), dir.clone());
        std::thread::spawn(move || {
            let mut command = Command::new(server);
            command
                .args(["-D", data_dir.to_str().unwrap()])
                .args(["-p", &port.to_string()])
                .args(["-k", socket_dir.to_str().unwrap()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "max_connections=400"])
                // A throwaway cluster: durability is not what these tests measure.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .stdout(Stdio::null())
                // Each failed statement with its error, for a test that fails on PostgreSQL only.
                .stderr(
                    std::fs::File::create(socket_dir.join("postgres.log"))
                        .map(Stdio::from)
                        .unwrap_or_else(|_| Stdio::null()),
                );
            as_server_user(&mut command);
            // SAFETY: prctl in the child before exec only sets its parent-death signal.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let mut child = command.spawn().expect("postgres starts");
            tx.send(()).unwrap();
            let _ = child.wait();
            // Keep this thread (the server's parent) alive for the rest of the process.
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap();
        let cluster = Cluster {
            port,
            bin,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.psql("postgres", "select 1") {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    fn psql(&self, database: &str, sql: &str) -> bool {
        let psql = if self.bin.join("psql").exists() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        Command::new(psql)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                sql,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn create_database(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("t{n}");
        assert!(
            self.psql("postgres", &format!("create database {name}")),
            "create database {name} failed"
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}
