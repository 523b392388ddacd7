//! The slash commands: the one registry ([`command_list`]) and their bodies.

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::{CommandError, Context, Data};
use crate::domain::subscription::{Kind, Pattern, Subscription};
use crate::domain::{ChannelId, GuildId, UserId};

/// Every command the bot registers.
pub fn command_list() -> Vec<poise::Command<Data, CommandError>> {
    let mut commands = vec![subscribe(), unsubscribe(), subscriptions(), help()];
    commands.extend(super::checkins::commands());
    commands.push(super::alerts::alerts());
    commands.push(super::summary::summary());
    commands.push(super::summary::metrics());
    commands
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum KindChoice {
    #[name = "deploys"]
    Deploys,
    #[name = "alerts"]
    Alerts,
    #[name = "checkins"]
    Checkins,
    #[name = "summaries"]
    Summaries,
    #[name = "all"]
    All,
}

impl KindChoice {
    fn kinds(self) -> Vec<Kind> {
        match self {
            KindChoice::Deploys => vec![Kind::Deploys],
            KindChoice::Alerts => vec![Kind::Alerts],
            KindChoice::Checkins => vec![Kind::Checkins],
            KindChoice::Summaries => vec![Kind::Summaries],
            KindChoice::All => Kind::ALL.to_vec(),
        }
    }
}

/// Discord hides commands with `default_member_permissions` from others, but server admins can
/// override that per channel or role, so the permission is checked again here.
fn require_manage_server(ctx: Context<'_>) -> Result<(), CommandError> {
    let allowed = match ctx {
        poise::Context::Application(app) => app
            .interaction
            .member
            .as_ref()
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.manage_guild() || p.administrator()),
        poise::Context::Prefix(_) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(CommandError::Refused(
            "Only members with the Manage Server permission can change this channel's subscriptions."
                .into(),
        ))
    }
}

fn channel(ctx: Context<'_>) -> ChannelId {
    ChannelId(ctx.channel_id().get())
}

fn describe(s: &Subscription) -> String {
    format!(
        "**{}** for services `{}` in environments `{}`",
        s.kind, s.service, s.environment
    )
}

/// Subscribe this channel to deploys, alerts, check-ins or summaries.
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
async fn subscribe(
    ctx: Context<'_>,
    #[description = "What this channel should receive"] kind: KindChoice,
    #[description = "Service name or glob, e.g. checkout* (default: all)"] service: Option<String>,
    #[description = "Environment name or glob, e.g. prod* (default: all)"] environment: Option<
        String,
    >,
) -> Result<(), CommandError> {
    require_manage_server(ctx)?;
    let service = Pattern::parse("service", service.as_deref())?;
    let environment = Pattern::parse("environment", environment.as_deref())?;
    let kinds = kind.kinds();
    ctx.data()
        .store
        .subscribe(
            ctx.guild_id().map(|g| GuildId(g.get())),
            channel(ctx),
            &kinds,
            &service,
            &environment,
            UserId(ctx.author().id.get()),
            Utc::now(),
        )
        .await?;
    let what = kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    ctx.say(format!(
        "This channel now receives **{what}** for services `{service}` in environments `{environment}`."
    ))
    .await?;
    Ok(())
}

/// Stop sending something to this channel.
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
async fn unsubscribe(
    ctx: Context<'_>,
    #[description = "What this channel should stop receiving"] kind: KindChoice,
    #[description = "Only the subscription with this service pattern (default: all of this kind)"]
    service: Option<String>,
    #[description = "Only the subscription with this environment pattern"] environment: Option<
        String,
    >,
) -> Result<(), CommandError> {
    require_manage_server(ctx)?;
    let patterns = if service.is_some() || environment.is_some() {
        Some((
            Pattern::parse("service", service.as_deref())?,
            Pattern::parse("environment", environment.as_deref())?,
        ))
    } else {
        None
    };
    let change = ctx
        .data()
        .store
        .unsubscribe(
            channel(ctx),
            &kind.kinds(),
            patterns.as_ref().map(|(s, e)| (s, e)),
        )
        .await?;
    let reply = if change.changed == 0 {
        CreateReply::default()
            .content("This channel had no such subscription; nothing changed.")
            .ephemeral(true)
    } else {
        CreateReply::default().content(format!(
            "Removed {} subscription(s) from this channel.",
            change.changed
        ))
    };
    ctx.send(reply).await?;
    Ok(())
}

/// List what this channel receives.
#[poise::command(slash_command, guild_only)]
async fn subscriptions(ctx: Context<'_>) -> Result<(), CommandError> {
    let subs = ctx.data().store.subscriptions_in(channel(ctx)).await?;
    let text = if subs.is_empty() {
        let fallback = match ctx.data().default_channel {
            Some(c) if c == channel(ctx) => {
                " It is the default channel, so it receives deploys no other channel subscribed to."
            }
            _ => "",
        };
        format!("This channel has no subscriptions.{fallback}")
    } else {
        let lines: Vec<String> = subs.iter().map(|s| format!("• {}", describe(s))).collect();
        format!("This channel receives:\n{}", lines.join("\n"))
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// What loopbot does and how to use it.
#[poise::command(slash_command)]
async fn help(ctx: Context<'_>) -> Result<(), CommandError> {
    let text = "**loopbot** closes your DevOps feedback loop: it announces deploys from your CI in \
        the channels that subscribed to them, and edits each announcement as the deploy moves on \
        (started → succeeded, failed or rolled back).\n\n\
        **Commands**\n\
        • `/subscribe kind:<deploys|alerts|checkins|summaries|all> [service:<glob>] [environment:<glob>]`: \
        this channel receives those events (needs Manage Server)\n\
        • `/unsubscribe kind:<...> [service] [environment]`: stop (needs Manage Server)\n\
        • `/subscriptions`: what this channel receives\n\
        • `/alerts`: the alerts firing now for this channel, with age and who acknowledged them\n\
        • `/feedback release:<service[@version]> [rating] [comment]`: say how a release is going\n\
        • `/feedback-summary release:<...>`: the tally and latest comments of a release\n\
        • `/checkin release:<...>`: ask this channel now how a release is going\n\
        • `/link-deployer name:<ci username>`: check-ins of your deploys mention you\n\
        • `/summary [period] [service] [public]`: deploys, the four DORA keys, alerts and check-ins of a period, with a chart (only you see it unless public)\n\
        • `/metrics [service]`: the four DORA keys of last week\n\
        • `/help`: this text\n\n\
        Deploys arrive through `POST /api/v1/deploys` on the bot's HTTP API; events no channel \
        subscribed to go to the default channel, if one is configured.";
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// Every command error becomes an ephemeral reply; unexpected ones are logged too.
pub async fn on_error(error: poise::FrameworkError<'_, Data, CommandError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            if matches!(error, CommandError::Store(_) | CommandError::Discord(_)) {
                tracing::error!(command = %ctx.command().qualified_name, %error, "command failed");
            }
            let text = match &error {
                CommandError::Invalid(v) => format!("That doesn't look right: {v}"),
                other => other.to_string(),
            };
            let reply = CreateReply::default()
                .content(text)
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new());
            if let Err(e) = ctx.send(reply).await {
                tracing::warn!(error = %e, "could not send the error reply");
            }
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "error while handling an error");
            }
        }
    }
}
