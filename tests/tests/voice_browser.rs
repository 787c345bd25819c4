//! The Rust Device and the official `@twilio/voice-sdk` in headless Chromium call each
//! other through offhook-lab, both directions, with audio checked at both ends.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use offhook_e2e::*;
use serde_json::{Value, json};
use twilio_voice::{CallEvent, DeviceEvent};

const T: Duration = Duration::from_secs(20);
const RUST_HZ: f64 = 700.0;
const BROWSER_HZ: f64 = 523.0;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/browser/rust-peer.mjs")
}

fn require_tools() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "these tests need `node` on PATH: {node:?}"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "these tests need Chromium at {chromium}"
    );
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("js/node_modules/@twilio/voice-sdk/dist/twilio.min.js");
    assert!(
        sdk.exists(),
        "run `npm ci` in tests/js: {} is missing",
        sdk.display()
    );
}

async fn run_browser(args: Value) -> tokio::task::JoinHandle<Value> {
    let child = tokio::process::Command::new("node")
        .arg(script())
        .arg(args.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    tokio::spawn(async move {
        let out = child.wait_with_output().await.expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "scenario printed no JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(v.get("error").is_none(), "browser scenario failed: {v:#}");
        v
    })
}

fn browser_heard(r: &Value) -> f64 {
    r["heard"]["peakHz"].as_f64().unwrap_or(0.0)
}

#[tokio::test]
async fn browser_calls_the_rust_device() {
    require_tools();
    init_logs();
    let lab = start_lab().await;
    let (device, mut events, audio) =
        device_with_audio(&lab, "rusty", lab_options(&lab), Some(RUST_HZ));
    device.register().await.unwrap();
    let browser = run_browser(json!({
        "signaling": lab.signaling_addr.to_string(),
        "control": lab.control_url,
        "token": lab.credentials.token("webby", 600),
        "mode": "call",
        "to": "client:rusty",
        "toneHz": BROWSER_HZ,
        "talkMs": 3000,
    }))
    .await;
    let DeviceEvent::Incoming(call) =
        wait_device(&mut events, T, |e| matches!(e, DeviceEvent::Incoming(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        call.parameters().get("From").map(String::as_str),
        Some("client:webby")
    );
    let mut call_events = call.events();
    call.accept();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, level) = wait_to_hear(&audio.sink(call.id()).unwrap(), BROWSER_HZ, T).await;
    assert!(
        (f - BROWSER_HZ).abs() < 15.0,
        "the Rust device hears the browser's {BROWSER_HZ} Hz, got {f} (rms {level}, codec {:?})",
        call.codec()
    );
    // The browser hangs up after listening.
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let r = browser.await.unwrap();
    let hz = browser_heard(&r);
    assert!(
        (hz - RUST_HZ).abs() < 15.0,
        "the browser hears the Rust device's {RUST_HZ} Hz, got {hz}: {r}"
    );
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn the_rust_device_calls_the_browser() {
    require_tools();
    init_logs();
    let lab = start_lab().await;
    let browser = run_browser(json!({
        "signaling": lab.signaling_addr.to_string(),
        "control": lab.control_url,
        "token": lab.credentials.token("webby", 600),
        "mode": "answer",
        "toneHz": BROWSER_HZ,
        "talkMs": 3000,
    }))
    .await;
    lab.control()
        .wait_for_connection(T, |c| {
            c.identity.as_deref() == Some("webby") && c.registered && c.closed_unix_ms.is_none()
        })
        .await
        .expect("the browser registers");
    let (device, _events, audio) =
        device_with_audio(&lab, "rusty", lab_options(&lab), Some(RUST_HZ));
    let call = device.connect(to("client:webby")).await.unwrap();
    let mut call_events = call.events();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, level) = wait_to_hear(&audio.sink(call.id()).unwrap(), BROWSER_HZ, T).await;
    assert!(
        (f - BROWSER_HZ).abs() < 15.0,
        "the Rust device hears the browser's {BROWSER_HZ} Hz, got {f} (rms {level})"
    );
    // The page listens for a while after accepting, then says so in a call message (which
    // goes to Twilio, as the SDK's messages do: the lab records it on the page's leg).
    lab.control()
        .wait_for_call(T, |c| {
            c.legs.iter().any(|l| {
                l.identity.as_deref() == Some("webby")
                    && l.messages.iter().any(|m| m.direction == "received")
            })
        })
        .await
        .expect("the page says it has listened");
    call.disconnect();
    wait_call(&mut call_events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let r = browser.await.unwrap();
    let hz = browser_heard(&r);
    assert!(
        (hz - RUST_HZ).abs() < 15.0,
        "the browser hears the Rust device's {RUST_HZ} Hz, got {hz}: {r}"
    );
    assert_eq!(r["incoming"]["parameters"]["From"], "client:rusty");
    device.force_destroy();
    lab.shutdown().await;
}
