//! ICE servers from the token server, the whole path: a coturn the test starts is what the
//! lab's Network Traversal Service (`POST …/Tokens.json`) hands out; the demo's in-process
//! `offhook-server` fetches it from there (as from Twilio) and gives it out beside each token;
//! the real `offhook run` on the simulated board, with `ice_transport_policy = "relay"` in its
//! config and no ICE servers of its own, calls the echo number. Only the relay can carry that
//! call: the earpiece hears the microphone come back, the lab got the handset's media from
//! coturn's relayed address, and coturn's log shows the allocation and the channel.

mod rig;

use std::net::SocketAddr;
use std::time::Duration;

use offhook_e2e::coturn::Coturn;
use offhook_e2e::real_handset::Mouth;
use offhook_e2e::{init_logs, wait_until};
use rig::{MOUTH_HZ, pulse, start_handset, wait_hears};

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_handset_calls_through_the_turn_server_the_token_server_hands_out() {
    init_logs();
    let coturn = Coturn::start();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let handset = start_handset(&pulse.dir.join("ice-servers"), |o| {
        o.ice_servers = vec![offhook_lab::IceServer {
            urls: vec![coturn.url("udp"), coturn.url("tcp")],
            username: Some("u".into()),
            credential: Some("p".into()),
        }];
        o.ice_transport_policy = Some("relay".into());
    })
    .await;
    let config = handset.env.config().expect("the demo config");
    assert_eq!(config.device.ice_servers, None, "no ICE servers of its own");
    let lab = handset.env.lab.control();
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    // The server got the list from the lab's Network Traversal Service.
    let stats = lab.ice_tokens().await.expect("the lab's token stats");
    assert!(stats.served >= 1 && stats.failed == 0, "{stats:?}");

    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    // The echo number sends back what the microphone says: audio both ways, through coturn.
    wait_hears(&mouth, MOUTH_HZ, T).await;
    let media = wait_until(T, "the lab gets the handset's media", || async {
        let calls = lab.calls().await.map_err(|e| e.to_string())?;
        let media = calls
            .iter()
            .rev()
            .flat_map(|c| &c.legs)
            .find(|l| l.identity.as_deref() == Some("desk"))
            .and_then(|l| l.media.clone());
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
        .unwrap_or_else(|| panic!("no remote address in {media:?}"));
    assert!(
        remote.ip().is_loopback() && coturn.relay_ports.contains(&remote.port()),
        "the lab's peer {remote} is not a relayed address of coturn ({:?})\n{}",
        coturn.relay_ports,
        coturn.log_text()
    );
    assert!(
        media
            .dominant_hz
            .is_some_and(|hz| (hz - MOUTH_HZ as f32).abs() < 20.0),
        "the lab heard the microphone through the relay: {media:?}"
    );
    let log = coturn.log_text();
    assert!(
        log.contains("ALLOCATE processed, success")
            && log.contains("CHANNEL_BIND processed, success"),
        "coturn's log has no allocation or channel:\n{log}"
    );

    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    // The end of the call releases the allocation.
    wait_until(T, "coturn releases the allocation", || async {
        let log = coturn.log_text();
        if log.contains("username=<u>, lifetime=0") && log.contains("REFRESH processed, success") {
            Ok(())
        } else {
            Err(log.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
        }
    })
    .await;
    drop(mouth);
    handset.finish(false).await;
}
