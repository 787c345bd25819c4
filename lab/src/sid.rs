//! Identifiers shaped like Twilio's: SIDs from `offhook-core`, plus what only the lab's
//! gateway makes up (reconnect tokens, ICE credentials).

use base64::Engine as _;
use rand::Rng as _;

pub use offhook_core::sid::{call_sid, is_sid, new_sid, voice_event_sid};

/// An opaque reconnect token, base64 like the real ones (`JDybrifTHd1b…`).
pub fn reconnect_token() -> String {
    let mut bytes = [0u8; 48];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// 32 lowercase hex digits, as Twilio's gateway uses for ICE credentials.
pub fn hex32() -> String {
    new_sid("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_identifiers_have_twilio_shape() {
        assert_eq!(hex32().len(), 32);
        assert!(hex32().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!reconnect_token().is_empty());
    }
}
