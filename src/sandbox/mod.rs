//! `loopbot sandbox`: the bot, the local Discord (crates/fake-discord) and a web page that shows
//! that server and acts in it as a few people, in one process, on a database of its own. Only
//! this command serves the page (`Application::with_routes`); `serve` never does.
//!
//! Map: this file builds the sandbox (channels, people, configuration, subscriptions); `routes`
//! answers the page (its JSON and what people do); `live` streams changes to it (SSE);
//! `examples` sends the panel's events through the bot's real HTTP API and hooks;
//! `command_line` turns a typed `/command name:value` into Discord's options; `assets` holds
//! the page (HTML, CSS, JS files embedded at compile time).

mod assets;
pub mod command_line;
mod examples;
mod live;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fake_discord::FakeDiscord;

use crate::config::{Config, ConfigError, LogFormat};
use crate::domain::subscription::{Filters, Kind, Pattern};
use crate::domain::{ChannelId, GuildId, UserId};
use crate::production::ShutdownHandle;
use crate::startup::{Application, StartupError};
use crate::store::StoreError;

/// The database file `loopbot sandbox` uses, in the working directory.
pub const DATABASE: &str = "sandbox.db";
/// The API token, the Alertmanager token and the GitHub webhook secret of the sandbox.
pub const SECRET: &str = "sandbox";

pub const DEPLOYS_CHANNEL: u64 = fake_discord::CHANNEL_ID;
/// Fixed ids, so what the bot stored about these channels holds across restarts.
pub const ALERTS_CHANNEL: u64 = 300_000_000_000_000_010;
pub const TEAM_CHANNEL: u64 = 300_000_000_000_000_011;

/// The channels the page lists, in order, and what each is subscribed to at start.
pub const CHANNELS: [(u64, &str, &[Kind]); 3] = [
    (DEPLOYS_CHANNEL, "deploys", &[Kind::Deploys, Kind::Checkins]),
    (ALERTS_CHANNEL, "alerts", &[Kind::Alerts]),
    (TEAM_CHANNEL, "team", &[Kind::Summaries]),
];

/// Someone the page can act as.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Person {
    #[serde(serialize_with = "as_text")]
    pub id: u64,
    pub name: &'static str,
    /// What they may do, as the page shows it.
    pub role: &'static str,
}

fn as_text<S: serde::Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// The local Discord's members: an admin, a plain member and a responder.
pub const PEOPLE: [Person; 3] = [
    Person {
        id: fake_discord::ADMIN_USER_ID,
        name: "alice-admin",
        role: "Manage Server",
    },
    Person {
        id: fake_discord::PLAIN_USER_ID,
        name: "bob",
        role: "member",
    },
    Person {
        id: fake_discord::RESPONDER_USER_ID,
        name: "rita-responder",
        role: "responder",
    },
];

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot start the local Discord: {0}")]
    LocalDiscord(std::io::Error),
    #[error("cannot delete {path}: {source}")]
    Fresh {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Boxed: a startup error is large and rare.
    #[error(transparent)]
    Startup(Box<StartupError>),
    #[error("cannot subscribe the sandbox's channels: {0}")]
    Store(#[from] StoreError),
}

impl From<StartupError> for SandboxError {
    fn from(error: StartupError) -> Self {
        Self::Startup(Box::new(error))
    }
}

pub struct Options {
    /// The SQLite file (created when missing).
    pub database: PathBuf,
    /// Delete it (and its WAL files) first.
    pub fresh: bool,
}

/// What the page's handlers share.
pub(crate) struct Shared {
    pub(crate) discord: FakeDiscord,
    /// The bot's own address, where the examples send their events.
    pub(crate) api: String,
    pub(crate) http: reqwest::Client,
    /// Interactions sent from the page, whose private answers (ephemeral replies, forms) the
    /// page shows.
    pub(crate) interactions: Mutex<Vec<Tracked>>,
    pub(crate) stop: ShutdownHandle,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracked {
    pub(crate) id: u64,
    pub(crate) user: u64,
    pub(crate) channel: u64,
    /// The message whose button opened it, if any (a form submitted from it carries it too).
    pub(crate) message: Option<u64>,
}

pub struct Sandbox {
    app: Application,
    discord: FakeDiscord,
    log_format: LogFormat,
}

impl Sandbox {
    /// Starts the local Discord, builds the bot against it (configuration from `env` except
    /// what the sandbox sets itself) and adds the page's routes. Nothing runs until
    /// [`Sandbox::run_until_stopped`].
    pub async fn build(
        options: Options,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Sandbox, SandboxError> {
        if options.fresh {
            remove_database(&options.database)?;
        }
        let discord = FakeDiscord::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(SandboxError::LocalDiscord)?;
        for (id, name, _) in CHANNELS.iter().skip(1) {
            discord.add_text_channel(fake_discord::GUILD_ID, *id, name);
        }
        let config = config(&discord, &options.database, env)?;
        let log_format = config.log_format;
        let app = Application::build(config).await?;
        subscribe(app.store()).await?;
        let shared = Arc::new(Shared {
            discord: discord.clone(),
            api: format!("http://{}", loopback(app.local_addr())),
            http: reqwest::Client::new(),
            interactions: Mutex::new(Vec::new()),
            stop: app.shutdown_handle(),
        });
        let app = app.with_routes(routes::router(shared));
        Ok(Sandbox {
            app,
            discord,
            log_format,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.app.local_addr()
    }

    pub fn discord(&self) -> &FakeDiscord {
        &self.discord
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.app.shutdown_handle()
    }

    /// What `loopbot sandbox` prints at start: where the page and the API are, and the secrets.
    pub fn banner(&self) -> String {
        let url = format!("http://{}", loopback(self.local_addr()));
        format!(
            "loopbot sandbox: loopbot in a local Discord server, no account needed.\n\
             \n  Open the server:  {url}/\n  \
             HTTP API:         {url}/api/v1/deploys ... with `Authorization: Bearer {SECRET}`\n  \
             Hooks:            {url}/hooks/github (secret `{SECRET}`), {url}/hooks/alertmanager (bearer `{SECRET}`)\n  \
             Data:             {} (`loopbot sandbox --fresh` starts over)\n",
            DATABASE
        )
    }

    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.app.run_until_stopped().await
    }
}

/// The address as a browser opens it (0.0.0.0 reads as 127.0.0.1).
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

fn remove_database(path: &Path) -> Result<(), SandboxError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(SandboxError::Fresh { path: file, source }),
        }
    }
    Ok(())
}

/// The environment's configuration, with what the sandbox chooses itself: the local Discord,
/// its own database, one server, the responders' role, and `sandbox` as every secret.
fn config(
    discord: &FakeDiscord,
    database: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let fixed = |name: &str| -> Option<String> {
        Some(match name {
            "DISCORD_TOKEN" => SECRET.to_owned(),
            "DISCORD_API_URL" => discord.url(),
            "DATABASE_URL" => format!("sqlite://{}", database.display()),
            "LOOPBOT_API_TOKEN" | "ALERTMANAGER_TOKEN" | "GITHUB_WEBHOOK_SECRET" => {
                SECRET.to_owned()
            }
            "LOOPBOT_DEFAULT_CHANNEL" => DEPLOYS_CHANNEL.to_string(),
            "LOOPBOT_GUILD_IDS" => fake_discord::GUILD_ID.to_string(),
            "LOOPBOT_RESPONDER_ROLES" => fake_discord::RESPONDER_ROLE_ID.to_string(),
            _ => return None,
        })
    };
    // Through from_environment, so families of variables (the health queries) are found too.
    let vars = env
        .into_iter()
        .map(|(name, value)| match fixed(&name) {
            Some(fixed) => (name, fixed),
            None => (name, value),
        })
        .chain(
            FIXED
                .iter()
                .filter_map(|name| Some((name.to_string(), fixed(name)?))),
        );
    Config::from_environment(vars)
}

/// The variables the sandbox sets itself, whatever the environment says.
const FIXED: [&str; 9] = [
    "DISCORD_TOKEN",
    "DISCORD_API_URL",
    "DATABASE_URL",
    "LOOPBOT_API_TOKEN",
    "ALERTMANAGER_TOKEN",
    "GITHUB_WEBHOOK_SECRET",
    "LOOPBOT_DEFAULT_CHANNEL",
    "LOOPBOT_GUILD_IDS",
    "LOOPBOT_RESPONDER_ROLES",
];

/// Each channel's subscriptions (idempotent: a restart changes nothing).
async fn subscribe(store: &crate::store::Store) -> Result<(), StoreError> {
    for (channel, _, kinds) in CHANNELS {
        store
            .subscribe(
                Some(GuildId(fake_discord::GUILD_ID)),
                ChannelId(channel),
                kinds,
                &Pattern::any(),
                &Pattern::any(),
                Filters::default(),
                UserId(fake_discord::ADMIN_USER_ID),
                chrono::Utc::now(),
            )
            .await?;
    }
    Ok(())
}
