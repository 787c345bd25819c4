//! The push client against a small HTTP server on loopback: it streams events (cut into odd
//! chunks), drops the connection, refuses for a while, and serves the polls. Every wait is for
//! a condition (an event from the client), bounded by a deadline; nothing sleeps.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::config::ServerConfig;
use crate::phone::{ForwardMode, MessageState, VoicemailCount};

const MAILBOX: &str = r#"{"new":1,"saved":0,"messages":[{"id":4,"caller":"+14155550100","received_at":1795269900,"duration_secs":3,"state":"new"}]}"#;
const SETTINGS: &str = r#"{"dnd":true,"forwarding":{"mode":"busy","to":"201","after_secs":20}}"#;

/// What the events connection does next.
enum Script {
    Send(Vec<u8>),
    Close,
}

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    if_none_match: Option<String>,
}

/// What `GET /api/handset/config` answers: this body with this ETag (`304` to a request that
/// names it).
#[derive(Debug, Clone)]
struct ConfigDoc {
    etag: String,
    body: String,
}

/// The stand-in offhook-server; its task is aborted on drop.
struct TestServer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: mpsc::UnboundedSender<Script>,
    /// What `GET /api/handset/events` answers (200 streams).
    events_status: Arc<AtomicU16>,
    config: Arc<Mutex<ConfigDoc>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script, script_rx) = mpsc::unbounded_channel();
        let script_rx = Arc::new(tokio::sync::Mutex::new(script_rx));
        let events_status = Arc::new(AtomicU16::new(200));
        let config = Arc::new(Mutex::new(ConfigDoc {
            etag: "\"v1\"".into(),
            body: crate::api::provisioning::EXAMPLE.into(),
        }));
        let task = {
            let seen = seen.clone();
            let events_status = events_status.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let mut connections = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    connections.push(AbortOnDrop(tokio::spawn(serve(
                        socket,
                        seen.clone(),
                        script_rx.clone(),
                        events_status.clone(),
                        config.clone(),
                    ))));
                }
            })
        };
        TestServer {
            port,
            seen,
            script,
            events_status,
            config,
            task,
        }
    }

    /// The server's config changes.
    fn set_config(&self, etag: &str, body: &str) {
        *self.config.lock().expect("lock") = ConfigDoc {
            etag: etag.into(),
            body: body.into(),
        };
    }

    /// The config requests seen so far, each with its `If-None-Match`.
    fn config_requests(&self) -> Vec<Option<String>> {
        self.seen()
            .into_iter()
            .filter(|s| s.path == "/api/handset/config")
            .map(|s| s.if_none_match)
            .collect()
    }

    fn endpoint(&self) -> Arc<ServerEndpoint> {
        let server = ServerConfig {
            url: url::Url::parse(&format!("http://127.0.0.1:{}", self.port)).expect("url"),
            device_id: "desk-1".into(),
            device_secret: "s3cret".into(),
            ca_pem: None,
        };
        Arc::new(ServerEndpoint::new(&server, Duration::from_secs(5)).expect("endpoint"))
    }

    fn send(&self, bytes: impl Into<Vec<u8>>) {
        self.script
            .send(Script::Send(bytes.into()))
            .expect("script");
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(
    mut socket: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Script>>>,
    events_status: Arc<AtomicU16>,
    config: Arc<Mutex<ConfigDoc>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v.trim().to_string())
    };
    let authorization = header("authorization");
    let if_none_match = header("if-none-match");
    seen.lock().expect("lock").push(Seen {
        method,
        path: path.clone(),
        authorization,
        if_none_match: if_none_match.clone(),
    });
    let json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match path.as_str() {
        "/api/handset/voicemail" => {
            let _ = socket.write_all(json(MAILBOX).as_bytes()).await;
        }
        "/api/handset/settings" => {
            let _ = socket.write_all(json(SETTINGS).as_bytes()).await;
        }
        "/api/handset/config" => {
            let doc = config.lock().expect("lock").clone();
            let answer = if if_none_match.as_deref() == Some(doc.etag.as_str()) {
                format!(
                    "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
                    doc.etag
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    doc.etag,
                    doc.body.len(),
                    doc.body
                )
            };
            let _ = socket.write_all(answer.as_bytes()).await;
        }
        "/api/handset/events" => {
            let status = events_status.load(Ordering::SeqCst);
            if status != 200 {
                let answer = format!(
                    "HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                return;
            }
            let _ = socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                )
                .await;
            // One streaming connection at a time takes the script; it lets go when the
            // client hangs up.
            let mut script = script.lock().await;
            loop {
                tokio::select! {
                    next = script.recv() => match next {
                        Some(Script::Send(bytes)) => {
                            if socket.write_all(&bytes).await.is_err() {
                                return;
                            }
                            let _ = socket.flush().await;
                        }
                        Some(Script::Close) | None => return,
                    },
                    read = socket.read(&mut buf) => {
                        if matches!(read, Ok(0) | Err(_)) {
                            return;
                        }
                    }
                }
            }
        }
        _ => {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    }
}

fn config(idle: Duration) -> PushConfig {
    PushConfig {
        enabled: true,
        backoff: Backoff {
            min: Duration::from_millis(50),
            max: Duration::from_millis(400),
            jitter: 0.4,
        },
        idle_timeout: idle,
        limits: SseLimits {
            max_line: 256,
            max_event: 1024,
        },
    }
}

/// The next event the client reports that `wanted` accepts (others are passed over), within
/// a generous deadline.
async fn until<T>(
    rx: &mut mpsc::UnboundedReceiver<PushEvent>,
    what: &str,
    mut wanted: impl FnMut(&PushEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = wanted(&event) {
                    return found;
                }
            }
            Ok(None) => panic!("the client stopped while waiting for {what}"),
            Err(_) => panic!("no {what} in time"),
        }
    }
}

#[tokio::test]
async fn streams_events_reconnects_and_polls_while_down() {
    let server = TestServer::start().await;
    let (client, mut rx) =
        PushClient::spawn(server.endpoint(), config(Duration::from_secs(30)), 7, None);
    until(&mut rx, "a connection", |e| {
        (*e == PushEvent::Connected).then_some(())
    })
    .await;

    // A keep-alive, then a voicemail event cut mid-line and mid-CRLF.
    server.send(b": keep-alive\r\n\r\nevent: voice");
    server.send(b"mail\r\ndata: {\"new\":1,");
    server.send(b"\"saved\":2}\r");
    server.send(b"\n\r\n");
    let count = until(&mut rx, "the voicemail count", |e| match e {
        PushEvent::Voicemail(c) => Some(*c),
        _ => None,
    })
    .await;
    assert_eq!(count, VoicemailCount { new: 1, saved: 2 });
    // It fetched the messages for the history.
    let list = until(&mut rx, "the mailbox", |e| match e {
        PushEvent::VoicemailList(l) => Some(l.clone()),
        _ => None,
    })
    .await;
    assert_eq!(list.messages[0].state, MessageState::New);
    assert_eq!(list.messages[0].caller, "+14155550100");

    // Malformed and oversize events are skipped; the stream goes on.
    server.send(b"event: voicemail\ndata: {\"new\":\"lots\"}\n\n");
    let mut oversize = b"event: settings\ndata: ".to_vec();
    oversize.extend(std::iter::repeat_n(b'x', 300));
    oversize.extend_from_slice(b"\n\n");
    server.send(oversize);
    server.send(b"event: surprise\ndata: {}\n\nretry: 100\n\n");
    server.send(b"event: settings\ndata: {\"dnd\":false,\"forwarding\":{\"mode\":\"always\",\"to\":\"+14155550100\",\"after_secs\":20}}\n\n");
    let first_after = until(&mut rx, "the next event", |e| match e {
        PushEvent::VoicemailList(_) => None,
        other => Some(other.clone()),
    })
    .await;
    let PushEvent::Settings(settings) = first_after else {
        panic!("a bad event got through: {first_after:?}");
    };
    assert_eq!(settings.forwarding.mode, ForwardMode::Always);

    // The server drops the stream, and refuses for a while (restarting, say).
    server.events_status.store(503, Ordering::SeqCst);
    server.script.send(Script::Close).expect("script");
    let (reason, _) = until(&mut rx, "the disconnection", |e| match e {
        PushEvent::Disconnected { reason, retry_in } => Some((reason.clone(), *retry_in)),
        _ => None,
    })
    .await;
    assert!(reason.contains("ended"), "{reason}");
    // It keeps trying (each try a 503), backing off within the configured bounds.
    for _ in 0..3 {
        let (reason, retry_in) = until(&mut rx, "a failed retry", |e| match e {
            PushEvent::Disconnected { reason, retry_in } => Some((reason.clone(), *retry_in)),
            _ => None,
        })
        .await;
        assert!(reason.contains("503"), "{reason}");
        assert!(
            retry_in >= Duration::from_millis(25) && retry_in <= Duration::from_millis(400),
            "{retry_in:?}"
        );
    }

    // Down: a token refresh polls the mailbox and the settings.
    let polls_before = server
        .seen()
        .iter()
        .filter(|s| s.path == "/api/handset/settings")
        .count();
    client.token_refreshed();
    until(&mut rx, "the polled mailbox", |e| {
        matches!(e, PushEvent::VoicemailList(_)).then_some(())
    })
    .await;
    let polled = until(&mut rx, "the polled settings", |e| match e {
        PushEvent::Settings(s) => Some(s.clone()),
        _ => None,
    })
    .await;
    assert!(polled.dnd);
    assert_eq!(polled.forwarding.to.as_deref(), Some("201"));
    let seen = server.seen();
    assert_eq!(
        seen.iter()
            .filter(|s| s.path == "/api/handset/settings")
            .count(),
        polls_before + 1
    );

    // The server is back: the client reconnects by itself.
    server.events_status.store(200, Ordering::SeqCst);
    until(&mut rx, "the reconnection", |e| {
        (*e == PushEvent::Connected).then_some(())
    })
    .await;

    // Every request carried the device's credentials, and the stream asked for events.
    let seen = server.seen();
    let basic = "Basic ZGVzay0xOnMzY3JldA==";
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(basic)),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.method == "GET" && s.path == "/api/handset/events")
    );
    drop(client);
}

#[tokio::test]
async fn a_silent_stream_is_dropped_after_the_idle_timeout() {
    let server = TestServer::start().await;
    let (_client, mut rx) = PushClient::spawn(
        server.endpoint(),
        config(Duration::from_millis(300)),
        3,
        None,
    );
    until(&mut rx, "a connection", |e| {
        (*e == PushEvent::Connected).then_some(())
    })
    .await;
    let reason = until(&mut rx, "the disconnection", |e| match e {
        PushEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("nothing for"), "{reason}");
    until(&mut rx, "the reconnection", |e| {
        (*e == PushEvent::Connected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn unknown_route_is_a_refusal_and_disabled_only_polls() {
    let server = TestServer::start().await;
    server.events_status.store(404, Ordering::SeqCst);
    let (client, mut rx) =
        PushClient::spawn(server.endpoint(), config(Duration::from_secs(30)), 3, None);
    let retry_in = until(&mut rx, "the refusal", |e| match e {
        PushEvent::Disconnected { retry_in, .. } => Some(*retry_in),
        _ => None,
    })
    .await;
    assert_eq!(
        retry_in,
        Duration::from_millis(400),
        "refusals wait the longest"
    );
    drop(client);

    let server = TestServer::start().await;
    let disabled = PushConfig {
        enabled: false,
        ..config(Duration::from_secs(30))
    };
    let (client, mut rx) = PushClient::spawn(server.endpoint(), disabled, 3, None);
    client.token_refreshed();
    until(&mut rx, "the polled mailbox", |e| {
        matches!(e, PushEvent::VoicemailList(_)).then_some(())
    })
    .await;
    until(&mut rx, "the polled settings", |e| {
        matches!(e, PushEvent::Settings(_)).then_some(())
    })
    .await;
    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    let count = |p: &str| paths.iter().filter(|s| *s == p).count();
    assert_eq!(
        (
            count("/api/handset/voicemail"),
            count("/api/handset/settings"),
            count("/api/handset/events")
        ),
        (1, 1, 0),
        "disabled: no stream, only the polls: {paths:?}"
    );
}

/// Waits (bounded) until `check` holds, looking again every few milliseconds.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "no {what} in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn config_event(etag: &str) -> Vec<u8> {
    format!(
        "event: config\ndata: {}\n\n",
        serde_json::json!({ "etag": etag })
    )
    .into_bytes()
}

#[tokio::test]
async fn the_config_is_fetched_at_start_and_when_its_etag_changes() {
    let server = TestServer::start().await;
    let (_client, mut rx) =
        PushClient::spawn(server.endpoint(), config(Duration::from_secs(30)), 5, None);
    // At start, unconditionally (nothing cached); the stream connects meanwhile.
    let mut connected = false;
    let (etag, doc) = until(&mut rx, "the config", |e| match e {
        PushEvent::Config { etag, config } => Some((etag.clone(), config.clone())),
        PushEvent::Connected => {
            connected = true;
            None
        }
        _ => None,
    })
    .await;
    assert_eq!(etag.as_deref(), Some("\"v1\""));
    assert_eq!(doc.name.as_deref(), Some("Desk phone"));
    assert_eq!(server.config_requests(), [None]);
    if !connected {
        until(&mut rx, "a connection", |e| {
            (*e == PushEvent::Connected).then_some(())
        })
        .await;
    }
    // The event names the ETag the handset has: nothing to fetch. Then an admin edits it.
    server.send(config_event("\"v1\""));
    server.set_config(
        "\"v2\"",
        r#"{"speed_dial":{"2":"+12025550170"},"contacts":null}"#,
    );
    server.send(config_event("\"v2\""));
    let (etag, doc) = until(&mut rx, "the edited config", |e| match e {
        PushEvent::Config { etag, config } => Some((etag.clone(), config.clone())),
        _ => None,
    })
    .await;
    assert_eq!(etag.as_deref(), Some("\"v2\""));
    assert_eq!(
        doc.speed_dial.and_then(|s| s.get("2").cloned()).as_deref(),
        Some("+12025550170")
    );
    assert_eq!(
        server.config_requests(),
        [None, Some("\"v1\"".to_string())],
        "one conditional fetch, for v2 only"
    );
}

#[tokio::test]
async fn a_cached_config_costs_a_304_and_a_bad_one_is_refused() {
    let server = TestServer::start().await;
    let (_client, mut rx) = PushClient::spawn(
        server.endpoint(),
        config(Duration::from_secs(30)),
        9,
        Some("\"v1\"".into()),
    );
    // The cached copy is current: the start fetch is answered 304, and nothing is reported.
    wait_for("the conditional fetch", || {
        server.config_requests() == [Some("\"v1\"".to_string())]
    })
    .await;
    until(&mut rx, "a connection", |e| {
        (*e == PushEvent::Connected).then_some(())
    })
    .await;
    // An absurd document is refused (logged); the handset keeps what it has.
    server.set_config(
        "\"v2\"",
        r#"{"volumes":{"ring":999,"earpiece":5,"speaker":5}}"#,
    );
    server.send(config_event("\"v2\""));
    wait_for("the fetch of v2", || server.config_requests().len() == 2).await;
    // A good one after it is taken; no Config event came for v1 or v2.
    server.set_config("\"v3\"", r#"{"country":"GB"}"#);
    server.send(config_event("\"v3\""));
    let (etag, doc) = until(&mut rx, "a config", |e| match e {
        PushEvent::Config { etag, config } => Some((etag.clone(), config.clone())),
        _ => None,
    })
    .await;
    assert_eq!(etag.as_deref(), Some("\"v3\""));
    assert_eq!(doc.country.as_deref(), Some("GB"));
    // Every fetch was conditional on the copy the handset has (still v1 after the refusal).
    assert_eq!(
        server.config_requests().last(),
        Some(&Some("\"v1\"".to_string()))
    );
    // A malformed config event is skipped; the stream goes on.
    server.send(b"event: config\ndata: {\"etag\":42}\n\nevent: voicemail\ndata: {\"new\":1,\"saved\":0}\n\n".to_vec());
    until(&mut rx, "the event after it", |e| {
        matches!(e, PushEvent::Voicemail(_)).then_some(())
    })
    .await;
}
