//! The handset's network changes, and IPv6-only networks: a Device (the library, with test
//! audio) in a network namespace of its own, joined to this one by a veth pair, calling the
//! lab's echo number here.
//!
//! - the namespace's address changes mid-call (the old address deleted, a new one in another
//!   subnet added, the default route moved to the new gateway): the call recovers through an
//!   ICE restart — the lab answered a `reinvite` with new ICE credentials, our media comes
//!   from the new address, and our tone is heard back (both ways, through the echo) within
//!   3 s of the new network being up; with host candidates, and relay-only through coturn
//!   (the TURN allocation is made again from the new address);
//! - an IPv6-only namespace (no IPv4 address but loopback's, no NAT64) calls a lab whose
//!   media is IPv4 only, through coturn's IPv6 listener: coturn gives an IPv4 relayed
//!   address (its default family) and the call has audio both ways through it.
//!
//! They need root (network namespaces) and `ip`/`nft`, and coturn (`turnserver`, from
//! `.ci/install-deps --test`); without root they say why and return. Every namespace, veth
//! and coturn is removed, killed and reaped by Drop guards, pass or fail.

mod turn_rig;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use offhook_dsp::analysis::{dominant_frequency, rms};
use offhook_e2e::*;
use offhook_lab::LabHandle;
use offhook_lab::control::types::MediaStats;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use turn_rig::*;
use twilio_voice::options::IceTransportPolicy;
use twilio_voice::{CallEvent, DeviceOptions};

const T: Duration = Duration::from_secs(15);
const ECHO: &str = "+12025550100";
const TONE_HZ: f64 = 700.0;
/// Audio must be back, both ways, this soon after the new network is up.
const RECOVERY: Duration = Duration::from_secs(3);
/// The stretch of received audio each look at the handset's ear takes in.
const EAR_WINDOW_MS: u32 = 200;

/// What the handset thread tells the test.
#[derive(Debug)]
enum Step {
    Registered,
    Heard(f64),
    /// After the network change at `t0`: when our echo went silent and when it came back,
    /// and the call's events (name, time since `t0`) until then.
    Recovered {
        silent: Duration,
        back: Duration,
        events: Vec<(String, Duration)>,
    },
    /// The echo did not come back in time (what was heard last, and the events).
    NotRecovered {
        heard_hz: f64,
        level: f64,
        events: Vec<(String, Duration)>,
    },
}

/// When the test tells the handset thread to go on (with the time the network changed).
type Go = Option<Instant>;

/// The handset, in the namespace: registers, calls the echo number and hears our tone come
/// back; at each `go` with a time, measures how long the echo takes to come back after it
/// (having gone silent first); at a `go` without one, hangs up.
async fn handset(
    token: String,
    options: DeviceOptions,
    steps: UnboundedSender<Step>,
    mut go: UnboundedReceiver<Go>,
) {
    let audio = Arc::new(twilio_voice::media::audio::TestAudio::new(
        16_000,
        Some(TONE_HZ),
    ));
    let device = twilio_voice::Device::with_audio(token, options, audio.clone()).expect("a device");
    device.register().await.expect("registered");
    let _ = steps.send(Step::Registered);
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let ear = audio.sink(call.id()).expect("the call's ear");
    let (f, _) = wait_to_hear(&ear, TONE_HZ, T).await;
    let _ = steps.send(Step::Heard(f));
    while let Some(Some(t0)) = go.recv().await {
        let _ = steps.send(recovery(&ear, &mut events, t0).await);
    }
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
}

/// Watches the ear (every 50 ms, the last [`EAR_WINDOW_MS`]) and the call's events after the
/// network changed at `t0`: the echo goes silent, then comes back; until `reconnected`.
async fn recovery(
    ear: &twilio_voice::media::audio::RecordingSink,
    events: &mut twilio_voice::CallEvents,
    t0: Instant,
) -> Step {
    let rate = {
        use twilio_voice::AudioSink;
        ear.sample_rate()
    };
    let mut seen: Vec<(String, Duration)> = Vec::new();
    let mut silent = None;
    let mut back = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::Instant::from_std(t0 + T);
    loop {
        tokio::select! {
            Some(e) = events.recv() => {
                if !matches!(e, CallEvent::Volume { .. } | CallEvent::Sample(_)) {
                    seen.push((e.name().to_string(), t0.elapsed()));
                }
            }
            _ = tick.tick() => {
                let heard = ear.last_ms(EAR_WINDOW_MS);
                let (level, hz) = (rms(&heard), dominant_frequency(&heard, rate));
                let tone = (hz - TONE_HZ).abs() < 15.0 && level > 300.0;
                if silent.is_none() && level < 100.0 {
                    silent = Some(t0.elapsed());
                } else if silent.is_some() && back.is_none() && tone {
                    back = Some(t0.elapsed());
                }
                // Every `reconnecting` (signaling's, media's) answered.
                let reconnected = seen.last().is_some_and(|(n, _)| n == "reconnected");
                if let (Some(silent), Some(back), true) = (silent, back, reconnected) {
                    return Step::Recovered { silent, back, events: seen };
                }
                if tokio::time::Instant::now() >= deadline {
                    return Step::NotRecovered { heard_hz: hz, level, events: seen };
                }
            }
        }
    }
}

async fn next_step(steps: &mut UnboundedReceiver<Step>, what: &str) -> Step {
    match tokio::time::timeout(T + T, steps.recv()).await {
        Ok(Some(step)) => step,
        Ok(None) => panic!("{what}: the handset thread ended\n{}", logged()),
        Err(_) => panic!("{what}: the handset is stuck\n{}", logged()),
    }
}

/// The media of the lab's leg for `identity`, once it has some.
async fn lab_media(lab: &LabHandle, identity: &str) -> MediaStats {
    lab_leg(lab, identity)
        .await
        .media
        .unwrap_or_else(|| panic!("{identity}: no media at the lab"))
}

fn addr(text: Option<&str>) -> Option<SocketAddr> {
    text.and_then(|a| a.parse().ok())
}

/// A call from the namespace; then the namespace's address changes under it.
async fn address_change(tag: char, relay: bool) {
    if let Some(why) = netns_unsupported() {
        eprintln!("skipped: {why}");
        return;
    }
    logs();
    let ns = HandsetNs::create_as(tag, Family::V4);
    // A default route, as a DHCP client sets one: the one the change moves.
    ns.ip(&["route", "add", "default", "via", &ns.host_ip.to_string()])
        .unwrap();
    let lab = start_lab_with(|c| c.listen = SocketAddr::new(ns.host_ip, 0)).await;
    let coturn = relay.then(|| Coturn::start_on(ns.host_ip, None));
    let identity = format!("moving-{tag}");
    let options = match &coturn {
        Some(c) => options(
            &lab,
            Some(c),
            vec![c.ice_server(vec![c.url("udp")], "p")],
            IceTransportPolicy::Relay,
        ),
        None => options(&lab, None, Vec::new(), IceTransportPolicy::All),
    };
    let token = lab.credentials.token(&identity, 3600);
    let (steps_tx, mut steps) = unbounded_channel();
    let (go, go_rx) = unbounded_channel();
    let thread = ns.run(move || handset(token, options, steps_tx, go_rx));
    assert!(matches!(
        next_step(&mut steps, "registering").await,
        Step::Registered
    ));
    match next_step(&mut steps, "the first echo").await {
        Step::Heard(f) => assert!((f - TONE_HZ).abs() < 15.0, "heard {f} Hz"),
        other => panic!("{other:?}"),
    }
    let before = wait_until(T, "the lab gets our media", || async {
        let m = lab_media(&lab, &identity).await;
        match addr(m.remote_addr.as_deref()) {
            Some(remote) if m.packets_in > 50 => Ok((m, remote)),
            _ => Err(format!("{m:?}")),
        }
    })
    .await;
    let (old_media, old_remote) = before;
    match &coturn {
        Some(c) => assert!(
            old_remote.ip() == ns.host_ip && c.relay_ports.contains(&old_remote.port()),
            "{old_remote} is no relayed address of coturn"
        ),
        None => assert_eq!(old_remote.ip(), ns.ns_ip, "media from the namespace"),
    }
    assert_eq!(old_media.ice_restarts, 0);
    let allocations = coturn.as_ref().map(Coturn::allocations);

    // The change: a new subnet, as when DHCP renews with another address or the handset is
    // moved to another network. The old address goes, the new one comes, the default
    // route moves to the new gateway.
    let (a, b) = HandsetNs::v4_net(tag, 1);
    let new_gateway = Ipv4Addr::new(10, a, b, 1);
    let new_ip = IpAddr::V4(Ipv4Addr::new(10, a, b, 2));
    let old = format!("{}/24", ns.ns_ip);
    ip_cmd(&[
        "addr",
        "add",
        &format!("{new_gateway}/24"),
        "dev",
        &ns.host_if,
    ])
    .unwrap();
    ns.ip(&["addr", "del", &old, "dev", &ns.ns_if]).unwrap();
    ns.ip(&["addr", "add", &format!("{new_ip}/24"), "dev", &ns.ns_if])
        .unwrap();
    ns.ip(&[
        "route",
        "replace",
        "default",
        "via",
        &new_gateway.to_string(),
    ])
    .unwrap();
    let t0 = Instant::now();
    go.send(Some(t0)).unwrap();
    match next_step(&mut steps, "the recovery").await {
        Step::Recovered {
            silent,
            back,
            events,
        } => {
            eprintln!(
                "{tag}: the echo went silent {silent:?} and came back {back:?} after the new \
                 network was up; events {events:?}"
            );
            assert!(
                back <= RECOVERY,
                "the echo came back {back:?} after the new network was up (events {events:?})\n{}",
                logged()
            );
            let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                names.contains(&"reconnecting") && names.last() == Some(&"reconnected"),
                "{names:?}"
            );
            assert!(
                !names.contains(&"error") && !names.contains(&"disconnect"),
                "{names:?}"
            );
        }
        Step::NotRecovered {
            heard_hz,
            level,
            events,
        } => panic!(
            "the echo is not back {T:?} after the change: {heard_hz} Hz at rms {level}; \
             events {events:?}\n{}",
            logged()
        ),
        other => panic!("{other:?}"),
    }
    // The lab answered a reinvite with new ICE credentials, and our media comes from the
    // new network now.
    let after = wait_until(T, "the lab sees the restart", || async {
        let m = lab_media(&lab, &identity).await;
        let remote = addr(m.remote_addr.as_deref());
        let moved = match &coturn {
            Some(c) => remote.is_some_and(|r| {
                r.ip() == ns.host_ip && c.relay_ports.contains(&r.port()) && r != old_remote
            }),
            None => remote.is_some_and(|r| r.ip() == new_ip),
        };
        if m.ice_restarts >= 1 && moved && m.packets_in > old_media.packets_in + 50 {
            Ok(m)
        } else {
            Err(format!("{m:?}"))
        }
    })
    .await;
    assert_ne!(after.client_ice_ufrag, old_media.client_ice_ufrag);
    let leg = lab_leg(&lab, &identity).await;
    assert_eq!(leg.state, "in-progress", "{leg:?}");
    if let (Some(c), Some(before)) = (&coturn, allocations) {
        assert!(
            c.allocations() > before,
            "no new allocation from the new address:\n{}",
            c.log_text()
        );
    }
    go.send(None).unwrap();
    let joined = tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
    lab.shutdown().await;
}

/// A call, then the handset's address changes (host candidates): it recovers through an ICE
/// restart within 3 s of the new network being up.
#[tokio::test]
async fn an_address_change_mid_call_recovers_through_an_ice_restart() {
    address_change('c', false).await;
}

/// The same through a TURN server only (relay-only): the allocation is made again from the
/// new address, and the call recovers through it.
#[tokio::test]
async fn an_address_change_mid_relayed_call_recovers_through_a_new_allocation() {
    address_change('r', true).await;
}

/// An IPv6-only handset (no NAT64) and a lab whose media is IPv4: coturn, listening on IPv6
/// and IPv4, relays the call from an IPv4 relayed address.
#[tokio::test]
async fn an_ipv6_only_handset_calls_through_the_relay() {
    if let Some(why) = netns_unsupported() {
        eprintln!("skipped: {why}");
        return;
    }
    logs();
    let ns = HandsetNs::create_as('6', Family::V6Only);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Signaling on the veth's IPv6 address; media only on IPv4 (as Twilio's gateways).
    let lab = start_lab_with(|c| {
        c.listen = SocketAddr::new(ns.host_ip, 0);
        c.media_ip = Some(loopback);
    })
    .await;
    let coturn = Coturn::start_with(&[ns.host_ip, loopback], loopback, None);
    let identity = "six";
    // Every candidate: the IPv6 host candidate has no IPv4 peer to pair with, only the relay
    // can carry the call.
    let options = options(
        &lab,
        Some(&coturn),
        vec![coturn.ice_server(vec![coturn.url("udp")], "p")],
        IceTransportPolicy::All,
    );
    assert!(
        coturn.url("udp").starts_with("turn:[fd00:"),
        "{}",
        coturn.url("udp")
    );
    let token = lab.credentials.token(identity, 3600);
    let (steps_tx, mut steps) = unbounded_channel();
    let (go, go_rx) = unbounded_channel();
    let thread = ns.run(move || handset(token, options, steps_tx, go_rx));
    assert!(matches!(
        next_step(&mut steps, "registering over IPv6").await,
        Step::Registered
    ));
    match next_step(&mut steps, "the echo").await {
        Step::Heard(f) => assert!(
            (f - TONE_HZ).abs() < 15.0,
            "heard {f} Hz\n{}\n{}",
            logged(),
            coturn.log_text()
        ),
        other => panic!("{other:?}"),
    }
    let media = wait_until(T, "the lab gets our tone", || async {
        let m = lab_media(&lab, identity).await;
        let tone = m
            .loudest_dominant_hz
            .is_some_and(|hz| (hz as f64 - TONE_HZ).abs() < 20.0);
        if m.packets_in > 50 && m.packets_out > 50 && tone {
            Ok(m)
        } else {
            Err(format!("{m:?}"))
        }
    })
    .await;
    let remote = addr(media.remote_addr.as_deref()).expect("the lab's peer");
    assert!(
        remote.ip() == loopback && coturn.relay_ports.contains(&remote.port()),
        "the lab's peer {remote} is no IPv4 relayed address of coturn ({:?})",
        coturn.relay_ports
    );
    let log = coturn.log_text();
    assert!(
        log.contains("ALLOCATE processed, success") && log.contains("IPv4. Local relay addr"),
        "coturn allocated an IPv4 relayed address:\n{log}"
    );
    // The Device asked for it over IPv6 (the namespace has no IPv4 way out at all), and got
    // an IPv4 relayed address (coturn's default family: no REQUESTED-ADDRESS-FAMILY).
    let allocated = logged();
    let line = allocated
        .lines()
        .find(|l| l.contains("TURN allocation made") && l.contains(&coturn.url("udp")))
        .unwrap_or_else(|| panic!("no allocation over IPv6 logged:\n{allocated}"));
    assert!(
        line.contains("relayed=127.0.0.1:") && line.contains(&format!("server=[{}]:", ns.host_ip)),
        "{line}"
    );
    go.send(None).unwrap();
    let joined = tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
    lab.shutdown().await;
}
