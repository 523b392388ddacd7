//! Answering a check-in with its buttons (`checkin:vote:<id>:<sentiment>`,
//! `checkin:comment:<id>`) and its comment form (`checkin:modal:<id>`). Open to every member of
//! a served server (feedback is the point), but each is checked first: the check-in the
//! `custom_id` names must be the one the message shows in that channel, and still open.
//!
//! A responder's **Rolled back** is also offered as a status change: a private question with
//! `checkin:rollback:<id>` (mark the deploy rolled back) and `checkin:keep:<id>` (only the vote).

use chrono::Utc;
use poise::serenity_prelude as serenity;

use super::access::{actor, allow, check_target};
use super::checkins::{release_name, COMMENT_MAX};
use super::context::{
    ask_ephemeral, reply_ephemeral, reply_ephemeral_to_form, settle_ephemeral, CommandError, Data,
};
use super::message::{truncate, Button, ButtonStyle, MODAL_TITLE_MAX};
use crate::domain::access::{decide, Action, Refusal, Shown};
use crate::domain::checkin::{CheckinState, FeedbackSource, Sentiment};
use crate::domain::rollback;
use crate::store::{NewFeedback, RollbackOutcome, RolledBackBy};

/// What a closed check-in's buttons and form answer.
const CLOSED: &str =
    "This check-in is closed, so nothing was stored. You can still give feedback with `/feedback`.";

fn parse_checkin_id(raw: Option<&str>) -> Result<i64, CommandError> {
    raw.and_then(|id| id.parse().ok())
        .ok_or_else(|| CommandError::Refused("This button is malformed.".into()))
}

/// `checkin:*` buttons. Always answered: a refusal or failure becomes a private reply.
pub async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    match handle_component(ctx, data, interaction).await {
        Err(CommandError::Refused(text)) => reply_ephemeral(ctx, interaction, text).await,
        other => other,
    }
}

async fn handle_component(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let who = actor(interaction.guild_id, interaction.member.as_ref());
    let parts: Vec<&str> = interaction.data.custom_id.split(':').collect();
    let checkin_id = parse_checkin_id(parts.get(2).copied())?;
    if let Some(step @ ("rollback" | "keep")) = parts.get(1).copied() {
        return answer_rollback(ctx, data, interaction, &who, checkin_id, step == "rollback").await;
    }
    allow(data, &who, Action::GiveFeedback)?;
    let claimed = Shown {
        kind: "checkin",
        id: checkin_id,
    };
    check_target(
        data,
        Some(interaction.message.id),
        interaction.channel_id,
        claimed,
    )
    .await?;
    let Some(checkin) = data.store.checkin(checkin_id).await? else {
        return reply_ephemeral(ctx, interaction, "This check-in no longer exists.").await;
    };
    if checkin.state != CheckinState::Open {
        return reply_ephemeral(ctx, interaction, CLOSED).await;
    }
    let deploy = data.store.deploy(checkin.deploy_id).await?;
    let name = deploy
        .as_ref()
        .map(release_name)
        .unwrap_or_else(|| "this release".into());
    match parts.get(1).copied() {
        Some("vote") => {
            let sentiment: Sentiment = parts
                .get(3)
                .copied()
                .unwrap_or_default()
                .parse()
                .map_err(CommandError::Invalid)?;
            data.store
                .record_feedback(
                    &NewFeedback {
                        deploy_id: checkin.deploy_id,
                        checkin_id: Some(checkin.id),
                        source: FeedbackSource::Button,
                        sentiment: Some(sentiment),
                        body: None,
                        emoji: None,
                        user_id: interaction.user.id.get(),
                        user_name: interaction.user.name.clone(),
                        guild_id: interaction.guild_id.map(|g| g.get()),
                        channel_id: Some(interaction.channel_id.get()),
                        message_id: Some(interaction.message.id.get()),
                    },
                    Utc::now(),
                )
                .await?;
            let thanks = format!(
                "Thanks! Recorded **{}** for {name}. Click another button to change your answer.",
                sentiment.button_label()
            );
            // A responder's Rolled back may be more than a vote: offered, never assumed.
            let offer = deploy.as_ref().filter(|d| {
                sentiment == Sentiment::Bad
                    && decide(&data.access, &who, Action::MarkRolledBack).is_ok()
                    && rollback::decide(d.status).is_ok()
            });
            match offer {
                Some(deploy) => {
                    let question = format!(
                        "{}\nYour **{}** vote is recorded either way; marking it also edits the \
                         announcement, cancels its later check-ins and counts it as a change failure.",
                        rollback::question(deploy),
                        sentiment.button_label()
                    );
                    ask_ephemeral(ctx, interaction, question, &rollback_buttons(checkin.id)).await
                }
                None => reply_ephemeral(ctx, interaction, thanks).await,
            }
        }
        Some("comment") => {
            let input = serenity::CreateInputText::new(
                serenity::InputTextStyle::Paragraph,
                "How is it going?",
                "comment",
            )
            .required(true)
            .max_length(COMMENT_MAX);
            let modal = serenity::CreateModal::new(
                format!("checkin:modal:{}", checkin.id),
                truncate(&format!("Feedback on {name}"), MODAL_TITLE_MAX),
            )
            .components(vec![serenity::CreateActionRow::InputText(input)]);
            interaction
                .create_response(ctx, serenity::CreateInteractionResponse::Modal(modal))
                .await?;
            Ok(())
        }
        _ => reply_ephemeral(ctx, interaction, "This button is not known.").await,
    }
}

/// The confirmation's buttons: mark the deploy rolled back, or leave it at the vote.
fn rollback_buttons(checkin_id: i64) -> [Button; 2] {
    [
        Button {
            custom_id: format!("checkin:rollback:{checkin_id}"),
            label: "Mark rolled back".into(),
            emoji: Some("↩️".into()),
            style: ButtonStyle::Danger,
            disabled: false,
        },
        Button {
            custom_id: format!("checkin:keep:{checkin_id}"),
            label: "Cancel".into(),
            emoji: None,
            style: ButtonStyle::Secondary,
            disabled: false,
        },
    ]
}

/// A button of the private rollback question. Only the responder who pressed Rolled back sees
/// that message; still, the press is authorised again (roles may have changed), must come from
/// a private message of ours, and the check-in it names must belong to this channel.
async fn answer_rollback(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
    who: &crate::domain::access::Actor,
    checkin_id: i64,
    confirmed: bool,
) -> Result<(), CommandError> {
    allow(data, who, Action::MarkRolledBack)?;
    let private = interaction
        .message
        .flags
        .is_some_and(|f| f.contains(serenity::MessageFlags::EPHEMERAL));
    let checkin = data.store.checkin(checkin_id).await?;
    let Some(checkin) = checkin.filter(|c| private && c.channel_id == interaction.channel_id.get())
    else {
        tracing::warn!(
            checkin_id,
            "rollback button off its private question; refused"
        );
        return Err(CommandError::Refused(Refusal::NotThisMessage.to_string()));
    };
    if !confirmed {
        return settle_ephemeral(ctx, interaction, "Not marked: only your vote was recorded.")
            .await;
    }
    let by = RolledBackBy {
        user_id: interaction.user.id.get(),
        name: interaction.user.name.clone(),
    };
    let answer = match data
        .store
        .mark_rolled_back(checkin.deploy_id, &by, Utc::now())
        .await?
    {
        RollbackOutcome::Marked { deploy, channels } => {
            tracing::info!(
                deploy_id = deploy.id,
                user_id = by.user_id,
                channels = channels.len(),
                "deploy marked rolled back from a check-in"
            );
            data.wakes.delivery.wake();
            data.wakes.checkins.wake();
            format!(
                "Marked {} {} in {} as rolled back. Its announcement will say so, and its later \
                 check-ins are cancelled.",
                deploy.service, deploy.version, deploy.environment
            )
        }
        RollbackOutcome::Refused(_, why) => format!("{why} Nothing was changed."),
        RollbackOutcome::Missing => "This deploy no longer exists: nothing was changed.".into(),
    };
    settle_ephemeral(ctx, interaction, answer).await
}

/// The comment modal `checkin:modal:<id>`. Always answered, privately.
pub async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<(), CommandError> {
    match handle_modal(ctx, data, interaction).await {
        Err(CommandError::Refused(text)) => reply_ephemeral_to_form(ctx, interaction, text).await,
        other => other,
    }
}

async fn handle_modal(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<(), CommandError> {
    let who = actor(interaction.guild_id, interaction.member.as_ref());
    allow(data, &who, Action::GiveFeedback)?;
    let parts: Vec<&str> = interaction.data.custom_id.split(':').collect();
    let checkin_id = parse_checkin_id(parts.get(2).copied())?;
    // The form was opened from a button on the check-in's message; Discord sends that message.
    let claimed = Shown {
        kind: "checkin",
        id: checkin_id,
    };
    check_target(
        data,
        interaction.message.as_ref().map(|m| m.id),
        interaction.channel_id,
        claimed,
    )
    .await?;
    let text: String = interaction
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .filter_map(|c| match c {
            serenity::ActionRowComponent::InputText(input) if input.custom_id == "comment" => {
                input.value.clone()
            }
            _ => None,
        })
        .collect();
    let checkin = data.store.checkin(checkin_id).await?;
    let answer = match checkin {
        None => "This check-in no longer exists.".to_owned(),
        // Forms stay open on people's screens; one sent after the close is not counted.
        Some(checkin) if checkin.state != CheckinState::Open => CLOSED.to_owned(),
        Some(_) if text.trim().is_empty() => "The comment was empty; nothing was stored.".into(),
        Some(checkin) => {
            data.store
                .record_feedback(
                    &NewFeedback {
                        deploy_id: checkin.deploy_id,
                        checkin_id: Some(checkin.id),
                        source: FeedbackSource::Modal,
                        sentiment: None,
                        body: Some(text),
                        emoji: None,
                        user_id: interaction.user.id.get(),
                        user_name: interaction.user.name.clone(),
                        guild_id: interaction.guild_id.map(|g| g.get()),
                        channel_id: Some(interaction.channel_id.get()),
                        message_id: interaction
                            .message
                            .as_ref()
                            .map(|m| m.id.get())
                            .or(checkin.message_id),
                    },
                    Utc::now(),
                )
                .await?;
            "Thanks! Your comment was recorded.".to_owned()
        }
    };
    reply_ephemeral_to_form(ctx, interaction, answer).await
}
