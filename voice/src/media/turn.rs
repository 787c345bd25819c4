//! TURN relays for relay candidates, sans-IO: one [`Relay`] per `turn:`/`turns:` URL of the
//! `ice_servers` option, around `turn-client-proto`'s client (RFC 8656: allocation, refresh,
//! permissions, channel bindings, long-term credentials).
//!
//! What this glue adds to the crate:
//! - the URLs (RFC 7065) and their transports: `turn:…?transport=udp` (the default),
//!   `turn:…?transport=tcp` and `turns:` (TLS over TCP, by default on 5349; Twilio's on 443).
//!   The TLS is the shell's ([`super::relays`]); the client sees the TCP stream inside it;
//! - the stream's framing (RFC 8656 §12.5): STUN messages and ChannelData back to back, the
//!   ChannelData padded to a multiple of four bytes, both ways (the crate neither pads nor
//!   expects padding; coturn does both);
//! - permissions on demand: the first datagram str0m sends to a peer binds a channel to it
//!   (which installs the permission too), and what is sent meanwhile waits for it, a few
//!   datagrams at most;
//! - why an allocation failed, in words: the server's error response (`401 Unauthorized`
//!   after the authenticated retry, `441 Wrong Credentials`, `486 Allocation Quota
//!   Reached`…), no answer, or the connection closing;
//! - the release at the end of the call: a Refresh with a lifetime of 0.
//!
//! Time is a parameter (`std::time::Instant`, converted to the crate's own clock from the
//! relay's creation); bytes go in through [`Relay::handle_input`] and out through
//! [`Relay::poll_transmit`]. The tests run allocations against `turn-server-proto`, a sans-IO
//! TURN server, in virtual time.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::client::TurnClient;
use turn_client_proto::stun::Instant as TurnInstant;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::stun::types::TransportType;
use turn_client_proto::stun::types::attribute::ErrorCode;
use turn_client_proto::stun::types::message::{Message, MessageClass};
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::udp::TurnClientUdp;

/// Default ports (RFC 7065 §3).
pub const TURN_PORT: u16 = 3478;
pub const TURNS_PORT: u16 = 5349;
/// The longest frame on a TURN stream: a STUN header and 64 KiB of attributes.
const MAX_FRAME: usize = 20 + u16::MAX as usize;
/// Datagrams that wait for a peer's permission, per relay (ICE checks are retried anyway).
const MAX_WAITING: usize = 16;
/// Steps of the client's state machine per call of [`Relay::progress`]: it asks to be polled
/// again at once only while it has something queued.
const MAX_STEPS: usize = 64;
/// STUN requests to the TURN server: the first retransmit after 250 ms, then 500 ms and
/// 1 s apart, five in all, and a last second for the answer: an unanswered allocation gives
/// up after 3.75 s (over TCP and TLS: one request, the same 3.75 s).
const RTO_INITIAL: Duration = Duration::from_millis(250);
const RTO_MAX: Duration = Duration::from_secs(1);
const RTO_TRANSMITS: u32 = 5;
const RTO_LAST: Duration = Duration::from_secs(1);

/// How the client reaches the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    Udp,
    Tcp,
    /// TLS over TCP (`turns:`).
    Tls,
}

impl TurnTransport {
    /// TCP and TLS carry a byte stream that needs framing.
    pub fn is_stream(self) -> bool {
        !matches!(self, TurnTransport::Udp)
    }
}

/// A `turn:` or `turns:` URL (RFC 7065).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUrl {
    pub host: String,
    pub port: u16,
    pub transport: TurnTransport,
}

/// Why a `turn:`/`turns:` URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnUrlError {
    #[error("not a turn: or turns: URL")]
    NotTurn,
    #[error("no host")]
    NoHost,
    #[error("bad port {0:?}")]
    BadPort(String),
    #[error("transport {0:?} is not udp or tcp")]
    BadTransport(String),
    #[error("turns: over UDP (DTLS) is not supported; use ?transport=tcp")]
    Dtls,
    #[error("unknown query {0:?} (only ?transport=udp|tcp)")]
    BadQuery(String),
}

/// Parses `turn:host[:port][?transport=udp|tcp]` and `turns:host[:port][?transport=tcp]`.
pub fn parse_turn_url(url: &str) -> Result<TurnUrl, TurnUrlError> {
    let (secure, rest) = if let Some(r) = url.strip_prefix("turns:") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("turn:") {
        (false, r)
    } else {
        return Err(TurnUrlError::NotTurn);
    };
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let transport = match query {
        None => None,
        Some(q) => match q.strip_prefix("transport=") {
            Some(t) if t.eq_ignore_ascii_case("udp") => Some(TurnTransport::Udp),
            Some(t) if t.eq_ignore_ascii_case("tcp") => Some(TurnTransport::Tcp),
            Some(t) => return Err(TurnUrlError::BadTransport(t.to_string())),
            None => return Err(TurnUrlError::BadQuery(q.to_string())),
        },
    };
    let transport = match (secure, transport) {
        (true, Some(TurnTransport::Udp)) => return Err(TurnUrlError::Dtls),
        (true, _) => TurnTransport::Tls,
        (false, t) => t.unwrap_or(TurnTransport::Udp),
    };
    let default_port = if secure { TURNS_PORT } else { TURN_PORT };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6.split_once(']').ok_or(TurnUrlError::NoHost)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if tail.is_empty() => default_port,
            None => return Err(TurnUrlError::BadPort(tail.to_string())),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, p)) => (host, parse_port(p)?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(TurnUrlError::NoHost);
    }
    Ok(TurnUrl {
        host: host.to_string(),
        port,
        transport,
    })
}

fn parse_port(p: &str) -> Result<u16, TurnUrlError> {
    match p.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(TurnUrlError::BadPort(p.to_string())),
    }
}

/// Splits a TURN byte stream into STUN messages and ChannelData (RFC 8656 §12.5), dropping
/// the ChannelData padding.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

/// The stream carried something that is neither STUN nor ChannelData: it cannot be framed
/// any more, and the connection is useless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the TURN server sent bytes that are neither STUN nor ChannelData (first byte {0:#04x})")]
pub struct FramingError(pub u8);

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

impl StreamFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame (without its padding), `None` until one is complete.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        if self.buf.len() < 4 {
            return match first >> 6 {
                0 | 1 => Ok(None),
                _ => Err(FramingError(first)),
            };
        }
        let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
        let (frame, consumed) = match first >> 6 {
            0 => {
                if (self.buf.len() >= 8 && self.buf[4..8] != MAGIC_COOKIE) || !len.is_multiple_of(4)
                {
                    return Err(FramingError(first));
                }
                (20 + len, 20 + len)
            }
            1 => (4 + len, (4 + len).div_ceil(4) * 4),
            _ => return Err(FramingError(first)),
        };
        if self.buf.len() < consumed {
            return Ok(None);
        }
        let out = self.buf[..frame].to_vec();
        self.buf.drain(..consumed);
        Ok(Some(out))
    }

    /// Bytes held for an incomplete frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The transaction of a STUN message (not ChannelData).
fn stun_transaction(frame: &[u8]) -> Option<[u8; 12]> {
    if frame.len() < 20 || frame[0] >> 6 != 0 || frame[4..8] != MAGIC_COOKIE {
        return None;
    }
    frame[8..20].try_into().ok()
}

/// A STUN request's transaction, and whether it carries MESSAGE-INTEGRITY (our credentials).
fn stun_request(frame: &[u8]) -> Option<([u8; 12], bool)> {
    let tx = stun_transaction(frame)?;
    let kind = u16::from_be_bytes([frame[0], frame[1]]);
    // The class bits (C1 at 0x0100, C0 at 0x0010): a request has neither.
    if kind & 0x0110 != 0 {
        return None;
    }
    let mut attrs = frame.get(20..)?;
    let mut integrity = false;
    while attrs.len() >= 4 {
        let t = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = u16::from_be_bytes([attrs[2], attrs[3]]) as usize;
        integrity |= t == 0x0008 || t == 0x001C;
        attrs = attrs.get(4 + len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    Some((tx, integrity))
}

/// ChannelData on a stream is padded to a multiple of four bytes (RFC 8656 §12.5).
fn pad_for_stream(mut frame: Vec<u8>) -> Vec<u8> {
    if frame.first().is_some_and(|b| b >> 6 == 1) {
        let padded = frame.len().div_ceil(4) * 4;
        frame.resize(padded, 0);
    }
    frame
}

/// What a relay reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// The allocation exists: a relay candidate at this address.
    Allocated(SocketAddr),
    /// No allocation (any more), and why.
    Failed(String),
    /// The allocation was released at the end of the call.
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Allocating,
    Allocated(SocketAddr),
    Releasing,
    Done,
}

/// One allocation on one TURN server, sans-IO.
#[derive(Debug)]
pub struct Relay {
    client: TurnClient,
    transport: TurnTransport,
    framer: StreamFramer,
    /// `std` time of the crate's `Instant::ZERO`.
    base: Instant,
    state: State,
    /// Our last STUN request: its transaction, and whether it carried our credentials.
    last_request: Option<([u8; 12], bool)>,
    /// The server's last error response: its transaction, and `"401 Unauthorized"`.
    last_error: Option<([u8; 12], String)>,
    /// Datagrams for peers whose permission is being installed.
    waiting: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Peers a channel was asked for (bound or pending).
    channels: Vec<SocketAddr>,
    /// IPs whose permission was asked for without a channel (the channel was refused).
    permissions: Vec<IpAddr>,
    outgoing: VecDeque<Vec<u8>>,
    received: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<RelayEvent>,
    next: Option<Instant>,
}

impl Relay {
    /// Starts an allocation (of a UDP relay) from `local` on the server at `server`: the
    /// first request is ready in [`Relay::poll_transmit`].
    pub fn new(
        transport: TurnTransport,
        local: SocketAddr,
        server: SocketAddr,
        username: &str,
        credential: &str,
        now: Instant,
    ) -> Relay {
        let mut config = TurnConfig::new(TurnCredentials::new(username, credential));
        config.set_allocation_transport(TransportType::Udp);
        config.set_request_retransmits(RTO_INITIAL, RTO_MAX, RTO_TRANSMITS, RTO_LAST);
        let client = match transport {
            TurnTransport::Udp => TurnClient::from(TurnClientUdp::allocate(local, server, config)),
            TurnTransport::Tcp | TurnTransport::Tls => {
                TurnClient::from(TurnClientTcp::allocate(local, server, config))
            }
        };
        let mut relay = Relay {
            client,
            transport,
            framer: StreamFramer::default(),
            base: now,
            state: State::Allocating,
            last_request: None,
            last_error: None,
            waiting: VecDeque::new(),
            channels: Vec::new(),
            permissions: Vec::new(),
            outgoing: VecDeque::new(),
            received: VecDeque::new(),
            events: VecDeque::new(),
            next: None,
        };
        relay.progress(now);
        relay
    }

    fn at(&self, now: Instant) -> TurnInstant {
        let nanos = now.saturating_duration_since(self.base).as_nanos();
        TurnInstant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    fn std_at(&self, t: TurnInstant) -> Instant {
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(0);
        self.base + Duration::from_nanos(nanos)
    }

    fn client_transport(&self) -> TransportType {
        self.client.transport()
    }

    /// The relayed address, while the allocation exists.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated(a) => Some(a),
            _ => None,
        }
    }

    /// Our end of the connection to the server (a relay candidate's local address).
    pub fn local(&self) -> SocketAddr {
        self.client.local_addr()
    }

    pub fn server(&self) -> SocketAddr {
        self.client.remote_addr()
    }

    /// Nothing more will happen: released, or failed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Still waiting for the allocation.
    pub fn is_allocating(&self) -> bool {
        self.state == State::Allocating
    }

    /// Bytes from the server: one datagram (UDP) or the next piece of the stream (TCP, TLS).
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if self.state == State::Done {
            return;
        }
        if !self.transport.is_stream() {
            self.handle_frame(data, now);
        } else {
            self.framer.push(data);
            loop {
                match self.framer.next_frame() {
                    Ok(Some(frame)) => self.handle_frame(&frame, now),
                    Ok(None) => break,
                    Err(e) => {
                        self.fail(e.to_string());
                        break;
                    }
                }
                if self.state == State::Done {
                    break;
                }
            }
            if self.framer.buffered() > MAX_FRAME {
                self.fail("the TURN server sent an oversized frame".into());
            }
        }
        self.progress(now);
    }

    fn handle_frame(&mut self, frame: &[u8], now: Instant) {
        self.note_error(frame);
        let transmit = Transmit::new(frame, self.client_transport(), self.server(), self.local());
        let at = self.at(now);
        match self.client.recv(transmit, at) {
            TurnRecvRet::PeerData(data) => {
                self.received.push_back((data.peer, data.data().to_vec()));
            }
            TurnRecvRet::Handled | TurnRecvRet::Ignored(_) | TurnRecvRet::PeerIcmp { .. } => {}
        }
        while let Some(data) = self.client.poll_recv(at) {
            self.received.push_back((data.peer, data.data().to_vec()));
        }
    }

    /// Remembers the server's error responses, to say why an allocation failed. A 401 or
    /// 441 to the allocation request that carried our credentials ends it at once: the
    /// crate ignores such an answer (it has no integrity to check) and would wait for its
    /// request to time out.
    fn note_error(&mut self, frame: &[u8]) {
        let Some(tx) = stun_transaction(frame) else {
            return;
        };
        let Ok(msg) = Message::from_bytes(frame) else {
            return;
        };
        if !msg.has_class(MessageClass::Error) {
            return;
        }
        let Ok(code) = msg.attribute::<ErrorCode>() else {
            return;
        };
        // 438 Stale Nonce is answered by the client with a fresh nonce.
        if code.code() == ErrorCode::STALE_NONCE {
            return;
        }
        let text = format!("{} {}", code.code(), code.reason());
        let refused = matches!(
            code.code(),
            ErrorCode::UNAUTHORIZED | ErrorCode::WRONG_CREDENTIALS
        );
        if refused && self.state == State::Allocating && self.last_request == Some((tx, true)) {
            self.fail(format!("the TURN server refused the credentials ({text})"));
        }
        self.last_error = Some((tx, text));
    }

    /// The error the server answered our last request with, if it did.
    fn answered_error(&self) -> Option<&str> {
        match (&self.last_error, self.last_request) {
            (Some((tx, e)), Some((last, _))) if *tx == last => Some(e),
            _ => None,
        }
    }

    /// Sends `data` to `peer` through the relay: at once if its permission exists, else once
    /// the channel (and permission) the first datagram asks for is in place.
    pub fn send(&mut self, peer: SocketAddr, data: &[u8], now: Instant) {
        if self.relayed().is_none() {
            return;
        }
        let at = self.at(now);
        if self.client.have_permission(TransportType::Udp, peer.ip()) {
            self.transmit_to(peer, data, at);
            if !self.channels.contains(&peer) {
                // Later datagrams go in 4-byte ChannelData headers instead of Send indications.
                self.channels.push(peer);
                let _ = self.client.bind_channel(TransportType::Udp, peer, at);
            }
        } else {
            if !self.channels.contains(&peer) && !self.permissions.contains(&peer.ip()) {
                self.channels.push(peer);
                if self
                    .client
                    .bind_channel(TransportType::Udp, peer, at)
                    .is_err()
                {
                    self.ask_permission(peer.ip(), at);
                }
            }
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.pop_front();
            }
            self.waiting.push_back((peer, data.to_vec()));
        }
        self.progress(now);
    }

    fn ask_permission(&mut self, ip: IpAddr, at: TurnInstant) {
        if self.permissions.contains(&ip) {
            return;
        }
        self.permissions.push(ip);
        if let Err(e) = self.client.create_permission(TransportType::Udp, ip, at) {
            tracing::warn!(server = %self.server(), peer = %ip, error = %e, "TURN permission refused");
        }
    }

    fn transmit_to(&mut self, peer: SocketAddr, data: &[u8], at: TurnInstant) {
        match self.client.send_to(TransportType::Udp, peer, data, at) {
            Ok(Some(build)) => {
                let bytes = build.build().data;
                self.queue_out(bytes);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(server = %self.server(), %peer, error = %e, "TURN send failed")
            }
        }
    }

    fn queue_out(&mut self, bytes: Vec<u8>) {
        let bytes = if self.transport.is_stream() {
            pad_for_stream(bytes)
        } else {
            bytes
        };
        self.outgoing.push_back(bytes);
    }

    /// Releases the allocation (a Refresh with a lifetime of 0); [`RelayEvent::Released`]
    /// follows the server's answer (or the request's time-out).
    pub fn release(&mut self, now: Instant) {
        match self.state {
            State::Allocated(_) => {
                let at = self.at(now);
                self.waiting.clear();
                if self.client.delete(at).is_ok() {
                    self.state = State::Releasing;
                } else {
                    self.finish(RelayEvent::Released);
                }
            }
            State::Allocating => self.finish(RelayEvent::Failed(
                "the call ended before the allocation was made".into(),
            )),
            State::Releasing | State::Done => {}
        }
        self.progress(now);
    }

    /// The connection to the server ended (the stream closed, or the socket failed).
    pub fn connection_lost(&mut self, why: &str, now: Instant) {
        match self.state {
            State::Releasing => self.finish(RelayEvent::Released),
            State::Done => {}
            _ => self.fail(why.to_string()),
        }
        self.progress(now);
    }

    fn fail(&mut self, why: String) {
        if self.state != State::Done {
            self.client.protocol_error();
            self.finish(RelayEvent::Failed(why));
        }
    }

    fn finish(&mut self, event: RelayEvent) {
        self.state = State::Done;
        self.waiting.clear();
        self.next = None;
        self.events.push_back(event);
    }

    /// When [`Relay::handle_timeout`] must run next (`None`: nothing more to do).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.progress(now);
    }

    /// Runs the client until it waits for the future: its requests, retransmits, refreshes
    /// and events.
    fn progress(&mut self, now: Instant) {
        if self.state == State::Done {
            return;
        }
        let at = self.at(now);
        for _ in 0..MAX_STEPS {
            let poll = self.client.poll(at);
            while let Some(t) = self.client.poll_transmit(at) {
                let bytes = t.data.to_vec();
                if let Some(request) = stun_request(&bytes) {
                    self.last_request = Some(request);
                }
                self.queue_out(bytes);
            }
            while let Some(e) = self.client.poll_event() {
                self.on_event(e, at);
            }
            match poll {
                TurnPollRet::WaitUntil(t) if t <= at => continue,
                TurnPollRet::WaitUntil(t) => {
                    self.next = Some(self.std_at(t));
                    return;
                }
                TurnPollRet::Closed => {
                    let event = match self.state {
                        State::Allocating => RelayEvent::Failed(self.allocation_failure()),
                        State::Allocated(_) => RelayEvent::Failed(match self.answered_error() {
                            Some(e) => format!("the allocation ended: {e}"),
                            None => "the allocation ended (its refresh went unanswered)".into(),
                        }),
                        State::Releasing => RelayEvent::Released,
                        State::Done => return,
                    };
                    self.finish(event);
                    return;
                }
                // Only TCP allocations (RFC 6062) ask for sockets; ours are UDP.
                TurnPollRet::AllocateTcpSocket { .. } | TurnPollRet::TcpClose { .. } => continue,
            }
        }
        // Still busy: come back at once.
        self.next = Some(now);
    }

    fn allocation_failure(&self) -> String {
        match self.answered_error() {
            Some(e) if e.starts_with("401") || e.starts_with("441") => {
                format!("the TURN server refused the credentials ({e})")
            }
            Some(e) => format!("the TURN server refused the allocation ({e})"),
            None => "no answer from the TURN server".into(),
        }
    }

    fn on_event(&mut self, e: TurnEvent, at: TurnInstant) {
        match e {
            TurnEvent::AllocationCreated(_, relayed) => {
                if self.state == State::Allocating {
                    self.state = State::Allocated(relayed);
                    self.events.push_back(RelayEvent::Allocated(relayed));
                }
            }
            TurnEvent::AllocationCreateFailed(family) => {
                if self.state == State::Allocating && self.client.relayed_addresses().count() == 0 {
                    tracing::debug!(server = %self.server(), ?family, "TURN allocation failed");
                }
            }
            TurnEvent::PermissionCreated(_, ip) => self.flush_waiting(ip, at),
            TurnEvent::ChannelCreated(_, peer) => self.flush_waiting(peer.ip(), at),
            TurnEvent::ChannelCreateFailed(_, peer) => {
                tracing::debug!(server = %self.server(), %peer, "TURN channel refused; asking for a permission");
                if !self.client.have_permission(TransportType::Udp, peer.ip()) {
                    self.ask_permission(peer.ip(), at);
                }
            }
            TurnEvent::PermissionCreateFailed(_, ip) => {
                tracing::warn!(
                    server = %self.server(),
                    peer = %ip,
                    reason = self.answered_error().unwrap_or("no answer"),
                    "the TURN server refused a permission for the peer"
                );
                self.waiting.retain(|(p, _)| p.ip() != ip);
            }
            TurnEvent::TcpConnected(_) | TurnEvent::TcpConnectFailed(_) => {}
        }
    }

    fn flush_waiting(&mut self, ip: IpAddr, at: TurnInstant) {
        if !self.client.have_permission(TransportType::Udp, ip) {
            return;
        }
        let (ready, rest): (VecDeque<_>, VecDeque<_>) =
            self.waiting.drain(..).partition(|(p, _)| p.ip() == ip);
        self.waiting = rest;
        for (peer, data) in ready {
            self.transmit_to(peer, &data, at);
        }
    }

    /// The next bytes for the server: a datagram (UDP) or the next piece of the stream.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    /// The next datagram a peer sent to our relayed address: `(peer, data)`.
    pub fn poll_received(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.received.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
