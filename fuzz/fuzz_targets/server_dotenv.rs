//! The server's `.env` file: any text through the parser, and what parses (over a valid base)
//! through every setting's check.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use offhook_fuzz::server_settings;
use offhook_server::config::Config;
use offhook_server::dotenv;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pairs) = dotenv::parse(text, Path::new(".env")) else {
        return;
    };
    let mut settings = server_settings();
    settings.extend(pairs);
    let _ = Config::from_settings(|name| settings.get(name).cloned());
});
