use std::process::ExitCode;

use anyhow::Context as _;
use loopbot::cli::{self, Command, NotifyCommand};
use loopbot::config::Config;
use loopbot::startup::Application;
use loopbot::store::Store;

// Each request allocates and frees many small buffers (HTTP, JSON, SQL arguments) across the
// runtime's threads; glibc's malloc showed as about a tenth of the process's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, naming what is wrong; the cause chain joined with ": ".
            eprintln!("loopbot: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    // A missing .env is normal; a malformed one is worth stopping for.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => return Err(e).context(".env"),
    }
    // A CI runner has no bot configuration: notify reads only its own two variables.
    if let Command::Notify(NotifyCommand::Deploy(args)) = &command {
        let notified =
            loopbot::integrations::notify::notify_deploy(args, |name| std::env::var(name).ok())
                .await?;
        println!("{}", notified.deploy_id);
        return Ok(());
    }
    #[cfg(feature = "sandbox")]
    if let Command::Sandbox { fresh } = &command {
        return sandbox(*fresh).await;
    }
    let config = Config::from_environment(environment())?;
    loopbot::telemetry::init(config.log_format);
    match command {
        Command::CheckConfig => {
            print!("{}", config.describe());
            config.require_discord_token()?;
            println!("configuration OK");
        }
        Command::Migrate => {
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            println!("database {} is up to date", config.database_url_shown());
        }
        Command::Backup { file } => {
            anyhow::ensure!(
                config.database_url.starts_with("sqlite:"),
                "`loopbot backup` copies a SQLite database; back up PostgreSQL with pg_dump (docs/operations.md)"
            );
            let store = Store::connect(&config.database_url).await?;
            store
                .backup_into(&file)
                .await
                .with_context(|| format!("backup to {}", file.display()))?;
            println!(
                "backed up {} to {}",
                config.database_url_shown(),
                file.display()
            );
        }
        Command::Restore { file } => {
            restore(&config.database_url, &file).await?;
            println!(
                "restored {} from {}",
                config.database_url_shown(),
                file.display()
            );
        }
        Command::Summary(args) => {
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            print!(
                "{}",
                loopbot::summaries::cli_summary(
                    &store,
                    &config.summaries,
                    &args,
                    chrono::Utc::now()
                )
                .await?
            );
        }
        Command::Outbox(outbox) => {
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            print!(
                "{}",
                loopbot::dead_letters::run(&store, &outbox, chrono::Utc::now()).await?
            );
        }
        Command::Bench {
            what: cli::BenchTarget::Summary { runs, keep },
        } => {
            print!("{}", loopbot::summaries::bench::run(runs, keep).await?);
        }
        Command::Serve => {
            let app = Application::build(config).await?;
            let stop = app.shutdown_handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing in-flight requests and deliveries");
                stop.trigger();
                // A second signal means "now": pending deliveries resume on the next start.
                shutdown_signal().await;
                tracing::warn!("second stop signal: exiting without waiting");
                std::process::exit(130);
            });
            app.run_until_stopped().await?;
        }
        // Handled above, before the configuration is read.
        Command::Notify(_) => {}
        #[cfg(feature = "sandbox")]
        Command::Sandbox { .. } => {}
    }
    Ok(())
}

/// The process environment (variables whose name or value is not UTF-8 are left out).
fn environment() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

/// `loopbot sandbox`: the environment still applies (LOOPBOT_HTTP_ADDR, RUST_LOG, ...) except
/// what the sandbox must choose itself (Discord, database, tokens), printed at start.
#[cfg(feature = "sandbox")]
async fn sandbox(fresh: bool) -> anyhow::Result<()> {
    let launched = std::time::Instant::now();
    let options = loopbot::sandbox::Options {
        database: std::path::PathBuf::from(loopbot::sandbox::DATABASE),
        fresh,
    };
    let sandbox = loopbot::sandbox::Sandbox::build(options, environment()).await?;
    loopbot::telemetry::init(sandbox.log_format());
    println!("{}", sandbox.banner());
    println!(
        "listening (started in {:.2} s); Ctrl-C stops it",
        launched.elapsed().as_secs_f64()
    );
    let stop = sandbox.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.trigger();
        shutdown_signal().await;
        std::process::exit(130);
    });
    sandbox.run_until_stopped().await?;
    Ok(())
}

/// Checks the backup, copies it next to the database, then renames it into place, so the
/// database is either the old one or the whole backup. The bot must be stopped.
async fn restore(database_url: &str, file: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        database_url.starts_with("sqlite:"),
        "`loopbot restore` restores a SQLite database; restore PostgreSQL with pg_restore (docs/operations.md)"
    );
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    let backup = Store::open_backup(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    backup
        .verify()
        .await
        .with_context(|| format!("{} is not a usable backup", file.display()))?;
    let target = std::path::PathBuf::from(
        database_url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default(),
    );
    let staging = target.with_extension("restoring");
    let _ = std::fs::remove_file(&staging);
    backup
        .backup_into(&staging)
        .await
        .with_context(|| format!("copying to {}", staging.display()))?;
    backup.pool().close().await;
    // Stale WAL files would be replayed over the restored file.
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("moving the backup to {}", target.display()))?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
