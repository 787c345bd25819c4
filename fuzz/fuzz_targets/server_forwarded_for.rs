//! `X-Forwarded-For` behind a trusted proxy: each input line is one header field.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use offhook_fuzz::server_state;
use offhook_server::AppState;
use offhook_server::http::client_ip;

fn state() -> &'static Arc<AppState> {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    STATE.get_or_init(|| server_state(true))
}

fuzz_target!(|data: &[u8]| {
    let mut headers = http::HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    let _ = client_ip(state(), Some("127.0.0.1:40000".parse().unwrap()), &headers);
    let _ = client_ip(state(), None, &headers);
});
