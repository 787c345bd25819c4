//! Identifiers the client makes up: temporary call SIDs and voice-event SIDs.

use rand::Rng;

/// A temporary outgoing call SID: `TJS` + a UUIDv4-shaped string (`call.ts outboundConnectionId`).
pub fn temp_call_sid() -> String {
    format!("TJS{}", uuid::Uuid::new_v4())
}

/// A voice event SID for a call message: `KX` + 32 lowercase hex characters (`sid.ts`).
pub fn voice_event_sid() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let mut s = String::with_capacity(34);
    s.push_str("KX");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_sdk() {
        let t = temp_call_sid();
        assert!(t.starts_with("TJS"));
        assert_eq!(t.len(), 3 + 36);
        assert_eq!(t.matches('-').count(), 4);
        let kx = voice_event_sid();
        assert!(kx.starts_with("KX"));
        assert_eq!(kx.len(), 34);
        assert!(
            kx[2..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(voice_event_sid(), kx);
    }
}
