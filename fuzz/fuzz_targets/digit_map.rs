//! Digit maps: the first line is a map (as `phone.digit_map` holds it), each further line a
//! run of keys dialed against it, one key at a time, through the map and a dial plan (the
//! first [`MAX_KEYS`]: every prefix is classified, so longer runs only slow the fuzzer).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use offhook::dialplan::{Country, DialPlan, DigitMap, Directory};

/// Far past any real number (E.164 has at most 15 digits).
const MAX_KEYS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(map_text) = lines.next() else { return };
    let Ok(map) = DigitMap::parse(map_text) else {
        return;
    };
    let Some(country) = Country::by_iso("US") else {
        return;
    };
    let plan = DialPlan::new(
        map.clone(),
        country,
        &["123".into()],
        BTreeMap::from([(2, "+14155550100".into())]),
        Directory::default(),
    );
    for keys in lines {
        let mut dialed = String::new();
        for key in keys.chars().take(MAX_KEYS) {
            let _ = map.accepts(&dialed, key);
            let _ = plan.first_key(key);
            dialed.push(key);
            let _ = map.classify(&dialed);
            let _ = map.complete_now(&dialed);
            let _ = plan.after_key(&dialed);
            let _ = plan.pound_is_digit(&dialed);
            let _ = plan.is_emergency(&dialed);
        }
        let _ = plan.send_now(&dialed);
        let _ = plan.destination(&dialed);
        let _ = plan.display_number(&dialed);
    }
});
