//! The lab's TwiML: any document through the parser Twilio's stand-in runs webhooks' answers
//! with, and its error codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offhook_lab::twiml;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match twiml::parse(text) {
        Ok(verbs) => {
            let _ = format!("{verbs:?}");
        }
        Err(error) => {
            let _ = error.code();
        }
    }
});
