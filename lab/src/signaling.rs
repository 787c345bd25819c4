//! The WSS listener: TLS, the WebSocket handshake on `/signal`, and one task per connection
//! that moves text frames between the socket and the switch.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::error::LabError;
use crate::runtime::{ActorMsg, ConnOut};
use crate::switch::Input;

/// Until when new connections are refused (a control-API fault).
pub type RefuseUntil = Arc<Mutex<Option<Instant>>>;

/// WebSocket messages above this size close the connection (frames themselves are checked
/// against a smaller limit by the switch, which answers with an error frame).
const MAX_WS_MESSAGE: usize = 1024 * 1024;

pub struct Listener {
    pub listener: TcpListener,
    pub tls: TlsAcceptor,
    pub refuse_until: RefuseUntil,
    pub actor: mpsc::UnboundedSender<ActorMsg>,
}

impl Listener {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let next_id = Arc::new(AtomicU64::new(1));
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.changed() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let refusing = self
                .refuse_until
                .lock()
                .ok()
                .and_then(|g| *g)
                .is_some_and(|t| Instant::now() < t);
            if refusing {
                tracing::info!(%peer, "refusing connection (fault)");
                drop(tcp);
                continue;
            }
            let conn = next_id.fetch_add(1, Ordering::Relaxed);
            let tls = self.tls.clone();
            let actor = self.actor.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(conn, tcp, peer, tls, actor, shutdown).await {
                    tracing::debug!(conn, %peer, "connection ended: {e}");
                }
            });
        }
    }
}

async fn serve(
    conn: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    tls: TlsAcceptor,
    actor: mpsc::UnboundedSender<ActorMsg>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), LabError> {
    let _ = tcp.set_nodelay(true);
    let stream = tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp))
        .await
        .map_err(|_| LabError::Timeout("the TLS handshake"))?
        .map_err(LabError::TlsHandshake)?;
    let user_agent: Arc<Mutex<Option<String>>> = Arc::default();
    let seen_agent = user_agent.clone();
    // The callback's signature is tungstenite's (its error response is large).
    #[allow(clippy::result_large_err)]
    let check_path =
        move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
            if let Ok(mut ua) = seen_agent.lock() {
                *ua = request
                    .headers()
                    .get(http::header::USER_AGENT)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            }
            if request.uri().path() == "/signal" {
                Ok(response)
            } else {
                let mut refusal = ErrorResponse::new(Some("not found".into()));
                *refusal.status_mut() = http::StatusCode::NOT_FOUND;
                Err(refusal)
            }
        };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE));
    let ws = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::accept_hdr_async_with_config(stream, check_path, Some(config)),
    )
    .await
    .map_err(|_| LabError::Timeout("the WebSocket handshake"))?
    .map_err(|source| LabError::WebSocket {
        what: "WebSocket handshake",
        source,
    })?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let user_agent = user_agent.lock().ok().and_then(|mut ua| ua.take());
    actor
        .send(ActorMsg::ConnOpened {
            conn,
            peer,
            user_agent,
            tx,
        })
        .map_err(|_| LabError::Stopped)?;
    let (mut sink, mut source) = ws.split();
    let result = loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let _ = actor.send(ActorMsg::Input(Input::Frame { conn, text: text.as_str().to_string() }));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let _ = actor.send(ActorMsg::Input(Input::Frame { conn, text }));
                }
                Some(Ok(Message::Close(_))) | None => break Ok(()),
                Some(Ok(_)) => {}
                Some(Err(source)) => break Err(LabError::WebSocket { what: "read", source }),
            },
            out = rx.recv() => match out {
                Some(ConnOut::Text(text)) => {
                    if let Err(source) = sink.send(Message::text(text)).await {
                        break Err(LabError::WebSocket { what: "write", source });
                    }
                }
                Some(ConnOut::Close { frame: true }) => {
                    let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    // Give the client a moment to answer the close handshake.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(m)) = source.next().await {
                            if matches!(m, Message::Close(_)) {
                                break;
                            }
                        }
                    })
                    .await;
                    break Ok(());
                }
                // Drop the TCP connection without a WebSocket close: the client sees 1006.
                Some(ConnOut::Close { frame: false }) | None => break Ok(()),
            },
            _ = shutdown.changed() => break Ok(()),
        }
    };
    let _ = actor.send(ActorMsg::Input(Input::ConnClosed { conn }));
    result
}
