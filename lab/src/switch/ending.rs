//! Ends and timers: hanging up legs and calls, reconnect windows, dial timeouts, lost sockets,
//! and results from the media layer.

use std::time::Duration;

use serde_json::json;

use super::calls::{Endpoint, Leg, LegState, Phase};
use super::exec::Notice;
use super::webhooks::set_param;
use super::{MediaCommand, MediaEvent, Now, Switch};
use crate::control::types::CallError;
use crate::error::LabError;
use crate::frames::{self, server_frame};
use crate::twiml::CallProgress;

impl Switch {
    /// Ends a call: every leg still up is cancelled or hung up.
    pub(super) fn end_call(&mut self, call_sid: &str, reason: &str, notice: Notice, now: Now) {
        self.end_call_as(call_sid, LegState::Completed, reason, notice, now);
    }

    pub(super) fn end_call_as(
        &mut self,
        call_sid: &str,
        state: LegState,
        reason: &str,
        notice: Notice,
        now: Now,
    ) {
        let Some(call) = self.calls.get(call_sid) else {
            return;
        };
        if matches!(call.phase, Phase::Ended) {
            return;
        }
        // What Twilio still reports once the caller is gone: a `<Dial action>` is requested
        // (`canceled` while ringing, `completed` when bridged) and a recording is kept.
        let dial_action = match &call.phase {
            Phase::Dialing(d) | Phase::Bridged(d) => d.dial.action.clone().map(|url| {
                let mut extra = Vec::new();
                match (&d.answered, d.bridged_unix_ms) {
                    (Some(child), Some(bridged)) => {
                        let secs = now.unix_ms.saturating_sub(bridged) / 1000;
                        extra.push(("DialCallStatus".to_string(), "completed".to_string()));
                        extra.push(("DialCallSid".to_string(), child.clone()));
                        extra.push(("DialCallDuration".to_string(), secs.to_string()));
                    }
                    _ => extra.push(("DialCallStatus".to_string(), "canceled".to_string())),
                }
                (url, d.dial.method.clone(), extra)
            }),
            _ => None,
        };
        self.record_hangup(call_sid);
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        call.phase = Phase::Ended;
        call.give_up_at = None;
        let children: Vec<String> = self
            .legs
            .values()
            .filter(|l| l.call_sid == call_sid && !l.is_parent && !l.state.is_ended())
            .map(|l| l.sid.clone())
            .collect();
        for child in children {
            let ringing = self
                .legs
                .get(&child)
                .is_some_and(|l| l.answered_unix_ms.is_none());
            let child_state = if ringing {
                LegState::Canceled
            } else {
                LegState::Completed
            };
            self.end_leg(&child, child_state, reason, Notice::Plain, now);
        }
        let parent_unanswered = self
            .legs
            .get(call_sid)
            .is_some_and(|l| l.answered_unix_ms.is_none());
        let state = if state == LegState::Completed && parent_unanswered && notice == Notice::Silent
        {
            LegState::Canceled
        } else {
            state
        };
        self.end_leg(call_sid, state, reason, notice, now);
        let status = self
            .legs
            .get(call_sid)
            .map_or("completed", |l| l.state.as_str());
        if let Some(call) = self.calls.get_mut(call_sid) {
            set_param(&mut call.params, "CallStatus", status);
        }
        if let Some((url, method, extra)) = dial_action {
            self.notify_action(call_sid, &url, &method, extra);
        }
    }

    /// Ends one leg: tells its client, closes its media, and lets the call react.
    pub(super) fn end_leg(
        &mut self,
        sid: &str,
        state: LegState,
        reason: &str,
        notice: Notice,
        now: Now,
    ) {
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        if leg.state.is_ended() {
            return;
        }
        leg.state = state;
        leg.ended_unix_ms = Some(now.unix_ms);
        leg.end_reason = Some(reason.to_string());
        leg.answer_at = None;
        if let Notice::Error(code, message) = &notice {
            leg.error = Some(CallError {
                code: *code,
                message: message.clone(),
            });
        }
        let is_parent = leg.is_parent;
        let peer = leg.bridged_to.take();
        let has_media = std::mem::take(&mut leg.has_media);
        let mut frame = None;
        if let Endpoint::Client(c) = &mut leg.endpoint {
            c.reconnect_deadline = None;
            if let (Some(conn), false) = (c.conn, notice == Notice::Silent) {
                if !is_parent && !c.answered {
                    if c.invited {
                        frame = Some((conn, server_frame("cancel", json!({ "callsid": sid }))));
                    }
                } else {
                    // Before `ringing`/`answer` the SDK only knows its temporary id.
                    let known = c.answered || c.ringing_sent;
                    let callsid = if known {
                        sid.to_string()
                    } else {
                        c.temp_sid.clone().unwrap_or_else(|| sid.to_string())
                    };
                    let error = match &notice {
                        Notice::Error(code, message) => Some((*code, message.as_str())),
                        _ => None,
                    };
                    frame = Some((conn, frames::hangup_frame(&callsid, error)));
                }
            }
        }
        if let Some((conn, text)) = frame {
            self.send(conn, text, now);
        }
        if has_media {
            self.media(MediaCommand::Close {
                leg: sid.to_string(),
            });
        }
        if let Some(peer) = peer
            && let Some(p) = self.legs.get_mut(&peer)
            && p.bridged_to.as_deref() == Some(sid)
        {
            p.bridged_to = None;
        }
        let call_sid = self
            .legs
            .get(sid)
            .map(|l| l.call_sid.clone())
            .unwrap_or_default();
        if is_parent {
            self.end_call(&call_sid, reason, Notice::Plain, now);
        } else {
            self.leg_progress(sid, CallProgress::Completed, now);
            self.child_ended(sid, now);
        }
    }

    pub(super) fn leg_timer(&mut self, sid: &str, now: Now) {
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        if let Some(c) = leg.client_mut()
            && c.reconnect_deadline.is_some_and(|d| d <= now.at)
        {
            c.reconnect_deadline = None;
            let state = LegState::Completed;
            self.end_leg(sid, state, "reconnect-timeout", Notice::Silent, now);
            return;
        }
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        if leg.answer_at.is_some_and(|d| d <= now.at) {
            leg.answer_at = None;
            self.child_answered(sid, now);
        }
    }

    pub(super) fn call_timer(&mut self, call_sid: &str, now: Now) {
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        if call.give_up_at.is_some_and(|d| d <= now.at) {
            call.give_up_at = None;
            self.end_call(call_sid, "caller-gave-up", Notice::Silent, now);
            return;
        }
        match &call.phase {
            Phase::Gathering(_) => return self.gather_timer(call_sid, now),
            Phase::Recording(_) => return self.record_timer(call_sid, now),
            _ => {}
        }
        if let Phase::Bridged(d) = &call.phase {
            if let (Some(limit), Some(child)) = (d.limit_at, d.answered.clone())
                && limit <= now.at
            {
                self.end_leg(
                    &child,
                    LegState::Completed,
                    "time-limit",
                    Notice::Plain,
                    now,
                );
            }
            return;
        }
        let Phase::Dialing(d) = &call.phase else {
            return;
        };
        if d.deadline > now.at {
            return;
        }
        let ringing: Vec<String> = d.children.clone();
        for child in ringing {
            if let Some(l) = self.legs.get_mut(&child)
                && !l.state.is_ended()
            {
                l.failure_code = Some(31480);
            }
            self.end_leg(
                &child,
                LegState::NoAnswer,
                "dial-timeout",
                Notice::Plain,
                now,
            );
        }
    }

    /// The client's socket is gone: answered legs wait for a reconnect, the rest end.
    pub(super) fn client_socket_lost(&mut self, conn: super::ConnId, timeout: Duration, now: Now) {
        let affected: Vec<String> = self
            .legs
            .values()
            .filter(|l| !l.state.is_ended() && l.client().is_some_and(|c| c.conn == Some(conn)))
            .map(|l| l.sid.clone())
            .collect();
        for sid in affected {
            let Some(leg) = self.legs.get_mut(&sid) else {
                continue;
            };
            let is_parent = leg.is_parent;
            let Some(c) = leg.client_mut() else { continue };
            c.conn = None;
            // Only a client holding a reconnect token can come back.
            if c.answered && !timeout.is_zero() {
                c.reconnect_deadline = Some(now.at + timeout);
                continue;
            }
            let state = if c.answered || is_parent {
                LegState::Completed
            } else {
                LegState::NoAnswer
            };
            self.end_leg(&sid, state, "socket-closed", Notice::Silent, now);
        }
    }

    pub(super) fn media_event(&mut self, event: MediaEvent, now: Now) {
        match event {
            MediaEvent::Ready { leg, result } => self.media_ready(&leg, result, now),
            MediaEvent::AnswerApplied { leg, result } => match result {
                Ok(()) => {
                    if let Some(c) = self.legs.get_mut(&leg).and_then(Leg::client_mut) {
                        c.answered = true;
                    }
                    self.child_answered(&leg, now);
                }
                Err(why) => {
                    let notice =
                        Notice::Error(31400, format!("Bad Request: cannot use the answer: {why}"));
                    self.end_leg(&leg, LegState::Failed, "bad-sdp", notice, now);
                }
            },
            MediaEvent::ReinviteAnswered { leg, result } => {
                let Some(l) = self.legs.get_mut(&leg).filter(|l| !l.state.is_ended()) else {
                    return;
                };
                let Some(c) = l.client_mut() else { return };
                let Some(conn) = c.conn else { return };
                let text = match result {
                    Ok(sdp) => {
                        c.local_sdp = Some(sdp.clone());
                        server_frame("answer", json!({ "callsid": leg, "sdp": sdp }))
                    }
                    Err(why) => frames::error_frame(
                        31400,
                        &format!("Bad Request: cannot use the offer: {why}"),
                        Some(&leg),
                        None,
                    ),
                };
                self.send(conn, text, now);
            }
            MediaEvent::PlayDone { leg, token } => {
                let playing = self
                    .calls
                    .get(&leg)
                    .is_some_and(|c| matches!(c.phase, Phase::Playing { token: t } if t == token));
                if playing {
                    self.advance(&leg);
                    self.run(&leg, now);
                } else if !self.gather_play_done(&leg, token, now) {
                    self.record_play_done(&leg, token, now);
                }
            }
            MediaEvent::PlayFailed { leg, code, message } => {
                if let Some(call_sid) = self.legs.get(&leg).map(|l| l.call_sid.clone()) {
                    self.call_error(&call_sid, code, message);
                }
            }
            MediaEvent::Dtmf { leg, digit } => self.digit_pressed(&leg, digit, now),
            MediaEvent::Recorded { token, samples, .. } => self.recorded(token, samples, now),
        }
    }

    pub(super) fn media_ready(&mut self, sid: &str, result: Result<String, LabError>, now: Now) {
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        if leg.state.is_ended() {
            return;
        }
        let is_parent = leg.is_parent;
        let sdp = match result {
            Ok(sdp) => sdp,
            Err(why) => {
                let notice =
                    Notice::Error(31400, format!("Bad Request: cannot use the offer: {why}"));
                if is_parent {
                    self.end_call_as(sid, LegState::Failed, "bad-sdp", notice, now);
                } else {
                    self.end_leg(sid, LegState::Failed, "media-failed", Notice::Silent, now);
                }
                return;
            }
        };
        let from = leg.from.clone();
        let call_sid = leg.call_sid.clone();
        let Some(c) = leg.client_mut() else { return };
        c.local_sdp = Some(sdp.clone());
        if is_parent {
            self.begin_program(sid, now);
            return;
        }
        // A dialled client: ring it with the lab's offer.
        let dialing = self
            .calls
            .get(&call_sid)
            .is_some_and(|c| matches!(c.phase, Phase::Dialing(_)));
        if !dialing {
            self.end_leg(sid, LegState::Canceled, "dial-over", Notice::Silent, now);
            return;
        }
        let creds = &self.cfg.credentials;
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        let to = leg.to.clone();
        let Some(c) = leg.client_mut() else { return };
        let mut parameters = json!({
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "From": from,
            "To": to,
            "AccountSid": creds.account_sid,
        });
        if !c.params.is_empty() {
            parameters["Params"] = json!(frames::encode_params(&c.params));
        }
        let payload = json!({
            "callsid": sid,
            "sdp": sdp,
            "parameters": parameters,
            "reconnect": c.reconnect_token,
        });
        c.invited = true;
        let conn = c.conn;
        leg.state = LegState::Ringing;
        if let Some(conn) = conn {
            self.send(conn, server_frame("invite", payload), now);
        }
        self.leg_progress(sid, CallProgress::Ringing, now);
    }
}
