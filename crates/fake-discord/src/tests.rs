//! The fake's JSON checked against serenity's models, and its body parsing.

use axum::http::Method;
use serde_json::json;
use serenity::model::prelude as m;

use crate::body::{parse_multipart, percent_decode, Upload};
use crate::json::*;
use crate::rest::Request;
use crate::state::State;
use crate::*;

fn state() -> State {
    State::new("ws://127.0.0.1:9/gateway".into())
}

#[test]
fn gateway_payloads_parse_with_serenity() {
    let mut state = state();
    for id in GUILDS {
        let guild = guild_create_json(&state, id);
        check_dispatch("GUILD_CREATE", &guild).unwrap();
        check_as::<serenity::model::event::GuildCreateEvent>(&guild).unwrap();
    }

    let id = state.snowflake();
    let data = json!({ "id": "1", "name": "status", "type": 1, "options": [
        { "name": "who", "type": 6, "value": PLAIN_USER_ID.to_string() },
        { "name": "kind", "type": 3, "value": "deploys" },
    ]});
    let mut with_resolved = data.clone();
    with_resolved["resolved"] = resolve_options(&state, Some(GUILD_ID), &data["options"]);
    let slash = interaction_json(
        &state,
        Some(GUILD_ID),
        id,
        2,
        CHANNEL_ID,
        ADMIN_USER_ID,
        with_resolved,
        None,
    );
    check_dispatch("INTERACTION_CREATE", &slash).unwrap();
    let parsed: m::Interaction = serde_json::from_value(slash).unwrap();
    let command = parsed.command().expect("slash command");
    assert!(command.member.unwrap().permissions.unwrap().manage_guild());
    assert_eq!(command.data.resolved.users.len(), 1);

    let message = message_json(
        &state,
        7,
        CHANNEL_ID,
        user_json(PLAIN_USER_ID),
        &json!({ "content": "hi <@1>" }),
        Vec::new(),
    );
    check_dispatch("MESSAGE_CREATE", &message).unwrap();
    let button = interaction_json(
        &state,
        Some(GUILD_ID),
        id + 1,
        3,
        CHANNEL_ID,
        PLAIN_USER_ID,
        json!({ "custom_id": "ack", "component_type": 2 }),
        Some(message),
    );
    check_dispatch("INTERACTION_CREATE", &button).unwrap();
}

#[test]
fn rest_payloads_parse_with_serenity() {
    let mut state = state();
    check_as::<m::CurrentApplicationInfo>(&application_json()).unwrap();
    check_as::<m::CurrentUser>(&user_json(BOT_USER_ID)).unwrap();
    check_as::<m::Member>(&member_json(&state, GUILD_ID, ADMIN_USER_ID)).unwrap();
    check_as::<m::PartialGuild>(&guild_create_json(&state, GUILD_ID)).unwrap();
    check_as::<m::GuildChannel>(&state.channels[&CHANNEL_ID]).unwrap();

    let command = command_json(
        1,
        2,
        Some(GUILD_ID),
        &json!({ "name": "status", "description": "d", "options": [
            { "type": 3, "name": "kind", "description": "k", "required": false },
        ]}),
    );
    check_as::<Vec<m::Command>>(&json!([command])).unwrap();

    let id = state.snowflake();
    let body = json!({
        "content": "hello",
        "embeds": [{ "title": "t", "color": 3066993, "fields": [{ "name": "a", "value": "b", "inline": true }] }],
        "nonce": "abc",
        "enforce_nonce": true,
        "allowed_mentions": { "parse": [] },
    });
    let uploads = [Upload {
        field: "files[0]".into(),
        filename: "log.txt".into(),
        size: 3,
        content_type: Some("text/plain".into()),
        bytes: b"abc".to_vec(),
    }];
    let attachments = state.attachments(&uploads);
    let message = message_json(
        &state,
        id,
        CHANNEL_ID,
        user_json(BOT_USER_ID),
        &body,
        attachments,
    );
    state.store(id, CHANNEL_ID, true, message);
    let stored = state.messages.get_mut(&id).unwrap();
    stored.add_reaction(&parse_emoji("✅"), BOT_USER_ID);
    stored.add_reaction(&parse_emoji("blob:123"), PLAIN_USER_ID);
    check_as::<m::Message>(&stored.render()).unwrap();

    let thread = state.create_thread(
        &Request {
            method: &Method::POST,
            segments: &[],
            query: None,
            body: &json!({ "name": "t" }),
            uploads: &[],
        },
        &CHANNEL_ID.to_string(),
        Some(&id.to_string()),
    );
    let thread = thread.body.unwrap();
    check_as::<m::GuildChannel>(&thread).unwrap();
    check_as::<m::Message>(&state.messages[&id].render()).unwrap();
    let reply = message_json(
        &state,
        id + 1,
        CHANNEL_ID,
        user_json(PLAIN_USER_ID),
        &json!({ "content": "re", "message_reference": { "message_id": id.to_string() } }),
        Vec::new(),
    );
    check_as::<m::Message>(&reply).unwrap();
}

#[test]
fn reactions_parse_with_serenity() {
    let state = state();
    let add = json!({
        "user_id": PLAIN_USER_ID.to_string(), "channel_id": CHANNEL_ID.to_string(), "message_id": "5",
        "guild_id": GUILD_ID.to_string(), "member": member_json(&state, GUILD_ID, PLAIN_USER_ID), "emoji": parse_emoji("👍"),
        "burst": false, "burst_colors": [], "type": 0, "message_author_id": BOT_USER_ID.to_string(),
    });
    check_dispatch("MESSAGE_REACTION_ADD", &add).unwrap();
    let remove = json!({
        "user_id": PLAIN_USER_ID.to_string(), "channel_id": CHANNEL_ID.to_string(), "message_id": "5",
        "guild_id": GUILD_ID.to_string(), "emoji": parse_emoji("<:blob:42>"), "burst": false, "type": 0,
    });
    check_dispatch("MESSAGE_REACTION_REMOVE", &remove).unwrap();
    assert_eq!(parse_emoji("<a:party:9>")["animated"], true);
}

#[test]
fn interactions_come_from_the_channel_guild_or_a_dm() {
    let mut state = state();
    assert_eq!(state.guild_of(CHANNEL_ID), Some(GUILD_ID));
    assert_eq!(state.guild_of(OTHER_GUILD_CHANNEL_ID), Some(OTHER_GUILD_ID));
    assert_eq!(state.guild_of(DM_CHANNEL_ID), None);
    check_as::<m::Channel>(&state.channels[&DM_CHANNEL_ID]).unwrap();

    let data = json!({ "id": "1", "name": "status", "type": 1, "options": [] });
    let dm = interaction_json(&state, None, 5, 2, DM_CHANNEL_ID, PLAIN_USER_ID, data, None);
    check_dispatch("INTERACTION_CREATE", &dm).unwrap();
    let parsed: m::Interaction = serde_json::from_value(dm).unwrap();
    let command = parsed.command().expect("slash command");
    assert!(command.guild_id.is_none() && command.member.is_none());
    assert_eq!(command.user.id.get(), PLAIN_USER_ID);

    state.members.insert(
        (OTHER_GUILD_ID, PLAIN_USER_ID),
        crate::state::MemberSpec {
            roles: vec![OTHER_GUILD_ADMIN_ROLE_ID],
            permissions: PLAIN_PERMISSIONS | MANAGE_MESSAGES,
        },
    );
    let message = message_json(
        &state,
        7,
        OTHER_GUILD_CHANNEL_ID,
        user_json(BOT_USER_ID),
        &json!({ "content": "hi" }),
        Vec::new(),
    );
    assert_eq!(message["guild_id"], OTHER_GUILD_ID.to_string());
    let button = interaction_json(
        &state,
        Some(OTHER_GUILD_ID),
        6,
        3,
        OTHER_GUILD_CHANNEL_ID,
        PLAIN_USER_ID,
        json!({ "custom_id": "ack", "component_type": 2 }),
        Some(message),
    );
    let parsed: m::Interaction = serde_json::from_value(button).unwrap();
    let component = parsed.message_component().expect("component");
    let member = component.member.expect("member");
    assert_eq!(component.guild_id.map(|g| g.get()), Some(OTHER_GUILD_ID));
    assert_eq!(member.roles[0].get(), OTHER_GUILD_ADMIN_ROLE_ID);
    assert!(member.permissions.unwrap().manage_messages());
    // Defaults: the responder has the role and nothing more.
    assert_eq!(
        state.member_roles(GUILD_ID, RESPONDER_USER_ID),
        vec![RESPONDER_ROLE_ID]
    );
    assert_eq!(
        state.permissions_in(GUILD_ID, RESPONDER_USER_ID),
        PLAIN_PERMISSIONS
    );
}

#[test]
fn leaving_a_guild_is_remembered_and_unknown_guilds_refused() {
    let mut state = state();
    assert_eq!(state.leave_guild(&OTHER_GUILD_ID.to_string()).status, 404);
    state.bot_guilds.insert(OTHER_GUILD_ID);
    assert_eq!(state.leave_guild(&OTHER_GUILD_ID.to_string()).status, 204);
    assert_eq!(state.guilds_left, vec![OTHER_GUILD_ID]);
    assert!(!state.bot_guilds.contains(&OTHER_GUILD_ID));
    check_dispatch(
        "GUILD_DELETE",
        &json!({ "id": OTHER_GUILD_ID.to_string(), "unavailable": false }),
    )
    .unwrap();
}

#[test]
fn unknown_events_are_reported() {
    assert!(check_dispatch("MESSAGE_CREATE", &json!({ "id": "1" })).is_err());
    assert!(check_dispatch("NOT_A_REAL_EVENT", &json!({})).is_err());
}

#[test]
fn multipart_bodies_are_parsed() {
    let body = b"--XX\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XX--\r\n";
    let (payload, uploads) = parse_multipart(body, "XX");
    assert_eq!(payload["content"], "hi");
    assert_eq!(payload["_files"], json!(["a.txt"]));
    assert_eq!(uploads[0].size, 3);
    assert_eq!(percent_decode("%E2%9C%85"), "✅");
}
