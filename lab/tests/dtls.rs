//! Twilio's crypto between our client (`twilio-voice`, str0m with dimpl, which prefers
//! AEAD-AES-GCM) and the lab's media gateway: whichever side sends the ClientHello, the call
//! runs DTLS 1.2 with ECDSA certificates and SRTP `AES128_CM_HMAC_SHA1_80`, and audio flows.
//!
//! Our client answers the gateway's `a=setup:actpass` with `active`, as Chrome does (seed line
//! 1213), so the lab is the DTLS server on incoming calls and the client on outgoing ones
//! (Twilio answers `a=setup:active`). A phone that answers `passive` is refused, as Twilio's
//! gateway expects the DTLS client role from the callee.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::phone::Phone;
use common::{Ws, assert_twilio_crypto};
use offhook_lab::control::types::{CallInfo, LegInfo, MediaStats, StartCall};
use offhook_lab::{Behaviour, Credentials, Lab, LabConfig, LabHandle};
use serde_json::json;
use twilio_voice::media::analysis::{dominant_frequency, rms};
use twilio_voice::media::audio::{RecordingSink, TestAudio};
use twilio_voice::{CallEvent, CallEvents, Device, DeviceEvent, DeviceOptions};

const T: Duration = Duration::from_secs(10);
const RATE: u32 = 16_000;

async fn lab() -> LabHandle {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OFFHOOK_TEST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    Lab::start(LabConfig::new(Credentials::generate()))
        .await
        .expect("the lab starts")
}

fn device(lab: &LabHandle, identity: &str, tone_hz: f64) -> (Device, Arc<TestAudio>) {
    let options = DeviceOptions {
        chunderw: Some(vec![lab.signaling_addr.to_string()]),
        extra_ca_pem: Some(lab.ca_cert_pem.clone().into_bytes()),
        publish_events: false,
        ..Default::default()
    };
    let audio = Arc::new(TestAudio::new(RATE, Some(tone_hz)));
    let token = lab.credentials.token(identity, 600);
    let device = Device::with_audio(token, options, audio.clone()).expect("a device");
    (device, audio)
}

async fn wait_call(events: &mut CallEvents, what: fn(&CallEvent) -> bool) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if what(&e) => return,
            Ok(Some(_)) => {}
            other => panic!("the call event did not come: {other:?}"),
        }
    }
}

/// Waits until the client hears `hz` (within 15 Hz, not faint).
async fn hears(sink: &RecordingSink, hz: f64) {
    let start = Instant::now();
    loop {
        let heard = sink.last_ms(1000);
        let f = dominant_frequency(&heard, RATE);
        if (f - hz).abs() < 15.0 && rms(&heard) > 300.0 {
            return;
        }
        assert!(
            start.elapsed() < T,
            "the client never heard {hz} Hz (last {f} Hz)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn client_leg<'a>(call: &'a CallInfo, identity: &str) -> &'a LegInfo {
    let leg = call
        .legs
        .iter()
        .find(|l| l.identity.as_deref() == Some(identity));
    leg.unwrap_or_else(|| panic!("no leg for {identity}: {call:#?}"))
}

/// The lab's media figures for the client's leg, once it heard `hz` from the client.
async fn lab_heard(lab: &LabHandle, identity: &str, hz: f32) -> MediaStats {
    let start = Instant::now();
    loop {
        let calls = lab.control().calls().await.unwrap();
        let media = calls
            .iter()
            .rev()
            .find(|c| {
                c.legs
                    .iter()
                    .any(|l| l.identity.as_deref() == Some(identity))
            })
            .and_then(|c| client_leg(c, identity).media.clone());
        if let Some(m) = media.filter(|m| {
            m.packets_in > 50
                && m.packets_out > 50
                && m.loudest_dominant_hz.is_some_and(|f| (f - hz).abs() < 20.0)
        }) {
            return m;
        }
        assert!(
            start.elapsed() < T,
            "the lab never heard {hz} Hz from {identity}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn outgoing_call_lab_is_the_dtls_client_and_offers_aes128_cm_only() {
    let lab = lab().await;
    let (device, audio) = device(&lab, "olive", 700.0);
    let to = vec![("To".to_string(), "+12025550100".to_string())]; // the echo number
    let call = device.connect(to).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, |e| matches!(e, CallEvent::Accept)).await;
    hears(&audio.sink(call.id()).unwrap(), 700.0).await;
    let media = lab_heard(&lab, "olive", 700.0).await;
    assert_twilio_crypto(media.dtls.as_ref(), "client");
    call.disconnect();
    wait_call(&mut events, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn incoming_call_our_client_answers_active_and_the_lab_serves_aes128_cm_only() {
    let lab = lab().await;
    let (device, audio) = device(&lab, "ivy", 900.0);
    let mut device_events = device.events();
    device.register().await.unwrap();
    let request = StartCall {
        from: "+12025550170".into(),
        to: "client:ivy".into(),
        caller: Behaviour::Tone { hz: 440.0 },
        timeout_secs: Some(30),
        params: vec![],
    };
    let sid = lab.control().start_inbound_call(&request).await.unwrap();
    let call = loop {
        match tokio::time::timeout(T, device_events.recv()).await {
            Ok(Some(DeviceEvent::Incoming(call))) => break call,
            Ok(Some(_)) => {}
            other => panic!("no incoming call: {other:?}"),
        }
    };
    let mut events = call.events();
    call.accept();
    wait_call(&mut events, |e| matches!(e, CallEvent::Accept)).await;
    hears(&audio.sink(call.id()).unwrap(), 440.0).await;
    let media = lab_heard(&lab, "ivy", 900.0).await;
    assert_twilio_crypto(media.dtls.as_ref(), "server");
    lab.control().hangup_call(&sid).await.unwrap();
    wait_call(&mut events, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn incoming_call_answered_active_lab_is_the_dtls_server_and_picks_aes128_cm_over_gcm() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "jade").await;
    let sid = lab
        .control()
        .call_from("+15551234567", "client:jade", 30)
        .await
        .unwrap();
    let invite = ws.expect("invite").await;
    let child = invite["callsid"].as_str().unwrap().to_string();
    let phone = Phone::answer(invite["sdp"].as_str().unwrap(), 900.0)
        .await
        .expect("str0m answers the lab's offer");
    assert!(phone.sdp.contains("a=setup:active"), "{}", phone.sdp);
    ws.send("answer", json!({ "callsid": child, "sdp": phone.sdp }))
        .await;
    phone.wait("connected", |h| h.connected).await;
    phone
        .wait("the caller's 440 Hz", |h| {
            h.analyzer
                .dominant_hz()
                .is_some_and(|f| (f - 440.0).abs() < 5.0)
        })
        .await;
    let media = lab_heard(&lab, "jade", 900.0).await;
    assert_twilio_crypto(media.dtls.as_ref(), "server");
    let info = lab.control().get_call(&sid).await.unwrap();
    let leg = client_leg(&info, "jade");
    assert_twilio_crypto(leg.media.as_ref().and_then(|m| m.dtls.as_ref()), "server");
    lab.control().hangup_call(&sid).await.unwrap();
    lab.shutdown().await;
}

#[tokio::test]
async fn an_answer_that_is_not_the_dtls_client_fails_the_leg_with_an_error() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "kit").await;
    let sid = lab
        .control()
        .call_from("+15551234567", "client:kit", 30)
        .await
        .unwrap();
    let invite = ws.expect("invite").await;
    let child = invite["callsid"].as_str().unwrap().to_string();
    let phone = Phone::answer_passive(invite["sdp"].as_str().unwrap(), 900.0)
        .await
        .expect("str0m answers the lab's offer");
    assert!(phone.sdp.contains("a=setup:passive"), "{}", phone.sdp);
    ws.send("answer", json!({ "callsid": child, "sdp": phone.sdp }))
        .await;
    // The leg is over for the client (the dial then cancels it).
    let ended = ws.recv().await;
    assert!(
        ended["type"] == "cancel" || ended["type"] == "hangup",
        "{ended}"
    );
    assert_eq!(ended["payload"]["callsid"], child.as_str());
    let info = lab
        .control()
        .wait_for_call(T, |c| {
            client_leg(c, "kit").end_reason.as_deref() == Some("bad-sdp")
        })
        .await
        .unwrap();
    let leg = client_leg(&info, "kit");
    let error = leg.error.as_ref().expect("the control API says why");
    assert_eq!(error.code, 31400, "{error:?}");
    assert!(error.message.contains("a=setup:active"), "{error:?}");
    assert_eq!(info.sid, sid);
    lab.shutdown().await;
}
