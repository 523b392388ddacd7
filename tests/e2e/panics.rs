//! A command that panics still answers, and the panic is logged.
//!
//! No production command panics on purpose (each one found is a bug fixed at its cause), and a
//! test-only command must not ship in the bot. So this test builds a poise framework of its own
//! around one command that panics, with loopbot's real `on_error` and loopbot's poise build (its
//! `handle_panics` feature is what catches the panic), connects it to the local Discord like the
//! bot connects, and presses the command as a member would.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fake_discord::{FakeDiscord, CHANNEL_ID, GUILD_ID, PLAIN_USER_ID};
use loopbot::discord::{on_error, CommandError, PANIC_REPLY};
use poise::serenity_prelude as serenity;
use serde_json::{json, Value};

use crate::support::app::{DISCORD_TOKEN, PATIENCE};

type Context<'a> = poise::Context<'a, (), CommandError>;

/// Stands for any command with a bug that panics halfway.
#[poise::command(slash_command)]
async fn boom(ctx: Context<'_>) -> Result<(), CommandError> {
    let index = ctx.author().id.get() as usize; // out of bounds for any real id
    let empty: Vec<u8> = Vec::new();
    panic!("index {index} of {} entries", empty.len());
}

/// Log lines written while the test runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_command_answers_ephemerally_and_the_panic_is_logged() {
    // The runtime has one thread, so every task of the client logs into this subscriber.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);

    let discord = FakeDiscord::start().await;
    let http = serenity::HttpBuilder::new(DISCORD_TOKEN)
        .proxy(discord.url())
        .ratelimiter_disabled(true)
        .build();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: vec![boom()],
            on_error: |error| Box::pin(on_error(error)),
            ..Default::default()
        })
        .initialize_owners(false)
        .setup(|ctx, _ready, framework| {
            Box::pin(async move {
                let guild = serenity::GuildId::new(GUILD_ID);
                poise::builtins::register_in_guild(ctx, &framework.options().commands, guild)
                    .await?;
                Ok(())
            })
        })
        .build();
    let mut client = serenity::ClientBuilder::new_with_http(http, serenity::GatewayIntents::GUILDS)
        .framework(framework)
        .await
        .unwrap();
    let shards = client.shard_manager.clone();
    let running = tokio::spawn(async move { client.start().await });
    assert!(
        discord
            .wait_for(PATIENCE, |d| d
                .registered_commands()
                .iter()
                .any(|c| c["name"] == "boom"))
            .await,
        "the command was never registered"
    );

    let id = discord
        .send_slash_command(CHANNEL_ID, PLAIN_USER_ID, "boom", Value::Null)
        .await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "a panicking command got no answer"
    );
    let answer = &discord.interaction_responses(id)[0];
    assert_eq!(answer["data"]["content"], PANIC_REPLY, "{answer}");
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap() & 64,
        64,
        "ephemeral: {answer}"
    );
    assert_eq!(
        answer["data"]["allowed_mentions"]["parse"],
        json!([]),
        "{answer}"
    );
    // The member sees no internals; the log has the command and the panic's message.
    assert!(!answer.to_string().contains("index"), "{answer}");
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("command panicked"))
        .unwrap_or_else(|| panic!("no log line for the panic in:\n{logs}"));
    assert!(line.contains("ERROR") && line.contains("boom"), "{line}");
    assert!(
        line.contains(&format!("index {PLAIN_USER_ID} of 0 entries")),
        "{line}"
    );

    shards.shutdown_all().await;
    running.abort();
}
