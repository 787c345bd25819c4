//! The tokio side of a call's media. It gathers the candidates — a UDP socket on every usable
//! interface address ([`super::interfaces`]), our public address from STUN for each, and an
//! allocation on every TURN server ([`super::relays`]) — then only moves packets: the
//! datagrams received (on the host sockets, or through a relay) and the engine's requests go
//! into bounded rings for the call's audio thread ([`super::audio_thread`], where the
//! [`MediaSession`] runs on the sound card's clock), and what that thread sends back goes out
//! of the socket or the relay its source address names. No timer here paces audio; the
//! relays' own timers (refreshes, permissions, channels) run here. When the call ends, the
//! allocations are released.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::audio::AudioPort;
use super::audio_thread::{self, Datagram, Links, Outbound};
use super::relays::{Relays, TurnServer};
use super::rtc::{LocalCandidate, Transmit};
use super::session::MediaSession;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{CallId, Codec};

pub use super::interfaces::local_ip_towards;

/// DSCP Expedited Forwarding (46) in the IP TOS byte.
const TOS_EF: libc::c_int = 46 << 2;
/// Datagrams waiting for the audio thread (it takes them every period, 10–20 ms).
const INBOUND_SLOTS: usize = 64;
/// Requests waiting for the audio thread.
const REQUEST_SLOTS: usize = 64;
/// Datagrams and events waiting for the socket and the engine.
const OUTBOUND_SLOTS: usize = 256;
/// How long gathering may hold a call up: the TURN connections (DNS, TCP, TLS) and their
/// allocations. An unanswered allocation over UDP gives up by itself after 3.75 s.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a STUN server gets to answer.
const STUN_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the release of the allocations may take at the end of a call.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Marks a socket's packets with DSCP EF (IPv4).
pub fn set_dscp_ef(socket: &impl std::os::fd::AsRawFd) -> std::io::Result<()> {
    let fd = socket.as_raw_fd();
    let tos: libc::c_int = TOS_EF;
    // SAFETY: fd is a valid open socket for the duration of the call; the option value is
    // a c_int on the stack whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_TOS,
            &tos as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// What a call's media needs to start.
pub struct MediaConfig {
    pub call: CallId,
    /// An address on the route to Twilio (the signaling server's): host candidates include
    /// loopback only when it is loopback.
    pub route_hint: IpAddr,
    pub codec_preferences: Vec<Codec>,
    pub max_average_bitrate: Option<u32>,
    pub dscp: bool,
    /// `stun:` URLs to learn our public address from.
    pub stun_urls: Vec<String>,
    /// TURN servers for relay candidates.
    pub turn_servers: Vec<TurnServer>,
    /// Offer relay candidates only (`iceTransportPolicy: "relay"`).
    pub relay_only: bool,
    /// Trust roots for `turns:` (the Device's: public roots plus its extra CA).
    pub tls: Arc<rustls::ClientConfig>,
}

/// Starts the call's media: returns at once with the sender its requests go in on, while a
/// task of its own gathers the candidates (sockets, STUN, TURN; [`GATHER_TIMEOUT`] at most)
/// and starts the audio thread. So the Device's loop never waits on the network before a
/// call. Requests sent meanwhile wait in the channel; if the media cannot start, a
/// `DescriptionFailed` event says why. Events come out on `events`.
pub fn spawn(
    config: MediaConfig,
    port: Box<dyn AudioPort>,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) -> mpsc::UnboundedSender<MediaRequest> {
    let (tx, rx) = mpsc::unbounded_channel();
    let call = config.call;
    tokio::spawn(async move {
        match start(config, port).await {
            Ok((net, queues)) => run(call, net, rx, queues, events).await,
            Err(e) => {
                let _ = events.send((
                    call,
                    MediaEvent::DescriptionFailed {
                        remote: false,
                        message: format!("cannot start the call's media: {e}"),
                    },
                ));
            }
        }
    });
    tx
}

/// The call's network ends: host sockets and relays.
struct Net {
    hosts: Vec<UdpSocket>,
    relays: Relays,
    /// The host socket polled first next time (so that none starves the others).
    first: usize,
}

/// One UDP socket per usable interface address (none for a relay-only call).
async fn bind_hosts(config: &MediaConfig) -> Vec<UdpSocket> {
    if config.relay_only {
        return Vec::new();
    }
    let mut hosts = Vec::new();
    for ip in super::interfaces::host_addresses(config.route_hint) {
        match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
            Ok(socket) => {
                if config.dscp
                    && ip.is_ipv4()
                    && let Err(e) = set_dscp_ef(&socket)
                {
                    tracing::warn!(error = %e, "cannot mark media packets with DSCP EF");
                }
                hosts.push(socket);
            }
            Err(e) => tracing::warn!(%ip, error = %e, "no host candidate on this address"),
        }
    }
    hosts
}

/// Gathers the candidates, and starts the audio thread with a session that offers them.
async fn start(config: MediaConfig, port: Box<dyn AudioPort>) -> std::io::Result<(Net, Queues)> {
    let started = tokio::time::Instant::now();
    let deadline = started + GATHER_TIMEOUT;
    let hosts = bind_hosts(&config).await;
    let stun = async {
        if config.stun_urls.is_empty() || config.relay_only {
            return Vec::new();
        }
        let urls = &config.stun_urls;
        let asks = hosts.iter().map(|s| async move {
            let base = s.local_addr().ok()?;
            let mapped = super::stun::reflexive_address(s, urls, STUN_TIMEOUT).await?;
            Some((mapped, base))
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
    };
    let turn = Relays::gather(
        &config.turn_servers,
        config.tls.clone(),
        config.dscp,
        deadline,
    );
    let (reflexive, relays) = tokio::join!(stun, turn);

    let now = Instant::now();
    let mut session = MediaSession::new(
        now,
        &config.codec_preferences,
        config.max_average_bitrate,
        port.sample_rate(),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    for socket in &hosts {
        if let Ok(addr) = socket.local_addr() {
            session.add_candidate(LocalCandidate::Host(addr), now);
        }
    }
    for (mapped, base) in reflexive {
        session.add_candidate(LocalCandidate::Reflexive { mapped, base }, now);
    }
    for (relayed, local) in relays.candidates() {
        session.add_candidate(LocalCandidate::Relayed { relayed, local }, now);
    }
    tracing::info!(
        candidates = ?session.candidates(),
        gathered_in = ?started.elapsed(),
        "call media gathered its candidates"
    );
    let (inbound, inbound_rx) = rtrb::RingBuffer::new(INBOUND_SLOTS);
    let (requests, requests_rx) = rtrb::RingBuffer::new(REQUEST_SLOTS);
    let (outbound_tx, outbound) = mpsc::channel(OUTBOUND_SLOTS);
    let links = Links {
        inbound: inbound_rx,
        requests: requests_rx,
        outbound: outbound_tx,
    };
    // Detached: it ends when the session closes or the queues below are dropped.
    let _thread = audio_thread::spawn(session, port, links)?;
    let queues = Queues {
        inbound,
        requests: Some(requests),
        outbound,
    };
    let net = Net {
        hosts,
        relays,
        first: 0,
    };
    Ok((net, queues))
}

/// The tokio side's ends of the queues to the audio thread.
struct Queues {
    inbound: rtrb::Producer<Datagram>,
    /// `None` once the engine has let go of the call: the audio thread sees the ring
    /// abandoned and ends after sending what its last requests (a close) produced.
    requests: Option<rtrb::Producer<MediaRequest>>,
    outbound: mpsc::Receiver<Outbound>,
}

impl Queues {
    /// Hands a datagram to the audio thread; counts what has to be dropped.
    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8], dropped: &mut u64) {
        let pushed = Datagram::new(from, to, data).is_some_and(|d| self.inbound.push(d).is_ok());
        if !pushed {
            *dropped += 1;
            if dropped.is_power_of_two() {
                tracing::debug!(
                    dropped = *dropped,
                    "media datagram dropped (queue full or too long)"
                );
            }
        }
    }
}

/// The next datagram on any of `hosts`, trying them from `first` on: `(socket index, its
/// length and sender)`. Never ready without sockets.
async fn recv_host(
    hosts: &[UdpSocket],
    first: usize,
    buf: &mut [u8],
) -> (usize, std::io::Result<(usize, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        let n = hosts.len();
        for k in 0..n {
            let i = (first + k) % n;
            let mut rb = ReadBuf::new(buf);
            if let Poll::Ready(r) = hosts[i].poll_recv_from(cx, &mut rb) {
                let len = rb.filled().len();
                return Poll::Ready((i, r.map(|from| (len, from))));
            }
        }
        Poll::Pending
    })
    .await
}

impl Net {
    /// Sends a datagram from the candidate base its source names.
    async fn send(&mut self, t: Transmit) {
        if self.relays.send(t.from, t.to, &t.data, Instant::now()) {
            return;
        }
        let socket = self
            .hosts
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a == t.from))
            .or_else(|| {
                self.hosts
                    .iter()
                    .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == t.to.is_ipv4()))
            });
        let Some(socket) = socket else {
            tracing::debug!(from = %t.from, to = %t.to, "no socket for this datagram");
            return;
        };
        if let Err(e) = socket.send_to(&t.data, t.to).await {
            tracing::debug!(error = %e, to = %t.to, "media send failed");
        }
    }
}

async fn run(
    call: CallId,
    mut net: Net,
    mut engine: mpsc::UnboundedReceiver<MediaRequest>,
    mut queues: Queues,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) {
    let mut buf = vec![0u8; audio_thread::MAX_DATAGRAM + 1];
    let mut dropped = 0u64;
    loop {
        let relay_timer = net
            .relays
            .next_timeout()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            (i, received) = recv_host(&net.hosts, net.first, &mut buf) => match received {
                Ok((n, from)) => {
                    net.first = (i + 1) % net.hosts.len();
                    if let Ok(to) = net.hosts[i].local_addr() {
                        queues.deliver(from, to, &buf[..n], &mut dropped);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "media receive failed"),
            },
            Some((idx, incoming)) = net.relays.recv() => {
                net.relays.on_incoming(idx, incoming, Instant::now(), &mut |peer, relayed, data| {
                    queues.deliver(peer, relayed, data, &mut dropped);
                });
            }
            _ = sleep_until(relay_timer) => net.relays.on_timeout(Instant::now()),
            request = engine.recv(), if queues.requests.is_some() => match (request, &mut queues.requests) {
                (Some(r), Some(requests)) => {
                    if let Err(rtrb::PushError::Full(r)) = requests.push(r) {
                        tracing::warn!(request = ?r, "media request dropped: the audio thread is not taking them");
                    }
                }
                // The call is gone. Its last request (a close) may still be in the ring:
                // abandoning the ring ends the audio thread once it has sent the close's
                // events (the closed states), which still go to the engine below.
                _ => queues.requests = None,
            },
            out = queues.outbound.recv() => match out {
                Some(Outbound::Transmit(t)) => net.send(t).await,
                Some(Outbound::Event(ev)) => {
                    if events.send((call, ev)).is_err() {
                        break;
                    }
                }
                // The audio thread ended (the session closed).
                None => break,
            },
        }
    }
    // The allocations live as long as the call.
    net.relays.release(RELEASE_TIMEOUT).await;
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
