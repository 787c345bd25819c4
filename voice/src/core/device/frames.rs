//! The stream's events and the server's frames: the Device's own (`connected`, `ready`,
//! `offline`, `error`, `close`, `invite`) and those routed to a call by its CallSid
//! (`ringing`, `answer`, `hangup`, `cancel`, `ack`, `message`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::super::Output;
use super::super::call::CallCore;
use super::{Engine, RESTREAM_BACKOFF};
use crate::error::TwilioError;
use crate::model::{CallId, CallMessage, DeviceEvent, DeviceState};
use crate::protocol::frame::{Connected, ServerMessage, WireError};
use crate::protocol::{duration, params};
use crate::signaling::StreamEvent;
use crate::{regions, token};

impl Engine {
    pub(super) fn on_stream_event(&mut self, ev: StreamEvent, now: Instant) {
        match ev {
            StreamEvent::TransportOpen => {}
            StreamEvent::TransportClose => {
                self.socket_dropped = true;
                for id in self.call_ids() {
                    self.route(id, |call, link| call.on_transport_close(link));
                }
            }
            StreamEvent::Offline => {
                self.edge = None;
                self.region = None;
                // Sticky until registered again: the SDK recomputes it on every `offline`,
                // so a second drop before `connected` (a server that keeps dropping the
                // socket after `listen`) forgets that the Device wanted to be registered.
                self.should_reregister = (self.should_reregister
                    || self.state != DeviceState::Unregistered)
                    && !self.unregistering;
                self.unregistering = false;
                if self.state != DeviceState::Destroyed {
                    self.set_state(DeviceState::Unregistered);
                }
            }
            StreamEvent::TransportError { code, message } => {
                let error = WireError {
                    code,
                    message,
                    retry_after: None,
                };
                self.device_error(&error, None);
            }
            StreamEvent::Malformed(e) => {
                crate::device_log!(self.options.log_level, WARN, error = %e, "ignoring a malformed signaling frame")
            }
            StreamEvent::Closed => {
                self.stream = None;
                self.stream_connected = false;
                self.register_at = None;
                self.fail_deferred();
                // A server's `retryAfter` is waited, but no longer than the backoff's own
                // ceiling (as the transport caps it for reconnects): `retryAfter: 1e20` and a
                // `close` must not keep a phone unregistered for an hour.
                let retry_after = self
                    .retry_after
                    .take()
                    .unwrap_or_default()
                    .min(Duration::from_millis(RESTREAM_BACKOFF.max_ms));
                if self.should_reregister && self.state == DeviceState::Unregistered {
                    let delay = self.restream.delay(self.random.unit()).max(retry_after);
                    crate::device_log!(
                        self.options.log_level,
                        WARN,
                        delay_ms = delay.as_millis() as u64,
                        "the server closed the signaling stream; trying again later"
                    );
                    self.restream_at = Some(duration::deadline_after(now, delay));
                }
            }
            StreamEvent::Message(m) => self.on_server_message(m, now),
        }
    }

    fn on_server_message(&mut self, m: ServerMessage, now: Instant) {
        match m {
            ServerMessage::Connected(c) => self.on_connected(c, now),
            ServerMessage::Ready => {
                self.restream.reset();
                self.retry_after = None;
                if self.state != DeviceState::Destroyed {
                    self.set_state(DeviceState::Registered);
                }
            }
            ServerMessage::Offline | ServerMessage::Close => {}
            ServerMessage::Error {
                error,
                callsid,
                voiceeventsid,
            } => {
                let Some(error) = error else {
                    crate::device_log!(
                        self.options.log_level,
                        WARN,
                        "ignoring an error frame without an error object"
                    );
                    return;
                };
                if let Some(kx) = voiceeventsid {
                    if let Some(id) = callsid.as_deref().and_then(|s| self.find_call(s)) {
                        self.route(id, |call, _| call.on_message_error(&kx, &error));
                    }
                    return;
                }
                if let Some(after) = error.retry_after {
                    self.retry_after = Some(after);
                }
                let call = callsid.as_deref().and_then(|s| self.find_call(s));
                self.device_error(&error, call);
            }
            ServerMessage::Invite {
                callsid,
                sdp,
                parameters,
                reconnect,
            } => self.on_invite(callsid, sdp, parameters, reconnect, now),
            ServerMessage::Ringing { callsid, sdp } => {
                let target =
                    self.first_call(|c| c.is_listening() && c.wants_ringing(callsid.as_deref()));
                if let Some(id) = target {
                    self.route(id, |call, _| call.on_ringing(callsid.as_deref(), sdp));
                }
            }
            ServerMessage::Answer {
                callsid,
                sdp,
                reconnect,
                ..
            } => {
                let by_sid = callsid
                    .as_deref()
                    .and_then(|s| self.first_call(|c| c.is_listening() && c.matches_sid(s)));
                let target = by_sid
                    .or_else(|| self.first_call(|c| c.is_listening() && c.wants_unnamed_answer()));
                if let Some(id) = target {
                    self.route(id, |call, _| {
                        call.on_answer(callsid.as_deref(), sdp, reconnect)
                    });
                }
            }
            ServerMessage::Hangup { callsid, error } => {
                let targets: Vec<CallId> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.is_listening())
                    .filter(|(_, c)| callsid.as_deref().is_none_or(|s| c.matches_sid(s)))
                    .map(|(id, _)| *id)
                    .collect();
                for id in targets {
                    self.route(id, |call, link| call.on_hangup(error.as_ref(), link));
                }
            }
            ServerMessage::Cancel { callsid } => {
                let Some(sid) = callsid else { return };
                if let Some(id) = self.first_call(|c| c.call_sid() == Some(sid.as_str())) {
                    self.route(id, |call, _| call.on_cancel());
                }
            }
            ServerMessage::Ack {
                acktype,
                callsid,
                voiceeventsid,
            } => {
                if acktype.as_deref() != Some("message") {
                    return;
                }
                let (Some(sid), Some(kx)) = (callsid, voiceeventsid) else {
                    return;
                };
                if let Some(id) = self.find_call(&sid) {
                    self.route(id, |call, _| call.on_message_ack(&kx));
                }
            }
            ServerMessage::Message {
                callsid,
                content,
                contenttype,
                messagetype,
                voiceeventsid,
            } => {
                let Some(sid) = callsid else { return };
                let Some(id) = self.first_call(|c| c.call_sid() == Some(sid.as_str())) else {
                    crate::device_log!(self.options.log_level, WARN, callsid = %sid, "message for an unknown call");
                    return;
                };
                let message = CallMessage {
                    content,
                    content_type: contenttype.unwrap_or_default(),
                    message_type: messagetype.unwrap_or_default(),
                    voice_event_sid: voiceeventsid.unwrap_or_default(),
                };
                self.route(id, |call, _| call.on_message(message));
            }
            ServerMessage::Unknown { type_name } => {
                crate::device_log!(self.options.log_level, DEBUG, %type_name, "ignoring an unknown signaling frame")
            }
        }
    }

    /// The first call (in the order they were made) that `pick` chooses.
    fn first_call(&self, pick: impl Fn(&CallCore) -> bool) -> Option<CallId> {
        self.calls.iter().find(|(_, c)| pick(c)).map(|(id, _)| *id)
    }

    fn on_connected(&mut self, c: Connected, now: Instant) {
        self.stream_connected = true;
        let short = c.region.as_deref().and_then(regions::region_shortcode);
        self.edge = regions::edge_for_connected(c.edge.as_deref(), c.region.as_deref());
        self.region = short.map(String::from).or(c.region.clone());
        self.home = c.home.clone();
        // The SDK reads `connected.token`. Without it (or without its fields) the token
        // itself says who we are and how long it lives.
        let own = token::facts(&self.token);
        let server = c.token.as_ref();
        self.identity = server
            .and_then(|t| t.identity.clone())
            .or(own.identity.clone());
        let lifetime = match server.and_then(|t| t.ttl) {
            Some(ttl) => Some((now, ttl)),
            None => own.lifetime_secs().map(|secs| {
                (
                    self.token_received_at.unwrap_or(now),
                    duration::network_duration_secs(secs, duration::MAX_TOKEN_TTL),
                )
            }),
        };
        if let Some((from, ttl)) = lifetime {
            let wait = ttl.saturating_sub(Duration::from_millis(self.options.token_refresh_ms));
            self.token_will_expire_at = Some(duration::deadline_after(from, wait).max(now));
        }
        self.preferred_uri = self.options.preferred_url(self.edge.as_deref());
        if self
            .active_call
            .is_some_and(|a| self.calls.get(&a).is_some_and(CallCore::was_connected))
        {
            let uri = self.preferred_uri.clone();
            if let Some(s) = self.stream.as_mut() {
                s.update_preferred_uri(uri);
            }
        }
        if std::mem::take(&mut self.register_deferred) && self.state == DeviceState::Registering {
            self.send_presence(true, now);
        }
        for id in self.call_ids() {
            self.route(id, |call, _| call.send_deferred_invite());
        }
        if self.should_reregister && self.state == DeviceState::Unregistered {
            let _ = self.register(now);
        }
        // Calls that lost signaling resume with their reconnect token.
        if std::mem::take(&mut self.socket_dropped) {
            for id in self.call_ids() {
                self.route(id, |call, _| call.resume());
            }
        }
    }

    fn device_error(&mut self, error: &WireError, call: Option<CallId>) {
        let precise = self.options.enable_improved_signaling_error_precision;
        if error.code == 31205 {
            // Stop trying to register with an expired token.
            self.register_at = None;
        }
        let e = TwilioError::from_signaling(error.code, &error.message, precise);
        crate::device_log!(self.options.log_level, ERROR, error = %e, "signaling error");
        self.last_error = Some(e.clone());
        self.outputs
            .push_back(Output::Device(DeviceEvent::Error { error: e, call }));
    }

    fn on_invite(
        &mut self,
        callsid: Option<String>,
        sdp: Option<String>,
        mut parameters: BTreeMap<String, String>,
        reconnect: Option<String>,
        now: Instant,
    ) {
        if self.active_call.is_some() && !self.options.allow_incoming_while_busy {
            crate::device_log!(
                self.options.log_level,
                INFO,
                "busy: ignoring an incoming invite"
            );
            return;
        }
        let (Some(callsid), Some(sdp)) = (callsid, sdp) else {
            let e = TwilioError::new(31400, "Malformed invite from gateway");
            self.outputs.push_back(Output::Device(DeviceEvent::Error {
                error: e,
                call: None,
            }));
            return;
        };
        parameters.entry("CallSid".into()).or_insert(callsid);
        let custom = parameters
            .get("Params")
            .map(|p| params::query_to_pairs(p))
            .unwrap_or_default();
        let id = self.new_call_id();
        let config = self.call_config();
        self.calls.insert(
            id,
            CallCore::incoming(parameters, custom, sdp, reconnect, config, now),
        );
        self.outputs
            .push_back(Output::Device(DeviceEvent::Incoming(id)));
    }
}
