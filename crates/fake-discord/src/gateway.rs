//! The gateway websocket: HELLO, heartbeats, IDENTIFY (READY + GUILD_CREATE), RESUME with
//! replay of missed dispatches, and closes injected by tests.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxumState;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::guilds::ready_guilds;
use crate::json::{check_dispatch, guild_create_json};
use crate::{FakeDiscord, APP_ID, BOT_USER_ID};

#[derive(Default)]
pub(crate) struct Gateway {
    pub(crate) heartbeat_ms: u64,
    pub(crate) next_conn: u64,
    pub(crate) next_session: u64,
    pub(crate) conns: HashMap<u64, mpsc::UnboundedSender<Outgoing>>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) connections_seen: usize,
    pub(crate) identifies: Vec<Value>,
    pub(crate) resumes: usize,
}

pub(crate) struct Session {
    pub(crate) seq: u64,
    pub(crate) conn: Option<u64>,
    pub(crate) resumable: bool,
    /// Every dispatch of the session, so a RESUME can replay what the client missed.
    pub(crate) log: Vec<(u64, String)>,
}

pub(crate) enum Outgoing {
    Text(String),
    Close(u16),
}

impl FakeDiscord {
    /// Sends a dispatch to every live gateway session. Panics if serenity would not parse it as a
    /// known event; use `send_dispatch_unchecked` to send deliberately unknown events.
    pub async fn send_dispatch(&self, event: &str, d: Value) {
        self.dispatch_checked(event, d);
    }

    /// Like `send_dispatch` without the serenity parse check.
    pub async fn send_dispatch_unchecked(&self, event: &str, d: Value) {
        self.lock().dispatch(event, d);
        self.changed();
    }

    /// Closes every gateway connection with `code`. Codes Discord treats as fatal or
    /// session-ending (4004, 4007, 4009, 4010-4014, 1000, 1001) also invalidate the session, so
    /// a RESUME afterwards gets INVALID_SESSION. Waits (up to 2 s) until the sockets are gone.
    pub async fn close_gateway(&self, code: u16) {
        let resumable = !matches!(code, 1000 | 1001 | 4004 | 4007 | 4009 | 4010..=4014);
        let closed: Vec<u64> = {
            let mut state = self.lock();
            let gateway = &mut state.gateway;
            for tx in gateway.conns.values() {
                let _ = tx.send(Outgoing::Close(code));
            }
            for session in gateway.sessions.values_mut() {
                if session.conn.is_some() {
                    session.resumable = resumable;
                }
            }
            gateway.conns.keys().copied().collect()
        };
        // Only the closed sockets: the client may already have reconnected on a new one.
        self.wait_for(Duration::from_secs(2), |fake| {
            let state = fake.lock();
            closed
                .iter()
                .all(|conn| !state.gateway.conns.contains_key(conn))
        })
        .await;
    }

    pub(crate) fn dispatch_checked(&self, event: &str, d: Value) {
        if let Err(err) = check_dispatch(event, &d) {
            panic!("fake Discord built a {event} dispatch serenity cannot parse: {err}\n{d:#}");
        }
        self.lock().dispatch(event, d);
        self.changed();
    }

    pub(crate) async fn run_gateway(self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (conn, heartbeat_ms) = {
            let mut state = self.lock();
            let gateway = &mut state.gateway;
            gateway.next_conn += 1;
            gateway.connections_seen += 1;
            gateway.conns.insert(gateway.next_conn, tx.clone());
            (gateway.next_conn, gateway.heartbeat_ms)
        };

        // One writer per socket, so dispatches queued under the state lock keep their order.
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let result = match out {
                    Outgoing::Text(text) => sink.send(WsMessage::Text(text.into())).await,
                    Outgoing::Close(code) => {
                        let frame = CloseFrame {
                            code,
                            reason: "closed by fake Discord".into(),
                        };
                        let _ = sink.send(WsMessage::Close(Some(frame))).await;
                        break;
                    }
                };
                if result.is_err() {
                    break;
                }
            }
        });

        let hello =
            json!({ "op": 10, "s": null, "t": null, "d": { "heartbeat_interval": heartbeat_ms } });
        let _ = tx.send(Outgoing::Text(hello.to_string()));

        while let Some(Ok(message)) = stream.next().await {
            let text = match message {
                WsMessage::Text(text) => text.to_string(),
                WsMessage::Close(_) => break,
                _ => continue,
            };
            let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                // Discord closes with 4002 (decode error) on garbage.
                let _ = tx.send(Outgoing::Close(4002));
                break;
            };
            match payload["op"].as_u64() {
                Some(1) => {
                    let _ = tx.send(Outgoing::Text(json!({ "op": 11 }).to_string()));
                }
                Some(2) => self.identify(conn, &payload["d"]),
                Some(6) => self.resume(conn, &tx, &payload["d"]),
                // Presence updates, voice state, member requests: nothing to answer.
                _ => {}
            }
        }

        {
            let mut state = self.lock();
            state.gateway.conns.remove(&conn);
            for session in state.gateway.sessions.values_mut() {
                if session.conn == Some(conn) {
                    session.conn = None;
                }
            }
        }
        writer.abort();
    }

    pub(crate) fn identify(&self, conn: u64, d: &Value) {
        let mut state = self.lock();
        state.gateway.next_session += 1;
        let session_id = format!("fake-session-{}", state.gateway.next_session);
        let mut ready = json!({
            "v": 10,
            "user": {
                "id": BOT_USER_ID.to_string(),
                "username": "loopbot",
                "discriminator": "0",
                "global_name": null,
                "avatar": null,
                "bot": true,
                "verified": true,
                "mfa_enabled": false,
                "flags": 0,
                "email": null,
            },
            "guilds": ready_guilds(&state),
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url(),
            "application": { "id": APP_ID.to_string(), "flags": 0 },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        });
        if d["shard"].is_array() {
            ready["shard"] = d["shard"].clone();
        }
        let mut dispatches = vec![("READY", ready)];
        for guild in state.bot_guilds.iter() {
            dispatches.push(("GUILD_CREATE", guild_create_json(&state, *guild)));
        }
        for (event, payload) in &dispatches {
            if let Err(err) = check_dispatch(event, payload) {
                panic!("fake Discord built a {event} dispatch serenity cannot parse: {err}");
            }
        }

        let gateway = &mut state.gateway;
        // One bot per fake: a fresh IDENTIFY means older, disconnected sessions are abandoned.
        gateway.sessions.retain(|_, s| s.conn.is_some());
        gateway.sessions.insert(
            session_id.clone(),
            Session {
                seq: 0,
                conn: Some(conn),
                resumable: true,
                log: Vec::new(),
            },
        );
        for (event, payload) in &dispatches {
            gateway.send_to_session(&session_id, event, payload);
        }
        let mut identify = d.clone();
        if let Some(identify) = identify.as_object_mut() {
            identify.remove("properties");
        }
        gateway.identifies.push(identify);
    }

    pub(crate) fn resume(&self, conn: u64, tx: &mpsc::UnboundedSender<Outgoing>, d: &Value) {
        let session_id = d["session_id"].as_str().unwrap_or_default().to_string();
        let last_seq = d["seq"].as_u64().unwrap_or(0);
        let mut state = self.lock();
        let gateway = &mut state.gateway;
        let Some(session) = gateway
            .sessions
            .get_mut(&session_id)
            .filter(|s| s.resumable)
        else {
            // d: false tells the client to IDENTIFY afresh.
            let _ = tx.send(Outgoing::Text(json!({ "op": 9, "d": false }).to_string()));
            return;
        };
        session.conn = Some(conn);
        for (_, frame) in session.log.iter().filter(|(seq, _)| *seq > last_seq) {
            let _ = tx.send(Outgoing::Text(frame.clone()));
        }
        gateway.send_to_session(&session_id, "RESUMED", &json!({ "_trace": [] }));
        gateway.resumes += 1;
    }
}

impl Gateway {
    /// Sends one dispatch with the session's next sequence number, logging it for RESUME replay.
    pub(crate) fn send_to_session(&mut self, session_id: &str, event: &str, d: &Value) {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        session.seq += 1;
        let frame = json!({ "op": 0, "s": session.seq, "t": event, "d": d }).to_string();
        session.log.push((session.seq, frame.clone()));
        if let Some(tx) = session.conn.and_then(|conn| self.conns.get(&conn)) {
            // A closed socket is fine: the frame stays in the log for RESUME.
            let _ = tx.send(Outgoing::Text(frame));
        }
    }
}

pub(crate) async fn upgrade(
    AxumState(fake): AxumState<FakeDiscord>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| fake.run_gateway(socket))
}
