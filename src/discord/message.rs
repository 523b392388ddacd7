//! The message primitives every subject renders with: [`Rendered`] as loopbot's own plain values
//! (readable by code and tests without serialising), Discord's limits (`limits` checks a whole
//! message against them), truncation and the duration texts. serenity's builders and the REST
//! JSON body are made from it only at the edge ([`post_body`], [`edit_body`],
//! [`Embed::to_serenity`]). Imports no subject.

use chrono::{DateTime, Utc};
use serde_json::Value;
use serenity::all::{
    Colour, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateMessage, EditMessage, Nonce, ReactionType, RoleId, Timestamp, UserId,
};

/// Discord's own limits (see the API reference on messages and embeds).
pub const CONTENT_MAX: usize = 2000;
pub const EMBED_TITLE_MAX: usize = 256;
pub const EMBED_DESCRIPTION_MAX: usize = 4096;
pub const EMBED_FIELD_NAME_MAX: usize = 256;
pub const EMBED_FIELD_VALUE_MAX: usize = 1024;
pub const EMBED_FIELDS_MAX: usize = 25;
pub const EMBED_FOOTER_MAX: usize = 2048;
pub const EMBED_AUTHOR_MAX: usize = 256;
pub const EMBEDS_MAX: usize = 10;
/// Title, description, field names and values, footer and author together.
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const BUTTON_LABEL_MAX: usize = 80;
pub const CUSTOM_ID_MAX: usize = 100;
/// Action rows per message, and buttons per row.
pub const ACTION_ROWS_MAX: usize = 5;
pub const ROW_BUTTONS_MAX: usize = 5;
/// Thread names and autocomplete choices.
pub const NAME_MAX: usize = 100;
pub const MODAL_TITLE_MAX: usize = 45;

/// The colours the bot's embeds use (Discord's own palette).
pub mod colour {
    pub const BLURPLE: u32 = 0x5865f2;
    pub const GREEN: u32 = 0x57f287;
    pub const RED: u32 = 0xed4245;
    pub const YELLOW: u32 = 0xfee75c;
    pub const ORANGE: u32 = 0xf26b1d;
    pub const GREY: u32 = 0x99aab5;
}

/// A message as the bot wants it to look, before it becomes a post or an edit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    /// Rows of buttons (Discord allows five).
    pub components: Vec<Vec<Button>>,
    /// Uploaded with the first post only (the summary chart).
    pub files: Vec<FileUpload>,
    /// Who may be pinged. Empty unless a configuration or a linked user asked for a ping.
    pub mentions: Mentions,
}

/// An embed; `None` fields are left out of the body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embed {
    pub title: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub colour: Option<u32>,
    pub fields: Vec<Field>,
    pub footer: Option<String>,
    pub image: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

impl Embed {
    pub fn field(mut self, name: &str, value: impl Into<String>, inline: bool) -> Self {
        self.fields.push(Field {
            name: name.to_owned(),
            // Discord refuses an empty or oversized value; every field goes through the same fit.
            value: field_value(&value.into()),
            inline,
        });
        self
    }

    /// The characters Discord counts towards [`EMBED_TOTAL_MAX`].
    pub fn chars(&self) -> usize {
        let len = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
        len(&self.title)
            + len(&self.description)
            + len(&self.footer)
            + self
                .fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>()
    }

    pub fn to_serenity(&self) -> CreateEmbed {
        let mut embed = CreateEmbed::new();
        if let Some(title) = &self.title {
            embed = embed.title(title);
        }
        if let Some(description) = &self.description {
            embed = embed.description(description);
        }
        if let Some(url) = &self.url {
            embed = embed.url(url);
        }
        if let Some(colour) = self.colour {
            embed = embed.colour(Colour::new(colour));
        }
        for f in &self.fields {
            embed = embed.field(&f.name, &f.value, f.inline);
        }
        if let Some(footer) = &self.footer {
            embed = embed.footer(CreateEmbedFooter::new(footer));
        }
        if let Some(image) = &self.image {
            embed = embed.image(image);
        }
        if let Some(ts) = self
            .timestamp
            .and_then(|at| Timestamp::from_unix_timestamp(at.timestamp()).ok())
        {
            embed = embed.timestamp(ts);
        }
        embed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Success,
    Danger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// `<feature>:<rest>`; the feature prefix routes the click (see `discord/events.rs`).
    pub custom_id: String,
    pub label: String,
    pub emoji: Option<String>,
    pub style: ButtonStyle,
    pub disabled: bool,
}

impl Button {
    pub fn to_serenity(&self) -> CreateButton {
        let style = match self.style {
            ButtonStyle::Primary => serenity::all::ButtonStyle::Primary,
            ButtonStyle::Secondary => serenity::all::ButtonStyle::Secondary,
            ButtonStyle::Success => serenity::all::ButtonStyle::Success,
            ButtonStyle::Danger => serenity::all::ButtonStyle::Danger,
        };
        let mut button = CreateButton::new(&self.custom_id).label(&self.label);
        if let Some(emoji) = &self.emoji {
            button = button.emoji(ReactionType::Unicode(emoji.clone()));
        }
        button.style(style).disabled(self.disabled)
    }
}

/// A file attached to a post; an embed shows it as `attachment://<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileUpload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The only pings a message may carry: explicit user and role ids, never @everyone/@here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    pub users: Vec<u64>,
    pub roles: Vec<u64>,
}

impl Mentions {
    fn allowed(&self) -> CreateAllowedMentions {
        CreateAllowedMentions::new()
            .users(self.users.iter().map(|u| UserId::new(*u)))
            .roles(self.roles.iter().map(|r| RoleId::new(*r)))
    }
}

impl Rendered {
    fn embeds(&self) -> Vec<CreateEmbed> {
        self.embeds.iter().map(Embed::to_serenity).collect()
    }

    fn components(&self) -> Vec<CreateActionRow> {
        self.components
            .iter()
            .map(|row| CreateActionRow::Buttons(row.iter().map(Button::to_serenity).collect()))
            .collect()
    }
}

/// The post that first shows a subject. `nonce` makes Discord return the earlier message
/// instead of posting twice when a post is retried. Files are named in `attachments`, matched to
/// the multipart `files[n]` parts by id.
pub fn post_body(message: &Rendered, nonce: String) -> Value {
    let mut body = CreateMessage::new()
        .embeds(message.embeds())
        .components(message.components())
        .allowed_mentions(message.mentions.allowed())
        .nonce(Nonce::String(nonce))
        .enforce_nonce(true);
    if let Some(content) = &message.content {
        body = body.content(content);
    }
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    if !message.files.is_empty() {
        value["attachments"] = message
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({ "id": i, "filename": f.name }))
            .collect();
    }
    value
}

/// The edit that brings a posted message up to date (files stay as first posted).
pub fn edit_body(message: &Rendered) -> Value {
    let mut body = EditMessage::new()
        .embeds(message.embeds())
        .components(message.components())
        .allowed_mentions(message.mentions.allowed());
    if let Some(content) = &message.content {
        body = body.content(content);
    }
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An embed field's value: Discord refuses the whole message over one empty or too long value.
pub fn field_value(text: &str) -> String {
    if text.trim().is_empty() {
        return "—".to_owned();
    }
    truncate(text, EMBED_FIELD_VALUE_MAX)
}

/// How long something took: "40s", "12m 5s", "3h 7m", "2d 4h" (the summaries' text too).
pub fn duration(seconds: i64) -> String {
    crate::domain::summary::duration_text(seconds as f64)
}

/// How long ago, coarser: "40s", "12 min", "1h 5m", "2d 4h" (alerts' ages and delays).
pub fn span(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A time every reader sees in their own zone: `<t:unix:style>` (`R` relative, `f` full, `t` time).
pub fn discord_time(at: DateTime<Utc>, style: char) -> String {
    format!("<t:{}:{style}>", at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("ééé", 2), "é…");
        assert_eq!(truncate("ab", 2), "ab");
    }

    #[test]
    fn durations_read_the_same_everywhere() {
        for (seconds, text) in [
            (0, "0s"),
            (59, "59s"),
            (75, "1m 15s"),
            (3_599, "59m 59s"),
            (3_660, "1h 1m"),
            (90_000, "1d 1h"),
        ] {
            assert_eq!(duration(seconds), text, "{seconds}s");
        }
        for (ms, text) in [
            (-5, "0s"),
            (40_000, "40s"),
            (720_000, "12 min"),
            (3_900_000, "1h 5m"),
            (93_600_000, "1d 2h"),
        ] {
            assert_eq!(span(ms), text, "{ms}ms");
        }
    }

    #[test]
    fn embed_chars_count_what_discord_counts() {
        let embed = Embed {
            title: Some("é".repeat(3)),
            description: Some("ab".into()),
            footer: Some("f".into()),
            url: Some("https://not.counted".into()),
            ..Default::default()
        }
        .field("n", "vv", true);
        assert_eq!(embed.chars(), 3 + 2 + 1 + 1 + 2);
    }
}
