//! Board profiles (a profile can be a TOML file): any text through parsing and validation,
//! and what parses through everything the board derives from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offhook_board::profile::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = Profile::parse(text, "fuzz.toml") else {
        return;
    };
    let _ = profile.lines();
    let _ = profile.matrix_layout();
    let _ = profile.hook_config();
    let _ = profile.cadence();
    let _ = profile.mipi_options();
});
