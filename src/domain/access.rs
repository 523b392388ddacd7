//! Who may use which command or button, decided in this one place. The Discord adapter
//! (`discord/access.rs`) describes the person acting as an [`Actor`] and asks [`decide`] before a
//! handler does anything; docs/security.md lists the same table for people.
//!
//! Three gates, in order: the place (a server channel, never a DM), the server (one of
//! `LOOPBOT_GUILD_IDS` when set), and the person (what the action needs).

use std::fmt;

use chrono::{DateTime, Utc};

use super::visibility::Reader;
use super::GuildId;

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
    /// **Useful** / **Noise** on an alert message or a digest line's group: an opinion about the
    /// alert, which changes nothing about it (one vote per person per episode).
    VoteAlert,
    /// `/followups`: the open follow-ups of the incidents this server sees.
    ListFollowups,
    /// `/followup-done`: open to members at this gate; then only the follow-up's owner or a
    /// responder may close it (`incident_review::may_close_followup`).
    CloseFollowup,
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
    /// `/dashboard`: a link to the web dashboard signed for this server and this person.
    OpenDashboard,
    /// `/incident declare` (an incident no alert saw) and `/incident resolve` (closing it).
    DeclareIncident,
    /// An incident's retro prompt: **Write the retro** and **Add a follow-up**, and their forms.
    ReviewIncident,
    /// A check-in's **Rolled back** confirmed: the deploy's status becomes `rolled_back`
    /// (anyone else's press is only a vote, `GiveFeedback`).
    MarkRolledBack,
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
            | GiveFeedback | VoteAlert | LinkOwnDeployerName | OpenDashboard | ListFollowups
            | CloseFollowup => Need::Member,
            Subscribe | Unsubscribe | TakeDeployerName => Need::ManageServer,
            Acknowledge | Silence | JudgeCause | RequestCheckin | MarkRolledBack
            | DeclareIncident | ReviewIncident => Need::Responder,
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

/// How long a dashboard link from `/dashboard` opens the dashboard.
pub const DASHBOARD_LINK_HOURS: i64 = 12;

/// What a signed dashboard link grants: the view of one server, given to one person, until
/// `expires` (whole seconds, as the link carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub guild: u64,
    pub user: u64,
    pub expires: DateTime<Utc>,
}

impl Grant {
    /// The grant `/dashboard` hands to `user` in `guild` at `now`.
    pub fn issue(guild: u64, user: u64, now: DateTime<Utc>) -> Self {
        let expires = now + chrono::Duration::hours(DASHBOARD_LINK_HOURS);
        Self {
            guild,
            user,
            expires: DateTime::from_timestamp(expires.timestamp(), 0).unwrap_or(expires),
        }
    }

    /// The exact text the signature covers: versioned, every field, unambiguous separators.
    pub fn signed_text(&self) -> String {
        format!(
            "loopbot-dashboard-v1\n{}\n{}\n{}",
            self.guild,
            self.user,
            self.expires.timestamp()
        )
    }
}

/// What a request to the web dashboard presented, once the HTTP adapter checked the
/// cryptography (the token compared in constant time, the link's HMAC verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebCredential {
    None,
    /// `Authorization: Bearer <token>`; `valid` when it is `LOOPBOT_API_TOKEN`.
    ApiToken {
        valid: bool,
    },
    /// A link's grant; `signed` when its signature is the bot's for exactly this grant.
    Link {
        grant: Grant,
        signed: bool,
    },
    /// Link parameters that do not even parse (a hand-edited or cut link).
    Malformed,
}

/// Why the dashboard refused a request; `status` is the HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRefusal {
    /// Neither a link nor a token: who is asking is unknown (401).
    NoCredential,
    BadToken,
    /// Changed, cut or signed with another key (403).
    Forged,
    Expired,
    /// The link's server is no longer served (`LOOPBOT_GUILD_IDS` changed).
    OtherServer,
}

impl WebRefusal {
    pub fn status(self) -> u16 {
        match self {
            WebRefusal::NoCredential | WebRefusal::BadToken => 401,
            WebRefusal::Forged | WebRefusal::Expired | WebRefusal::OtherServer => 403,
        }
    }
}

impl fmt::Display for WebRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WebRefusal::NoCredential => {
                "This page needs a link from Discord: type /dashboard in your server's channel."
            }
            WebRefusal::BadToken => "The API token is not the bot's.",
            WebRefusal::Forged => {
                "This link was changed or was not made by this bot: type /dashboard in Discord for a new one."
            }
            WebRefusal::Expired => {
                "This link has expired (links last 12 hours): type /dashboard in Discord for a new one."
            }
            WebRefusal::OtherServer => "loopbot no longer serves this server.",
        })
    }
}

/// Who reads the web dashboard: the operator with the API token (everything), a person with a
/// signed, unexpired link of a served server (that server's view). Nothing else opens it.
pub fn decide_web(
    policy: &Policy,
    credential: WebCredential,
    now: DateTime<Utc>,
) -> Result<Reader, WebRefusal> {
    match credential {
        WebCredential::None => Err(WebRefusal::NoCredential),
        WebCredential::ApiToken { valid: true } => Ok(Reader::Operator),
        WebCredential::ApiToken { valid: false } => Err(WebRefusal::BadToken),
        WebCredential::Malformed | WebCredential::Link { signed: false, .. } => {
            Err(WebRefusal::Forged)
        }
        WebCredential::Link { grant, .. } if now >= grant.expires => Err(WebRefusal::Expired),
        WebCredential::Link { grant, .. } if !policy.serves(grant.guild) => {
            Err(WebRefusal::OtherServer)
        }
        WebCredential::Link { grant, .. } => Ok(Reader::Server(GuildId(grant.guild))),
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
