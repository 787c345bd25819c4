//! `<Dial>`: ringing clients and numbers, the first answer wins, bridging, the dial's outcome.

use std::time::Duration;

use super::calls::{DialState, Endpoint, Leg, LegState, Phase};
use super::exec::{Notice, virtual_media};
use super::webhooks::set_param;
use super::{MediaCommand, Now, PlayItem, Switch};
use crate::config::Behaviour;
use crate::twiml::{CallProgress, Dial, DialTarget};

impl Switch {
    pub(super) fn start_dial(&mut self, call_sid: &str, dial: Dial, now: Now) {
        let Some(parent) = self.legs.get(call_sid) else {
            return;
        };
        let parent_is_client = parent.client().is_some();
        let parent_from = parent.from.clone();
        if parent_is_client {
            let media_flows = if dial.answer_on_bridge {
                let early = dial
                    .targets
                    .iter()
                    .any(|t| matches!(t, DialTarget::Number { .. }));
                self.ring_parent(call_sid, early, now)
            } else {
                self.answer_parent(call_sid, now);
                true
            };
            // Twilio plays ringback in-band while the far end rings.
            if media_flows {
                let token = self.seq();
                self.media(MediaCommand::Play {
                    leg: call_sid.to_string(),
                    token,
                    items: vec![PlayItem::Ringback],
                    loops: 1,
                });
            }
        }
        let from = dial.caller_id.clone().unwrap_or(parent_from);
        let mut children = Vec::new();
        // Outcomes known at once (unregistered clients, busy numbers…), applied after the
        // dial state exists.
        let mut immediate: Vec<(String, LegState, Option<u32>)> = Vec::new();
        let mut answer_now = Vec::new();
        for target in &dial.targets {
            match target {
                DialTarget::Client {
                    identity, params, ..
                } => {
                    let to = format!("client:{identity}");
                    let conns = self.registered_conns(identity);
                    if conns.is_empty() {
                        let endpoint = Endpoint::Client(Self::new_client_endpoint(identity, None));
                        let child = self.new_leg(call_sid, false, endpoint, &from, &to, now);
                        self.watch_leg(&child, target.status_callback(), now);
                        immediate.push((child.clone(), LegState::NoAnswer, Some(31480)));
                        children.push(child);
                        continue;
                    }
                    for conn in conns {
                        let mut endpoint = Self::new_client_endpoint(identity, Some(conn));
                        endpoint.params = params.clone();
                        let child = self.new_leg(
                            call_sid,
                            false,
                            Endpoint::Client(endpoint),
                            &from,
                            &to,
                            now,
                        );
                        if let Some(l) = self.legs.get_mut(&child) {
                            l.has_media = true;
                        }
                        self.watch_leg(&child, target.status_callback(), now);
                        self.media(MediaCommand::CreateWebrtc {
                            leg: child.clone(),
                            offer: None,
                        });
                        children.push(child);
                    }
                }
                DialTarget::Number { number, .. } => {
                    let behaviour = self.virtual_number(number).cloned();
                    let endpoint = Endpoint::Virtual {
                        number: number.clone(),
                        behaviour: behaviour.clone().unwrap_or(Behaviour::Busy),
                    };
                    let child = self.new_leg(call_sid, false, endpoint, &from, number, now);
                    self.watch_leg(&child, target.status_callback(), now);
                    match behaviour {
                        None => immediate.push((child.clone(), LegState::Failed, Some(31404))),
                        Some(Behaviour::Busy) => {
                            immediate.push((child.clone(), LegState::Busy, Some(31486)))
                        }
                        Some(Behaviour::Decline) => {
                            immediate.push((child.clone(), LegState::Failed, Some(31603)))
                        }
                        Some(Behaviour::NoAnswer) => {
                            if let Some(l) = self.legs.get_mut(&child) {
                                l.state = LegState::Ringing;
                            }
                            self.leg_progress(&child, CallProgress::Ringing, now);
                        }
                        Some(Behaviour::SlowAnswer { ring_secs, .. }) => {
                            if let Some(l) = self.legs.get_mut(&child) {
                                l.state = LegState::Ringing;
                                l.answer_at =
                                    Some(now.at + Duration::from_secs_f32(ring_secs.max(0.0)));
                            }
                            self.leg_progress(&child, CallProgress::Ringing, now);
                        }
                        Some(_) => answer_now.push(child.clone()),
                    }
                    children.push(child);
                }
            }
        }
        let deadline = now.at + Duration::from_secs(u64::from(dial.timeout_secs));
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.phase = Phase::Dialing(DialState {
                dial,
                children: children.clone(),
                deadline,
                answered: None,
                bridged_unix_ms: None,
                limit_at: None,
            });
            call.last_dial_failure = None;
        }
        for (child, state, code) in immediate {
            if let Some(l) = self.legs.get_mut(&child) {
                l.failure_code = code;
            }
            self.end_leg(&child, state, "dial-failed", Notice::Silent, now);
        }
        if children.is_empty() {
            self.dial_finished(call_sid, "no-answer", None, 0, Some(31480), now);
            return;
        }
        for child in answer_now {
            self.child_answered(&child, now);
        }
    }

    /// A dialled leg answered: bridge it, drop the others.
    pub(super) fn child_answered(&mut self, child: &str, now: Now) {
        let Some(leg) = self.legs.get(child) else {
            return;
        };
        let call_sid = leg.call_sid.clone();
        let behaviour = match &leg.endpoint {
            Endpoint::Virtual { behaviour, .. } => Some(behaviour.clone()),
            Endpoint::Client(_) => None,
        };
        let winner = matches!(
            self.calls.get(&call_sid).map(|c| &c.phase),
            Some(Phase::Dialing(d)) if d.answered.is_none()
        );
        if !winner {
            self.end_leg(child, LegState::Canceled, "lost-race", Notice::Plain, now);
            return;
        }
        let others: Vec<String> = match self.calls.get(&call_sid).map(|c| &c.phase) {
            Some(Phase::Dialing(d)) => d
                .children
                .iter()
                .filter(|c| c.as_str() != child)
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        if let Some(l) = self.legs.get_mut(child) {
            l.state = LegState::InProgress;
            l.answered_unix_ms = Some(now.unix_ms);
            l.answer_at = None;
            l.bridged_to = Some(call_sid.clone());
        }
        self.leg_progress(child, CallProgress::Answered, now);
        if let Some(call) = self.calls.get_mut(&call_sid)
            && let Phase::Dialing(d) = &mut call.phase
        {
            let mut d = d.clone();
            d.answered = Some(child.to_string());
            d.bridged_unix_ms = Some(now.unix_ms);
            d.limit_at = d
                .dial
                .time_limit_secs
                .map(|secs| now.at + Duration::from_secs(u64::from(secs)));
            call.phase = Phase::Bridged(d);
        }
        for other in others {
            if self.legs.get(&other).is_some_and(|l| !l.state.is_ended()) {
                self.end_leg(
                    &other,
                    LegState::Canceled,
                    "answered-elsewhere",
                    Notice::Plain,
                    now,
                );
            }
        }
        self.media(MediaCommand::StopPlayback {
            leg: call_sid.clone(),
        });
        self.answer_parent(&call_sid, now);
        if let Some(b) = behaviour.as_ref().and_then(virtual_media) {
            if let Some(l) = self.legs.get_mut(child) {
                l.has_media = true;
            }
            self.media(MediaCommand::CreateVirtual {
                leg: child.to_string(),
                media: b,
            });
        }
        if let Some(p) = self.legs.get_mut(&call_sid) {
            p.bridged_to = Some(child.to_string());
        }
        self.media(MediaCommand::Bridge {
            a: call_sid,
            b: child.to_string(),
        });
    }

    /// A dialled leg ended: the dial may be over.
    pub(super) fn child_ended(&mut self, child: &str, now: Now) {
        let Some(leg) = self.legs.get(child) else {
            return;
        };
        let call_sid = leg.call_sid.clone();
        let Some(call) = self.calls.get(&call_sid) else {
            return;
        };
        match &call.phase {
            Phase::Bridged(d) if d.answered.as_deref() == Some(child) => {
                let duration = d
                    .bridged_unix_ms
                    .map(|t| now.unix_ms.saturating_sub(t) / 1000)
                    .unwrap_or(0);
                if let Some(p) = self.legs.get_mut(&call_sid) {
                    p.bridged_to = None;
                }
                self.media(MediaCommand::Unbridge {
                    leg: call_sid.clone(),
                });
                self.dial_finished(
                    &call_sid,
                    "completed",
                    Some(child.to_string()),
                    duration,
                    None,
                    now,
                );
            }
            Phase::Dialing(d) => {
                let legs: Vec<&Leg> = d.children.iter().filter_map(|c| self.legs.get(c)).collect();
                if legs.iter().any(|l| !l.state.is_ended()) {
                    return;
                }
                let has = |s: LegState| legs.iter().any(|l| l.state == s);
                let status = if has(LegState::Busy) {
                    "busy"
                } else if has(LegState::NoAnswer) {
                    "no-answer"
                } else if has(LegState::Canceled) {
                    "canceled"
                } else {
                    "failed"
                };
                // The parent learns the most telling failure: busy, declined, missing, unavailable.
                let codes: Vec<u32> = legs.iter().filter_map(|l| l.failure_code).collect();
                let code = [31486, 31603, 31404, 31480]
                    .into_iter()
                    .find(|c| codes.contains(c))
                    .or(codes.first().copied())
                    .or(Some(31480));
                self.dial_finished(&call_sid, status, None, 0, code, now);
            }
            _ => {}
        }
    }

    pub(super) fn dial_finished(
        &mut self,
        call_sid: &str,
        status: &str,
        dial_sid: Option<String>,
        duration_secs: u64,
        failure: Option<u32>,
        now: Now,
    ) {
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        let (Phase::Dialing(d) | Phase::Bridged(d)) = &call.phase else {
            return;
        };
        let action = d.dial.action.clone();
        let method = d.dial.method.clone();
        call.phase = Phase::Running;
        call.last_dial_failure = failure;
        self.media(MediaCommand::StopPlayback {
            leg: call_sid.to_string(),
        });
        if let Some(action) = action {
            let mut extra = vec![("DialCallStatus".to_string(), status.to_string())];
            if let Some(sid) = dial_sid {
                extra.push(("DialCallSid".into(), sid));
                extra.push(("DialCallDuration".into(), duration_secs.to_string()));
            }
            if let Some(p) = self.calls.get_mut(call_sid) {
                set_param(&mut p.params, "CallStatus", "in-progress");
            }
            self.fetch(call_sid, &action, &method, extra, now);
        } else {
            self.advance(call_sid);
            self.run(call_sid, now);
        }
    }
}
