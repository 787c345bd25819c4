//! The token endpoint's `Authorization` header: any value through the HTTP Basic parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offhook_server::http::token::basic_credentials;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    let _ = basic_credentials(&headers);
});
