//! The token server's answer: status, headers and body as the firmware reads them, then the
//! result through the token scheduler (when to refresh, when to retry).
//!
//! Input: an HTTP response head without the version: `STATUS\r\nName: value\r\n...\r\n\r\nBODY`
//! (a lone `\n` also ends a line).
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use offhook::token::http::read_response;
use offhook::token::{Backoff, TokenScheduler};

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&data[..i], &data[i + 4..]),
        None => match data.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&data[..i], &data[i + 2..]),
            None => (data, &[][..]),
        },
    };
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(status) = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|s| s.trim().parse::<u16>().ok())
    else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(&line[..colon]),
            http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let result = read_response(status, &headers, body);
    let now = Instant::now();
    let mut scheduler = TokenScheduler::new(Backoff::default(), 7, now);
    assert!(scheduler.poll_fetch(now));
    let _ = scheduler.on_result(result, now);
    let _ = scheduler.status(now);
    if let Some(at) = scheduler.poll_timeout() {
        let _ = scheduler.poll_fetch(at);
        let _ = scheduler.status(at);
        let _ = scheduler.token(at);
    }
    scheduler.refresh_now(now);
});
