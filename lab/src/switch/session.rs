//! Signaling connections: `listen` and token checks, registration, heartbeats, the frame log.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use offhook_core::token::{self, Claims};
use serde_json::{Value, json};

use super::{ConnId, Now, Output, Switch};
use crate::config::ConnectedForm;
use crate::control::types::{ConnectionInfo, FrameRecord};
use crate::frames::{self, ClientMessage, FrameError};

/// Frames kept per connection for the control API.
const FRAME_LOG: usize = 200;
const FRAME_LOG_TEXT: usize = 8 * 1024;

/// A client's accepted token.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub identity: String,
    pub claims: Claims,
    /// Set once `exp` has passed on a live connection.
    pub expired: bool,
}

impl Session {
    pub fn allows_incoming(&self) -> bool {
        self.claims
            .grants
            .voice
            .as_ref()
            .is_some_and(|v| v.allows_incoming())
    }

    pub fn outgoing_app(&self) -> Option<&str> {
        self.claims
            .grants
            .voice
            .as_ref()
            .and_then(|v| v.outgoing_app())
    }
}

#[derive(Debug)]
pub(super) struct Conn {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub session: Option<Session>,
    pub registered: bool,
    pub reconnect_timeout: Duration,
    pub next_heartbeat: Instant,
    pub heartbeats_stopped: bool,
    pub opened_unix_ms: u64,
    pub closed_unix_ms: Option<u64>,
    /// The upgrade request's `User-Agent`.
    pub user_agent: Option<String>,
    /// `browserinfo` of the last `listen`.
    pub browserinfo: Option<Value>,
    /// Monotonic time the token expires, to warn the client once.
    pub expires_at: Option<Instant>,
    pub frames: VecDeque<FrameRecord>,
}

impl Conn {
    pub fn deadline(&self) -> Option<Instant> {
        if self.closed_unix_ms.is_some() {
            return None;
        }
        let heartbeat = (!self.heartbeats_stopped).then_some(self.next_heartbeat);
        let expiry = self
            .expires_at
            .filter(|_| self.session.as_ref().is_some_and(|s| !s.expired));
        [heartbeat, expiry].into_iter().flatten().min()
    }

    pub fn identity(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.identity.as_str())
    }

    fn log(&mut self, direction: &str, text: &str, now: Now) {
        let kind = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "invalid".to_string());
        let mut text = text.to_string();
        if text.len() > FRAME_LOG_TEXT {
            let mut cut = FRAME_LOG_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        if self.frames.len() >= FRAME_LOG {
            self.frames.pop_front();
        }
        self.frames.push_back(FrameRecord {
            direction: direction.into(),
            unix_ms: now.unix_ms,
            kind,
            text,
        });
    }

    pub fn log_out(&mut self, text: &str, now: Now) {
        if text != frames::HEARTBEAT {
            self.log("out", text, now);
        }
    }

    pub fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id,
            peer: self.peer.to_string(),
            identity: self.identity().map(str::to_string),
            registered: self.registered,
            reconnect_timeout_secs: self.reconnect_timeout.as_secs(),
            heartbeats_stopped: self.heartbeats_stopped,
            opened_unix_ms: self.opened_unix_ms,
            closed_unix_ms: self.closed_unix_ms,
            user_agent: self.user_agent.clone(),
            browserinfo: self.browserinfo.clone(),
            frames: self.frames.iter().cloned().collect(),
        }
    }
}

/// Twilio's wording for each token refusal.
fn token_error_message(e: &token::TokenError) -> String {
    match e {
        token::TokenError::BadSignature => "JWT signature validation failed".into(),
        token::TokenError::Expired => "JWT token expired".into(),
        token::TokenError::LifetimeTooLong => "JWT token expiration too long".into(),
        token::TokenError::NotYetValid => "Invalid JWT token: not yet valid (nbf)".into(),
        token::TokenError::Malformed(why) => format!("Invalid JWT token: {why}"),
    }
}

/// Client names may not hold control characters, spaces, delimiters or "unwise" characters.
fn valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>#%\"{}|\\^[]`".contains(c))
}

impl Switch {
    pub(super) fn conn_opened(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        user_agent: Option<String>,
        now: Now,
    ) {
        let c = Conn {
            id: conn,
            peer,
            session: None,
            registered: false,
            reconnect_timeout: Duration::ZERO,
            next_heartbeat: now.at + self.cfg.heartbeat_interval,
            heartbeats_stopped: false,
            opened_unix_ms: now.unix_ms,
            closed_unix_ms: None,
            user_agent,
            browserinfo: None,
            expires_at: None,
            frames: VecDeque::new(),
        };
        self.conns.insert(conn, c);
        self.prune_conns();
    }

    fn prune_conns(&mut self) {
        let closed: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.closed_unix_ms.is_some())
            .map(|c| c.id)
            .collect();
        if closed.len() > super::KEEP_ENDED {
            for id in closed.iter().take(closed.len() - super::KEEP_ENDED) {
                self.conns.remove(id);
            }
        }
    }

    pub(super) fn conn_closed(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed_unix_ms.is_some() {
            return;
        }
        c.closed_unix_ms = Some(now.unix_ms);
        c.registered = false;
        let reconnect_timeout = c.reconnect_timeout;
        self.client_socket_lost(conn, reconnect_timeout, now);
    }

    /// Closes a connection from the lab's side.
    pub(super) fn close_conn(&mut self, conn: ConnId, close_frame: bool, now: Now) {
        if self
            .conns
            .get(&conn)
            .is_none_or(|c| c.closed_unix_ms.is_some())
        {
            return;
        }
        if close_frame {
            self.send(conn, frames::server_frame("close", json!({})), now);
        }
        self.emit(Output::Close { conn, close_frame });
        self.conn_closed(conn, now);
    }

    pub(super) fn frame(&mut self, conn: ConnId, text: &str, now: Now) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed_unix_ms.is_some() {
            return;
        }
        if text != frames::HEARTBEAT {
            c.log("in", text, now);
        }
        match frames::parse_client_frame(text) {
            Ok(ClientMessage::Heartbeat) => {}
            Ok(ClientMessage::Listen {
                token,
                reconnect_timeout_secs,
                browserinfo,
            }) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.browserinfo = browserinfo;
                }
                self.listen(conn, &token, reconnect_timeout_secs, now)
            }
            Ok(ClientMessage::Register { audio }) => self.register(conn, audio, now),
            Ok(message) => self.call_frame(conn, message, now),
            Err(e) => self.refuse_frame(conn, e, now),
        }
    }

    fn refuse_frame(&mut self, conn: ConnId, e: FrameError, now: Now) {
        let text = match &e {
            FrameError::TooLarge(_) => frames::error_frame(31103, &e.to_string(), None, None),
            _ => frames::error_frame(
                31100,
                &format!("The request had malformed syntax: {e}"),
                None,
                None,
            ),
        };
        self.send(conn, text, now);
    }

    fn listen(&mut self, conn: ConnId, jwt: &str, reconnect_timeout_secs: u64, now: Now) {
        if let Some(injected) = self.faults.next_listen.take() {
            let mut payload =
                json!({ "error": { "code": injected.code, "message": injected.message } });
            if let Some(after) = injected.retry_after {
                payload["error"]["retryAfter"] = json!(after);
            }
            self.send(conn, frames::server_frame("error", payload), now);
            if injected.close {
                self.close_conn(conn, true, now);
            }
            return;
        }
        if let Some(refusal) = self.faults.refuse_listen.clone() {
            if let Some(code) = refusal.code {
                let message = refusal.message.as_deref().unwrap_or("Injected error");
                self.send(conn, frames::error_frame(code, message, None, None), now);
            }
            self.close_conn(conn, refusal.close_frame, now);
            return;
        }
        let creds = &self.cfg.credentials;
        let token_now = self.token_clock(now);
        let verified = token::verify(jwt, token_now, |iss| {
            (iss == creds.api_key_sid).then(|| creds.api_key_secret.clone())
        });
        let refusal = match &verified {
            Err(e) => Some((e.twilio_code(), token_error_message(e))),
            Ok(claims) if claims.sub != creds.account_sid => Some((
                31203,
                "No valid account: the token's sub is not this account".into(),
            )),
            Ok(claims) => match claims.identity() {
                None => Some((
                    31204,
                    "Invalid JWT token: grants.identity is missing".into(),
                )),
                Some(id) if !valid_client_name(id) => Some((31105, "Invalid client name".into())),
                Some(_) => None,
            },
        };
        if let Some((code, message)) = refusal {
            self.send(conn, frames::error_frame(code, &message, None, None), now);
            self.close_conn(conn, true, now);
            return;
        }
        let Ok(claims) = verified else { return };
        let identity = claims.identity().unwrap_or_default().to_string();
        let ttl = claims.exp.saturating_sub(token_now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // A token update may not switch identity under live registrations; Twilio treats the
        // new token as authoritative, and so does the lab.
        c.session = Some(Session {
            identity: identity.clone(),
            claims,
            expired: false,
        });
        c.reconnect_timeout = Duration::from_secs(reconnect_timeout_secs);
        c.expires_at = Some(now.at + Duration::from_secs(ttl));
        let payload = match self.cfg.connected_form {
            ConnectedForm::Full => json!({
                "region": self.cfg.region,
                "gateway": self.cfg.gateway,
                "edge": self.cfg.edge,
                "home": self.cfg.home,
                "token": { "identity": identity, "ttl": ttl },
            }),
            // The seed capture's `connected`: where, and nothing about the token.
            ConnectedForm::Seed => {
                frames::seed_connected_payload(&self.cfg.region, &self.cfg.gateway)
            }
        };
        self.send(conn, frames::server_frame("connected", payload), now);
    }

    fn register(&mut self, conn: ConnId, audio: bool, now: Now) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let reply = match &c.session {
            // A register before the token is accepted earns 31204 (device.ts comment).
            None => frames::error_frame(
                31204,
                "Invalid JWT token: register before listen",
                None,
                None,
            ),
            Some(s) if s.expired => frames::error_frame(31205, "JWT token expired", None, None),
            Some(s) if audio && !s.allows_incoming() => {
                c.registered = false;
                let text = frames::error_frame(
                    31201,
                    "Authorization error: the token has no incoming voice grant",
                    None,
                    None,
                );
                self.send(conn, text, now);
                frames::server_frame("offline", json!({}))
            }
            Some(_) if audio => {
                c.registered = true;
                frames::server_frame("ready", json!({}))
            }
            Some(_) => {
                c.registered = false;
                frames::server_frame("offline", json!({}))
            }
        };
        self.send(conn, reply, now);
    }

    pub(super) fn conn_timers(&mut self, conn: ConnId, now: Now) {
        let interval = self.cfg.heartbeat_interval;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed_unix_ms.is_some() {
            return;
        }
        let mut heartbeat = false;
        if !c.heartbeats_stopped && c.next_heartbeat <= now.at {
            c.next_heartbeat = now.at + interval;
            heartbeat = true;
        }
        let mut expired = false;
        if let (Some(at), Some(s)) = (c.expires_at, c.session.as_mut())
            && at <= now.at
            && !s.expired
        {
            s.expired = true;
            c.registered = false;
            expired = true;
        }
        if heartbeat {
            self.emit(Output::Send {
                conn,
                text: frames::HEARTBEAT.to_string(),
            });
        }
        if expired {
            self.send(
                conn,
                frames::error_frame(31205, "JWT token expired", None, None),
                now,
            );
        }
    }

    /// Live, registered connections of `identity` whose token allows incoming calls.
    pub(super) fn registered_conns(&self, identity: &str) -> Vec<ConnId> {
        self.conns
            .values()
            .filter(|c| {
                c.closed_unix_ms.is_none()
                    && c.registered
                    && c.session.as_ref().is_some_and(|s| {
                        s.identity == identity && !s.expired && s.allows_incoming()
                    })
            })
            .map(|c| c.id)
            .collect()
    }

    /// Identities with at least one live registration, in a stable order.
    pub(super) fn registered_identities(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .conns
            .values()
            .filter(|c| c.closed_unix_ms.is_none() && c.registered)
            .filter_map(|c| c.identity().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Connections matching a control-API selector (live ones only).
    pub(super) fn select_conns(&self, identity: Option<&str>, id: Option<ConnId>) -> Vec<ConnId> {
        self.conns
            .values()
            .filter(|c| c.closed_unix_ms.is_none())
            .filter(|c| id.is_none_or(|id| c.id == id))
            .filter(|c| identity.is_none_or(|i| c.identity() == Some(i)))
            .map(|c| c.id)
            .collect()
    }
}
