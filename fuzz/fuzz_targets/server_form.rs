//! Twilio's webhook bodies: any bytes through the form parser, and what parses through the
//! signature check and both call plans (incoming and outgoing) to TwiML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offhook_fuzz::{handsets, server_config};
use offhook_server::http::hooks::parse_form;
use offhook_server::{calls, signature};

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse_form(data) else { return };
    let _ = signature::is_valid(
        "fedcba9876543210fedcba9876543210",
        "znnA9kYkLrJxFxI6DrNbHTGq3iE=",
        "https://example.com/hooks/voice",
        &params,
    );
    let Some(config) = server_config(&[]) else {
        return;
    };
    let _ = calls::incoming(&config, handsets(), &params).twiml.to_xml();
    let _ = calls::outgoing(&config, handsets(), &params).twiml.to_xml();
});
