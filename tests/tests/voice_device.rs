//! The Rust Device against offhook-lab: registration, tokens, errors, reconnection, edge
//! fallback and incoming calls surfaced, rejected, ignored and cancelled.

use std::time::Duration;

use offhook_e2e::*;
use offhook_lab::Behaviour;
use offhook_lab::control::types::StartCall;
use twilio_voice::token::AccessToken;
use twilio_voice::{
    CallDirection, CallEvent, CallStatus, Device, DeviceEvent, DeviceOptions, DeviceState,
    VoiceError,
};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn register_unregister_destroy() {
    init_logs();
    let lab = start_lab().await;
    let (device, mut events) = device(&lab, "alice", lab_options(&lab));
    device.register().await.expect("registers");
    assert_eq!(device.state(), DeviceState::Registered);
    assert_eq!(device.identity().as_deref(), Some("alice"));
    assert!(device.edge().is_some());
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Registering)).await;
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Registered)).await;
    // The lab sees a registered client.
    lab.control()
        .wait_for_connection(T, |c| {
            c.identity.as_deref() == Some("alice") && c.registered
        })
        .await
        .expect("lab has alice registered");
    device.unregister().await.expect("unregisters");
    assert_eq!(device.state(), DeviceState::Unregistered);
    lab.control()
        .wait_for_connection(T, |c| {
            c.identity.as_deref() == Some("alice") && !c.registered && c.closed_unix_ms.is_none()
        })
        .await
        .expect("lab has alice unregistered");
    device.register().await.expect("registers again");
    device.destroy().expect("destroys");
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Destroyed)).await;
    assert!(device.register().await.is_err());
    lab.shutdown().await;
}

async fn register_error(options: DeviceOptions, token: String) -> (u32, u32) {
    let device = Device::new(token, options).expect("device");
    let mut events = device.events();
    let result = device.register().await;
    let ev = wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Error { .. })).await;
    let DeviceEvent::Error { error, .. } = ev else {
        unreachable!()
    };
    assert!(result.is_err(), "register must fail");
    device.force_destroy();
    (error.code, error.wire_code())
}

#[tokio::test]
async fn bad_tokens_give_the_sdks_codes_with_and_without_precision() {
    init_logs();
    let lab = start_lab().await;
    let c = lab.credentials.clone();
    let wrong_secret = AccessToken::new(&c.account_sid, &c.api_key_sid, "not-the-secret", "alice")
        .with_voice(c.voice_grant(true, true))
        .to_jwt(offhook_lab::config::now_unix())
        .unwrap();
    let expired = c.token_with(
        "alice",
        60,
        offhook_lab::config::now_unix() - 3600,
        c.voice_grant(true, true),
    );
    let malformed = "this.is-not.a-jwt".to_string();
    for precise in [false, true] {
        let options = DeviceOptions {
            enable_improved_signaling_error_precision: precise,
            ..lab_options(&lab)
        };
        let (code, wire) = register_error(options.clone(), wrong_secret.clone()).await;
        assert_eq!(wire, 31202);
        assert_eq!(
            code,
            if precise { 31202 } else { 53000 },
            "bad signature, precise={precise}"
        );
        let (code, wire) = register_error(options.clone(), malformed.clone()).await;
        assert_eq!((code, wire), (20101, 31204), "malformed, precise={precise}");
        let (code, wire) = register_error(options.clone(), expired.clone()).await;
        assert_eq!((code, wire), (20104, 31205), "expired, precise={precise}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn short_ttl_tokens_are_refreshed_without_unregistering() {
    init_logs();
    let lab = start_lab().await;
    // 12 s tokens, refreshed 10 s early: tokenWillExpire every ~2 s.
    let options = DeviceOptions {
        token_refresh_ms: 10_000,
        ..lab_options(&lab)
    };
    let device = Device::new(lab.credentials.token("alice", 12), options).unwrap();
    let mut events = device.events();
    device.register().await.unwrap();
    let mut refreshed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while refreshed < 4 {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("events keep coming")
            .expect("device alive");
        match ev {
            DeviceEvent::TokenWillExpire => {
                refreshed += 1;
                device
                    .update_token(lab.credentials.token("alice", 12))
                    .await
                    .unwrap();
            }
            DeviceEvent::Unregistered => panic!("unregistered while refreshing tokens"),
            DeviceEvent::Error { error, .. } => panic!("error while refreshing tokens: {error}"),
            _ => {}
        }
    }
    // 4 refreshes of 12 s tokens: well past the first token's expiry. Up to the next
    // tokenWillExpire nothing unregisters the Device or fails.
    loop {
        let ev = tokio::time::timeout_at(deadline + Duration::from_secs(10), events.recv())
            .await
            .expect("another tokenWillExpire")
            .expect("device alive");
        match ev {
            DeviceEvent::TokenWillExpire => break,
            DeviceEvent::Unregistered | DeviceEvent::Error { .. } => panic!("{ev:?}"),
            _ => {}
        }
    }
    assert_eq!(device.state(), DeviceState::Registered);
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_reregisters() {
    init_logs();
    let lab = start_lab().await;
    let (device, mut events) = device(&lab, "alice", lab_options(&lab));
    device.register().await.unwrap();
    let n = lab
        .control()
        .fault_close_socket("alice", false)
        .await
        .unwrap();
    assert_eq!(n, 1);
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Unregistered)).await;
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Registered)).await;
    assert_eq!(device.state(), DeviceState::Registered);
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn stopped_heartbeats_reconnect_within_the_silence_timeout() {
    init_logs();
    let lab = start_lab().await;
    let (device, mut events) = device(&lab, "alice", lab_options(&lab));
    device.register().await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        lab.control().fault_stop_heartbeats("alice").await.unwrap(),
        1
    );
    wait_device(&mut events, Duration::from_secs(20), |e| {
        matches!(e, DeviceEvent::Unregistered)
    })
    .await;
    let gone = started.elapsed();
    assert!(
        gone >= Duration::from_secs(14) && gone <= Duration::from_secs(17),
        "silence detected after {gone:?}"
    );
    wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Registered)).await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn edge_fallback_when_the_first_host_refuses() {
    init_logs();
    let lab = start_lab().await;
    // A port nobody listens on, then the lab.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let options = DeviceOptions {
        chunderw: Some(vec![dead_addr.to_string(), lab.signaling_addr.to_string()]),
        ..lab_options(&lab)
    };
    let (device, mut events) = device(&lab, "alice", options);
    let register = tokio::spawn({
        let d = device.clone();
        async move { d.register().await }
    });
    // As in a browser: the socket's `error` (31000), then its abnormal close (31005).
    wait_device(
        &mut events,
        T,
        |e| matches!(e, DeviceEvent::Error { error, .. } if error.code == 31005),
    )
    .await;
    register
        .await
        .unwrap()
        .expect("registers through the second host");
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn incoming_calls_are_surfaced_rejected_ignored_and_cancelled() {
    init_logs();
    let lab = start_lab().await;
    let (device, mut events) = device(&lab, "alice", lab_options(&lab));
    device.register().await.unwrap();
    let control = lab.control();

    // Surfaced with parameters and custom parameters; then rejected.
    let request = StartCall {
        from: "+12025550177".into(),
        to: "client:alice".into(),
        caller: Behaviour::Silence,
        timeout_secs: Some(30),
        params: vec![
            ("name".into(), "Ada Lovelace".into()),
            ("room".into(), "4+1=5".into()),
        ],
    };
    let sid = control.start_inbound_call(&request).await.unwrap();
    let DeviceEvent::Incoming(call) =
        wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Incoming(_))).await
    else {
        unreachable!()
    };
    assert_eq!(call.status(), CallStatus::Pending);
    assert_eq!(call.direction(), CallDirection::Incoming);
    let params = call.parameters();
    assert_eq!(params.get("From").map(String::as_str), Some("+12025550177"));
    assert_eq!(params.get("To").map(String::as_str), Some("client:alice"));
    assert!(params.get("CallSid").is_some_and(|s| s.starts_with("CA")));
    assert!(
        params
            .get("AccountSid")
            .is_some_and(|s| s.starts_with("AC"))
    );
    let custom = call.custom_parameters();
    assert!(
        custom.contains(&("name".to_string(), "Ada Lovelace".to_string())),
        "{custom:?}"
    );
    assert!(custom.iter().any(|(k, _)| k == "room"), "{custom:?}");
    let mut call_events = call.events();
    call.reject();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Reject)).await;
    let ended = control
        .wait_for_call(T, |c| {
            c.sid == sid
                && c.legs
                    .iter()
                    .any(|l| l.state != "ringing" && l.identity.as_deref() == Some("alice"))
        })
        .await
        .unwrap();
    let leg = ended
        .legs
        .iter()
        .find(|l| l.identity.as_deref() == Some("alice"))
        .unwrap();
    assert!(
        matches!(leg.end_reason.as_deref(), Some("rejected") | Some("busy")),
        "{leg:?}"
    );

    // Ignored: nothing is sent; the caller gives up after 2 s → cancel.
    let request = StartCall {
        timeout_secs: Some(2),
        params: vec![],
        ..request
    };
    control.start_inbound_call(&request).await.unwrap();
    let DeviceEvent::Incoming(call) =
        wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Incoming(_))).await
    else {
        unreachable!()
    };
    let mut call_events = call.events();
    call.ignore();
    wait_until(T, "an ignored call is closed", || async {
        match call.status() {
            CallStatus::Closed => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        device.calls().len(),
        1,
        "an ignored call stays until cancelled"
    );
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Cancel)).await;
    wait_until(T, "a cancelled call leaves the Device", || async {
        match device.calls().len() {
            0 => Ok(()),
            n => Err(format!("{n} calls")),
        }
    })
    .await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn misuse_is_refused_with_the_sdks_errors() {
    let lab = start_lab().await;
    let (device, _events) = device(&lab, "alice", lab_options(&lab));
    assert!(matches!(
        device.unregister().await,
        Err(VoiceError::InvalidState(_))
    ));
    assert!(Device::new("", lab_options(&lab)).is_err());
    let bad = DeviceOptions {
        extra_ca_pem: Some(b"junk".to_vec()),
        ..lab_options(&lab)
    };
    assert!(matches!(
        Device::new("t", bad),
        Err(VoiceError::InvalidArgument(_))
    ));
    device.force_destroy();
    lab.shutdown().await;
}

/// Issue 12 item 6: against a lab that answers `listen` with the seed's `connected` (only
/// `region` and `gateway`), the Device registers, takes its identity from the token's grant
/// and its `tokenWillExpire` from the token's own lifetime (12 s, refreshed 10 s early).
#[tokio::test]
async fn the_seeds_connected_registers_with_identity_and_expiry_from_the_token() {
    init_logs();
    let lab = start_lab_with(|c| {
        c.connected_form = offhook_lab::config::ConnectedForm::Seed;
        c.region = "EU_IRELAND".into();
    })
    .await;
    let options = DeviceOptions {
        token_refresh_ms: 10_000,
        ..lab_options(&lab)
    };
    let given = tokio::time::Instant::now();
    let device = Device::new(lab.credentials.token("alice", 12), options).unwrap();
    let mut events = device.events();
    device.register().await.expect("registers");
    let conn = lab
        .control()
        .wait_for_connection(T, |c| c.registered)
        .await
        .unwrap();
    let connected = conn
        .frames
        .iter()
        .find(|f| f.kind == "connected")
        .expect("the lab sent connected");
    let frame: serde_json::Value = serde_json::from_str(&connected.text).unwrap();
    assert_eq!(
        frame["payload"].as_object().unwrap().len(),
        2,
        "the seed's form: {frame}"
    );
    assert_eq!(device.identity().as_deref(), Some("alice"));
    assert_eq!(device.edge().as_deref(), Some("dublin"));
    assert_eq!(device.home(), None);
    for round in 0..2 {
        wait_device(&mut events, Duration::from_secs(6), |e| {
            matches!(e, DeviceEvent::TokenWillExpire)
        })
        .await;
        let after = given.elapsed();
        if round == 0 {
            assert!(
                after >= Duration::from_millis(1500) && after <= Duration::from_secs(4),
                "12 s token, 10 s early: {after:?}"
            );
        }
        device
            .update_token(lab.credentials.token("alice", 12))
            .await
            .unwrap();
    }
    assert_eq!(device.state(), DeviceState::Registered);
    device.force_destroy();
    lab.shutdown().await;
}

/// Issue 12 item 7: while the server refuses the account (`error` 31202, `close`) the Device
/// reports each refusal, backs off instead of spinning, and registers by itself once the
/// server side is fixed.
#[tokio::test]
async fn a_refused_account_is_retried_with_backoff_until_it_is_fixed() {
    use offhook_lab::control::types::RefuseListenFault;
    init_logs();
    let lab = start_lab().await;
    let control = lab.control();
    for (code, close_frame, expect) in [(Some(31202), true, 31202), (None, false, 31005)] {
        control
            .fault_refuse_listen(&RefuseListenFault {
                code,
                message: None,
                close_frame,
            })
            .await
            .unwrap();
        let before = control.connections().await.unwrap().len();
        let options = DeviceOptions {
            enable_improved_signaling_error_precision: true,
            ..lab_options(&lab)
        };
        let (device, mut events) = device(&lab, "alice", options);
        let started = tokio::time::Instant::now();
        assert!(device.register().await.is_err(), "the first attempt fails");
        let mut refusals = 0;
        while started.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(ev)) =
                tokio::time::timeout(Duration::from_millis(200), events.recv()).await
            {
                match ev {
                    DeviceEvent::Error { error, .. } if error.code == expect => refusals += 1,
                    DeviceEvent::Registered => panic!("registered while refused"),
                    _ => {}
                }
            }
        }
        let attempts = control.connections().await.unwrap().len() - before;
        assert!(refusals >= 2, "each refusal is an error event: {refusals}");
        assert!(
            (2..=7).contains(&attempts),
            "{code:?}: backing off, not spinning: {attempts} sockets in 3 s"
        );
        control.fault_accept_listen().await.unwrap();
        wait_device(&mut events, Duration::from_secs(25), |e| {
            matches!(e, DeviceEvent::Registered)
        })
        .await;
        assert_eq!(device.state(), DeviceState::Registered);
        assert_eq!(device.identity().as_deref(), Some("alice"));
        device.force_destroy();
    }
    lab.shutdown().await;
}

/// Issue 12 item 12: the upgrade request carries a `User-Agent` naming this library, the
/// OS and the app; `listen`'s `browserinfo` has the SDK's field set with the same user agent
/// and the real platform. Nothing says `Mozilla/` or names a browser.
#[tokio::test]
async fn the_lab_sees_a_device_not_a_browser() {
    init_logs();
    let lab = start_lab().await;
    let options = DeviceOptions {
        app_name: Some("offhook".into()),
        app_version: Some("1.2.3".into()),
        ..lab_options(&lab)
    };
    let (device, _events) = device(&lab, "alice", options);
    device.register().await.unwrap();
    let conn = lab
        .control()
        .wait_for_connection(T, |c| c.registered)
        .await
        .unwrap();
    let ua = conn
        .user_agent
        .expect("a User-Agent on the upgrade request");
    assert_eq!(
        ua,
        format!(
            "twilio-voice-rs/{} (Linux; {}) offhook/1.2.3",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH
        )
    );
    let info = conn.browserinfo.expect("listen's browserinfo");
    assert_eq!(
        info,
        serde_json::json!({
            "p": "browser",
            "v": env!("CARGO_PKG_VERSION"),
            "browser": {
                "userAgent": ua,
                "platform": format!("Linux {}", std::env::consts::ARCH),
            },
            "plugin": "rtc",
        })
    );
    for name in [
        "Mozilla", "Chrome", "Safari", "Firefox", "Gecko", "WebKit", "Edg", "Opera",
    ] {
        assert!(!ua.contains(name), "{name} in {ua}");
    }
    device.force_destroy();
    lab.shutdown().await;
}
