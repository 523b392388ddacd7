//! Who may use which command or button, decided in this one place. The Discord adapter
//! (`discord/access.rs`) describes the person acting as an [`Actor`] and asks [`decide`] before a
//! handler does anything; docs/security.md lists the same table for people.
//!
//! Three gates, in order: the place (a server channel, never a DM), the server (one of
//! `LOOPBOT_GUILD_IDS` when set), and the person (what the action needs).

use std::fmt;

/// Everything a person can do to loopbot from Discord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    // Reading, and feedback: open to every member (feedback is the point).
    Help,
    ListSubscriptions,
    ListAlerts,
    Summary,
    Metrics,
    FeedbackSummary,
    /// `/feedback`, the check-in buttons and comment form, reactions and replies.
    GiveFeedback,
    /// `/link-deployer` for a CI name nobody else holds, `/link-deployer` without a name (your
    /// links), `/unlink-deployer` of your own link.
    LinkOwnDeployerName,
    // Changing what a channel receives.
    Subscribe,
    Unsubscribe,
    /// `/link-deployer` of a name linked to someone else, or `/unlink-deployer` of theirs.
    TakeDeployerName,
    // Changing an alert, incident or deploy record: responders only.
    Acknowledge,
    Silence,
    /// "Caused by <deploy>" / "Not this deploy".
    JudgeCause,
    /// `/checkin`: asks a channel now and pings the deployer.
    RequestCheckin,
}

/// What an action needs of the person, past the place and server gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Member,
    ManageServer,
    Responder,
}

impl Action {
    pub fn need(self) -> Need {
        use Action::*;
        match self {
            Help | ListSubscriptions | ListAlerts | Summary | Metrics | FeedbackSummary
            | GiveFeedback | LinkOwnDeployerName => Need::Member,
            Subscribe | Unsubscribe | TakeDeployerName => Need::ManageServer,
            Acknowledge | Silence | JudgeCause | RequestCheckin => Need::Responder,
        }
    }
}

/// The person acting, as the interaction describes them. Permissions are the ones Discord
/// resolved for the channel (`member.permissions`); Administrator counts as every permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// None: a direct message with the bot.
    pub guild: Option<u64>,
    pub roles: Vec<u64>,
    pub manage_server: bool,
    pub manage_messages: bool,
}

/// The configuration the decisions read, built once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `LOOPBOT_GUILD_IDS`; empty: every server the bot is in.
    pub guilds: Vec<u64>,
    /// `LOOPBOT_RESPONDER_ROLES`; empty: Manage Server or Manage Messages stands in.
    pub responder_roles: Vec<u64>,
}

impl Policy {
    /// Whether loopbot works in `guild` (and stays in it).
    pub fn serves(&self, guild: u64) -> bool {
        self.guilds.is_empty() || self.guilds.contains(&guild)
    }

    /// Whether `actor` counts as a responder.
    pub fn is_responder(&self, actor: &Actor) -> bool {
        if self.responder_roles.is_empty() {
            actor.manage_server || actor.manage_messages
        } else {
            actor
                .roles
                .iter()
                .any(|role| self.responder_roles.contains(role))
        }
    }
}

/// Why an action was refused; its `Display` is the sentence shown to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    DirectMessage,
    OtherServer,
    NeedsManageServer,
    /// The responder roles, or empty when Manage Server / Manage Messages stand in.
    NeedsResponder(Vec<u64>),
    /// A button or form naming a subject the clicked message does not show.
    NotThisMessage,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DirectMessage => f.write_str(
                "loopbot works only in server channels, not in direct messages: nothing was done.",
            ),
            Refusal::OtherServer => f.write_str(
                "loopbot is not set up for this server (LOOPBOT_GUILD_IDS): nothing was done.",
            ),
            Refusal::NeedsManageServer => {
                f.write_str("This needs the Manage Server permission: nothing was done.")
            }
            Refusal::NeedsResponder(roles) if roles.is_empty() => f.write_str(
                "Only responders can do this: it needs the Manage Server or Manage Messages \
                 permission in this channel. Nothing was done.",
            ),
            Refusal::NeedsResponder(roles) => {
                let roles: Vec<String> = roles.iter().map(|r| format!("<@&{r}>")).collect();
                write!(
                    f,
                    "Only responders can do this: it needs the role {}. Nothing was done.",
                    roles.join(" or ")
                )
            }
            Refusal::NotThisMessage => f.write_str(
                "This button does not belong to the message it was pressed on: nothing was done.",
            ),
        }
    }
}

/// Whether `actor` may do `action`.
pub fn decide(policy: &Policy, actor: &Actor, action: Action) -> Result<(), Refusal> {
    let Some(guild) = actor.guild else {
        return Err(Refusal::DirectMessage);
    };
    if !policy.serves(guild) {
        return Err(Refusal::OtherServer);
    }
    match action.need() {
        Need::Member => Ok(()),
        Need::ManageServer if actor.manage_server => Ok(()),
        Need::ManageServer => Err(Refusal::NeedsManageServer),
        Need::Responder if policy.is_responder(actor) => Ok(()),
        Need::Responder => Err(Refusal::NeedsResponder(policy.responder_roles.clone())),
    }
}

/// What a bot message shows: a subject kind (`alert_group`, `checkin`, ...) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown<'a> {
    pub kind: &'a str,
    pub id: i64,
}

/// A component or form is honoured only for the subject the clicked message shows in that
/// channel (`shown`: what the bot stored for that message there; None: not a message of ours).
pub fn proves_target(shown: Option<Shown<'_>>, claimed: Shown<'_>) -> Result<(), Refusal> {
    match shown {
        Some(shown) if shown == claimed => Ok(()),
        _ => Err(Refusal::NotThisMessage),
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
