//! Calls with audio between the Rust Device and offhook-lab: echo and tone numbers, incoming
//! calls, hang-ups both ways, failures, DTMF, mute, messages and media reconnection.

use std::time::Duration;

use offhook_e2e::*;
use offhook_lab::Behaviour;
use offhook_lab::control::types::{CallInfo, LegInfo, StartCall};
use serde_json::json;
use twilio_voice::{CallEvent, CallStatus, DeviceEvent, DeviceOptions};

const T: Duration = Duration::from_secs(10);

fn client_leg<'a>(call: &'a CallInfo, identity: &str) -> Option<&'a LegInfo> {
    call.legs
        .iter()
        .find(|l| l.identity.as_deref() == Some(identity))
}

async fn lab_leg(lab: &offhook_lab::LabHandle, identity: &str) -> LegInfo {
    let calls = lab.control().calls().await.unwrap();
    calls
        .iter()
        .rev()
        .find_map(|c| client_leg(c, identity).cloned())
        .unwrap_or_else(|| panic!("no leg for {identity} in {calls:#?}"))
}

#[tokio::test]
async fn echo_number_returns_our_tone_and_hangs_up_both_ways() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, audio) = device_with_audio(&lab, "alice", lab_options(&lab), Some(700.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    assert_eq!(call.status(), CallStatus::Open);
    assert!(
        call.parameters()
            .get("CallSid")
            .is_some_and(|s| s.starts_with("CA"))
    );
    assert_eq!(
        call.codec(),
        Some(twilio_voice::Codec::Pcmu),
        "PCMU is the default preference"
    );
    let (f, level) = wait_to_hear(&audio.sink(call.id()).unwrap(), 700.0, T).await;
    assert!(level > 1000.0, "echo is audible: rms {level}");
    assert!(
        (f - 700.0).abs() < 15.0,
        "echo comes back at 700 Hz, got {f}"
    );
    // The lab's leg statistics are refreshed as it goes: wait for them to show the echo.
    wait_until(
        T,
        "the lab's leg counts the echo both ways at 700 Hz",
        || async {
            let leg = lab_leg(&lab, "alice").await;
            match leg.media {
                Some(m)
                    if m.packets_in > 10
                        && m.packets_out > 10
                        && m.loudest_dominant_hz
                            .is_some_and(|hz| (hz - 700.0).abs() < 20.0) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // Local hang-up.
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    lab.control()
        .wait_for_call(T, |c| {
            c.legs
                .iter()
                .any(|l| l.identity.as_deref() == Some("alice") && l.state == "completed")
        })
        .await
        .unwrap();
    assert!(!device.is_busy());

    // Remote hang-up.
    let call = device.connect(to("+12025550101")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 1000.0, T).await;
    assert!(
        (f - 1000.0).abs() < 15.0,
        "the tone number plays 1 kHz, got {f}"
    );
    let sid = call.parameters().get("CallSid").cloned().unwrap();
    let info = lab
        .control()
        .calls()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.legs.iter().any(|l| l.call_sid == sid || l.sid == sid))
        .unwrap();
    lab.control().hangup_call(&info.sid).await.unwrap();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    assert_eq!(call.status(), CallStatus::Closed);
    device.force_destroy();
    lab.shutdown().await;
}

/// STUN before a call runs in the call's own media task, not in the Device's loop (issue 14):
/// with STUN servers that take the request and never answer (half a second each, two seconds
/// in all), the Device still answers at once, and the call goes ahead once they have timed out.
#[tokio::test]
async fn silent_stun_servers_never_stall_the_device() {
    init_logs();
    let lab = start_lab().await;
    let silent: Vec<std::net::UdpSocket> = (0..4)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let options = DeviceOptions {
        ice_servers: vec![twilio_voice::options::IceServer {
            urls: silent
                .iter()
                .map(|s| format!("stun:{}", s.local_addr().unwrap()))
                .collect(),
            username: None,
            credential: None,
        }],
        ..lab_options(&lab)
    };
    let (device, _events, audio) = device_with_audio(&lab, "stella", options.clone(), Some(700.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    // A request that needs the Device's loop to answer it, while the call's STUN waits.
    let asked = std::time::Instant::now();
    device.update_options(options).await.unwrap();
    let answered = asked.elapsed();
    assert!(
        answered < Duration::from_millis(1000),
        "the Device answered after {answered:?}, behind the call's STUN"
    );
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 700.0, T).await;
    assert!(
        (f - 700.0).abs() < 15.0,
        "echo comes back at 700 Hz, got {f}"
    );
    // Every silent server was asked: the STUN really ran (and really waited).
    for s in &silent {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        assert!(
            s.recv_from(&mut buf).is_ok(),
            "a binding request reached {:?}",
            s.local_addr()
        );
    }
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn incoming_call_accepted_with_audio_both_ways() {
    init_logs();
    let lab = start_lab().await;
    let (device, mut events, audio) =
        device_with_audio(&lab, "bob", lab_options(&lab), Some(900.0));
    device.register().await.unwrap();
    let request = StartCall {
        from: "+12025550170".into(),
        to: "client:bob".into(),
        caller: Behaviour::Tone { hz: 440.0 },
        timeout_secs: Some(30),
        params: vec![],
    };
    let sid = lab.control().start_inbound_call(&request).await.unwrap();
    let DeviceEvent::Incoming(call) =
        wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Incoming(_))).await
    else {
        unreachable!()
    };
    let mut call_events = call.events();
    call.accept();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Accept)).await;
    assert!(device.is_busy());
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 440.0, T).await;
    assert!(
        (f - 440.0).abs() < 15.0,
        "we hear the caller's 440 Hz, got {f}"
    );
    let info = lab.control().get_call(&sid).await.unwrap();
    let leg = client_leg(&info, "bob").unwrap();
    let media = leg.media.as_ref().unwrap();
    assert!(
        media
            .loudest_dominant_hz
            .is_some_and(|hz| (hz - 900.0).abs() < 20.0),
        "the lab hears our 900 Hz: {media:?}"
    );
    lab.control().hangup_call(&sid).await.unwrap();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn busy_decline_and_no_answer_give_the_sdks_errors() {
    init_logs();
    let lab = start_lab().await;
    for (precise, number, code) in [
        (true, "+12025550103", 31486),
        (true, "+12025550105", 31603),
        (false, "+12025550103", 31005),
        (true, "+12025550104", 31480),
    ] {
        let options = DeviceOptions {
            enable_improved_signaling_error_precision: precise,
            ..lab_options(&lab)
        };
        let (device, _events) = device(&lab, "carol", options);
        let call = device.connect(to(number)).await.unwrap();
        let mut events = call.events();
        let long = if number.ends_with("104") {
            Duration::from_secs(45)
        } else {
            T
        };
        let err = wait_call(&mut events, long, |e| matches!(e, CallEvent::Error(_))).await;
        let CallEvent::Error(e) = err else {
            unreachable!()
        };
        assert_eq!(e.code, code, "{number} precise={precise}: {e}");
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
        assert_eq!(call.status(), CallStatus::Closed);
        device.force_destroy();
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn digits_arrive_in_order_with_the_sdks_timing() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, _audio) = device_with_audio(&lab, "dave", lab_options(&lab), None);
    let call = device.connect(to("+12025550102")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    // Digits go in the media stream: wait until it flows.
    wait_until(T, "media reaches the lab", || async {
        let media = lab_leg(&lab, "dave").await.media;
        match media {
            Some(m) if m.packets_in > 0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    call.send_digits("123w#").unwrap();
    assert!(call.send_digits("12x").is_err());
    let dtmf = wait_until(T, "the recorder gets four digits", || async {
        let info = lab.control().calls().await.unwrap();
        let dtmf = info
            .iter()
            .flat_map(|c| c.legs.iter())
            .filter_map(|l| l.media.as_ref())
            .map(|m| m.dtmf.clone())
            .find(|d| !d.is_empty())
            .unwrap_or_default();
        if dtmf.len() >= 4 {
            Ok(dtmf)
        } else {
            Err(format!("{dtmf:?}"))
        }
    })
    .await;
    let digits: String = dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(digits, "123#");
    assert!(dtmf.iter().all(|d| d.source == "rfc4733"), "{dtmf:?}");
    let gaps: Vec<i64> = dtmf
        .windows(2)
        .map(|w| w[1].unix_ms as i64 - w[0].unix_ms as i64)
        .collect();
    for g in &gaps[..2] {
        assert!(
            (200..=300).contains(g),
            "160 ms tone + 70 ms gap between digits, got {gaps:?}"
        );
    }
    assert!(
        gaps[2] >= 650 && gaps[2] <= 850,
        "w pauses 500 ms more, got {gaps:?}"
    );
    for d in &dtmf {
        if let Some(ms) = d.duration_ms {
            assert!((140..=200).contains(&ms), "tone length {ms} ms");
        }
    }
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn mute_silences_what_the_lab_hears() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, _audio) = device_with_audio(&lab, "erin", lab_options(&lab), Some(800.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let level = || async {
        let level = lab_leg(&lab, "erin")
            .await
            .media
            .map_or(-100.0, |m| m.level_dbfs);
        (level, format!("{level} dBFS"))
    };
    wait_until(T, "the lab hears us", || async {
        let (dbfs, said) = level().await;
        if dbfs > -30.0 { Ok(()) } else { Err(said) }
    })
    .await;
    call.mute(true);
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Mute(true))).await;
    assert!(call.is_muted());
    wait_until(T, "muted: the lab hears silence", || async {
        let (dbfs, said) = level().await;
        if dbfs < -60.0 { Ok(()) } else { Err(said) }
    })
    .await;
    call.mute(false);
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Mute(false))).await;
    wait_until(T, "unmuted: the lab hears us again", || async {
        let (dbfs, said) = level().await;
        if dbfs > -30.0 { Ok(()) } else { Err(said) }
    })
    .await;
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn call_messages_each_way() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, _audio) = device_with_audio(&lab, "frank", lab_options(&lab), None);
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let kx = call
        .send_message(json!({"hello": "lab"}), None, "user-defined-message")
        .await
        .unwrap();
    assert!(kx.starts_with("KX") && kx.len() == 34);
    let sent = wait_call(&mut events, T, |e| matches!(e, CallEvent::MessageSent(_))).await;
    let CallEvent::MessageSent(m) = sent else {
        unreachable!()
    };
    assert_eq!(m.voice_event_sid, kx);
    let leg = lab_leg(&lab, "frank").await;
    lab.control()
        .send_message(&leg.sid, json!({"hello": "phone"}))
        .await
        .unwrap();
    let got = wait_call(&mut events, T, |e| {
        matches!(e, CallEvent::MessageReceived(_))
    })
    .await;
    let CallEvent::MessageReceived(m) = got else {
        unreachable!()
    };
    assert_eq!(m.content, json!({"hello": "phone"}));
    assert_eq!(m.message_type, "user-defined-message");
    let bad = call
        .send_message(json!(1), None, "not-a-type")
        .await
        .unwrap();
    let err = wait_call(&mut events, T, |e| matches!(e, CallEvent::Error(_))).await;
    let CallEvent::Error(e) = err else {
        unreachable!()
    };
    assert_eq!(e.wire_code(), 31210, "{bad}: {e}");
    assert_eq!(call.status(), CallStatus::Open);
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

/// Waits for six of the call's once-a-second samples: the StatsMonitor has then run past the
/// 5 s in which a call's warnings are held back.
async fn past_the_warning_delay(events: &mut twilio_voice::CallEvents) {
    for _ in 0..6 {
        wait_call(events, T, |e| matches!(e, CallEvent::Sample(_))).await;
    }
}

#[tokio::test]
async fn media_stopped_for_five_seconds_reconnects() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, audio) = device_with_audio(&lab, "gina", lab_options(&lab), Some(600.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    // Warnings are off for the first 5 s of a call: past them once six samples came.
    past_the_warning_delay(&mut events).await;
    let leg = lab_leg(&lab, "gina").await;
    lab.control().fault_stop_media(&leg.sid, 5.0).await.unwrap();
    wait_call(&mut events, Duration::from_secs(15), |e| {
        matches!(e, CallEvent::Reconnecting(_))
    })
    .await;
    assert_eq!(call.status(), CallStatus::Reconnecting);
    wait_call(&mut events, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::Reconnected)
    })
    .await;
    assert_eq!(call.status(), CallStatus::Open);
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 600.0, T).await;
    assert!((f - 600.0).abs() < 15.0, "audio flows again, got {f}");
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn media_stopped_for_forty_seconds_ends_with_31003() {
    init_logs();
    let lab = start_lab().await;
    let (device, _events, _audio) = device_with_audio(&lab, "hank", lab_options(&lab), Some(600.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    past_the_warning_delay(&mut events).await;
    let leg = lab_leg(&lab, "hank").await;
    lab.control()
        .fault_stop_media(&leg.sid, 40.0)
        .await
        .unwrap();
    wait_call(&mut events, Duration::from_secs(15), |e| {
        matches!(e, CallEvent::Reconnecting(_))
    })
    .await;
    let err = wait_call(&mut events, Duration::from_secs(50), |e| {
        matches!(e, CallEvent::Error(_))
    })
    .await;
    let CallEvent::Error(e) = err else {
        unreachable!()
    };
    assert_eq!(e.code, 31003);
    assert_eq!(call.status(), CallStatus::Closed);
    let leg = lab_leg(&lab, "hank").await;
    assert_eq!(
        leg.state, "completed",
        "the hangup reached the lab: {leg:?}"
    );
    device.force_destroy();
    lab.shutdown().await;
}
