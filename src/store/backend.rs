//! The two database engines behind the store: SQLite (embedded, the default) and PostgreSQL
//! (several replicas on one database). The store talks to both through sqlx's `Any` driver, so
//! every query is written once; where the engines' SQL differs the query asks [`Backend`].
//! How each engine is opened, and which of its errors mean "try again later", lives here.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

use super::{Result, StoreError};

/// Which engine a store runs on, from the scheme of `DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The function building a JSON array from its arguments.
    pub fn json_array(self) -> &'static str {
        match self {
            Backend::Sqlite => "json_array",
            Backend::Postgres => "json_build_array",
        }
    }

    /// The function reading text as JSON (SQLite stores JSON as text; PostgreSQL's
    /// `json_build_array` already returns JSON, so nothing is needed there).
    pub fn json(self) -> &'static str {
        match self {
            Backend::Sqlite => "json",
            Backend::Postgres => "",
        }
    }

    /// The engine's word for "fetch every row" after an `offset` (a subquery that must not be
    /// flattened into its caller: see `store/dora.rs`).
    pub fn limit_all(self) -> &'static str {
        match self {
            Backend::Sqlite => "limit -1",
            Backend::Postgres => "limit all",
        }
    }
}

/// Taken first by every write transaction on PostgreSQL, so that writers take turns across
/// replicas as SQLite's do in one file: the rollup triggers read a row's figures and write them
/// back, which two concurrent transactions would count twice. Reads never wait for it.
pub const POSTGRES_WRITE_LOCK: &str = "select pg_advisory_xact_lock(7000)";

/// The engine behind a connection.
pub fn of(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The SQLite URL with `mode=rwc` (create if missing) unless the URL chose a mode.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn any_options(url: &str) -> Result<AnyConnectOptions> {
    sqlx::any::install_default_drivers();
    let options: AnyConnectOptions = url.parse().map_err(StoreError::Other)?;
    // Statements are logged at debug level only (the URL, which may carry a password, never is).
    Ok(options.log_statements(tracing::log::LevelFilter::Debug))
}

fn pool_options(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        // No ping on every acquire (a round trip to SQLite's thread for a local file that cannot go
        // away like a server); a broken connection is dropped on release below.
        .test_before_acquire(false)
        // A write that fails with SQLITE_FULL or an I/O error makes SQLite roll the transaction
        // back by itself; sqlx's own rollback then fails and the connection stays "in a
        // transaction", refusing every later BEGIN (a 500 forever, even once space returns).
        // Flush the pending rollback and drop a connection left in that state. (Only a connection
        // that still looks in a transaction needs the round trip: this runs on every release.)
        .after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                if conn.is_in_transaction() {
                    conn.ping().await?;
                }
                Ok(!conn.is_in_transaction())
            })
        })
}

/// What every SQLite connection is set to: WAL, NORMAL sync (a commit survives a process crash;
/// only an OS crash may lose the last ones), foreign keys, a busy timeout; each keeps what a
/// summary reads (a period of the deploy index, the rollups) in its own page cache, 16 MiB at
/// most, and sorts in memory: with SQLite's 2 MiB default the pages of one summary evicted each
/// other and every run read them again from the file.
const SQLITE_PRAGMAS: &[&str] = &[
    "pragma journal_mode = wal",
    "pragma synchronous = normal",
    "pragma foreign_keys = on",
    "pragma busy_timeout = 5000",
    "pragma cache_size = -16384",
    "pragma temp_store = memory",
];

async fn sqlite_pool(
    url: &str,
    connections: u32,
    extra: &'static [&'static str],
) -> Result<AnyPool> {
    let options = any_options(&sqlite_url(url))?;
    Ok(pool_options(connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                for pragma in SQLITE_PRAGMAS.iter().chain(extra) {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// The read pool and the writer for SQLite: readers share four connections; every write
/// transaction of the process goes through one (see `WriteGate`), which keeps the pages it writes
/// most cached and leaves the checkpoint to [`spawn_checkpointer`].
pub(super) async fn open_sqlite(url: &str) -> Result<(AnyPool, AnyPool)> {
    let pool = sqlite_pool(url, 4, &[]).await?;
    let writer = sqlite_pool(url, 1, &["pragma wal_autocheckpoint = 0"]).await?;
    spawn_checkpointer(pool.clone());
    Ok((pool, writer))
}

/// A SQLite file opened read-only, byte for byte as it is (no WAL switch, no pragma that writes).
pub(super) async fn open_sqlite_read_only(path: &std::path::Path) -> Result<AnyPool> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    Ok(pool_options(1).connect_with(any_options(&url)?).await?)
}

/// PostgreSQL: one pool for reads and writes (writers take turns: [`POSTGRES_WRITE_LOCK`]). TLS
/// and the rest come from the URL.
pub(super) async fn open_postgres(url: &str) -> Result<AnyPool> {
    Ok(pool_options(10)
        // A server can go away (restart, failover): check a connection idle for a while first.
        .test_before_acquire(true)
        .connect_with(any_options(url)?)
        .await?)
}

/// Copies the write-ahead log back into the database every half second, on a reader connection
/// (a passive checkpoint waits for no one and blocks no one), so that the writer's commits only
/// append to the log: left to the writer, every thousandth page made one commit copy and fsync
/// them all while ingestion waited.
fn spawn_checkpointer(pool: AnyPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)")
                .execute(&pool)
                .await
            {
                tracing::debug!(%error, "checkpoint failed; retrying");
            }
        }
    });
}

/// Whether a database error means the database cannot take this now (retrying later can help).
pub(super) fn unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if let Ok(number) = code.parse::<i64>() {
        // SQLite primary result codes: 5 BUSY, 6 LOCKED, 8 READONLY, 10 IOERR, 13 FULL.
        // (PostgreSQL's all-digit SQLSTATEs below are five characters; SQLite's are shorter.)
        if code.len() < 5 && matches!(number & 0xff, 5 | 6 | 8 | 10 | 13) {
            return true;
        }
    }
    // PostgreSQL SQLSTATE classes: 08 connection, 53 insufficient resources, 57 operator
    // intervention (shutdown, a standby that cannot write: 25006 read-only transaction),
    // 40001/40P01 serialization failure and deadlock.
    code.len() == 5
        && (code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57")
            || code == "25006"
            || code == "40001"
            || code == "40P01")
}

/// `sql` with its parameters written `$1, $2, ...`, the one form both engines read: a bare `?`
/// becomes the next number (one more than the highest so far, as SQLite counts), `?N` becomes
/// `$N`; a `?` inside quotes or a comment is left alone. Queries composed at run time from pieces
/// that each say `?` are numbered here, once whole; a query with no `?` is returned as it is.
pub fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('?') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0u32;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // To the closing quote; a doubled quote inside is two quotes, read the same way.
                for (_, inner) in chars.by_ref() {
                    out.push(inner);
                    if inner == c {
                        break;
                    }
                }
            }
            '-' if matches!(chars.peek(), Some((_, '-'))) => {
                out.push(c);
                for (_, inner) in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    digits.push(d);
                    chars.next();
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => highest + 1,
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_engine() {
        assert_eq!(
            Backend::of_url("sqlite://loopbot.db"),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://u@h/db"), None);
    }

    #[test]
    fn a_sqlite_file_is_created_unless_the_url_says_otherwise() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
    }

    #[test]
    fn parameters_are_numbered_in_order_and_quoted_text_is_left_alone() {
        assert_eq!(numbered("select 1"), "select 1");
        assert_eq!(
            numbered("select a from t where b = ? and c in (?, ?)"),
            "select a from t where b = $1 and c in ($2, $3)"
        );
        assert_eq!(
            numbered("x = ?2 and y = ?1 and z = ?"),
            "x = $2 and y = $1 and z = $3"
        );
        assert_eq!(
            numbered("x like 'a?' and \"we?rd\" = ? -- why?\n and y = ?"),
            "x like 'a?' and \"we?rd\" = $1 -- why?\n and y = $2"
        );
        assert_eq!(numbered("'it''s?' || ?"), "'it''s?' || $1");
    }
}
