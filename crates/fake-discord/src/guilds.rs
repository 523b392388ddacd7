//! Which guilds the bot is in (and leaving one), members with roles and permissions a test
//! chose, and where a channel's events come from (its guild, or none for a DM).

use serde_json::{json, Value};

use crate::json::{default_permissions, default_roles, guild_create_json, parse_id};
use crate::rest::Reply;
use crate::state::{MemberSpec, State};
use crate::{FakeDiscord, GUILDS, GUILD_ID};

impl FakeDiscord {
    /// The bot joins `guild` (one of [`GUILDS`]): GUILD_CREATE is dispatched now, and READY and
    /// GUILD_CREATE after any later IDENTIFY include it.
    pub async fn add_bot_to_guild(&self, guild: u64) {
        let d = {
            let mut state = self.lock();
            state.bot_guilds.insert(guild);
            guild_create_json(&state, guild)
        };
        self.dispatch_checked("GUILD_CREATE", d);
    }

    /// Dispatches GUILD_CREATE for `guild` without changing whether the bot is in it (e.g. the
    /// same guild again after an outage).
    pub async fn send_guild_create(&self, guild: u64) {
        let d = guild_create_json(&self.lock(), guild);
        self.dispatch_checked("GUILD_CREATE", d);
    }

    /// Guilds the bot is a member of now.
    pub fn bot_guilds(&self) -> Vec<u64> {
        self.lock().bot_guilds.iter().copied().collect()
    }

    /// Guilds the bot left (`DELETE /users/@me/guilds/{id}` answered 204), in order.
    pub fn guilds_left(&self) -> Vec<u64> {
        self.lock().guilds_left.clone()
    }

    /// From now on `user` has exactly these roles in `guild`, and these (channel-resolved)
    /// permissions in interactions there (Discord's permission bits, e.g. [`crate::MANAGE_GUILD`]).
    pub fn set_member(&self, guild: u64, user: u64, roles: &[u64], permissions: u64) {
        let spec = MemberSpec {
            roles: roles.to_vec(),
            permissions,
        };
        self.lock().members.insert((guild, user), spec);
    }
}

impl State {
    /// The guild a channel's events come from: None for a DM channel; a channel the fake does
    /// not know counts as GUILD_ID, so tests can act in made-up channels as before.
    pub(crate) fn guild_of(&self, channel: u64) -> Option<u64> {
        match self.channels.get(&channel) {
            Some(known) => known["guild_id"].as_str().and_then(parse_id),
            None => Some(GUILD_ID),
        }
    }

    pub(crate) fn member_roles(&self, guild: u64, user: u64) -> Vec<u64> {
        match self.members.get(&(guild, user)) {
            Some(spec) => spec.roles.clone(),
            None => default_roles(guild, user),
        }
    }

    /// `member.permissions` of `user`'s interactions in `guild`.
    pub(crate) fn permissions_in(&self, guild: u64, user: u64) -> u64 {
        match self.members.get(&(guild, user)) {
            Some(spec) => spec.permissions,
            None => default_permissions(user),
        }
    }

    /// `DELETE /users/@me/guilds/{id}`: the bot leaves; Discord then sends GUILD_DELETE.
    pub(crate) fn leave_guild(&mut self, guild: &str) -> Reply {
        let Some(guild) = parse_id(guild).filter(|g| self.bot_guilds.contains(g)) else {
            return Reply::error(404, 10004, "Unknown Guild");
        };
        self.bot_guilds.remove(&guild);
        self.guilds_left.push(guild);
        self.dispatch(
            "GUILD_DELETE",
            json!({ "id": guild.to_string(), "unavailable": false }),
        );
        Reply::no_content()
    }

    pub(crate) fn known_guild(raw: &str) -> Option<u64> {
        parse_id(raw).filter(|g| GUILDS.contains(g))
    }
}

/// READY's guild list: every guild the bot is in, unavailable until its GUILD_CREATE.
pub(crate) fn ready_guilds(state: &State) -> Vec<Value> {
    state
        .bot_guilds
        .iter()
        .map(|g| json!({ "id": g.to_string(), "unavailable": true }))
        .collect()
}
