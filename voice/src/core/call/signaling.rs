//! Frames about this call (routed by CallSid by the Device engine) and what the signaling
//! stream under it does: drops, `connected` again, a stream that ended before `connected`.

use super::SignalingLeg;
use super::{Answer, CallCore, CallOutput, Ending, Invite, Link, MediaPhase, Offer, Phase};
use crate::core::MediaRequest;
use crate::error::TwilioError;
use crate::model::{CallDirection, CallEvent, CallMessage, CallStatus};
use crate::protocol::frame::{ClientMessage, WireError};
use crate::protocol::{params, sdp};

impl CallCore {
    /// Whether a `ringing` with this SID is for this call: an outgoing call still setting up.
    pub fn wants_ringing(&self, callsid: Option<&str>) -> bool {
        let mine = match (callsid, self.call_sid()) {
            (Some(s), Some(own)) => own == s || self.temp_sid == s,
            _ => true,
        };
        self.direction == CallDirection::Outgoing && self.is_setting_up() && mine
    }

    /// Whether an `answer` without a known SID is for this call: an outgoing call still
    /// setting up that has no CallSid yet.
    pub fn wants_unnamed_answer(&self) -> bool {
        self.direction == CallDirection::Outgoing
            && self.call_sid().is_none()
            && self.is_setting_up()
    }

    /// Connecting or ringing, and not reconnecting.
    fn is_setting_up(&self) -> bool {
        matches!(self.status(), CallStatus::Connecting | CallStatus::Ringing)
    }

    pub fn on_ringing(&mut self, callsid: Option<&str>, sdp: Option<String>) {
        self.set_call_sid(callsid);
        if let Phase::Connecting { answer } | Phase::Ringing { answer } = self.phase {
            self.phase = Phase::Ringing { answer };
        }
        let has_early_media = sdp.is_some();
        if let Some(answer) = sdp
            && let MediaPhase::HaveLocalOffer { .. } = self.negotiation
        {
            self.apply_answer(&answer);
        }
        self.emit(CallEvent::Ringing { has_early_media });
    }

    pub fn on_answer(
        &mut self,
        callsid: Option<&str>,
        sdp: Option<String>,
        reconnect: Option<String>,
    ) {
        if let Some(token) = reconnect {
            self.reconnect_token = Some(token);
        }
        // The answer to an ICE-restart reinvite. One without SDP is the answer to the
        // reconnect invite of a call whose signaling came back meanwhile.
        if let MediaPhase::HaveLocalOffer {
            purpose: Offer::IceRestart,
        } = self.negotiation
            && let Some(answer) = &sdp
        {
            self.apply_answer(answer);
            return;
        }
        let answered = self.phase.answer() == Some(Answer::Received);
        if answered && self.status() != CallStatus::Reconnecting {
            return;
        }
        self.set_call_sid(callsid);
        if let Phase::Connecting { .. } = self.phase {
            self.phase = Phase::Connecting {
                answer: Answer::Received,
            };
        } else if let Phase::Ringing { .. } = self.phase {
            self.phase = Phase::Ringing {
                answer: Answer::Received,
            };
        }
        if let Some(answer) = sdp
            && let MediaPhase::HaveLocalOffer { .. } = self.negotiation
        {
            self.apply_answer(&answer);
        }
        self.maybe_transition_to_open();
    }

    fn apply_answer(&mut self, answer: &str) {
        self.negotiation = MediaPhase::ApplyingRemote;
        let munged = sdp::set_codec_preferences(answer, &self.config.codec_preferences);
        self.push(CallOutput::Media(MediaRequest::ApplyAnswer {
            answer: munged,
        }));
    }

    /// The far end hung up (with the error it gave, if any).
    pub fn on_hangup(&mut self, error: Option<&WireError>, link: Link) {
        if let Some(err) = error {
            let e = TwilioError::from_hangup(err.code, &err.message, self.config.precise_errors);
            self.emit(CallEvent::Error(e));
        }
        self.disconnect(link, None, Ending::Remote);
    }

    /// Twilio cancelled a call before it connected (no effect on a connected call).
    pub fn on_cancel(&mut self) {
        if self.was_connected() || self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.close_media();
        self.emit(CallEvent::Cancel);
        self.push(CallOutput::Closed(Ending::Other));
    }

    /// The `ack` of a message this call sent.
    pub fn on_message_ack(&mut self, voice_event_sid: &str) {
        if let Some(msg) = self.messages.remove(voice_event_sid) {
            self.emit(CallEvent::MessageSent(msg));
        }
    }

    pub fn on_message(&mut self, message: CallMessage) {
        self.emit(CallEvent::MessageReceived(message));
    }

    /// An `error` frame about a message this call sent.
    pub fn on_message_error(&mut self, voice_event_sid: &str, error: &WireError) {
        if self.messages.remove(voice_event_sid).is_none() {
            return;
        }
        let precise = self.config.precise_errors;
        let e = if crate::error::lookup(error.code).is_some()
            && (precise || !TwilioError::is_precise_code(error.code))
        {
            TwilioError::new(error.code, error.message.clone())
        } else {
            TwilioError::new(31000, error.message.clone())
                .with_original(error.code, error.message.clone())
        };
        self.emit(CallEvent::Error(e));
    }

    /// The socket under the stream closed.
    pub fn on_transport_close(&mut self, link: Link) {
        match self.phase {
            // A pending incoming call lost with the socket is cancelled (the SDK drops it
            // silently and a phone would ring on).
            Phase::Pending { .. } => {
                self.phase = Phase::Closed;
                self.emit(CallEvent::Cancel);
                self.push(CallOutput::Closed(Ending::Other));
            }
            Phase::Ignored | Phase::Closed => {}
            _ if self.reconnect_token.is_some() => {
                if self.signaling != SignalingLeg::Reconnecting {
                    self.signaling = SignalingLeg::Reconnecting;
                    let e = TwilioError::new(53001, "Signaling connection disconnected");
                    self.emit(CallEvent::Reconnecting(e));
                }
            }
            _ => {
                let e = TwilioError::new(31005, "Signaling connection disconnected");
                self.emit(CallEvent::Error(e));
                self.disconnect(link, None, Ending::Remote);
            }
        }
    }

    /// The stream is `connected`: an invite that waited for it goes out.
    pub fn send_deferred_invite(&mut self) {
        if self.invite == Invite::Deferred {
            self.send_invite();
        }
    }

    /// The stream is `connected` again after the socket dropped: a call that lost
    /// signaling resumes with its reconnect token.
    pub fn resume(&mut self) {
        if self.signaling != SignalingLeg::Reconnecting {
            return;
        }
        let (Some(callsid), Some(sdp), Some(reconnect)) = (
            self.call_sid().map(String::from),
            self.local_sdp.clone(),
            self.reconnect_token.clone(),
        ) else {
            return;
        };
        self.send(ClientMessage::Reconnect {
            callsid,
            sdp,
            reconnect,
        });
    }

    /// The stream ended before `connected`: an invite waiting for it fails with `cause`.
    pub fn fail_deferred_invite(&mut self, cause: &TwilioError, link: Link) {
        if self.invite != Invite::Deferred {
            return;
        }
        self.invite = Invite::NotReady;
        self.emit(CallEvent::Error(cause.clone()));
        self.disconnect(link, None, Ending::Remote);
    }

    pub(super) fn send_invite(&mut self) {
        if !self.is_live() {
            return;
        }
        let Some(sdp) = self.local_sdp.clone() else {
            return;
        };
        self.invite = Invite::Sent;
        let msg = ClientMessage::Invite {
            callsid: self.temp_sid.clone(),
            sdp,
            params: params::encode_params(&self.custom_parameters),
        };
        self.send(msg);
    }
}
