//! One call's state, as `lib/twilio/call.ts` keeps it. The engine drives it; this file holds
//! the state and the rules that only need the call itself.

use std::collections::HashMap;
use std::time::Instant;

use crate::model::{CallDirection, CallMessage, CallParameters, CallStatus, Codec};
use crate::quality::StatsMonitor;

/// Where the media side of a call stands (`peerconnection.ts` status, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPhase {
    /// Nothing asked of the media yet.
    Idle,
    /// Waiting for the local offer (outgoing) or answer (incoming).
    CreatingLocal,
    /// Local offer sent; waiting for the remote answer.
    HaveLocalOffer,
    /// The remote answer is being applied.
    ApplyingRemote,
    /// Offer and answer both in place (the SDK's media handler is `open`).
    Stable,
    Closed,
}

#[derive(Debug)]
pub struct CallCore {
    pub direction: CallDirection,
    pub status: CallStatus,
    /// `TJS…` for outgoing calls: what the first `invite` and early `hangup`s carry.
    pub temp_sid: String,
    pub parameters: CallParameters,
    pub custom_parameters: Vec<(String, String)>,
    pub reconnect_token: Option<String>,
    /// The remote offer of an incoming call.
    pub offer_sdp: Option<String>,
    /// The local description last produced (resent in reconnect invites).
    pub local_sdp: Option<String>,
    pub media: MediaPhase,
    /// An ICE-restart offer is out (`reinvite` sent, answer awaited).
    pub ice_restart_pending: bool,
    pub is_answered: bool,
    pub was_connected: bool,
    pub media_status: CallStatus,
    pub signaling_status: CallStatus,
    pub is_cancelled: bool,
    pub is_rejected: bool,
    pub should_send_hangup: bool,
    /// Listening for `hangup` and `answer` frames (from accept until cleanup).
    pub listening: bool,
    pub muted: bool,
    pub codec: Option<Codec>,
    pub telephone_event: bool,
    pub messages: HashMap<String, CallMessage>,
    pub monitor: StatsMonitor,
    pub media_reconnect_started: Option<Instant>,
    /// When the next ICE restart should be attempted.
    pub ice_restart_at: Option<Instant>,
    pub ice_disconnected: bool,
    pub created: Instant,
}

impl CallCore {
    pub fn outgoing(
        custom_parameters: Vec<(String, String)>,
        temp_sid: String,
        now: Instant,
    ) -> Self {
        Self::new(
            CallDirection::Outgoing,
            CallParameters::new(),
            custom_parameters,
            temp_sid,
            now,
        )
    }

    pub fn incoming(
        parameters: CallParameters,
        custom_parameters: Vec<(String, String)>,
        offer_sdp: String,
        reconnect_token: Option<String>,
        now: Instant,
    ) -> Self {
        let mut c = Self::new(
            CallDirection::Incoming,
            parameters,
            custom_parameters,
            String::new(),
            now,
        );
        c.offer_sdp = Some(offer_sdp);
        c.reconnect_token = reconnect_token;
        c
    }

    fn new(
        direction: CallDirection,
        parameters: CallParameters,
        custom_parameters: Vec<(String, String)>,
        temp_sid: String,
        now: Instant,
    ) -> Self {
        CallCore {
            direction,
            status: CallStatus::Pending,
            temp_sid,
            parameters,
            custom_parameters,
            reconnect_token: None,
            offer_sdp: None,
            local_sdp: None,
            media: MediaPhase::Idle,
            ice_restart_pending: false,
            is_answered: false,
            was_connected: false,
            media_status: CallStatus::Pending,
            signaling_status: CallStatus::Pending,
            is_cancelled: false,
            is_rejected: false,
            should_send_hangup: true,
            listening: false,
            muted: false,
            codec: None,
            telephone_event: false,
            messages: HashMap::new(),
            monitor: StatsMonitor::new(now),
            media_reconnect_started: None,
            ice_restart_at: None,
            ice_disconnected: false,
            created: now,
        }
    }

    /// The real `CA…` SID once known.
    pub fn call_sid(&self) -> Option<&str> {
        self.parameters.get("CallSid").map(String::as_str)
    }

    /// The SID frames about this call carry: the real one, else the temporary one.
    pub fn wire_sid(&self) -> &str {
        self.call_sid().unwrap_or(&self.temp_sid)
    }

    /// Whether a `hangup`/`cancel` with this SID is about this call.
    pub fn matches_sid(&self, sid: &str) -> bool {
        self.call_sid() == Some(sid) || (!self.temp_sid.is_empty() && self.temp_sid == sid)
    }

    /// Records the SID from `ringing`/`answer` (`call.ts _setCallSid`).
    pub fn set_call_sid(&mut self, sid: Option<&str>) {
        if let Some(sid) = sid.filter(|s| !s.is_empty()) {
            if self.call_sid().is_none() {
                self.parameters.insert("CallSid".into(), sid.to_string());
            }
        }
    }

    /// Whether `disconnect()` acts in the current status.
    pub fn can_disconnect(&self) -> bool {
        matches!(
            self.status,
            CallStatus::Open
                | CallStatus::Connecting
                | CallStatus::Reconnecting
                | CallStatus::Ringing
        )
    }

    pub fn is_live(&self) -> bool {
        self.status != CallStatus::Closed
    }
}
