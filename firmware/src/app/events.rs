//! The Twilio Device's and Calls' events in the phone's words.

use crate::phone::{self, CallSample, DeviceEvent, IncomingCall, PhoneInput, TwilioError};

use super::App;

pub fn codec(c: phone::Codec) -> twilio_voice::Codec {
    match c {
        phone::Codec::Opus => twilio_voice::Codec::Opus,
        phone::Codec::Pcmu => twilio_voice::Codec::Pcmu,
    }
}

fn error(e: &twilio_voice::TwilioError) -> TwilioError {
    // The phone explains codes; show the wire code where the SDK hides it behind a generic one
    // (53000, 31005) so the screen can say what really happened.
    let code = match e.code {
        53000 | 31005 | 31000 => e.original.as_ref().map_or(e.code, |o| o.code),
        c => c,
    };
    TwilioError::new(code, e.message.clone())
}

/// A Device event as phone input (incoming calls get a phone call id and are tracked).
pub(crate) fn device_input(
    ev: twilio_voice::DeviceEvent<twilio_voice::Call>,
    app: &mut App,
) -> Option<PhoneInput> {
    use twilio_voice::DeviceEvent as V;
    let d = match ev {
        V::Registered => DeviceEvent::Registered,
        V::Registering => DeviceEvent::Registering,
        V::Unregistered => DeviceEvent::Unregistered,
        V::Destroyed => DeviceEvent::Destroyed,
        V::TokenWillExpire => DeviceEvent::TokenWillExpire,
        V::Error { error: e, .. } => DeviceEvent::Error(error(&e)),
        V::Incoming(call) => {
            let id = app.phone.new_call_id();
            let params = call.parameters();
            let incoming = IncomingCall {
                call: id,
                from: params
                    .get("From")
                    .cloned()
                    .unwrap_or_else(|| "anonymous".into()),
                to: params.get("To").cloned().unwrap_or_default(),
                call_sid: params.get("CallSid").cloned(),
                custom: call.custom_parameters(),
            };
            app.track_call(id, call);
            DeviceEvent::Incoming(incoming)
        }
    };
    Some(PhoneInput::Device(d))
}

/// A Call event as the phone's (volumes and sent-message receipts are not the phone's concern).
pub fn call_event(ev: twilio_voice::CallEvent) -> Option<phone::CallEvent> {
    use twilio_voice::CallEvent as V;
    Some(match ev {
        V::Accept => phone::CallEvent::Accept,
        V::Cancel => phone::CallEvent::Cancel,
        V::Disconnect => phone::CallEvent::Disconnect,
        V::Reject => phone::CallEvent::Reject,
        V::Error(e) => phone::CallEvent::Error(error(&e)),
        V::Mute(m) => phone::CallEvent::Mute(m),
        V::Reconnecting(e) => phone::CallEvent::Reconnecting(error(&e)),
        V::Reconnected => phone::CallEvent::Reconnected,
        V::Ringing { has_early_media } => phone::CallEvent::Ringing { has_early_media },
        V::Sample(s) => phone::CallEvent::Sample(CallSample {
            mos: s.mos,
            rtt_ms: s.rtt,
            jitter_ms: s.jitter,
            packets_lost_fraction: Some(s.packets_lost_fraction),
        }),
        V::Warning { name, .. } => phone::CallEvent::Warning(name),
        V::WarningCleared { name } => phone::CallEvent::WarningCleared(name),
        V::MessageReceived(m) => phone::CallEvent::MessageReceived {
            content_type: Some(m.content_type),
            content: m.content.to_string(),
        },
        V::MessageSent(_) | V::Volume { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_codes_show_what_was_sent() {
        let hidden = twilio_voice::TwilioError::from_hangup(31486, "Busy Here", false);
        assert_eq!(error(&hidden).code, 31486);
        let plain = twilio_voice::TwilioError::new(31202, "bad");
        assert_eq!(error(&plain).code, 31202);
        assert_eq!(
            call_event(twilio_voice::CallEvent::Volume {
                input: 0.1,
                output: 0.2
            }),
            None
        );
        assert_eq!(
            call_event(twilio_voice::CallEvent::Accept),
            Some(phone::CallEvent::Accept)
        );
    }
}
