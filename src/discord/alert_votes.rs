//! **Useful** / **Noise** on alerts: the buttons (on an alert message beside Acknowledge and
//! Silence; on a digest, a pair per listed group), their counts, and pressing them. Custom id:
//! `alerts:vote:<group>:useful|noise`. Any member may vote (`Action::VoteAlert`); the group must
//! be one the pressed message shows in that channel (alone or as a digest line). The press is
//! answered privately; the message's new counts come by the outbox like every edit.

use chrono::Utc;
use poise::serenity_prelude as serenity;

use super::access::{actor, allow};
use super::context::{reply_ephemeral, CommandError, Data};
use super::message::{Button, ButtonStyle};
use crate::domain::access::{proves_target, Action, Refusal, Shown};
use crate::domain::alert_vote::{Vote, VoteCounts};
use crate::store::alerts::{AlertGroupView, VoteOutcome};

/// Groups of a digest that get a pair of vote buttons: two pairs a row, five rows (Discord's 25
/// buttons per message). The digest's other lines show their counts only.
pub const DIGEST_VOTABLE: usize = 10;

fn emoji(vote: Vote) -> &'static str {
    match vote {
        Vote::Useful => "👍",
        Vote::Noise => "🔇",
    }
}

fn word(vote: Vote) -> &'static str {
    match vote {
        Vote::Useful => "Useful",
        Vote::Noise => "Noise",
    }
}

fn button(group: i64, vote: Vote, label: String) -> Button {
    Button {
        custom_id: format!("alerts:vote:{group}:{vote}"),
        label,
        emoji: Some(emoji(vote).into()),
        style: ButtonStyle::Secondary,
        disabled: false,
    }
}

/// The pair on an alert message, each with its count once someone voted ("Noise · 2").
pub fn vote_buttons(group: i64, votes: VoteCounts) -> [Button; 2] {
    [Vote::Useful, Vote::Noise].map(|vote| {
        let label = match votes.of(vote) {
            0 => word(vote).to_owned(),
            n => format!("{} · {n}", word(vote)),
        };
        button(group, vote, label)
    })
}

/// What a digest line about a group adds: its number (the buttons name it) and its counts.
pub fn digest_line(group: &AlertGroupView, title: &str) -> String {
    let mut line = format!("#{} {title}", group.id);
    if group.votes.noise > 0 || group.votes.useful > 0 {
        line.push_str(&format!(
            " · 🔇 {} · 👍 {}",
            group.votes.noise, group.votes.useful
        ));
    }
    line
}

/// A digest's vote buttons: a pair per group for the first [`DIGEST_VOTABLE`] groups.
pub fn digest_vote_rows(groups: &[&AlertGroupView]) -> Vec<Vec<Button>> {
    let mut seen = std::collections::BTreeSet::new();
    groups
        .iter()
        // Custom ids must be unique in a message; a group is one line of a digest anyway.
        .filter(|g| seen.insert(g.id))
        .take(DIGEST_VOTABLE)
        .flat_map(|g| {
            [Vote::Useful, Vote::Noise]
                .map(|vote| button(g.id, vote, format!("{} #{}", word(vote), g.id)))
        })
        .collect::<Vec<_>>()
        .chunks(4)
        .map(<[Button]>::to_vec)
        .collect()
}

/// Useful or Noise pressed. Refusals come back as errors (`alert_buttons::on_button` answers
/// them privately).
pub async fn press(
    ctx: &serenity::Context,
    data: &Data,
    interaction: &serenity::ComponentInteraction,
) -> Result<(), CommandError> {
    let who = actor(interaction.guild_id, interaction.member.as_ref());
    allow(data, &who, Action::VoteAlert)?;
    let parts: Vec<&str> = interaction.data.custom_id.split(':').collect();
    let (Some(group), Some(vote), None) = (
        parts.get(2).and_then(|g| g.parse::<i64>().ok()),
        parts.get(3).and_then(|v| v.parse::<Vote>().ok()),
        parts.get(4),
    ) else {
        return Err(CommandError::Refused(
            "This button is malformed: nothing was recorded.".into(),
        ));
    };
    // The group must be on the pressed message in this channel (a digest shows several).
    let shows = data
        .store
        .message_shows_alert_group(
            interaction.message.id.get(),
            interaction.channel_id.get(),
            group,
        )
        .await?;
    let claimed = Shown {
        kind: "alert_group",
        id: group,
    };
    proves_target(shows.then_some(claimed), claimed).map_err(|refusal: Refusal| {
        tracing::warn!(group, custom_id = %interaction.data.custom_id, "vote names a group the message does not show; refused");
        CommandError::Refused(refusal.to_string())
    })?;
    let user = &interaction.user;
    let name = user
        .global_name
        .clone()
        .unwrap_or_else(|| user.name.clone());
    let outcome = data
        .store
        .vote_alert_group(group, user.id.get(), &name, vote, Utc::now())
        .await?;
    let text = match outcome {
        VoteOutcome::NotFound => "This alert is no longer known to loopbot.".to_owned(),
        VoteOutcome::Unchanged { counts } => format!(
            "You already voted {} on this alert ({}).",
            word(vote).to_lowercase(),
            tally(counts)
        ),
        VoteOutcome::Recorded { previous, counts } => {
            data.wakes.delivery.wake();
            let changed = match previous {
                Some(before) => format!(" (instead of {})", word(before).to_lowercase()),
                None => String::new(),
            };
            format!(
                "Recorded: you find this alert {}{changed}. Now {}. The weekly summary counts it.",
                match vote {
                    Vote::Useful => "useful",
                    Vote::Noise => "noise",
                },
                tally(counts)
            )
        }
    };
    reply_ephemeral(ctx, interaction, text).await
}

fn tally(counts: VoteCounts) -> String {
    format!("🔇 {} noise · 👍 {} useful", counts.noise, counts.useful)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_on_the_buttons_once_someone_voted() {
        let [useful, noise] = vote_buttons(7, VoteCounts::default());
        assert_eq!(
            (useful.label.as_str(), noise.label.as_str()),
            ("Useful", "Noise")
        );
        assert_eq!(noise.custom_id, "alerts:vote:7:noise");
        let [useful, noise] = vote_buttons(
            7,
            VoteCounts {
                useful: 1,
                noise: 2,
            },
        );
        assert_eq!(
            (useful.label.as_str(), noise.label.as_str()),
            ("Useful · 1", "Noise · 2")
        );
        assert_eq!(useful.custom_id, "alerts:vote:7:useful");
    }
}
