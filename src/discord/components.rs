//! Button and modal interactions. A component's `custom_id` is `<feature>:<rest>`; the feature
//! prefix picks the handler. Each handler answers its own interaction.

use poise::serenity_prelude as serenity;

use super::{CommandError, Data};

/// Routes a button click or select to the feature that made the component.
pub async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let custom_id = interaction.data.custom_id.as_str();
    // One arm per feature that makes components.
    #[allow(clippy::match_single_binding)]
    match custom_id.split(':').next().unwrap_or_default() {
        "alerts" => super::alerts::on_button(ctx, data, interaction).await,
        "checkin" => super::checkins::on_component(ctx, data, interaction).await,
        _ => {
            tracing::warn!(custom_id, "button with no handler");
            reply_ephemeral(
                ctx,
                interaction,
                "This button is no longer handled by loopbot.",
            )
            .await
        }
    }
}

/// Routes a modal submission to the feature that opened the modal.
// The match has one arm until a feature opens a modal.
#[allow(clippy::match_single_binding)]
pub async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<(), CommandError> {
    let custom_id = interaction.data.custom_id.as_str();
    // One arm per feature that makes components.
    #[allow(clippy::match_single_binding)]
    match custom_id.split(':').next().unwrap_or_default() {
        "checkin" => super::checkins::on_modal(ctx, data, interaction).await,
        _ => {
            tracing::warn!(custom_id, "modal with no handler");
            let reply = serenity::CreateInteractionResponseMessage::new()
                .content("This form is no longer handled by loopbot.")
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new());
            interaction
                .create_response(ctx, serenity::CreateInteractionResponse::Message(reply))
                .await?;
            Ok(())
        }
    }
}

/// Answers a component interaction privately, pinging nobody.
pub async fn reply_ephemeral(
    ctx: &serenity::Context,
    interaction: &serenity::ComponentInteraction,
    text: impl Into<String>,
) -> Result<(), CommandError> {
    let reply = serenity::CreateInteractionResponseMessage::new()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    interaction
        .create_response(ctx, serenity::CreateInteractionResponse::Message(reply))
        .await?;
    Ok(())
}
