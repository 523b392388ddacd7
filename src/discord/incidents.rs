//! Incidents with an end on Discord: a declared incident's message, the thread started on an
//! incident's message (a delivery of its own, after that message is posted), the timeline entries
//! and the retro prompt posted in it, and the commands `/incident declare|resolve`, `/followups`,
//! `/followup-done`. The prompt's buttons and forms are in `incident_forms`.

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::access::command_actor;
use super::context::{channel_of, reader_of, CommandError, Context, Data};
use super::message::{
    colour, discord_time, truncate, Button, ButtonStyle, Embed, Rendered, CONTENT_MAX,
    EMBED_TITLE_MAX,
};
use super::rest::{DiscordRest, SendError};
use crate::domain::alert::Severity;
use crate::domain::incident_review::{age_days, declared_title, resolved_detail, Owner};
use crate::domain::refusal::Refusal;
use crate::domain::ChannelId;
use crate::store::{
    CloseOutcome, Declared, FollowupView, IncidentCard, Person, ResolveOutcome, Store, ThreadStart,
};

fn severity_emoji(severity: &str) -> &'static str {
    match Severity::new(Some(severity)).rank() {
        4 => "🔴",
        3 => "🟠",
        2 => "🟡",
        _ => "🔵",
    }
}

fn place(card: &IncidentCard) -> String {
    card.service
        .as_ref()
        .map(|s| format!(" · {s}"))
        .unwrap_or_default()
}

/// A declared incident's own message (an alert's incident is shown by its alert message).
pub fn render_incident(card: &IncidentCard) -> Rendered {
    let (title, colour, status) = match card.resolved_at {
        None => (
            format!(
                "🚨 INCIDENT ({}): {}{}",
                card.severity,
                card.title,
                place(card)
            ),
            colour::RED,
            "Open: the timeline is in the thread below".to_owned(),
        ),
        Some(resolved) => (
            format!("✅ RESOLVED INCIDENT: {}{}", card.title, place(card)),
            colour::GREEN,
            format!("Resolved {}", resolved_detail(card.opened_at, resolved)),
        ),
    };
    let mut embed = Embed {
        title: Some(truncate(&title, EMBED_TITLE_MAX)),
        colour: Some(colour),
        footer: Some(format!("loopbot · incident #{}", card.id)),
        timestamp: Some(card.resolved_at.unwrap_or(card.opened_at)),
        ..Default::default()
    }
    .field("Status", status, true)
    .field(
        "Severity",
        format!(
            "{} {}",
            severity_emoji(&card.severity),
            truncate(&card.severity, 40)
        ),
        true,
    )
    .field("Since", discord_time(card.opened_at, 'f'), true);
    if let Some(name) = &card.declared_by_name {
        embed = embed.field("Declared by", truncate(name, 100), true);
    }
    Rendered {
        embeds: vec![embed],
        ..Default::default()
    }
}

/// A timeline entry in the thread: its time (shown in each reader's zone) and what happened.
pub fn render_event(entry: &crate::domain::incident_review::TimelineEntry) -> Rendered {
    let line = format!("{} · {}", discord_time(entry.at, 'T'), entry.text());
    Rendered {
        content: Some(truncate(&line, CONTENT_MAX)),
        ..Default::default()
    }
}

/// The retro prompt, posted in the thread once the incident resolved.
pub fn render_prompt(card: &IncidentCard) -> Rendered {
    let text = format!(
        "**Incident #{} is resolved: {}**\nWhile it is fresh: what happened, what helped, what \
         would have caught it sooner? Write the retro, and add a follow-up for each thing to fix \
         (with an owner). `/followups` lists the open ones.",
        card.id,
        truncate(&card.title, 300)
    );
    Rendered {
        content: Some(truncate(&text, CONTENT_MAX)),
        components: vec![vec![
            Button {
                custom_id: format!("incident:retro:{}", card.id),
                label: "Write the retro".into(),
                emoji: Some("📝".into()),
                style: ButtonStyle::Primary,
                disabled: false,
            },
            Button {
                custom_id: format!("incident:followup:{}", card.id),
                label: "Add a follow-up".into(),
                emoji: Some("📌".into()),
                style: ButtonStyle::Secondary,
                disabled: false,
            },
        ]],
        ..Default::default()
    }
}

/// The thread's name: `Incident #5: checkout down`.
pub fn thread_name(start: &ThreadStart) -> String {
    super::limits::thread_name(
        &format!("Incident #{}: {}", start.incident_id, start.title),
        "Incident",
    )
}

/// Starts the incident's thread on its message in `channel` (posted before: the channel's queue
/// delivers in order), records it, and queues the timeline so far into it. The answer is the
/// thread's id, settled like a post; `None` when the message is not there to start on (deleted,
/// or never posted): the thread is queued again if the message is posted anew
/// (`Store::incident_message_posted`).
pub async fn start_thread(
    rest: &DiscordRest,
    store: &Store,
    channel: ChannelId,
    start: &ThreadStart,
) -> Result<Option<u64>, SendError> {
    if let Some(thread) = start.thread_id {
        return Ok(Some(thread));
    }
    let Some(&(_, message)) = start.messages.iter().find(|(c, _)| *c == channel.0) else {
        tracing::info!(
            incident = start.incident_id,
            "no posted message to start the incident's thread on yet"
        );
        return Ok(None);
    };
    let thread = match rest
        .start_thread(channel, message, &thread_name(start))
        .await
    {
        Err(SendError::Refused {
            refusal: Refusal::UnknownMessage,
            ..
        }) => {
            tracing::info!(
                incident = start.incident_id,
                "the incident's message was deleted before its thread started"
            );
            return Ok(None);
        }
        other => other?,
    };
    store
        .incident_thread_started(start.incident_id, channel, ChannelId(thread), Utc::now())
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?;
    Ok(Some(thread))
}

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![incident(), followups(), followup_done()]
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum SeverityChoice {
    #[name = "critical"]
    Critical,
    #[name = "error"]
    Error,
    #[name = "warning"]
    Warning,
    #[name = "info"]
    Info,
}

impl SeverityChoice {
    fn as_str(self) -> &'static str {
        match self {
            SeverityChoice::Critical => "critical",
            SeverityChoice::Error => "error",
            SeverityChoice::Warning => "warning",
            SeverityChoice::Info => "info",
        }
    }
}

fn person(ctx: Context<'_>) -> Person {
    let user = ctx.author();
    Person {
        id: user.id.get(),
        name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
    }
}

async fn reply(ctx: Context<'_>, text: impl Into<String>) -> Result<(), CommandError> {
    ctx.send(
        CreateReply::default()
            .content(truncate(&text.into(), CONTENT_MAX))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Incidents no alert saw: declare one, resolve it.
#[poise::command(slash_command, subcommands("declare", "resolve"))]
pub async fn incident(_ctx: Context<'_>) -> Result<(), CommandError> {
    Ok(())
}

/// Declare an incident: a message here, and a thread with its timeline (responders).
#[poise::command(slash_command)]
pub async fn declare(
    ctx: Context<'_>,
    #[description = "What is wrong, in a few words"]
    #[max_length = 200]
    title: String,
    #[description = "How bad it is"] severity: SeverityChoice,
    #[description = "The service affected"]
    #[max_length = 100]
    service: Option<String>,
) -> Result<(), CommandError> {
    let declared = Declared {
        title: declared_title(&title)?,
        severity: severity.as_str().to_owned(),
        service: service
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    };
    let data = ctx.data();
    let id = data
        .store
        .declare_incident(&declared, &person(ctx), channel_of(ctx), Utc::now())
        .await?;
    data.wakes.delivery.wake();
    reply(
        ctx,
        format!(
            "Declared incident #{id}: {}. Its message and thread follow in this channel; close it \
             with `/incident resolve`.",
            truncate(&declared.title, 200)
        ),
    )
    .await
}

/// Resolve a declared incident (this thread's, or the latest open one declared here).
#[poise::command(slash_command)]
pub async fn resolve(
    ctx: Context<'_>,
    #[description = "The incident's number (default: this thread's, or the latest declared here)"]
    #[min = 1]
    id: Option<i64>,
) -> Result<(), CommandError> {
    let data = ctx.data();
    let outcome = data
        .store
        .resolve_declared(id, channel_of(ctx), &person(ctx), Utc::now())
        .await?;
    let text = match outcome {
        ResolveOutcome::Resolved { id, title } => {
            data.wakes.delivery.wake();
            format!(
                "Resolved incident #{id}: {}. Its thread asks for the retro and follow-ups.",
                truncate(&title, 200)
            )
        }
        ResolveOutcome::NotFound => {
            "No open declared incident here: name it with `id:`. Nothing was changed.".into()
        }
        ResolveOutcome::FromAlert { id } => format!(
            "Incident #{id} was opened by an alert: it resolves when the alert does. Nothing was changed."
        ),
        ResolveOutcome::AlreadyResolved { id } => {
            format!("Incident #{id} is already resolved: nothing was changed.")
        }
    };
    reply(ctx, text).await
}

/// How a follow-up's owner reads in Discord (a mention pings nobody: mentions are off).
pub fn owner_text(owner: &Owner) -> String {
    match owner {
        Owner::User(id) => format!("<@{id}>"),
        Owner::Text(text) => truncate(text, 100),
    }
}

/// One line of `/followups`.
pub fn followup_line(f: &FollowupView, now: chrono::DateTime<Utc>) -> String {
    let age = age_days(f.opened_at, now);
    let due = f.due.map(|d| format!(", due {d}")).unwrap_or_default();
    truncate(
        &format!(
            "• **#{}** {} · owner {} · {} day{} old{due} · incident #{} {}",
            f.id,
            truncate(&f.what, 200),
            owner_text(&f.owner),
            age,
            if age == 1 { "" } else { "s" },
            f.incident_id,
            truncate(&f.incident_title, 80)
        ),
        400,
    )
}

/// List the open follow-ups of this server's incidents, with age and owner.
#[poise::command(slash_command)]
pub async fn followups(ctx: Context<'_>) -> Result<(), CommandError> {
    let open = ctx.data().store.open_followups(reader_of(ctx)?).await?;
    let now = Utc::now();
    let text = if open.is_empty() {
        "No open follow-ups. 🎉".to_owned()
    } else {
        let mut text = format!("**{} open follow-up(s)**, oldest first\n", open.len());
        let mut listed = 0;
        for f in &open {
            let line = followup_line(f, now);
            if text.chars().count() + line.chars().count() + 40 > CONTENT_MAX {
                break;
            }
            text.push_str(&line);
            text.push('\n');
            listed += 1;
        }
        if open.len() > listed {
            text.push_str(&format!("…and {} more", open.len() - listed));
        }
        text
    };
    reply(ctx, text).await
}

/// Close a follow-up (its owner or a responder).
#[poise::command(slash_command, rename = "followup-done")]
pub async fn followup_done(
    ctx: Context<'_>,
    #[description = "The follow-up's number, as /followups lists it"]
    #[min = 1]
    id: i64,
) -> Result<(), CommandError> {
    let data = ctx.data();
    let is_responder = data.access.is_responder(&command_actor(ctx));
    let outcome = data
        .store
        .close_followup(id, &person(ctx), is_responder, reader_of(ctx)?, Utc::now())
        .await?;
    let text = match outcome {
        CloseOutcome::Closed { what } => {
            data.wakes.delivery.wake();
            format!("Closed follow-up #{id}: {}.", truncate(&what, 300))
        }
        CloseOutcome::NotFound => format!("There is no follow-up #{id}: nothing was done."),
        CloseOutcome::Refused(refusal) => {
            tracing::info!(followup = id, %refusal, "follow-up close refused");
            refusal.to_string()
        }
    };
    reply(ctx, text).await
}
