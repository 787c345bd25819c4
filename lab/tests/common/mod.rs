//! Test helpers: a raw signaling client and a minimal str0m softphone, both independent of the
//! lab's internals except its public audio helpers.
#![allow(dead_code)]

pub mod phone;
pub mod twiml;

#[allow(unused_imports)]
pub use twiml::twiml_server;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use offhook_lab::{Credentials, Lab, LabConfig, LabHandle};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

/// A lab with generated credentials and fast heartbeats.
pub async fn lab() -> LabHandle {
    lab_with(|_| {}).await
}

pub async fn lab_with(f: impl FnOnce(&mut LabConfig)) -> LabHandle {
    let mut config = LabConfig::new(Credentials::generate());
    config.heartbeat_interval = Duration::from_millis(500);
    f(&mut config);
    Lab::start(config).await.expect("lab starts")
}

/// A WebSocket client speaking raw frames.
pub struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub heartbeats: usize,
}

impl Ws {
    pub async fn connect(lab: &LabHandle) -> Ws {
        let config = offhook_lab::tls::client_config(&lab.ca_cert_pem).expect("client config");
        let url = format!("wss://localhost:{}/signal", lab.signaling_addr.port());
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            false,
            Some(Connector::Rustls(Arc::clone(&config))),
        )
        .await
        .expect("websocket connects");
        Ws { ws, heartbeats: 0 }
    }

    pub async fn send(&mut self, kind: &str, payload: Value) {
        let frame = json!({ "type": kind, "version": "1.6", "payload": payload });
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_string()))
            .await
            .expect("send");
    }

    /// The next non-heartbeat frame (heartbeats are echoed, as the SDK does).
    pub async fn recv(&mut self) -> Value {
        self.try_recv(WAIT).await.expect("a frame within the wait")
    }

    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match msg {
                Ok(Message::Text(t)) if t.as_str() == "\n" => {
                    self.heartbeats += 1;
                    let _ = self.ws.send(Message::text("\n")).await;
                }
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server frames are JSON"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame, which must have type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["type"], kind, "expected {kind}, got {frame}");
        assert_eq!(frame["version"], "", "server frames carry an empty version");
        frame["payload"].clone()
    }

    /// True when the server closes the socket within the wait (after any frames).
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn listen(&mut self, token: &str, reconnect_timeout: u64) -> Value {
        self.send("listen", json!({ "token": token, "browserinfo": { "p": "browser" }, "reconnectTimeout": reconnect_timeout })).await;
        self.expect("connected").await
    }

    pub async fn register(&mut self) {
        self.send("register", json!({ "media": { "audio": true } }))
            .await;
        self.expect("ready").await;
    }

    /// A connected, registered client.
    pub async fn online(lab: &LabHandle, identity: &str) -> Ws {
        let mut ws = Ws::connect(lab).await;
        ws.listen(&lab.credentials.token(identity, 600), 10).await;
        ws.register().await;
        ws
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The lab's side of a leg agreed on Twilio's crypto: DTLS 1.2, ECDSA P-256 certificates both
/// sides, SRTP `AES128_CM_HMAC_SHA1_80`, whatever else the peer offered. `role` is the lab's.
pub fn assert_twilio_crypto(dtls: Option<&offhook_lab::control::types::DtlsStats>, role: &str) {
    let dtls = dtls.expect("the leg reports its DTLS");
    assert_eq!(dtls.state, "connected", "{dtls:?}");
    assert_eq!(dtls.role.as_deref(), Some(role), "{dtls:?}");
    assert_eq!(dtls.version.as_deref(), Some("DTLS 1.2"), "{dtls:?}");
    assert_eq!(
        dtls.srtp_profile.as_deref(),
        Some("SRTP_AES128_CM_SHA1_80"),
        "{dtls:?}"
    );
    assert_eq!(dtls.local_cert.as_deref(), Some("ECDSA P-256"), "{dtls:?}");
    assert_eq!(dtls.peer_cert.as_deref(), Some("ECDSA P-256"), "{dtls:?}");
    assert!(
        dtls.cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("ECDHE-ECDSA-")),
        "{dtls:?}"
    );
    assert_eq!(dtls.error, None);
}
