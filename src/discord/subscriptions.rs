//! Which channel receives what: `/subscribe`, `/unsubscribe` and `/subscriptions`.

use chrono::Utc;
use poise::CreateReply;

use super::context::{channel_of, CommandError, Context, Data};
use crate::domain::refusal::Hold;
use crate::domain::subscription::{Filters, Kind, MinSeverity, Outcome, Pattern, Subscription};
use crate::domain::{GuildId, UserId};

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![subscribe(), unsubscribe(), subscriptions()]
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum KindChoice {
    #[name = "deploys"]
    Deploys,
    #[name = "alerts"]
    Alerts,
    #[name = "checkins"]
    Checkins,
    #[name = "summaries"]
    Summaries,
    #[name = "all"]
    All,
}

impl KindChoice {
    fn kinds(self) -> Vec<Kind> {
        match self {
            KindChoice::Deploys => vec![Kind::Deploys],
            KindChoice::Alerts => vec![Kind::Alerts],
            KindChoice::Checkins => vec![Kind::Checkins],
            KindChoice::Summaries => vec![Kind::Summaries],
            KindChoice::All => Kind::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum OutcomeChoice {
    #[name = "all"]
    All,
    #[name = "failures"]
    Failures,
}

impl From<OutcomeChoice> for Outcome {
    fn from(choice: OutcomeChoice) -> Self {
        match choice {
            OutcomeChoice::All => Outcome::All,
            OutcomeChoice::Failures => Outcome::Failures,
        }
    }
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum SeverityChoice {
    #[name = "critical"]
    Critical,
    #[name = "warning"]
    Warning,
    #[name = "info"]
    Info,
}

impl From<SeverityChoice> for MinSeverity {
    fn from(choice: SeverityChoice) -> Self {
        match choice {
            SeverityChoice::Critical => MinSeverity::Critical,
            SeverityChoice::Warning => MinSeverity::Warning,
            SeverityChoice::Info => MinSeverity::Info,
        }
    }
}

fn describe(s: &Subscription) -> String {
    let filters = s
        .filters
        .describe()
        .map(|f| format!(": {f}"))
        .unwrap_or_default();
    format!(
        "**{}** for services `{}` in environments `{}`{filters}",
        s.kind, s.service, s.environment
    )
}

// Discord hides these commands from members without Manage Server (default_member_permissions),
// but server admins can override that per channel or role: `discord::access` checks it again.

/// Subscribe this channel to deploys, alerts, check-ins or summaries.
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
pub async fn subscribe(
    ctx: Context<'_>,
    #[description = "What this channel should receive"] kind: KindChoice,
    #[description = "Service name or glob, e.g. checkout* (default: all)"] service: Option<String>,
    #[description = "Environment name or glob, e.g. prod* (default: all)"] environment: Option<
        String,
    >,
    #[description = "Deploys: all (default) or failures (failed or rolled back, then their changes)"]
    outcome: Option<OutcomeChoice>,
    #[description = "Alerts: only this severity and above (unknown severities count as info)"]
    severity: Option<SeverityChoice>,
) -> Result<(), CommandError> {
    let service = Pattern::parse("service", service.as_deref())?;
    let environment = Pattern::parse("environment", environment.as_deref())?;
    let kinds = kind.kinds();
    let filters = Filters::for_kinds(&kinds, outcome.map(Into::into), severity.map(Into::into))?;
    ctx.data()
        .store
        .subscribe(
            ctx.guild_id().map(|g| GuildId(g.get())),
            channel_of(ctx),
            &kinds,
            &service,
            &environment,
            filters,
            UserId(ctx.author().id.get()),
            Utc::now(),
        )
        .await?;
    let what = kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let narrowed = [Kind::Deploys, Kind::Alerts]
        .into_iter()
        .filter(|k| kinds.contains(k))
        .filter_map(|k| {
            filters
                .for_kind(k)
                .describe()
                .map(|d| format!(" {k}: {d}."))
        })
        .collect::<String>();
    ctx.say(format!(
        "This channel now receives **{what}** for services `{service}` in environments `{environment}`.{narrowed}"
    ))
    .await?;
    Ok(())
}

/// Stop sending something to this channel.
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
pub async fn unsubscribe(
    ctx: Context<'_>,
    #[description = "What this channel should stop receiving"] kind: KindChoice,
    #[description = "Only the subscription with this service pattern (default: all of this kind)"]
    service: Option<String>,
    #[description = "Only the subscription with this environment pattern"] environment: Option<
        String,
    >,
) -> Result<(), CommandError> {
    let patterns = if service.is_some() || environment.is_some() {
        Some((
            Pattern::parse("service", service.as_deref())?,
            Pattern::parse("environment", environment.as_deref())?,
        ))
    } else {
        None
    };
    let change = ctx
        .data()
        .store
        .unsubscribe(
            channel_of(ctx),
            &kind.kinds(),
            patterns.as_ref().map(|(s, e)| (s, e)),
        )
        .await?;
    let reply = if change.changed == 0 {
        CreateReply::default()
            .content("This channel had no such subscription; nothing changed.")
            .ephemeral(true)
    } else {
        CreateReply::default().content(format!(
            "Removed {} subscription(s) from this channel.",
            change.changed
        ))
    };
    ctx.send(reply).await?;
    Ok(())
}

/// List what this channel receives.
#[poise::command(slash_command, guild_only)]
pub async fn subscriptions(ctx: Context<'_>) -> Result<(), CommandError> {
    let subs = ctx.data().store.subscriptions_in(channel_of(ctx)).await?;
    let text = if subs.is_empty() {
        let fallback = match ctx.data().default_channel {
            Some(c) if c == channel_of(ctx) => {
                " It is the default channel, so it receives deploys no other channel subscribed to."
            }
            _ => "",
        };
        format!("This channel has no subscriptions.{fallback}")
    } else {
        let lines: Vec<String> = subs.iter().map(|s| format!("• {}", describe(s))).collect();
        format!("This channel receives:\n{}", lines.join("\n"))
    };
    // Held by the delivery worker: say so first, it is why nothing arrives here.
    let text = match ctx.data().store.channel_hold(channel_of(ctx)).await? {
        Some(hold) => format!("{}\n{text}", cannot_post_warning(&hold)),
        None => text,
    };
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// `⚠ cannot post here since <t:…:f>: missing Send Messages` (a Discord timestamp: shown in each
/// reader's own time zone), with what happens to the messages meanwhile.
pub fn cannot_post_warning(hold: &Hold) -> String {
    format!(
        "⚠ cannot post here since <t:{}:f>: {}. Messages for this channel wait and go out, \
         showing their current state, once the bot can post here again.",
        hold.since.timestamp(),
        hold.reason
    )
}
