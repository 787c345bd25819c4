//! What the application asks of a call (`call.ts accept/reject/ignore/disconnect/mute/
//! sendDigits/sendMessage`). The Device engine checks what needs the Device (another active
//! call, the stream) before it routes here.

use serde_json::Value;

use super::{Answer, CallCore, CallOutput, Ending, Link, MediaPhase, Offer, Phase};
use crate::core::MediaRequest;
use crate::error::{TwilioError, VoiceError};
use crate::model::{CallDirection, CallEvent, CallMessage};
use crate::protocol::frame::ClientMessage;
use crate::protocol::sdp;

impl CallCore {
    /// Whether `accept()` acts: an incoming call still pending.
    pub fn can_accept(&self) -> bool {
        self.is_pending() && self.direction == CallDirection::Incoming
    }

    /// Answers a pending incoming call: the media makes an answer to its offer.
    pub fn accept(&mut self) {
        if !self.can_accept() {
            return;
        }
        let Phase::Pending { offer } = std::mem::replace(
            &mut self.phase,
            Phase::Connecting {
                answer: Answer::Received,
            },
        ) else {
            return;
        };
        self.negotiation = MediaPhase::CreatingLocal {
            purpose: Offer::Initial,
        };
        let munged = sdp::set_codec_preferences(&offer, &self.config.codec_preferences);
        self.push(CallOutput::Media(MediaRequest::AnswerOffer {
            offer: munged,
        }));
    }

    /// Refuses a pending incoming call: `reject` goes to Twilio.
    pub fn reject(&mut self) {
        if !self.is_pending() {
            return;
        }
        self.phase = Phase::Closed;
        let callsid = self.wire_sid().to_string();
        self.send(ClientMessage::Reject { callsid });
        self.emit(CallEvent::Reject);
        self.push(CallOutput::Closed(Ending::Other));
    }

    /// Ignores a pending incoming call: nothing is sent; it stays held until Twilio cancels it.
    pub fn ignore(&mut self) {
        if self.is_pending() {
            self.phase = Phase::Ignored;
        }
    }

    pub fn mute(&mut self, should_mute: bool) {
        let was = self.muted;
        self.muted = should_mute;
        if self.negotiation.is_active() {
            self.push(CallOutput::Media(MediaRequest::Mute(should_mute)));
        }
        if was != should_mute {
            self.emit(CallEvent::Mute(should_mute));
        }
    }

    /// DTMF: in-band (RFC 4733) when negotiated, else as a `dtmf` frame.
    pub fn send_digits(&mut self, digits: &str, link: Link) -> Result<(), VoiceError> {
        check_digits(digits)?;
        if self.telephone_event && self.negotiation == MediaPhase::Stable {
            self.push(CallOutput::Media(MediaRequest::SendDigits(
                digits.to_string(),
            )));
            return Ok(());
        }
        if link.up {
            let callsid = self.wire_sid().to_string();
            self.send(ClientMessage::Dtmf {
                callsid,
                dtmf: digits.to_string(),
            });
        } else {
            let e = TwilioError::new(
                31005,
                "Could not send DTMF: Signaling channel is disconnected",
            );
            self.emit(CallEvent::Error(e));
        }
        Ok(())
    }

    /// Sends a call message under `voice_event_sid` (the Device draws it). The call must
    /// have its CallSid.
    pub fn send_message(
        &mut self,
        content: Value,
        content_type: Option<String>,
        message_type: &str,
        voice_event_sid: String,
    ) -> Result<(), VoiceError> {
        let Some(callsid) = self.call_sid().map(String::from) else {
            return Err(VoiceError::InvalidState(
                "Could not send CallMessage; Call has no CallSid".into(),
            ));
        };
        let contenttype = content_type.unwrap_or_else(|| "application/json".into());
        self.messages.insert(
            voice_event_sid.clone(),
            CallMessage {
                content: content.clone(),
                content_type: contenttype.clone(),
                message_type: message_type.to_string(),
                voice_event_sid: voice_event_sid.clone(),
            },
        );
        self.send(ClientMessage::Message {
            callsid,
            content,
            contenttype,
            messagetype: message_type.to_string(),
            voiceeventsid: voice_event_sid,
        });
        Ok(())
    }
}

/// `sendDigits` takes `0-9`, `*`, `#` and `w` (a 500 ms pause) only.
pub fn check_digits(digits: &str) -> Result<(), VoiceError> {
    if digits
        .chars()
        .any(|c| !matches!(c, '0'..='9' | '*' | '#' | 'w'))
    {
        return Err(VoiceError::InvalidArgument(
            "Illegal character passed into sendDigits".into(),
        ));
    }
    Ok(())
}
