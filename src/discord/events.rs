//! Gateway events and interactions, routed to the subject that handles them. A component's
//! `custom_id` is `<feature>:<rest>`; the feature prefix picks the handler. Each handler answers
//! its own interaction.

use poise::serenity_prelude as serenity;

use super::context::{reply_ephemeral, reply_ephemeral_to_form, CommandError, Data};
use super::{alert_buttons, checkin_buttons, checkins, incident_forms};
use crate::domain::{ChannelId, GuildId};

/// Every gateway event the bot listens to (slash commands go through poise instead).
pub async fn on_event(
    framework: poise::FrameworkContext<'_, Data, CommandError>,
    event: &serenity::FullEvent,
) -> Result<(), CommandError> {
    let data = framework.user_data;
    let ctx = framework.serenity_context;
    let handled = match event {
        serenity::FullEvent::Ready { .. } | serenity::FullEvent::Resume { .. } => {
            data.gateway.set(true);
            Ok(())
        }
        serenity::FullEvent::ShardStageUpdate { event } => {
            data.gateway
                .set(event.new == serenity::ConnectionStage::Connected);
            Ok(())
        }
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(component),
        } => on_component(ctx, data, component).await,
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Modal(modal),
        } => on_modal(ctx, data, modal).await,
        serenity::FullEvent::GuildCreate { guild, .. } => on_guild(ctx, data, guild).await,
        // Feedback from a server loopbot does not serve (or a DM) is not taken.
        serenity::FullEvent::ReactionAdd { add_reaction }
            if served(data, add_reaction.guild_id) =>
        {
            checkins::on_reaction(ctx, data, add_reaction, true).await
        }
        serenity::FullEvent::ReactionRemove { removed_reaction }
            if served(data, removed_reaction.guild_id) =>
        {
            checkins::on_reaction(ctx, data, removed_reaction, false).await
        }
        serenity::FullEvent::Message { new_message } if served(data, new_message.guild_id) => {
            checkins::on_message(ctx, data, new_message).await
        }
        _ => Ok(()),
    };
    // Handlers answer their own interactions; an error here is logged, never a crash.
    if let Err(error) = handled {
        tracing::error!(%error, "event handler failed");
    }
    Ok(())
}

fn served(data: &Data, guild: Option<serenity::GuildId>) -> bool {
    guild.is_some_and(|g| data.access.serves(g.get()))
}

/// The bot was added to (or is back in) a server: one it does not serve is left at once (and
/// none of its channels learnt); a served one's channels are learnt.
async fn on_guild(
    ctx: &serenity::Context,
    data: &Data,
    guild: &serenity::Guild,
) -> Result<(), CommandError> {
    if data.access.serves(guild.id.get()) {
        return learn_channels(data, guild).await;
    }
    guild.id.leave(ctx).await?;
    tracing::warn!(
        guild = guild.id.get(),
        "left a server not in LOOPBOT_GUILD_IDS; add its id there to serve it"
    );
    Ok(())
}

/// Routes a button click or select to the feature that made the component.
async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let custom_id = interaction.data.custom_id.as_str();
    // One arm per feature that makes components.
    match custom_id.split(':').next().unwrap_or_default() {
        "alerts" => alert_buttons::on_button(ctx, data, interaction).await,
        "checkin" => checkin_buttons::on_component(ctx, data, interaction).await,
        "incident" => incident_forms::on_component(ctx, data, interaction).await,
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
async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<(), CommandError> {
    let custom_id = interaction.data.custom_id.as_str();
    // One arm per feature that opens modals.
    match custom_id.split(':').next().unwrap_or_default() {
        "checkin" => checkin_buttons::on_modal(ctx, data, interaction).await,
        "incident" => incident_forms::on_modal(ctx, data, interaction).await,
        _ => {
            tracing::warn!(custom_id, "modal with no handler");
            reply_ephemeral_to_form(
                ctx,
                interaction,
                "This form is no longer handled by loopbot.",
            )
            .await
        }
    }
}

/// The store learns which server each channel (and active thread) belongs to: what a server
/// reads is decided by its channels (`domain::visibility`).
async fn learn_channels(data: &Data, guild: &serenity::Guild) -> Result<(), CommandError> {
    let channels: Vec<ChannelId> = guild
        .channels
        .keys()
        .chain(guild.threads.iter().map(|t| &t.id))
        .map(|c| ChannelId(c.get()))
        .collect();
    data.store
        .learn_channels(GuildId(guild.id.get()), &channels, chrono::Utc::now())
        .await?;
    Ok(())
}
