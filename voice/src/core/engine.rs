//! The engine: Device (`device.ts`) and Call (`call.ts`) behaviour over a PStream.
//!
//! Deliberate differences from the browser SDK, each because a desk phone must not get stuck:
//! - after `unregister()` a later socket reconnect does not re-register (the SDK does);
//! - the 30 s register refresh is not queued while the socket is down (the SDK queues one
//!   per interval and reports 31009 each time); reconnecting re-registers anyway;
//! - a `connected` frame on a socket that never dropped (the answer to `update_token`) does
//!   not send reconnect invites for live calls, so refreshing a token never touches audio;
//! - a call whose socket drops without a reconnect token ends with `error` + `disconnect`
//!   (the SDK marks it closed silently and stays busy), and a pending incoming call lost with
//!   the socket ends with `cancel` (the SDK drops it silently).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::call::{CallCore, MediaPhase};
use super::{MediaEvent, MediaRequest, Output};
use crate::error::{TwilioError, VoiceError};
use crate::model::{
    CallDirection, CallEvent, CallId, CallMessage, CallStatus, DeviceEvent, DeviceState,
};
use crate::options::DeviceOptions;
use crate::protocol::frame::{BrowserInfo, ClientMessage, Connected, ServerMessage, WireError};
use crate::protocol::{params, sdp, sid};
use crate::quality::WarningChange;
use crate::regions;
use crate::signaling::{
    PStream, SocketCommand, SocketId, StreamEvent, StreamStatus, TransportOptions,
};

/// `device.ts REGISTRATION_INTERVAL`.
pub const REGISTRATION_INTERVAL: Duration = Duration::from_secs(30);
/// `call.ts BACKOFF_CONFIG.max`: how long media reconnection may take before 31003.
pub const MEDIA_RECONNECT_WINDOW: Duration = Duration::from_secs(30);
/// The media reconnect backoff (min 1 ms, factor 1.1) is effectively immediate.
const ICE_RESTART_DELAY: Duration = Duration::from_millis(1);
const MEDIA_INTERRUPTED: &str = "Connection with Twilio was interrupted.";
const SOCKET_GEN_SHIFT: u32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deferred {
    Register,
    Invite(CallId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaFailure {
    ConnectionDisconnected,
    ConnectionFailed,
    LowBytes,
}

pub struct Engine {
    options: DeviceOptions,
    token: String,
    state: DeviceState,
    stream: Option<PStream>,
    stream_gen: u64,
    /// `connected` seen on the current stream (the SDK's `_streamConnectedPromise`).
    stream_connected: bool,
    /// Whether the socket dropped since the last `connected` (calls then resend invites).
    socket_dropped: bool,
    deferred: Vec<Deferred>,
    should_reregister: bool,
    unregistering: bool,
    register_at: Option<Instant>,
    token_will_expire_at: Option<Instant>,
    identity: Option<String>,
    edge: Option<String>,
    region: Option<String>,
    home: Option<String>,
    preferred_uri: Option<String>,
    last_error: Option<TwilioError>,
    calls: BTreeMap<CallId, CallCore>,
    active_call: Option<CallId>,
    next_call: u64,
    outputs: VecDeque<Output>,
    /// Recently ended calls the far end hung up (for Insights' `disconnected-by-remote`).
    ended_by_remote: VecDeque<CallId>,
    seed: u64,
}

impl Engine {
    pub fn new(token: String, options: DeviceOptions) -> Result<Self, VoiceError> {
        options.validate().map_err(VoiceError::InvalidArgument)?;
        let seed = options.random_seed.unwrap_or_else(rand::random);
        Ok(Engine {
            options,
            token,
            state: DeviceState::Unregistered,
            stream: None,
            stream_gen: 0,
            stream_connected: false,
            socket_dropped: false,
            deferred: Vec::new(),
            should_reregister: false,
            unregistering: false,
            register_at: None,
            token_will_expire_at: None,
            identity: None,
            edge: None,
            region: None,
            home: None,
            preferred_uri: None,
            last_error: None,
            calls: BTreeMap::new(),
            active_call: None,
            next_call: 1,
            outputs: VecDeque::new(),
            ended_by_remote: VecDeque::new(),
            seed,
        })
    }

    // ---- accessors -------------------------------------------------------------------

    pub fn state(&self) -> DeviceState {
        self.state
    }
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }
    pub fn edge(&self) -> Option<&str> {
        self.edge.as_deref()
    }
    pub fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn gateway(&self) -> Option<&str> {
        self.stream.as_ref().and_then(|s| s.gateway())
    }
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn options(&self) -> &DeviceOptions {
        &self.options
    }
    pub fn is_busy(&self) -> bool {
        self.active_call.is_some()
    }
    pub fn active_call(&self) -> Option<CallId> {
        self.active_call
    }
    /// The calls the Device holds besides the active one (pending and ignored incoming calls).
    pub fn calls(&self) -> Vec<CallId> {
        self.calls
            .keys()
            .copied()
            .filter(|id| Some(*id) != self.active_call)
            .collect()
    }
    pub fn call(&self, id: CallId) -> Option<&CallCore> {
        self.calls.get(&id)
    }
    /// Whether a recently ended call was hung up by the far end.
    pub fn was_ended_by_remote(&self, id: CallId) -> bool {
        self.ended_by_remote.contains(&id)
    }
    /// Whether the signaling socket is up and `connected` was received.
    pub fn is_signaling_connected(&self) -> bool {
        self.stream_connected
            && self
                .stream
                .as_ref()
                .is_some_and(|s| s.status() != StreamStatus::Disconnected)
    }

    // ---- driving ---------------------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(|c| c.ice_restart_at);
        [
            self.stream.as_ref().and_then(|s| s.poll_timeout()),
            self.register_at,
            self.token_will_expire_at,
        ]
        .into_iter()
        .flatten()
        .chain(calls)
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(s) = self.stream.as_mut() {
            s.handle_timeout(now);
        }
        self.pump(now);
        if self.register_at.is_some_and(|t| t <= now) {
            self.register_at = None;
            let connected = self
                .stream
                .as_ref()
                .is_some_and(|s| s.status() != StreamStatus::Disconnected);
            if connected {
                self.send_presence(true, now);
            } else {
                // Not queued while the socket is down; reconnecting re-registers.
                self.register_at = Some(now + REGISTRATION_INTERVAL);
            }
        }
        if self.token_will_expire_at.is_some_and(|t| t <= now) {
            self.token_will_expire_at = None;
            self.outputs
                .push_back(Output::Device(DeviceEvent::TokenWillExpire));
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ice_restart_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.start_ice_restart(id);
        }
        self.pump(now);
    }

    fn socket_parts(&self, socket: SocketId) -> Option<SocketId> {
        (socket >> SOCKET_GEN_SHIFT == self.stream_gen)
            .then_some(socket & ((1 << SOCKET_GEN_SHIFT) - 1))
    }

    pub fn on_socket_open(&mut self, socket: SocketId, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_open(local, now);
        }
        self.pump(now);
    }

    pub fn on_socket_close(&mut self, socket: SocketId, code: u16, reason: &str, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_close(local, code, reason, now);
        }
        self.pump(now);
    }

    pub fn on_socket_error(&mut self, socket: SocketId, message: &str, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_error(local, message, now);
        }
        self.pump(now);
    }

    pub fn on_socket_message(&mut self, socket: SocketId, text: String, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_message(local, text, now);
        }
        self.pump(now);
    }

    /// Moves the stream's socket commands out and handles its events until both are empty.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            if let Some(stream) = self.stream.as_mut() {
                let gen_bits = self.stream_gen << SOCKET_GEN_SHIFT;
                while let Some(cmd) = stream.poll_command() {
                    progressed = true;
                    self.outputs.push_back(Output::Socket(match cmd {
                        SocketCommand::Connect { socket, url } => SocketCommand::Connect {
                            socket: gen_bits | socket,
                            url,
                        },
                        SocketCommand::Send { socket, text } => SocketCommand::Send {
                            socket: gen_bits | socket,
                            text,
                        },
                        SocketCommand::Close { socket } => SocketCommand::Close {
                            socket: gen_bits | socket,
                        },
                    }));
                }
            }
            if let Some(ev) = self.stream.as_mut().and_then(|s| s.poll_event()) {
                progressed = true;
                self.on_stream_event(ev, now);
            }
            if !progressed {
                break;
            }
        }
    }

    // ---- Device API ------------------------------------------------------------------

    fn throw_if_destroyed(&self) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Device has been destroyed.".into(),
            ));
        }
        Ok(())
    }

    pub fn register(&mut self, now: Instant) -> Result<(), VoiceError> {
        if self.state != DeviceState::Unregistered {
            return Err(VoiceError::InvalidState(format!(
                "Attempt to register when device is in state \"{}\". Must be \"unregistered\".",
                self.state
            )));
        }
        self.should_reregister = false;
        self.unregistering = false;
        self.set_state(DeviceState::Registering);
        self.ensure_stream(now);
        if self.stream_connected {
            self.send_presence(true, now);
        } else if !self.deferred.contains(&Deferred::Register) {
            self.deferred.push(Deferred::Register);
        }
        self.pump(now);
        Ok(())
    }

    pub fn unregister(&mut self, now: Instant) -> Result<(), VoiceError> {
        if self.state != DeviceState::Registered {
            return Err(VoiceError::InvalidState(format!(
                "Attempt to unregister when device is in state \"{}\". Must be \"registered\".",
                self.state
            )));
        }
        self.should_reregister = false;
        self.unregistering = true;
        self.send_presence(false, now);
        self.pump(now);
        Ok(())
    }

    pub fn update_token(&mut self, token: String, now: Instant) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Attempt to \"updateToken\" when device is in state \"destroyed\".".into(),
            ));
        }
        if token.trim().is_empty() {
            return Err(VoiceError::InvalidArgument(
                "Parameter \"token\" must be of type \"string\".".into(),
            ));
        }
        self.token = token.clone();
        if let Some(s) = self.stream.as_mut() {
            s.set_token(token);
        }
        self.pump(now);
        Ok(())
    }

    pub fn update_options(
        &mut self,
        options: DeviceOptions,
        now: Instant,
    ) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Attempt to \"updateOptions\" when device is in state \"destroyed\".".into(),
            ));
        }
        options.validate().map_err(VoiceError::InvalidArgument)?;
        let old: std::collections::BTreeSet<String> =
            self.options.signaling_urls().into_iter().collect();
        let new: std::collections::BTreeSet<String> =
            options.signaling_urls().into_iter().collect();
        let changed = old != new;
        if self.is_busy() && changed {
            return Err(VoiceError::InvalidState(
                "Cannot change Edge while on an active Call".into(),
            ));
        }
        self.options = options;
        if changed && self.stream.is_some() {
            self.setup_stream(now);
        }
        self.pump(now);
        Ok(())
    }

    /// Places an outgoing call with these custom parameters (sent to the TwiML app).
    pub fn connect(
        &mut self,
        custom_parameters: Vec<(String, String)>,
        now: Instant,
    ) -> Result<CallId, VoiceError> {
        self.throw_if_destroyed()?;
        if self.active_call.is_some() {
            return Err(VoiceError::InvalidState("A Call is already active".into()));
        }
        self.ensure_stream(now);
        let id = self.new_call_id();
        self.calls.insert(
            id,
            CallCore::outgoing(custom_parameters, sid::temp_call_sid(), now),
        );
        self.active_call = Some(id);
        // Any incoming calls are ignored.
        let pending: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(cid, c)| **cid != id && c.status == CallStatus::Pending)
            .map(|(i, _)| *i)
            .collect();
        for p in pending {
            self.ignore(p, now);
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.status = CallStatus::Connecting;
            call.listening = true;
            call.media = MediaPhase::CreatingLocal;
        }
        self.outputs
            .push_back(Output::Media(id, MediaRequest::CreateOffer));
        self.pump(now);
        Ok(id)
    }

    pub fn disconnect_all(&mut self, now: Instant) {
        let others: Vec<CallId> = self.calls();
        for id in others {
            let pending = self
                .calls
                .get(&id)
                .is_some_and(|c| c.status == CallStatus::Pending);
            if pending {
                // As the SDK: dropped from the list; not rejected.
                self.remove_call(id);
            } else {
                self.disconnect(id, now);
            }
        }
        if let Some(active) = self.active_call {
            self.disconnect(active, now);
        }
        self.pump(now);
    }

    pub fn destroy(&mut self, now: Instant) {
        if self.state == DeviceState::Destroyed {
            return;
        }
        let pending: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.status == CallStatus::Pending)
            .map(|(id, _)| *id)
            .collect();
        for id in pending {
            self.reject(id, now);
        }
        self.disconnect_all(now);
        self.register_at = None;
        self.token_will_expire_at = None;
        self.destroy_stream(now);
        self.set_state(DeviceState::Destroyed);
        self.pump(now);
    }

    // ---- Call API ----------------------------------------------------------------------

    pub fn accept(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.status != CallStatus::Pending || call.direction != CallDirection::Incoming {
            return;
        }
        // beforeAccept: another active call is hung up first.
        if let Some(active) = self.active_call.filter(|a| *a != id) {
            self.disconnect(active, now);
            self.remove_call(active);
        }
        let prefs = self.options.codec_names();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.status = CallStatus::Connecting;
        call.listening = true;
        call.is_answered = true;
        call.media = MediaPhase::CreatingLocal;
        let offer = call.offer_sdp.clone().unwrap_or_default();
        let munged = sdp::set_codec_preferences(&offer, &prefs);
        self.outputs.push_back(Output::Media(
            id,
            MediaRequest::AnswerOffer { offer: munged },
        ));
        self.pump(now);
    }

    pub fn reject(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.status != CallStatus::Pending {
            return;
        }
        call.is_rejected = true;
        call.listening = false;
        call.status = CallStatus::Closed;
        let callsid = call.wire_sid().to_string();
        self.publish(ClientMessage::Reject { callsid });
        self.outputs.push_back(Output::Call(id, CallEvent::Reject));
        self.remove_call(id);
        self.pump(now);
    }

    pub fn ignore(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.status != CallStatus::Pending {
            return;
        }
        // Nothing is sent; the call stays held until Twilio cancels it.
        call.status = CallStatus::Closed;
        self.pump(now);
    }

    pub fn disconnect(&mut self, id: CallId, now: Instant) {
        self.disconnect_inner(id, None, false);
        self.pump(now);
    }

    pub fn mute(&mut self, id: CallId, should_mute: bool) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let was = call.muted;
        call.muted = should_mute;
        if call.media != MediaPhase::Idle && call.media != MediaPhase::Closed {
            self.outputs
                .push_back(Output::Media(id, MediaRequest::Mute(should_mute)));
        }
        if was != should_mute {
            self.outputs
                .push_back(Output::Call(id, CallEvent::Mute(should_mute)));
        }
    }

    pub fn send_digits(
        &mut self,
        id: CallId,
        digits: &str,
        now: Instant,
    ) -> Result<(), VoiceError> {
        if digits
            .chars()
            .any(|c| !matches!(c, '0'..='9' | '*' | '#' | 'w'))
        {
            return Err(VoiceError::InvalidArgument(
                "Illegal character passed into sendDigits".into(),
            ));
        }
        let Some(call) = self.calls.get(&id) else {
            return Err(VoiceError::InvalidState(
                "Call is no longer held by the Device".into(),
            ));
        };
        if call.telephone_event && call.media == MediaPhase::Stable {
            self.outputs.push_back(Output::Media(
                id,
                MediaRequest::SendDigits(digits.to_string()),
            ));
            return Ok(());
        }
        let callsid = call.call_sid().unwrap_or(&call.temp_sid).to_string();
        let up = self
            .stream
            .as_ref()
            .is_some_and(|s| s.status() != StreamStatus::Disconnected);
        if up {
            self.publish(ClientMessage::Dtmf {
                callsid,
                dtmf: digits.to_string(),
            });
        } else {
            let e = TwilioError::new(
                31005,
                "Could not send DTMF: Signaling channel is disconnected",
            );
            self.outputs
                .push_back(Output::Call(id, CallEvent::Error(e)));
        }
        self.pump(now);
        Ok(())
    }

    /// Sends a call message; returns its voice event SID.
    pub fn send_message(
        &mut self,
        id: CallId,
        content: Value,
        content_type: Option<String>,
        message_type: &str,
        now: Instant,
    ) -> Result<String, VoiceError> {
        if content.is_null() {
            return Err(VoiceError::InvalidArgument("`content` is empty".into()));
        }
        if message_type.is_empty() {
            return Err(VoiceError::InvalidArgument(
                "`messageType` must be a non-empty string.".into(),
            ));
        }
        if self.stream.is_none() {
            return Err(VoiceError::InvalidState(
                "Could not send CallMessage; Signaling channel is disconnected".into(),
            ));
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(VoiceError::InvalidState(
                "Call is no longer held by the Device".into(),
            ));
        };
        let Some(callsid) = call.call_sid().map(String::from) else {
            return Err(VoiceError::InvalidState(
                "Could not send CallMessage; Call has no CallSid".into(),
            ));
        };
        let voiceeventsid = sid::voice_event_sid();
        let contenttype = content_type.unwrap_or_else(|| "application/json".into());
        call.messages.insert(
            voiceeventsid.clone(),
            CallMessage {
                content: content.clone(),
                content_type: contenttype.clone(),
                message_type: message_type.to_string(),
                voice_event_sid: voiceeventsid.clone(),
            },
        );
        self.publish(ClientMessage::Message {
            callsid,
            content,
            contenttype,
            messagetype: message_type.to_string(),
            voiceeventsid: voiceeventsid.clone(),
        });
        self.pump(now);
        Ok(voiceeventsid)
    }

    // ---- media reports -------------------------------------------------------------------

    pub fn on_media_event(&mut self, id: CallId, event: MediaEvent, now: Instant) {
        if !self.calls.contains_key(&id) {
            return;
        }
        match event {
            MediaEvent::LocalDescription(local) => self.on_local_description(id, local, now),
            MediaEvent::RemoteApplied {
                codec,
                telephone_event,
            } => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                call.codec = Some(codec);
                call.telephone_event = telephone_event;
                if call.direction == CallDirection::Outgoing
                    && call.media == MediaPhase::ApplyingRemote
                {
                    call.media = MediaPhase::Stable;
                    if matches!(call.status, CallStatus::Ringing | CallStatus::Connecting) {
                        call.media_status = CallStatus::Open;
                        self.maybe_transition_to_open(id);
                    }
                } else if call.media == MediaPhase::ApplyingRemote {
                    call.media = MediaPhase::Stable;
                }
            }
            MediaEvent::DescriptionFailed { remote, message } => {
                let code = if remote { 53402 } else { 53400 };
                let e = TwilioError::new(31000, message.clone()).with_original(code, message);
                self.disconnect_inner(id, None, false);
                self.outputs
                    .push_back(Output::Call(id, CallEvent::Error(e)));
            }
            MediaEvent::IceDisconnected => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if !call.ice_disconnected {
                    call.ice_disconnected = true;
                    self.outputs.push_back(Output::Call(
                        id,
                        CallEvent::Warning {
                            name: "ice-connectivity-lost".into(),
                            data: None,
                        },
                    ));
                }
                self.on_media_failure(id, MediaFailure::ConnectionDisconnected, now);
            }
            MediaEvent::IceFailed => self.on_media_failure(id, MediaFailure::ConnectionFailed, now),
            MediaEvent::IceConnected => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if call.ice_disconnected {
                    call.ice_disconnected = false;
                    self.outputs.push_back(Output::Call(
                        id,
                        CallEvent::WarningCleared {
                            name: "ice-connectivity-lost".into(),
                        },
                    ));
                }
                self.on_media_reconnected(id);
            }
            MediaEvent::Stats(stats) => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if !call.is_live() {
                    return;
                }
                let muted = call.muted;
                let (sample, changes) = call.monitor.sample(stats, now);
                let mut low_bytes = false;
                for change in changes {
                    let name = change.name().to_string();
                    // Output level warnings go to Insights only; input level ones not while muted.
                    if name == "constant-audio-output-level"
                        || (muted && name == "constant-audio-input-level")
                    {
                        continue;
                    }
                    match change {
                        WarningChange::Raised { name, data } => {
                            low_bytes |= name.starts_with("low-bytes-");
                            self.outputs.push_back(Output::Call(
                                id,
                                CallEvent::Warning {
                                    name,
                                    data: Some(data),
                                },
                            ));
                        }
                        WarningChange::Cleared { name } => {
                            self.outputs
                                .push_back(Output::Call(id, CallEvent::WarningCleared { name }));
                        }
                    }
                }
                self.outputs
                    .push_back(Output::Call(id, CallEvent::Sample(Box::new(sample))));
                if low_bytes {
                    self.on_media_failure(id, MediaFailure::LowBytes, now);
                }
            }
            MediaEvent::Volume {
                input_level,
                output_level,
            } => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                call.monitor.add_volumes(input_level, output_level);
                self.outputs.push_back(Output::Call(
                    id,
                    CallEvent::Volume {
                        input: level_to_volume(input_level),
                        output: level_to_volume(output_level),
                    },
                ));
            }
        }
        self.pump(now);
    }

    fn on_local_description(&mut self, id: CallId, local: String, _now: Instant) {
        let bitrate = self.options.max_average_bitrate;
        let stream_connected = self.stream_connected;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.media != MediaPhase::CreatingLocal || !call.is_live() {
            return;
        }
        let local = sdp::set_max_average_bitrate(&local, bitrate);
        call.local_sdp = Some(local.clone());
        if call.ice_restart_pending {
            call.media = MediaPhase::HaveLocalOffer;
            let callsid = call.wire_sid().to_string();
            self.publish(ClientMessage::Reinvite {
                callsid,
                sdp: local,
            });
            return;
        }
        match call.direction {
            CallDirection::Outgoing => {
                call.media = MediaPhase::HaveLocalOffer;
                if stream_connected {
                    self.send_invite(id);
                } else {
                    self.deferred.push(Deferred::Invite(id));
                }
            }
            CallDirection::Incoming => {
                call.media = MediaPhase::Stable;
                call.media_status = CallStatus::Open;
                let callsid = call.wire_sid().to_string();
                self.publish(ClientMessage::Answer {
                    callsid,
                    sdp: local,
                });
                self.maybe_transition_to_open(id);
            }
        }
    }

    fn send_invite(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !call.is_live() {
            return;
        }
        let Some(sdp) = call.local_sdp.clone() else {
            return;
        };
        let msg = ClientMessage::Invite {
            callsid: call.temp_sid.clone(),
            sdp,
            params: params::encode_params(&call.custom_parameters),
        };
        self.publish(msg);
    }

    fn on_media_failure(&mut self, id: CallId, kind: MediaFailure, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.is_live()
            || !matches!(
                call.status,
                CallStatus::Open | CallStatus::Reconnecting | CallStatus::Ringing
            )
        {
            return;
        }
        let end_of_cycle = kind == MediaFailure::ConnectionFailed;
        if call.media_status == CallStatus::Reconnecting {
            if end_of_cycle {
                let started = call.media_reconnect_started.unwrap_or(now);
                if now.saturating_duration_since(started) > MEDIA_RECONNECT_WINDOW {
                    self.media_fatal(id);
                    return;
                }
                call.ice_restart_pending = false;
                call.ice_restart_at = Some(now + ICE_RESTART_DELAY);
            }
            return;
        }
        let low_bytes = call.monitor.has_active_warning("low-bytes-received")
            || call.monitor.has_active_warning("low-bytes-sent");
        let reconnect = (kind == MediaFailure::LowBytes && call.ice_disconnected)
            || (kind == MediaFailure::ConnectionDisconnected && low_bytes)
            || end_of_cycle;
        if !reconnect {
            return;
        }
        call.media_reconnect_started = Some(now);
        call.status = CallStatus::Reconnecting;
        call.media_status = CallStatus::Reconnecting;
        call.ice_restart_at = Some(now + ICE_RESTART_DELAY);
        let e = TwilioError::new(53405, "Media connection failed.");
        self.outputs
            .push_back(Output::Call(id, CallEvent::Reconnecting(e)));
    }

    fn start_ice_restart(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.ice_restart_at = None;
        if call.status != CallStatus::Reconnecting || call.media_status != CallStatus::Reconnecting
        {
            return;
        }
        call.ice_restart_pending = true;
        call.media = MediaPhase::CreatingLocal;
        self.outputs
            .push_back(Output::Media(id, MediaRequest::RestartIce));
    }

    fn media_fatal(&mut self, id: CallId) {
        self.disconnect_inner(id, Some(MEDIA_INTERRUPTED.to_string()), false);
        let e = TwilioError::new(31003, MEDIA_INTERRUPTED)
            .with_original(53405, "Media connection failed.");
        self.outputs
            .push_back(Output::Call(id, CallEvent::Error(e)));
    }

    fn on_media_reconnected(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.media_status != CallStatus::Reconnecting {
            return;
        }
        call.media_status = CallStatus::Open;
        call.media_reconnect_started = None;
        call.ice_restart_at = None;
        call.ice_restart_pending = false;
        if call.signaling_status == CallStatus::Open {
            call.status = CallStatus::Open;
            self.outputs
                .push_back(Output::Call(id, CallEvent::Reconnected));
        }
    }

    // ---- server frames ---------------------------------------------------------------------

    fn on_stream_event(&mut self, ev: StreamEvent, now: Instant) {
        match ev {
            StreamEvent::TransportOpen => {}
            StreamEvent::TransportClose => self.on_transport_close(now),
            StreamEvent::Offline => {
                self.edge = None;
                self.region = None;
                self.should_reregister =
                    self.state != DeviceState::Unregistered && !self.unregistering;
                self.unregistering = false;
                if self.state != DeviceState::Destroyed {
                    self.set_state(DeviceState::Unregistered);
                }
            }
            StreamEvent::TransportError { code, message } => {
                self.device_error(
                    &WireError {
                        code,
                        message,
                        retry_after_secs: None,
                    },
                    None,
                );
            }
            StreamEvent::Malformed(e) => {
                crate::device_log!(self.options.log_level, WARN, error = %e, "ignoring a malformed signaling frame")
            }
            StreamEvent::Closed => {
                self.stream = None;
                self.stream_connected = false;
                self.register_at = None;
                self.fail_deferred();
            }
            StreamEvent::Message(m) => self.on_server_message(m, now),
        }
    }

    fn on_server_message(&mut self, m: ServerMessage, now: Instant) {
        match m {
            ServerMessage::Connected(c) => self.on_connected(c, now),
            ServerMessage::Ready => {
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
                    self.call_message_error(callsid.as_deref(), &kx, &error);
                    return;
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
            ServerMessage::Ringing { callsid, sdp } => self.on_ringing(callsid, sdp),
            ServerMessage::Answer {
                callsid,
                sdp,
                reconnect,
                ..
            } => self.on_answer(callsid, sdp, reconnect),
            ServerMessage::Hangup { callsid, error } => self.on_hangup(callsid, error),
            ServerMessage::Cancel { callsid } => {
                let Some(sid) = callsid else { return };
                let Some(id) = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.call_sid() == Some(sid.as_str()))
                    .map(|(i, _)| *i)
                else {
                    return;
                };
                if let Some(call) = self.calls.get_mut(&id) {
                    if call.was_connected {
                        return;
                    }
                    call.is_cancelled = true;
                    call.listening = false;
                    call.status = CallStatus::Closed;
                }
                self.close_media(id);
                self.outputs.push_back(Output::Call(id, CallEvent::Cancel));
                self.remove_call(id);
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
                let Some(id) = self.find_call(&sid) else {
                    return;
                };
                if let Some(msg) = self.calls.get_mut(&id).and_then(|c| c.messages.remove(&kx)) {
                    self.outputs
                        .push_back(Output::Call(id, CallEvent::MessageSent(msg)));
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
                let Some(id) = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.call_sid() == Some(sid.as_str()))
                    .map(|(i, _)| *i)
                else {
                    crate::device_log!(self.options.log_level, WARN, callsid = %sid, "message for an unknown call");
                    return;
                };
                self.outputs.push_back(Output::Call(
                    id,
                    CallEvent::MessageReceived(CallMessage {
                        content,
                        content_type: contenttype.unwrap_or_default(),
                        message_type: messagetype.unwrap_or_default(),
                        voice_event_sid: voiceeventsid.unwrap_or_default(),
                    }),
                ));
            }
            ServerMessage::Unknown { type_name } => {
                crate::device_log!(self.options.log_level, DEBUG, %type_name, "ignoring an unknown signaling frame")
            }
        }
    }

    fn on_connected(&mut self, c: Connected, now: Instant) {
        self.stream_connected = true;
        let short = c.region.as_deref().and_then(regions::region_shortcode);
        self.edge = regions::edge_for_connected(c.edge.as_deref(), c.region.as_deref());
        self.region = short.map(String::from).or(c.region.clone());
        self.home = c.home.clone();
        if let Some(token) = &c.token {
            self.identity = token.identity.clone();
            if let Some(ttl) = token.ttl_secs {
                let ttl_ms = (ttl.max(0.0) * 1000.0) as u64;
                let wait = ttl_ms.saturating_sub(self.options.token_refresh_ms);
                self.token_will_expire_at = Some(now + Duration::from_millis(wait));
            }
        }
        self.preferred_uri = self.options.preferred_url(self.edge.as_deref());
        if self
            .active_call
            .is_some_and(|a| self.calls.get(&a).is_some_and(|c| c.was_connected))
        {
            let uri = self.preferred_uri.clone();
            if let Some(s) = self.stream.as_mut() {
                s.update_preferred_uri(uri);
            }
        }
        for d in std::mem::take(&mut self.deferred) {
            match d {
                Deferred::Register => {
                    if self.state == DeviceState::Registering {
                        self.send_presence(true, now);
                    }
                }
                Deferred::Invite(id) => self.send_invite(id),
            }
        }
        if self.should_reregister && self.state == DeviceState::Unregistered {
            let _ = self.register(now);
        }
        // Calls that lost signaling resume with their reconnect token.
        let dropped = std::mem::take(&mut self.socket_dropped);
        let resume: Vec<(String, String, String)> = self
            .calls
            .values()
            .filter(|c| dropped && c.signaling_status == CallStatus::Reconnecting)
            .filter_map(|c| {
                Some((
                    c.call_sid()?.to_string(),
                    c.local_sdp.clone()?,
                    c.reconnect_token.clone()?,
                ))
            })
            .collect();
        for (callsid, sdp, reconnect) in resume {
            self.publish(ClientMessage::Reconnect {
                callsid,
                sdp,
                reconnect,
            });
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

    fn call_message_error(&mut self, callsid: Option<&str>, kx: &str, error: &WireError) {
        let Some(id) = callsid.and_then(|s| self.find_call(s)) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.messages.remove(kx).is_none() {
            return;
        }
        let precise = self.options.enable_improved_signaling_error_precision;
        let e = if crate::error::lookup(error.code).is_some()
            && (precise || !TwilioError::is_precise_code(error.code))
        {
            TwilioError::new(error.code, error.message.clone())
        } else {
            TwilioError::new(31000, error.message.clone())
                .with_original(error.code, error.message.clone())
        };
        self.outputs
            .push_back(Output::Call(id, CallEvent::Error(e)));
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
        self.calls.insert(
            id,
            CallCore::incoming(parameters, custom, sdp, reconnect, now),
        );
        self.outputs
            .push_back(Output::Device(DeviceEvent::Incoming(id)));
    }

    fn on_ringing(&mut self, callsid: Option<String>, sdp: Option<String>) {
        let prefs = self.options.codec_names();
        let target = self.calls.iter().find_map(|(id, c)| {
            let mine = match (&callsid, c.call_sid()) {
                (Some(s), Some(own)) => own == s || c.temp_sid == *s,
                _ => true,
            };
            (c.direction == CallDirection::Outgoing
                && c.listening
                && mine
                && matches!(c.status, CallStatus::Connecting | CallStatus::Ringing))
            .then_some(*id)
        });
        let Some(id) = target else { return };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.set_call_sid(callsid.as_deref());
        call.status = CallStatus::Ringing;
        let has_early_media = sdp.is_some();
        if let Some(answer) = sdp {
            if call.media == MediaPhase::HaveLocalOffer {
                call.media = MediaPhase::ApplyingRemote;
                let munged = sdp::set_codec_preferences(&answer, &prefs);
                self.outputs.push_back(Output::Media(
                    id,
                    MediaRequest::ApplyAnswer { answer: munged },
                ));
            }
        }
        self.outputs
            .push_back(Output::Call(id, CallEvent::Ringing { has_early_media }));
    }

    fn on_answer(
        &mut self,
        callsid: Option<String>,
        sdp: Option<String>,
        reconnect: Option<String>,
    ) {
        let prefs = self.options.codec_names();
        let by_sid = callsid.as_deref().and_then(|s| {
            self.calls
                .iter()
                .find(|(_, c)| c.listening && c.matches_sid(s))
                .map(|(id, _)| *id)
        });
        let target = by_sid.or_else(|| {
            self.calls
                .iter()
                .find(|(_, c)| {
                    c.listening
                        && c.direction == CallDirection::Outgoing
                        && c.call_sid().is_none()
                        && matches!(c.status, CallStatus::Connecting | CallStatus::Ringing)
                })
                .map(|(id, _)| *id)
        });
        let Some(id) = target else { return };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(token) = reconnect {
            call.reconnect_token = Some(token);
        }
        // The answer to an ICE-restart reinvite.
        if call.ice_restart_pending && call.media == MediaPhase::HaveLocalOffer {
            if let Some(answer) = sdp {
                call.ice_restart_pending = false;
                call.media = MediaPhase::ApplyingRemote;
                let munged = sdp::set_codec_preferences(&answer, &prefs);
                self.outputs.push_back(Output::Media(
                    id,
                    MediaRequest::ApplyAnswer { answer: munged },
                ));
            }
            return;
        }
        if call.is_answered && call.status != CallStatus::Reconnecting {
            return;
        }
        call.set_call_sid(callsid.as_deref());
        call.is_answered = true;
        if let Some(answer) = sdp {
            if call.media == MediaPhase::HaveLocalOffer {
                call.media = MediaPhase::ApplyingRemote;
                let munged = sdp::set_codec_preferences(&answer, &prefs);
                self.outputs.push_back(Output::Media(
                    id,
                    MediaRequest::ApplyAnswer { answer: munged },
                ));
            }
        }
        self.maybe_transition_to_open(id);
    }

    fn on_hangup(&mut self, callsid: Option<String>, error: Option<WireError>) {
        let precise = self.options.enable_improved_signaling_error_precision;
        let targets: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.listening && c.is_live())
            .filter(|(_, c)| match &callsid {
                Some(s) => c.matches_sid(s),
                None => true,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            if let Some(err) = &error {
                let e = TwilioError::from_hangup(err.code, &err.message, precise);
                self.outputs
                    .push_back(Output::Call(id, CallEvent::Error(e)));
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.should_send_hangup = false;
            }
            self.disconnect_inner(id, None, true);
        }
    }

    fn on_transport_close(&mut self, _now: Instant) {
        self.socket_dropped = true;
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            match call.status {
                CallStatus::Pending if call.direction == CallDirection::Incoming => {
                    call.status = CallStatus::Closed;
                    call.is_cancelled = true;
                    self.outputs.push_back(Output::Call(id, CallEvent::Cancel));
                    self.remove_call(id);
                }
                CallStatus::Closed | CallStatus::Pending => {}
                _ if call.reconnect_token.is_some() => {
                    let first = call.signaling_status != CallStatus::Reconnecting;
                    call.status = CallStatus::Reconnecting;
                    call.signaling_status = CallStatus::Reconnecting;
                    if first {
                        let e = TwilioError::new(53001, "Signaling connection disconnected");
                        self.outputs
                            .push_back(Output::Call(id, CallEvent::Reconnecting(e)));
                    }
                }
                _ => {
                    call.should_send_hangup = false;
                    let e = TwilioError::new(31005, "Signaling connection disconnected");
                    self.outputs
                        .push_back(Output::Call(id, CallEvent::Error(e)));
                    self.disconnect_inner(id, None, true);
                }
            }
        }
    }

    // ---- helpers -----------------------------------------------------------------------------

    fn maybe_transition_to_open(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.is_answered {
            return;
        }
        if call.signaling_status == CallStatus::Reconnecting {
            call.signaling_status = CallStatus::Open;
            if call.media_status == CallStatus::Open {
                call.status = CallStatus::Open;
                self.outputs
                    .push_back(Output::Call(id, CallEvent::Reconnected));
            }
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.signaling_status = CallStatus::Open;
        if call.media == MediaPhase::Stable
            && call.media_status != CallStatus::Reconnecting
            && call.is_live()
        {
            call.status = CallStatus::Open;
            if !call.was_connected {
                call.was_connected = true;
                self.outputs.push_back(Output::Call(id, CallEvent::Accept));
                self.on_call_accepted(id);
            }
        }
    }

    fn on_call_accepted(&mut self, id: CallId) {
        self.active_call = Some(id);
        let uri = self.preferred_uri.clone();
        if let Some(s) = self.stream.as_mut() {
            s.update_preferred_uri(uri);
        }
    }

    fn disconnect_inner(&mut self, id: CallId, message: Option<String>, remote: bool) {
        let stream_up = self
            .stream
            .as_ref()
            .is_some_and(|s| s.status() != StreamStatus::Disconnected);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.can_disconnect() {
            return;
        }
        let send = stream_up && call.should_send_hangup && !remote;
        let callsid = call.wire_sid().to_string();
        call.listening = false;
        call.status = CallStatus::Closed;
        let quiet = call.is_cancelled || call.is_rejected;
        if send {
            self.publish(ClientMessage::Hangup { callsid, message });
        }
        if remote {
            self.ended_by_remote.push_back(id);
            while self.ended_by_remote.len() > 16 {
                self.ended_by_remote.pop_front();
            }
        }
        self.close_media(id);
        if !quiet {
            self.outputs
                .push_back(Output::Call(id, CallEvent::Disconnect));
        }
        self.remove_call(id);
    }

    fn close_media(&mut self, id: CallId) {
        if let Some(call) = self.calls.get_mut(&id) {
            if call.media != MediaPhase::Idle && call.media != MediaPhase::Closed {
                call.media = MediaPhase::Closed;
                self.outputs
                    .push_back(Output::Media(id, MediaRequest::Close));
            }
        }
    }

    fn remove_call(&mut self, id: CallId) {
        if self.calls.remove(&id).is_none() {
            return;
        }
        if self.active_call == Some(id) {
            self.active_call = None;
        }
        if self.active_call.is_none() && self.calls.is_empty() {
            if let Some(s) = self.stream.as_mut() {
                s.update_preferred_uri(None);
            }
        }
        self.deferred.retain(|d| *d != Deferred::Invite(id));
        self.outputs.push_back(Output::CallRemoved(id));
    }

    fn find_call(&self, sid: &str) -> Option<CallId> {
        self.calls
            .iter()
            .find(|(_, c)| c.matches_sid(sid))
            .map(|(id, _)| *id)
    }

    fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    fn set_state(&mut self, state: DeviceState) {
        if state == self.state {
            return;
        }
        self.state = state;
        crate::device_log!(self.options.log_level, INFO, state = %state, "device state");
        let ev = match state {
            DeviceState::Unregistered => DeviceEvent::Unregistered,
            DeviceState::Registering => DeviceEvent::Registering,
            DeviceState::Registered => DeviceEvent::Registered,
            DeviceState::Destroyed => DeviceEvent::Destroyed,
        };
        self.outputs.push_back(Output::Device(ev));
    }

    fn send_presence(&mut self, presence: bool, now: Instant) {
        if self.stream.is_none() {
            return;
        }
        self.publish(ClientMessage::Register { audio: presence });
        self.register_at = presence.then(|| now + REGISTRATION_INTERVAL);
    }

    fn publish(&mut self, message: ClientMessage) {
        if let Some(s) = self.stream.as_mut() {
            s.publish(message);
        }
    }

    fn ensure_stream(&mut self, now: Instant) {
        if self.stream.is_none() {
            self.setup_stream(now);
        }
    }

    fn setup_stream(&mut self, now: Instant) {
        self.destroy_stream(now);
        self.stream_gen += 1;
        self.stream_connected = false;
        self.socket_dropped = false;
        let transport = TransportOptions {
            max_preferred_duration: self.options.max_preferred_duration(),
            ..Default::default()
        };
        let browserinfo = BrowserInfo::device(
            self.options.app_name.as_deref(),
            self.options.app_version.as_deref(),
        );
        let seed = self.seed.wrapping_add(self.stream_gen);
        self.stream = Some(PStream::new(
            self.token.clone(),
            self.options.signaling_urls(),
            browserinfo,
            transport,
            seed,
            now,
        ));
    }

    fn destroy_stream(&mut self, now: Instant) {
        let Some(mut old) = self.stream.take() else {
            return;
        };
        old.destroy(now);
        let gen_bits = self.stream_gen << SOCKET_GEN_SHIFT;
        while let Some(cmd) = old.poll_command() {
            if let SocketCommand::Close { socket } = cmd {
                self.outputs.push_back(Output::Socket(SocketCommand::Close {
                    socket: gen_bits | socket,
                }));
            }
        }
        while let Some(ev) = old.poll_event() {
            if ev == StreamEvent::Offline {
                self.on_stream_event(ev, now);
            }
        }
        self.stream_connected = false;
        self.fail_deferred();
    }

    /// The stream ended before `connected`: whatever waited for it fails.
    fn fail_deferred(&mut self) {
        let cause = self
            .last_error
            .clone()
            .unwrap_or_else(|| TwilioError::new(53001, "Signaling connection disconnected"));
        for d in std::mem::take(&mut self.deferred) {
            if let Deferred::Invite(id) = d {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.should_send_hangup = false;
                }
                self.outputs
                    .push_back(Output::Call(id, CallEvent::Error(cause.clone())));
                self.disconnect_inner(id, None, true);
            }
        }
    }
}

/// A level (0–32767) as the SDK's 0–1 volume: the analyser's −100…−30 dB range.
fn level_to_volume(level: f64) -> f32 {
    if level <= 0.0 {
        return 0.0;
    }
    let db = 20.0 * (level / 32767.0).log10();
    (((db + 100.0) / 70.0).clamp(0.0, 1.0)) as f32
}
