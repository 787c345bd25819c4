//! Fuzzes the signaling frame parser, and the switch with whatever parses.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use offhook_lab::frames::parse_client_frame;
use offhook_lab::switch::{Input, Now, Output, Switch, SwitchConfig};
use offhook_lab::{Credentials, LabConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_client_frame(text);
    // Several frames per input, split on a separator byte, through one switch.
    let mut sw = Switch::new(SwitchConfig::from(&LabConfig::new(Credentials::generate())));
    let mut now = Now {
        at: Instant::now(),
        unix_ms: 1_800_000_000_000,
    };
    sw.handle(
        Input::ConnOpened {
            conn: 1,
            peer: "127.0.0.1:9".parse().unwrap(),
            user_agent: None,
        },
        now,
    );
    for frame in text.split('\u{1}') {
        sw.handle(
            Input::Frame {
                conn: 1,
                text: frame.to_string(),
            },
            now,
        );
        now = now.plus(Duration::from_millis(250));
        sw.handle_timeout(now);
        while let Some(out) = sw.poll_output() {
            if let Output::Send { text, .. } = out {
                if text != "\n" {
                    let v: serde_json::Value =
                        serde_json::from_str(&text).expect("the lab sends JSON");
                    assert!(v["type"].is_string());
                }
            }
        }
    }
});
