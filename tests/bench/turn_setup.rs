//! `turn-setup-bench`: what a TURN server over TLS adds to a call's setup.
//!
//! The Rust Device calls the lab's echo number N times in each of three ways, taken in turn
//! so that drift in the machine's load falls on all three alike:
//!
//! - **direct**: host candidates only, no ICE server;
//! - **TURN/TLS configured**: every candidate, with a `turns:` server (what a Device given
//!   Twilio's ICE servers does: gathering waits for the allocation, the host pair wins);
//! - **TURN/TLS relay only**: `iceTransportPolicy: relay`, so the media goes through the
//!   relay (TCP and TLS to coturn, the allocation, the permission and channel).
//!
//! For each call it takes the time from `connect()` to `accept`, and to the first echo of our
//! tone in the ear (both directions of media up), and prints the medians (with the fastest
//! and slowest) and what TURN/TLS adds to them. The lab runs in this process and coturn
//! (`turnserver`, from `.ci/install-deps --test`) on loopback, so the figures are the
//! protocols' own cost without network latency: on a real network each round trip to the
//! TURN server adds to them (TCP, TLS, and the allocation's two). Not a test — run it
//! explicitly (`scripts/turn-bench` builds and runs it; `OFFHOOK_TEST_LOG=twilio_voice=info`
//! shows each call's gathering):
//!
//! ```sh
//! cargo run --release -p offhook-e2e --bin turn-setup-bench -- [--calls 10]
//! ```
//!
//! Most of what TURN adds on loopback is `turn-client-proto`'s pacing: 50 ms at least
//! between two requests to a server, so the allocation that carries our credentials follows
//! the unauthenticated one (answered 401 with the realm and nonce) 50 ms later, and the
//! channel binding its permission.

use std::sync::Arc;
use std::time::{Duration, Instant};

use offhook_dsp::analysis::rms;
use offhook_e2e::coturn::Coturn;
use offhook_e2e::{lab_options, start_lab, to, wait_call};
use offhook_lab::LabHandle;
use twilio_voice::media::audio::TestAudio;
use twilio_voice::options::{IceServer, IceTransportPolicy};
use twilio_voice::{CallEvent, Device, DeviceOptions};

const ECHO: &str = "+12025550100";
const TONE_HZ: f64 = 700.0;
/// A call that has not set up after this long counts as failed.
const CALL_LIMIT: Duration = Duration::from_secs(15);
/// The ear's last this-many ms, checked for the echo every 2 ms.
const EAR_MS: u32 = 20;

fn usage() -> ! {
    eprintln!("usage: turn-setup-bench [--calls N]");
    std::process::exit(2)
}

struct Way {
    name: &'static str,
    device: Device,
    audio: Arc<TestAudio>,
    accept: Vec<Duration>,
    audio_up: Vec<Duration>,
    failed: usize,
}

/// One call: the time to `accept` and to the first echo, or why it failed.
async fn one_call(way: &Way) -> Result<(Duration, Duration), String> {
    let started = Instant::now();
    let call = way
        .device
        .connect(to(ECHO))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut events = call.events();
    let limit = tokio::time::Instant::now() + CALL_LIMIT;
    let accept = loop {
        match tokio::time::timeout_at(limit, events.recv()).await {
            Ok(Some(CallEvent::Accept)) => break started.elapsed(),
            Ok(Some(CallEvent::Error(e))) => return Err(format!("error {e:?}")),
            Ok(Some(CallEvent::Disconnect)) => return Err("disconnected".into()),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Err("no accept".into()),
        }
    };
    let ear = way.audio.sink(call.id()).ok_or("no ear")?;
    let heard = loop {
        if rms(&ear.last_ms(EAR_MS)) > 300.0 {
            break started.elapsed();
        }
        if tokio::time::Instant::now() >= limit {
            return Err("no echo".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    call.disconnect();
    wait_call(&mut events, CALL_LIMIT, |e| {
        matches!(e, CallEvent::Disconnect)
    })
    .await;
    Ok((accept, heard))
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn cell(v: &[Duration]) -> String {
    match (median(v), v.iter().min(), v.iter().max()) {
        (Some(m), Some(lo), Some(hi)) => format!("{:>9} ({} – {})", ms(m), ms(*lo), ms(*hi)),
        _ => "—".into(),
    }
}

fn added(way: &[Duration], direct: &[Duration]) -> String {
    match (median(way), median(direct)) {
        (Some(w), Some(d)) => {
            let diff = w.as_secs_f64() - d.as_secs_f64();
            format!("{:+.1} ms", diff * 1000.0)
        }
        _ => "—".into(),
    }
}

async fn device(lab: &LabHandle, name: &str, options: DeviceOptions) -> (Device, Arc<TestAudio>) {
    let token = lab.credentials.token(name, 3600);
    let audio = Arc::new(TestAudio::new(16_000, Some(TONE_HZ)));
    let device = Device::with_audio(token, options, audio.clone()).expect("a device");
    device.register().await.expect("registered with the lab");
    (device, audio)
}

fn main() {
    // OFFHOOK_TEST_LOG=twilio_voice=info shows each call's gathering.
    offhook_e2e::init_logs();
    let mut calls = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calls" => {
                calls = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(run(calls));
}

async fn run(calls: usize) {
    let coturn = Coturn::start();
    let lab = start_lab().await;
    let turns = IceServer {
        urls: vec![coturn.url("tls")],
        username: Some("u".into()),
        credential: Some("p".into()),
    };
    let mut trust = lab.ca_cert_pem.clone();
    trust.push_str(&coturn.ca_pem);
    let with_turn = |policy: IceTransportPolicy| DeviceOptions {
        ice_servers: vec![turns.clone()],
        ice_transport_policy: policy,
        extra_ca_pem: Some(trust.clone().into_bytes()),
        ..lab_options(&lab)
    };
    let mut ways = Vec::new();
    for (name, options) in [
        ("direct (host candidates)", lab_options(&lab)),
        (
            "TURN/TLS configured (all)",
            with_turn(IceTransportPolicy::All),
        ),
        ("TURN/TLS relay only", with_turn(IceTransportPolicy::Relay)),
    ] {
        let identity = format!("bench-{}", ways.len());
        let (device, audio) = device(&lab, &identity, options).await;
        ways.push(Way {
            name,
            device,
            audio,
            accept: Vec::new(),
            audio_up: Vec::new(),
            failed: 0,
        });
    }
    // One call of each to warm up (TLS session set-up code, the lab's first leg), not counted.
    for way in &ways {
        if let Err(why) = one_call(way).await {
            eprintln!(
                "turn-setup-bench: warm-up call ({}) failed: {why}",
                way.name
            );
        }
    }
    for _ in 0..calls {
        for way in &mut ways {
            match one_call(way).await {
                Ok((accept, audio)) => {
                    way.accept.push(accept);
                    way.audio_up.push(audio);
                }
                Err(why) => {
                    eprintln!("turn-setup-bench: a call ({}) failed: {why}", way.name);
                    way.failed += 1;
                }
            }
        }
    }
    println!(
        "turn-setup-bench: {calls} calls each to the echo number; the lab and coturn \
         (turns:, TLS over TCP) on loopback"
    );
    println!("median (fastest – slowest) from connect() to:");
    println!(
        "{:<28} {:<34} {:<34} failed",
        "", "accept", "first echo (media both ways)"
    );
    for way in &ways {
        println!(
            "{:<28} {:<34} {:<34} {}",
            way.name,
            cell(&way.accept),
            cell(&way.audio_up),
            way.failed
        );
    }
    let direct = &ways[0];
    for way in &ways[1..] {
        println!(
            "{:<28} {:<34} {:<34}",
            format!("added: {}", way.name.trim_start_matches("TURN/TLS ")),
            added(&way.accept, &direct.accept),
            added(&way.audio_up, &direct.audio_up)
        );
    }
    for way in &ways {
        way.device.force_destroy();
    }
    lab.shutdown().await;
    drop(coturn);
    if ways.iter().any(|w| w.failed > 0) {
        std::process::exit(1);
    }
}
