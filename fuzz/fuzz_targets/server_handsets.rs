//! The server's handsets file: any text through parsing and validation (ids, extensions,
//! numbers, Argon2 hash strings and their cost bounds).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use offhook_server::Handsets;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(handsets) = Handsets::from_toml(text, Path::new("handsets.toml")) {
        for h in handsets.iter() {
            let _ = handsets.by_extension(&h.extension);
        }
    }
});
