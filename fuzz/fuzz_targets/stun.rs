//! STUN: any datagram through the Binding-response parser, any text through the `stun:` URL
//! parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twilio_voice::media::stun::{parse_binding_response, stun_server};

fuzz_target!(|data: &[u8]| {
    // The transaction the datagram itself names (so well-formed responses get past the id
    // check), and one it does not.
    let mut own = [0u8; 12];
    if let Some(id) = data.get(8..20) {
        own.copy_from_slice(id);
    }
    let _ = parse_binding_response(data, own);
    let _ = parse_binding_response(data, [0x5a; 12]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stun_server(text);
    }
});
