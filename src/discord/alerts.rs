//! Alert messages (rendering, with their buttons: Acknowledge, Silence 1h, Useful / Noise,
//! "Caused by this deploy?") and `/alerts`. Button custom ids: `alerts:ack:<group>`,
//! `alerts:silence:<group>`, `alerts:vote:<group>:useful|noise` (`alert_votes`),
//! `alerts:cause:<group>:<deploy>:yes|no`; pressing them is handled in `alert_buttons`.

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::alert_votes;
use super::context::{channel_of, CommandError, Context, Data};
use super::message::{
    colour, discord_time, field_value, span, truncate, Button, ButtonStyle, Embed, Mentions,
    Rendered, BUTTON_LABEL_MAX, CONTENT_MAX, EMBED_FIELD_VALUE_MAX, EMBED_TITLE_MAX,
    EMBED_TOTAL_MAX,
};
use crate::domain::alert::{AlertStatus, MentionTarget, Severity};
use crate::domain::subscription::Kind;
use crate::store::alerts::{AlertGroupView, AlertView, LinkedAlert};

/// Alerts listed one by one in a message; the rest are summarised ("and 37 more").
pub const LISTED_ALERTS: usize = 10;
/// Deploys named as a possible cause, a field each; the rest are counted in one more field.
pub const LISTED_LINKS: usize = 5;
/// A free-text field's share when the message must be compact.
const COMPACT_VALUE_MAX: usize = 100;
const LINE_MAX: usize = 300;

fn severity_colour(severity: &str) -> u32 {
    match Severity::new(Some(severity)).rank() {
        4 => colour::RED,
        3 => colour::ORANGE,
        2 => colour::YELLOW,
        _ => colour::BLURPLE,
    }
}

fn severity_emoji(severity: &str) -> &'static str {
    match Severity::new(Some(severity)).rank() {
        4 => "🔴",
        3 => "🟠",
        2 => "🟡",
        _ => "🔵",
    }
}

/// Labels shown as their own fields or lines; the rest are folded into "Other labels".
const SHOWN_LABELS: &[&str] = &[
    "alertname",
    "severity",
    "service",
    "app",
    "job",
    "environment",
    "env",
    "instance",
];

fn alert_line(alert: &AlertView) -> String {
    let mut line = match alert.status {
        AlertStatus::Firing => format!("🔥 **{}**", alert.name),
        AlertStatus::Resolved => format!("✅ ~~{}~~", alert.name),
    };
    if let Some(instance) = &alert.instance {
        line.push_str(&format!(" `{instance}`"));
    }
    if let Some(summary) = alert.summary.as_ref().or(alert.description.as_ref()) {
        // One line per alert: a multi-line summary would break the list.
        let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
        line.push_str(&format!(": {summary}"));
    }
    match (alert.status, alert.resolved_at) {
        (AlertStatus::Resolved, Some(end)) => line.push_str(&format!(
            " (resolved after {})",
            span((end - alert.starts_at).num_milliseconds())
        )),
        _ => line.push_str(&format!(" (since {})", discord_time(alert.starts_at, 'R'))),
    }
    truncate(&line, LINE_MAX)
}

/// The message about an alert group in its current state.
pub fn render_alert_group(g: &AlertGroupView) -> Rendered {
    let firing = g
        .alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .count();
    let name = g
        .title
        .clone()
        .or_else(|| g.common_labels.get("alertname").cloned())
        .or_else(|| g.alerts.first().map(|a| a.name.clone()))
        .unwrap_or_else(|| "Alert".into());
    let (title, colour) = match g.status {
        AlertStatus::Firing => (
            format!(
                "{} FIRING ({}): {name}{}",
                severity_emoji(&g.severity),
                g.severity,
                g.service
                    .as_ref()
                    .map(|s| format!(" · {s}"))
                    .unwrap_or_default()
            ),
            severity_colour(&g.severity),
        ),
        AlertStatus::Resolved => (
            format!(
                "✅ RESOLVED: {name}{}",
                g.service
                    .as_ref()
                    .map(|s| format!(" · {s}"))
                    .unwrap_or_default()
            ),
            colour::GREEN,
        ),
    };

    let mut lines: Vec<String> = Vec::new();
    if let Some(message) = &g.message {
        lines.push(truncate(message, 600));
    }
    for alert in g.alerts.iter().take(LISTED_ALERTS) {
        lines.push(alert_line(alert));
    }
    let hidden = g.alerts.len().saturating_sub(LISTED_ALERTS) as i64;
    if hidden > 0 {
        lines.push(format!("…and {hidden} more"));
    }
    if g.truncated_alerts > 0 {
        lines.push(format!(
            "…and {} more the sender left out (truncatedAlerts)",
            g.truncated_alerts
        ));
    }
    // Discord refuses a message whose embeds exceed 6000 characters in all: build it again
    // more compactly when the full version is too long.
    let build = |desc_max: usize, compact: bool| -> Embed {
        let description = truncate(&lines.join("\n"), desc_max);
        // Compact: every free text gets a small share of the 6000 total.
        let short = |text: &str| {
            if compact {
                field_value(&truncate(text, COMPACT_VALUE_MAX))
            } else {
                field(text)
            }
        };

        let status_text = match (g.status, g.resolved_at) {
            (AlertStatus::Resolved, Some(end)) => format!(
                "Resolved after {}",
                span((end - g.first_fired_at).num_milliseconds())
            ),
            _ => format!("Firing: {firing} of {}", g.alerts.len()),
        };
        let mut embed = Embed {
            title: Some(truncate(&title, EMBED_TITLE_MAX)),
            description: Some(description),
            colour: Some(colour),
            footer: Some(format!(
                "loopbot · {} · alert group #{}{}",
                g.source,
                g.id,
                g.incident_id
                    .map(|i| format!(" · incident #{i}"))
                    .unwrap_or_default()
            )),
            timestamp: Some(g.resolved_at.unwrap_or(g.first_fired_at)),
            ..Default::default()
        }
        .field("Status", status_text, true)
        .field("Severity", short(&g.severity), true)
        .field("Since", discord_time(g.first_fired_at, 'f'), true);
        if let Some(service) = &g.service {
            embed = embed.field("Service", short(service), true);
        }
        if let Some(env) = &g.environment {
            embed = embed.field("Environment", short(env), true);
        }
        if let (Some(at), name) = (g.acked_at, &g.acked_by_name) {
            let who = match (g.acked_by, name) {
                (Some(id), Some(name)) => format!("{name} (<@{id}>)"),
                (_, Some(name)) => name.clone(),
                (Some(id), None) => format!("<@{id}>"),
                _ => "someone".into(),
            };
            embed = embed.field(
                "Acknowledged",
                short(&format!("👀 by {who} at {}", discord_time(at, 'f'))),
                true,
            );
        }
        if let Some(at) = g.silenced_at {
            embed = embed.field(
                "Silenced",
                short(&format!(
                    "🔕 by {} at {} until {}",
                    g.silenced_by_name.as_deref().unwrap_or("someone"),
                    discord_time(at, 't'),
                    g.silenced_until
                        .map(|u| discord_time(u, 't'))
                        .unwrap_or_default()
                )),
                true,
            );
        }
        // Within Discord's 25 fields: the first few links by name, the rest counted.
        for link in g.links.iter().take(LISTED_LINKS) {
            let by = link
                .deployer
                .as_ref()
                .map(|d| format!(" by {d}"))
                .unwrap_or_default();
            let mut text = format!(
                "Started {} after deploy #{} {} {} → {}{by}",
                span(link.delay_ms),
                link.deploy_id,
                link.service,
                link.version,
                link.environment
            );
            match link.verdict.as_deref() {
                Some("confirmed") => text.push_str(&format!(
                    "\n✔️ Confirmed as the cause by {}",
                    link.verdict_by_name.as_deref().unwrap_or("someone")
                )),
                Some("rejected") => text.push_str(&format!(
                    "\n✖️ Not the cause, says {}",
                    link.verdict_by_name.as_deref().unwrap_or("someone")
                )),
                _ => text.push_str("\nCaused by this deploy?"),
            }
            let max = if compact { 300 } else { EMBED_FIELD_VALUE_MAX };
            embed = embed.field("🚀 Possible cause", truncate(&text, max), false);
        }
        if g.links.len() > LISTED_LINKS {
            embed = embed.field(
                "🚀 More possible causes",
                format!("…and {} more deploys", g.links.len() - LISTED_LINKS),
                false,
            );
        }
        let mut links = Vec::new();
        let first = |f: fn(&AlertView) -> Option<&String>| g.alerts.iter().find_map(f).cloned();
        if let Some(u) = first(|a| a.runbook_url.as_ref()) {
            links.push(format!("[Runbook]({u})"));
        }
        if let Some(u) = first(|a| a.dashboard_url.as_ref()) {
            links.push(format!("[Dashboard]({u})"));
        }
        if let Some(u) = first(|a| a.panel_url.as_ref()) {
            links.push(format!("[Panel]({u})"));
        }
        if let Some(u) = first(|a| a.generator_url.as_ref()) {
            links.push(format!("[Source]({u})"));
        }
        if let Some(u) = first(|a| a.silence_url.as_ref()) {
            links.push(format!("[Silence in Grafana]({u})"));
        }
        if !links.is_empty() {
            let max = if compact { 400 } else { EMBED_FIELD_VALUE_MAX };
            embed = embed.field("Links", truncate(&links.join(" · "), max), false);
        }
        let other: Vec<String> = g
            .common_labels
            .iter()
            .filter(|(k, _)| !SHOWN_LABELS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !other.is_empty() && !compact {
            embed = embed.field(
                "Other labels",
                field(&format!("`{}`", other.join(", "))),
                false,
            );
        }
        embed
    };
    let mut embed = build(3500, false);
    if embed.chars() > EMBED_TOTAL_BUDGET {
        embed = build(1200, true);
    }

    let mut components = Vec::new();
    // Useful / Noise ride on the first row, firing or resolved (4 buttons at most there).
    let votes = alert_votes::vote_buttons(g.id, g.votes);
    if g.status == AlertStatus::Firing {
        let mut buttons = vec![Button {
            custom_id: format!("alerts:ack:{}", g.id),
            label: if g.acked_at.is_some() {
                "Acknowledged"
            } else {
                "Acknowledge"
            }
            .into(),
            emoji: Some("👀".into()),
            style: ButtonStyle::Primary,
            disabled: g.acked_at.is_some(),
        }];
        if g.silence_available {
            buttons.push(Button {
                custom_id: format!("alerts:silence:{}", g.id),
                label: if g.silenced_at.is_some() {
                    "Silenced"
                } else {
                    "Silence 1h"
                }
                .into(),
                emoji: Some("🔕".into()),
                style: ButtonStyle::Secondary,
                disabled: g.silenced_at.is_some(),
            });
        }
        buttons.extend(votes);
        components.push(buttons);
    } else {
        components.push(votes.to_vec());
    }
    // One row per unanswered link (Discord allows 5 rows; the first leaves 4).
    for link in g.links.iter().filter(|l| l.verdict.is_none()).take(4) {
        components.push(vec![
            Button {
                custom_id: format!("alerts:cause:{}:{}:yes", g.id, link.deploy_id),
                label: truncate(
                    &format!("Caused by {} {}", link.service, link.version),
                    BUTTON_LABEL_MAX,
                ),
                emoji: None,
                style: ButtonStyle::Danger,
                disabled: false,
            },
            Button {
                custom_id: format!("alerts:cause:{}:{}:no", g.id, link.deploy_id),
                label: "Not this deploy".into(),
                emoji: None,
                style: ButtonStyle::Secondary,
                disabled: false,
            },
        ]);
    }

    // Only the configured on-call is pinged, only while firing; webhook text never pings.
    let (content, mentions) = match (g.status, g.mention) {
        (AlertStatus::Firing, Some(MentionTarget::Role(id))) => (
            Some(ping_line(&format!("<@&{id}>"), &name)),
            Mentions {
                users: vec![],
                roles: vec![id],
            },
        ),
        (AlertStatus::Firing, Some(MentionTarget::User(id))) => (
            Some(ping_line(&format!("<@{id}>"), &name)),
            Mentions {
                users: vec![id],
                roles: vec![],
            },
        ),
        // Clears an earlier ping line once resolved.
        (_, Some(_)) => (Some(String::new()), Mentions::default()),
        _ => (None, Mentions::default()),
    };
    Rendered {
        content,
        embeds: vec![embed],
        components,
        mentions,
        files: Vec::new(),
    }
}

/// The ping above a firing alert: the mention first, so however long the alert's name is, the
/// cut falls on the name and the line stays within Discord's 2000 characters.
fn ping_line(mention: &str, name: &str) -> String {
    let room = CONTENT_MAX.saturating_sub(mention.chars().count() + 1);
    format!("{mention} {}", truncate(name, room))
}

/// The line a deploy announcement gets for the alerts linked to it: one line each while they fit
/// the field, the rest counted.
pub fn linked_alerts_field(embed: Embed, alerts: &[LinkedAlert]) -> Embed {
    let lines: Vec<String> = alerts
        .iter()
        .map(|a| {
            let state = match a.status {
                AlertStatus::Firing => "🔥 firing",
                AlertStatus::Resolved => "✅ resolved",
            };
            let verdict = match a.verdict.as_deref() {
                Some("confirmed") => " · confirmed as caused by this deploy",
                Some("rejected") => " · not caused by this deploy",
                _ => "",
            };
            truncate(
                &format!(
                    "{} **{}** ({}) started {} after this deploy, {state}{verdict}",
                    severity_emoji(&a.severity),
                    truncate(&a.name, 100),
                    truncate(&a.severity, 20),
                    span(a.delay_ms)
                ),
                LINE_MAX,
            )
        })
        .collect();
    // Room for the count line, at most "…and 18446744073709551615 more".
    let room = EMBED_FIELD_VALUE_MAX - 40;
    let mut text = String::new();
    let mut listed = 0;
    for line in &lines {
        if text.chars().count() + line.chars().count() + 1 > room {
            break;
        }
        text.push_str(line);
        text.push('\n');
        listed += 1;
    }
    if lines.len() > listed {
        text.push_str(&format!("…and {} more", lines.len() - listed));
    }
    embed.field("⚠️ Alerts after this deploy", field(text.trim_end()), false)
}

/// Stay under Discord's 6000-character total with room to spare.
const EMBED_TOTAL_BUDGET: usize = EMBED_TOTAL_MAX - 200;

/// Never empty (Discord refuses an empty value), never over the field limit.
fn field(text: &str) -> String {
    field_value(text)
}

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![alerts()]
}

/// List the alerts firing now (those this channel receives).
#[poise::command(slash_command, guild_only)]
pub async fn alerts(ctx: Context<'_>) -> Result<(), CommandError> {
    let data = ctx.data();
    let channel = channel_of(ctx);
    let subscriptions = data.store.alert_subscriptions().await?;
    let now = Utc::now();
    let firing = data.store.firing_alerts().await?;
    let shown: Vec<_> = firing
        .iter()
        .filter(|a| {
            crate::domain::subscription::route(
                &subscriptions,
                Kind::Alerts,
                a.service.as_deref().unwrap_or(""),
                a.environment.as_deref().unwrap_or(""),
                crate::domain::subscription::Facet::Alert {
                    severity: &crate::domain::alert::Severity::new(Some(&a.severity)),
                },
                data.default_channel,
            )
            .contains(&channel)
        })
        .collect();
    let text = if shown.is_empty() {
        "No alerts firing for this channel. 🎉".to_owned()
    } else {
        let mut lines: Vec<String> = shown
            .iter()
            .take(20)
            .map(|a| {
                let ack = match (&a.acked_by_name, a.acked_at) {
                    (Some(by), Some(at)) => {
                        format!("acked by {by} {}", discord_time(at, 'R'))
                    }
                    _ => "not acknowledged".into(),
                };
                let place = [
                    a.service.as_deref(),
                    a.environment.as_deref(),
                    a.instance.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" / ");
                format!(
                    "{} **{}** ({}) {place}: firing for {}, {ack}",
                    severity_emoji(&a.severity),
                    a.name,
                    a.severity,
                    span((now - a.starts_at).num_milliseconds())
                )
            })
            .collect();
        if shown.len() > 20 {
            lines.push(format!("…and {} more", shown.len() - 20));
        }
        format!("**{} alert(s) firing**\n{}", shown.len(), lines.join("\n"))
    };
    ctx.send(
        CreateReply::default()
            .content(truncate(&text, CONTENT_MAX))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::AlertView;
    use std::collections::BTreeMap;

    fn alert(i: usize, status: AlertStatus) -> AlertView {
        AlertView {
            id: i as i64,
            fingerprint: format!("f{i}"),
            name: "HighLatency".into(),
            status,
            severity: "critical".into(),
            service: Some("checkout".into()),
            environment: None,
            instance: Some(format!("host-{i}:9090")),
            summary: Some("@everyone latency is high ".repeat(20)),
            description: None,
            labels: BTreeMap::new(),
            generator_url: None,
            runbook_url: Some("https://runbooks.example.com/x".into()),
            dashboard_url: None,
            panel_url: None,
            silence_url: None,
            value_string: None,
            starts_at: Utc::now(),
            resolved_at: None,
        }
    }

    fn group(alerts: Vec<AlertView>) -> AlertGroupView {
        AlertGroupView {
            id: 1,
            source: "alertmanager".into(),
            status: AlertStatus::Firing,
            title: None,
            message: None,
            service: Some("checkout".into()),
            environment: None,
            severity: "critical".into(),
            common_labels: BTreeMap::new(),
            external_url: None,
            truncated_alerts: 3,
            first_fired_at: Utc::now(),
            resolved_at: None,
            acked_by: None,
            acked_by_name: None,
            acked_at: None,
            silenced_by_name: None,
            silenced_at: None,
            silenced_until: None,
            mention: None,
            silence_available: false,
            incident_id: None,
            votes: Default::default(),
            alerts,
            links: vec![],
        }
    }

    #[test]
    fn long_groups_are_summarised_within_discord_limits() {
        let g = group((0..47).map(|i| alert(i, AlertStatus::Firing)).collect());
        let body = super::super::message::post_body(&render_alert_group(&g), "n".into());
        let embed = &body["embeds"][0];
        let description = embed["description"].as_str().unwrap();
        assert!(description.chars().count() <= 4096);
        assert!(description.contains("and 37 more"), "{description}");
        assert!(description.contains("3 more the sender left out"));
        assert!(embed.to_string().chars().count() < 6000);
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
        assert!(body.get("content").is_none() || body["content"].is_null());
    }

    #[test]
    fn huge_labels_and_links_still_fit_in_one_message() {
        let mut alerts: Vec<AlertView> = (0..30).map(|i| alert(i, AlertStatus::Firing)).collect();
        for a in &mut alerts {
            a.runbook_url = Some(format!("https://r.example.com/{}", "x".repeat(900)));
            a.generator_url = Some(format!("https://g.example.com/{}", "y".repeat(900)));
        }
        let mut g = group(alerts);
        g.service = Some("s".repeat(1500));
        g.message = Some("m".repeat(2000));
        for i in 0..50 {
            g.common_labels.insert(format!("label{i}"), "v".repeat(100));
        }
        let embed = &render_alert_group(&g).embeds[0];
        assert!(embed.chars() <= 6000, "{}", embed.chars());
    }

    #[test]
    fn the_configured_on_call_is_the_only_ping_and_only_while_firing() {
        let mut g = group(vec![alert(1, AlertStatus::Firing)]);
        g.mention = Some(MentionTarget::Role(42));
        let r = render_alert_group(&g);
        assert_eq!(r.mentions.roles, vec![42]);
        assert!(r.content.unwrap().starts_with("<@&42>"));
        g.status = AlertStatus::Resolved;
        let r = render_alert_group(&g);
        assert!(r.mentions.roles.is_empty());
        assert_eq!(r.content.as_deref(), Some(""));
    }
}
