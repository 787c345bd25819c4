//! One signaling WebSocket (WSS), as a task: connects, reports open/close/messages tagged
//! with its id, and sends what it is given. It knows nothing of the protocol.
//!
//! Its queues are bounded both ways: frames to send wait in a bounded channel (the Device
//! closes a socket whose server stops reading), and a server that sends faster than the
//! Device handles its reports finds the report queue full and gets its socket closed (1008),
//! after which the Device reconnects.
//!
//! Once a second it checks that its local address is still this host's: after a network
//! change the socket is closed at once (1006) instead of waiting for the heartbeat.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::USER_AGENT;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream};

use crate::media::interfaces;
use crate::media::netwatch::{POLL_INTERVAL, address_gone};
use crate::protocol::frame::MAX_FRAME_BYTES;
use crate::signaling::SocketId;

/// What a socket task reports.
#[derive(Debug)]
pub enum SocketReport {
    Open {
        socket: SocketId,
        peer: Option<IpAddr>,
    },
    Message {
        socket: SocketId,
        text: String,
    },
    Error {
        socket: SocketId,
        message: String,
    },
    /// Close code as a browser reports it: the server's code, 1006 for a dropped or refused
    /// connection, 1015 for a TLS failure.
    Closed {
        socket: SocketId,
        code: u16,
        reason: String,
    },
}

/// The upgrade request for `url`, with our `User-Agent` (a browser sends its own; tungstenite
/// sends none).
fn upgrade_request(url: &str, user_agent: &str) -> Result<Request, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    let value = HeaderValue::from_str(user_agent)
        .unwrap_or_else(|_| HeaderValue::from_static(crate::protocol::frame::CLIENT_NAME));
    request.headers_mut().insert(USER_AGENT, value);
    Ok(request)
}

/// Opens `url` and runs until closed. Frames to send arrive on `outgoing`; dropping its
/// sender closes the socket.
pub async fn run(
    socket: SocketId,
    url: String,
    user_agent: String,
    tls: Arc<rustls::ClientConfig>,
    mut outgoing: mpsc::Receiver<String>,
    reports: mpsc::Sender<SocketReport>,
) {
    // A larger message is refused by the socket itself (the server is then misbehaving: the
    // socket closes and the Device reconnects), so no report holds more than this.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connected = match upgrade_request(&url, &user_agent) {
        Ok(request) => {
            tokio_tungstenite::connect_async_tls_with_config(
                request,
                Some(config),
                true,
                Some(Connector::Rustls(tls)),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let mut ws = match connected {
        Ok((ws, _response)) => ws,
        Err(e) => {
            let (code, reason) = close_code_for(&e);
            let _ = reports
                .send(SocketReport::Error {
                    socket,
                    message: e.to_string(),
                })
                .await;
            let _ = reports
                .send(SocketReport::Closed {
                    socket,
                    code,
                    reason,
                })
                .await;
            return;
        }
    };
    let (peer, local) = match ws.get_ref() {
        MaybeTlsStream::Rustls(tls) => {
            let tcp = tls.get_ref().0;
            (tcp.peer_addr().ok(), tcp.local_addr().ok())
        }
        MaybeTlsStream::Plain(tcp) => (tcp.peer_addr().ok(), tcp.local_addr().ok()),
        _ => (None, None),
    };
    let peer = peer.map(|a| a.ip());
    // A socket whose address is gone (the network changed) is dead, though TCP would take
    // minutes to say so and the heartbeat 15 s: it is closed as soon as a look at the
    // interfaces shows it, and the Device reconnects on the new network at once.
    let mut look = tokio::time::interval(POLL_INTERVAL);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if reports
        .send(SocketReport::Open { socket, peer })
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            _ = look.tick() => {
                if let Some(local) = local
                    && interfaces::all_addresses().is_ok_and(|all| address_gone(local.ip(), &all))
                {
                    let message = format!("the network changed: this host no longer has {}", local.ip());
                    tracing::info!(socket, "{message}; the signaling socket is closed");
                    let _ = reports.send(SocketReport::Error { socket, message }).await;
                    let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() }).await;
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let report = SocketReport::Message { socket, text: text.to_string() };
                    match reports.try_send(report) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            let reason = format!(
                                "the server sent frames faster than they could be handled ({} waiting)",
                                reports.max_capacity()
                            );
                            let _ = ws.close(Some(CloseFrame { code: CloseCode::Policy, reason: reason.clone().into() })).await;
                            let _ = reports.send(SocketReport::Error { socket, message: reason.clone() }).await;
                            let _ = reports.send(SocketReport::Closed { socket, code: u16::from(CloseCode::Policy), reason }).await;
                            return;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    let _ = reports.send(SocketReport::Closed { socket, code, reason }).await;
                    return;
                }
                Some(Ok(_)) => {} // binary, ping, pong: not part of the protocol
                Some(Err(e)) => {
                    let _ = reports.send(SocketReport::Error { socket, message: e.to_string() }).await;
                    let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() }).await;
                    return;
                }
                None => {
                    let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() }).await;
                    return;
                }
            },
            out = outgoing.recv() => match out {
                Some(text) => {
                    if let Err(e) = ws.send(Message::Text(text.into())).await {
                        let _ = reports.send(SocketReport::Error { socket, message: e.to_string() }).await;
                        let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() }).await;
                        return;
                    }
                }
                None => {
                    // Closed by the engine: no report, it already forgot this socket.
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}

fn close_code_for(e: &tungstenite::Error) -> (u16, String) {
    match e {
        tungstenite::Error::Tls(t) => (1015, format!("TLS handshake failed: {t}")),
        tungstenite::Error::Io(io)
            if io.to_string().to_ascii_lowercase().contains("certificate") =>
        {
            (1015, format!("TLS handshake failed: {io}"))
        }
        _ => (1006, String::new()),
    }
}
