//! The Discord side of `domain::access`: describes the person behind an interaction as an
//! [`Actor`] (their guild, roles and the permissions Discord resolved for the channel) and asks
//! the policy. Every command (through poise's `command_check`), button and form calls it before
//! doing anything.

use poise::serenity_prelude as serenity;

use super::context::{CommandError, Context, Data};
use crate::domain::access::{decide, proves_target, Action, Actor, Refusal, Shown};

/// The person behind an interaction. In a DM there is no guild and no member.
pub fn actor(guild: Option<serenity::GuildId>, member: Option<&serenity::Member>) -> Actor {
    let permissions = member.and_then(|m| m.permissions);
    Actor {
        guild: guild.map(|g| g.get()),
        roles: member
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        manage_server: permissions.is_some_and(|p| p.manage_guild() || p.administrator()),
        manage_messages: permissions.is_some_and(|p| p.manage_messages() || p.administrator()),
    }
}

/// What each slash command is, for the policy. None: a command missing from the table, which
/// is refused (a test keeps the table complete).
pub fn command_action(name: &str) -> Option<Action> {
    Some(match name {
        "help" => Action::Help,
        "subscribe" => Action::Subscribe,
        "unsubscribe" => Action::Unsubscribe,
        "subscriptions" => Action::ListSubscriptions,
        "alerts" => Action::ListAlerts,
        "feedback" => Action::GiveFeedback,
        "feedback-summary" => Action::FeedbackSummary,
        "checkin" => Action::RequestCheckin,
        "link-deployer" | "unlink-deployer" => Action::LinkOwnDeployerName,
        "summary" => Action::Summary,
        "metrics" => Action::Metrics,
        "dashboard" => Action::OpenDashboard,
        "incident" | "incident declare" | "incident resolve" => Action::DeclareIncident,
        "followups" => Action::ListFollowups,
        "followup-done" => Action::CloseFollowup,
        _ => return None,
    })
}

/// The actor of a slash command.
pub fn command_actor(ctx: Context<'_>) -> Actor {
    match ctx {
        poise::Context::Application(app) => {
            actor(app.interaction.guild_id, app.interaction.member.as_deref())
        }
        // loopbot registers no prefix commands; a prefix context is nobody.
        poise::Context::Prefix(_) => Actor::default(),
    }
}

/// poise's `command_check`: runs before every command; a refusal becomes the ephemeral answer.
pub async fn command_check(ctx: Context<'_>) -> Result<bool, CommandError> {
    let name = &ctx.command().qualified_name;
    let Some(action) = command_action(name) else {
        tracing::warn!(command = %name, "command missing from the access table; refused");
        return Err(CommandError::Refused(
            "This command is not available.".into(),
        ));
    };
    allow(ctx.data(), &command_actor(ctx), action)?;
    Ok(true)
}

/// `decide`, with a refusal as the error handlers show it, and logged.
pub fn allow(data: &Data, actor: &Actor, action: Action) -> Result<(), CommandError> {
    decide(&data.access, actor, action).map_err(|refusal| {
        tracing::info!(?action, guild = ?actor.guild, %refusal, "refused");
        CommandError::Refused(refusal.to_string())
    })
}

/// A button or form naming `claimed` was used on message `message` in `channel`: honoured only
/// if that message shows `claimed` there.
pub async fn check_target(
    data: &Data,
    message: Option<serenity::MessageId>,
    channel: serenity::ChannelId,
    claimed: Shown<'_>,
) -> Result<(), CommandError> {
    let shown = match message {
        Some(message) => {
            data.store
                .subject_shown(message.get(), channel.get())
                .await?
        }
        None => None,
    };
    let shown = shown.as_ref().map(|(kind, id)| Shown {
        kind: kind.as_str(),
        id: *id,
    });
    proves_target(shown, claimed).map_err(|refusal: Refusal| {
        tracing::warn!(
            ?claimed,
            ?shown,
            "button names another message's subject; refused"
        );
        CommandError::Refused(refusal.to_string())
    })
}
