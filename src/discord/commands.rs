//! The one registry of slash commands ([`command_list`]), `/help`, and how a failed command
//! answers. The commands themselves live with their subject.

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::context::{CommandError, Context, Data};
use super::{alerts, checkins, dashboard, deployer_links, incidents, subscriptions, summary};
use crate::domain::access::Refusal;
use crate::domain::{ChannelId, GuildId};

/// Every command the bot registers. All are guild-only: registered for server channels, and a
/// DM interaction is refused (see `discord::access`).
pub fn command_list() -> Vec<poise::Command<Data, CommandError>> {
    let mut commands = subscriptions::commands();
    commands.push(help());
    commands.extend(checkins::commands());
    commands.extend(deployer_links::commands());
    commands.extend(alerts::commands());
    commands.extend(incidents::commands());
    commands.extend(summary::commands());
    commands.extend(dashboard::commands());
    for command in &mut commands {
        command.guild_only = true;
    }
    commands
}

/// `/help`'s text: within Discord's 2000 characters (a test holds it there).
const HELP_TEXT: &str = "**loopbot** closes your DevOps feedback loop: it announces deploys from your CI in \
        the channels that subscribed to them, and edits each announcement as the deploy moves on \
        (started → succeeded, failed or rolled back).\n\n\
        **Commands**\n\
        • `/subscribe kind:<deploys|alerts|checkins|summaries|all> [service:<glob>] [environment:<glob>] \
        [outcome:<all|failures>] [severity:<critical|warning|info>]`: this channel receives those events; \
        deploys only once failed or rolled back, alerts only at that severity and above (needs Manage Server)\n\
        • `/unsubscribe kind:<...> [service] [environment]`: stop (needs Manage Server)\n\
        • `/subscriptions`: what this channel receives\n\
        • `/alerts`: the alerts firing now for this channel, with age and who acknowledged them; \
        vote **Useful** or **Noise** on an alert (summaries name what the team called noise)\n\
        • `/feedback release:<service[@version]> [rating] [comment]`: say how a release is going\n\
        • `/feedback-summary release:<...> [public]`: a release's tally and latest comments given here (private unless public)\n\
        • `/checkin release:<...>`: ask this channel now how a release is going (responders)\n\
        • `/link-deployer name:<ci username>`: check-ins of your deploys mention you (no name: your links)\n\
        • `/unlink-deployer name:<ci username>`: remove a link\n\
        • `/summary [period] [service] [public]`: deploys, the four DORA keys, alerts and check-ins of a period, with a chart (private unless public)\n\
        • `/metrics [service] [weeks]`: the four DORA keys of last week and their trend over 1 to 52 weeks (default 12)\n\
        • `/dashboard`: a private link to this server's web dashboard (valid 12 hours)\n\
        • `/incident declare|resolve` (responders), `/followups`, `/followup-done id`: incidents no alert saw, follow-ups\n\
        • `/help`: this text\n\n\
        Deploys arrive through `POST /api/v1/deploys`; events no channel subscribed to go to \
        the default channel, if one is set.";

/// What loopbot does and how to use it.
#[poise::command(slash_command)]
async fn help(ctx: Context<'_>) -> Result<(), CommandError> {
    let text = HELP_TEXT;
    let keys = serenity::CreateEmbed::new()
        .title("How the four keys are counted")
        .description(summary::KEYS_HELP);
    ctx.send(
        CreateReply::default()
            .content(text)
            .embed(keys)
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// Before every command: the store learns which server the channel belongs to, so what a server
/// reads (`domain::visibility`) includes channels created since the gateway connected.
pub async fn learn_channel(ctx: Context<'_>) {
    let Some(guild) = ctx.guild_id() else {
        return;
    };
    let channel = ChannelId(ctx.channel_id().get());
    if let Err(error) = ctx
        .data()
        .store
        .learn_channels(GuildId(guild.get()), &[channel], chrono::Utc::now())
        .await
    {
        tracing::warn!(%error, "could not record the channel's server");
    }
}

/// What a member sees when a command panicked: the cause is in the log, not in Discord.
pub const PANIC_REPLY: &str =
    "Something went wrong inside loopbot while running this command; it was logged for the operator.";

/// Every command error becomes an ephemeral reply; unexpected ones are logged too. A panicking
/// command (poise catches it: feature `handle_panics`) answers [`PANIC_REPLY`] and logs the panic.
/// Generic over the framework's data so tests/e2e/panics.rs drives it with a command of its own.
pub async fn on_error<U: Send + Sync + 'static>(error: poise::FrameworkError<'_, U, CommandError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            if matches!(error, CommandError::Store(_) | CommandError::Discord(_)) {
                tracing::error!(command = %ctx.command().qualified_name, %error, "command failed");
            }
            let text = match &error {
                CommandError::Invalid(v) => format!("That doesn't look right: {v}"),
                other => other.to_string(),
            };
            send_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::CommandPanic { payload, ctx, .. } => {
            tracing::error!(
                command = %ctx.command().qualified_name,
                panic = payload.as_deref().unwrap_or("(not a text)"),
                "command panicked"
            );
            send_ephemeral(ctx, PANIC_REPLY.to_owned()).await;
        }
        // A refusal from `access::command_check`: the answer names what is needed.
        poise::FrameworkError::CommandCheckFailed { error, ctx, .. } => {
            let text = error.map_or_else(
                || "You may not use this command here.".to_owned(),
                |e| e.to_string(),
            );
            send_ephemeral(ctx, text).await;
        }
        // poise checks guild_only before our check runs; same refusal as `access` gives.
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            tracing::info!(command = %ctx.command().qualified_name, "refused in a DM");
            send_ephemeral(ctx, Refusal::DirectMessage.to_string()).await;
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "error while handling an error");
            }
        }
    }
}

/// The private answer to a failed command, pinging nobody (a no-op for autocomplete).
async fn send_ephemeral<U: Send + Sync + 'static>(
    ctx: poise::Context<'_, U, CommandError>,
    text: String,
) {
    let reply = CreateReply::default()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(reply).await {
        tracing::warn!(error = %e, "could not send the error reply");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_fits_one_discord_message() {
        let chars = super::HELP_TEXT.chars().count();
        assert!(chars <= 2000, "/help is {chars} characters");
    }

    #[test]
    fn every_registered_command_is_in_the_access_table() {
        for command in super::command_list() {
            assert!(
                super::super::access::command_action(&command.qualified_name).is_some(),
                "/{} has no entry in discord::access::command_action",
                command.qualified_name
            );
            assert!(command.guild_only, "/{}", command.qualified_name);
        }
    }
}
