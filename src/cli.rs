//! The command line. Configuration comes from the environment (see `--help`), never from flags,
//! so secrets stay out of shell history and process lists.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::VARIABLES;

#[derive(Debug, Parser)]
#[command(
    name = "loopbot",
    version,
    about = "A Discord bot that closes your DevOps feedback loop: deploy announcements, alerts, check-ins and summaries.",
    long_about = "A Discord bot that closes your DevOps feedback loop: it announces deploys from CI in \
        the channels that subscribed to them, edits each announcement as the deploy moves on, and keeps \
        everything in SQLite.\n\nConfiguration is read from the environment and from a .env file in the \
        working directory, when present (the environment wins)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
// Parsed once per process: the size of `Notify` costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Try loopbot without Discord: the bot, a local Discord and a web page showing that server
    /// (channels, messages, buttons, forms, slash commands, examples), in one process, on its own
    /// database `sandbox.db`. The page and the API (token `sandbox`) are on LOOPBOT_HTTP_ADDR.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// Delete sandbox.db first and start from an empty server.
        #[arg(long)]
        fresh: bool,
    },
    /// Run the bot: the Discord client, the HTTP API for deploy events, and the delivery worker.
    Serve,
    /// Create the database if missing, apply pending migrations, and exit.
    Migrate,
    /// Validate the configuration and print it, secrets redacted; exits non-zero when invalid.
    CheckConfig,
    /// Write a consistent copy of the database to FILE (safe while the bot runs); FILE must not exist.
    Backup { file: std::path::PathBuf },
    /// Replace the database with the backup FILE after checking it. Stop the bot first.
    Restore { file: std::path::PathBuf },
    /// Report an event to a running loopbot (from CI): reads LOOPBOT_URL and LOOPBOT_API_TOKEN.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Print the summary of a period from the database, without Discord (for scripts and wikis).
    Summary(SummaryArgs),
    /// Dead letters: messages Discord refused for good. List them, or re-queue them.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Measure the summary computation on generated data (one year, 200 services).
    Bench {
        #[command(subcommand)]
        what: BenchTarget,
    },
}

#[derive(Debug, clap::Args, PartialEq, Eq)]
pub struct SummaryArgs {
    /// ISO week, e.g. 2026-W47 (default: last full week in LOOPBOT_TIMEZONE).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub week: Option<String>,
    /// First day, YYYY-MM-DD (with --to).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Last day, included, YYYY-MM-DD (with --from).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Only this service (name or glob).
    #[arg(long)]
    pub service: Option<String>,
    /// Only this environment (name or glob).
    #[arg(long)]
    pub environment: Option<String>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum OutboxCommand {
    /// List dead letters, oldest first: the id to retry, the subject, the channel, when Discord
    /// refused it and what it answered.
    Failed {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Put dead letters back in their channel's queue; a running bot delivers each subject's
    /// current state within a second. Exits non-zero when ID is not a dead letter.
    Retry {
        /// The id `loopbot outbox failed` shows.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum BenchTarget {
    /// Generate a year of data for 200 services in a temporary database and time a weekly and a
    /// 30-day summary and the 12-week trend, through the rollups and from the rows, and the dashboard.
    Summary {
        /// How many times each figure is computed (through each reading).
        #[arg(long, default_value_t = 20)]
        runs: u32,
        /// Keep the generated database at this path (it must not exist) instead of a temporary one.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum NotifyCommand {
    /// Report a deploy; prints the deploy id. Retries while the bot is unreachable or answers 5xx;
    /// exits non-zero with the bot's message when it refuses the event (4xx).
    Deploy(crate::integrations::notify::NotifyDeployArgs),
}

/// The environment variables, as `--help` lists them.
fn environment_help() -> String {
    let mut text = String::from("Environment (also read from .env):\n");
    for (name, secret, doc) in VARIABLES {
        let marker = if *secret { " [secret]" } else { "" };
        text.push_str(&format!("  {name}{marker}\n      {doc}\n"));
    }
    text
}

pub fn parse() -> Cli {
    let matches = Cli::command().after_help(environment_help()).get_matches();
    // get_matches already validated against this same definition.
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn outbox_retry_takes_an_id_or_all_but_not_both() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        assert_eq!(
            parse(&["loopbot", "outbox", "retry", "7"]).unwrap(),
            Command::Outbox(OutboxCommand::Retry {
                id: Some(7),
                all: false
            })
        );
        assert_eq!(
            parse(&["loopbot", "outbox", "retry", "--all"]).unwrap(),
            Command::Outbox(OutboxCommand::Retry {
                id: None,
                all: true
            })
        );
        assert!(parse(&["loopbot", "outbox", "retry"]).is_err());
        assert!(parse(&["loopbot", "outbox", "retry", "7", "--all"]).is_err());
        assert!(parse(&["loopbot", "outbox", "retry", "seven"]).is_err());
        assert_eq!(
            parse(&["loopbot", "outbox", "failed", "--format", "json"]).unwrap(),
            Command::Outbox(OutboxCommand::Failed {
                format: ListFormat::Json
            })
        );
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn sandbox_takes_fresh() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        assert_eq!(
            parse(&["loopbot", "sandbox", "--fresh"]).unwrap(),
            Command::Sandbox { fresh: true }
        );
        assert_eq!(
            parse(&["loopbot", "sandbox"]).unwrap(),
            Command::Sandbox { fresh: false }
        );
    }

    #[test]
    fn help_lists_every_variable() {
        let help = environment_help();
        for (name, _, _) in VARIABLES {
            assert!(help.contains(name));
        }
    }
}
