//! The handset's config file: any text through the TOML checks (file/line/column errors),
//! and what parses into the phone's behaviour.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use offhook::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("/nonexistent/offhook.toml")) {
        Ok(config) => {
            let _ = config.phone_config();
            let _ = config.history_path();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
