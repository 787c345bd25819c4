//! Server frames through the parser and the Device/Call engine, interleaved with time, socket
//! events and API calls: nothing the server sends (or when it sends it) may panic the Device,
//! and a handled deadline never stays due (the shell would spin).
//!
//! Input: chunks separated by `\x01`. A chunk is a text frame on the open socket, unless it
//! starts with `\x02`: then each following byte is an action (see [`Rig::act`]). After each
//! chunk 250 ms pass; at the end ten virtual minutes run through the retries and backoffs.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use twilio_voice::core::{Engine, MediaEvent, Output};
use twilio_voice::model::{CallId, Codec, DeviceEvent};
use twilio_voice::options::DeviceOptions;
use twilio_voice::protocol::frame::{BrowserInfo, parse_server_frame};
use twilio_voice::quality::RawStats;
use twilio_voice::signaling::{PStream, SocketCommand, SocketId, TransportOptions};
use twilio_voice::token::{AccessToken, IncomingGrant, OutgoingGrant, VoiceGrant};

const FRAME_SEPARATOR: u8 = 0x01;
const ACTIONS: u8 = 0x02;
/// Timers fired per time advance at most (a pathological backoff must not stall the fuzzer).
const MAX_TIMERS_PER_ADVANCE: usize = 100;

/// A Voice token for `alice` with both grants, minted once.
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        AccessToken::new(
            "AC0123456789abcdef0123456789abcdef",
            "SK0123456789abcdef0123456789abcdef",
            "secret",
            "alice",
        )
        .with_ttl(3600)
        .with_voice(VoiceGrant {
            incoming: Some(IncomingGrant { allow: true }),
            outgoing: Some(OutgoingGrant {
                application_sid: "AP0123456789abcdef0123456789abcdef".into(),
                params: None,
            }),
            ..VoiceGrant::default()
        })
        .to_jwt(1_800_000_000)
        .expect("a token")
    })
}

struct Rig {
    engine: Engine,
    now: Instant,
    /// The socket last asked for, and whether it is open.
    socket: Option<SocketId>,
    open: bool,
    calls: Vec<CallId>,
}

impl Rig {
    fn new() -> Option<Rig> {
        let options = DeviceOptions {
            random_seed: Some(7),
            chunderw: Some(vec!["lab:1".into()]),
            ..DeviceOptions::default()
        };
        let mut rig = Rig {
            engine: Engine::new(token().to_string(), options).ok()?,
            now: Instant::now(),
            socket: None,
            open: false,
            calls: Vec::new(),
        };
        let _ = rig.engine.register(rig.now);
        rig.drain();
        rig.open_socket();
        Some(rig)
    }

    fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Socket(SocketCommand::Connect { socket, .. }) => {
                    self.socket = Some(socket);
                    self.open = false;
                }
                Output::Socket(SocketCommand::Close { socket }) if Some(socket) == self.socket => {
                    self.open = false;
                }
                Output::Device(DeviceEvent::Incoming(id)) => self.calls.push(id),
                Output::CallRemoved(id) => self.calls.retain(|c| *c != id),
                _ => {}
            }
        }
    }

    fn open_socket(&mut self) {
        if let (Some(socket), false) = (self.socket, self.open) {
            self.open = true;
            self.engine.on_socket_open(socket, self.now);
            self.drain();
        }
    }

    fn frame(&mut self, text: &str) {
        if let (Some(socket), true) = (self.socket, self.open) {
            self.engine
                .on_socket_message(socket, text.to_string(), self.now);
            self.drain();
        }
    }

    /// Moves time to `end`, firing every deadline on the way; with `reconnect`, a socket the
    /// engine asks for opens at once (so reconnects, re-registers and retries all run).
    fn advance_to(&mut self, end: Instant, reconnect: bool) {
        for _ in 0..MAX_TIMERS_PER_ADVANCE {
            let Some(at) = self.engine.poll_timeout().filter(|t| *t <= end) else {
                break;
            };
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.drain();
            if let Some(next) = self.engine.poll_timeout() {
                assert!(
                    next > self.now,
                    "a deadline stays due after handle_timeout: the shell would spin"
                );
            }
            if reconnect {
                self.open_socket();
            }
        }
        self.now = self.now.max(end);
    }

    fn active_or_newest(&self) -> Option<CallId> {
        self.engine
            .active_call()
            .or_else(|| self.calls.last().copied())
    }

    fn media(&mut self, event: MediaEvent) {
        if let Some(id) = self.active_or_newest() {
            self.engine.on_media_event(id, event, self.now);
            self.drain();
        }
    }

    fn act(&mut self, action: u8) {
        let now = self.now;
        match action {
            b'o' => self.open_socket(),
            b'c' => {
                if let Some(s) = self.socket {
                    self.open = false;
                    self.engine.on_socket_close(s, 1006, "", now);
                }
            }
            b'e' => {
                if let Some(s) = self.socket {
                    self.engine.on_socket_error(s, "reset", now);
                }
            }
            b'h' => self.frame("\n"),
            b't' => {
                if let Some(at) = self.engine.poll_timeout() {
                    self.advance_to(at, false);
                }
            }
            // 10^k ms pass: 1 ms up to about 11 days.
            b'0'..=b'9' => self.advance_to(
                now + Duration::from_millis(10u64.pow(u32::from(action - b'0'))),
                false,
            ),
            b'a' => {
                if let Some(id) = self.calls.last().copied() {
                    self.engine.accept(id, now);
                }
            }
            b'r' => {
                if let Some(id) = self.calls.last().copied() {
                    self.engine.reject(id, now);
                }
            }
            b'i' => {
                if let Some(id) = self.calls.last().copied() {
                    self.engine.ignore(id, now);
                }
            }
            b'd' => {
                if let Some(id) = self.engine.active_call() {
                    self.engine.disconnect(id, now);
                }
            }
            b'D' => self.engine.disconnect_all(now),
            b'k' => {
                let _ = self
                    .engine
                    .connect(vec![("To".into(), "+14155550100".into())], now);
            }
            b'm' => {
                if let Some(id) = self.engine.active_call() {
                    self.engine.mute(id, true);
                }
            }
            b'#' => {
                if let Some(id) = self.engine.active_call() {
                    let _ = self.engine.send_digits(id, "1w#", now);
                }
            }
            b'M' => {
                if let Some(id) = self.engine.active_call() {
                    let _ = self.engine.send_message(
                        id,
                        serde_json::json!({"k": 1}),
                        None,
                        "user-defined-message",
                        now,
                    );
                }
            }
            b'u' => {
                let _ = self.engine.update_token(token().to_string(), now);
            }
            b'g' => {
                let _ = self.engine.register(now);
            }
            b'n' => {
                let _ = self.engine.unregister(now);
            }
            b'X' => self.engine.destroy(now),
            b'l' => self.media(MediaEvent::LocalDescription("v=0\r\n".into())),
            b'R' => self.media(MediaEvent::RemoteApplied {
                codec: Codec::Opus,
                telephone_event: true,
            }),
            b'F' => self.media(MediaEvent::DescriptionFailed {
                remote: true,
                message: "bad".into(),
            }),
            b'C' => self.media(MediaEvent::IceConnected),
            b'x' => self.media(MediaEvent::IceDisconnected),
            b'f' => self.media(MediaEvent::IceFailed),
            b's' => {
                let stats = RawStats {
                    timestamp_ms: 1000,
                    codec_name: "opus".into(),
                    packets_received: 50,
                    packets_sent: 50,
                    ..RawStats::default()
                };
                self.media(MediaEvent::Stats(stats));
            }
            _ => {}
        }
        self.drain();
    }
}

/// The frame alone through the parser and a bare PStream.
fn through_pstream(text: &str) {
    let _ = parse_server_frame(text);
    let now = Instant::now();
    let mut s = PStream::new(
        "t".into(),
        vec!["wss://x/signal".into()],
        BrowserInfo::device(None, None),
        TransportOptions::default(),
        1,
        now,
    );
    let Some(SocketCommand::Connect { socket, .. }) = s.poll_command() else {
        return;
    };
    s.on_socket_open(socket, now);
    s.on_socket_message(socket, text.to_string(), now);
    while s.poll_event().is_some() {}
    while s.poll_command().is_some() {}
    if let Some(at) = s.poll_timeout() {
        s.handle_timeout(at);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut rig) = Rig::new() else { return };
    for chunk in data.split(|b| *b == FRAME_SEPARATOR) {
        if let Some(actions) = chunk.strip_prefix(&[ACTIONS]) {
            for action in actions {
                rig.act(*action);
            }
        } else if let Ok(text) = std::str::from_utf8(chunk) {
            through_pstream(text);
            rig.frame(text);
        }
        let step = rig.now + Duration::from_millis(250);
        rig.advance_to(step, false);
    }
    // Then ten minutes pass with the network answering: the retries and backoffs run.
    let end = rig.now + Duration::from_secs(600);
    rig.advance_to(end, true);
});
