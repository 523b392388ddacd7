//! Who reads what: the one rule deciding what `/summary`, `/metrics`, `/alerts`,
//! `/feedback-summary` and the release suggestions may show (the SQL that applies it is
//! `store/visibility.rs`; docs/security.md has it in a table).
//!
//! A Discord server reads a subject (a deploy, an alert group with its alerts and incident, a
//! check-in) when
//! - one of its channels was sent it: the bot's message about it is, or is queued to be, there
//!   (a check-in asked there counts for its deploy); or
//! - one of its channels subscribes (any kind) to a service and environment the subject has:
//!   a subscription is an admin's deliberate choice to follow that scope, history included.
//!
//! Feedback (votes, comments) belongs to where it was given: a server reads only what was given
//! in its own channels, never another server's comments about the same release. Nothing is read
//! outside a server (a DM), and the operator (HTTP API and CLI, behind the API token) reads
//! everything.

use super::GuildId;

/// Who is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The operator: the HTTP API and the CLI, behind the API token.
    Operator,
    /// Members of one Discord server, in one of its channels.
    Server(GuildId),
}

impl Reader {
    /// The reader of an interaction: its server; None in a DM, where nothing is shown.
    pub fn of_interaction(guild: Option<GuildId>) -> Option<Reader> {
        guild.map(Reader::Server)
    }
}
