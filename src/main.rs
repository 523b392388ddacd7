use std::process::ExitCode;

use anyhow::Context as _;
use loopbot::cli::{self, Command, NotifyCommand};
use loopbot::config::Config;
use loopbot::startup::Application;
use loopbot::store::Store;

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
    let config = Config::from_lookup(|name| std::env::var(name).ok())?;
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
            println!("database {} is up to date", config.database_url);
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
        Command::Bench {
            what: cli::BenchTarget::Summary { runs, keep },
        } => {
            print!("{}", loopbot::summaries::bench::run(runs, keep).await?);
        }
        Command::Serve => {
            let app = Application::build(config).await?;
            tokio::select! {
                result = app.run_until_stopped() => result?,
                _ = shutdown_signal() => tracing::info!("shutting down"),
            }
        }
        // Handled above, before the configuration is read.
        Command::Notify(_) => {}
    }
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
