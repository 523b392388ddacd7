//! What a delivery shows: the subject's module renders it, in its current state. Sits above the
//! subjects (it dispatches to them; none imports it). Digests are rendered here, from the titles
//! their members' own messages would have.

use super::message::{colour, truncate, Embed, Rendered, EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX};
use super::{alert_votes, alerts, checkins, deploys, incidents, limits, summary};
use crate::store::DeliverySubject;

/// The message for a delivery's subject (with the files its first post uploads), or `None` when
/// there is nothing to show. Always within Discord's limits: [`limits::enforce`] is the last step
/// of every body the worker sends.
pub fn render(subject: &DeliverySubject) -> Option<Rendered> {
    compose(subject).map(limits::enforce)
}

/// What the subject's module renders, before the limits' safety net (the property tests check
/// that every renderer stays within the limits on its own).
pub fn compose(subject: &DeliverySubject) -> Option<Rendered> {
    match subject {
        DeliverySubject::Deploy(deploy) => Some(Rendered {
            embeds: vec![deploys::deploy_embed(deploy)],
            ..Default::default()
        }),
        DeliverySubject::DeployWithAlerts(deploy, linked) => Some(Rendered {
            embeds: vec![deploys::fit_total(alerts::linked_alerts_field(
                deploys::deploy_embed(deploy),
                linked,
            ))],
            ..Default::default()
        }),
        DeliverySubject::DeployRolledBack { deploy, by, linked } => {
            let embed = deploys::rolled_back_by_field(deploys::deploy_embed(deploy), by);
            let embed = if linked.is_empty() {
                embed
            } else {
                alerts::linked_alerts_field(embed, linked)
            };
            Some(Rendered {
                embeds: vec![deploys::fit_total(embed)],
                ..Default::default()
            })
        }
        DeliverySubject::AlertGroup(group) => Some(alerts::render_alert_group(group)),
        DeliverySubject::Checkin(view) => Some(checkins::render_checkin(view)),
        DeliverySubject::CheckinCancelled(view) => Some(checkins::render_cancelled(view)),
        DeliverySubject::Digest(members) => Some(digest(members)),
        DeliverySubject::Summary(body) => summary::render_summary(body),
        DeliverySubject::Incident(card) => Some(incidents::render_incident(card)),
        DeliverySubject::IncidentEvent(entry) => Some(incidents::render_event(entry)),
        DeliverySubject::IncidentPrompt(card) => Some(incidents::render_prompt(card)),
        // Not a message: the delivery worker starts the thread (`incidents::start_thread`).
        DeliverySubject::IncidentThread(_) | DeliverySubject::Missing { .. } => None,
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
        .filter_map(|member| {
            let title = compose(member)?.embeds.first()?.title.clone()?;
            Some(match member {
                // An alert group's line carries its number (its vote buttons name it) and votes.
                DeliverySubject::AlertGroup(group) => {
                    format!("• {}", alert_votes::digest_line(group, &title))
                }
                _ => format!("• {title}"),
            })
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
    Rendered {
        embeds: vec![Embed {
            title: Some(truncate(&title, EMBED_TITLE_MAX)),
            description: Some(truncate(&description, EMBED_DESCRIPTION_MAX)),
            colour: Some(if firing > 0 { colour::RED } else { colour::GREEN }),
            footer: Some(
                "loopbot · one message for a burst, to stay within Discord's limits; it is edited as they change"
                    .into(),
            ),
            ..Default::default()
        }],
        components: alert_votes::digest_vote_rows(&alert_groups),
        ..Default::default()
    }
}
