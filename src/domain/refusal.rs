//! What the delivery worker does when Discord says no (issue 15). `discord/rest.rs` classifies
//! Discord's answer (status and JSON error code) into a [`Refusal`]; [`decide`] turns it, with the
//! channel's current hold and `now`, into one [`Decision`] the worker carries out.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Discord's refusal of one request, by what it means for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 404 Unknown Message (10008): someone deleted the message.
    UnknownMessage,
    /// 403 Missing Access (50001) or Missing Permissions (50013), 404 Unknown Channel (10003).
    ChannelUnreachable(Unreachable),
    /// 401: the bot token was reset or revoked; nothing will work anywhere until it is replaced.
    TokenRejected,
    /// Any other 4xx: Discord refuses this request itself (a body it will not take).
    Other,
}

/// Why a channel cannot be posted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// 50001: the bot cannot see the channel.
    MissingAccess,
    /// 50013, naming the permission when it is known (the one the refused call needs first).
    MissingPermission(Option<String>),
    /// 10003: the channel was deleted.
    UnknownChannel,
}

impl Unreachable {
    /// The permission missing, when known.
    pub fn missing(&self) -> Option<&str> {
        match self {
            Unreachable::MissingAccess => Some("View Channel"),
            Unreachable::MissingPermission(permission) => permission.as_deref(),
            Unreachable::UnknownChannel => None,
        }
    }

    /// What the channel's warning says after "since …:".
    pub fn describe(&self) -> String {
        match (self, self.missing()) {
            (Unreachable::UnknownChannel, _) => "the channel no longer exists".to_owned(),
            (_, Some(permission)) => format!("missing {permission}"),
            (_, None) => "missing permissions".to_owned(),
        }
    }
}

/// A channel the bot cannot post in: since when, why, and how long until the next try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub since: DateTime<Utc>,
    /// What the warning says, e.g. "missing Send Messages".
    pub reason: String,
    pub missing: Option<String>,
    pub retry_in: Duration,
}

/// How long to wait, how far to back off and when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalPolicy {
    /// First retry of a held channel (1 s), doubling per refusal...
    pub hold_first: Duration,
    /// ...up to this (10 min).
    pub hold_max: Duration,
    /// A channel unreachable this long has its queue dead-lettered (`LOOPBOT_UNREACHABLE_GIVE_UP`).
    pub give_up: Duration,
    /// How often a rejected token is tried again (a minute).
    pub token_retry: Duration,
}

impl Default for RefusalPolicy {
    fn default() -> Self {
        Self {
            hold_first: Duration::from_secs(1),
            hold_max: Duration::from_secs(600),
            give_up: Duration::from_secs(7 * 24 * 3600),
            token_retry: Duration::from_secs(60),
        }
    }
}

/// What to do about one refused delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The message is gone: forget it and post the subject's current state as a new message now.
    Repost,
    /// Hold the channel's queue (rows stay pending, costing no attempt) and try its head again after
    /// `hold.retry_in`. `changed`: the channel was reachable before, or the reason is new (worth a
    /// log line).
    Hold { hold: Hold, changed: bool },
    /// Unreachable for longer than the policy allows: dead-letter every pending row of the channel.
    GiveUp { since: DateTime<Utc> },
    /// The token is rejected: send nothing anywhere, try again after `retry_in`. Nothing is failed.
    Pause { retry_in: Duration },
    /// Dead-letter this delivery, keeping Discord's answer.
    DeadLetter,
}

/// The one rule for a refused delivery. `editing`: the request was an edit of an existing message;
/// `held`: the channel's hold, if it is held already.
pub fn decide(
    refusal: &Refusal,
    editing: bool,
    held: Option<&Hold>,
    now: DateTime<Utc>,
    policy: &RefusalPolicy,
) -> Decision {
    match refusal {
        Refusal::UnknownMessage if editing => Decision::Repost,
        // A post answered "Unknown Message" refers to something else that is gone: not retryable.
        Refusal::UnknownMessage | Refusal::Other => Decision::DeadLetter,
        Refusal::TokenRejected => Decision::Pause {
            retry_in: policy.token_retry,
        },
        Refusal::ChannelUnreachable(why) => {
            let reason = why.describe();
            let missing = why.missing().map(str::to_owned);
            let Some(held) = held else {
                let hold = Hold {
                    since: now,
                    reason,
                    missing,
                    retry_in: policy.hold_first.min(policy.hold_max),
                };
                return Decision::Hold {
                    hold,
                    changed: true,
                };
            };
            let held_for = (now - held.since).to_std().unwrap_or_default();
            if held_for >= policy.give_up {
                return Decision::GiveUp { since: held.since };
            }
            let changed = held.reason != reason;
            let hold = Hold {
                since: held.since,
                reason,
                missing,
                retry_in: held
                    .retry_in
                    .saturating_mul(2)
                    .clamp(policy.hold_first, policy.hold_max),
            };
            Decision::Hold { hold, changed }
        }
    }
}

#[cfg(test)]
#[path = "refusal_tests.rs"]
mod tests;
