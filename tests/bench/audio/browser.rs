//! The reference: the official `@twilio/voice-sdk` in headless Chromium on the same echo
//! call (`tests/js/browser/echo-latency.mjs`), with Chromium's real capture and output on the
//! bench's PulseAudio (`PULSE_SERVER`; the server's default source is `mic`'s monitor, remapped
//! because Chromium offers no monitor as a microphone, and its default sink `ear`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::guard::ChildGuard;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/browser/echo-latency.mjs")
}

/// A browser on a call; the node process (and Chromium, in its process group) end on drop.
pub struct BrowserCall {
    _node: ChildGuard,
    lines: mpsc::Receiver<Value>,
}

impl BrowserCall {
    /// Places the call (`token` for the handset identity, `signaling` the lab's address) and
    /// returns once the SDK reports it accepted. The call lasts `talk` from then.
    pub fn start(
        signaling: &str,
        token: &str,
        pulse_server: &str,
        talk: Duration,
    ) -> Result<BrowserCall, String> {
        let args = json!({
            "signaling": signaling,
            "token": token,
            "to": offhook_lab::config::ECHO_NUMBER,
            "talkMs": talk.as_millis() as u64,
        });
        let mut command = Command::new("node");
        command
            .arg(script())
            .arg(args.to_string())
            .env("PULSE_SERVER", pulse_server)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut node = ChildGuard::spawn("node (Chromium)", &mut command)
            .map_err(|e| format!("{e} (node and npm ci in tests/js)"))?;
        let stdout = node.child().stdout.take().ok_or("no stdout from node")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(json!({ "text": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let call = BrowserCall { _node: node, lines };
        let first = call.next(Duration::from_secs(40))?;
        if first["accepted"] != json!(true) {
            return Err(format!("the browser's call did not start: {first}"));
        }
        Ok(call)
    }

    fn next(&self, timeout: Duration) -> Result<Value, String> {
        let v = self
            .lines
            .recv_timeout(timeout)
            .map_err(|_| format!("the browser said nothing within {timeout:?}"))?;
        if v.get("error").is_some() {
            return Err(format!("the browser failed: {v}"));
        }
        Ok(v)
    }

    /// Waits for the end of the call; the page's findings (codec, volume peaks).
    pub fn finish(self, timeout: Duration) -> Result<Value, String> {
        self.next(timeout)
    }
}
