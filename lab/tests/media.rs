//! Media paths beyond the basic call: TwiML playback (WAV files, digits), ICE restart through
//! `reinvite`, a stopped leg, and the binary's start-up contract.

mod common;

use std::io::BufRead;
use std::time::Duration;

use common::phone::Phone;
use common::{Ws, lab_with, twiml_server};
use offhook_lab::media::audio::{Tone, encode_wav};
use serde_json::{Value, json};

/// An outgoing call from a raw client through the app URL; returns the phone and the answer.
async fn call_app(ws: &mut Ws) -> (Phone, Value) {
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJS1", "sdp": phone.sdp, "twilio": { "params": "To=%2B15550001111" } }),
    )
    .await;
    let answer = ws.expect("answer").await;
    phone
        .accept(answer["sdp"].as_str().unwrap())
        .await
        .expect("str0m accepts the answer");
    (phone, answer)
}

#[tokio::test]
async fn play_fetches_a_wav_and_digits_arrive_as_rfc4733() {
    let twiml = twiml_server("").await;
    let wav_url = format!("{}/tone.wav", twiml.base);
    let doc = format!(
        r#"<Response><Pause length="1"/><Play>{wav_url}</Play><Play digits="19"/><Pause length="1"/><Hangup/></Response>"#
    );
    let mut samples = vec![0i16; 16000];
    Tone::new(&[1234.0], 0.5).fill(&mut samples);
    let wav = encode_wav(&samples, 8000);
    twiml.set_replies(&[&doc]);
    twiml.set_file("/tone.wav", wav);
    let lab = lab_with(|c| c.app_url = Some(twiml.url.clone())).await;
    let mut ws = Ws::online(&lab, "pat").await;
    let (phone, answer) = call_app(&mut ws).await;
    phone.wait("connected", |h| h.connected).await;
    phone
        .wait("the WAV's 1234 Hz", |h| {
            h.analyzer
                .dominant_hz()
                .is_some_and(|f| (f - 1234.0).abs() < 5.0)
        })
        .await;
    phone.wait("digits 1 and 9", |h| h.dtmf == ['1', '9']).await;
    let hangup = ws.expect("hangup").await;
    assert_eq!(hangup["callsid"], answer["callsid"]);
    assert!(hangup.get("error").is_none());
}

#[tokio::test]
async fn reinvite_restarts_ice_and_media_continues() {
    let lab = lab_with(|_| {}).await;
    let mut ws = Ws::online(&lab, "quinn").await;
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJS1", "sdp": phone.sdp, "twilio": { "params": "To=%2B12025550101" } }),
    )
    .await;
    let ringing = ws.expect("ringing").await;
    let sid = ringing["callsid"].as_str().unwrap().to_string();
    ws.expect("answer").await;
    phone
        .accept(ringing["sdp"].as_str().unwrap())
        .await
        .unwrap();
    phone
        .wait("the 1 kHz tone", |h| {
            h.analyzer
                .dominant_hz()
                .is_some_and(|f| (f - 1000.0).abs() < 5.0)
        })
        .await;
    let first_ufrag = ufrag(ringing["sdp"].as_str().unwrap());
    let media = client_media(&lab, &sid).await;
    assert_eq!(media.client_ice_ufrag, Some(ufrag(&phone.sdp)));
    assert_eq!(media.ice_restarts, 0);
    let offer = phone.ice_restart().await;
    ws.send("reinvite", json!({ "callsid": sid, "sdp": offer }))
        .await;
    let answer = ws.expect("answer").await;
    assert_eq!(answer["callsid"], sid.as_str());
    let sdp = answer["sdp"].as_str().expect("the reinvite answer has SDP");
    assert!(
        sdp.contains("s=Twilio Media Gateway") && sdp.contains("a=setup:active"),
        "{sdp}"
    );
    assert_ne!(
        ufrag(sdp),
        first_ufrag,
        "ICE restarted with new credentials"
    );
    phone
        .accept(sdp)
        .await
        .expect("str0m accepts the re-answer");
    let before = phone.heard(|h| h.packets_in);
    phone
        .wait("media after the restart", |h| h.packets_in > before + 50)
        .await;
    // The control API tells the restart: the client's new credentials, counted once, also
    // when the same offer comes again (a client resends it after its socket came back).
    let media = client_media(&lab, &sid).await;
    assert_eq!(media.client_ice_ufrag, Some(ufrag(&offer)));
    assert_eq!(media.ice_restarts, 1);
    ws.send("reinvite", json!({ "callsid": sid, "sdp": offer }))
        .await;
    let again = ws.expect("answer").await;
    assert!(again["sdp"].as_str().is_some(), "{again}");
    assert_eq!(client_media(&lab, &sid).await.ice_restarts, 1);
}

/// The media of the client's leg `sid`.
async fn client_media(
    lab: &offhook_lab::LabHandle,
    sid: &str,
) -> offhook_lab::control::types::MediaStats {
    let calls = lab.control().calls().await.unwrap();
    calls
        .iter()
        .flat_map(|c| c.legs.iter())
        .find(|l| l.sid == sid)
        .and_then(|l| l.media.clone())
        .unwrap_or_else(|| panic!("no media for {sid} in {calls:#?}"))
}

fn ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test]
async fn stopped_media_goes_silent_then_resumes() {
    let lab = lab_with(|_| {}).await;
    let mut ws = Ws::online(&lab, "rae").await;
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJS1", "sdp": phone.sdp, "twilio": { "params": "To=%2B12025550101" } }),
    )
    .await;
    let ringing = ws.expect("ringing").await;
    let sid = ringing["callsid"].as_str().unwrap().to_string();
    phone
        .accept(ringing["sdp"].as_str().unwrap())
        .await
        .unwrap();
    phone.wait("media", |h| h.packets_in > 20).await;
    lab.control().fault_stop_media(&sid, 1.5).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stalled = phone.heard(|h| h.packets_in);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        phone.heard(|h| h.packets_in) <= stalled + 1,
        "no media while stopped"
    );
    let call = lab.control().get_call(&sid).await.unwrap();
    assert!(call.legs[0].media.as_ref().unwrap().media_stopped);
    phone
        .wait("media again", |h| h.packets_in > stalled + 25)
        .await;
}

#[tokio::test]
async fn the_binary_prints_one_line_and_stops_on_sigterm() {
    let creds = offhook_lab::Credentials::generate();
    let dir = std::env::temp_dir().join(format!("offhook-lab-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = dir.join(".env");
    std::fs::write(&env, creds.to_env_text()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_offhook-lab"))
        .args(["--env", env.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let line = lines.next().expect("a start-up line").unwrap();
    let v: Value = serde_json::from_str(&line).expect("the start-up line is JSON");
    assert_eq!(v.as_object().unwrap().len(), 3);
    assert!(line.starts_with(r#"{"signaling":"127.0.0.1:"#), "{line}");
    assert!(
        line.contains(r#","control":"http://127.0.0.1:"#) && line.contains(r#","ca_cert":""#),
        "{line}"
    );
    let signaling: std::net::SocketAddr = v["signaling"]
        .as_str()
        .unwrap()
        .parse()
        .expect("host:port, usable as chunderw");
    assert!(signaling.ip().is_loopback());
    let ca = std::fs::read_to_string(v["ca_cert"].as_str().unwrap()).expect("the CA file exists");
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let control = offhook_lab::control::Client::new(v["control"].as_str().unwrap());
    assert_eq!(
        control.lab().await.unwrap()["phone_number"],
        creds.phone_number.as_str()
    );
    // A token minted with the .env's credentials is accepted.
    let config = offhook_lab::tls::client_config(&ca).unwrap();
    let url = format!("wss://localhost:{}/signal", signaling.port());
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(config)),
    )
    .await
    .unwrap();
    use futures_util::{SinkExt, StreamExt};
    let listen = json!({ "type": "listen", "version": "1.6", "payload": { "token": creds.token("zed", 60) } });
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        listen.to_string(),
    ))
    .await
    .unwrap();
    let reply = loop {
        let m = ws.next().await.unwrap().unwrap();
        if m.to_text().unwrap() != "\n" {
            break m;
        }
    };
    assert!(reply.to_text().unwrap().contains("\"type\":\"connected\""));
    // SIGTERM: a clean exit, and nothing more on stdout.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(lines.next().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
