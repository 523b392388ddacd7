//! A bare serenity client logs in to the fake the way loopbot points serenity at DISCORD_API_URL
//! (src/discord/mod.rs: the REST proxy, the ratelimiter off, Discord's own hosts unreachable), then
//! posts, edits, reacts, answers a slash command and resumes. If this fails, no test of the bot
//! against the fake can be trusted either.

use std::time::Duration;

use fake_discord::{FakeDiscord, ADMIN_USER_ID, APP_ID, CHANNEL_ID, GUILD_ID, PLAIN_USER_ID};
use serde_json::json;
use serenity::all::{
    ChannelId, CommandOptionType, Context, CreateAllowedMentions, CreateCommand,
    CreateCommandOption, CreateEmbed, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateMessage, EditMessage, EventHandler, GatewayIntents, GuildId, HttpBuilder, Interaction,
    Nonce, Reaction, Ready,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

struct Handler {
    events: mpsc::UnboundedSender<String>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, _ready: Ready) {
        let channel = ChannelId::new(CHANNEL_ID);
        let post = || {
            CreateMessage::new()
                .content("deploying v1")
                .embed(
                    CreateEmbed::new()
                        .title("deploy")
                        .field("service", "api", true),
                )
                .allowed_mentions(CreateAllowedMentions::new())
                .nonce(Nonce::String("abc".into()))
                .enforce_nonce(true)
        };
        let outcome = async {
            let ping = CreateCommand::new("ping").description("Ping").add_option(
                CreateCommandOption::new(CommandOptionType::String, "kind", "Kind"),
            );
            GuildId::new(GUILD_ID)
                .set_commands(&ctx, vec![ping])
                .await?;
            let message = channel.send_message(&ctx, post()).await?;
            // Same nonce again: the fake must hand back the same message.
            let again = channel.send_message(&ctx, post()).await?;
            if again.id != message.id {
                return Ok::<_, serenity::Error>(format!(
                    "nonce ignored: {} vs {}",
                    message.id, again.id
                ));
            }
            channel
                .edit_message(&ctx, message.id, EditMessage::new().content("deployed v1"))
                .await?;
            message.react(&ctx, '✅').await?;
            Ok(format!("posted:{}", message.id))
        };
        let report = outcome.await.unwrap_or_else(|err| format!("error: {err}"));
        let _ = self.events.send(report);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(command) = interaction {
            let answer = CreateInteractionResponseMessage::new()
                .content("pong")
                .ephemeral(true);
            let result = command
                .create_response(&ctx, CreateInteractionResponse::Message(answer))
                .await;
            let id = command.data.id;
            let _ = self.events.send(format!(
                "answered:{}:{id}:{}",
                command.data.name,
                result.is_ok()
            ));
        }
    }

    async fn reaction_add(&self, _ctx: Context, reaction: Reaction) {
        let _ = self.events.send(format!("reaction:{}", reaction.emoji));
    }
}

/// Like loopbot's client for a custom DISCORD_API_URL: a request that slipped past the proxy
/// base would fail on a closed loopback port instead of reaching Discord.
fn loopback_only() -> reqwest::Client {
    let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let mut builder = reqwest::Client::builder().no_proxy();
    for host in ["discord.com", "gateway.discord.gg", "cdn.discordapp.com"] {
        builder = builder.resolve(host, nowhere);
    }
    builder.build().expect("reqwest client")
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("handler event in time")
        .expect("handler alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serenity_client_runs_against_fake_discord() {
    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("test-token")
        .client(loopback_only())
        .proxy(fake.url())
        .ratelimiter_disabled(true)
        .build();
    let (tx, mut events) = mpsc::unbounded_channel();
    let intents = GatewayIntents::non_privileged() | GatewayIntents::MESSAGE_CONTENT;
    let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler { events: tx })
        .await
        .expect("client builds");
    let shards = client.shard_manager.clone();
    let runner = tokio::spawn(async move { client.start().await });

    assert!(fake.wait_for_identify(WAIT).await, "bot identified");
    // serenity fell back to wss://gateway.discord.gg if GET /gateway had failed.
    assert_eq!(fake.gateway_connections(), 1);
    assert!(fake.requests().iter().any(|r| r.path == "/api/v10/gateway"));
    assert_eq!(fake.identify_payloads()[0]["token"], "Bot test-token");

    let posted = next_event(&mut events).await;
    assert!(posted.starts_with("posted:"), "{posted}");
    let posts = fake.message_posts(CHANNEL_ID);
    assert_eq!(posts.len(), 1, "nonce duplicate must not count");
    assert_eq!(posts[0].authorization.as_deref(), Some("Bot test-token"));
    assert_eq!(posts[0].body["nonce"], "abc");
    assert_eq!(fake.message_edits(CHANNEL_ID).len(), 1);
    let messages = fake.messages(CHANNEL_ID);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "deployed v1");
    assert_eq!(messages[0]["embeds"][0]["title"], "deploy");
    assert_eq!(messages[0]["allowed_mentions"]["parse"], json!([]));
    assert!(!messages[0]["edited_timestamp"].is_null());
    assert_eq!(messages[0]["reactions"][0]["emoji"]["name"], "✅");
    assert_eq!(messages[0]["reactions"][0]["me"], true);

    let commands = fake.registered_commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["options"][0]["name"], "kind");
    let guild_path = format!(
        "/api/v10/applications/{}/guilds/{GUILD_ID}/commands",
        APP_ID
    );
    assert_eq!(fake.command_registration_paths(), vec![guild_path]);

    let options = json!([{ "name": "kind", "type": 3, "value": "deploys" }]);
    let interaction = fake
        .send_slash_command(CHANNEL_ID, ADMIN_USER_ID, "ping", options)
        .await;
    let command_id = commands[0]["id"].as_str().unwrap();
    assert_eq!(
        next_event(&mut events).await,
        format!("answered:ping:{command_id}:true")
    );
    let responses = fake.interaction_responses(interaction);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["type"], 4);
    assert_eq!(responses[0]["data"]["flags"], 64);
    assert_eq!(
        fake.messages(CHANNEL_ID).len(),
        1,
        "ephemeral replies stay out of the channel"
    );

    let message_id: u64 = messages[0]["id"].as_str().unwrap().parse().unwrap();
    fake.add_reaction(CHANNEL_ID, message_id, PLAIN_USER_ID, "👀")
        .await;
    assert_eq!(next_event(&mut events).await, "reaction:👀");

    // A resumable close: serenity reconnects and RESUMEs; dispatches keep flowing.
    fake.close_gateway(4000).await;
    assert!(
        fake.wait_for(WAIT, |f| f.resume_count() == 1).await,
        "serenity resumed"
    );
    fake.user_message(CHANNEL_ID, PLAIN_USER_ID, "hello", Some(message_id))
        .await;
    fake.add_reaction(CHANNEL_ID, message_id, PLAIN_USER_ID, "🎉")
        .await;
    assert_eq!(next_event(&mut events).await, "reaction:🎉");
    assert_eq!(fake.identify_count(), 1);

    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, runner).await;
}
