//! Access Tokens: any text through the JWT splitter, the lenient facts reader and the
//! verifier (signature, then clock).
#![no_main]

use libfuzzer_sys::fuzz_target;
use twilio_voice::token;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let facts = token::facts(text);
    let _ = facts.lifetime_secs();
    if let Ok((_, claims)) = token::decode_unverified(text) {
        let _ = claims.grants.identity;
    }
    for now in [0, 1_595_329_011, u64::MAX] {
        let _ = token::verify(text, now, |_| Some("secret".into()));
    }
    let _ = token::verify(text, 1_595_329_011, |_| None);
});
