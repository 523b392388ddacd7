//! Post-release check-ins on Discord: the check-in message (buttons, seed reactions, thread),
//! feedback from buttons, reactions, replies, thread messages and the comment modal, and the
//! commands `/feedback`, `/feedback-summary` and `/checkin` (`/link-deployer` is in
//! `deployer_links`).
//!
//! Custom ids: `checkin:vote:<checkin id>:<good|meh|bad>`, `checkin:comment:<checkin id>` (opens
//! the modal `checkin:modal:<checkin id>`).

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::context::{channel_of, reader_of, CommandError, Context, Data};
use super::message::{
    colour, field_value, truncate, Button, ButtonStyle, Embed, Mentions, Rendered, CONTENT_MAX,
    EMBED_TITLE_MAX, NAME_MAX,
};
use super::rest::{DiscordRest, SendError};
use crate::domain::checkin::{CheckinState, CheckinView, FeedbackSource, ReleaseRef, Sentiment};
use crate::domain::deploy::Deploy;
use crate::domain::health::Verdict;
use crate::domain::ChannelId;
use crate::store::{NewFeedback, Store};

/// The bot's own reactions under a check-in, so answering is one click.
pub const SEED_REACTIONS: [&str; 2] = ["👍", "👎"];
/// What a comment may show in a summary; the database keeps it whole.
const COMMENT_DISPLAY_MAX: usize = 300;
pub(super) const COMMENT_MAX: u16 = 4000;

pub(super) fn release_name(deploy: &Deploy) -> String {
    format!("{} {}", deploy.service, deploy.version)
}

/// The check-in message in its current state: open (buttons live) or closed (tally, buttons off).
pub fn render_checkin(view: &CheckinView) -> Rendered {
    let checkin = &view.checkin;
    let deploy = &view.deploy;
    let closed = checkin.state != CheckinState::Open && checkin.state != CheckinState::Scheduled;
    let mut content = String::new();
    let mut mentions = Mentions::default();
    if let Some(user) = checkin.mention_user_id {
        content.push_str(&format!("<@{user}> "));
        if !closed {
            mentions.users.push(user);
        }
    }
    content.push_str(&format!(
        "How is **{}** doing in {}?",
        truncate(&release_name(deploy), 200),
        truncate(&deploy.environment, 100)
    ));
    if checkin.late {
        content.push_str("\n*(Late: this check-in fell due while loopbot was offline.)*");
    }
    let mut embed = Embed {
        title: Some(truncate(
            &format!(
                "Check-in: {} → {}",
                release_name(deploy),
                deploy.environment
            ),
            EMBED_TITLE_MAX,
        )),
        footer: Some(format!(
            "loopbot · deploy #{} · check-in #{}",
            deploy.id, checkin.id
        )),
        ..Default::default()
    };
    if closed {
        embed.description = Some(format!("Closed. {}", view.tally));
        embed.colour = Some(colour::GREY);
        embed = embed.field("Tally", view.tally.to_string(), false);
    } else {
        embed.description = Some(
            "Answer with a button, a reaction, a reply, or in the thread below. \
             **Add a comment** opens a form."
                .into(),
        );
        embed.colour = Some(colour::BLURPLE);
        if let Some(close_at) = checkin.close_at {
            embed = embed.field(
                "Open until",
                format!("<t:{}:f>", close_at.timestamp()),
                true,
            );
        }
    }
    if !view.health.is_empty() {
        // Lines are made of the query's name, numbers and fixed words, never Prometheus' text.
        let lines: Vec<String> = view.health.iter().map(|r| r.line()).collect();
        embed = embed.field("Release health", field_value(&lines.join("\n")), false);
        if !closed
            && view
                .health
                .iter()
                .any(|r| r.verdict() == Some(Verdict::Worse))
        {
            embed.colour = Some(colour::ORANGE);
        }
    }
    let id = checkin.id;
    let button = |sentiment: Sentiment, style: ButtonStyle| Button {
        custom_id: format!("checkin:vote:{id}:{}", sentiment.as_str()),
        label: sentiment.button_label().into(),
        emoji: Some(sentiment.emoji().to_owned()),
        style,
        disabled: closed,
    };
    let buttons = vec![
        button(Sentiment::Good, ButtonStyle::Success),
        button(Sentiment::Meh, ButtonStyle::Secondary),
        button(Sentiment::Bad, ButtonStyle::Danger),
        Button {
            custom_id: format!("checkin:comment:{id}"),
            label: "Add a comment".into(),
            emoji: None,
            style: ButtonStyle::Primary,
            disabled: closed,
        },
    ];
    Rendered {
        content: Some(content),
        embeds: vec![embed],
        components: vec![buttons],
        mentions,
        files: Vec::new(),
    }
}

/// The note in an earlier check-in's thread that a later one will not be asked.
pub fn render_cancelled(view: &CheckinView) -> Rendered {
    let reason = view.checkin.cancel_reason.as_deref().unwrap_or("cancelled");
    Rendered {
        content: Some(format!(
            "The check-in of **{}** planned for <t:{}:f> was cancelled: {}.",
            truncate(&release_name(&view.deploy), 200),
            view.checkin.due_at.timestamp(),
            truncate(reason, 300)
        )),
        ..Default::default()
    }
}

/// After a check-in's first post: the bot's seed reactions and a thread for discussion. Both are
/// idempotent (a reaction PUT twice is one reaction; an existing thread counts as created), so a
/// transient failure retries the whole delivery: the post's nonce returns the same message.
/// A refusal (no permission to react or open threads) is logged and the check-in stands.
pub async fn after_post(
    rest: &DiscordRest,
    store: &Store,
    channel: ChannelId,
    view: &CheckinView,
    message_id: u64,
) -> Result<(), SendError> {
    // Known at once, so answers given while the thread is being started already count.
    let stored = |thread| async move {
        store
            .checkin_posted(view.checkin.id, message_id, thread, Utc::now())
            .await
            .map_err(|e| SendError::Transient(e.to_string()))
    };
    stored(None).await?;
    for emoji in SEED_REACTIONS {
        match rest.add_own_reaction(channel, message_id, emoji).await {
            Err(error) if error.refuses_only_this() => {
                tracing::warn!(%error, "cannot seed check-in reactions");
            }
            other => other?,
        }
    }
    let name = super::limits::thread_name(
        &format!("Feedback: {}", release_name(&view.deploy)),
        "Feedback",
    );
    let thread = match rest.start_thread(channel, message_id, &name).await {
        Ok(thread) => Some(thread),
        Err(error) if error.refuses_only_this() => {
            tracing::warn!(%error, "cannot start the check-in thread");
            None
        }
        Err(other) => return Err(other),
    };
    stored(thread).await
}

fn reaction_emoji(emoji: &serenity::ReactionType) -> String {
    match emoji {
        serenity::ReactionType::Unicode(text) => text.clone(),
        serenity::ReactionType::Custom { id, name, .. } => {
            format!("{}:{}", name.as_deref().unwrap_or(""), id)
        }
        other => other.to_string(),
    }
}

fn is_own(ctx: &serenity::Context, user: serenity::UserId) -> bool {
    ctx.cache.current_user().id == user
}

/// A reaction on one of the bot's messages about a release (announcement or check-in).
pub async fn on_reaction(
    ctx: &serenity::Context,
    data: &Data,
    reaction: &serenity::Reaction,
    added: bool,
) -> Result<(), CommandError> {
    let Some(user) = reaction.user_id else {
        return Ok(());
    };
    let is_bot = reaction.member.as_ref().is_some_and(|m| m.user.bot);
    if is_own(ctx, user) || is_bot {
        return Ok(());
    }
    let emoji = reaction_emoji(&reaction.emoji);
    if !added {
        let retracted = data
            .store
            .retract_reaction(reaction.message_id.get(), user.get(), &emoji, Utc::now())
            .await?;
        if retracted {
            tracing::info!(message = reaction.message_id.get(), %emoji, "reaction feedback retracted");
        }
        return Ok(());
    }
    let Some(sentiment) = data.checkins.emoji.sentiment(&emoji) else {
        return Ok(());
    };
    let Some(release) = data
        .store
        .release_of_message(reaction.message_id.get())
        .await?
    else {
        return Ok(());
    };
    let user_name = reaction
        .member
        .as_ref()
        .map(|m| m.user.name.clone())
        .unwrap_or_else(|| format!("user {}", user.get()));
    data.store
        .record_feedback(
            &NewFeedback {
                deploy_id: release.deploy_id,
                checkin_id: release.checkin_id,
                source: FeedbackSource::Reaction,
                sentiment: Some(sentiment),
                body: None,
                emoji: Some(emoji),
                user_id: user.get(),
                user_name,
                guild_id: reaction.guild_id.map(|g| g.get()),
                channel_id: Some(reaction.channel_id.get()),
                message_id: Some(reaction.message_id.get()),
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(deploy_id = release.deploy_id, "reaction feedback stored");
    Ok(())
}

/// A message: a reply to a bot message about a release, or a message in a check-in's thread.
pub async fn on_message(
    ctx: &serenity::Context,
    data: &Data,
    message: &serenity::Message,
) -> Result<(), CommandError> {
    if message.author.bot || is_own(ctx, message.author.id) || message.content.trim().is_empty() {
        return Ok(());
    }
    let replied_to = message
        .message_reference
        .as_ref()
        .and_then(|r| r.message_id)
        .map(|id| id.get());
    let mut found = None;
    if let Some(target) = replied_to {
        if let Some(release) = data.store.release_of_message(target).await? {
            found = Some((release.deploy_id, release.checkin_id, FeedbackSource::Reply));
        }
    }
    if found.is_none() {
        if let Some(checkin) = data
            .store
            .checkin_by_thread(message.channel_id.get())
            .await?
        {
            found = Some((checkin.deploy_id, Some(checkin.id), FeedbackSource::Thread));
        }
    }
    let Some((deploy_id, checkin_id, source)) = found else {
        return Ok(());
    };
    data.store
        .record_feedback(
            &NewFeedback {
                deploy_id,
                checkin_id,
                source,
                sentiment: None,
                body: Some(message.content.clone()),
                emoji: None,
                user_id: message.author.id.get(),
                user_name: message.author.name.clone(),
                guild_id: message.guild_id.map(|g| g.get()),
                channel_id: Some(message.channel_id.get()),
                message_id: Some(message.id.get()),
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(deploy_id, source = source.as_str(), "comment stored");
    Ok(())
}

// ---- commands ----

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum RatingChoice {
    #[name = "good"]
    Good,
    #[name = "meh"]
    Meh,
    #[name = "bad"]
    Bad,
}

impl From<RatingChoice> for Sentiment {
    fn from(choice: RatingChoice) -> Self {
        match choice {
            RatingChoice::Good => Sentiment::Good,
            RatingChoice::Meh => Sentiment::Meh,
            RatingChoice::Bad => Sentiment::Bad,
        }
    }
}

async fn autocomplete_release(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    // Only this server's releases; none outside a server.
    let names = match reader_of(ctx) {
        Ok(reader) => ctx
            .data()
            .store
            .release_suggestions(partial, 25, reader)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    serenity::CreateAutocompleteResponse::new().set_choices(
        names
            .into_iter()
            .map(|n| {
                serenity::AutocompleteChoice::new(truncate(&n, NAME_MAX), truncate(&n, NAME_MAX))
            })
            .collect(),
    )
}

async fn resolve_release(ctx: Context<'_>, release: &str) -> Result<Deploy, CommandError> {
    let reference = ReleaseRef::parse(release)?;
    ctx.data()
        .store
        .find_release(&reference, reader_of(ctx)?)
        .await?
        .ok_or_else(|| {
            CommandError::Refused(format!(
                "No deploy of `{}` is known. Pick one from the suggestions, e.g. `checkout@v1.4.2`.",
                truncate(release, 100)
            ))
        })
}

/// Tell loopbot how a release is going.
#[poise::command(slash_command)]
pub async fn feedback(
    ctx: Context<'_>,
    #[description = "service or service@version"]
    #[autocomplete = "autocomplete_release"]
    release: String,
    #[description = "How is it going?"] rating: Option<RatingChoice>,
    #[description = "What you noticed"]
    #[max_length = 4000]
    comment: Option<String>,
) -> Result<(), CommandError> {
    let comment = comment.filter(|c| !c.trim().is_empty());
    if rating.is_none() && comment.is_none() {
        return Err(CommandError::Refused(
            "Give a rating, a comment, or both.".into(),
        ));
    }
    let deploy = resolve_release(ctx, &release).await?;
    ctx.data()
        .store
        .record_feedback(
            &NewFeedback {
                deploy_id: deploy.id,
                checkin_id: None,
                source: FeedbackSource::Command,
                sentiment: rating.map(Sentiment::from),
                body: comment,
                emoji: None,
                user_id: ctx.author().id.get(),
                user_name: ctx.author().name.clone(),
                guild_id: ctx.guild_id().map(|g| g.get()),
                channel_id: Some(ctx.channel_id().get()),
                message_id: None,
            },
            Utc::now(),
        )
        .await?;
    ctx.send(
        CreateReply::default()
            .content(format!(
                "Thanks! Your feedback on **{}** ({}) was recorded.",
                release_name(&deploy),
                deploy.environment
            ))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// How a release is going: the tally and the latest comments.
#[poise::command(slash_command, rename = "feedback-summary")]
pub async fn feedback_summary(
    ctx: Context<'_>,
    #[description = "service or service@version"]
    #[autocomplete = "autocomplete_release"]
    release: String,
    #[description = "Post it for everyone in the channel (default: only you see it)"]
    public: Option<bool>,
) -> Result<(), CommandError> {
    let deploy = resolve_release(ctx, &release).await?;
    // This server's answers only: another server's comments stay there.
    let reader = reader_of(ctx)?;
    let tally = ctx.data().store.release_tally(deploy.id, reader).await?;
    let comments: Vec<String> = ctx
        .data()
        .store
        .feedback_for(deploy.id, reader)
        .await?
        .into_iter()
        .filter_map(|f| {
            f.body.map(|body| {
                format!(
                    "• **{}** ({}): {}",
                    truncate(&f.user_name, 50),
                    f.source.as_str(),
                    truncate(&body.replace('\n', " "), COMMENT_DISPLAY_MAX)
                )
            })
        })
        .take(5)
        .collect();
    let mut text = format!(
        "**{}** in {}: {tally}",
        release_name(&deploy),
        deploy.environment
    );
    if comments.is_empty() {
        text.push_str("\nNo comments yet.");
    } else {
        text.push_str("\nLatest comments:\n");
        text.push_str(&comments.join("\n"));
    }
    ctx.send(
        CreateReply::default()
            .content(truncate(&text, CONTENT_MAX))
            .ephemeral(!public.unwrap_or(false))
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Ask this channel now how a release is going.
#[poise::command(slash_command, guild_only)]
pub async fn checkin(
    ctx: Context<'_>,
    #[description = "service or service@version"]
    #[autocomplete = "autocomplete_release"]
    release: String,
) -> Result<(), CommandError> {
    let deploy = resolve_release(ctx, &release).await?;
    let asked = ctx
        .data()
        .store
        .request_checkin(
            deploy.id,
            ctx.guild_id().map(|g| g.get()),
            channel_of(ctx),
            ctx.author().id.get(),
            Utc::now(),
        )
        .await?;
    if let Err(next) = asked {
        return Err(CommandError::Refused(format!(
            "A check-in for **{}** was asked in this channel less than 10 minutes ago; \
             the next one can be asked {}. Nothing was sent.",
            release_name(&deploy),
            super::message::discord_time(next, 'R')
        )));
    }
    ctx.data().wakes.checkins.wake();
    ctx.send(
        CreateReply::default()
            .content(format!(
                "A check-in for **{}** is on its way to this channel.",
                release_name(&deploy)
            ))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![feedback(), feedback_summary(), checkin()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::checkin::{Checkin, Tally};
    use crate::domain::deploy::DeployStatus;

    fn view(state: CheckinState, mention: Option<u64>, late: bool) -> CheckinView {
        CheckinView {
            checkin: Checkin {
                id: 7,
                deploy_id: 3,
                channel_id: 1,
                state,
                due_at: Utc::now(),
                late,
                close_at: Some(Utc::now()),
                mention_user_id: mention,
                message_id: None,
                thread_id: None,
                cancel_reason: None,
            },
            deploy: Deploy {
                id: 3,
                service: "checkout".into(),
                version: "v1.4.2".into(),
                environment: "production".into(),
                status: DeployStatus::Succeeded,
                deployer: Some("ana".into()),
                commit_sha: None,
                commit_at: None,
                url: None,
                changelog: None,
                started_at: Utc::now(),
                finished_at: Some(Utc::now()),
            },
            tally: Tally {
                good: 2,
                meh: 1,
                bad: 0,
                comments: 4,
            },
            health: Vec::new(),
        }
    }

    fn body(view: &CheckinView) -> serde_json::Value {
        super::super::message::post_body(&render_checkin(view), "n".into())
    }

    #[test]
    fn an_open_checkin_pings_only_the_linked_deployer() {
        let b = body(&view(CheckinState::Open, Some(42), false));
        assert_eq!(
            b["content"],
            "<@42> How is **checkout v1.4.2** doing in production?"
        );
        assert_eq!(b["allowed_mentions"]["users"], serde_json::json!(["42"]));
        assert_eq!(b["allowed_mentions"]["parse"], serde_json::json!([]));
        let buttons = b["components"][0]["components"].as_array().unwrap();
        assert_eq!(buttons[0]["custom_id"], "checkin:vote:7:good");
        assert_eq!(buttons[3]["custom_id"], "checkin:comment:7");
        assert!(buttons.iter().all(|b| b["disabled"] == false));
    }

    #[test]
    fn a_closed_checkin_shows_the_tally_with_buttons_off_and_pings_nobody() {
        let b = body(&view(CheckinState::Closed, Some(42), true));
        assert_eq!(b["allowed_mentions"]["users"], serde_json::json!([]));
        assert!(b["content"].as_str().unwrap().contains("Late"));
        let fields = b["embeds"][0]["fields"].as_array().unwrap();
        assert_eq!(fields[0]["value"], "👍 2 · 😐 1 · 👎 0, comments 4");
        let buttons = b["components"][0]["components"].as_array().unwrap();
        assert!(buttons.iter().all(|b| b["disabled"] == true));
    }

    #[test]
    fn health_lines_show_in_a_field_open_or_closed_and_worse_colours_the_open_one() {
        use crate::domain::health::{HealthReading, Unavailable};
        let reading = |name: &str, before, after| HealthReading {
            name: name.into(),
            higher_is_better: false,
            tolerance: 0.1,
            before_at: Utc::now(),
            before,
            after_at: Utc::now(),
            after,
        };
        let mut open = view(CheckinState::Open, None, false);
        open.health = vec![
            reading("ERROR_RATE", Ok(0.002), Ok(0.014)),
            reading(
                "LATENCY_SECONDS",
                Err(Unavailable::Timeout),
                Err(Unavailable::Timeout),
            ),
        ];
        let field = |b: &serde_json::Value| {
            b["embeds"][0]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == "Release health")
                .map(|f| f["value"].as_str().unwrap().to_owned())
        };
        let b = body(&open);
        assert_eq!(
            field(&b).as_deref(),
            Some("error rate 0.2% → 1.4% ⚠ worse\nlatency seconds unavailable (Prometheus timed out)")
        );
        assert_eq!(b["embeds"][0]["color"], colour::ORANGE);
        let mut closed = open.clone();
        closed.checkin.state = CheckinState::Closed;
        let b = body(&closed);
        assert!(field(&b).is_some_and(|f| f.starts_with("error rate 0.2% → 1.4%")));
        assert_eq!(b["embeds"][0]["color"], colour::GREY);
        assert_eq!(field(&body(&view(CheckinState::Open, None, false))), None);
    }
}
