//! What every command and event handler gets: [`Data`] (built once), the error type, and the
//! private reply to a component. Imports no subject.

use std::sync::Arc;

use poise::serenity_prelude as serenity;

use super::message::Button;
use crate::domain::visibility::Reader;
use crate::domain::{ChannelId, GuildId};
use crate::services::Services;
use crate::store::StoreError;

/// Everything a command or event handler can reach; built once. It reads the shared
/// [`Services`] through `Deref` (`data.store`, `data.wakes`, ...).
#[derive(Clone)]
pub struct Data {
    pub services: Arc<Services>,
    /// For Alertmanager's API (Silence 1h).
    pub alerts_http: reqwest::Client,
}

impl std::ops::Deref for Data {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

/// The error type of command and event handlers; rendered as an ephemeral reply.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Shown to the user as is.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(#[from] crate::domain::ValidationError),
    /// The user reads plain words; the database's own text is logged where it happens.
    #[error("the bot's database is unavailable right now; please try again in a moment")]
    Store(#[source] StoreError),
    /// Boxed: serenity's error is large, and this type travels through every handler.
    #[error("Discord did not accept the bot's request; please try again in a moment")]
    Discord(#[source] Box<serenity::Error>),
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "database error while handling a Discord interaction");
        CommandError::Store(error)
    }
}

impl From<serenity::Error> for CommandError {
    fn from(error: serenity::Error) -> Self {
        tracing::error!(%error, "Discord error while handling a Discord interaction");
        CommandError::Discord(Box::new(error))
    }
}

pub type Context<'a> = poise::Context<'a, Data, CommandError>;

/// The channel a command was used in.
pub fn channel_of(ctx: Context<'_>) -> ChannelId {
    ChannelId(ctx.channel_id().get())
}

/// Who reads through a command: its server (`domain::visibility`). Nothing is read in a DM.
pub fn reader_of(ctx: Context<'_>) -> Result<Reader, CommandError> {
    Reader::of_interaction(ctx.guild_id().map(|g| GuildId(g.get()))).ok_or_else(|| {
        CommandError::Refused("This command works only in a server's channel.".into())
    })
}

/// A private answer that pings nobody.
fn private_answer(text: impl Into<String>) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
}

/// Answers a component interaction privately, pinging nobody.
pub async fn reply_ephemeral(
    ctx: &serenity::Context,
    interaction: &serenity::ComponentInteraction,
    text: impl Into<String>,
) -> Result<(), CommandError> {
    interaction
        .create_response(ctx, private_answer(text))
        .await?;
    Ok(())
}

/// Answers a component interaction privately with a question and its buttons (a confirmation),
/// pinging nobody. Only the person who pressed sees it, and only they can press its buttons.
pub async fn ask_ephemeral(
    ctx: &serenity::Context,
    interaction: &serenity::ComponentInteraction,
    text: impl Into<String>,
    buttons: &[Button],
) -> Result<(), CommandError> {
    let row = serenity::CreateActionRow::Buttons(buttons.iter().map(Button::to_serenity).collect());
    interaction
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::Message(
                serenity::CreateInteractionResponseMessage::new()
                    .content(text)
                    .ephemeral(true)
                    .components(vec![row])
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            ),
        )
        .await?;
    Ok(())
}

/// Answers a button on a private question by replacing the question with `text` (buttons gone),
/// pinging nobody.
pub async fn settle_ephemeral(
    ctx: &serenity::Context,
    interaction: &serenity::ComponentInteraction,
    text: impl Into<String>,
) -> Result<(), CommandError> {
    interaction
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::UpdateMessage(
                serenity::CreateInteractionResponseMessage::new()
                    .content(text)
                    .components(Vec::new())
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            ),
        )
        .await?;
    Ok(())
}

/// Answers a submitted form (modal) privately, pinging nobody.
pub async fn reply_ephemeral_to_form(
    ctx: &serenity::Context,
    interaction: &serenity::ModalInteraction,
    text: impl Into<String>,
) -> Result<(), CommandError> {
    interaction
        .create_response(ctx, private_answer(text))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_reads_plainly_and_keeps_sqlites_words_for_the_log() {
        let error = CommandError::from(StoreError::Unavailable("database is locked".into()));
        let shown = error.to_string();
        assert_eq!(
            shown,
            "the bot's database is unavailable right now; please try again in a moment"
        );
        assert!(format!("{error:?}").contains("database is locked"));
    }
}
