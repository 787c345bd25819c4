//! Control-API requests the switch answers (the shell handles clock, listener and webhook log).

use std::time::Duration;

use serde_json::json;

use super::calls::Endpoint;
use super::calls::LegState;
use super::exec::Notice;
use super::{InjectedError, MediaCommand, Now, SharedAudio, Switch};
use crate::control::types::{
    CallInfo, CloseSocketFault, ConnSelector, ConnectionInfo, MessageRecord, NextErrorFault,
    RecordingInfo, RefuseListenFault, SendMessage, SentMessage, StartCall, StartedCall,
};
use crate::frames::server_frame;
use crate::sid;

#[derive(Debug, Clone)]
pub enum ControlRequest {
    StartCall(StartCall),
    Calls,
    Call(String),
    HangupCall(String),
    HangupLeg(String),
    SendMessage {
        leg: String,
        message: SendMessage,
    },
    Connections,
    CloseSocket(CloseSocketFault),
    StopHeartbeats(ConnSelector),
    ResumeHeartbeats(ConnSelector),
    NextError(NextErrorFault),
    /// Refuse every `listen` (`Some`) or stop refusing (`None`).
    RefuseListen(Option<RefuseListenFault>),
    /// The built-in `<Dial>` answers the caller at once, without `ringing` (`true`), as
    /// Twilio does with `answerOnBridge="false"`, or rings first (`false`, the default).
    AnswerWithoutRinging(bool),
    StopMedia {
        leg: String,
        seconds: f32,
    },
    SwitchSsrc(String),
    SetClockOffset(i64),
    /// A virtual leg presses keys.
    SendDigits {
        leg: String,
        digits: String,
    },
    Recordings,
    /// One recording (also a deleted one, without its audio).
    Recording(String),
    /// Deletes a recording's audio (`DELETE …/Recordings/{sid}.json`).
    DeleteRecording(String),
}

#[derive(Debug, Clone)]
pub enum ControlReply {
    Started(StartedCall),
    Calls(Vec<CallInfo>),
    Call(CallInfo),
    Connections(Vec<ConnectionInfo>),
    Sent(SentMessage),
    /// How many connections/legs a fault or hangup touched.
    Done(usize),
    Recordings(Vec<RecordingInfo>),
    /// A recording and its audio (`None` once deleted).
    Recording {
        info: RecordingInfo,
        audio: Option<SharedAudio>,
    },
}

/// A refused control request: HTTP status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    pub status: u16,
    pub message: String,
}

fn not_found(what: &str) -> ControlError {
    ControlError {
        status: 404,
        message: format!("{what} not found"),
    }
}

fn bad_request(message: impl Into<String>) -> ControlError {
    ControlError {
        status: 400,
        message: message.into(),
    }
}

impl Switch {
    pub fn control(
        &mut self,
        request: ControlRequest,
        now: Now,
    ) -> Result<ControlReply, ControlError> {
        match request {
            ControlRequest::StartCall(req) => {
                let timeout = req
                    .timeout_secs
                    .unwrap_or(crate::twiml::DEFAULT_DIAL_TIMEOUT_SECS)
                    .max(1);
                let sid = self
                    .start_inbound(&req.from, &req.to, &req.caller, timeout, req.params, now)
                    .map_err(|e| bad_request(e.to_string()))?;
                Ok(ControlReply::Started(StartedCall { call_sid: sid }))
            }
            ControlRequest::Calls => Ok(ControlReply::Calls(self.calls_info())),
            ControlRequest::Call(sid) => {
                let call_sid = self
                    .legs
                    .get(&sid)
                    .map(|l| l.call_sid.clone())
                    .unwrap_or(sid);
                self.call_info(&call_sid)
                    .map(ControlReply::Call)
                    .ok_or_else(|| not_found("call"))
            }
            ControlRequest::HangupCall(sid) => {
                let call_sid = self
                    .legs
                    .get(&sid)
                    .map(|l| l.call_sid.clone())
                    .ok_or_else(|| not_found("call"))?;
                self.end_call(&call_sid, "control-hangup", Notice::Plain, now);
                Ok(ControlReply::Done(1))
            }
            ControlRequest::HangupLeg(sid) => {
                let leg = self.legs.get(&sid).ok_or_else(|| not_found("leg"))?;
                let state = if leg.answered_unix_ms.is_some() {
                    LegState::Completed
                } else {
                    LegState::Canceled
                };
                self.end_leg(&sid, state, "control-hangup", Notice::Plain, now);
                Ok(ControlReply::Done(1))
            }
            ControlRequest::SendMessage { leg, message } => self.send_message(&leg, message, now),
            ControlRequest::Connections => Ok(ControlReply::Connections(
                self.conns.values().map(|c| c.info()).collect(),
            )),
            ControlRequest::CloseSocket(fault) => {
                let conns = self.select_conns(fault.target.identity.as_deref(), fault.target.conn);
                for conn in &conns {
                    self.close_conn(*conn, fault.close_frame, now);
                }
                Ok(ControlReply::Done(conns.len()))
            }
            ControlRequest::StopHeartbeats(sel) => {
                Ok(ControlReply::Done(self.set_heartbeats(&sel, true, now)))
            }
            ControlRequest::ResumeHeartbeats(sel) => {
                Ok(ControlReply::Done(self.set_heartbeats(&sel, false, now)))
            }
            ControlRequest::NextError(fault) => {
                let message = fault.message.clone().unwrap_or_else(|| {
                    offhook_core::twilio_error::lookup(fault.code)
                        .map(|e| e.description.to_string())
                        .unwrap_or_else(|| "Injected error".into())
                });
                let injected = InjectedError {
                    code: fault.code,
                    message,
                    retry_after: fault.retry_after,
                    close: fault.close,
                };
                match fault.frame.as_str() {
                    "listen" => self.faults.next_listen = Some(injected),
                    "invite" => self.faults.next_invite = Some(injected),
                    other => {
                        return Err(bad_request(format!(
                            "frame must be listen or invite, not {other}"
                        )));
                    }
                }
                Ok(ControlReply::Done(1))
            }
            ControlRequest::RefuseListen(fault) => {
                self.faults.refuse_listen = fault.map(|f| {
                    let message = f.message.clone().unwrap_or_else(|| {
                        f.code
                            .and_then(offhook_core::twilio_error::lookup)
                            .map(|e| e.description.to_string())
                            .unwrap_or_else(|| "Injected error".into())
                    });
                    RefuseListenFault {
                        message: Some(message),
                        ..f
                    }
                });
                Ok(ControlReply::Done(1))
            }
            ControlRequest::AnswerWithoutRinging(on) => {
                self.faults.answer_without_ringing = on;
                Ok(ControlReply::Done(1))
            }
            ControlRequest::SetClockOffset(secs) => {
                self.clock_offset_secs = secs;
                // Re-arm expiry warnings against the shifted clock.
                let token_now = self.token_clock(now);
                for c in self.conns.values_mut() {
                    if let Some(s) = &c.session {
                        let ttl = s.claims.exp.saturating_sub(token_now);
                        c.expires_at = Some(now.at + Duration::from_secs(ttl));
                    }
                }
                Ok(ControlReply::Done(1))
            }
            ControlRequest::StopMedia { leg, seconds } => {
                let l = self.legs.get(&leg).ok_or_else(|| not_found("leg"))?;
                if !l.has_media {
                    return Err(bad_request("the leg has no media"));
                }
                if !(seconds.is_finite() && seconds > 0.0 && seconds < 3600.0) {
                    return Err(bad_request("seconds must be in (0, 3600)"));
                }
                self.media(MediaCommand::StopMedia {
                    leg,
                    duration: Duration::from_secs_f32(seconds),
                });
                Ok(ControlReply::Done(1))
            }
            ControlRequest::SendDigits { leg, digits } => self.send_digits(leg, digits),
            ControlRequest::Recordings => Ok(ControlReply::Recordings(self.recordings.list())),
            ControlRequest::Recording(sid) => {
                let r = self
                    .recordings
                    .get(&sid)
                    .ok_or_else(|| not_found("recording"))?;
                Ok(ControlReply::Recording {
                    info: r.info.clone(),
                    audio: r.audio.clone(),
                })
            }
            ControlRequest::DeleteRecording(sid) => {
                if self.recordings.delete(&sid, now.unix_ms) {
                    Ok(ControlReply::Done(1))
                } else {
                    Err(not_found("recording"))
                }
            }
            ControlRequest::SwitchSsrc(leg) => {
                let l = self.legs.get(&leg).ok_or_else(|| not_found("leg"))?;
                if !l.has_media {
                    return Err(bad_request("the leg has no media"));
                }
                self.media(MediaCommand::SwitchSsrc { leg });
                Ok(ControlReply::Done(1))
            }
        }
    }

    fn send_digits(&mut self, leg: String, digits: String) -> Result<ControlReply, ControlError> {
        let l = self.legs.get(&leg).ok_or_else(|| not_found("leg"))?;
        if l.state.is_ended() {
            return Err(bad_request("the leg has ended"));
        }
        if !matches!(l.endpoint, Endpoint::Virtual { .. }) {
            return Err(bad_request(
                "only virtual legs press keys here; a client sends its own DTMF",
            ));
        }
        if !l.has_media {
            return Err(bad_request("the leg has no media yet"));
        }
        if digits.is_empty() || digits.chars().count() > 64 {
            return Err(bad_request("digits must be 1 to 64 keys"));
        }
        if let Some(bad) = digits.chars().find(|c| !"0123456789*#wW".contains(*c)) {
            return Err(bad_request(format!(
                "'{bad}' is not a key (0-9, *, #, or w for a pause)"
            )));
        }
        self.media(MediaCommand::SendDigits { leg, digits });
        Ok(ControlReply::Done(1))
    }

    fn set_heartbeats(&mut self, sel: &ConnSelector, stopped: bool, now: Now) -> usize {
        let conns = self.select_conns(sel.identity.as_deref(), sel.conn);
        let interval = self.cfg.heartbeat_interval;
        for id in &conns {
            if let Some(c) = self.conns.get_mut(id) {
                c.heartbeats_stopped = stopped;
                c.next_heartbeat = now.at + interval;
            }
        }
        conns.len()
    }

    fn send_message(
        &mut self,
        leg: &str,
        message: SendMessage,
        now: Now,
    ) -> Result<ControlReply, ControlError> {
        let l = self.legs.get(leg).ok_or_else(|| not_found("leg"))?;
        if l.state.is_ended() {
            return Err(bad_request("the leg has ended"));
        }
        let conn = l
            .client()
            .and_then(|c| c.conn)
            .ok_or_else(|| bad_request("the leg is not a connected client"))?;
        let voice_event_sid = sid::voice_event_sid();
        let payload = json!({
            "callsid": leg,
            "content": message.content,
            "contenttype": message.content_type,
            "messagetype": message.message_type,
            "voiceeventsid": voice_event_sid,
        });
        self.send(conn, server_frame("message", payload), now);
        self.message_record(
            leg,
            MessageRecord {
                direction: "sent".into(),
                voice_event_sid: voice_event_sid.clone(),
                content_type: message.content_type,
                message_type: message.message_type,
                content: message.content,
                unix_ms: now.unix_ms,
            },
        );
        Ok(ControlReply::Sent(SentMessage { voice_event_sid }))
    }

    pub fn calls_info(&self) -> Vec<CallInfo> {
        self.call_order
            .iter()
            .filter_map(|sid| self.call_info(sid))
            .collect()
    }

    pub fn call_info(&self, call_sid: &str) -> Option<CallInfo> {
        let call = self.calls.get(call_sid)?;
        let mut legs: Vec<_> = self
            .legs
            .values()
            .filter(|l| l.call_sid == call_sid)
            .collect();
        legs.sort_by_key(|l| (!l.is_parent, l.created_unix_ms));
        Some(call.info(legs.into_iter().map(|l| l.info()).collect()))
    }
}
