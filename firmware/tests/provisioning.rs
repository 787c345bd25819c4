//! The handset provisioned by offhook-server (issue 18), end to end in one process: `offhook
//! run` on the simulated board against a small stand-in server on loopback that serves `GET
//! /api/handset/config` (with its ETag), the event stream, and takes `POST
//! /api/handset/status`. No token is handed out (the stand-in answers 503), so no Twilio Device
//! runs; what is checked is what the screen shows — the Speed dials and About pages — and what
//! reaches the server and the state directory. Every wait is for a condition, bounded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use offhook::app::RunOptions;
use offhook::config::Config;
use offhook_board::sim::{SimHandle, SimOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The config offhook-server provisions first: two contacts, speed dial 2 on the first.
const CONFIG_V1: &str = r#"{"name":"Desk phone","extension":"101",
 "contacts":[{"name":"Echo test","number":"+12025550100"},{"name":"Lab caller","number":"+12025550170"}],
 "speed_dial":{"2":"+12025550100"},
 "digit_map":null, "country":"US", "ring_cadence":"us",
 "volumes":{"ring":5,"earpiece":5,"speaker":5},
 "codec_preferences":["opus","pcmu"], "edges":["roaming"],
 "dnd":false, "forwarding":{"mode":"off","to":null,"after_secs":20}}"#;

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("offhook-provisioning-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What the stand-in server serves and saw.
#[derive(Default)]
struct State {
    etag: String,
    config: String,
    /// Bodies of `POST /api/handset/status`.
    reports: Vec<serde_json::Value>,
    /// `If-None-Match` of each config request.
    config_requests: Vec<Option<String>>,
    /// The open event streams.
    streams: Vec<mpsc::UnboundedSender<Vec<u8>>>,
}

/// The stand-in offhook-server; its task is aborted on drop.
struct Stub {
    port: u16,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    async fn start(etag: &str, config: &str) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            etag: etag.into(),
            config: config.into(),
            ..State::default()
        }));
        let theirs = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.push(Abort(tokio::spawn(serve(socket, theirs.clone()))));
            }
        });
        Stub { port, state, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An admin edits the config: the new document, and a `config` event on every stream.
    fn edit(&self, etag: &str, config: &str) {
        let mut state = self.lock();
        state.etag = etag.into();
        state.config = config.into();
        let event = format!(
            "event: config\ndata: {}\n\n",
            serde_json::json!({ "etag": etag })
        );
        state
            .streams
            .retain(|s| s.send(event.clone().into_bytes()).is_ok());
    }
}

struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = &data[head_end..head_end + length];
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let answer = match (method.as_str(), path.as_str()) {
        ("GET", "/api/handset/config") => {
            let if_none_match = header("if-none-match");
            let mut state = lock();
            state.config_requests.push(if_none_match.clone());
            if if_none_match.as_deref() == Some(state.etag.as_str()) {
                format!("HTTP/1.1 304 Not Modified\r\nETag: {}\r\n\r\n", state.etag)
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: {}\r\nContent-Length: {}\r\n\r\n{}",
                    state.etag,
                    state.config.len(),
                    state.config
                )
            }
        }
        ("POST", "/api/handset/status") => {
            let report = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
            lock().reports.push(report);
            "HTTP/1.1 204 No Content\r\n\r\n".to_string()
        }
        ("GET", "/api/handset/events") => {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let etag = {
                let mut state = lock();
                state.streams.push(tx);
                state.etag.clone()
            };
            let hello = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nevent: config\ndata: {}\n\n",
                serde_json::json!({ "etag": etag })
            );
            if socket.write_all(hello.as_bytes()).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    next = rx.recv() => match next {
                        Some(bytes) => {
                            if socket.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    read = socket.read(&mut buf) => {
                        if matches!(read, Ok(0) | Err(_)) {
                            return;
                        }
                    }
                }
            }
        }
        // No tokens: the phone runs without a Twilio Device.
        _ => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_string(),
    };
    let _ = socket.write_all(answer.as_bytes()).await;
}

/// A config file for a handset on the simulated board, without sound, with `extra` keys.
fn config(dir: &Path, url: &str, extra: &str) -> Config {
    let text = format!(
        r#"{extra}
[server]
url = "{url}"
device_id = "desk-1"
device_secret = "s3cret"

[board]
profile = "simulated"

[audio]
capture = "null"
playback = "null"

[state]
dir = "{}"
"#,
        dir.display()
    );
    let path = dir.join("offhook.toml");
    std::fs::write(&path, &text).expect("config written");
    Config::load(&path).expect("config is valid")
}

/// The phone running; stopped and reaped on drop.
struct Phone {
    sim: Arc<SimHandle>,
    stop: watch::Sender<bool>,
    run: Option<JoinHandle<Result<(), offhook::app::AppError>>>,
}

impl Phone {
    async fn start(config: Config) -> Phone {
        let profile = offhook::app::board_profile(&config).expect("profile");
        let (stop, stop_rx) = watch::channel(false);
        let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
        let run = tokio::spawn(offhook::app::run(
            config,
            RunOptions {
                sim: Some(SimOptions::from_profile(&profile)),
                sim_handle: Some(handle_tx),
                stop: Some(stop_rx),
                ..Default::default()
            },
        ));
        let sim = handle_rx.await.expect("the simulator started");
        Phone {
            sim: Arc::new(sim),
            stop,
            run: Some(run),
        }
    }

    /// Runs simulator commands in order (`key menu`, `expect screen "…" within 5s`).
    async fn sim(&self, lines: &[&str]) {
        let sim = self.sim.clone();
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let result = tokio::task::spawn_blocking(move || {
            for line in &lines {
                if let Err(e) = sim.run(line) {
                    return Err(format!("{line}: {e}; screen: {}", sim.state().summary));
                }
            }
            Ok(())
        })
        .await
        .expect("the simulator thread");
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(run) = self.run.take() {
            let result = tokio::time::timeout(Duration::from_secs(20), run)
                .await
                .expect("the phone stops")
                .expect("the run task");
            assert!(result.is_ok(), "{result:?}");
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(run) = self.run.take() {
            run.abort();
        }
    }
}

/// Waits (bounded) until `check` holds, looking again every few milliseconds.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "no {what} in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_settings_reach_the_screen_and_an_edit_applies_at_once() {
    let dir = temp_dir("edit");
    let stub = Stub::start("\"v1\"", CONFIG_V1).await;
    let url = format!("http://127.0.0.1:{}", stub.port);
    let phone = Phone::start(config(&dir, &url, "")).await;
    // Menu > Speed dials: key 1 is voicemail, key 2 the server's speed dial, by name.
    phone
        .sim(&[
            "key menu",
            "key 3",
            "expect screen \"Speed dials #0: Voicemail, Echo test, (not set)\" within 10s",
        ])
        .await;
    // An admin changes speed dial 2: the open page follows within a second or so.
    wait_for("the event stream", || !stub.lock().streams.is_empty()).await;
    let v2 = CONFIG_V1.replace(
        r#""speed_dial":{"2":"+12025550100"}"#,
        r#""speed_dial":{"2":"+12025550170","3":"+12025550100"}"#,
    );
    stub.edit("\"v2\"", &v2);
    phone
        .sim(&["expect screen \"Voicemail, Lab caller, Echo test, (not set)\" within 5s"])
        .await;
    // The About page says where each setting came from.
    phone
        .sim(&[
            "key reject",
            "key 4",
            "expect screen \"Contacts: server, Speed dials: server, Digit map: default, Country: server\" within 5s",
            "expect screen \"Forwarding: server\" within 1s",
        ])
        .await;
    // Fetched at start unconditionally; on the edit, conditionally on the copy it had (the
    // stream's first event named v1, which it already had: no fetch for that).
    assert_eq!(
        stub.lock().config_requests,
        [None, Some("\"v1\"".to_string())]
    );
    // The copy in use is in the state directory (written off the loop).
    let cache = dir.join("provisioned.json");
    let cached_etag = || -> Option<String> {
        let text = std::fs::read_to_string(&cache).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["etag"].as_str().map(str::to_string)
    };
    wait_for("the cached config", || {
        cached_etag().as_deref() == Some("\"v2\"")
    })
    .await;
    // A status report went out at start, with the contract's fields.
    wait_for("a status report", || !stub.lock().reports.is_empty()).await;
    let report = stub.lock().reports[0].clone();
    let keys: Vec<&str> = report
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "address",
            "edge",
            "firmware_version",
            "last_error",
            "registration",
            "uptime_secs"
        ],
        "{report}"
    );
    assert_eq!(
        report["registration"], "unregistered",
        "no token, no Device"
    );
    assert_eq!(report["firmware_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["address"], "127.0.0.1");
    assert!(report["uptime_secs"].is_u64(), "{report}");
    assert!(report["last_error"].is_null() && report["edge"].is_null());
    phone.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_config_is_used_when_the_server_is_down() {
    let dir = temp_dir("cache");
    let document: serde_json::Value = serde_json::from_str(CONFIG_V1).expect("json");
    std::fs::write(
        dir.join("provisioned.json"),
        serde_json::json!({ "etag": "\"v1\"", "config": document }).to_string(),
    )
    .expect("cache written");
    // Nothing listens on port 1.
    let phone = Phone::start(config(&dir, "http://127.0.0.1:1", "")).await;
    phone
        .sim(&[
            "key menu",
            "key 3",
            "expect screen \"Speed dials #0: Voicemail, Echo test\" within 10s",
            "key reject",
            "key 4",
            "expect screen \"Contacts: server, Speed dials: server\" within 5s",
        ])
        .await;
    phone.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_in_the_config_file_win_over_the_servers() {
    let dir = temp_dir("local");
    let stub = Stub::start("\"v1\"", CONFIG_V1).await;
    let url = format!("http://127.0.0.1:{}", stub.port);
    let local = "[speed_dial]\n2 = \"+12025550199\"\n\n\
                 [[contacts]]\nname = \"Local pal\"\nnumber = \"+12025550199\"\n";
    let phone = Phone::start(config(&dir, &url, local)).await;
    // Wait until the server's config is in (the About page says the country is the server's),
    // then look at the speed dials: still the file's.
    phone
        .sim(&[
            "key menu",
            "key 4",
            "expect screen \"Contacts: local, Speed dials: local, Digit map: default, Country: server\" within 10s",
            "key reject",
            "key 3",
            "expect screen \"Speed dials #0: Voicemail, Local pal, (not set)\" within 5s",
        ])
        .await;
    phone.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
