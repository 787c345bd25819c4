use super::analysis::{goertzel_power, has_frequency, rms};
use super::*;

const RATES: [u32; 3] = [8000, 16000, 48000];

fn render(tone: Tone, region: Region, rate: u32, ms: u32) -> Vec<i16> {
    let mut player = TonePlayer::new(ToneSpec::for_tone(tone, region), rate).expect("rate");
    let mut out = Vec::new();
    for _ in 0..ms / 10 {
        out.extend(player.next_frame());
    }
    out
}

/// Asserts the on/off pattern sample-exactly: every off step is all zeros, every on step has
/// sound throughout its interior (the first and last 2 ms ramp).
fn assert_cadence(samples: &[i16], rate: u32, steps: &[(u32, bool)]) {
    let per_ms = (rate / 1000) as usize;
    let mut at = 0usize;
    for &(ms, on) in steps {
        let len = ms as usize * per_ms;
        let step = &samples[at..at + len];
        if on {
            assert_eq!(step[0], 0, "burst at sample {at} starts from silence");
            assert_ne!(step[1], 0, "burst at sample {at} starts exactly there");
            assert_ne!(
                step[len - 1],
                0,
                "burst ending at sample {} is on until its last sample",
                at + len
            );
            let middle = &step[len / 4..len * 3 / 4];
            assert!(rms(middle) > 0.01, "burst at sample {at} is audible");
        } else {
            assert!(
                step.iter().all(|&s| s == 0),
                "gap at sample {at}..{} is silent",
                at + len
            );
        }
        at += len;
    }
}

#[test]
fn dial_tones_have_the_right_frequencies() {
    for rate in RATES {
        let us = render(Tone::Dial, Region::Us, rate, 500);
        assert!(has_frequency(&us[rate as usize / 100..], rate, 350.0, 0.4));
        assert!(has_frequency(&us[rate as usize / 100..], rate, 440.0, 0.4));
        let eu = render(Tone::Dial, Region::Eu, rate, 500);
        assert!(has_frequency(&eu[rate as usize / 100..], rate, 425.0, 0.9));
        assert!(!has_frequency(&eu[rate as usize / 100..], rate, 350.0, 0.1));
    }
}

#[test]
fn us_ringback_is_440_480_two_on_four_off() {
    for rate in RATES {
        let s = render(Tone::Ringback, Region::Us, rate, 12_000);
        assert_cadence(
            &s,
            rate,
            &[(2000, true), (4000, false), (2000, true), (4000, false)],
        );
        let burst = &s[rate as usize / 10..rate as usize];
        assert!(has_frequency(burst, rate, 440.0, 0.4));
        assert!(has_frequency(burst, rate, 480.0, 0.4));
    }
}

#[test]
fn uk_ringback_is_double_ring() {
    let rate = 8000;
    let s = render(Tone::Ringback, Region::Uk, rate, 3000);
    assert_cadence(
        &s,
        rate,
        &[(400, true), (200, false), (400, true), (2000, false)],
    );
    let burst = &s[400..2800];
    assert!(has_frequency(burst, rate, 400.0, 0.4));
    assert!(has_frequency(burst, rate, 450.0, 0.4));
}

#[test]
fn busy_and_reorder_cadences() {
    for rate in RATES {
        let busy = render(Tone::Busy, Region::Us, rate, 2000);
        assert_cadence(
            &busy,
            rate,
            &[(500, true), (500, false), (500, true), (500, false)],
        );
        assert!(has_frequency(&busy[..rate as usize / 2], rate, 480.0, 0.4));
        assert!(has_frequency(&busy[..rate as usize / 2], rate, 620.0, 0.4));
        let reorder = render(Tone::Reorder, Region::Us, rate, 1000);
        assert_cadence(
            &reorder,
            rate,
            &[(250, true), (250, false), (250, true), (250, false)],
        );
        let uk_busy = render(Tone::Busy, Region::Uk, rate, 1500);
        assert_cadence(
            &uk_busy,
            rate,
            &[(375, true), (375, false), (375, true), (375, false)],
        );
        let uk_reorder = render(Tone::Reorder, Region::Uk, rate, 1500);
        assert_cadence(
            &uk_reorder,
            rate,
            &[(400, true), (350, false), (225, true), (525, false)],
        );
        let eu_busy = render(Tone::Busy, Region::Eu, rate, 1000);
        assert!(has_frequency(
            &eu_busy[..rate as usize / 2],
            rate,
            425.0,
            0.9
        ));
    }
}

#[test]
fn message_waiting_dial_tone_stutters_then_is_steady() {
    let rate = 8000;
    let s = render(Tone::MessageWaitingDial, Region::Us, rate, 3000);
    let mut steps = Vec::new();
    for _ in 0..10 {
        steps.push((100, true));
        steps.push((100, false));
    }
    assert_cadence(&s, rate, &steps);
    let steady = &s[2000 * 8 + 80..];
    assert!(steady[80..].iter().all(|&x| x != 0) || rms(steady) > 0.05);
    assert!(has_frequency(steady, rate, 350.0, 0.4));
}

#[test]
fn call_waiting_tone_repeats_every_ten_seconds() {
    let rate = 8000;
    let s = render(Tone::CallWaiting, Region::Us, rate, 20_000);
    assert_cadence(
        &s,
        rate,
        &[(300, true), (9700, false), (300, true), (9700, false)],
    );
    assert!(has_frequency(&s[..2400], rate, 440.0, 0.9));
}

#[test]
fn confirm_and_dtmf_feedback_are_one_shot() {
    let rate = 16000;
    let mut player =
        TonePlayer::new(ToneSpec::for_tone(Tone::Confirm, Region::Us), rate).expect("rate");
    let mut s = Vec::new();
    for _ in 0..30 {
        s.extend(player.next_frame());
    }
    assert!(player.is_finished());
    assert_cadence(&s, rate, &[(250, true), (50, false)]);
    assert!(has_frequency(&s[..4000], rate, 600.0, 0.9));
    assert_eq!(
        ToneSpec::for_tone(Tone::Dtmf('5'), Region::Eu).duration_ms(),
        Some(120)
    );
}

#[test]
fn all_sixteen_dtmf_pairs() {
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    let keys = ["123A", "456B", "789C", "*0#D"];
    for rate in RATES {
        for (r, line) in keys.iter().enumerate() {
            for (c, key) in line.chars().enumerate() {
                let s = render(Tone::Dtmf(key), Region::Us, rate, 120);
                let burst = &s[rate as usize / 100..rate as usize / 10];
                for (i, &f) in rows.iter().enumerate() {
                    assert_eq!(
                        has_frequency(burst, rate, f, 0.3),
                        i == r,
                        "key {key} row {f} Hz at {rate}"
                    );
                }
                for (i, &f) in cols.iter().enumerate() {
                    assert_eq!(
                        has_frequency(burst, rate, f, 0.3),
                        i == c,
                        "key {key} col {f} Hz at {rate}"
                    );
                }
            }
        }
    }
    assert_eq!(dtmf_frequencies('x'), None);
}

#[test]
fn howler_is_loud_and_fast() {
    let rate = 8000;
    let howler = render(Tone::Howler, Region::Us, rate, 500);
    let reorder = render(Tone::Reorder, Region::Us, rate, 500);
    assert_cadence(
        &howler,
        rate,
        &[(125, true), (125, false), (125, true), (125, false)],
    );
    assert!(rms(&howler) > 4.0 * rms(&reorder));
    // Two components at -3 dBm0 each never clip.
    assert!(howler.iter().all(|&s| s > i16::MIN && s < i16::MAX));
}

#[test]
fn frames_are_ten_ms() {
    for rate in RATES {
        let mut p =
            TonePlayer::new(ToneSpec::for_tone(Tone::Dial, Region::Us), rate).expect("rate");
        assert_eq!(p.next_frame().len(), rate as usize / 100);
    }
    assert!(TonePlayer::new(ToneSpec::for_tone(Tone::Dial, Region::Us), 44_100).is_err());
}

#[test]
fn ringer_sound_follows_the_cadence() {
    let cadence = NamedCadence::presets(Region::Uk).remove(0);
    assert_eq!(cadence.name, "uk");
    let mut p = TonePlayer::new(ToneSpec::ringer(&cadence.cadence), 8000).expect("rate");
    let mut s = Vec::new();
    for _ in 0..300 {
        s.extend(p.next_frame());
    }
    assert_cadence(
        &s,
        8000,
        &[(400, true), (200, false), (400, true), (2000, false)],
    );
    assert!(goertzel_power(&s[..3200], 8000, 1000.0) > 0.001);
}

#[test]
fn every_tone_in_every_region_plays() {
    let tones = [
        Tone::Dial,
        Tone::MessageWaitingDial,
        Tone::NoService,
        Tone::Ringback,
        Tone::Busy,
        Tone::Reorder,
        Tone::Howler,
        Tone::CallWaiting,
        Tone::Confirm,
        Tone::Dtmf('#'),
    ];
    for region in [Region::Us, Region::Uk, Region::Eu] {
        for tone in tones {
            let s = render(tone, region, 8000, 300);
            assert!(rms(&s) > 0.005, "{tone:?} in {region:?} is audible");
        }
    }
}
