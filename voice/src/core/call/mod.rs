//! One call as its own sans-IO state machine (`lib/twilio/call.ts`), the way a quinn-proto
//! `Connection` sits under its `Endpoint`: the Device engine routes inputs to it (API calls,
//! frames with its CallSid, media reports, time) and drains what it asks for
//! ([`CallCore::poll`]) after each input; [`CallCore::poll_timeout`] says when
//! [`CallCore::handle_timeout`] must run next.
//!
//! - [`phase`] — the call's state as enums, and the status derived from them;
//! - [`control`] — what the application asks: accept, reject, ignore, disconnect, mute, DTMF,
//!   messages;
//! - [`signaling`] — frames about this call and what the signaling stream does under it;
//! - [`media`] — the media session's reports: descriptions, ICE, stats, ICE restarts.

mod control;
mod media;
pub mod phase;
mod signaling;

pub use control::check_digits;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::{CallDirection, CallEvent, CallMessage, CallParameters, CallStatus, Codec};
use crate::options::DeviceOptions;
use crate::protocol::frame::ClientMessage;
use crate::quality::StatsMonitor;

use super::MediaRequest;
pub use phase::{Answer, Ice, Invite, MediaLeg, MediaPhase, Offer, Phase, SignalingLeg};

/// `call.ts BACKOFF_CONFIG.max`: how long media reconnection may take before 31003.
pub const MEDIA_RECONNECT_WINDOW: Duration = Duration::from_secs(30);

/// What a call asks of the Device engine.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutput {
    /// A frame for the signaling stream.
    Send(ClientMessage),
    Event(CallEvent),
    Media(MediaRequest),
    /// The call is connected (`accept` emitted): it becomes the Device's active call.
    Accepted,
    /// The call is over and the Device lets go of it. Outputs queued after this one (an
    /// `error` after `disconnect`, as the SDK orders them) still belong to it.
    Closed(Ending),
}

/// Who ended a call, for Insights' `disconnected-by-remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The far end or the network hung up (a `hangup` frame, a lost stream).
    Remote,
    /// Anything else: our hangup, reject, a cancel, a media failure.
    Other,
}

/// What a call needs to know about the signaling stream under it, given with each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The socket is up (frames sent now go out).
    pub up: bool,
    /// The stream's `connected` was received (an `invite` may go out).
    pub connected: bool,
}

/// The Device options a call reads (refreshed by `update_options`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallConfig {
    pub codec_preferences: Vec<&'static str>,
    pub max_average_bitrate: Option<u32>,
    pub precise_errors: bool,
}

impl CallConfig {
    pub fn from_options(options: &DeviceOptions) -> Self {
        CallConfig {
            codec_preferences: options.codec_names(),
            max_average_bitrate: options.max_average_bitrate,
            precise_errors: options.enable_improved_signaling_error_precision,
        }
    }
}

#[derive(Debug)]
pub struct CallCore {
    pub direction: CallDirection,
    /// `TJS…` for outgoing calls: what the first `invite` and early `hangup`s carry.
    pub temp_sid: String,
    pub parameters: CallParameters,
    pub custom_parameters: Vec<(String, String)>,
    pub reconnect_token: Option<String>,
    /// The local description last produced (resent in reconnect invites).
    pub local_sdp: Option<String>,
    pub muted: bool,
    pub codec: Option<Codec>,
    /// Whether telephone-event was negotiated (DTMF goes in-band then).
    pub telephone_event: bool,
    pub created: Instant,
    phase: Phase,
    signaling: SignalingLeg,
    media: MediaLeg,
    negotiation: MediaPhase,
    ice: Ice,
    /// The network changed while an offer/answer was under way: an ICE restart follows as
    /// soon as it is done.
    restart_wanted: bool,
    invite: Invite,
    messages: HashMap<String, CallMessage>,
    monitor: StatsMonitor,
    config: CallConfig,
    outputs: VecDeque<CallOutput>,
}

impl CallCore {
    /// An outgoing call: asks the media for its offer at once.
    pub fn outgoing(
        custom_parameters: Vec<(String, String)>,
        temp_sid: String,
        config: CallConfig,
        now: Instant,
    ) -> Self {
        let mut call = Self::new(
            CallDirection::Outgoing,
            Phase::Connecting {
                answer: Answer::Awaited,
            },
            CallParameters::new(),
            custom_parameters,
            temp_sid,
            config,
            now,
        );
        call.negotiation = MediaPhase::CreatingLocal {
            purpose: Offer::Initial,
        };
        call.push(CallOutput::Media(MediaRequest::CreateOffer));
        call
    }

    /// An incoming call from an `invite`, pending until accepted, rejected or ignored.
    pub fn incoming(
        parameters: CallParameters,
        custom_parameters: Vec<(String, String)>,
        offer: String,
        reconnect_token: Option<String>,
        config: CallConfig,
        now: Instant,
    ) -> Self {
        let mut call = Self::new(
            CallDirection::Incoming,
            Phase::Pending { offer },
            parameters,
            custom_parameters,
            String::new(),
            config,
            now,
        );
        call.reconnect_token = reconnect_token;
        call
    }

    fn new(
        direction: CallDirection,
        phase: Phase,
        parameters: CallParameters,
        custom_parameters: Vec<(String, String)>,
        temp_sid: String,
        config: CallConfig,
        now: Instant,
    ) -> Self {
        CallCore {
            direction,
            temp_sid,
            parameters,
            custom_parameters,
            reconnect_token: None,
            local_sdp: None,
            muted: false,
            codec: None,
            telephone_event: false,
            created: now,
            phase,
            signaling: SignalingLeg::Pending,
            media: MediaLeg::Pending,
            negotiation: MediaPhase::Idle,
            ice: Ice::Connected,
            restart_wanted: false,
            invite: Invite::NotReady,
            messages: HashMap::new(),
            monitor: StatsMonitor::new(now),
            config,
            outputs: VecDeque::new(),
        }
    }

    // ---- reading ---------------------------------------------------------------------

    /// The SDK's status, derived from the phase and the legs.
    pub fn status(&self) -> CallStatus {
        phase::status(&self.phase, self.signaling, self.media)
    }
    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn signaling_leg(&self) -> SignalingLeg {
        self.signaling
    }
    pub fn media_leg(&self) -> MediaLeg {
        self.media
    }
    pub fn media_phase(&self) -> MediaPhase {
        self.negotiation
    }
    pub fn invite(&self) -> Invite {
        self.invite
    }
    /// Neither over nor ignored (an ignored call only waits for its `cancel`).
    pub fn is_live(&self) -> bool {
        !matches!(self.phase, Phase::Closed | Phase::Ignored)
    }
    /// Connected at least once (`accept` was emitted).
    pub fn was_connected(&self) -> bool {
        self.phase == Phase::Open
    }
    pub fn is_pending(&self) -> bool {
        matches!(self.phase, Phase::Pending { .. })
    }
    /// Listening for `hangup` and `answer` frames (from accept until cleanup).
    pub fn is_listening(&self) -> bool {
        self.phase.is_listening()
    }

    /// The real `CA…` SID once known.
    pub fn call_sid(&self) -> Option<&str> {
        self.parameters.get("CallSid").map(String::as_str)
    }

    /// The SID frames about this call carry: the real one, else the temporary one.
    pub fn wire_sid(&self) -> &str {
        self.call_sid().unwrap_or(&self.temp_sid)
    }

    /// Whether a `hangup`/`answer` with this SID is about this call.
    pub fn matches_sid(&self, sid: &str) -> bool {
        self.call_sid() == Some(sid) || (!self.temp_sid.is_empty() && self.temp_sid == sid)
    }

    /// Records the SID from `ringing`/`answer` (`call.ts _setCallSid`).
    fn set_call_sid(&mut self, sid: Option<&str>) {
        if let Some(sid) = sid.filter(|s| !s.is_empty())
            && self.call_sid().is_none()
        {
            self.parameters.insert("CallSid".into(), sid.to_string());
        }
    }

    /// Whether `disconnect()` acts in the current phase.
    pub fn can_disconnect(&self) -> bool {
        self.phase.is_listening()
    }

    /// While media is reconnecting: when the window for it to come back ends (31003).
    pub fn media_reconnect_deadline(&self) -> Option<Instant> {
        match self.media {
            MediaLeg::Reconnecting { started, .. } if self.is_live() => {
                Some(started + MEDIA_RECONNECT_WINDOW)
            }
            _ => None,
        }
    }

    pub fn set_config(&mut self, config: CallConfig) {
        self.config = config;
    }

    // ---- driving ---------------------------------------------------------------------

    pub fn poll(&mut self) -> Option<CallOutput> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let restart = match self.media {
            MediaLeg::Reconnecting { restart_at, .. } => restart_at,
            _ => None,
        };
        [restart, self.media_reconnect_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, link: Link) {
        if let MediaLeg::Reconnecting {
            restart_at: Some(t),
            ..
        } = self.media
            && t <= now
        {
            self.start_ice_restart();
        }
        // Media that has not come back within the window ends the call even when no ICE
        // cycle ends to say so (signaling down too, so a restart offer is never answered).
        if self.media_reconnect_deadline().is_some_and(|t| t <= now) {
            self.media_fatal(link);
        }
    }

    fn push(&mut self, output: CallOutput) {
        self.outputs.push_back(output);
    }

    fn emit(&mut self, event: CallEvent) {
        self.push(CallOutput::Event(event));
    }

    fn send(&mut self, message: ClientMessage) {
        self.push(CallOutput::Send(message));
    }

    /// Ends the call (`call.ts _disconnect`): a `hangup` unless the far end ended it or the
    /// socket is down, the media closed, `disconnect`.
    pub fn disconnect(&mut self, link: Link, message: Option<String>, ending: Ending) {
        if !self.can_disconnect() {
            return;
        }
        self.phase = Phase::Closed;
        if link.up && ending == Ending::Other {
            let callsid = self.wire_sid().to_string();
            self.send(ClientMessage::Hangup { callsid, message });
        }
        self.close_media();
        self.emit(CallEvent::Disconnect);
        self.push(CallOutput::Closed(ending));
    }

    fn close_media(&mut self) {
        if self.negotiation.is_active() {
            self.negotiation = MediaPhase::Closed;
            self.push(CallOutput::Media(MediaRequest::Close));
        }
    }

    /// Open once answered, with media in place and not reconnecting
    /// (`call.ts _maybeTransitionToOpen`).
    fn maybe_transition_to_open(&mut self) {
        if self.phase.answer() != Some(Answer::Received) {
            return;
        }
        if self.signaling == SignalingLeg::Reconnecting {
            self.signaling = SignalingLeg::Open;
            if self.media == MediaLeg::Open && self.phase == Phase::Open {
                self.emit(CallEvent::Reconnected);
            }
            // An ICE-restart offer still unanswered went out while the socket was down, or
            // on the socket that died: it is sent again on this one.
            if let MediaPhase::HaveLocalOffer {
                purpose: Offer::IceRestart,
            } = self.negotiation
            {
                self.send_reinvite();
            }
        }
        self.signaling = SignalingLeg::Open;
        let media_steady = !matches!(self.media, MediaLeg::Reconnecting { .. });
        if self.negotiation == MediaPhase::Stable && media_steady && self.phase != Phase::Open {
            self.phase = Phase::Open;
            self.emit(CallEvent::Accept);
            self.push(CallOutput::Accepted);
        }
    }
}

#[cfg(test)]
mod reconnect_tests;
#[cfg(test)]
mod tests;
