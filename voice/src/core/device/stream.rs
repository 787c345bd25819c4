//! The signaling stream under the Device: its sockets' reports in, its socket commands out
//! (each socket id carrying the stream's generation), and a new stream when the token's
//! URLs change or the server closed the old one.

use std::time::Instant;

use super::super::Output;
use super::{Engine, REGISTRATION_INTERVAL, SOCKET_GEN_SHIFT};
use crate::error::TwilioError;
use crate::protocol::frame::{BrowserInfo, ClientMessage};
use crate::signaling::{PStream, SocketCommand, SocketId, StreamEvent, TransportOptions};

impl Engine {
    pub(super) fn socket_parts(&self, socket: SocketId) -> Option<SocketId> {
        (socket >> SOCKET_GEN_SHIFT == self.stream_gen)
            .then_some(socket & ((1 << SOCKET_GEN_SHIFT) - 1))
    }

    pub fn on_socket_open(&mut self, socket: SocketId, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_open(local, now);
        }
        self.pump(now);
    }

    pub fn on_socket_close(&mut self, socket: SocketId, code: u16, reason: &str, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_close(local, code, reason, now);
        }
        self.pump(now);
    }

    pub fn on_socket_error(&mut self, socket: SocketId, message: &str, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_error(local, message, now);
        }
        self.pump(now);
    }

    pub fn on_socket_message(&mut self, socket: SocketId, text: String, now: Instant) {
        if let (Some(local), Some(s)) = (self.socket_parts(socket), self.stream.as_mut()) {
            s.on_socket_message(local, text, now);
        }
        self.pump(now);
    }

    /// Moves the stream's socket commands out and handles its events until both are empty.
    pub(super) fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            if let Some(stream) = self.stream.as_mut() {
                let gen_bits = self.stream_gen << SOCKET_GEN_SHIFT;
                while let Some(cmd) = stream.poll_command() {
                    progressed = true;
                    self.outputs
                        .push_back(Output::Socket(with_generation(cmd, gen_bits)));
                }
            }
            if let Some(ev) = self.stream.as_mut().and_then(|s| s.poll_event()) {
                progressed = true;
                self.on_stream_event(ev, now);
            }
            if !progressed {
                break;
            }
        }
    }

    pub(super) fn send_presence(&mut self, presence: bool, now: Instant) {
        if self.stream.is_none() {
            return;
        }
        self.publish(ClientMessage::Register { audio: presence });
        self.register_at = presence.then(|| now + REGISTRATION_INTERVAL);
    }

    pub(super) fn publish(&mut self, message: ClientMessage) {
        if let Some(s) = self.stream.as_mut() {
            s.publish(message);
        }
    }

    pub(super) fn ensure_stream(&mut self, now: Instant) {
        if self.stream.is_none() {
            self.setup_stream(now);
        }
    }

    pub(super) fn setup_stream(&mut self, now: Instant) {
        self.token_received_at.get_or_insert(now);
        self.destroy_stream(now);
        self.stream_gen += 1;
        self.stream_connected = false;
        self.socket_dropped = false;
        let transport = TransportOptions {
            max_preferred_duration: self.options.max_preferred_duration(),
            ..Default::default()
        };
        let browserinfo = BrowserInfo::device(
            self.options.app_name.as_deref(),
            self.options.app_version.as_deref(),
        );
        let seed = self.random.stream_seed();
        self.stream = Some(PStream::new(
            self.token.clone(),
            self.options.signaling_urls(),
            browserinfo,
            transport,
            seed,
            now,
        ));
    }

    pub(super) fn destroy_stream(&mut self, now: Instant) {
        let Some(mut old) = self.stream.take() else {
            return;
        };
        old.destroy(now);
        let gen_bits = self.stream_gen << SOCKET_GEN_SHIFT;
        while let Some(cmd) = old.poll_command() {
            if let SocketCommand::Close { .. } = cmd {
                self.outputs
                    .push_back(Output::Socket(with_generation(cmd, gen_bits)));
            }
        }
        while let Some(ev) = old.poll_event() {
            if ev == StreamEvent::Offline {
                self.on_stream_event(ev, now);
            }
        }
        self.stream_connected = false;
        self.fail_deferred();
    }

    /// The stream ended before `connected`: whatever waited for it fails.
    pub(super) fn fail_deferred(&mut self) {
        self.register_deferred = false;
        let cause = self
            .last_error
            .clone()
            .unwrap_or_else(|| TwilioError::new(53001, "Signaling connection disconnected"));
        for id in self.call_ids() {
            self.route(id, |call, link| call.fail_deferred_invite(&cause, link));
        }
    }
}

/// A stream's socket command with the stream's generation in its socket id, so that the
/// reports of an old stream's sockets are told apart.
fn with_generation(cmd: SocketCommand, gen_bits: SocketId) -> SocketCommand {
    match cmd {
        SocketCommand::Connect { socket, url } => SocketCommand::Connect {
            socket: gen_bits | socket,
            url,
        },
        SocketCommand::Send { socket, text } => SocketCommand::Send {
            socket: gen_bits | socket,
            text,
        },
        SocketCommand::Close { socket } => SocketCommand::Close {
            socket: gen_bits | socket,
        },
    }
}
