//! Running a call: where its TwiML comes from, and executing its verbs one by one.

use std::time::Duration;

use serde_json::json;

use super::calls::{Call, CallKind, Endpoint, LegState, Phase};
use super::webhooks::{resolve, set_param};
use super::{MediaCommand, Now, PlayItem, Switch, VirtualMedia, recordings};
use crate::config::Behaviour;
use crate::control::types::CallError;
use crate::frames::server_frame;
use crate::twiml::{self, Dial, DialTarget, Verb};

/// What a client is told when the lab ends its leg.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Notice {
    /// Nothing (the client ended it, or its socket is gone).
    Silent,
    /// `hangup` (or `cancel` for an unanswered invite).
    Plain,
    /// `hangup` with an error.
    Error(u32, String),
}

/// Twilio's words for the SIP-style failures a dial can end with.
pub(super) fn failure_message(code: u32) -> &'static str {
    match code {
        31486 => "Busy Here",
        31480 => "Temporarily Unavailable",
        31603 => "Decline",
        31404 => "Not Found",
        _ => "Call failed",
    }
}

const APPLICATION_ERROR: &str = "We are sorry, an application error has occurred. Goodbye.";

pub(super) fn application_error_program() -> Vec<Verb> {
    vec![
        Verb::Say {
            text: APPLICATION_ERROR.into(),
            loops: 1,
        },
        Verb::Hangup,
    ]
}

pub(super) fn virtual_media(b: &Behaviour) -> Option<VirtualMedia> {
    match b {
        Behaviour::Echo => Some(VirtualMedia::Echo),
        Behaviour::Tone { hz } => Some(VirtualMedia::Tone { hz: *hz }),
        Behaviour::Silence => Some(VirtualMedia::Silence),
        Behaviour::DtmfRecorder => Some(VirtualMedia::DtmfRecorder),
        Behaviour::SlowAnswer { then, .. } => virtual_media(then),
        Behaviour::Busy | Behaviour::NoAnswer | Behaviour::Decline => None,
    }
}

impl Switch {
    /// Decides where the call's TwiML comes from and starts it.
    pub(super) fn begin_program(&mut self, call_sid: &str, now: Now) {
        let Some(call) = self.calls.get(call_sid) else {
            return;
        };
        let url = match call.kind {
            CallKind::OutgoingClient => self.cfg.app_url.clone(),
            CallKind::InboundNumber => self.cfg.number_url.clone(),
            CallKind::InboundClient => None,
        };
        match (call.kind, url) {
            (CallKind::InboundClient, _) => self.run(call_sid, now),
            (_, Some(url)) => self.fetch(call_sid, &url, "POST", Vec::new(), now),
            (CallKind::OutgoingClient, None) => {
                let program = self.builtin_outgoing(call);
                self.set_program(call_sid, program, None);
                self.run(call_sid, now);
            }
            (CallKind::InboundNumber, None) => {
                let targets: Vec<DialTarget> = self
                    .registered_identities()
                    .into_iter()
                    .map(|identity| DialTarget::Client {
                        identity,
                        params: Vec::new(),
                        status_callback: None,
                    })
                    .collect();
                let timeout = call.ring_timeout_secs;
                self.set_program(
                    call_sid,
                    vec![Verb::Dial(builtin_dial(
                        targets,
                        timeout,
                        !self.faults.answer_without_ringing,
                    ))],
                    None,
                );
                self.run(call_sid, now);
            }
        }
    }

    /// Built-in routing for a client's call: `To` (or `phoneNumber`) names a number or client.
    pub(super) fn builtin_outgoing(&self, call: &Call) -> Vec<Verb> {
        let dest = call
            .params
            .iter()
            .find(|(k, _)| k == "To" || k == "phoneNumber")
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let target = match dest {
            None => None,
            Some(d) if d.starts_with('+') => Some(DialTarget::Number {
                number: d,
                status_callback: None,
            }),
            Some(d) => {
                let identity = d.strip_prefix("client:").unwrap_or(&d).to_string();
                Some(DialTarget::Client {
                    identity,
                    params: Vec::new(),
                    status_callback: None,
                })
            }
        };
        match target {
            Some(t) => vec![Verb::Dial(builtin_dial(
                vec![t],
                twiml::DEFAULT_DIAL_TIMEOUT_SECS,
                !self.faults.answer_without_ringing,
            ))],
            None => vec![
                Verb::Say {
                    text: "The number you dialed is not valid.".into(),
                    loops: 1,
                },
                Verb::Hangup,
            ],
        }
    }

    pub(super) fn set_program(
        &mut self,
        call_sid: &str,
        program: Vec<Verb>,
        doc_url: Option<String>,
    ) {
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.program = program;
            call.pc = 0;
            call.phase = Phase::Running;
            call.doc_url = doc_url;
        }
    }

    /// Executes verbs until one has to wait (playback, dial, fetch) or the program ends.
    pub(super) fn run(&mut self, call_sid: &str, now: Now) {
        loop {
            let Some(call) = self.calls.get(call_sid) else {
                return;
            };
            if !matches!(call.phase, Phase::Running) {
                return;
            }
            let Some(verb) = call.program.get(call.pc).cloned() else {
                let error = call.last_dial_failure;
                let parent_answered = self
                    .legs
                    .get(call_sid)
                    .is_some_and(|l| l.answered_unix_ms.is_some());
                let notice = match error {
                    Some(code) if !parent_answered => {
                        Notice::Error(code, failure_message(code).into())
                    }
                    _ => Notice::Plain,
                };
                self.end_call(call_sid, "completed", notice, now);
                return;
            };
            match verb {
                Verb::Pause { secs: 0 } => {
                    self.advance(call_sid);
                    continue;
                }
                Verb::Say { .. } | Verb::Play { .. } | Verb::Pause { .. } => {
                    let (items, loops) = self.playable(call_sid, &verb);
                    return self.play(call_sid, items, loops, now);
                }
                Verb::Hangup => return self.end_call(call_sid, "hangup-verb", Notice::Plain, now),
                Verb::Reject { busy } => {
                    let answered = self
                        .legs
                        .get(call_sid)
                        .is_some_and(|l| l.answered_unix_ms.is_some());
                    if answered {
                        return self.end_call(call_sid, "hangup-verb", Notice::Plain, now);
                    }
                    let code = if busy { 31486 } else { 31603 };
                    if let Some(p) = self.legs.get_mut(call_sid) {
                        p.failure_code = Some(code);
                    }
                    let state = if busy {
                        LegState::Busy
                    } else {
                        LegState::Failed
                    };
                    return self.end_call_as(
                        call_sid,
                        state,
                        "rejected",
                        Notice::Error(code, failure_message(code).into()),
                        now,
                    );
                }
                Verb::Redirect { url, method } => {
                    return self.fetch(call_sid, &url, &method, Vec::new(), now);
                }
                Verb::Dial(dial) => return self.start_dial(call_sid, dial, now),
                Verb::Gather(gather) => return self.start_gather(call_sid, gather, now),
                Verb::Record(record) => return self.start_record(call_sid, record, now),
            }
        }
    }

    /// What a `<Say>`, `<Play>` or `<Pause>` plays, and how often. A `<Play>` of one of the
    /// lab's own recording URLs plays the recording itself (Twilio fetches its own
    /// recordings internally, whatever the media-auth setting); one that no longer exists
    /// plays nothing and leaves 11200 in the call's errors, as a failed fetch would.
    pub(super) fn playable(&mut self, call_sid: &str, verb: &Verb) -> (Vec<PlayItem>, u32) {
        let doc_url = self.calls.get(call_sid).and_then(|c| c.doc_url.clone());
        match verb {
            Verb::Say { text, loops } => (vec![PlayItem::Say(text.clone())], *loops),
            Verb::Play {
                digits: Some(d),
                loops,
                ..
            } => (vec![PlayItem::Digits(d.clone())], *loops),
            Verb::Play {
                url: Some(u),
                loops,
                ..
            } => {
                let url = resolve(doc_url.as_deref(), u);
                let creds = &self.cfg.credentials;
                let Some(sid) =
                    recordings::own_recording_sid(&self.cfg.api_base_url, &creds.account_sid, &url)
                else {
                    return (vec![PlayItem::Url(url)], *loops);
                };
                match self.recordings.audio(&sid) {
                    Some(audio) => (vec![PlayItem::Recording { sid, audio }], *loops),
                    None => {
                        self.call_error(
                            call_sid,
                            11200,
                            format!("HTTP retrieval failure: {url}: HTTP 404"),
                        );
                        (Vec::new(), 1)
                    }
                }
            }
            Verb::Pause { secs } => (
                vec![PlayItem::Silence(Duration::from_secs(u64::from(*secs)))],
                1,
            ),
            _ => (Vec::new(), 1),
        }
    }

    /// Notes a Twilio debugger error on the call.
    pub(super) fn call_error(&mut self, call_sid: &str, code: u32, message: String) {
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.errors.push(CallError { code, message });
        }
    }

    pub(super) fn advance(&mut self, call_sid: &str) {
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.pc += 1;
            call.phase = Phase::Running;
        }
    }

    /// Plays `items` as the call's current verb, which ends with the playback.
    pub(super) fn play(&mut self, call_sid: &str, items: Vec<PlayItem>, loops: u32, now: Now) {
        let token = self.start_play(call_sid, items, loops, now);
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.phase = Phase::Playing { token };
        }
    }

    /// Answers the parent and plays `items` into it; returns the playback's token.
    pub(super) fn start_play(
        &mut self,
        call_sid: &str,
        items: Vec<PlayItem>,
        loops: u32,
        now: Now,
    ) -> u64 {
        self.answer_parent(call_sid, now);
        let token = self.seq();
        // `loop="0"` means "as often as possible"; the lab caps it.
        let loops = if loops == 0 { 1000 } else { loops };
        self.media(MediaCommand::Play {
            leg: call_sid.to_string(),
            token,
            items,
            loops,
        });
        token
    }

    /// Answers the parent leg if it is not yet (a client placing a call gets `answer`).
    pub(super) fn answer_parent(&mut self, call_sid: &str, now: Now) {
        let Some(leg) = self.legs.get_mut(call_sid) else {
            return;
        };
        if leg.answered_unix_ms.is_some() || leg.state.is_ended() {
            return;
        }
        leg.state = LegState::InProgress;
        leg.answered_unix_ms = Some(now.unix_ms);
        let mut frame = None;
        if let Endpoint::Client(c) = &mut leg.endpoint {
            c.answered = true;
            let mut payload = json!({ "callsid": call_sid, "reconnect": c.reconnect_token });
            if !c.early_media_sent {
                payload["sdp"] = json!(c.local_sdp.clone().unwrap_or_default());
            }
            frame = c.conn.map(|conn| (conn, server_frame("answer", payload)));
        }
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.give_up_at = None;
            set_param(&mut call.params, "CallStatus", "in-progress");
        }
        if let Some((conn, text)) = frame {
            self.send(conn, text, now);
        }
    }

    /// Sends `ringing` to a client parent (answerOnBridge): with early-media SDP when the far
    /// end is a number (the lab plays ringback), without when it is a client (no early media;
    /// the SDP then comes with `answer`). Returns whether media flows before the answer.
    pub(super) fn ring_parent(&mut self, call_sid: &str, early_media: bool, now: Now) -> bool {
        let Some(leg) = self.legs.get_mut(call_sid) else {
            return false;
        };
        if leg.answered_unix_ms.is_some() {
            return true;
        }
        let Endpoint::Client(c) = &mut leg.endpoint else {
            return false;
        };
        if c.ringing_sent {
            return c.early_media_sent;
        }
        c.ringing_sent = true;
        c.early_media_sent = early_media;
        let mut payload = json!({ "callsid": call_sid });
        if early_media {
            payload["sdp"] = json!(c.local_sdp.clone().unwrap_or_default());
        }
        if let Some(conn) = c.conn {
            self.send(conn, server_frame("ringing", payload), now);
        }
        early_media
    }
}

pub(super) fn builtin_dial(
    targets: Vec<DialTarget>,
    timeout_secs: u32,
    answer_on_bridge: bool,
) -> Dial {
    Dial {
        targets,
        caller_id: None,
        answer_on_bridge,
        timeout_secs,
        action: None,
        method: "POST".into(),
        time_limit_secs: None,
    }
}
