//! The Device against a signaling server that misbehaves (issue 15): an `error` frame with
//! `retryAfter: 1e20`, a flood of frames, a giant frame. Each time the Device must drop the
//! socket or ignore the value, reconnect within a bounded delay and register again.
//!
//! The server is a few lines in this file: WSS on loopback with a throw-away CA, answering
//! `listen` with `connected` and `register` with `ready`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use twilio_voice::signaling::TransportOptions;
use twilio_voice::signaling::transport::FLOOD_FRAMES;
use twilio_voice::token::{AccessToken, VoiceGrant};
use twilio_voice::{Device, DeviceEvent, DeviceOptions, DeviceState};

type Ws = WebSocketStream<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

/// A CA (trusted by the Device) and a server config with a leaf for 127.0.0.1 signed by it.
fn tls() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "hostile test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
    .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

/// What the server saw on one socket.
#[derive(Debug, Default)]
struct SocketLog {
    /// Frame types the Device sent (`listen`, `register`, …; `heartbeat` for echoes).
    received: Vec<String>,
    /// How the socket ended: the Device's close code, or `None` if it just went away.
    close_code: Option<u16>,
}

/// Serves sockets one after the other; `misbehave(n, ws)` runs on socket `n` once the
/// Device has registered on it. Each socket's log goes to the returned channel.
struct Server {
    port: u16,
    ca_pem: String,
    logs: mpsc::UnboundedReceiver<SocketLog>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<F>(misbehave: F) -> Server
where
    F: Fn(usize) -> Option<Vec<Message>> + Send + 'static,
{
    let (ca_pem, config) = tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let (tx, logs) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        for n in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let Ok(ws) = tokio_tungstenite::accept_async(tls).await else {
                continue;
            };
            let log = one_socket(ws, misbehave(n)).await;
            if tx.send(log).is_err() {
                return;
            }
        }
    });
    Server {
        port,
        ca_pem,
        logs,
        task,
    }
}

async fn one_socket(mut ws: Ws, mut misbehaviour: Option<Vec<Message>>) -> SocketLog {
    let mut log = SocketLog::default();
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Close(close)) => {
                log.close_code = close.map(|c| u16::from(c.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        };
        let kind = if text == "\n" {
            "heartbeat".to_string()
        } else {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            v["type"].as_str().unwrap_or("?").to_string()
        };
        log.received.push(kind.clone());
        let reply = match kind.as_str() {
            "listen" => Some(
                r#"{"type":"connected","payload":{"region":"US_EAST_VIRGINIA","gateway":"gw","token":{"identity":"desk","ttl":3600}}}"#,
            ),
            "register" => Some(r#"{"type":"ready","payload":{}}"#),
            _ => None,
        };
        if let Some(reply) = reply
            && ws.send(Message::Text(reply.into())).await.is_err()
        {
            break;
        }
        if kind == "register"
            && let Some(frames) = misbehaviour.take()
        {
            for frame in frames {
                if ws.feed(frame).await.is_err() {
                    break;
                }
            }
            let _ = ws.flush().await;
        }
    }
    log
}

fn token() -> String {
    AccessToken::new(
        format!("AC{}", "0".repeat(32)),
        format!("SK{}", "0".repeat(32)),
        "secret",
        "desk",
    )
    .with_voice(VoiceGrant::handset(format!("AP{}", "0".repeat(32))))
    .to_jwt(1_700_000_000)
    .unwrap()
}

/// Registers a Device with the server, lets it misbehave on the first socket, and returns the
/// first socket's log once the Device has registered again on a second one.
async fn registers_again_after(frames: Vec<Message>) -> SocketLog {
    let server = {
        let frames = std::sync::Mutex::new(Some(frames));
        serve(move |n| {
            if n == 0 {
                frames.lock().unwrap().take()
            } else {
                None
            }
        })
        .await
    };
    let mut server = server;
    let device = Device::new(
        token(),
        DeviceOptions {
            chunderw: Some(vec![format!("127.0.0.1:{}", server.port)]),
            extra_ca_pem: Some(server.ca_pem.clone().into_bytes()),
            publish_events: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = device.events();
    tokio::time::timeout(Duration::from_secs(10), device.register())
        .await
        .expect("registers in time")
        .expect("registers");
    // A bounded delay: at most the transport's longest retry-after wait (plus slack).
    let bound = TransportOptions::default().max_retry_after_delay + Duration::from_secs(5);
    let first = tokio::time::timeout(bound, server.logs.recv())
        .await
        .expect("the Device drops the first socket in time")
        .expect("a log");
    tokio::time::timeout(bound, async {
        // `registered` (the first socket), `unregistered` (it dropped), `registered` again.
        let mut dropped = false;
        loop {
            match events.recv().await {
                Some(DeviceEvent::Unregistered) => dropped = true,
                Some(DeviceEvent::Registered) if dropped => return,
                Some(_) => continue,
                None => panic!("the Device's events ended: its task died"),
            }
        }
    })
    .await
    .expect("registered again within the bound");
    assert_eq!(device.state(), DeviceState::Registered);
    assert!(device.heartbeat().age(std::time::Instant::now()).is_some());
    device.force_destroy();
    first
}

/// `retryAfter: 1e20` panicked the Device task ("cannot convert float seconds to Duration"):
/// no more `listen`, and an event stream that stayed open. Now the value is capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_retry_after_then_close_reconnects_and_registers() {
    let error =
        r#"{"type":"error","payload":{"error":{"code":31206,"message":"x","retryAfter":1e20}}}"#;
    let first =
        registers_again_after(vec![Message::Text(error.into()), Message::Close(None)]).await;
    assert_eq!(first.received[..2], ["listen", "register"]);
}

/// A flood of frames gets the socket closed by the Device, which reconnects; it handled no
/// more of the flood than the transport's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_the_socket_closed_and_the_device_reconnects() {
    let flood = (0..20 * FLOOD_FRAMES)
        .map(|_| Message::Text("\n".into()))
        .collect();
    let first = registers_again_after(flood).await;
    let echoes = first.received.iter().filter(|k| *k == "heartbeat").count();
    assert!(
        echoes <= FLOOD_FRAMES as usize,
        "{echoes} echoes: the Device handled more of the flood than its limit"
    );
    assert!(
        first.close_code.is_some(),
        "the Device closed the socket itself: {first:?}"
    );
}

/// A frame far above the size limit: the socket is dropped and the Device reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_giant_frame_gets_the_socket_closed_and_the_device_reconnects() {
    let giant = format!(
        r#"{{"type":"ready","payload":{{"x":"{}"}}}}"#,
        "a".repeat(8 * 1024 * 1024)
    );
    registers_again_after(vec![Message::Text(giant.into())]).await;
}
