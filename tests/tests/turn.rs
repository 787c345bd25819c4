//! Calls through a real TURN server: Debian's coturn (`turnserver`, from `.ci/install-deps
//! --test`), started by each test on loopback with long-term credentials (`u`/`p`, realm
//! `offhook`), on ports of its own, relaying to loopback peers (the lab), with a TLS
//! listener whose certificate the test makes.
//!
//! - relay-only calls (`IceTransportPolicy::Relay`: the Device offers no host candidate) over
//!   UDP, TCP and TLS to the echo number: our tone comes back, and the lab saw our media come
//!   from coturn's relay ports; coturn's log shows the allocation and its release;
//! - refused credentials: with every candidate the call still goes over host candidates, and
//!   the refusal is logged with coturn's code; relay-only, the call reports the SDK's ICE
//!   failure (53405) at once instead of waiting for the ICE timeout;
//! - a TURN server that is closed, or that never answers: the call goes ahead on host
//!   candidates, held up no longer than gathering's limit;
//! - (root, with `ip` and `nft`) the handset in a network namespace whose nftables firewall
//!   drops all it sends but TCP to the signaling server and one way to coturn: TLS on 443,
//!   then UDP to coturn's port. An outgoing and an incoming call each time, audio both ways
//!   through the relay. Without root it says why and returns.
//!
//! Every coturn is killed and reaped, and the namespace removed, by Drop guards, pass or fail.

mod turn_rig;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use offhook_e2e::*;
use turn_rig::*;
use twilio_voice::options::{IceServer, IceTransportPolicy};
use twilio_voice::{CallEvent, DeviceOptions};

const T: Duration = Duration::from_secs(15);
const ECHO: &str = "+12025550100";
const TONE_HZ: f64 = 700.0;

/// Packets coturn relayed from and to peers in a session it closed (`peer usage: … rp=N, …
/// sp=N`), for the user `u`.
fn peer_usage(log: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .find(|l| l.contains("peer usage:") && l.contains("username=<u>"))?;
    let field = |name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((field("rp")?, field("sp")?))
}

/// A relay-only call to the echo number over `transport`: our tone comes back, the lab got
/// our media from coturn's relay ports, and hanging up releases the allocation.
async fn relay_only_call(transport: &str) {
    logs();
    let coturn = Coturn::start();
    let lab = start_lab().await;
    let identity = format!("relay-{transport}");
    let servers = vec![coturn.ice_server(vec![coturn.url(transport)], "p")];
    let (device, _events, audio) = device_with_audio(
        &lab,
        &identity,
        options(&lab, Some(&coturn), servers, IceTransportPolicy::Relay),
        Some(TONE_HZ),
    );
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, level) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0 && level > 1000.0,
        "{transport}: our tone comes back through the relay: {f} Hz, rms {level}\n{}",
        coturn.log_text()
    );
    // The lab (Twilio's side) saw our media come from coturn's relayed address, and heard
    // our tone in it.
    let media = wait_until(T, "the lab gets our media", || async {
        let media = lab_leg(&lab, &identity).await.media;
        match media {
            Some(m) if m.packets_in > 50 && m.packets_out > 50 => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let remote: SocketAddr = media
        .remote_addr
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{transport}: no remote address in {media:?}"));
    assert!(
        remote.ip().is_loopback() && coturn.relay_ports.contains(&remote.port()),
        "{transport}: the lab's peer {remote} is not a relayed address of coturn ({:?})",
        coturn.relay_ports
    );
    assert!(
        media
            .loudest_dominant_hz
            .is_some_and(|hz| (hz as f64 - TONE_HZ).abs() < 20.0),
        "{transport}: the lab heard our tone: {media:?}"
    );
    let log = coturn.log_text();
    assert!(
        log.contains("ALLOCATE processed, success")
            && log.contains("CHANNEL_BIND processed, success"),
        "{transport}: coturn's log has no allocation or channel:\n{log}"
    );
    // The end of the call releases the allocation (a Refresh with a lifetime of 0).
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let usage = wait_until(T, "coturn releases the allocation", || async {
        let log = coturn.log_text();
        let released =
            log.contains("username=<u>, lifetime=0") && log.contains("REFRESH processed, success");
        match peer_usage(&log) {
            Some(usage) if released => Ok(usage),
            _ => Err(log.lines().rev().take(5).collect::<Vec<_>>().join("\n")),
        }
    })
    .await;
    // What coturn relayed between its relayed address and the lab, both ways.
    assert!(
        usage.0 > 20 && usage.1 > 20,
        "{transport}: coturn relayed {usage:?} packets (from, to the peer)"
    );
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn relay_only_call_over_udp() {
    relay_only_call("udp").await;
}

#[tokio::test]
async fn relay_only_call_over_tcp() {
    relay_only_call("tcp").await;
}

#[tokio::test]
async fn relay_only_call_over_tls() {
    relay_only_call("tls").await;
}

/// coturn refuses the credentials: with every candidate, the call goes over host candidates
/// and the refusal is logged with its code; relay-only, there is no candidate at all and the
/// call reports the SDK's media connection failure (53405) at once.
#[tokio::test]
async fn refused_credentials() {
    logs();
    let coturn = Coturn::start();
    let lab = start_lab().await;
    let bad = vec![coturn.ice_server(
        vec![coturn.url("udp"), coturn.url("tcp"), coturn.url("tls")],
        "wrong",
    )];

    let (device, _events, audio) = device_with_audio(
        &lab,
        "bad-creds-all",
        options(&lab, Some(&coturn), bad.clone(), IceTransportPolicy::All),
        Some(TONE_HZ),
    );
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0,
        "host candidates carry the call: {f} Hz"
    );
    let media = lab_leg(&lab, "bad-creds-all").await.media.unwrap();
    let remote: SocketAddr = media.remote_addr.as_deref().unwrap().parse().unwrap();
    assert!(
        !coturn.relay_ports.contains(&remote.port()),
        "no relay: {remote}"
    );
    let log = logged();
    for url in [coturn.url("udp"), coturn.url("tcp"), coturn.url("tls")] {
        assert!(
            log.lines()
                .any(|l| l.contains(&url)
                    && l.contains("the TURN server refused the credentials (401")),
            "{url}: no refusal logged:\n{log}"
        );
    }
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();

    let (device, _events, _audio) = device_with_audio(
        &lab,
        "bad-creds-relay",
        options(&lab, Some(&coturn), bad, IceTransportPolicy::Relay),
        Some(TONE_HZ),
    );
    let started = Instant::now();
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    let failed = wait_call(&mut events, T, |e| {
        matches!(e, CallEvent::Reconnecting(_) | CallEvent::Error(_))
    })
    .await;
    let (CallEvent::Reconnecting(e) | CallEvent::Error(e)) = &failed else {
        unreachable!()
    };
    assert_eq!(e.code, 53405, "{failed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the failure comes at once, not at the ICE timeout: {:?}",
        started.elapsed()
    );
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

/// A TURN server that is closed (UDP and TCP) or never answers: the call goes ahead on host
/// candidates, held up by gathering no longer than its limit.
#[tokio::test]
async fn unreachable_and_silent_turn_servers() {
    logs();
    let lab = start_lab().await;
    let closed = free_port();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let urls = vec![
        format!("turn:127.0.0.1:{closed}?transport=udp"),
        format!("turn:127.0.0.1:{closed}?transport=tcp"),
        format!("turn:127.0.0.1:{silent_port}?transport=udp"),
    ];
    let servers = vec![IceServer {
        urls: urls.clone(),
        username: Some("u".into()),
        credential: Some("p".into()),
    }];
    let (device, _events, audio) = device_with_audio(
        &lab,
        "bad-turn",
        options(&lab, None, servers, IceTransportPolicy::All),
        Some(TONE_HZ),
    );
    let started = Instant::now();
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let setup = started.elapsed();
    assert!(
        setup < twilio_voice::media::task::GATHER_TIMEOUT + Duration::from_secs(3),
        "gathering held the call up for {setup:?}"
    );
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0,
        "host candidates carry the call: {f} Hz"
    );
    let log = logged();
    let reason = |url: &str, why: &str| {
        assert!(
            log.lines().any(|l| l.contains(url) && l.contains(why)),
            "{url}: no `{why}` logged:\n{log}"
        );
    };
    reason(&urls[0], "unreachable");
    reason(&urls[1], "refused");
    reason(&urls[2], "no answer from the TURN server");
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
    drop(silent);
}

// ---- The handset behind firewalls, in a network namespace (root only) ----

/// What the handset thread tells the test.
#[derive(Debug)]
enum Step {
    Registered,
    Heard(f64),
}

/// The handset's side, in the namespace: registers, places a call to the echo number and
/// hears our tone back, hangs up when told; then takes an incoming call and hears its tone.
async fn handset(
    token: String,
    options: DeviceOptions,
    steps: tokio::sync::mpsc::UnboundedSender<Step>,
    mut go: tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let audio = Arc::new(twilio_voice::media::audio::TestAudio::new(
        16_000,
        Some(TONE_HZ),
    ));
    let device = twilio_voice::Device::with_audio(token, options, audio.clone()).expect("a device");
    let mut events = device.events();
    device
        .register()
        .await
        .expect("registered through the firewall");
    let _ = steps.send(Step::Registered);

    let call = device.connect(to(ECHO)).await.unwrap();
    let mut call_events = call.events();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    let _ = steps.send(Step::Heard(f));
    go.recv().await;
    call.disconnect();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Disconnect)).await;

    let twilio_voice::DeviceEvent::Incoming(call) = wait_device(&mut events, T, |e| {
        matches!(e, twilio_voice::DeviceEvent::Incoming(_))
    })
    .await
    else {
        unreachable!()
    };
    let mut call_events = call.events();
    call.accept();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 440.0, T).await;
    let _ = steps.send(Step::Heard(f));
    go.recv().await;
    call.disconnect();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
}

/// The handset thread's next step (it has two call set-ups' worth of time).
async fn next_step(
    steps: &mut tokio::sync::mpsc::UnboundedReceiver<Step>,
    way: &str,
) -> Option<Step> {
    tokio::time::timeout(T + T, steps.recv())
        .await
        .unwrap_or_else(|_| panic!("{way}: the handset is stuck\n{}", logged()))
}

/// The handset in a namespace whose firewall (nftables) lets out only TCP to the signaling
/// server and one way to the TURN server: TLS on 443, then UDP to coturn's port. An outgoing
/// and an incoming call each time carry audio both ways through the relay.
#[tokio::test]
async fn behind_firewalls_calls_go_through_the_only_way_out() {
    if let Some(why) = netns_unsupported() {
        eprintln!("skipped: {why}");
        return;
    }
    logs();
    let ns = HandsetNs::create();
    let host = ns.host_ip;
    let coturn = Coturn::start_on(host, Some(443));
    let lab = start_lab_with(|c| c.listen = SocketAddr::from((host, 0))).await;
    let signaling = lab.signaling_addr.port();
    let ways = [
        ("tls", format!("ip daddr {host} tcp dport 443 accept")),
        (
            "udp",
            format!("ip daddr {host} udp dport {} accept", coturn.port),
        ),
    ];
    for (way, rule) in &ways {
        ns.firewall(&format!(
            "table inet offhook {{
  chain out {{
    type filter hook output priority 0; policy drop;
    oifname \"lo\" accept
    ip daddr {host} tcp dport {signaling} accept
    {rule}
  }}
}}"
        ));
        let identity = format!("walled-{way}");
        let servers = vec![coturn.ice_server(
            vec![coturn.url("udp"), coturn.url("tcp"), coturn.url("tls")],
            "p",
        )];
        // Every candidate: the host ones cannot get out, only the relay can.
        let options = options(&lab, Some(&coturn), servers, IceTransportPolicy::All);
        let token = lab.credentials.token(&identity, 3600);
        let (steps_tx, mut steps) = tokio::sync::mpsc::unbounded_channel();
        let (go, go_rx) = tokio::sync::mpsc::unbounded_channel();
        let thread = ns.run(move || handset(token, options, steps_tx, go_rx));
        assert!(matches!(
            next_step(&mut steps, way).await,
            Some(Step::Registered)
        ));
        for (call, hz) in [("outgoing", TONE_HZ), ("incoming", 440.0)] {
            if call == "incoming" {
                lab.control()
                    .start_inbound_call(&offhook_lab::control::types::StartCall {
                        from: "+12025550170".into(),
                        to: format!("client:{identity}"),
                        caller: offhook_lab::Behaviour::Tone { hz: 440.0 },
                        timeout_secs: Some(30),
                        params: vec![],
                    })
                    .await
                    .unwrap();
            }
            match next_step(&mut steps, way).await {
                Some(Step::Heard(f)) => assert!(
                    (f - hz).abs() < 15.0,
                    "{way}, {call}: heard {f} Hz instead of {hz}\n{}\n{}",
                    logged(),
                    coturn.log_text()
                ),
                other => panic!("{way}, {call}: {other:?}\n{}", logged()),
            }
            let media = wait_until(T, "the lab gets our tone", || async {
                match lab_leg(&lab, &identity).await.media {
                    Some(m)
                        if m.packets_in > 50
                            && m.loudest_dominant_hz
                                .is_some_and(|hz| (hz as f64 - TONE_HZ).abs() < 20.0) =>
                    {
                        Ok(m)
                    }
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
            let remote: SocketAddr = media.remote_addr.as_deref().unwrap().parse().unwrap();
            assert!(
                remote.ip() == host && coturn.relay_ports.contains(&remote.port()),
                "{way}, {call}: the lab's peer {remote} is no relayed address of coturn"
            );
            go.send(()).unwrap();
            // The lab's record of the next call is a new leg.
            wait_until(T, "the call ends at the lab", || async {
                let leg = lab_leg(&lab, &identity).await;
                if leg.state == "completed" {
                    Ok(())
                } else {
                    Err(leg.state)
                }
            })
            .await;
        }
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap();
        if let Err(panic) = joined {
            std::panic::resume_unwind(panic);
        }
        // The relay that was used is the way out that was open.
        let allocated = format!("TURN allocation made url={}", coturn.url(way));
        assert!(
            logged().matches(&allocated).count() >= 2,
            "{way}: no allocation over {}:\n{}",
            coturn.url(way),
            logged()
        );
    }
    lab.shutdown().await;
}
