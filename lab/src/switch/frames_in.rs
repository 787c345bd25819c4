//! Call frames from clients: `invite`, `answer`, `reject`, `hangup`, `dtmf`, `reinvite`, `message`.

use serde_json::{Value, json};

use super::calls::{Endpoint, LegState};
use super::exec::Notice;
use super::{ConnId, MediaCommand, Now, Switch};
use crate::control::types::{DtmfRecord, MessageRecord};
use crate::frames::{self, ClientMessage, server_frame};
use crate::sid;

/// Twilio's limit on a call message's content.
pub const MAX_MESSAGE_CONTENT: usize = 10 * 1024;

impl Switch {
    pub(super) fn call_frame(&mut self, conn: ConnId, message: ClientMessage, now: Now) {
        let Some(session) = self.conns.get(&conn).and_then(|c| c.session.clone()) else {
            // Call frames before `listen` succeeded: the token is missing.
            self.send(
                conn,
                frames::error_frame(
                    31204,
                    "Invalid JWT token: no accepted listen on this connection",
                    None,
                    None,
                ),
                now,
            );
            return;
        };
        match message {
            ClientMessage::Invite {
                callsid,
                sdp,
                params,
                reconnect: Some(token),
            } => {
                let _ = sdp;
                let _ = params;
                self.reconnect(conn, &session.identity, &callsid, &token, now)
            }
            ClientMessage::Invite {
                callsid,
                sdp,
                params,
                reconnect: None,
            } => {
                if let Some(injected) = self.faults.next_invite.take() {
                    let text =
                        frames::hangup_frame(&callsid, Some((injected.code, &injected.message)));
                    self.send(conn, text, now);
                    return;
                }
                if session.expired {
                    self.send(
                        conn,
                        frames::hangup_frame(&callsid, Some((31205, "JWT token expired"))),
                        now,
                    );
                    return;
                }
                match session.outgoing_app() {
                    None => {
                        let error = (
                            31201,
                            "Authorization error: the token has no outgoing voice grant",
                        );
                        self.send(conn, frames::hangup_frame(&callsid, Some(error)), now);
                    }
                    Some(app) if app != self.cfg.credentials.app_sid => {
                        let error = (
                            31001,
                            "Application Not Found: the token's application_sid is not this account's app",
                        );
                        self.send(conn, frames::hangup_frame(&callsid, Some(error)), now);
                    }
                    Some(_) => {
                        let mut custom = frames::parse_params(&params);
                        // Grant `outgoing.params` are passed on too (Twilio docs).
                        if let Some(grant) = session
                            .claims
                            .grants
                            .voice
                            .as_ref()
                            .and_then(|v| v.outgoing.as_ref())
                        {
                            for (k, v) in grant.params.iter().flatten() {
                                let v = match v {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                if !custom.iter().any(|(ck, _)| ck == k) {
                                    custom.push((k.clone(), v));
                                }
                            }
                        }
                        self.start_outgoing(conn, &session.identity, &callsid, &sdp, custom, now);
                    }
                }
            }
            ClientMessage::Answer { callsid, sdp } => {
                let Some(sid) = self.find_client_leg(conn, &session.identity, &callsid) else {
                    self.send(conn, frames::hangup_frame(&callsid, None), now);
                    return;
                };
                let leg = &self.legs[&sid];
                let pending = !leg.is_parent && leg.state == LegState::Ringing;
                if !pending {
                    if leg.state.is_ended() {
                        self.send(conn, frames::hangup_frame(&callsid, None), now);
                    }
                    return;
                }
                self.media(MediaCommand::AcceptAnswer { leg: sid, sdp });
            }
            ClientMessage::Reject { callsid } => {
                if let Some(sid) = self.find_client_leg(conn, &session.identity, &callsid) {
                    let leg = &self.legs[&sid];
                    if !leg.is_parent && leg.answered_unix_ms.is_none() {
                        if let Some(l) = self.legs.get_mut(&sid) {
                            l.failure_code = Some(31486);
                        }
                        self.end_leg(&sid, LegState::Busy, "rejected", Notice::Silent, now);
                    }
                }
            }
            ClientMessage::Hangup { callsid, message } => {
                let Some(sid) = self.find_client_leg(conn, &session.identity, &callsid) else {
                    return;
                };
                let leg = &self.legs[&sid];
                let reason = match message {
                    Some(m) => format!("client-hangup: {m}"),
                    None => "client-hangup".to_string(),
                };
                if leg.is_parent {
                    let state = if leg.answered_unix_ms.is_some() {
                        LegState::Completed
                    } else {
                        LegState::Canceled
                    };
                    let call = leg.call_sid.clone();
                    self.end_leg_and_call(&call, state, &reason, now);
                } else {
                    let state = if leg.answered_unix_ms.is_some() {
                        LegState::Completed
                    } else {
                        LegState::Busy
                    };
                    self.end_leg(&sid, state, &reason, Notice::Silent, now);
                }
            }
            ClientMessage::Dtmf { callsid, digits } => {
                let Some(sid) = self.find_client_leg(conn, &session.identity, &callsid) else {
                    return;
                };
                let Some(leg) = self.legs.get_mut(&sid) else {
                    return;
                };
                let keys: Vec<char> = digits
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#')
                    .collect();
                for &digit in &keys {
                    leg.signaling_dtmf.push(DtmfRecord {
                        digit,
                        source: "signaling".into(),
                        clock_hz: None,
                        measured_clock_hz: None,
                        unix_ms: now.unix_ms,
                        duration_ms: None,
                    });
                }
                if let Some(peer) = leg.bridged_to.clone() {
                    self.media(MediaCommand::ForwardDtmf { leg: peer, digits });
                }
                for digit in keys {
                    self.digit_pressed(&sid, digit, now);
                }
            }
            ClientMessage::Reinvite { callsid, sdp } => {
                let Some(sid) = self.find_client_leg(conn, &session.identity, &callsid) else {
                    return;
                };
                if self
                    .legs
                    .get(&sid)
                    .is_some_and(|l| !l.state.is_ended() && l.has_media)
                {
                    self.media(MediaCommand::Reinvite { leg: sid, sdp });
                }
            }
            ClientMessage::Message {
                callsid,
                content,
                contenttype,
                messagetype,
                voiceeventsid,
            } => self.client_message(
                conn,
                &session.identity,
                &callsid,
                content,
                contenttype,
                messagetype,
                voiceeventsid,
                now,
            ),
            ClientMessage::Heartbeat
            | ClientMessage::Listen { .. }
            | ClientMessage::Register { .. } => {}
        }
    }

    /// Ends the call a client's parent leg belongs to, the client having hung up itself.
    fn end_leg_and_call(&mut self, call: &str, state: LegState, reason: &str, now: Now) {
        self.end_call_as(call, state, reason, Notice::Silent, now);
    }

    /// The leg `callsid` (CA SID or the SDK's temporary id) of this client.
    fn find_client_leg(&self, conn: ConnId, identity: &str, callsid: &str) -> Option<String> {
        self.legs
            .values()
            .filter(|l| {
                l.sid == callsid
                    || l.client()
                        .is_some_and(|c| c.temp_sid.as_deref() == Some(callsid))
            })
            .find(|l| match &l.endpoint {
                Endpoint::Client(c) => {
                    c.conn == Some(conn) || (c.conn.is_none() && c.identity == identity)
                }
                Endpoint::Virtual { .. } => false,
            })
            .map(|l| l.sid.clone())
    }

    fn reconnect(&mut self, conn: ConnId, identity: &str, callsid: &str, token: &str, now: Now) {
        let leg_sid = self.reconnect_tokens.get(token).cloned();
        let Some(sid) = leg_sid else {
            let error = (31107, "The reconnect parameter is invalid.");
            self.send(conn, frames::hangup_frame(callsid, Some(error)), now);
            return;
        };
        let authorised = self.legs.get(&sid).is_some_and(|l| {
            !l.state.is_ended()
                && l.sid == callsid
                && l.client().is_some_and(|c| c.identity == identity)
        });
        if !authorised {
            let error = (31209, "Reconnect attempt is not authorized.");
            self.send(conn, frames::hangup_frame(callsid, Some(error)), now);
            return;
        }
        let new_token = sid::reconnect_token();
        self.reconnect_tokens.remove(token);
        self.reconnect_tokens.insert(new_token.clone(), sid.clone());
        if let Some(c) = self.legs.get_mut(&sid).and_then(|l| l.client_mut()) {
            c.conn = Some(conn);
            c.reconnect_deadline = None;
            c.reconnect_token = new_token.clone();
        }
        let payload = json!({ "callsid": sid, "reconnect": new_token });
        self.send(conn, server_frame("answer", payload), now);
    }

    #[allow(clippy::too_many_arguments)]
    fn client_message(
        &mut self,
        conn: ConnId,
        identity: &str,
        callsid: &str,
        content: Value,
        contenttype: String,
        messagetype: String,
        voiceeventsid: String,
        now: Now,
    ) {
        let error = |code: u32, message: &str| {
            frames::error_frame(code, message, Some(callsid), Some(&voiceeventsid))
        };
        if messagetype != "user-defined-message" {
            let text = error(31210, "Call Message Event Type is invalid.");
            self.send(conn, text, now);
            return;
        }
        if content.to_string().len() > MAX_MESSAGE_CONTENT {
            let text = error(
                31212,
                "Call Message Event Payload size exceeded authorized limit.",
            );
            self.send(conn, text, now);
            return;
        }
        let Some(sid) = self.find_client_leg(conn, identity, callsid) else {
            let text = error(31404, "Not Found: no such call");
            self.send(conn, text, now);
            return;
        };
        self.message_record(
            &sid,
            MessageRecord {
                direction: "received".into(),
                voice_event_sid: voiceeventsid.clone(),
                content_type: contenttype,
                message_type: messagetype,
                content,
                unix_ms: now.unix_ms,
            },
        );
        let ack =
            json!({ "acktype": "message", "callsid": callsid, "voiceeventsid": voiceeventsid });
        self.send(conn, server_frame("ack", ack), now);
    }
}
