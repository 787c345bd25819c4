//! PStream (`lib/twilio/pstream.ts`): the JSON message layer over the transport.
//!
//! Sends `listen` on every socket open and on every token update; queues frames that could
//! not be sent (all but `listen` and `reinvite`) and flushes them right after the next
//! `listen`; turns received text into [`ServerMessage`]s; ends for good on a `close` frame.

use std::collections::VecDeque;
use std::time::Instant;

use super::transport::{SocketCommand, SocketId, Transport, TransportEvent, TransportOptions};
use crate::protocol::frame::{
    self, BrowserInfo, ClientMessage, FrameError, ServerFrame, ServerMessage,
};

/// Frames kept while the socket is down; past this the oldest go (a Device offline for hours
/// would otherwise keep every `register` it tried).
pub const MAX_OFFLINE_QUEUE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Disconnected,
    Connected,
    Ready,
    Offline,
}

/// What the stream reports to the Device.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TransportOpen,
    /// The socket closed (calls holding a reconnect token start reconnecting).
    TransportClose,
    /// The stream went offline (socket lost, `offline` frame, or `close` frame).
    Offline,
    /// A transport error (31000/31005) or a send with no transport (31009).
    TransportError {
        code: u32,
        message: String,
    },
    Message(ServerMessage),
    /// A frame that could not be used; logged, nothing else happens.
    Malformed(FrameError),
    /// The server sent `close`: the stream is finished and will not reconnect.
    Closed,
}

#[derive(Debug)]
pub struct PStream {
    transport: Transport,
    status: StreamStatus,
    token: String,
    browserinfo: BrowserInfo,
    reconnect_timeout: u64,
    queue: VecDeque<ClientMessage>,
    gateway: Option<String>,
    region: Option<String>,
    events: VecDeque<StreamEvent>,
    destroyed: bool,
}

impl PStream {
    pub fn new(
        token: String,
        uris: Vec<String>,
        browserinfo: BrowserInfo,
        transport_options: TransportOptions,
        seed: u64,
        now: Instant,
    ) -> Self {
        let reconnect_timeout = frame::reconnect_timeout_secs(
            transport_options.max_preferred_duration.as_millis() as u64,
        );
        let mut s = PStream {
            transport: Transport::new(uris, transport_options, seed),
            status: StreamStatus::Disconnected,
            token,
            browserinfo,
            reconnect_timeout,
            queue: VecDeque::new(),
            gateway: None,
            region: None,
            events: VecDeque::new(),
            destroyed: false,
        };
        s.transport.open(now);
        s
    }

    pub fn status(&self) -> StreamStatus {
        self.status
    }

    pub fn gateway(&self) -> Option<&str> {
        self.gateway.as_deref()
    }

    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub fn uri(&self) -> Option<&str> {
        self.transport.uri()
    }

    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    /// Number of frames waiting for the socket to come back.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Updates the token and sends `listen` with it (not queued if the socket is down: the
    /// next open sends `listen` with the new token anyway).
    pub fn set_token(&mut self, token: String) {
        self.token = token;
        let listen = ClientMessage::Listen {
            token: self.token.clone(),
            browserinfo: self.browserinfo.clone(),
            reconnect_timeout: self.reconnect_timeout,
        };
        self.publish(listen);
    }

    /// Sends a frame; if the socket is down, reports 31009 and queues it (unless it is
    /// `listen` or `reinvite`).
    pub fn publish(&mut self, message: ClientMessage) {
        if self.destroyed {
            return;
        }
        if self.transport.send(message.to_frame()) {
            return;
        }
        self.events.push_back(StreamEvent::TransportError {
            code: 31009,
            message: "No transport available to send or receive messages".into(),
        });
        if message.is_queued_when_offline() {
            if self.queue.len() >= MAX_OFFLINE_QUEUE {
                self.queue.pop_front();
            }
            self.queue.push_back(message);
        }
    }

    pub fn update_preferred_uri(&mut self, uri: Option<String>) {
        self.transport.update_preferred_uri(uri);
    }

    pub fn update_uris(&mut self, uris: Vec<String>) {
        self.transport.update_uris(uris);
    }

    /// Closes the socket for good (Device destroyed, stream replaced, or `close` received).
    pub fn destroy(&mut self, now: Instant) {
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        self.transport.close(now);
        // Close reports from the transport are no longer of interest.
        while self.transport.poll_event().is_some() {}
        self.status = StreamStatus::Offline;
        self.events.push_back(StreamEvent::Offline);
    }

    pub fn poll_command(&mut self) -> Option<SocketCommand> {
        self.transport.poll_command()
    }

    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.pump();
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.destroyed {
            None
        } else {
            self.transport.poll_timeout()
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.destroyed {
            self.transport.handle_timeout(now);
            self.pump_at(now);
        }
    }

    pub fn on_socket_open(&mut self, socket: SocketId, now: Instant) {
        if !self.destroyed {
            self.transport.on_socket_open(socket, now);
            self.pump_at(now);
        }
    }

    pub fn on_socket_close(&mut self, socket: SocketId, code: u16, reason: &str, now: Instant) {
        if !self.destroyed {
            self.transport.on_socket_close(socket, code, reason, now);
            self.pump_at(now);
        }
    }

    pub fn on_socket_error(&mut self, socket: SocketId, message: &str, now: Instant) {
        if !self.destroyed {
            self.transport.on_socket_error(socket, message);
            self.pump_at(now);
        }
    }

    pub fn on_socket_message(&mut self, socket: SocketId, text: String, now: Instant) {
        if !self.destroyed {
            self.transport.on_socket_message(socket, text, now);
            self.pump_at(now);
        }
    }

    fn pump(&mut self) {
        // Events that need no clock (the common case after a poll).
        while let Some(ev) = self.transport.poll_event() {
            self.on_transport_event(ev, None);
        }
    }

    fn pump_at(&mut self, now: Instant) {
        while let Some(ev) = self.transport.poll_event() {
            self.on_transport_event(ev, Some(now));
        }
    }

    fn on_transport_event(&mut self, ev: TransportEvent, now: Option<Instant>) {
        match ev {
            TransportEvent::Open => {
                self.status = StreamStatus::Connected;
                let token = self.token.clone();
                self.set_token(token);
                self.events.push_back(StreamEvent::TransportOpen);
                for message in std::mem::take(&mut self.queue) {
                    self.publish(message);
                }
            }
            TransportEvent::Close => {
                self.events.push_back(StreamEvent::TransportClose);
                if self.status != StreamStatus::Disconnected {
                    if self.status != StreamStatus::Offline {
                        self.events.push_back(StreamEvent::Offline);
                    }
                    self.status = StreamStatus::Disconnected;
                }
            }
            TransportEvent::Error { code, message } => {
                self.events
                    .push_back(StreamEvent::TransportError { code, message });
            }
            TransportEvent::Message(text) => match frame::parse_server_frame(&text) {
                Ok(ServerFrame::Heartbeat) => {}
                Ok(ServerFrame::Message {
                    message,
                    gateway,
                    region,
                }) => {
                    if gateway.is_some() {
                        self.gateway = gateway;
                    }
                    if region.is_some() {
                        self.region = region;
                    }
                    match &message {
                        ServerMessage::Connected(_) => self.transport.on_accepted(),
                        ServerMessage::Ready => self.status = StreamStatus::Ready,
                        ServerMessage::Offline => self.status = StreamStatus::Offline,
                        _ => {}
                    }
                    let is_close = matches!(message, ServerMessage::Close);
                    if matches!(message, ServerMessage::Offline) {
                        self.events.push_back(StreamEvent::Offline);
                    } else {
                        self.events.push_back(StreamEvent::Message(message));
                    }
                    if is_close {
                        if let Some(now) = now {
                            self.destroy(now);
                        } else {
                            self.destroyed = true;
                        }
                        self.events.push_back(StreamEvent::Closed);
                    }
                }
                Err(e) => self.events.push_back(StreamEvent::Malformed(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stream(t0: Instant) -> PStream {
        PStream::new(
            "tok".into(),
            vec!["wss://a/signal".into()],
            BrowserInfo::device(None, None),
            TransportOptions {
                max_preferred_duration: Duration::from_secs(20),
                ..Default::default()
            },
            1,
            t0,
        )
    }

    fn commands(s: &mut PStream) -> Vec<SocketCommand> {
        std::iter::from_fn(|| s.poll_command()).collect()
    }

    fn events(s: &mut PStream) -> Vec<StreamEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn sent_types(cmds: &[SocketCommand]) -> Vec<String> {
        cmds.iter()
            .filter_map(|c| match c {
                SocketCommand::Send { text, .. } => {
                    let v: serde_json::Value = serde_json::from_str(text).ok()?;
                    Some(v["type"].as_str()?.to_string())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn listen_on_open_then_queued_frames_in_order() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        s.publish(ClientMessage::Register { audio: true });
        s.publish(ClientMessage::Reinvite {
            callsid: "CA1".into(),
            sdp: "x".into(),
        });
        s.publish(ClientMessage::Hangup {
            callsid: "CA1".into(),
            message: None,
        });
        let ev = events(&mut s);
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, StreamEvent::TransportError { code: 31009, .. }))
                .count(),
            3
        );
        assert_eq!(s.queued(), 2);
        s.on_socket_open(socket, t0);
        assert_eq!(
            sent_types(&commands(&mut s)),
            vec!["listen", "register", "hangup"]
        );
        assert_eq!(s.queued(), 0);
        assert_eq!(s.status(), StreamStatus::Connected);
    }

    /// Issue 15: a Device offline for long queued every frame it tried; the queue keeps the
    /// newest [`MAX_OFFLINE_QUEUE`].
    #[test]
    fn the_offline_queue_is_bounded_and_keeps_the_newest() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        for i in 0..(MAX_OFFLINE_QUEUE + 100) {
            s.publish(ClientMessage::Hangup {
                callsid: format!("CA{i}"),
                message: None,
            });
            assert!(s.queued() <= MAX_OFFLINE_QUEUE);
        }
        assert_eq!(s.queued(), MAX_OFFLINE_QUEUE);
        events(&mut s);
        s.on_socket_open(socket, t0);
        let sent: Vec<String> = commands(&mut s)
            .iter()
            .filter_map(|c| match c {
                SocketCommand::Send { text, .. } => {
                    let v: serde_json::Value = serde_json::from_str(text).ok()?;
                    v["payload"]["callsid"].as_str().map(String::from)
                }
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), MAX_OFFLINE_QUEUE);
        assert_eq!(sent.first().map(String::as_str), Some("CA100"));
        assert_eq!(sent.last().map(String::as_str), Some("CA163"));
    }

    #[test]
    fn listen_carries_reconnect_timeout() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        s.on_socket_open(socket, t0);
        let SocketCommand::Send { text, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["payload"]["reconnectTimeout"], 20);
        assert_eq!(v["payload"]["token"], "tok");
        s.set_token("new".into());
        let SocketCommand::Send { text, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        assert!(text.contains("\"token\":\"new\""));
    }

    #[test]
    fn close_frame_destroys_the_stream_once() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        s.on_socket_open(socket, t0);
        events(&mut s);
        s.on_socket_message(socket, r#"{"type":"error","payload":{"error":{"code":31202,"message":"JWT signature validation failed"}}}"#.into(), t0);
        s.on_socket_message(
            socket,
            r#"{"type":"close","payload":{},"version":""}"#.into(),
            t0,
        );
        s.on_socket_message(
            socket,
            r#"{"type":"close","payload":{},"version":""}"#.into(),
            t0,
        );
        let ev = events(&mut s);
        assert!(matches!(
            ev[0],
            StreamEvent::Message(ServerMessage::Error { .. })
        ));
        assert_eq!(ev.iter().filter(|e| **e == StreamEvent::Offline).count(), 1);
        assert_eq!(ev.iter().filter(|e| **e == StreamEvent::Closed).count(), 1);
        assert!(s.is_destroyed());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn socket_loss_goes_offline_and_reconnects() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        s.on_socket_open(socket, t0);
        s.on_socket_message(
            socket,
            r#"{"type":"connected","payload":{"region":"EU_IRELAND","gateway":"gw1"}}"#.into(),
            t0,
        );
        assert_eq!(s.gateway(), Some("gw1"));
        events(&mut s);
        s.on_socket_close(socket, 1006, "", t0 + Duration::from_secs(1));
        let ev = events(&mut s);
        assert!(ev.contains(&StreamEvent::TransportClose));
        assert!(ev.contains(&StreamEvent::Offline));
        assert_eq!(s.status(), StreamStatus::Disconnected);
        let at = s.poll_timeout().unwrap();
        s.handle_timeout(at);
        assert!(
            commands(&mut s)
                .iter()
                .any(|c| matches!(c, SocketCommand::Connect { .. }))
        );
    }

    #[test]
    fn malformed_frames_are_reported_and_survived() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let SocketCommand::Connect { socket, .. } = commands(&mut s)[0].clone() else {
            panic!()
        };
        s.on_socket_open(socket, t0);
        events(&mut s);
        s.on_socket_message(socket, "{not json".into(), t0);
        s.on_socket_message(socket, r#"{"type":"ready"}"#.into(), t0);
        let ev = events(&mut s);
        assert!(matches!(ev[0], StreamEvent::Malformed(_)));
        assert_eq!(ev[1], StreamEvent::Message(ServerMessage::Ready));
        assert_eq!(s.status(), StreamStatus::Ready);
    }
}
