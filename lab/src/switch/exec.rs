//! Call flow: starting calls, fetching and running TwiML, `<Dial>`, bridging and ending.

use std::time::Duration;

use serde_json::json;

use super::calls::{Call, CallKind, ClientEndpoint, DialState, Endpoint, Leg, LegState, Phase};
use super::{
    MediaCommand, MediaEvent, Now, Output, PlayItem, Switch, VirtualMedia, WebhookRequest,
};
use crate::config::Behaviour;
use crate::control::types::CallError;
use crate::frames::{self, server_frame};
use crate::sid;
use crate::signature::twilio_signature;
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

fn application_error_program() -> Vec<Verb> {
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

/// Resolves a URL from TwiML against the document it came from.
fn resolve(base: Option<&str>, url: &str) -> String {
    match base
        .and_then(|b| url::Url::parse(b).ok())
        .and_then(|b| b.join(url).ok())
    {
        Some(u) => u.to_string(),
        None => url.to_string(),
    }
}

impl Switch {
    pub(super) fn new_leg(
        &mut self,
        call_sid: &str,
        is_parent: bool,
        endpoint: Endpoint,
        from: &str,
        to: &str,
        now: Now,
    ) -> String {
        let sid = if is_parent {
            call_sid.to_string()
        } else {
            sid::call_sid()
        };
        if let Endpoint::Client(c) = &endpoint {
            self.reconnect_tokens
                .insert(c.reconnect_token.clone(), sid.clone());
        }
        let leg = Leg {
            sid: sid.clone(),
            call_sid: call_sid.to_string(),
            is_parent,
            endpoint,
            from: from.to_string(),
            to: to.to_string(),
            state: LegState::Queued,
            created_unix_ms: now.unix_ms,
            answered_unix_ms: None,
            ended_unix_ms: None,
            end_reason: None,
            error: None,
            bridged_to: None,
            messages: Vec::new(),
            signaling_dtmf: Vec::new(),
            answer_at: None,
            failure_code: None,
            has_media: false,
        };
        self.legs.insert(sid.clone(), leg);
        sid
    }

    fn new_call(&mut self, call: Call) {
        self.call_order.push_back(call.sid.clone());
        self.calls.insert(call.sid.clone(), call);
        // Forget the oldest ended calls (and their legs) beyond the keep limit.
        let ended = self
            .calls
            .values()
            .filter(|c| matches!(c.phase, Phase::Ended))
            .count();
        let mut excess = ended.saturating_sub(super::KEEP_ENDED);
        let mut kept = std::collections::VecDeque::new();
        while let Some(sid) = self.call_order.pop_front() {
            let is_ended = self
                .calls
                .get(&sid)
                .is_some_and(|c| matches!(c.phase, Phase::Ended));
            if excess > 0 && is_ended {
                excess -= 1;
                self.calls.remove(&sid);
                let legs: Vec<String> = self
                    .legs
                    .values()
                    .filter(|l| l.call_sid == sid)
                    .map(|l| l.sid.clone())
                    .collect();
                for leg in legs {
                    self.legs.remove(&leg);
                }
                self.reconnect_tokens
                    .retain(|_, leg| self.legs.contains_key(leg));
            } else {
                kept.push_back(sid);
            }
        }
        self.call_order = kept;
    }

    pub(super) fn new_client_endpoint(
        identity: &str,
        conn: Option<super::ConnId>,
    ) -> ClientEndpoint {
        ClientEndpoint {
            identity: identity.to_string(),
            conn,
            temp_sid: None,
            reconnect_token: sid::reconnect_token(),
            reconnect_deadline: None,
            local_sdp: None,
            early_media_sent: false,
            ringing_sent: false,
            answered: false,
            invited: false,
            params: Vec::new(),
        }
    }

    /// A client's new outgoing call (an `invite` without `reconnect`).
    pub(super) fn start_outgoing(
        &mut self,
        conn: super::ConnId,
        identity: &str,
        temp_sid: &str,
        sdp: &str,
        custom: Vec<(String, String)>,
        now: Now,
    ) {
        let creds = self.cfg.credentials.clone();
        let call_sid = sid::call_sid();
        let from = format!("client:{identity}");
        let to = custom
            .iter()
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), creds.account_sid.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("ApplicationSid".into(), creds.app_sid.clone()),
            ("CallSid".into(), call_sid.clone()),
            ("CallStatus".into(), "ringing".into()),
            ("Called".into(), to.clone()),
            ("Caller".into(), from.clone()),
            ("Direction".into(), "inbound".into()),
            ("From".into(), from.clone()),
            ("To".into(), to.clone()),
        ];
        // Every custom parameter becomes a top-level parameter; `To` is already there.
        for (k, v) in &custom {
            if k != "To" {
                params.retain(|(pk, _)| pk != k);
                params.push((k.clone(), v.clone()));
            }
        }
        let mut endpoint = Self::new_client_endpoint(identity, Some(conn));
        endpoint.temp_sid = Some(temp_sid.to_string());
        endpoint.params = custom;
        let leg = self.new_leg(&call_sid, true, Endpoint::Client(endpoint), &from, &to, now);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ringing;
            l.has_media = true;
        }
        self.new_call(Call {
            sid: call_sid.clone(),
            kind: CallKind::OutgoingClient,
            from,
            to,
            params,
            program: Vec::new(),
            pc: 0,
            phase: Phase::AwaitingMedia,
            errors: Vec::new(),
            created_unix_ms: now.unix_ms,
            give_up_at: None,
            ring_timeout_secs: twiml::DEFAULT_DIAL_TIMEOUT_SECS,
            doc_url: None,
            last_dial_failure: None,
        });
        self.media(MediaCommand::CreateWebrtc {
            leg,
            offer: Some(sdp.to_string()),
        });
    }

    /// A call from a virtual caller, placed through the control API.
    pub(super) fn start_inbound(
        &mut self,
        from: &str,
        to: &str,
        caller: &Behaviour,
        timeout_secs: u32,
        custom: Vec<(String, String)>,
        now: Now,
    ) -> Result<String, String> {
        let creds = self.cfg.credentials.clone();
        let media = virtual_media(caller)
            .filter(|_| !matches!(caller, Behaviour::SlowAnswer { .. }))
            .ok_or("caller must be echo, tone, silence or dtmf_recorder")?;
        let kind = if to == creds.phone_number {
            CallKind::InboundNumber
        } else if let Some(identity) = to.strip_prefix("client:") {
            if identity.is_empty() {
                return Err("client: needs an identity".into());
            }
            CallKind::InboundClient
        } else {
            return Err(format!(
                "to must be the lab's phone number {} or client:<identity>",
                creds.phone_number
            ));
        };
        let call_sid = sid::call_sid();
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), creds.account_sid.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("CallSid".into(), call_sid.clone()),
            ("CallStatus".into(), "ringing".into()),
        ];
        for (prefix, number) in [("Called", to), ("Caller", from)] {
            params.push((prefix.into(), number.into()));
            for suffix in ["City", "Country", "State", "Zip"] {
                let value = if suffix == "Country" { "US" } else { "" };
                params.push((format!("{prefix}{suffix}"), value.into()));
            }
        }
        params.push(("Direction".into(), "inbound".into()));
        for (prefix, number) in [("From", from), ("To", to)] {
            params.push((prefix.into(), number.into()));
            for suffix in ["City", "Country", "State", "Zip"] {
                let value = if suffix == "Country" { "US" } else { "" };
                params.push((format!("{prefix}{suffix}"), value.into()));
            }
        }
        let endpoint = Endpoint::Virtual {
            number: from.to_string(),
            behaviour: caller.clone(),
        };
        let leg = self.new_leg(&call_sid, true, endpoint, from, to, now);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ringing;
            l.has_media = true;
        }
        let mut program = Vec::new();
        if let CallKind::InboundClient = kind {
            let identity = to.trim_start_matches("client:").to_string();
            program.push(Verb::Dial(builtin_dial(
                vec![DialTarget::Client {
                    identity,
                    params: custom,
                }],
                timeout_secs,
            )));
        }
        self.new_call(Call {
            sid: call_sid.clone(),
            kind,
            from: from.to_string(),
            to: to.to_string(),
            params,
            program,
            pc: 0,
            phase: Phase::Running,
            errors: Vec::new(),
            created_unix_ms: now.unix_ms,
            give_up_at: Some(now.at + Duration::from_secs(u64::from(timeout_secs))),
            ring_timeout_secs: timeout_secs,
            doc_url: None,
            last_dial_failure: None,
        });
        self.media(MediaCommand::CreateVirtual { leg, media });
        self.begin_program(&call_sid, now);
        Ok(call_sid)
    }

    /// Decides where the call's TwiML comes from and starts it.
    fn begin_program(&mut self, call_sid: &str, now: Now) {
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
                    })
                    .collect();
                let timeout = call.ring_timeout_secs;
                self.set_program(
                    call_sid,
                    vec![Verb::Dial(builtin_dial(targets, timeout))],
                    None,
                );
                self.run(call_sid, now);
            }
        }
    }

    /// Built-in routing for a client's call: `To` (or `phoneNumber`) names a number or client.
    fn builtin_outgoing(&self, call: &Call) -> Vec<Verb> {
        let dest = call
            .params
            .iter()
            .find(|(k, _)| k == "To" || k == "phoneNumber")
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let target = match dest {
            None => None,
            Some(d) if d.starts_with('+') => Some(DialTarget::Number { number: d }),
            Some(d) => {
                let identity = d.strip_prefix("client:").unwrap_or(&d).to_string();
                Some(DialTarget::Client {
                    identity,
                    params: Vec::new(),
                })
            }
        };
        match target {
            Some(t) => vec![Verb::Dial(builtin_dial(
                vec![t],
                twiml::DEFAULT_DIAL_TIMEOUT_SECS,
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

    fn set_program(&mut self, call_sid: &str, program: Vec<Verb>, doc_url: Option<String>) {
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.program = program;
            call.pc = 0;
            call.phase = Phase::Running;
            call.doc_url = doc_url;
        }
    }

    /// Requests TwiML from `url` with the call's parameters plus `extra`.
    fn fetch(
        &mut self,
        call_sid: &str,
        url: &str,
        method: &str,
        extra: Vec<(String, String)>,
        now: Now,
    ) {
        let seq = self.seq();
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        let url = resolve(call.doc_url.as_deref(), url);
        let mut params = call.params.clone();
        params.extend(extra);
        let auth = &self.cfg.credentials.auth_token;
        let request = if method == "GET" {
            // GET requests carry the parameters in the URL and sign only the URL.
            let sep = if url.contains('?') { '&' } else { '?' };
            let full = format!("{url}{sep}{}", form_encode(&params));
            WebhookRequest {
                signature: twilio_signature(auth, &full, &[]),
                url: full,
                method: "GET".into(),
                params: Vec::new(),
            }
        } else {
            WebhookRequest {
                signature: twilio_signature(auth, &url, &params),
                url: url.clone(),
                method: "POST".into(),
                params,
            }
        };
        call.phase = Phase::Fetching { seq };
        call.doc_url = Some(url);
        let _ = now;
        self.emit(Output::Webhook {
            call: call_sid.to_string(),
            seq,
            request,
        });
    }

    pub(super) fn webhook_done(
        &mut self,
        call_sid: &str,
        seq: u64,
        result: Result<String, String>,
        now: Now,
    ) {
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        if !matches!(call.phase, Phase::Fetching { seq: s } if s == seq) {
            return;
        }
        let doc_url = call.doc_url.clone();
        let program = match result {
            Ok(body) => match twiml::parse(&body) {
                Ok(verbs) => verbs,
                Err(e) => {
                    call.errors.push(CallError {
                        code: e.code(),
                        message: e.to_string(),
                    });
                    application_error_program()
                }
            },
            Err(why) => {
                call.errors.push(CallError {
                    code: 11200,
                    message: format!("HTTP retrieval failure: {why}"),
                });
                application_error_program()
            }
        };
        self.set_program(call_sid, program, doc_url);
        self.run(call_sid, now);
    }

    /// Executes verbs until one has to wait (playback, dial, fetch) or the program ends.
    fn run(&mut self, call_sid: &str, now: Now) {
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
            let doc_url = call.doc_url.clone();
            match verb {
                Verb::Say { text, loops } => {
                    return self.play(call_sid, vec![PlayItem::Say(text)], loops, now);
                }
                Verb::Play { url, digits, loops } => {
                    let item = match (digits, url) {
                        (Some(d), _) => PlayItem::Digits(d),
                        (None, Some(u)) => PlayItem::Url(resolve(doc_url.as_deref(), &u)),
                        (None, None) => PlayItem::Silence(Duration::ZERO),
                    };
                    return self.play(call_sid, vec![item], loops, now);
                }
                Verb::Pause { secs } => {
                    if secs == 0 {
                        self.advance(call_sid);
                        continue;
                    }
                    let item = PlayItem::Silence(Duration::from_secs(u64::from(secs)));
                    return self.play(call_sid, vec![item], 1, now);
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
            }
        }
    }

    fn advance(&mut self, call_sid: &str) {
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.pc += 1;
            call.phase = Phase::Running;
        }
    }

    fn play(&mut self, call_sid: &str, items: Vec<PlayItem>, loops: u32, now: Now) {
        self.answer_parent(call_sid, now);
        let token = self.seq();
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.phase = Phase::Playing { token };
        }
        // `loop="0"` means "as often as possible"; the lab caps it.
        let loops = if loops == 0 { 1000 } else { loops };
        self.media(MediaCommand::Play {
            leg: call_sid.to_string(),
            token,
            items,
            loops,
        });
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
        }
        if let Some((conn, text)) = frame {
            self.send(conn, text, now);
        }
    }

    /// Sends `ringing` to a client parent (answerOnBridge): with early-media SDP when the far
    /// end is a number (the lab plays ringback), without when it is a client (no early media;
    /// the SDP then comes with `answer`). Returns whether media flows before the answer.
    fn ring_parent(&mut self, call_sid: &str, early_media: bool, now: Now) -> bool {
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

    fn start_dial(&mut self, call_sid: &str, dial: Dial, now: Now) {
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
                DialTarget::Client { identity, params } => {
                    let to = format!("client:{identity}");
                    let conns = self.registered_conns(identity);
                    if conns.is_empty() {
                        let endpoint = Endpoint::Client(Self::new_client_endpoint(identity, None));
                        let child = self.new_leg(call_sid, false, endpoint, &from, &to, now);
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
                        self.media(MediaCommand::CreateWebrtc {
                            leg: child.clone(),
                            offer: None,
                        });
                        children.push(child);
                    }
                }
                DialTarget::Number { number } => {
                    let behaviour = self.virtual_number(number).cloned();
                    let endpoint = Endpoint::Virtual {
                        number: number.clone(),
                        behaviour: behaviour.clone().unwrap_or(Behaviour::Busy),
                    };
                    let child = self.new_leg(call_sid, false, endpoint, &from, number, now);
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
                        }
                        Some(Behaviour::SlowAnswer { ring_secs, .. }) => {
                            if let Some(l) = self.legs.get_mut(&child) {
                                l.state = LegState::Ringing;
                                l.answer_at =
                                    Some(now.at + Duration::from_secs_f32(ring_secs.max(0.0)));
                            }
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
        if let Some(call) = self.calls.get_mut(&call_sid) {
            if let Phase::Dialing(d) = &mut call.phase {
                let mut d = d.clone();
                d.answered = Some(child.to_string());
                d.bridged_unix_ms = Some(now.unix_ms);
                d.limit_at = d
                    .dial
                    .time_limit_secs
                    .map(|secs| now.at + Duration::from_secs(u64::from(secs)));
                call.phase = Phase::Bridged(d);
            }
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
    fn child_ended(&mut self, child: &str, now: Now) {
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

    fn dial_finished(
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
                for (k, v) in p.params.iter_mut() {
                    if k == "CallStatus" {
                        *v = "in-progress".into();
                    }
                }
            }
            self.fetch(call_sid, &action, &method, extra, now);
        } else {
            self.advance(call_sid);
            self.run(call_sid, now);
        }
    }

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
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        if matches!(call.phase, Phase::Ended) {
            return;
        }
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
        if let Some(peer) = peer {
            if let Some(p) = self.legs.get_mut(&peer) {
                if p.bridged_to.as_deref() == Some(sid) {
                    p.bridged_to = None;
                }
            }
        }
        let call_sid = self
            .legs
            .get(sid)
            .map(|l| l.call_sid.clone())
            .unwrap_or_default();
        if is_parent {
            self.end_call(&call_sid, reason, Notice::Plain, now);
        } else {
            self.child_ended(sid, now);
        }
    }

    pub(super) fn leg_timer(&mut self, sid: &str, now: Now) {
        let Some(leg) = self.legs.get_mut(sid) else {
            return;
        };
        if let Some(c) = leg.client_mut() {
            if c.reconnect_deadline.is_some_and(|d| d <= now.at) {
                c.reconnect_deadline = None;
                let state = LegState::Completed;
                self.end_leg(sid, state, "reconnect-timeout", Notice::Silent, now);
                return;
            }
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
        if let Phase::Bridged(d) = &call.phase {
            if let (Some(limit), Some(child)) = (d.limit_at, d.answered.clone()) {
                if limit <= now.at {
                    self.end_leg(
                        &child,
                        LegState::Completed,
                        "time-limit",
                        Notice::Plain,
                        now,
                    );
                }
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
            if let Some(l) = self.legs.get_mut(&child) {
                if !l.state.is_ended() {
                    l.failure_code = Some(31480);
                }
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
                let Some(l) = self.legs.get_mut(&leg) else {
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
                }
            }
        }
    }

    fn media_ready(&mut self, sid: &str, result: Result<String, String>, now: Now) {
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
    }
}

fn builtin_dial(targets: Vec<DialTarget>, timeout_secs: u32) -> Dial {
    Dial {
        targets,
        caller_id: None,
        answer_on_bridge: true,
        timeout_secs,
        action: None,
        method: "POST".into(),
        time_limit_secs: None,
    }
}

/// `application/x-www-form-urlencoded` encoding of pairs.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
