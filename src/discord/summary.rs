//! Summaries in Discord: the scheduled post (an embed with the chart attached), `/summary` and
//! `/metrics`. The figures come from `crate::summaries::compute`, like the CLI and the API.

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{CreateAllowedMentions, CreateAttachment};

use super::context::{channel_of, reader_of, CommandError, Context, Data};
use super::message::{
    colour, truncate, Embed, FileUpload, Rendered, CONTENT_MAX, EMBED_DESCRIPTION_MAX,
    EMBED_TITLE_MAX,
};
use crate::chart;
use crate::domain::period::Period;
use crate::domain::subscription::Pattern;
use crate::domain::summary::{duration_text, Key, Summary};
use crate::domain::trend;
use crate::store::Scope;

/// How the four keys are counted, for `/help` (the full page: docs/summaries.md, "Formulas").
pub const KEYS_HELP: &str = "**Production** is `LOOPBOT_PRODUCTION_ENVIRONMENTS` (environment globs, default \
    `prod*`), the same for check-ins and every key. A production deploy *reached production* when it \
    succeeded or was rolled back afterwards.\n\
    • **Deployment frequency**: production deploys that reached production ÷ days.\n\
    • **Lead time for changes**: commit → running in production; median and p90.\n\
    • **Change failure rate** (DORA: the percentage of deployments that cause a failure in production, \
    needing a hotfix or rollback) = production deploys rolled back or that caused an incident a responder \
    confirmed (*Caused by this deploy*) ÷ production deploys that reached production. \
    The **probable** rate also counts deploys linked to an incident nobody answered. \
    **Deploy failures** (failed jobs: nothing reached production) are shown beside it, not in it.\n\
    • **Failed deployment recovery time** (DORA: how long it takes to recover from a failed deployment): \
    from the rollback or the confirmed incident's start to the service's next successful production \
    deploy or the incident's resolution, whichever comes first; median. **Incident time to restore** \
    (opened → resolved) is shown beside it.\n\
    **Bands** (DORA 2023 edges; the 2024 report's clusters: change failure rate elite 5%, high 20%, \
    medium 10%, low 40%; recovery elite < 1 hour, high and medium < 1 day, low 1 week to 1 month): \
    change failure rate elite ≤ 5%, high ≤ 10%, medium ≤ 15%; recovery elite < 1 hour, high < 1 day, \
    medium < 1 week; lead time elite < 1 day, high < 1 week, medium < 1 month; frequency elite daily, \
    high weekly, medium monthly. `LOOPBOT_DORA_BANDS` overrides them.";

fn embed(summary: &Summary, with_chart: bool) -> Embed {
    Embed {
        title: Some(truncate(&summary.title(), EMBED_TITLE_MAX)),
        description: Some(truncate(&summary.render(true), EMBED_DESCRIPTION_MAX)),
        colour: Some(colour::BLURPLE),
        image: with_chart.then(|| format!("attachment://{}", chart::FILE_NAME)),
        ..Default::default()
    }
}

/// The scheduled summary as a post: the stored figures, with the chart attached.
pub fn render_summary(body: &str) -> Option<Rendered> {
    let summary: Summary = match serde_json::from_str(body) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "stored summary cannot be read");
            return None;
        }
    };
    let files = match chart::render_png(&summary) {
        Ok(bytes) => vec![FileUpload {
            name: chart::FILE_NAME.to_owned(),
            bytes,
        }],
        Err(error) => {
            // The figures matter more than the picture: post without it.
            tracing::error!(%error, "summary chart failed");
            Vec::new()
        }
    };
    Some(Rendered {
        embeds: vec![embed(&summary, !files.is_empty())],
        files,
        ..Default::default()
    })
}

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![summary(), metrics()]
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum PeriodChoice {
    #[name = "last-week"]
    LastWeek,
    #[name = "this-week"]
    ThisWeek,
    #[name = "last-30-days"]
    Last30Days,
    #[name = "custom"]
    Custom,
}

/// What a command in this channel summarises: the `service` asked for, else the channel's
/// summaries subscriptions (else everything), always as this server reads it.
async fn scope_for(ctx: Context<'_>, service: Option<&str>) -> Result<Scope, CommandError> {
    let reader = reader_of(ctx)?;
    if service.is_some() {
        return Ok(
            Scope::of(&Pattern::parse("service", service)?, &Pattern::any()).read_by(reader),
        );
    }
    let channel = channel_of(ctx);
    Ok(ctx
        .data()
        .store
        .summary_scope_of(channel)
        .await?
        .unwrap_or_else(Scope::all)
        .read_by(reader))
}

/// A summary of deploys and the four DORA keys, now.
#[poise::command(slash_command)]
pub async fn summary(
    ctx: Context<'_>,
    #[description = "Which period (default: last-week)"] period: Option<PeriodChoice>,
    #[description = "With period custom: first day, YYYY-MM-DD"] from: Option<String>,
    #[description = "With period custom: last day, YYYY-MM-DD"] to: Option<String>,
    #[description = "Only this service (name or glob)"] service: Option<String>,
    #[description = "Post it for everyone in the channel (default: only you see it)"]
    public: Option<bool>,
) -> Result<(), CommandError> {
    let settings = &ctx.data().summaries;
    let tz = settings.timezone;
    let now = Utc::now();
    let period = match (period.unwrap_or(PeriodChoice::LastWeek), from, to) {
        (PeriodChoice::Custom, Some(from), Some(to)) => Period::custom(&from, &to, tz)?,
        (PeriodChoice::Custom, _, _) => {
            return Err(CommandError::Refused(
                "A custom period needs both from and to, e.g. from:2026-11-01 to:2026-11-15."
                    .into(),
            ))
        }
        (_, Some(_), _) | (_, _, Some(_)) => {
            return Err(CommandError::Refused(
                "from and to only apply with period:custom.".into(),
            ))
        }
        (PeriodChoice::LastWeek, ..) => Period::last_week(now, tz),
        (PeriodChoice::ThisWeek, ..) => Period::week_of(now, tz),
        (PeriodChoice::Last30Days, ..) => Period::last_30_days(now, tz),
    };
    let scope = scope_for(ctx, service.as_deref()).await?;
    let summary =
        crate::summaries::compute(&ctx.data().store, settings, &period, &scope, now).await?;
    let mut reply = CreateReply::default()
        .ephemeral(!public.unwrap_or(false))
        .allowed_mentions(CreateAllowedMentions::new());
    match chart::render_png(&summary) {
        Ok(png) => {
            reply = reply
                .embed(embed(&summary, true).to_serenity())
                .attachment(CreateAttachment::bytes(png, chart::FILE_NAME));
        }
        Err(error) => {
            tracing::error!(%error, "summary chart failed");
            reply = reply.embed(embed(&summary, false).to_serenity());
        }
    }
    ctx.send(reply).await?;
    Ok(())
}

fn key_line(name: &str, key: &Key, fmt: &dyn Fn(f64) -> String) -> String {
    format!(
        "**{name}**: {} {} (previous {}){}",
        key.value.map(fmt).unwrap_or_else(|| "n/a".into()),
        key.trend.marker(),
        key.previous.map(fmt).unwrap_or_else(|| "n/a".into()),
        key.band
            .map(|b| format!(" · {}", b.as_str()))
            .unwrap_or_default()
    )
}

/// The four DORA keys for last week and their trend (only you see the answer).
#[poise::command(slash_command)]
pub async fn metrics(
    ctx: Context<'_>,
    #[description = "Only this service (name or glob)"] service: Option<String>,
    #[description = "Weeks of trend, ending last week (1 to 52, default 12)"]
    #[min = 1]
    #[max = 52]
    weeks: Option<i64>,
) -> Result<(), CommandError> {
    // Discord enforces min/max in its client; a request may still carry anything.
    let weeks = trend::parse_weeks(weeks.unwrap_or(trend::SUMMARY_WEEKS.into()))?;
    let settings = &ctx.data().summaries;
    let now = Utc::now();
    let period = Period::last_week(now, settings.timezone);
    let scope = scope_for(ctx, service.as_deref()).await?;
    let mut s =
        crate::summaries::compute(&ctx.data().store, settings, &period, &scope, now).await?;
    if weeks != trend::SUMMARY_WEEKS {
        let periods = trend::weeks_ending_with(&period, weeks);
        s.trend = crate::summaries::trend(
            &ctx.data().store,
            &periods,
            &scope,
            &settings.production,
            now,
        )
        .await?;
    }
    let k = &s.keys;
    let text = [
        format!(
            "Four keys, {} – {} ({})",
            s.period.from, s.period.to, s.period.timezone
        ),
        key_line("Deployment frequency", &k.deployment_frequency, &|v| {
            format!("{v:.2}/day")
        }),
        format!(
            "{}; p90 {}; {} lacking a commit time",
            key_line("Lead time (median)", &k.lead_time.median, &duration_text),
            k.lead_time
                .p90
                .map(duration_text)
                .unwrap_or_else(|| "n/a".into()),
            k.lead_time.deploys_lacking_commit_time
        ),
        format!(
            "{}; probable {}; {} deploy failure(s) beside it",
            key_line("Change failure rate", &k.change_failure_rate, &|v| {
                format!("{v:.1}%")
            }),
            k.probable_change_failure_rate
                .value
                .map(|v| format!("{v:.1}%"))
                .unwrap_or_else(|| "n/a".into()),
            k.deploy_failures
        ),
        key_line(
            "Failed deployment recovery time (median)",
            &k.failed_deployment_recovery_time,
            &duration_text,
        ),
        key_line(
            "Incident time to restore (median)",
            &k.time_to_restore,
            &duration_text,
        ),
        String::new(),
        trend::render(&s.trend, true),
    ]
    .join("\n");
    ctx.send(
        CreateReply::default()
            .content(truncate(&text, CONTENT_MAX))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
