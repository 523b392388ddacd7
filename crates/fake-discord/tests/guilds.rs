//! A bare serenity client in more than one guild: the second guild's GUILD_CREATE arrives when a
//! test adds the bot, the bot can leave it (recorded, GUILD_DELETE follows), and interactions come
//! from the channel's guild, a chosen one, or a DM, with the roles and permissions a test chose.

use std::time::Duration;

use fake_discord::{
    FakeDiscord, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, MANAGE_MESSAGES, OTHER_GUILD_CHANNEL_ID,
    OTHER_GUILD_ID, PLAIN_PERMISSIONS, PLAIN_USER_ID, RESPONDER_ROLE_ID, RESPONDER_USER_ID,
};
use serde_json::json;
use serenity::all::{
    Context, EventHandler, GatewayIntents, Guild, HttpBuilder, Interaction, UnavailableGuild,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

struct Handler {
    events: mpsc::UnboundedSender<String>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        // Reported before leaving: GUILD_DELETE may be handled before `leave` returns.
        let _ = self.events.send(format!("create:{}", guild.id));
        if guild.id.get() == OTHER_GUILD_ID {
            if let Err(err) = guild.id.leave(&ctx).await {
                let _ = self.events.send(format!("leave failed: {err}"));
            }
        }
    }

    async fn guild_delete(&self, _ctx: Context, gone: UnavailableGuild, _full: Option<Guild>) {
        let _ = self.events.send(format!("delete:{}", gone.id));
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let (guild, member, user) = match &interaction {
            Interaction::Command(c) => (c.guild_id, c.member.clone(), c.user.id),
            Interaction::Component(c) => (c.guild_id, c.member.clone().map(Box::new), c.user.id),
            _ => return,
        };
        let guild = guild.map_or("dm".to_string(), |g| g.to_string());
        let roles = member.as_ref().map_or(String::new(), |m| {
            let roles: Vec<String> = m.roles.iter().map(|r| r.to_string()).collect();
            roles.join(",")
        });
        let manage = member
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.manage_messages());
        let _ = self
            .events
            .send(format!("interaction:{guild}:{user}:{roles}:{manage}"));
    }
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("handler event in time")
        .expect("handler alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_guild_can_be_joined_and_left_and_dms_have_no_guild() {
    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("test-token")
        .proxy(fake.url())
        .ratelimiter_disabled(true)
        .build();
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut client =
        serenity::client::ClientBuilder::new_with_http(http, GatewayIntents::non_privileged())
            .event_handler(Handler { events: tx })
            .await
            .expect("client builds");
    let shards = client.shard_manager.clone();
    let runner = tokio::spawn(async move { client.start().await });

    assert_eq!(next_event(&mut events).await, format!("create:{GUILD_ID}"));
    assert_eq!(fake.bot_guilds(), vec![GUILD_ID]);
    fake.add_bot_to_guild(OTHER_GUILD_ID).await;
    assert_eq!(
        next_event(&mut events).await,
        format!("create:{OTHER_GUILD_ID}")
    );
    assert_eq!(
        next_event(&mut events).await,
        format!("delete:{OTHER_GUILD_ID}")
    );
    assert_eq!(fake.guilds_left(), vec![OTHER_GUILD_ID]);
    assert_eq!(fake.bot_guilds(), vec![GUILD_ID]);
    let leave = format!("/api/v10/users/@me/guilds/{OTHER_GUILD_ID}");
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path == leave && r.status == 204));

    fake.send_slash_command(DM_CHANNEL_ID, PLAIN_USER_ID, "help", json!(null))
        .await;
    assert_eq!(
        next_event(&mut events).await,
        format!("interaction:dm:{PLAIN_USER_ID}::false")
    );
    fake.send_slash_command(CHANNEL_ID, RESPONDER_USER_ID, "help", json!(null))
        .await;
    assert_eq!(
        next_event(&mut events).await,
        format!("interaction:{GUILD_ID}:{RESPONDER_USER_ID}:{RESPONDER_ROLE_ID}:false")
    );
    fake.set_member(
        OTHER_GUILD_ID,
        PLAIN_USER_ID,
        &[7],
        PLAIN_PERMISSIONS | MANAGE_MESSAGES,
    );
    fake.send_component_interaction(OTHER_GUILD_CHANNEL_ID, PLAIN_USER_ID, 42, "x:1")
        .await;
    assert_eq!(
        next_event(&mut events).await,
        format!("interaction:{OTHER_GUILD_ID}:{PLAIN_USER_ID}:7:true")
    );
    // Forged: a channel of the first guild claimed to be in no guild.
    fake.send_component_interaction_in(None, CHANNEL_ID, PLAIN_USER_ID, 42, "x:1")
        .await;
    assert_eq!(
        next_event(&mut events).await,
        format!("interaction:dm:{PLAIN_USER_ID}::false")
    );

    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, runner).await;
}
