//! What the `handset_events` fuzz target runs (here so that it is built and tested with the
//! crate): any bytes as an event stream cut into chunks, every event through the handset
//! routes' parsers (the provisioned config's too, resolved against a minimal config file), and
//! what they accept into a phone and onto both screen layouts.

use std::time::Instant;

use super::sse::{SseItem, SseLimits, SseParser};
use crate::api::handset::{parse_count, parse_settings, parse_voicemail_list};
use crate::api::provisioning::{parse_config, parse_config_event};
use crate::phone::{Phone, PhoneConfig, PhoneInput, UserSettings};

/// The first byte sets the chunk size (1–256 bytes); the rest is the stream.
#[doc(hidden)]
pub fn handset_events(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first) + 1;
    let limits = SseLimits {
        max_line: 512,
        max_event: 2048,
    };
    let mut parser = SseParser::new(limits);
    let mut items = Vec::new();
    for piece in stream.chunks(chunk) {
        parser.feed(piece, &mut items);
    }
    let now = Instant::now();
    let plan = crate::dialplan::DialPlan::for_country(
        crate::dialplan::Country::by_iso("US").unwrap_or(&crate::dialplan::e164::COUNTRIES[0]),
    );
    let mut phone = Phone::new(
        PhoneConfig::for_region(crate::tones::Region::Us, plan),
        UserSettings::default(),
        crate::history::CallHistory::default(),
        now,
    );
    for item in items {
        let SseItem::Event(event) = item else {
            continue;
        };
        assert!(event.data.len() <= limits.max_event);
        let data = event.data.as_bytes();
        let _ = parse_config_event(data);
        let provisioned = parse_config(data).ok().and_then(|doc| {
            let file = crate::config::Config::parse(
                "[server]\nurl = \"http://127.0.0.1:1\"\ndevice_id = \"a\"\ndevice_secret = \"b\"\n",
                std::path::Path::new("offhook.toml"),
            )
            .ok()?;
            file.resolve(Some(&doc)).ok()
        });
        let inputs = [
            parse_count(data).ok().map(PhoneInput::Voicemail),
            parse_settings(data).ok().map(PhoneInput::ServerSettings),
            parse_voicemail_list(data)
                .ok()
                .map(PhoneInput::VoicemailList),
            provisioned.map(|r| PhoneInput::Config(Box::new(r.phone))),
        ];
        for input in inputs.into_iter().flatten() {
            phone.handle(input, now);
        }
    }
    // The idle screen, the history with the messages, the speed dials, the About page
    // scrolled to the sources.
    use offhook_core::handset::input::{InputEvent, Key};
    let pages: [&[Key]; 4] = [
        &[],
        &[Key::Menu, Key::Menu],
        &[Key::Reject, Key::Digit(3)],
        &[Key::Reject, Key::Digit(4), Key::VolumeDown, Key::VolumeDown],
    ];
    for keys in pages {
        for key in keys {
            phone.handle(PhoneInput::Input(InputEvent::KeyDown(*key)), now);
        }
        while phone.poll_output().is_some() {}
        let view = phone.view(now);
        let _ = crate::screens::words::describe(&view);
        for layout in crate::screens::Layout::ALL {
            let _ = crate::screens::render(&view, layout);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seeds_run() {
        let seeds: [&[u8]; 5] = [
            b"\x10event: config\ndata: {\"speed_dial\":{\"2\":\"+12025550100\",\"0\":\"1\"},\"contacts\":[{\"name\":\"\\u202eEcho\",\"number\":\"+12025550100\"}],\"country\":\"GB\",\"volumes\":{\"ring\":10,\"earpiece\":0,\"speaker\":3}}\n\n",
            b"\x03event: voicemail\ndata: {\"new\":2,\"saved\":1}\n\n",
            b"\x00: keep-alive\r\n\r\nevent: settings\r\ndata: {\"dnd\":true,\"forwarding\":{\"mode\":\"always\",\"to\":\"+15550100\",\"after_secs\":20}}\r\n\r\n",
            b"\xffdata: {\"new\":1,\"saved\":0,\"messages\":[{\"id\":1,\"caller\":\"\\u202e\\u0000x\",\"received_at\":-9223372036854775808,\"duration_secs\":4294967295,\"state\":\"new\"}]}\n\n",
            b"",
        ];
        for seed in seeds {
            super::handset_events(seed);
        }
    }
}
