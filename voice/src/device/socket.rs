//! One signaling WebSocket (WSS), as a task: connects, reports open/close/messages tagged
//! with its id, and sends what it is given. It knows nothing of the protocol.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream};

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

/// Opens `url` and runs until closed. Frames to send arrive on `outgoing`; dropping its
/// sender closes the socket.
pub async fn run(
    socket: SocketId,
    url: String,
    tls: Arc<rustls::ClientConfig>,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    reports: mpsc::UnboundedSender<SocketReport>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES * 4))
        .max_frame_size(Some(MAX_FRAME_BYTES * 4));
    let connected = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(config),
        true,
        Some(Connector::Rustls(tls)),
    )
    .await;
    let mut ws = match connected {
        Ok((ws, _response)) => ws,
        Err(e) => {
            let (code, reason) = close_code_for(&e);
            let _ = reports.send(SocketReport::Error {
                socket,
                message: e.to_string(),
            });
            let _ = reports.send(SocketReport::Closed {
                socket,
                code,
                reason,
            });
            return;
        }
    };
    let peer = match ws.get_ref() {
        MaybeTlsStream::Rustls(tls) => tls.get_ref().0.peer_addr().ok().map(|a| a.ip()),
        MaybeTlsStream::Plain(tcp) => tcp.peer_addr().ok().map(|a| a.ip()),
        _ => None,
    };
    if reports.send(SocketReport::Open { socket, peer }).is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if reports.send(SocketReport::Message { socket, text: text.to_string() }).is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    let _ = reports.send(SocketReport::Closed { socket, code, reason });
                    return;
                }
                Some(Ok(_)) => {} // binary, ping, pong: not part of the protocol
                Some(Err(e)) => {
                    let _ = reports.send(SocketReport::Error { socket, message: e.to_string() });
                    let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() });
                    return;
                }
                None => {
                    let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() });
                    return;
                }
            },
            out = outgoing.recv() => match out {
                Some(text) => {
                    if let Err(e) = ws.send(Message::Text(text.into())).await {
                        let _ = reports.send(SocketReport::Error { socket, message: e.to_string() });
                        let _ = reports.send(SocketReport::Closed { socket, code: 1006, reason: String::new() });
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
