//! A call's state as enums: where the call stands ([`Phase`]), where each of its two legs
//! stands ([`SignalingLeg`], [`MediaLeg`]) and where the offer/answer exchange stands
//! ([`Negotiation`]). The SDK's status is derived from them, so that no combination the SDK
//! cannot be in can be written down.

use std::time::Instant;

use crate::model::CallStatus;

/// Where a call stands, with what each phase needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// An incoming call not yet accepted, rejected or ignored: the offer waits for `accept`.
    Pending { offer: String },
    /// An incoming call ignored: nothing was sent and the Device holds it until Twilio
    /// cancels it. Its status is `closed`.
    Ignored,
    /// Placed (outgoing) or accepted (incoming), not yet ringing or open.
    Connecting { answer: Answer },
    /// The far end is ringing (outgoing).
    Ringing { answer: Answer },
    /// Connected: `accept` was emitted. Whether it is reconnecting is the legs' business.
    Open,
    /// Over; the Device lets go of it.
    Closed,
}

/// Whether the far end answered (`answer` frame, or our own `accept` of an incoming call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Awaited,
    Received,
}

/// The signaling side of a call (`call.ts _signalingStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalingLeg {
    /// Not answered yet.
    Pending,
    Open,
    /// The socket dropped; the call resumes with its reconnect token once `connected`.
    Reconnecting,
}

/// The media side of a call (`call.ts _mediaStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaLeg {
    Pending,
    Open,
    /// Media was lost at `started`; an ICE restart is due at `restart_at` (when one is not
    /// already under way).
    Reconnecting {
        started: Instant,
        restart_at: Option<Instant>,
    },
}

/// Where the offer/answer exchange stands (`peerconnection.ts` status, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPhase {
    /// Nothing asked of the media yet.
    Idle,
    /// Waiting for the local offer (outgoing, or an ICE restart) or answer (incoming).
    CreatingLocal {
        purpose: Offer,
    },
    /// Local offer sent; waiting for the remote answer.
    HaveLocalOffer {
        purpose: Offer,
    },
    /// The remote answer is being applied.
    ApplyingRemote,
    /// Offer and answer both in place (the SDK's media handler is `open`).
    Stable,
    Closed,
}

/// What a local description is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The call's first offer (or answer, for an incoming call).
    Initial,
    /// An ICE-restart offer, sent as `reinvite`.
    IceRestart,
}

/// Whether ICE connectivity is currently lost (the `ice-connectivity-lost` warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ice {
    Connected,
    Lost,
}

/// Where an outgoing call's `invite` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invite {
    /// No local offer yet (or an incoming call: it never sends one).
    NotReady,
    /// The offer is ready and waits for the stream's `connected`.
    Deferred,
    Sent,
}

impl Phase {
    /// The answer, for the phases that wait for one; `Open` is answered by definition.
    pub fn answer(&self) -> Option<Answer> {
        match self {
            Phase::Connecting { answer } | Phase::Ringing { answer } => Some(*answer),
            Phase::Open => Some(Answer::Received),
            _ => None,
        }
    }

    /// Listening for `hangup` and `answer` frames: from accept (or connect) until the end.
    pub fn is_listening(&self) -> bool {
        matches!(
            self,
            Phase::Connecting { .. } | Phase::Ringing { .. } | Phase::Open
        )
    }
}

impl MediaPhase {
    /// Whether the media session exists (asked for and not closed).
    pub fn is_active(self) -> bool {
        !matches!(self, MediaPhase::Idle | MediaPhase::Closed)
    }
}

/// The SDK's call status, from the phase and the legs.
pub fn status(phase: &Phase, signaling: SignalingLeg, media: MediaLeg) -> CallStatus {
    let reconnecting =
        signaling == SignalingLeg::Reconnecting || matches!(media, MediaLeg::Reconnecting { .. });
    match phase {
        Phase::Pending { .. } => CallStatus::Pending,
        Phase::Ignored | Phase::Closed => CallStatus::Closed,
        _ if reconnecting => CallStatus::Reconnecting,
        Phase::Connecting { .. } => CallStatus::Connecting,
        Phase::Ringing { .. } => CallStatus::Ringing,
        Phase::Open => CallStatus::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_phase_and_legs() {
        let t = Instant::now();
        let ringing = Phase::Ringing {
            answer: Answer::Awaited,
        };
        let lost = MediaLeg::Reconnecting {
            started: t,
            restart_at: None,
        };
        assert_eq!(
            status(&ringing, SignalingLeg::Pending, MediaLeg::Pending),
            CallStatus::Ringing
        );
        assert_eq!(
            status(&ringing, SignalingLeg::Pending, lost),
            CallStatus::Reconnecting
        );
        assert_eq!(
            status(&Phase::Open, SignalingLeg::Reconnecting, MediaLeg::Open),
            CallStatus::Reconnecting
        );
        assert_eq!(
            status(&Phase::Open, SignalingLeg::Open, MediaLeg::Open),
            CallStatus::Open
        );
        // A closed call is closed whatever its legs were doing.
        assert_eq!(
            status(&Phase::Closed, SignalingLeg::Reconnecting, lost),
            CallStatus::Closed
        );
        assert_eq!(
            status(&Phase::Ignored, SignalingLeg::Pending, MediaLeg::Pending),
            CallStatus::Closed
        );
        assert!(!Phase::Ignored.is_listening());
        assert_eq!(Phase::Open.answer(), Some(Answer::Received));
    }
}
