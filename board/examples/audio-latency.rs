//! Benchmark: the delay the audio configuration adds between the devices and the rings.
//!
//! ```text
//! cargo run -p offhook-board --release --example audio-latency -- --virtual
//! cargo run -p offhook-board --release --example audio-latency -- --profile pi-zero2w-ssd1306
//! cargo run -p offhook-board --release --example audio-latency -- --capture hw:1 --playback hw:1 \
//!     [--rate 16000] [--period-ms 10] [--playback-periods 3] [--seconds 5]
//! ```
//!
//! It samples ALSA's delay every period while both directions run, and prints per
//! direction: capture → ring (one period to fill plus what waits in the device) and ring →
//! playback (what is queued in the device ahead of a sample, plus resampling). With
//! `--virtual` it starts a private PulseAudio with a null sink, loops playback into capture,
//! and also measures ring → ring round trips with clicks (that figure includes PulseAudio).

use std::time::{Duration, Instant};

use offhook_board::audio::virtual_pulse::VirtualAudio;
use offhook_board::audio::{Audio, AudioConfig, DevicePair};
use offhook_board::profile::Profile;

struct Args {
    config: AudioConfig,
    seconds: u64,
    virtual_loop: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: audio-latency [--virtual | --profile NAME|FILE | --capture DEV --playback DEV] \
         [--rate HZ] [--period-ms MS] [--playback-periods N] [--seconds S]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut config = AudioConfig::default();
    let mut seconds = 5;
    let mut virtual_loop = false;
    let mut args = std::env::args().skip(1);
    let mut overrides: Vec<(String, String)> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--virtual" => virtual_loop = true,
            "--profile" => {
                let name = args.next().unwrap_or_else(|| usage());
                let profile = Profile::find(&name).unwrap_or_else(|e| {
                    eprintln!("{e}");
                    std::process::exit(1)
                });
                config = profile.audio.unwrap_or_else(|| {
                    eprintln!("profile {name} has no [audio] section");
                    std::process::exit(1)
                });
            }
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--capture" | "--playback" | "--rate" | "--period-ms" | "--playback-periods" => {
                overrides.push((a.clone(), args.next().unwrap_or_else(|| usage())));
            }
            _ => usage(),
        }
    }
    for (k, v) in overrides {
        let num = || v.parse::<u32>().unwrap_or_else(|_| usage());
        match k.as_str() {
            "--capture" => {
                config.handset.capture = v.clone();
                config.speaker.capture = v.clone();
            }
            "--playback" => {
                config.handset.playback = v.clone();
                config.speaker.playback = v.clone();
            }
            "--rate" => config.rate = num(),
            "--period-ms" => config.period = Duration::from_millis(u64::from(num())),
            "--playback-periods" => config.playback_periods = num(),
            _ => {}
        }
    }
    Args {
        config,
        seconds,
        virtual_loop,
    }
}

fn ms(frames: f64, rate: u32) -> f64 {
    frames * 1000.0 / f64::from(rate.max(1))
}

fn main() {
    let mut args = parse();
    let _pulse = if args.virtual_loop {
        let dir =
            std::env::temp_dir().join(format!("offhook-audio-latency-{}", std::process::id()));
        let va = VirtualAudio::start(&dir, &["mic"], 48_000).unwrap_or_else(|e| {
            eprintln!("cannot start the virtual audio server: {e}");
            std::process::exit(1)
        });
        let conf = dir.join("asound.conf");
        std::fs::write(&conf, va.alsa_config(&["mic"])).expect("writing the ALSA configuration");
        // SAFETY: set before any ALSA use, while this is the only thread.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", &conf) };
        let pair = DevicePair {
            capture: "mic_monitor".into(),
            playback: "mic".into(),
        };
        args.config.handset = pair.clone();
        args.config.speaker = pair;
        Some((va, dir))
    } else {
        None
    };

    let rate = args.config.rate;
    let mut audio = Audio::start(args.config.clone()).expect("valid audio configuration");
    if let Err(e) = audio.io.wait_ready(Duration::from_secs(5)) {
        eprintln!("audio devices did not open: {e}");
        std::process::exit(1);
    }
    let period = audio.playback.period_frames();
    let mut cap_delays = Vec::new();
    let mut play_delays = Vec::new();
    let mut round_trips = Vec::new();
    let mut buf = vec![0i16; 8192];
    let mut click_at: Option<Instant> = None;
    let mut last_click = Instant::now();
    let start = Instant::now();
    let keep_queued = 2 * period;
    while start.elapsed() < Duration::from_secs(args.seconds) {
        // Pull model: keep two periods queued; every 250 ms one of them is a click.
        while audio.playback.queued() < keep_queued {
            let mut block = vec![0i16; period];
            if args.virtual_loop
                && click_at.is_none()
                && last_click.elapsed() > Duration::from_millis(250)
            {
                for (i, s) in block.iter_mut().take(48).enumerate() {
                    *s = if i % 2 == 0 { 20_000 } else { -20_000 };
                }
                click_at = Some(Instant::now());
                last_click = Instant::now();
            }
            audio.playback.write(&block);
        }
        let n = audio.capture.read(&mut buf);
        if let (Some(t0), Some(pos)) = (
            click_at,
            buf[..n].iter().position(|s| s.unsigned_abs() > 10_000),
        ) {
            // The click arrived `n - pos` samples before this read.
            let arrived =
                Instant::now() - Duration::from_secs_f64((n - pos) as f64 / f64::from(rate));
            round_trips.push(arrived.saturating_duration_since(t0).as_secs_f64() * 1000.0);
            click_at = None;
        }
        let s = audio.io.stats();
        cap_delays.push(s.capture.delay_frames as f64);
        play_delays.push(s.playback.delay_frames as f64);
        std::thread::sleep(Duration::from_millis(3));
    }
    let stats = audio.io.stats();
    audio.io.stop();

    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let c = &stats.capture;
    let p = &stats.playback;
    let c_rate = c.device_rate;
    let p_rate = p.device_rate;
    let resample = |dev_rate: u32| {
        if dev_rate != rate {
            16.0 * 1000.0 / f64::from(dev_rate.min(rate))
        } else {
            0.0
        }
    };
    println!(
        "audio-latency: {rate} Hz streams, {} ms periods, {} s",
        args.config.period.as_millis(),
        args.seconds
    );
    println!(
        "  capture  {:<28} device {c_rate} Hz, period {} frames ({:.1} ms), buffer {} frames",
        c.device.clone().unwrap_or_default(),
        c.period_frames,
        ms(f64::from(c.period_frames), c_rate),
        c.buffer_frames
    );
    println!(
        "  playback {:<28} device {p_rate} Hz, period {} frames ({:.1} ms), buffer {} frames ({:.1} ms)",
        p.device.clone().unwrap_or_default(),
        p.period_frames,
        ms(f64::from(p.period_frames), p_rate),
        p.buffer_frames,
        ms(f64::from(p.buffer_frames), p_rate)
    );
    println!("What the configuration adds (ALSA delay sampled while running):");
    let fill = ms(f64::from(c.period_frames), c_rate);
    let cap_wait = ms(avg(&cap_delays), c_rate);
    println!(
        "  capture  -> ring:     period fill up to {fill:.1} ms + queued in device avg {cap_wait:.1} ms (max {:.1}) + resampling {:.1} ms = {:.1} ms",
        ms(max(&cap_delays), c_rate),
        resample(c_rate),
        fill + cap_wait + resample(c_rate)
    );
    let play_wait = ms(avg(&play_delays), p_rate);
    println!(
        "  ring     -> playback: queued in device avg {play_wait:.1} ms (max {:.1}) + resampling {:.1} ms = {:.1} ms \
         (+ whatever the writer keeps queued in the ring)",
        ms(max(&play_delays), p_rate),
        resample(p_rate),
        play_wait + resample(p_rate)
    );
    println!(
        "  xruns: capture {} playback {}; device errors: capture {} playback {}",
        c.xruns, p.xruns, c.device_errors, p.device_errors
    );
    if args.virtual_loop {
        if round_trips.is_empty() {
            println!("Loopback: no click came back");
        } else {
            let mut sorted = round_trips.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "Loopback through the PulseAudio null sink, ring -> ring, {} clicks: median {:.1} ms, min {:.1}, max {:.1} \
                 (includes {:.1} ms kept queued in the playback ring and PulseAudio's own latency)",
                sorted.len(),
                sorted[sorted.len() / 2],
                sorted[0],
                sorted[sorted.len() - 1],
                ms(keep_queued as f64, rate)
            );
        }
    }
    if let Some((va, dir)) = _pulse {
        drop(va);
        let _ = std::fs::remove_dir_all(dir);
    }
}
