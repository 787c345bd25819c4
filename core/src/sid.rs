//! Identifiers shaped like Twilio's: `<prefix>` + 32 lowercase hex digits (`CA…` calls,
//! `KX…` voice events), and the client's temporary outgoing call SIDs (`TJS…`).

use rand::Rng;

/// A Twilio-style SID: a two-letter prefix and 32 lowercase hex digits.
pub fn new_sid(prefix: &str) -> String {
    new_sid_from(prefix, &mut rand::rng())
}

/// [`new_sid`] drawn from `rng` (a seeded one reproduces the SID).
pub fn new_sid_from<R: Rng + ?Sized>(prefix: &str, rng: &mut R) -> String {
    let bytes: [u8; 16] = rng.random();
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// True if `s` is `prefix` followed by 32 hex digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A call SID (`CA` + 32 hex).
pub fn call_sid() -> String {
    new_sid("CA")
}

/// A temporary outgoing call SID: `TJS` + a UUIDv4-shaped string (`call.ts outboundConnectionId`).
pub fn temp_call_sid() -> String {
    temp_call_sid_from(&mut rand::rng())
}

/// [`temp_call_sid`] drawn from `rng`.
pub fn temp_call_sid_from<R: Rng + ?Sized>(rng: &mut R) -> String {
    let uuid = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    format!("TJS{uuid}")
}

/// A voice event SID for a call message: `KX` + 32 lowercase hex characters (`sid.ts`).
pub fn voice_event_sid() -> String {
    new_sid("KX")
}

/// [`voice_event_sid`] drawn from `rng`.
pub fn voice_event_sid_from<R: Rng + ?Sized>(rng: &mut R) -> String {
    new_sid_from("KX", rng)
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
        assert!(is_sid(&call_sid(), "CA"));
        assert!(!is_sid("CA123", "CA"));
        assert!(!is_sid(&format!("KX{}", "g".repeat(32)), "KX"));
    }

    #[test]
    fn a_seeded_rng_reproduces_the_sids() {
        use rand::SeedableRng;
        use rand::rngs::StdRng;
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (temp_call_sid_from(&mut rng), voice_event_sid_from(&mut rng))
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let (t, kx) = draw(1);
        assert_eq!(uuid::Uuid::parse_str(&t[3..]).unwrap().get_version_num(), 4);
        assert!(is_sid(&kx, "KX"));
    }
}
