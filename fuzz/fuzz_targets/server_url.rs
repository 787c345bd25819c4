//! URLs: `OFFHOOK_PUBLIC_URL` through the config check, and a webhook's request URI, `Host`
//! and `X-Forwarded-Proto` through the URLs its signature is checked against.
//!
//! Input: lines `PUBLIC_URL`, `URI`, `HOST`, `X-FORWARDED-PROTO` (missing lines are absent).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use offhook_fuzz::{server_config, server_state};
use offhook_server::AppState;
use offhook_server::config::PUBLIC_URL;
use offhook_server::http::hooks::candidate_urls;
use offhook_server::signature;

fn states() -> &'static [Arc<AppState>; 2] {
    static STATES: OnceLock<[Arc<AppState>; 2]> = OnceLock::new();
    STATES.get_or_init(|| [server_state(false), server_state(true)])
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let public_url = lines.next().unwrap_or_default();
    let public = server_config(&[(PUBLIC_URL, public_url)]);
    let uri: http::Uri = lines
        .next()
        .unwrap_or("/hooks/voice")
        .parse()
        .unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    for name in [
        http::header::HOST,
        http::HeaderName::from_static("x-forwarded-proto"),
    ] {
        if let Some(value) = lines
            .next()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            headers.insert(name, value);
        }
    }
    let mut urls = Vec::new();
    // Each state, with the request both from a trusted proxy and from anywhere else.
    for state in states() {
        for from_trusted_proxy in [false, true] {
            urls.extend(candidate_urls(state, &uri, &uri, &headers, from_trusted_proxy));
        }
    }
    if let Some(config) = public {
        let state = AppState::new(config, offhook_fuzz::handsets().clone());
        for from_trusted_proxy in [false, true] {
            urls.extend(candidate_urls(&state, &uri, &uri, &headers, from_trusted_proxy));
        }
    }
    for url in urls {
        let _ = signature::is_valid(
            "fedcba9876543210fedcba9876543210",
            "x",
            &url,
            &[("a".into(), "b".into())],
        );
    }
});
