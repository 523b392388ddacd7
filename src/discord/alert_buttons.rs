//! Pressing the buttons of an alert message: Acknowledge, Silence 1h (a real Alertmanager
//! silence), "Caused by <deploy>" / "Not this deploy" (Useful / Noise: `alert_votes`). Each press is checked first: the person
//! must be a responder (`discord::access`), and the group the `custom_id` names must be the one
//! the pressed message shows in that channel; a refused press changes nothing.

use chrono::{DateTime, Utc};
use poise::serenity_prelude as serenity;

use super::access::{actor, allow, check_target};
use super::context::{reply_ephemeral, CommandError, Data};
use super::message::discord_time;
use crate::domain::access::{Action, Shown};
use crate::store::alerts::ActionOutcome;

/// A button on an alert message was pressed. Always answered: a failure becomes a private reply.
pub async fn on_button(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    match handle_button(ctx, data, interaction).await {
        Ok(()) => Ok(()),
        Err(CommandError::Discord(error)) => Err(CommandError::Discord(error)),
        // Refusals were logged where they were decided.
        Err(CommandError::Refused(text)) => reply_ephemeral(ctx, interaction, text).await,
        Err(error) => {
            tracing::error!(%error, custom_id = %interaction.data.custom_id, "alert button failed");
            reply_ephemeral(ctx, interaction, error.to_string()).await
        }
    }
}

async fn handle_button(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let parts: Vec<&str> = interaction.data.custom_id.split(':').collect();
    let action = match parts.get(1).copied() {
        Some("ack") => Action::Acknowledge,
        Some("silence") => Action::Silence,
        Some("cause") => Action::JudgeCause,
        // Any member's opinion, checked there.
        Some("vote") => return super::alert_votes::press(ctx, data, interaction).await,
        _ => {
            return reply_ephemeral(
                ctx,
                interaction,
                "This button is no longer handled by loopbot.",
            )
            .await
        }
    };
    let who = actor(interaction.guild_id, interaction.member.as_ref());
    allow(data, &who, action)?;
    let user = &interaction.user;
    let name = user
        .global_name
        .clone()
        .unwrap_or_else(|| user.name.clone());
    let now = Utc::now();
    let group: Option<i64> = parts.get(2).and_then(|g| g.parse().ok());
    let Some(group) = group else {
        return reply_ephemeral(ctx, interaction, "This button is malformed.").await;
    };
    let claimed = Shown {
        kind: "alert_group",
        id: group,
    };
    check_target(
        data,
        Some(interaction.message.id),
        interaction.channel_id,
        claimed,
    )
    .await?;
    let text = match parts.get(1).copied() {
        Some("ack") => match data
            .store
            .ack_alert_group(group, user.id.get(), &name, now)
            .await?
        {
            ActionOutcome::Done => format!(
                "Acknowledged: you are on it (at {}).",
                discord_time(now, 't')
            ),
            ActionOutcome::Already { by, at } => format!(
                "Already acknowledged by {} at {}.",
                by.as_deref().unwrap_or("someone"),
                at.map(|a| discord_time(a, 't')).unwrap_or_default()
            ),
            ActionOutcome::NotFound => "This alert is no longer known to loopbot.".into(),
            ActionOutcome::Resolved => return Err(resolved_refusal()),
        },
        Some("silence") => silence(data, group, user.id.get(), &name, now).await?,
        Some("cause") => {
            let deploy: Option<i64> = parts.get(3).and_then(|d| d.parse().ok());
            let answer = parts.get(4).copied();
            match (deploy, answer) {
                (Some(deploy), Some(answer @ ("yes" | "no"))) => {
                    match data
                        .store
                        .answer_deploy_link(group, deploy, answer == "yes", user.id.get(), &name, now)
                        .await?
                    {
                        ActionOutcome::NotFound => {
                            "That link between alert and deploy no longer exists.".into()
                        }
                        _ if answer == "yes" => format!(
                            "Recorded: deploy #{deploy} caused this alert. It counts as a failed change."
                        ),
                        _ => format!("Recorded: deploy #{deploy} did not cause this alert."),
                    }
                }
                _ => "This button is malformed.".into(),
            }
        }
        _ => "This button is no longer handled by loopbot.".into(),
    };
    data.wakes.delivery.wake();
    reply_ephemeral(ctx, interaction, text).await
}

/// Acknowledge and Silence act only while the group fires (issue 14: a button is honoured only
/// while its subject can still change).
fn resolved_refusal() -> CommandError {
    CommandError::Refused(
        "This alert has resolved; there is nothing left to acknowledge or silence.".into(),
    )
}

async fn silence(
    data: &Data,
    group: i64,
    user: u64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<String, CommandError> {
    let Some(base) = data.alerts.alertmanager_url.as_deref() else {
        return Ok("Silencing needs ALERTMANAGER_URL to be configured on the bot.".into());
    };
    let Some(target) = data.store.alert_silence_target(group).await? else {
        return Ok("This alert is no longer known to loopbot.".into());
    };
    if target.resolved {
        return Err(resolved_refusal());
    }
    if target.source != "alertmanager" {
        return Ok("Only Alertmanager alerts can be silenced from here.".into());
    }
    if let Some(until) = target.silenced_until.filter(|u| *u > now) {
        return Ok(format!(
            "Already silenced until {}.",
            discord_time(until, 't')
        ));
    }
    if target.matchers.is_empty() {
        return Ok("This alert group has no labels to silence by.".into());
    }
    let until = now + chrono::Duration::hours(1);
    match crate::alertmanager::create_silence(
        &data.alerts_http,
        base,
        &target.matchers,
        now,
        until,
        &format!("loopbot ({name})"),
        &format!("Silenced for 1h from Discord by {name}"),
    )
    .await
    {
        Ok(silence_id) => {
            data.store
                .alert_group_silenced(group, &silence_id, user, name, until, now)
                .await?;
            Ok(format!(
                "Silenced for 1 hour in Alertmanager (silence {silence_id}, until {}).",
                discord_time(until, 't')
            ))
        }
        Err(error) => {
            tracing::warn!(%error, group, "could not create the silence");
            Ok(format!("Alertmanager did not create the silence: {error}"))
        }
    }
}
