//! The deploy announcement, in its current state (edited as the deploy moves on).

use super::message::{
    colour, duration, field_value, truncate, Embed, EMBED_FIELD_VALUE_MAX, EMBED_TITLE_MAX,
    EMBED_TOTAL_MAX,
};
use crate::domain::deploy::{Deploy, DeployStatus};

/// The changelog's share of the 4096-character description and 6000-character embed total.
pub const CHANGELOG_MAX: usize = 3000;

fn status_colour(status: DeployStatus) -> u32 {
    match status {
        DeployStatus::Started => colour::BLURPLE, // in progress
        DeployStatus::Succeeded => colour::GREEN,
        DeployStatus::Failed => colour::RED,
        DeployStatus::RolledBack => colour::YELLOW,
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
pub fn deploy_embed(deploy: &Deploy) -> Embed {
    let (emoji, verb) = status_line(deploy.status);
    let title = format!(
        "{emoji} {verb}: {} {} → {}",
        deploy.service, deploy.version, deploy.environment
    );
    let mut embed = Embed {
        title: Some(truncate(&title, EMBED_TITLE_MAX)),
        colour: Some(status_colour(deploy.status)),
        footer: Some(format!("loopbot · deploy #{}", deploy.id)),
        url: deploy.url.clone(),
        description: deploy
            .changelog
            .as_ref()
            .map(|changelog| format!("**Changelog**\n{}", truncate(changelog, CHANGELOG_MAX))),
        timestamp: Some(deploy.finished_at.unwrap_or(deploy.started_at)),
        ..Default::default()
    }
    .field("Service", field_value(&deploy.service), true)
    .field("Version", field_value(&deploy.version), true)
    .field("Environment", field_value(&deploy.environment), true)
    .field("Status", status_text(deploy), true);
    if let Some(deployer) = &deploy.deployer {
        embed = embed.field("Deployer", field_value(deployer), true);
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
    fit_total(embed)
}

/// The responder who marked the deploy rolled back from its check-in. Their name as Discord
/// gave it, shown as text: it pings nobody.
pub fn rolled_back_by_field(embed: Embed, by: &str) -> Embed {
    embed.field("Rolled back by", field_value(by), true)
}

/// Names are bounded at the edge, but rendering does not trust what is stored: if the embed is
/// over Discord's total, the changelog gives way first, then the longest fields. Also applied
/// after the linked alerts' field is added to an announcement.
pub fn fit_total(mut embed: Embed) -> Embed {
    let over = embed.chars().saturating_sub(EMBED_TOTAL_MAX);
    if over == 0 {
        return embed;
    }
    if let Some(description) = embed.description.take() {
        let keep = description.chars().count().saturating_sub(over);
        if keep > "**Changelog**\n…".chars().count() {
            embed.description = Some(truncate(&description, keep));
        }
    }
    while embed.chars() > EMBED_TOTAL_MAX {
        let over = embed.chars() - EMBED_TOTAL_MAX;
        let Some(longest) = embed
            .fields
            .iter_mut()
            .max_by_key(|f| f.value.chars().count())
        else {
            break;
        };
        let len = longest.value.chars().count();
        if len <= 1 {
            break;
        }
        longest.value = truncate(&longest.value, len.saturating_sub(over).max(1));
    }
    embed
}

fn status_text(deploy: &Deploy) -> String {
    let (_, verb) = status_line(deploy.status);
    match deploy.duration() {
        // A deploy reported only once it finished has no duration worth showing.
        Some(took) if took.num_seconds() > 0 => {
            format!("{verb} in {}", duration(took.num_seconds()))
        }
        _ => verb.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::{post_body, Rendered};
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
    fn a_stored_deploy_of_long_values_still_fits_the_embed_total() {
        let long = "x".repeat(EMBED_FIELD_VALUE_MAX + 50);
        let deploy = Deploy {
            service: long.clone(),
            version: long.clone(),
            environment: long.clone(),
            deployer: Some(long.clone()),
            ..deploy()
        };
        let embed = deploy_embed(&deploy);
        assert!(
            embed.chars() <= EMBED_TOTAL_MAX,
            "{} characters",
            embed.chars()
        );
        let description = embed.description.as_deref().unwrap();
        assert!(
            description.starts_with("**Changelog**\nxxx"),
            "{description:.40}"
        );
        assert!(embed.fields.iter().all(|f| !f.value.is_empty()));
    }

    #[test]
    fn the_announcement_fits_discord_limits() {
        let message = Rendered {
            embeds: vec![deploy_embed(&deploy())],
            ..Default::default()
        };
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
}
