//! The WebSocket transport's state machine (`lib/twilio/wstransport.ts`), without the socket.
//!
//! The shell opens and closes sockets when told to ([`SocketCommand`]) and reports what
//! happens to them, tagged with the socket's id so that late reports from a socket that has
//! been replaced are ignored. Timers: a 5 s connect timeout, a 15 s silence (heartbeat)
//! timeout, and reconnect backoff in two tiers (preferred URI during a call, then the
//! primary list with edge fallback), honouring `retryAfter` from `error` frames.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::backoff::{Backoff, BackoffConfig};
use crate::protocol::duration;
use crate::protocol::frame::HEARTBEAT;

/// A connection that stayed open this long counts as successful: backoff starts afresh.
pub const CONNECT_SUCCESS_TIMEOUT: Duration = Duration::from_millis(10_000);

/// More frames than this within [`FLOOD_WINDOW`] is a flood (Twilio sends a few a second at
/// most): the socket is closed and the transport reconnects with backoff.
pub const FLOOD_FRAMES: u32 = 500;
pub const FLOOD_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
pub struct TransportOptions {
    pub connect_timeout: Duration,
    pub heartbeat_timeout: Duration,
    pub max_preferred_delay: Duration,
    /// The Device passes `maxCallSignalingTimeoutMs` here (default 0).
    pub max_preferred_duration: Duration,
    pub max_primary_delay: Duration,
    /// `None` = retry forever.
    pub max_primary_duration: Option<Duration>,
    pub max_retry_after_delay: Duration,
    pub max_retry_after_duration: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            connect_timeout: Duration::from_millis(5000),
            heartbeat_timeout: Duration::from_millis(15_000),
            max_preferred_delay: Duration::from_millis(1000),
            max_preferred_duration: Duration::from_millis(15_000),
            max_primary_delay: Duration::from_millis(20_000),
            max_primary_duration: None,
            max_retry_after_delay: Duration::from_millis(60_000),
            max_retry_after_duration: Duration::from_millis(75_000),
        }
    }
}

/// Identifies one socket the shell opened.
pub type SocketId = u64;

/// What the shell must do with sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketCommand {
    Connect { socket: SocketId, url: String },
    Send { socket: SocketId, text: String },
    Close { socket: SocketId },
}

/// What the transport reports upward (to PStream).
#[derive(Debug, Clone, PartialEq)]
pub enum TransportEvent {
    Open,
    Close,
    /// A transport-level error: 31000 (socket error) or 31005 (abnormal close).
    Error {
        code: u32,
        message: String,
    },
    Message(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsState {
    Connecting,
    Closed,
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Preferred,
    Primary,
}

#[derive(Debug)]
struct Backoffs {
    preferred: Backoff,
    primary: Backoff,
    preferred_max_duration: Duration,
    preferred_started: Option<Instant>,
    primary_started: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct ScheduledRetry {
    at: Instant,
    tier: Tier,
    attempt: u32,
}

#[derive(Debug)]
struct Socket {
    id: SocketId,
    open: bool,
    opened_at: Option<Instant>,
    /// Frames received since `window_start` (the flood check).
    window_start: Option<Instant>,
    window_frames: u32,
}

const ABNORMAL_CLOSE_MESSAGE: &str = "Websocket connection to Twilio's signaling servers were unexpectedly ended. \
If this is happening consistently, there may be an issue resolving the hostname provided. \
If a region or an edge is being specified in Device setup, ensure it is valid.";

#[derive(Debug)]
pub struct Transport {
    options: TransportOptions,
    state: WsState,
    previous_state: WsState,
    uris: Vec<String>,
    uri_index: usize,
    preferred_uri: Option<String>,
    connected_uri: Option<String>,
    socket: Option<Socket>,
    next_socket: SocketId,
    connect_deadline: Option<Instant>,
    heartbeat_deadline: Option<Instant>,
    should_fallback: bool,
    retry_after: Option<Duration>,
    backoffs: Option<Backoffs>,
    retry: Option<ScheduledRetry>,
    commands: VecDeque<SocketCommand>,
    events: VecDeque<TransportEvent>,
    rng: StdRng,
}

impl Transport {
    pub fn new(uris: Vec<String>, options: TransportOptions, seed: u64) -> Self {
        Transport {
            options,
            state: WsState::Closed,
            previous_state: WsState::Closed,
            uris,
            uri_index: 0,
            preferred_uri: None,
            connected_uri: None,
            socket: None,
            next_socket: 1,
            connect_deadline: None,
            heartbeat_deadline: None,
            should_fallback: false,
            retry_after: None,
            backoffs: None,
            retry: None,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn state(&self) -> WsState {
        self.state
    }

    /// The URL of the socket opened last.
    pub fn uri(&self) -> Option<&str> {
        self.connected_uri.as_deref()
    }

    pub fn uris(&self) -> &[String] {
        &self.uris
    }

    /// Opens a socket unless one is already connecting or open.
    pub fn open(&mut self, now: Instant) {
        if self.socket.is_some() && self.state != WsState::Closed {
            return;
        }
        let uri = self.preferred_uri.clone().or_else(|| self.current_uri());
        if let Some(uri) = uri {
            self.connect(uri, now);
        }
    }

    /// Closes for good: no reconnection until the next `open`.
    pub fn close(&mut self, now: Instant) {
        self.set_state(WsState::Closed);
        self.retry = None;
        self.close_socket(now);
    }

    /// Sends a text frame if the socket is open; `false` otherwise.
    pub fn send(&mut self, text: String) -> bool {
        match &self.socket {
            Some(s) if s.open && self.state == WsState::Open => {
                self.commands
                    .push_back(SocketCommand::Send { socket: s.id, text });
                true
            }
            _ => false,
        }
    }

    pub fn update_preferred_uri(&mut self, uri: Option<String>) {
        self.preferred_uri = uri;
    }

    pub fn update_uris(&mut self, uris: Vec<String>) {
        self.uris = uris;
        self.uri_index = 0;
    }

    pub fn poll_command(&mut self) -> Option<SocketCommand> {
        self.commands.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TransportEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_deadline,
            self.heartbeat_deadline,
            self.retry.map(|r| r.at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn is_current(&self, socket: SocketId) -> bool {
        self.socket.as_ref().is_some_and(|s| s.id == socket)
    }

    /// The shell's socket finished its handshake.
    pub fn on_socket_open(&mut self, socket: SocketId, now: Instant) {
        if !self.is_current(socket) {
            return;
        }
        if let Some(s) = self.socket.as_mut() {
            s.open = true;
            s.opened_at = Some(now);
        }
        self.should_fallback = false;
        self.set_state(WsState::Open);
        self.connect_deadline = None;
        // The SDK resets its backoff here. A server that accepts the socket and then drops
        // it (the seed's invalid account: `listen`, then nothing) would make that a reconnect
        // every 100 ms, forever. The backoff starts afresh only once the server has accepted
        // us ([`Transport::on_accepted`]) or the socket stayed up for
        // [`CONNECT_SUCCESS_TIMEOUT`].
        self.set_heartbeat(now);
        self.events.push_back(TransportEvent::Open);
    }

    /// The server accepted the stream (`connected` arrived): reconnects after this start
    /// again from the shortest delay.
    pub fn on_accepted(&mut self) {
        if self.backoffs.is_some() {
            self.reset_backoffs();
        }
    }

    /// The shell's socket closed: `code` is the WebSocket close code (1006 when the
    /// connection dropped or could not be made, 1015 for a TLS failure).
    pub fn on_socket_close(&mut self, socket: SocketId, code: u16, reason: &str, now: Instant) {
        if !self.is_current(socket) {
            return;
        }
        if let Some(s) = self.socket.as_mut() {
            s.open = false;
        }
        if code == 1006 || code == 1015 {
            let message = if reason.is_empty() {
                ABNORMAL_CLOSE_MESSAGE.to_string()
            } else {
                reason.to_string()
            };
            self.events.push_back(TransportEvent::Error {
                code: 31005,
                message,
            });
            let was_connected = self.state == WsState::Open || self.previous_state == WsState::Open;
            if self.should_fallback || !was_connected {
                self.move_uri_index();
            }
            self.should_fallback = true;
        }
        self.close_socket(now);
    }

    /// The shell's socket reported an error (the close report follows separately).
    pub fn on_socket_error(&mut self, socket: SocketId, message: &str) {
        if !self.is_current(socket) {
            return;
        }
        let message = if message.is_empty() {
            "WSTransport socket error"
        } else {
            message
        };
        self.events.push_back(TransportEvent::Error {
            code: 31000,
            message: message.to_string(),
        });
    }

    /// A text frame arrived.
    pub fn on_socket_message(&mut self, socket: SocketId, text: String, now: Instant) {
        if !self.is_current(socket) {
            return;
        }
        if self.is_flooding(now) {
            self.events.push_back(TransportEvent::Error {
                code: 31000,
                message: format!(
                    "the signaling server sent more than {FLOOD_FRAMES} frames in {} s; reconnecting",
                    FLOOD_WINDOW.as_secs()
                ),
            });
            self.close_socket(now);
            return;
        }
        self.set_heartbeat(now);
        if text == HEARTBEAT {
            self.commands.push_back(SocketCommand::Send {
                socket,
                text: HEARTBEAT.to_string(),
            });
            return;
        }
        if let Some(after) = retry_after_of(&text, self.options.max_retry_after_delay) {
            self.retry_after = Some(after);
        }
        self.events.push_back(TransportEvent::Message(text));
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connect_deadline.is_some_and(|d| d <= now) {
            self.connect_deadline = None;
            self.move_uri_index();
            self.close_socket(now);
        }
        if self.heartbeat_deadline.is_some_and(|d| d <= now) {
            self.heartbeat_deadline = None;
            self.should_fallback = true;
            self.close_socket(now);
        }
        if let Some(retry) = self.retry.filter(|r| r.at <= now) {
            self.retry = None;
            self.on_retry_ready(retry, now);
        }
    }

    /// Counts a frame on the current socket; true once it is over [`FLOOD_FRAMES`] within
    /// [`FLOOD_WINDOW`].
    fn is_flooding(&mut self, now: Instant) -> bool {
        let Some(s) = self.socket.as_mut() else {
            return false;
        };
        match s.window_start {
            Some(start) if now.saturating_duration_since(start) < FLOOD_WINDOW => {
                s.window_frames = s.window_frames.saturating_add(1);
            }
            _ => {
                s.window_start = Some(now);
                s.window_frames = 1;
            }
        }
        s.window_frames > FLOOD_FRAMES
    }

    fn current_uri(&self) -> Option<String> {
        self.uris
            .get(self.uri_index)
            .or_else(|| self.uris.first())
            .cloned()
    }

    fn set_state(&mut self, state: WsState) {
        self.previous_state = self.state;
        self.state = state;
    }

    fn set_heartbeat(&mut self, now: Instant) {
        self.heartbeat_deadline = Some(now + self.options.heartbeat_timeout);
    }

    fn move_uri_index(&mut self) {
        self.uri_index += 1;
        if self.uri_index >= self.uris.len() {
            self.uri_index = 0;
        }
    }

    fn connect(&mut self, uri: String, now: Instant) {
        self.close_socket(now);
        self.set_state(WsState::Connecting);
        self.connected_uri = Some(uri.clone());
        let id = self.next_socket;
        self.next_socket += 1;
        self.socket = Some(Socket {
            id,
            open: false,
            opened_at: None,
            window_start: None,
            window_frames: 0,
        });
        self.commands.push_back(SocketCommand::Connect {
            socket: id,
            url: uri,
        });
        self.connect_deadline = Some(now + self.options.connect_timeout);
    }

    fn close_socket(&mut self, now: Instant) {
        self.connect_deadline = None;
        self.heartbeat_deadline = None;
        let Some(socket) = self.socket.take() else {
            return;
        };
        self.commands
            .push_back(SocketCommand::Close { socket: socket.id });
        if self.backoffs.is_some()
            && socket
                .opened_at
                .is_some_and(|t| now.saturating_duration_since(t) > CONNECT_SUCCESS_TIMEOUT)
        {
            self.reset_backoffs();
        }
        if self.state != WsState::Closed {
            if self.backoffs.is_none() {
                self.backoffs = Some(self.setup_backoffs());
            }
            let tier = if self.preferred_uri.is_some() {
                Tier::Preferred
            } else {
                Tier::Primary
            };
            self.backoff(tier, now);
        }
        self.events.push_back(TransportEvent::Close);
    }

    fn reset_backoffs(&mut self) {
        self.backoffs = None;
        self.retry_after = None;
        self.retry = None;
    }

    fn setup_backoffs(&mut self) -> Backoffs {
        let retry_after = self.retry_after.filter(|_| self.preferred_uri.is_some());
        let o = &self.options;
        let preferred = BackoffConfig {
            min_ms: retry_after.map_or(100, |d| d.as_millis() as u64),
            max_ms: if retry_after.is_some() {
                o.max_retry_after_delay
            } else {
                o.max_preferred_delay
            }
            .as_millis() as u64,
            factor: 2.0,
            jitter: 0.4,
            use_initial_value: retry_after.is_some(),
        };
        // A random first delay between 1 and 5 s only when there are edges to fall back to.
        let primary_min = if self.uris.len() > 1 {
            self.rng.random_range(1000..=5000)
        } else {
            100
        };
        let primary = BackoffConfig {
            min_ms: primary_min,
            max_ms: o.max_primary_delay.as_millis() as u64,
            factor: 2.0,
            jitter: 0.4,
            use_initial_value: false,
        };
        Backoffs {
            preferred: Backoff::new(preferred),
            primary: Backoff::new(primary),
            preferred_max_duration: if retry_after.is_some() {
                o.max_retry_after_duration
            } else {
                o.max_preferred_duration
            },
            preferred_started: None,
            primary_started: None,
        }
    }

    fn backoff(&mut self, tier: Tier, now: Instant) {
        let random: f64 = self.rng.random();
        let closed = self.state == WsState::Closed;
        let Some(b) = self.backoffs.as_mut() else {
            return;
        };
        let (backoff, started) = match tier {
            Tier::Preferred => (&b.preferred, &mut b.preferred_started),
            Tier::Primary => (&b.primary, &mut b.primary_started),
        };
        let delay = backoff.delay(random);
        let attempt = backoff.attempts();
        if !closed && attempt == 0 {
            *started = Some(now);
        }
        self.retry = Some(ScheduledRetry {
            at: duration::deadline_after(now, delay),
            tier,
            attempt,
        });
    }

    fn on_retry_ready(&mut self, retry: ScheduledRetry, now: Instant) {
        tracing::debug!(attempt = retry.attempt + 1, tier = ?retry.tier, "signaling reconnect attempt");
        let closed = self.state == WsState::Closed;
        let Some(b) = self.backoffs.as_mut() else {
            return;
        };
        match retry.tier {
            Tier::Preferred => {
                b.preferred.attempted();
                if closed {
                    return;
                }
                let Some(started) = b.preferred_started else {
                    return;
                };
                let expired = now.saturating_duration_since(started) > b.preferred_max_duration;
                if expired || self.preferred_uri.is_none() {
                    self.preferred_uri = None;
                    self.backoff(Tier::Primary, now);
                    return;
                }
                if let Some(uri) = self.preferred_uri.clone() {
                    self.connect(uri, now);
                }
            }
            Tier::Primary => {
                b.primary.attempted();
                if closed {
                    return;
                }
                let Some(started) = b.primary_started else {
                    return;
                };
                if self
                    .options
                    .max_primary_duration
                    .is_some_and(|max| now.saturating_duration_since(started) > max)
                {
                    return;
                }
                if let Some(uri) = self.current_uri() {
                    self.connect(uri, now);
                }
            }
        }
    }
}

/// `payload.error.retryAfter` of an `error` frame, read without a full parse, capped at `max`
/// (zero, negative and non-numbers are ignored).
fn retry_after_of(text: &str, max: Duration) -> Option<Duration> {
    if !text.contains("retryAfter") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v.get("type")?.as_str()? != "error" {
        return None;
    }
    v.get("payload")?
        .get("error")?
        .get("retryAfter")
        .and_then(|v| duration::network_duration_json(v, max))
        .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Transport) -> (Vec<SocketCommand>, Vec<TransportEvent>) {
        let mut c = Vec::new();
        while let Some(x) = t.poll_command() {
            c.push(x);
        }
        let mut e = Vec::new();
        while let Some(x) = t.poll_event() {
            e.push(x);
        }
        (c, e)
    }

    fn connect_url(cmds: &[SocketCommand]) -> Option<(SocketId, String)> {
        cmds.iter().find_map(|c| match c {
            SocketCommand::Connect { socket, url } => Some((*socket, url.clone())),
            _ => None,
        })
    }

    fn uris(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("wss://edge{i}/signal")).collect()
    }

    #[test]
    fn heartbeat_is_echoed_and_resets_silence_timer() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(1), TransportOptions::default(), 1);
        t.open(t0);
        let (c, _) = drain(&mut t);
        let (id, url) = connect_url(&c).unwrap();
        assert_eq!(url, "wss://edge0/signal");
        t.on_socket_open(id, t0);
        assert_eq!(drain(&mut t).1, vec![TransportEvent::Open]);
        t.on_socket_message(id, "\n".into(), t0 + Duration::from_secs(10));
        assert_eq!(
            drain(&mut t).0,
            vec![SocketCommand::Send {
                socket: id,
                text: "\n".into()
            }]
        );
        // 15 s after the heartbeat, not after open.
        t.handle_timeout(t0 + Duration::from_secs(16));
        assert!(drain(&mut t).0.is_empty());
        t.handle_timeout(t0 + Duration::from_secs(25));
        let (c, e) = drain(&mut t);
        assert_eq!(c, vec![SocketCommand::Close { socket: id }]);
        assert_eq!(e, vec![TransportEvent::Close]);
        // A reconnect is scheduled (100 ms ± 40 %).
        let at = t.poll_timeout().unwrap();
        assert!(at <= t0 + Duration::from_millis(25_140));
        t.handle_timeout(at);
        assert!(connect_url(&drain(&mut t).0).is_some());
    }

    #[test]
    fn connect_timeout_moves_to_the_next_edge() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(3), TransportOptions::default(), 2);
        t.open(t0);
        drain(&mut t);
        t.handle_timeout(t0 + Duration::from_secs(5));
        drain(&mut t);
        // Several edges: first retry 1–5 s (± jitter).
        let at = t.poll_timeout().unwrap();
        let wait = at - (t0 + Duration::from_secs(5));
        assert!(
            wait >= Duration::from_millis(600) && wait <= Duration::from_millis(7000),
            "{wait:?}"
        );
        t.handle_timeout(at);
        assert_eq!(
            connect_url(&drain(&mut t).0).unwrap().1,
            "wss://edge1/signal"
        );
    }

    #[test]
    fn abnormal_close_before_open_falls_back_and_reports_31005() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(2), TransportOptions::default(), 3);
        t.open(t0);
        let (id, _) = connect_url(&drain(&mut t).0).unwrap();
        t.on_socket_close(id, 1006, "", t0);
        let (_, e) = drain(&mut t);
        assert!(matches!(&e[0], TransportEvent::Error { code: 31005, .. }));
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        assert_eq!(
            connect_url(&drain(&mut t).0).unwrap().1,
            "wss://edge1/signal"
        );
    }

    #[test]
    fn first_abnormal_close_after_open_stays_on_the_edge() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(2), TransportOptions::default(), 4);
        t.open(t0);
        let (id, _) = connect_url(&drain(&mut t).0).unwrap();
        t.on_socket_open(id, t0);
        t.on_socket_close(id, 1006, "", t0 + Duration::from_secs(1));
        drain(&mut t);
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        let (id2, url) = connect_url(&drain(&mut t).0).unwrap();
        assert_eq!(url, "wss://edge0/signal");
        // A second abnormal close (never opened) falls back.
        t.on_socket_close(id2, 1006, "", at);
        drain(&mut t);
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        assert_eq!(
            connect_url(&drain(&mut t).0).unwrap().1,
            "wss://edge1/signal"
        );
    }

    #[test]
    fn backoff_grows_then_resets_after_a_stable_connection() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(1), TransportOptions::default(), 5);
        t.open(t0);
        let mut now = t0;
        let mut waits = Vec::new();
        let (mut id, _) = connect_url(&drain(&mut t).0).unwrap();
        for _ in 0..6 {
            t.on_socket_close(id, 1006, "", now);
            drain(&mut t);
            let at = t.poll_timeout().unwrap();
            waits.push(at - now);
            now = at;
            t.handle_timeout(now);
            id = connect_url(&drain(&mut t).0).unwrap().0;
        }
        // 100, 200, 400, 800, 1600, 3200 ± 40 %.
        for (i, w) in waits.iter().enumerate() {
            let base = 100.0 * 2f64.powi(i as i32);
            let ms = w.as_millis() as f64;
            assert!(
                ms >= base * 0.6 - 1.0 && ms <= base * 1.4 + 1.0,
                "attempt {i}: {ms} vs {base}"
            );
        }
        t.on_socket_open(id, now);
        drain(&mut t);
        now += Duration::from_secs(11);
        t.on_socket_close(id, 1000, "", now);
        drain(&mut t);
        let wait = t.poll_timeout().unwrap() - now;
        assert!(wait <= Duration::from_millis(140), "{wait:?}");
    }

    /// The seed's invalid account: every socket opens, `listen` goes out, and the server drops
    /// it. The SDK resets its backoff on every open and reconnects every ~100 ms; the delay
    /// must keep growing to its cap instead, and start afresh once the server accepts us.
    #[test]
    fn sockets_dropped_right_after_open_back_off_to_the_cap() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(1), TransportOptions::default(), 9);
        t.open(t0);
        let mut now = t0;
        let (mut id, _) = connect_url(&drain(&mut t).0).unwrap();
        let mut waits = Vec::new();
        for _ in 0..12 {
            t.on_socket_open(id, now);
            now += Duration::from_millis(50);
            t.on_socket_close(id, 1006, "", now);
            let (_, e) = drain(&mut t);
            assert!(
                e.iter()
                    .any(|e| matches!(e, TransportEvent::Error { code: 31005, .. })),
                "each drop is reported"
            );
            let at = t.poll_timeout().unwrap();
            waits.push(at - now);
            now = at;
            t.handle_timeout(now);
            id = connect_url(&drain(&mut t).0).unwrap().0;
        }
        for (i, w) in waits.iter().enumerate().take(6) {
            let base = 100.0 * 2f64.powi(i as i32);
            let ms = w.as_millis() as f64;
            assert!(
                ms >= base * 0.6 - 1.0 && ms <= base * 1.4 + 1.0,
                "attempt {i}: {ms} ms vs {base}"
            );
        }
        assert!(
            waits[8..]
                .iter()
                .all(|w| *w == TransportOptions::default().max_primary_delay),
            "capped at 20 s: {waits:?}"
        );
        // `connected` on the next socket: the following drop retries quickly again.
        t.on_socket_open(id, now);
        t.on_accepted();
        now += Duration::from_millis(50);
        t.on_socket_close(id, 1006, "", now);
        drain(&mut t);
        assert!(t.poll_timeout().unwrap() - now <= Duration::from_millis(140));
    }

    #[test]
    fn retry_after_sets_the_first_preferred_delay() {
        let t0 = Instant::now();
        let opts = TransportOptions {
            max_preferred_duration: Duration::from_secs(30),
            ..Default::default()
        };
        let mut t = Transport::new(uris(1), opts, 6);
        t.update_preferred_uri(Some("wss://pref/signal".into()));
        t.open(t0);
        let (id, url) = connect_url(&drain(&mut t).0).unwrap();
        assert_eq!(url, "wss://pref/signal");
        t.on_socket_open(id, t0);
        t.on_socket_message(
            id,
            r#"{"type":"error","payload":{"error":{"code":31206,"message":"x","retryAfter":30}}}"#
                .into(),
            t0,
        );
        t.on_socket_close(id, 1000, "", t0 + Duration::from_secs(1));
        drain(&mut t);
        assert_eq!(
            t.poll_timeout().unwrap() - (t0 + Duration::from_secs(1)),
            Duration::from_secs(30)
        );
    }

    /// Issue 15: `retryAfter: 1e20` panicked ("cannot convert float seconds to Duration");
    /// absurd values wait at most `max_retry_after_delay`, and junk is ignored.
    #[test]
    fn absurd_retry_after_is_capped() {
        let max = TransportOptions::default().max_retry_after_delay;
        for (value, expected) in [
            ("1e20", max),
            ("18446744073709551615", max),
            ("1e308", max),
            ("-1", Duration::from_millis(100)),
            ("0", Duration::from_millis(100)),
            ("\"30\"", Duration::from_millis(100)),
            ("0.5", Duration::from_millis(500)),
        ] {
            let t0 = Instant::now();
            let mut t = Transport::new(uris(1), TransportOptions::default(), 6);
            t.update_preferred_uri(Some("wss://pref/signal".into()));
            t.open(t0);
            let (id, _) = connect_url(&drain(&mut t).0).unwrap();
            t.on_socket_open(id, t0);
            let frame = format!(
                r#"{{"type":"error","payload":{{"error":{{"code":31206,"message":"x","retryAfter":{value}}}}}}}"#
            );
            t.on_socket_message(id, frame, t0);
            t.on_socket_close(id, 1000, "", t0);
            drain(&mut t);
            let wait = t.poll_timeout().unwrap() - t0;
            if expected == Duration::from_millis(100) {
                // No usable retryAfter: the preferred tier's own first delay (100 ms ± 40 %).
                assert!(wait <= Duration::from_millis(140), "{value}: {wait:?}");
            } else {
                assert_eq!(wait, expected, "{value}");
            }
        }
    }

    /// Issue 15: a server sending frames faster than any real one gets its socket closed,
    /// and the transport reconnects; the queues it fills stay bounded.
    #[test]
    fn a_flooding_server_is_disconnected_and_we_reconnect() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(1), TransportOptions::default(), 10);
        t.open(t0);
        let (id, _) = connect_url(&drain(&mut t).0).unwrap();
        t.on_socket_open(id, t0);
        drain(&mut t);
        // At the limit: every frame is delivered.
        for i in 0..FLOOD_FRAMES {
            t.on_socket_message(id, "{}".into(), t0 + Duration::from_micros(u64::from(i)));
        }
        let (_, e) = drain(&mut t);
        assert_eq!(e.len(), FLOOD_FRAMES as usize);
        // One more within the second: closed, with an error saying why.
        t.on_socket_message(id, "{}".into(), t0 + Duration::from_millis(900));
        let (c, e) = drain(&mut t);
        assert_eq!(c, vec![SocketCommand::Close { socket: id }]);
        assert!(
            matches!(&e[0], TransportEvent::Error { code: 31000, message } if message.contains("frames"))
        );
        assert_eq!(e[1], TransportEvent::Close);
        // The rest of the flood from the old socket is ignored, without growing any queue.
        for _ in 0..10_000 {
            t.on_socket_message(id, "\n".into(), t0 + Duration::from_millis(950));
        }
        assert_eq!(drain(&mut t), (vec![], vec![]));
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        let (id2, _) = connect_url(&drain(&mut t).0).unwrap();
        assert_ne!(id2, id);
        // Steady traffic below the rate is fine for ever.
        t.on_socket_open(id2, at);
        drain(&mut t);
        for i in 0..(3 * FLOOD_FRAMES) {
            let when =
                at + Duration::from_millis(u64::from(i) * 1000 / u64::from(FLOOD_FRAMES / 2));
            t.on_socket_message(id2, "{}".into(), when);
        }
        let (c, _) = drain(&mut t);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn preferred_window_expires_to_primary() {
        let t0 = Instant::now();
        let opts = TransportOptions {
            max_preferred_duration: Duration::from_millis(0),
            ..Default::default()
        };
        let mut t = Transport::new(uris(1), opts, 7);
        t.update_preferred_uri(Some("wss://pref/signal".into()));
        t.open(t0);
        let (id, _) = connect_url(&drain(&mut t).0).unwrap();
        t.on_socket_open(id, t0);
        t.on_socket_close(id, 1006, "", t0 + Duration::from_secs(1));
        drain(&mut t);
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        // The preferred window (0 ms) is over: back off on the primary tier instead.
        assert!(connect_url(&drain(&mut t).0).is_none());
        let at = t.poll_timeout().unwrap();
        t.handle_timeout(at);
        assert_eq!(
            connect_url(&drain(&mut t).0).unwrap().1,
            "wss://edge0/signal"
        );
    }

    #[test]
    fn close_stops_reconnecting_and_stale_reports_are_ignored() {
        let t0 = Instant::now();
        let mut t = Transport::new(uris(1), TransportOptions::default(), 8);
        t.open(t0);
        let (id, _) = connect_url(&drain(&mut t).0).unwrap();
        t.on_socket_open(id, t0);
        t.close(t0);
        drain(&mut t);
        assert_eq!(t.poll_timeout(), None);
        t.on_socket_message(id, "{}".into(), t0);
        t.on_socket_close(id, 1006, "", t0);
        assert_eq!(drain(&mut t), (vec![], vec![]));
        assert!(!t.send("x".into()));
    }
}
