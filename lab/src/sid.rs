//! Identifiers shaped like Twilio's: `CA…` call SIDs, `KX…` voice-event SIDs, reconnect tokens.

use base64::Engine as _;
use rand::Rng as _;

/// A Twilio-style SID: a two-letter prefix and 32 lowercase hex digits.
pub fn new_sid(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    let mut s = String::with_capacity(34);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A call SID (`CA` + 32 hex).
pub fn call_sid() -> String {
    new_sid("CA")
}

/// A voice-event SID for call messages (`KX` + 32 hex).
pub fn voice_event_sid() -> String {
    new_sid("KX")
}

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

/// True if `s` is `prefix` followed by 32 hex digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_twilio_shape() {
        let sid = call_sid();
        assert!(is_sid(&sid, "CA"), "{sid}");
        assert!(is_sid(&voice_event_sid(), "KX"));
        assert_ne!(call_sid(), call_sid());
        assert_eq!(hex32().len(), 32);
        assert!(!is_sid("CA123", "CA"));
        assert!(!reconnect_token().is_empty());
    }
}
