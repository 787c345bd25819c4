//! The lab against the official `@twilio/voice-sdk` in headless Chromium (Playwright).
//!
//! Each test starts a lab in-process and runs one scenario script from `tests/js/browser/`
//! (`node <scenario>.mjs '<json>'`), which prints its findings as one JSON line; the test
//! asserts on them and on the lab's control API. One Chromium (started by `server.mjs`) is
//! shared by all scenarios, and scenarios run one at a time so media timing stays honest on a
//! small machine. Missing node, Chromium or the npm packages fail the tests loudly.

mod common;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use offhook_lab::config::now_unix;
use offhook_lab::control::types::CallInfo;
use offhook_lab::{LabConfig, LabHandle};
use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js/browser")
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Checks the tools up front so a missing one is a clear failure, not a skip.
fn require_tools() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "browser tests need `node` on PATH (Node 18+): {node:?}"
    );
    assert!(
        PathBuf::from(chromium()).exists(),
        "browser tests need Chromium at {} (set CHROMIUM to override)",
        chromium()
    );
    let modules = js_dir().join("../node_modules");
    for package in [
        "@twilio/voice-sdk/dist/twilio.min.js",
        "playwright-core/package.json",
    ] {
        assert!(
            modules.join(package).exists(),
            "browser tests need {package} in tests/js/node_modules (run `npm ci` in tests/js)"
        );
    }
}

struct SharedBrowser {
    endpoint: String,
    // Kept so its stdin stays open: the server exits when the test process does.
    _child: Mutex<Child>,
}

fn browser() -> &'static str {
    static BROWSER: OnceLock<SharedBrowser> = OnceLock::new();
    &BROWSER
        .get_or_init(|| {
            require_tools();
            let mut child = Command::new("node")
                .arg(js_dir().join("server.mjs"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("node starts server.mjs");
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .expect("server.mjs prints its endpoint");
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("server.mjs said {line:?}: {e}"));
            let endpoint = v["ws"].as_str().expect("ws endpoint").to_string();
            SharedBrowser {
                endpoint,
                _child: Mutex::new(child),
            }
        })
        .endpoint
}

/// One scenario at a time (media on two cores).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scenario(name: &str, lab: &LabHandle, mut args: Value) -> Value {
    args["browser"] = json!(browser());
    args["signaling"] = json!(lab.signaling_addr.to_string());
    args["control"] = json!(lab.control_url);
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(js_dir().join(format!("{name}.mjs")))
            .arg(args.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{name}.mjs did not finish in 90 s"))
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{name}.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    if let Some(error) = result.get("error") {
        panic!(
            "{name}.mjs failed: {}\nlog: {}\nstderr: {stderr}",
            error.as_str().unwrap_or_default(),
            result["log"]
        );
    }
    result
}

async fn lab() -> LabHandle {
    common::lab_with(|_| {}).await
}

fn event_names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    e.as_str()
                        .or(e["what"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_registers_and_unregisters() {
    let _serial = SERIAL.lock().await;
    let lab = lab().await;
    let r = scenario(
        "register",
        &lab,
        json!({ "token": lab.credentials.token("web-alice", 600) }),
    )
    .await;
    assert_eq!(r["registered"]["state"], "registered", "{r}");
    assert_eq!(r["registered"]["identity"], "web-alice");
    assert_eq!(r["registered"]["edge"], "ashburn");
    assert_eq!(r["registered"]["home"], "us1");
    assert_eq!(r["unregistered"]["state"], "unregistered");
    let events = event_names(&r["events"]);
    assert_eq!(
        events,
        [
            "device.registering",
            "device.registered",
            "device.unregistered",
            "device.destroyed"
        ],
        "{r}"
    );
    let conns = lab.control().connections().await.unwrap();
    let conn = conns
        .iter()
        .find(|c| c.identity.as_deref() == Some("web-alice"))
        .expect("the SDK connected");
    let listen = conn
        .frames
        .iter()
        .find(|f| f.kind == "listen")
        .expect("listen");
    let listen: Value = serde_json::from_str(&listen.text).unwrap();
    assert_eq!(listen["version"], "1.6");
    assert_eq!(listen["payload"]["browserinfo"]["p"], "browser");
    assert_eq!(listen["payload"]["reconnectTimeout"], 0);
}

async fn token_errors(precision: bool) -> (LabHandle, Value) {
    let _serial = SERIAL.lock().await;
    let lab = lab().await;
    let creds = &lab.credentials;
    let mut wrong = creds.clone();
    wrong.api_key_secret = "wrong-secret".into();
    let expired = creds.token_with(
        "web-bob",
        60,
        now_unix() - 7200,
        creds.voice_grant(true, true),
    );
    let tokens = json!({
        "badSignature": wrong.token("web-bob", 600),
        "expired": expired,
        "malformed": "this-is-not-a-jwt",
    });
    let r = scenario(
        "token-errors",
        &lab,
        json!({ "tokens": tokens, "precision": precision }),
    )
    .await;
    (lab, r)
}

/// The error codes the lab sent, in order, over all connections.
async fn sent_error_codes(lab: &LabHandle) -> Vec<u64> {
    let mut conns = lab.control().connections().await.unwrap();
    conns.sort_by_key(|c| c.opened_unix_ms);
    conns
        .iter()
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.direction == "out" && f.kind == "error")
        .filter_map(|f| serde_json::from_str::<Value>(&f.text).ok())
        .filter_map(|v| v["payload"]["error"]["code"].as_u64())
        .collect()
}

fn first_error(r: &Value, name: &str) -> (u64, String) {
    let e = &r["results"][name];
    assert!(
        e["outcome"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rejected"),
        "{name}: register must fail: {e}"
    );
    assert_eq!(e["state"], "unregistered", "{name}: {e}");
    let error = &e["errors"][0];
    (
        error["code"].as_u64().unwrap_or(0),
        error["name"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_bad_tokens_without_precision() {
    let (lab, r) = token_errors(false).await;
    // 31202 is a "precise" code: without the option the SDK shows the generic 53000.
    assert_eq!(
        first_error(&r, "badSignature"),
        (53000, "ConnectionError".into()),
        "{r}"
    );
    assert_eq!(sent_error_codes(&lab).await, [31202, 31205, 31204]);
    // 31205 and 31204 are always mapped: 20104 and 20101.
    assert_eq!(
        first_error(&r, "expired"),
        (20104, "AccessTokenExpired".into()),
        "{r}"
    );
    assert_eq!(
        first_error(&r, "malformed"),
        (20101, "AccessTokenInvalid".into()),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_bad_tokens_with_precision() {
    let (lab, r) = token_errors(true).await;
    assert_eq!(sent_error_codes(&lab).await, [31202, 31205, 31204]);
    assert_eq!(
        first_error(&r, "badSignature"),
        (31202, "AccessTokenSignatureValidationFailed".into()),
        "{r}"
    );
    assert_eq!(
        first_error(&r, "expired"),
        (20104, "AccessTokenExpired".into()),
        "{r}"
    );
    assert_eq!(
        first_error(&r, "malformed"),
        (20101, "AccessTokenInvalid".into()),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_token_will_expire_and_update_token_keeps_registration() {
    let _serial = SERIAL.lock().await;
    let lab = lab().await;
    // TTL 13 s and tokenRefreshMs 10 s: tokenWillExpire about 3 s after `connected` (less the
    // page's start-up). Hold a second past the first token's expiry to show the updated token
    // carries the registration.
    let ttl = 13;
    let expires_ms = (now_unix() + ttl) * 1000;
    let args = json!({
        "token": lab.credentials.token("web-carol", ttl),
        "freshToken": lab.credentials.token("web-carol", 600),
        "tokenRefreshMs": 10000,
        "holdUntilMs": expires_ms + 1500,
    });
    let r = scenario("token-refresh", &lab, args).await;
    // The SDK schedules it from the lab's `connected.token.ttl`: exp − tokenRefreshMs.
    let at = r["willExpireAtMs"].as_u64().unwrap() as i64;
    let expected = expires_ms as i64 - 10_000;
    assert!(
        (at - expected).abs() < 1500,
        "tokenWillExpire at {at}, expected about {expected}: {r}"
    );
    assert_eq!(r["state"], "registered", "{r}");
    let events = event_names(&r["events"]);
    assert!(
        !events
            .iter()
            .any(|e| e == "device.unregistered" || e == "device.error"),
        "{events:?}"
    );
    let conns = lab.control().connections().await.unwrap();
    let conn = conns
        .iter()
        .find(|c| c.identity.as_deref() == Some("web-carol"))
        .unwrap();
    let connected = conn.frames.iter().filter(|f| f.kind == "connected").count();
    assert_eq!(
        connected, 2,
        "a second listen on the live socket got a second connected"
    );
}

fn parent(call: &CallInfo) -> &offhook_lab::control::types::LegInfo {
    &call.legs[0]
}

async fn echo_call(hangup: &str) {
    let _serial = SERIAL.lock().await;
    let lab = lab().await;
    let args = json!({
        "token": lab.credentials.token("web-dan", 600),
        "to": "+12025550100",
        "toneHz": 523,
        "digits": "123#",
        "hangup": hangup,
    });
    let r = scenario("echo-call", &lab, args).await;
    let call = lab
        .control()
        .get_call(r["callSid"].as_str().unwrap())
        .await
        .unwrap();
    let leg = parent(&call);
    let media = leg.media.as_ref().expect("the browser's leg has media");
    // The lab heard the browser's tone…
    let heard = media.loudest_dominant_hz.expect("the lab heard audio");
    assert!(
        (heard - 523.0).abs() < 8.0,
        "lab heard {heard} Hz: {media:?}"
    );
    assert!(media.max_level_dbfs > -30.0, "{media:?}");
    assert!(
        media.packets_in > 100 && media.packets_out > 100,
        "{media:?}"
    );
    assert_eq!(
        media.codec_in.as_deref(),
        Some("PCMU"),
        "the SDK prefers PCMU"
    );
    // The lab answered the browser's offer `a=setup:active`, as Twilio does.
    common::assert_twilio_crypto(media.dtls.as_ref(), "client");
    // …and the browser heard it back from the echo.
    let browser_hz = r["heard"]["peakHz"].as_f64().unwrap_or(0.0);
    assert!(
        (browser_hz - 523.0).abs() < 12.0,
        "browser heard {browser_hz} Hz: {r}"
    );
    assert!(
        r["heard"]["volume"]["maxOut"].as_f64().unwrap_or(0.0) > 0.05,
        "SDK output volume: {r}"
    );
    // sendDigits("123#") arrived as RFC 4733 events, in order, a digit every ~230 ms.
    let digits: String = media.dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(digits, "123#", "{media:?}");
    assert!(
        media
            .dtmf
            .iter()
            .all(|d| d.source == "rfc4733" && d.duration_ms.is_some())
    );
    for pair in media.dtmf.windows(2) {
        let gap = pair[1].unix_ms - pair[0].unix_ms;
        assert!((150..600).contains(&gap), "digit spacing {gap} ms");
    }
    // The DTMF recorder role is played by the echo number's leg too: it got the digits.
    let echo_digits: String = call.legs[1]
        .media
        .as_ref()
        .unwrap()
        .dtmf
        .iter()
        .map(|d| d.digit)
        .collect();
    assert_eq!(echo_digits, "123#");
    assert_eq!(call.phase, "ended");
    let expected_reason = if hangup == "remote" {
        "control-hangup"
    } else {
        "client-hangup"
    };
    assert_eq!(leg.end_reason.as_deref(), Some(expected_reason));
    assert_eq!(r["status"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_echo_call_with_digits_hung_up_by_the_browser() {
    echo_call("local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_echo_call_hung_up_by_the_far_end() {
    echo_call("remote").await;
}

async fn incoming(mode: &str, timeout_secs: u32) -> (LabHandle, Value) {
    let lab = lab().await;
    let args = json!({
        "token": lab.credentials.token("web-eve", 600),
        "identity": "web-eve",
        "mode": mode,
        "callerHz": 660,
        "toneHz": 880,
        "timeoutSecs": timeout_secs,
    });
    let r = scenario("incoming", &lab, args).await;
    (lab, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_incoming_call_accepted_then_caller_hangs_up() {
    let _serial = SERIAL.lock().await;
    let (lab, r) = incoming("accept", 30).await;
    let p = &r["incoming"]["parameters"];
    assert_eq!(p["From"], "+15551230000");
    assert_eq!(p["To"], "client:web-eve");
    assert_eq!(r["incoming"]["customParameters"]["greeting"], "hello there");
    assert!(
        r["incomingAfterMs"].as_u64().unwrap() < 2000,
        "incoming was slow: {r}"
    );
    let heard = r["heard"]["peakHz"].as_f64().unwrap_or(0.0);
    assert!(
        (heard - 660.0).abs() < 12.0,
        "browser heard {heard} Hz: {r}"
    );
    let call = lab
        .control()
        .get_call(r["callSid"].as_str().unwrap())
        .await
        .unwrap();
    let child = &call.legs[1];
    let lab_heard = child
        .media
        .as_ref()
        .and_then(|m| m.loudest_dominant_hz)
        .unwrap_or(0.0);
    assert!(
        (lab_heard - 880.0).abs() < 8.0,
        "lab heard {lab_heard} Hz from the browser: {child:?}"
    );
    // Chrome answered the lab's `a=setup:actpass` with `active`: the lab was the DTLS server.
    common::assert_twilio_crypto(child.media.as_ref().and_then(|m| m.dtls.as_ref()), "server");
    assert_eq!(
        call.legs[0]
            .media
            .as_ref()
            .unwrap()
            .loudest_dominant_hz
            .map(|f| (f - 880.0).abs() < 8.0),
        Some(true)
    );
    let events = event_names(&r["events"]);
    assert!(
        events.contains(&"call.disconnect".to_string()),
        "{events:?}"
    );
    assert_eq!(r["status"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_incoming_call_rejected_ends_the_caller() {
    let _serial = SERIAL.lock().await;
    let (_lab, r) = incoming("reject", 30).await;
    assert_eq!(r["call"]["phase"], "ended");
    assert_eq!(r["call"]["legs"][0]["state"], "completed");
    assert_eq!(r["call"]["legs"][1]["state"], "busy");
    assert_eq!(r["call"]["legs"][1]["end_reason"], "rejected");
    let events = event_names(&r["events"]);
    assert!(
        !events.contains(&"call.disconnect".to_string()),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_incoming_call_ignored_then_cancelled() {
    let _serial = SERIAL.lock().await;
    let (lab, r) = incoming("ignore", 3).await;
    let after = r["cancelAfterMs"].as_u64().unwrap();
    assert!(
        (2500..8000).contains(&after),
        "cancel after {after} ms: {r}"
    );
    let events = event_names(&r["events"]);
    assert!(
        events.contains(&"call.cancel".to_string())
            && !events.contains(&"call.disconnect".to_string()),
        "{events:?}"
    );
    let call = lab
        .control()
        .get_call(r["callSid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(call.legs[1].state, "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_two_browsers_call_through_dial_client() {
    let _serial = SERIAL.lock().await;
    let twiml = common::twiml_server(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial answerOnBridge="true"><Client><Identity>web-bob</Identity><Parameter name="topic" value="lab test"/></Client></Dial></Response>"#,
    )
    .await;
    let lab = common::lab_with(|c: &mut LabConfig| c.app_url = Some(twiml.url.clone())).await;
    twiml.set_auth_token(&lab.credentials.auth_token);
    let args = json!({
        "alice": { "token": lab.credentials.token("web-alice", 600), "identity": "web-alice", "toneHz": 500 },
        "bob": { "token": lab.credentials.token("web-bob", 600), "identity": "web-bob", "toneHz": 800 },
    });
    let r = scenario("two-clients", &lab, args).await;
    // Bob's invite came from <Dial><Client> with its <Parameter>.
    assert_eq!(r["incoming"]["parameters"]["From"], "client:web-alice");
    assert_eq!(r["incoming"]["parameters"]["To"], "client:web-bob");
    assert_eq!(r["incoming"]["customParameters"]["topic"], "lab test");
    // Audio both ways: each hears the other's tone.
    let a = r["aliceHeard"]["peakHz"].as_f64().unwrap_or(0.0);
    let b = r["bobHeard"]["peakHz"].as_f64().unwrap_or(0.0);
    assert!((a - 800.0).abs() < 12.0, "alice heard {a} Hz: {r}");
    assert!((b - 500.0).abs() < 12.0, "bob heard {b} Hz: {r}");
    // Messages each way.
    assert_eq!(r["bobReceived"]["content"], json!({ "to": "bob" }));
    assert_eq!(r["aliceReceived"]["content"], json!({ "to": "alice" }));
    assert_eq!(r["aliceReceived"]["messageType"], "user-defined-message");
    let call = lab
        .control()
        .get_call(r["aliceSid"].as_str().unwrap())
        .await
        .unwrap();
    let got = |i: usize| {
        call.legs[i]
            .messages
            .iter()
            .find(|m| m.direction == "received")
            .map(|m| m.content.clone())
    };
    assert_eq!(got(0), Some(json!({ "from": "alice" })));
    assert_eq!(got(1), Some(json!({ "from": "bob" })));
    assert_eq!(call.legs[1].sid, r["bobSid"].as_str().unwrap());
    // The webhook carried Twilio's parameters, the custom ones and a valid signature.
    let hooks = twiml.requests();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook = &hooks[0];
    assert!(
        hook.signature_ok,
        "X-Twilio-Signature must verify: {hook:?}"
    );
    let param = |k: &str| {
        hook.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(param("From"), Some("client:web-alice"));
    assert_eq!(param("Caller"), Some("client:web-alice"));
    assert_eq!(param("To"), Some("web-bob"));
    assert_eq!(param("topic"), Some("lab test"));
    assert_eq!(param("Direction"), Some("inbound"));
    assert_eq!(param("CallStatus"), Some("ringing"));
    assert_eq!(param("ApiVersion"), Some("2010-04-01"));
    assert_eq!(
        param("AccountSid"),
        Some(lab.credentials.account_sid.as_str())
    );
    assert_eq!(
        param("ApplicationSid"),
        Some(lab.credentials.app_sid.as_str())
    );
    assert_eq!(param("CallSid"), r["aliceSid"].as_str());
    assert!(
        r["bobEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "call.disconnect")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_dropped_socket_reconnects_the_call() {
    let _serial = SERIAL.lock().await;
    let lab = lab().await;
    let args = json!({
        "token": lab.credentials.token("web-finn", 600),
        "identity": "web-finn",
        "to": "+12025550100",
        "toneHz": 440,
    });
    let r = scenario("reconnect", &lab, args).await;
    assert_eq!(r["dropped"]["affected"], 1);
    assert_eq!(r["reconnecting"]["code"], 53001, "{r}");
    assert_eq!(r["statusAfterReconnect"], "open");
    let heard = r["heardAfter"]["peakHz"].as_f64().unwrap_or(0.0);
    assert!(
        (heard - 440.0).abs() < 12.0,
        "audio after the reconnect: {r}"
    );
    let events = event_names(&r["events"]);
    let i = events
        .iter()
        .position(|e| e == "call.reconnecting")
        .unwrap();
    let j = events.iter().position(|e| e == "call.reconnected").unwrap();
    assert!(i < j, "{events:?}");
    // The lab saw the reconnect invite on a second connection.
    let conns = lab.control().connections().await.unwrap();
    let finn: Vec<_> = conns
        .iter()
        .filter(|c| c.identity.as_deref() == Some("web-finn"))
        .collect();
    assert!(finn.len() >= 2);
    let reconnect_invite = finn
        .iter()
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.kind == "invite")
        .filter_map(|f| serde_json::from_str::<Value>(&f.text).ok())
        .find(|v| v["payload"]["reconnect"].is_string())
        .expect("a reconnect invite");
    assert_eq!(reconnect_invite["payload"]["callsid"], r["callSid"]);
    assert_eq!(finn.last().unwrap().reconnect_timeout_secs, 30);
}
