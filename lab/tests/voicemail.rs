//! Voicemail's Twilio pieces over real HTTP: `<Record>` with a virtual caller, its signed
//! callbacks, the Recordings resource the control server serves (WAV and JSON, Basic auth,
//! DELETE), `<Play>` of the lab's own recordings, `<Gather>` with keys a virtual caller
//! presses.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::twiml::{HookRequest, TwimlServer};
use common::{WAIT, lab_with, twiml_server};
use offhook_lab::control::types::{CallInfo, StartCall};
use offhook_lab::http::HttpClient;
use offhook_lab::media::analysis::dominant_hz;
use offhook_lab::media::audio::decode_wav;
use offhook_lab::{Behaviour, LabHandle};
use serde_json::Value;

const HANGUP: &str = "<Response><Hangup/></Response>";

/// Polls `f` every 50 ms until it gives something, for up to [`WAIT`].
async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The app's request to `path` (query included), once it came.
async fn hook(twiml: &TwimlServer, path: &str) -> HookRequest {
    until(path, async || {
        twiml.requests().into_iter().find(|r| r.path == path)
    })
    .await
}

fn param<'a>(hook: &'a HookRequest, name: &str) -> Option<&'a str> {
    hook.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn call(lab: &LabHandle, caller: Behaviour) -> String {
    lab.control()
        .start_inbound_call(&StartCall {
            from: "+15557654321".into(),
            to: lab.credentials.phone_number.clone(),
            caller,
            timeout_secs: Some(30),
            params: Vec::new(),
        })
        .await
        .expect("the call starts")
}

async fn call_info(lab: &LabHandle, sid: &str) -> CallInfo {
    lab.control().get_call(sid).await.expect("the call exists")
}

/// `GET`/`DELETE` against the lab's Twilio API, optionally with HTTP Basic.
async fn rest(
    method: &str,
    url: &str,
    auth: Option<(&str, &str)>,
) -> http::Response<hyper::body::Bytes> {
    let headers: Vec<(&str, String)> = auth
        .map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            ("Authorization", format!("Basic {token}"))
        })
        .into_iter()
        .collect();
    HttpClient::new()
        .request_response(method, url, &headers, Default::default())
        .await
        .expect("the lab answers")
}

fn json(response: &http::Response<hyper::body::Bytes>) -> Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

/// A 16-bit mono PCM WAV at 8 kHz, header and all; returns its samples.
fn assert_twilio_wav(response: &http::Response<hyper::body::Bytes>) -> Vec<i16> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/x-wav");
    let b = response.body();
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(u32_at(4) as usize, b.len() - 8);
    assert_eq!(&b[8..16], b"WAVEfmt ");
    assert_eq!(u32_at(16), 16, "a plain PCM fmt chunk");
    assert_eq!(u16_at(20), 1, "PCM");
    assert_eq!(u16_at(22), 1, "mono");
    assert_eq!(u32_at(24), 8000, "8 kHz");
    assert_eq!(u32_at(28), 16000, "bytes per second");
    assert_eq!(u16_at(32), 2, "block align");
    assert_eq!(u16_at(34), 16, "16-bit");
    assert_eq!(&b[36..40], b"data");
    assert_eq!(u32_at(40) as usize, b.len() - 44);
    decode_wav(b).expect("the lab's own decoder reads it")
}

#[tokio::test]
async fn a_recorded_message_is_called_back_signed_and_served_until_deleted() {
    let twiml = twiml_server("").await;
    twiml.set_replies(&[
        r#"<Response><Record action="/vm/done" maxLength="2" recordingStatusCallback="/vm/status?box=7"/><Say>unreachable</Say></Response>"#,
        HANGUP,
    ]);
    let lab = lab_with(|c| c.number_url = Some(twiml.url.clone())).await;
    twiml.set_auth_token(&lab.credentials.auth_token);
    let creds = lab.credentials.clone();
    let call_sid = call(&lab, Behaviour::Tone { hz: 440.0 }).await;

    // maxLength ends it; the status callback and the action follow, both signed.
    let status = hook(&twiml, "/vm/status?box=7").await;
    let action = hook(&twiml, "/vm/done").await;
    assert!(status.signature_ok, "{status:?}");
    assert!(action.signature_ok, "{action:?}");
    let rec = lab
        .control()
        .wait_for_recording(WAIT, |_| true)
        .await
        .unwrap();
    assert!(rec.url.starts_with(lab.twilio_api_url()), "{}", rec.url);
    assert_eq!(
        rec.url,
        format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{}",
            lab.control_url, creds.account_sid, rec.sid
        )
    );
    assert_eq!(rec.call_sid, call_sid);
    assert_eq!(rec.ended_by, "max-length");
    assert!(
        (1000..=2000).contains(&rec.duration_ms),
        "at most maxLength: {rec:?}"
    );
    let duration = rec.duration_secs.to_string();
    for (k, v) in [
        ("RecordingSid", rec.sid.as_str()),
        ("RecordingUrl", rec.url.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", duration.as_str()),
        ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb"),
        ("CallSid", call_sid.as_str()),
        ("AccountSid", creds.account_sid.as_str()),
        ("ErrorCode", "0"),
    ] {
        assert_eq!(param(&status, k), Some(v), "status {k}");
    }
    assert!(param(&status, "RecordingStartTime").is_some_and(|t| t.ends_with(" +0000")));
    for (k, v) in [
        ("RecordingSid", rec.sid.as_str()),
        ("RecordingUrl", rec.url.as_str()),
        ("RecordingDuration", duration.as_str()),
        ("CallSid", call_sid.as_str()),
    ] {
        assert_eq!(param(&action, k), Some(v), "action {k}");
    }
    assert_eq!(param(&action, "Digits"), None, "not ended by a key");
    until("the action's <Hangup>", async || {
        (call_info(&lab, &call_sid).await.phase == "ended").then_some(())
    })
    .await;

    // The media: no auth needed (media auth is not enforced), with or without `.wav`.
    for url in [format!("{}.wav", rec.url), rec.url.clone()] {
        let samples = assert_twilio_wav(&rest("GET", &url, None).await);
        assert_eq!(samples.len() as u64, rec.duration_ms * 8);
        let hz = dominant_hz(&samples).expect("not silent");
        assert!(
            (hz - 440.0).abs() < 5.0,
            "the caller's tone, not the beep: {hz}"
        );
    }

    // The resource: Basic auth with the auth token or the API key, else 401 20003.
    let json_url = format!("{}.json", rec.url);
    for auth in [
        None,
        Some((creds.account_sid.as_str(), "wrong")),
        Some((creds.api_key_sid.as_str(), creds.auth_token.as_str())),
    ] {
        let refused = rest("GET", &json_url, auth).await;
        assert_eq!(refused.status(), 401, "{auth:?}");
        assert!(refused.headers().contains_key("www-authenticate"));
        let body = json(&refused);
        assert_eq!(
            (body["code"].as_u64(), body["status"].as_u64()),
            (Some(20003), Some(401))
        );
    }
    for auth in [
        (creds.account_sid.as_str(), creds.auth_token.as_str()),
        (creds.api_key_sid.as_str(), creds.api_key_secret.as_str()),
    ] {
        let got = rest("GET", &json_url, Some(auth)).await;
        assert_eq!(got.status(), 200);
        let body = json(&got);
        assert_eq!(body["sid"], rec.sid.as_str());
        assert_eq!(body["account_sid"], creds.account_sid.as_str());
        assert_eq!(body["call_sid"], call_sid.as_str());
        assert_eq!(body["duration"], duration.as_str());
        assert_eq!(body["status"], "completed");
        assert_eq!(body["media_url"], rec.url.as_str());
        assert_eq!(
            body["uri"],
            format!(
                "/2010-04-01/Accounts/{}/Recordings/{}.json",
                creds.account_sid, rec.sid
            )
        );
    }

    // DELETE: 401 without auth, 204 with, then 404 (20404) everywhere.
    let owner = Some((creds.account_sid.as_str(), creds.auth_token.as_str()));
    assert_eq!(rest("DELETE", &json_url, None).await.status(), 401);
    assert_eq!(rest("DELETE", &json_url, owner).await.status(), 204);
    for (method, url) in [
        ("GET", json_url.clone()),
        ("GET", format!("{}.wav", rec.url)),
        ("DELETE", json_url.clone()),
    ] {
        let gone = rest(method, &url, owner).await;
        assert_eq!(gone.status(), 404, "{method} {url}");
        let body = json(&gone);
        assert_eq!(
            (body["code"].as_u64(), body["status"].as_u64()),
            (Some(20404), Some(404))
        );
        assert!(body["message"].as_str().unwrap().contains(&rec.sid));
    }
    let listed = lab.control().recording(&rec.sid).await.unwrap();
    assert!(listed.deleted, "{listed:?}");
    // Another account's path is not found either.
    let other = rec
        .url
        .replace(&creds.account_sid, "AC00000000000000000000000000000000");
    assert_eq!(
        rest("GET", &format!("{other}.wav"), None).await.status(),
        404
    );
}

#[tokio::test]
async fn enforced_media_auth_a_finish_key_and_play_of_own_recordings() {
    let twiml = twiml_server("").await;
    twiml.set_replies(&[
        r##"<Response><Record playBeep="false" timeout="0" finishOnKey="#" action="/vm/done"/></Response>"##,
        HANGUP,
    ]);
    let lab = lab_with(|c| {
        c.number_url = Some(twiml.url.clone());
        c.enforce_media_auth = true;
    })
    .await;
    twiml.set_auth_token(&lab.credentials.auth_token);
    let creds = lab.credentials.clone();
    let caller = call(&lab, Behaviour::Tone { hz: 440.0 }).await;

    // The caller presses # once a second and a half is recorded.
    until("1.5 s recorded", async || {
        let call = call_info(&lab, &caller).await;
        let media = call.legs[0].media.as_ref()?;
        (media.recording_ms? >= 1500).then_some(())
    })
    .await;
    lab.control().send_digits(&caller, "#").await.unwrap();
    let action = hook(&twiml, "/vm/done").await;
    assert!(action.signature_ok);
    assert_eq!(param(&action, "Digits"), Some("#"));
    let rec = lab.control().recordings().await.unwrap().remove(0);
    assert_eq!(rec.ended_by, "finish-key");
    assert!(rec.duration_ms >= 1500, "{rec:?}");

    // Media needs Basic auth now.
    let wav = format!("{}.wav", rec.url);
    let refused = rest("GET", &wav, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(json(&refused)["code"], 20003);
    let samples = assert_twilio_wav(
        &rest(
            "GET",
            &wav,
            Some((creds.api_key_sid.as_str(), creds.api_key_secret.as_str())),
        )
        .await,
    );
    assert!(dominant_hz(&samples).is_some_and(|hz| (hz - 440.0).abs() < 5.0));

    // Twilio plays its own recordings without HTTP auth; a missing one, or a file that
    // 404s, is skipped with 11200 and the call moves on.
    let missing = format!(
        "{}/2010-04-01/Accounts/{}/Recordings/RE00000000000000000000000000000000",
        lab.control_url, creds.account_sid
    );
    let doc = format!(
        "<Response><Play>{}</Play><Play>{missing}</Play><Play>{}/nothing-here.wav</Play><Say>end</Say></Response>",
        rec.url, twiml.base
    );
    twiml.set_replies(&[&doc]);
    let listener = call(&lab, Behaviour::Silence).await;
    let ended = until("the playback call to end", async || {
        let call = call_info(&lab, &listener).await;
        (call.phase == "ended").then_some(call)
    })
    .await;
    let heard = ended.legs[0].media.as_ref().expect("the caller's media");
    assert!(
        heard
            .loudest_dominant_hz
            .is_some_and(|hz| (hz - 440.0).abs() < 5.0),
        "the caller heard the recording: {heard:?}"
    );
    let codes: Vec<u32> = ended.errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, [11200, 11200], "{:?}", ended.errors);
    assert!(ended.errors[1].message.contains("nothing-here.wav"));
}

#[tokio::test]
async fn silence_ends_a_recording_and_a_gather_collects_pressed_keys() {
    let twiml = twiml_server("").await;
    twiml.set_replies(&[
        r#"<Response><Record playBeep="false" timeout="1" action="/vm/done" recordingStatusCallback="/vm/status"/><Gather numDigits="2" action="/menu"><Say>Press a key</Say></Gather></Response>"#,
        HANGUP,
    ]);
    let lab = lab_with(|c| c.number_url = Some(twiml.url.clone())).await;
    twiml.set_auth_token(&lab.credentials.auth_token);
    let caller = call(&lab, Behaviour::Silence).await;

    // A silent caller: a second of silence ends it, empty. The callback still comes; no action.
    let status = hook(&twiml, "/vm/status").await;
    assert!(status.signature_ok);
    assert_eq!(param(&status, "RecordingDuration"), Some("0"));
    let rec = lab.control().recordings().await.unwrap().remove(0);
    assert_eq!((rec.ended_by.as_str(), rec.duration_ms), ("silence", 0));

    // The next verb gathers: keys from the virtual caller, during the prompt.
    until("the gather", async || {
        (call_info(&lab, &caller).await.phase == "gathering").then_some(())
    })
    .await;
    lab.control().send_digits(&caller, "4w2").await.unwrap();
    let menu = hook(&twiml, "/menu").await;
    assert!(menu.signature_ok);
    assert_eq!(param(&menu, "Digits"), Some("42"));
    assert!(
        !twiml.requests().iter().any(|r| r.path == "/vm/done"),
        "an empty recording requests no action"
    );
}
