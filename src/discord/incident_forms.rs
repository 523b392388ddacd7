//! The retro prompt's buttons (`incident:retro:<incident>`, `incident:followup:<incident>`) and
//! the forms they open (`incident:retro_form:<incident>`, `incident:followup_form:<incident>`).
//! Responders only; each press and submission must come from the prompt message that shows that
//! incident in that thread (`discord::access::check_target`).

use chrono::Utc;
use poise::serenity_prelude as serenity;

use super::access::{actor, allow, check_target};
use super::context::{reply_ephemeral, reply_ephemeral_to_form, CommandError, Data};
use super::message::{truncate, MODAL_TITLE_MAX};
use crate::domain::access::{Action, Shown};
use crate::domain::incident_review::{
    NewFollowup, Retro, DUE_MAX, FOLLOWUP_WHAT_MAX, OWNER_MAX, SOONER_MAX, WHAT_HAPPENED_MAX,
    WHAT_HELPED_MAX,
};
use crate::store::Person;

fn incident_id(custom_id: &str) -> Result<(String, i64), CommandError> {
    let parts: Vec<&str> = custom_id.split(':').collect();
    match (parts.get(1), parts.get(2).and_then(|id| id.parse().ok())) {
        (Some(step), Some(id)) if parts.len() == 3 => Ok(((*step).to_owned(), id)),
        _ => Err(CommandError::Refused("This button is malformed.".into())),
    }
}

fn prompt_of(id: i64) -> Shown<'static> {
    Shown {
        kind: "incident_prompt",
        id,
    }
}

fn person(user: &serenity::User) -> Person {
    Person {
        id: user.id.get(),
        name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
    }
}

/// `incident:*` buttons. Always answered: a refusal becomes a private reply.
pub async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    match open_form(ctx, data, interaction).await {
        Err(CommandError::Refused(text)) => reply_ephemeral(ctx, interaction, text).await,
        Err(CommandError::Invalid(error)) => {
            reply_ephemeral(
                ctx,
                interaction,
                format!("That doesn't look right: {error}"),
            )
            .await
        }
        other => other,
    }
}

fn input(
    custom_id: &str,
    label: &str,
    style: serenity::InputTextStyle,
    max: usize,
    required: bool,
) -> serenity::CreateActionRow {
    serenity::CreateActionRow::InputText(
        serenity::CreateInputText::new(style, label, custom_id)
            .required(required)
            .max_length(max as u16),
    )
}

async fn open_form(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let (step, id) = incident_id(&interaction.data.custom_id)?;
    allow(
        data,
        &actor(interaction.guild_id, interaction.member.as_ref()),
        Action::ReviewIncident,
    )?;
    check_target(
        data,
        Some(interaction.message.id),
        interaction.channel_id,
        prompt_of(id),
    )
    .await?;
    use serenity::InputTextStyle::{Paragraph, Short};
    let modal = match step.as_str() {
        "retro" => serenity::CreateModal::new(
            format!("incident:retro_form:{id}"),
            truncate(&format!("Retro of incident #{id}"), MODAL_TITLE_MAX),
        )
        .components(vec![
            input(
                "what_happened",
                "What happened?",
                Paragraph,
                WHAT_HAPPENED_MAX,
                true,
            ),
            input(
                "what_helped",
                "What helped?",
                Paragraph,
                WHAT_HELPED_MAX,
                true,
            ),
            input(
                "sooner",
                "What would have caught it sooner?",
                Paragraph,
                SOONER_MAX,
                true,
            ),
        ]),
        "followup" => serenity::CreateModal::new(
            format!("incident:followup_form:{id}"),
            truncate(&format!("Follow-up of incident #{id}"), MODAL_TITLE_MAX),
        )
        .components(vec![
            input("what", "What needs doing?", Short, FOLLOWUP_WHAT_MAX, true),
            serenity::CreateActionRow::InputText(
                serenity::CreateInputText::new(
                    Short,
                    "Owner (a name, a team, or @mention / user id)",
                    "owner",
                )
                .required(true)
                .max_length(OWNER_MAX as u16)
                .value(format!("<@{}>", interaction.user.id.get())),
            ),
            serenity::CreateActionRow::InputText(
                serenity::CreateInputText::new(Short, "Due date (YYYY-MM-DD, optional)", "due")
                    .required(false)
                    .max_length(DUE_MAX as u16)
                    .placeholder("2026-12-31"),
            ),
        ]),
        _ => return Err(CommandError::Refused("This button is not known.".into())),
    };
    interaction
        .create_response(ctx, serenity::CreateInteractionResponse::Modal(modal))
        .await?;
    Ok(())
}

/// `incident:*_form` submissions. Always answered, privately.
pub async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<(), CommandError> {
    let answer = match submit(data, interaction).await {
        Ok(text) | Err(CommandError::Refused(text)) => text,
        Err(CommandError::Invalid(error)) => {
            format!("That doesn't look right: {error}. Nothing was stored.")
        }
        Err(other) => return Err(other),
    };
    reply_ephemeral_to_form(ctx, interaction, answer).await
}

fn field<'a>(interaction: &'a serenity::ModalInteraction, name: &str) -> &'a str {
    interaction
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            serenity::ActionRowComponent::InputText(input) if input.custom_id == name => {
                input.value.as_deref()
            }
            _ => None,
        })
        .unwrap_or_default()
}

async fn submit(
    data: &Data,
    interaction: &serenity::ModalInteraction,
) -> Result<String, CommandError> {
    let (step, id) = incident_id(&interaction.data.custom_id)?;
    allow(
        data,
        &actor(interaction.guild_id, interaction.member.as_ref()),
        Action::ReviewIncident,
    )?;
    // The form was opened from the prompt's button; Discord sends that message along.
    check_target(
        data,
        interaction.message.as_ref().map(|m| m.id),
        interaction.channel_id,
        prompt_of(id),
    )
    .await?;
    let by = person(&interaction.user);
    let now = Utc::now();
    let text = match step.as_str() {
        "retro_form" => {
            let retro = Retro::parse(
                field(interaction, "what_happened"),
                field(interaction, "what_helped"),
                field(interaction, "sooner"),
            )?;
            if !data.store.write_retro(id, &retro, &by, now).await? {
                return Ok("This incident no longer exists: nothing was stored.".into());
            }
            format!("Thanks! Your retro of incident #{id} is recorded (a new one replaces it).")
        }
        "followup_form" => {
            let followup = NewFollowup::parse(
                field(interaction, "what"),
                field(interaction, "owner"),
                field(interaction, "due"),
                now.date_naive(),
            )?;
            match data.store.add_followup(id, &followup, &by, now).await? {
                None => "This incident no longer exists: nothing was stored.".into(),
                Some(followup_id) => format!(
                    "Follow-up #{followup_id} added: {}. Its owner or a responder closes it with \
                     `/followup-done id:{followup_id}`.",
                    truncate(&followup.what, 300)
                ),
            }
        }
        _ => return Err(CommandError::Refused("This form is not known.".into())),
    };
    data.wakes.delivery.wake();
    Ok(text)
}
