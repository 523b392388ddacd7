//! Answering a check-in with its buttons (`checkin:vote:<id>:<sentiment>`,
//! `checkin:comment:<id>`) and its comment form (`checkin:modal:<id>`). Open to every member of
//! a served server (feedback is the point), but each is checked first: the check-in the
//! `custom_id` names must be the one the message shows in that channel, and still open.

use chrono::Utc;
use poise::serenity_prelude as serenity;

use super::access::{actor, allow, check_target};
use super::checkins::{release_name, COMMENT_MAX};
use super::context::{reply_ephemeral, reply_ephemeral_to_form, CommandError, Data};
use super::message::{truncate, MODAL_TITLE_MAX};
use crate::domain::access::{Action, Shown};
use crate::domain::checkin::{CheckinState, FeedbackSource, Sentiment};
use crate::store::NewFeedback;

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
    allow(data, &who, Action::GiveFeedback)?;
    let parts: Vec<&str> = interaction.data.custom_id.split(':').collect();
    let checkin_id = parse_checkin_id(parts.get(2).copied())?;
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
            reply_ephemeral(
                ctx,
                interaction,
                format!(
                    "Thanks! Recorded **{}** for {name}. Click another button to change your answer.",
                    sentiment.button_label()
                ),
            )
            .await
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
