//! Starting calls: a client's `invite`, or a virtual caller placed by the control API.

use std::time::Duration;

use super::calls::{Call, CallKind, ClientEndpoint, Endpoint, Leg, LegState, Phase};
use super::exec::{builtin_dial, virtual_media};
use super::{MediaCommand, Now, Switch};
use crate::config::Behaviour;
use crate::error::LabError;
use crate::sid;
use crate::twiml::{self, DialTarget, Verb};

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
            progress: None,
        };
        self.legs.insert(sid.clone(), leg);
        sid
    }

    pub(super) fn new_call(&mut self, call: Call) {
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
    ) -> Result<String, LabError> {
        let creds = self.cfg.credentials.clone();
        let media = virtual_media(caller)
            .filter(|_| !matches!(caller, Behaviour::SlowAnswer { .. }))
            .ok_or_else(|| {
                LabError::Control("caller must be echo, tone, silence or dtmf_recorder".into())
            })?;
        let kind = if to == creds.phone_number {
            CallKind::InboundNumber
        } else if let Some(identity) = to.strip_prefix("client:") {
            if identity.is_empty() {
                return Err(LabError::Control("client: needs an identity".into()));
            }
            CallKind::InboundClient
        } else {
            return Err(LabError::Control(format!(
                "to must be the lab's phone number {} or client:<identity>",
                creds.phone_number
            )));
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
                    status_callback: None,
                }],
                timeout_secs,
                !self.faults.answer_without_ringing,
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
}
