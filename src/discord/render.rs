//! What the bot's messages look like: domain values in, Discord message bodies out.
//! Every body sets allowed mentions explicitly; text from webhooks pings nobody.

use serde_json::Value;
use serenity::all::{
    Colour, CreateActionRow, CreateAllowedMentions, CreateEmbed, CreateEmbedFooter, CreateMessage,
    EditMessage, Nonce, Timestamp,
};

use crate::domain::deploy::{Deploy, DeployStatus};
use crate::store::DeliverySubject;

/// A message as the bot wants it to look, before it becomes a post or an edit.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub content: Option<String>,
    pub embeds: Vec<CreateEmbed>,
    pub components: Vec<CreateActionRow>,
    /// Who may be pinged. Empty unless a configuration or a linked user asked for a ping.
    pub mentions: Mentions,
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
            .users(self.users.iter().map(|u| serenity::all::UserId::new(*u)))
            .roles(self.roles.iter().map(|r| serenity::all::RoleId::new(*r)))
    }
}

/// The message for a delivery's subject, or `None` when there is nothing to show.
pub fn render(subject: &DeliverySubject) -> Option<Rendered> {
    match subject {
        DeliverySubject::Deploy(deploy) => Some(Rendered {
            embeds: vec![deploy_embed(deploy)],
            ..Default::default()
        }),
        DeliverySubject::DeployWithAlerts(deploy, alerts) => Some(Rendered {
            embeds: vec![super::alerts::linked_alerts_field(
                deploy_embed(deploy),
                alerts,
            )],
            ..Default::default()
        }),
        DeliverySubject::AlertGroup(group) => Some(super::alerts::render_alert_group(group)),
        DeliverySubject::Checkin(view) => Some(super::checkins::render_checkin(view)),
        DeliverySubject::CheckinCancelled(view) => Some(super::checkins::render_cancelled(view)),
        DeliverySubject::Digest(members) => Some(digest(members)),
        DeliverySubject::Summary(body) => super::summary::render_summary(body).map(|(r, _)| r),
        DeliverySubject::Missing { .. } => None,
    }
}

/// How many members a digest lists by name before "…and N more", within the description limit.
pub const DIGEST_LINES: usize = 100;
const DIGEST_TEXT_MAX: usize = 4000;

/// One message standing for many subjects: a line each (the title their own message would have),
/// in their current state. Digests ping nobody.
fn digest(members: &[DeliverySubject]) -> Rendered {
    let alert_groups: Vec<_> = members
        .iter()
        .filter_map(|m| match m {
            DeliverySubject::AlertGroup(group) => Some(group),
            _ => None,
        })
        .collect();
    let firing = alert_groups
        .iter()
        .filter(|g| g.status == crate::domain::alert::AlertStatus::Firing)
        .count();
    let title = if alert_groups.len() == members.len() {
        format!(
            "🚨 {} more alerts fired in this burst ({firing} still firing)",
            members.len()
        )
    } else if alert_groups.is_empty() {
        format!("📦 {} more deploys in this burst", members.len())
    } else {
        format!("📣 {} more updates in this burst", members.len())
    };
    let lines: Vec<String> = members
        .iter()
        .filter_map(render)
        .filter_map(|message| {
            let embed = serde_json::to_value(message.embeds.first()?).ok()?;
            Some(format!("• {}", embed["title"].as_str()?))
        })
        .collect();
    // Every member by name while it fits the description; the rest counted.
    let mut description = String::new();
    let mut listed = 0;
    for line in &lines {
        if listed == DIGEST_LINES || description.len() + line.len() + 40 > DIGEST_TEXT_MAX {
            break;
        }
        description.push_str(line);
        description.push('\n');
        listed += 1;
    }
    if lines.len() > listed {
        description.push_str(&format!("…and {} more", lines.len() - listed));
    }
    let colour = if firing > 0 {
        Colour::from_rgb(0xed, 0x42, 0x45)
    } else {
        Colour::from_rgb(0x57, 0xf2, 0x87)
    };
    Rendered {
        embeds: vec![CreateEmbed::new()
            .title(truncate(&title, EMBED_TITLE_MAX))
            .description(truncate(&description, 4096))
            .colour(colour)
            .footer(CreateEmbedFooter::new(
                "loopbot · one message for a burst, to stay within Discord's limits; it is edited as they change",
            ))],
        ..Default::default()
    }
}

/// Discord's own limits (see the API reference on embeds).
pub const EMBED_TITLE_MAX: usize = 256;
pub const EMBED_FIELD_VALUE_MAX: usize = 1024;
/// The changelog's share of the 4096-character description and 6000-character embed total.
pub const CHANGELOG_MAX: usize = 3000;

/// The post that first shows a subject. `nonce` makes Discord return the earlier message
/// instead of posting twice when a post is retried.
pub fn post_body(message: &Rendered, nonce: String) -> Value {
    let mut body = CreateMessage::new()
        .embeds(message.embeds.clone())
        .components(message.components.clone())
        .allowed_mentions(message.mentions.allowed())
        .nonce(Nonce::String(nonce))
        .enforce_nonce(true);
    if let Some(content) = &message.content {
        body = body.content(content);
    }
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// The message for a delivery's subject with the files its post uploads (the summary chart);
/// subjects without files render as [`render`] does.
pub fn render_with_files(subject: &DeliverySubject) -> Option<(Rendered, Vec<FileUpload>)> {
    match subject {
        DeliverySubject::Summary(body) => super::summary::render_summary(body),
        other => render(other).map(|message| (message, Vec::new())),
    }
}

/// [`post_body`] for a multipart post: names the uploads, matched to `files[n]` parts by id.
pub fn post_body_with_files(message: &Rendered, nonce: String, files: &[FileUpload]) -> Value {
    let mut value = post_body(message, nonce);
    if !files.is_empty() {
        value["attachments"] = files
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({ "id": i, "filename": f.name }))
            .collect();
    }
    value
}

/// The edit that brings a posted message up to date.
pub fn edit_body(message: &Rendered) -> Value {
    let mut body = EditMessage::new()
        .embeds(message.embeds.clone())
        .components(message.components.clone())
        .allowed_mentions(message.mentions.allowed());
    if let Some(content) = &message.content {
        body = body.content(content);
    }
    serde_json::to_value(body).unwrap_or(Value::Null)
}

pub fn status_colour(status: DeployStatus) -> Colour {
    match status {
        DeployStatus::Started => Colour::from_rgb(0x58, 0x65, 0xf2), // blurple: in progress
        DeployStatus::Succeeded => Colour::from_rgb(0x57, 0xf2, 0x87), // green
        DeployStatus::Failed => Colour::from_rgb(0xed, 0x42, 0x45),  // red
        DeployStatus::RolledBack => Colour::from_rgb(0xfe, 0xe7, 0x5c), // yellow
    }
}

fn status_line(status: DeployStatus) -> (&'static str, &'static str) {
    match status {
        DeployStatus::Started => ("🚀", "Deploying"),
        DeployStatus::Succeeded => ("✅", "Deployed"),
        DeployStatus::Failed => ("❌", "Deploy failed"),
        DeployStatus::RolledBack => ("↩️", "Rolled back"),
    }
}

/// The announcement of a deploy, in its current state.
pub fn deploy_embed(deploy: &Deploy) -> CreateEmbed {
    let (emoji, verb) = status_line(deploy.status);
    let title = format!(
        "{emoji} {verb}: {} {} → {}",
        deploy.service, deploy.version, deploy.environment
    );
    let mut embed = CreateEmbed::new()
        .title(truncate(&title, EMBED_TITLE_MAX))
        .colour(status_colour(deploy.status))
        .field("Service", field(&deploy.service), true)
        .field("Version", field(&deploy.version), true)
        .field("Environment", field(&deploy.environment), true)
        .field("Status", status_text(deploy), true)
        .footer(CreateEmbedFooter::new(format!(
            "loopbot · deploy #{}",
            deploy.id
        )));
    if let Some(deployer) = &deploy.deployer {
        embed = embed.field("Deployer", field(deployer), true);
    }
    if let Some(sha) = &deploy.commit_sha {
        // Characters, not bytes: a stored sha is hex, but rendering must not trust that.
        let short: String = sha.chars().take(7).collect();
        let value = match &deploy.url {
            // A long (valid) URL would push the field past Discord's limit: drop the link then.
            Some(url) if url.chars().count() + 20 <= EMBED_FIELD_VALUE_MAX => {
                format!("[`{short}`]({url})")
            }
            _ => format!("`{short}`"),
        };
        embed = embed.field("Commit", value, true);
    }
    if let Some(url) = &deploy.url {
        embed = embed.url(url);
    }
    if let Some(changelog) = &deploy.changelog {
        embed = embed.description(format!(
            "**Changelog**\n{}",
            truncate(changelog, CHANGELOG_MAX)
        ));
    }
    let at = deploy.finished_at.unwrap_or(deploy.started_at);
    if let Ok(ts) = Timestamp::from_unix_timestamp(at.timestamp()) {
        embed = embed.timestamp(ts);
    }
    embed
}

fn status_text(deploy: &Deploy) -> String {
    let (_, verb) = status_line(deploy.status);
    match deploy.duration() {
        // A deploy reported only once it finished has no duration worth showing.
        Some(took) if took.num_seconds() > 0 => {
            format!("{verb} in {}", human_duration(took.num_seconds()))
        }
        _ => verb.to_owned(),
    }
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn field(text: &str) -> String {
    // Discord refuses the whole message over one empty field value.
    if text.trim().is_empty() {
        return "—".to_owned();
    }
    truncate(text, EMBED_FIELD_VALUE_MAX)
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn deploy() -> Deploy {
        Deploy {
            id: 7,
            service: "checkout".into(),
            version: "v1.4.2".into(),
            environment: "production".into(),
            status: DeployStatus::Succeeded,
            deployer: Some("ana".into()),
            commit_sha: Some("0123456789abcdef".into()),
            commit_at: None,
            url: Some("https://ci.example.com/run/1".into()),
            changelog: Some("x".repeat(10_000)),
            started_at: Utc::now() - chrono::Duration::seconds(75),
            finished_at: Some(Utc::now()),
        }
    }

    #[test]
    fn the_announcement_fits_discord_limits() {
        let message = render(&DeliverySubject::Deploy(deploy())).unwrap();
        let body = post_body(&message, "m1".into());
        let embed = &body["embeds"][0];
        assert!(embed["description"].as_str().unwrap().chars().count() <= 4096);
        assert!(embed["title"].as_str().unwrap().contains("checkout v1.4.2"));
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
        assert_eq!(body["allowed_mentions"]["users"], serde_json::json!([]));
        assert_eq!(body["nonce"], "m1");
        assert_eq!(body["enforce_nonce"], true);
        let fields = embed["fields"].as_array().unwrap();
        let commit = fields.iter().find(|f| f["name"] == "Commit").unwrap();
        assert_eq!(commit["value"], "[`0123456`](https://ci.example.com/run/1)");
        let status = fields.iter().find(|f| f["name"] == "Status").unwrap();
        assert_eq!(status["value"], "Deployed in 1m 15s");
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("ééé", 2), "é…");
        assert_eq!(truncate("ab", 2), "ab");
    }
}
