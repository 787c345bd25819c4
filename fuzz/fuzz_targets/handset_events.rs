//! offhook-server's push channel as the handset reads it: any bytes as a server-sent-events
//! stream cut into chunks (the first byte sets their size), every event through the parsers of
//! the handset routes' JSON, and what they accept into the phone, its idle and history screens.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    offhook::push::fuzz::handset_events(data);
});
