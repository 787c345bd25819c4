//! The tokio side of a call's media, on a thread and a runtime of the call's own. It gathers
//! the candidates — a UDP socket on every usable
//! interface address ([`super::interfaces`]), our public address from STUN for each, and an
//! allocation on every TURN server ([`super::relays`]) — then only moves packets: the
//! datagrams received (on the host sockets, or through a relay) and the engine's requests go
//! into bounded rings for the call's audio thread ([`super::audio_thread`], where the
//! [`MediaSession`] runs on the sound card's clock), and what that thread sends back goes out
//! of the socket or the relay its source address names. No timer here paces audio; the
//! relays' own timers (refreshes, permissions, channels) run here. When the call ends, the
//! allocations are released.
//!
//! Every second it looks at the interfaces and the default route ([`super::netwatch`]
//! decides whether that is a change worth an ICE restart), and reports changes to the
//! engine. Each ICE restart the engine asks for is gathered again from scratch on the
//! network as it is then — new host sockets, STUN, new TURN allocations — before the
//! session makes its offer with exactly those candidates; the old sockets close and the old
//! allocations are released.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::audio::AudioPort;
use super::audio_thread::{self, Datagram, Links, Outbound, Request};
use super::interfaces;
use super::netwatch::{NetWatch, NetworkChange, Snapshot};
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
/// How long gathering again for an ICE restart may take: audio is meant to be back within
/// 3 s of a new network (a TURN server that no longer answers is left out after this).
pub const RESTART_GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a STUN server gets to answer.
const STUN_TIMEOUT: Duration = Duration::from_millis(500);
/// SCHED_FIFO priority of the call's network thread, where allowed: below the call's audio
/// thread ([`audio_thread::REALTIME_PRIORITY`]), above everything that is not audio.
const NET_PRIORITY: u8 = 20;
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
#[derive(Clone)]
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
/// thread of its own gathers the candidates (sockets, STUN, TURN; [`GATHER_TIMEOUT`] at most)
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
    let failed = events.clone();
    let fail = move |e: std::io::Error| {
        let _ = failed.send((
            call,
            MediaEvent::DescriptionFailed {
                remote: false,
                message: format!("cannot start the call's media: {e}"),
            },
        ));
    };
    let media = async move {
        match start(&config, port).await {
            Ok((net, queues)) => run(config, net, rx, queues, events).await,
            Err(e) => fail(e),
        }
    };
    // A thread and a runtime of the call's own: whatever else the application's runtime is
    // busy with (screens, files, HTTP) never holds a packet up.
    let thread = std::thread::Builder::new()
        .name("call-net".into())
        .spawn(move || {
            audio_thread::set_realtime(NET_PRIORITY, "call network");
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(media),
                Err(e) => tracing::error!(%e, "cannot start the call's network runtime"),
            }
        });
    if let Err(e) = thread {
        tracing::error!(%e, "cannot start the call's network thread");
    }
    tx
}

/// The candidates' network ends, gathered: host sockets, what STUN saw of them, relays.
struct Gathered {
    hosts: Vec<UdpSocket>,
    /// (mapped, base) for each host socket a STUN server answered for.
    reflexive: Vec<(SocketAddr, SocketAddr)>,
    relays: Relays,
    /// The network they were gathered on.
    network: Snapshot,
}

impl Gathered {
    fn candidates(&self) -> Vec<LocalCandidate> {
        let hosts = self
            .hosts
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(LocalCandidate::Host);
        let reflexive = self
            .reflexive
            .iter()
            .map(|&(mapped, base)| LocalCandidate::Reflexive { mapped, base });
        let relayed = self
            .relays
            .candidates()
            .into_iter()
            .map(|(relayed, local)| LocalCandidate::Relayed { relayed, local });
        hosts.chain(reflexive).chain(relayed).collect()
    }
}

/// The network as the call sees it: the usable addresses, and the default route's source
/// address (toward the signaling server).
fn snapshot(route_hint: IpAddr) -> std::io::Result<Snapshot> {
    let addresses = interfaces::usable_addresses(route_hint)?;
    Ok(Snapshot::new(
        addresses,
        interfaces::route_source(route_hint),
    ))
}

/// One UDP socket on each address (none for a relay-only call).
async fn bind_hosts(config: &MediaConfig, addresses: &[IpAddr]) -> Vec<UdpSocket> {
    if config.relay_only {
        return Vec::new();
    }
    let mut hosts = Vec::new();
    for &ip in addresses {
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

/// Gathers on the network as it is now, `within` at most: a socket on every usable
/// interface address, our public address from STUN for each, an allocation on every TURN
/// server.
async fn gather(config: &MediaConfig, within: Duration) -> Gathered {
    let deadline = tokio::time::Instant::now() + within;
    let (addresses, network) = match snapshot(config.route_hint) {
        Ok(network) => (network.addresses.clone(), network),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the network interfaces; offering the route's address only");
            (
                vec![interfaces::local_ip_towards(config.route_hint)],
                Snapshot::default(),
            )
        }
    };
    let hosts = bind_hosts(config, &addresses).await;
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
    Gathered {
        hosts,
        reflexive,
        relays,
        network,
    }
}

/// Gathers the candidates, and starts the audio thread with a session that offers them.
async fn start(config: &MediaConfig, port: Box<dyn AudioPort>) -> std::io::Result<(Net, Queues)> {
    let started = Instant::now();
    let gathered = gather(config, GATHER_TIMEOUT).await;
    let now = Instant::now();
    let mut session = MediaSession::new(
        now,
        &config.codec_preferences,
        config.max_average_bitrate,
        port.sample_rate(),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    for candidate in gathered.candidates() {
        session.add_candidate(candidate, now);
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
        watch: NetWatch::new(gathered.network, Instant::now()),
        hosts: gathered.hosts,
        relays: gathered.relays,
        first: 0,
    };
    Ok((net, queues))
}

/// The call's network ends (host sockets and relays), and the watch on the network they
/// were gathered on.
struct Net {
    hosts: Vec<UdpSocket>,
    relays: Relays,
    /// The host socket polled first next time (so that none starves the others).
    first: usize,
    watch: NetWatch,
}

/// The tokio side's ends of the queues to the audio thread.
struct Queues {
    inbound: rtrb::Producer<Datagram>,
    /// `None` once the engine has let go of the call: the audio thread sees the ring
    /// abandoned and ends after sending what its last requests (a close) produced.
    requests: Option<rtrb::Producer<Request>>,
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

    /// Hands a request to the audio thread (which takes them every period).
    fn request(&mut self, request: Request) {
        if let Some(requests) = &mut self.requests
            && let Err(rtrb::PushError::Full(r)) = requests.push(request)
        {
            tracing::warn!(request = ?r, "media request dropped: the audio thread is not taking them");
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
        self.note_path(&t);
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

    /// DTLS and RTP go only over the selected pair: their source is the media's path (for a
    /// relayed address, our end of the connection to its TURN server).
    fn note_path(&mut self, t: &Transmit) {
        if t.data.first().is_none_or(|b| *b < 20) {
            return;
        }
        let local = self.relays.local_of(t.from).unwrap_or(t.from).ip();
        if self.watch.path() != Some(local) {
            tracing::debug!(%local, "the media's path leaves from here");
            self.watch.set_path(Some(local));
        }
    }

    /// Takes a look at the network when due; a change worth an ICE restart is reported.
    fn look(&mut self, route_hint: IpAddr) -> Option<NetworkChange> {
        let now = Instant::now();
        match snapshot(route_hint) {
            Ok(s) => {
                let change = self.watch.observe(s.clone(), now);
                if let Some(c) = change {
                    tracing::info!(addresses = ?s.addresses, route = ?s.route, path_lost = c.path_lost, "the network changed under the call");
                }
                change
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot list the network interfaces");
                // As if no network: nothing is decided until the list can be read.
                self.watch.observe(Snapshot::default(), now)
            }
        }
    }

    /// The candidates gathered again take the old ones' place: the session gets them and
    /// makes its ICE-restart offer; the old sockets close and the old allocations are
    /// released.
    fn adopt(&mut self, gathered: Gathered, queues: &mut Queues) {
        let candidates = gathered.candidates();
        tracing::info!(?candidates, "candidates gathered again for the ICE restart");
        queues.request(Request::Candidates(candidates));
        queues.request(Request::Engine(MediaRequest::RestartIce));
        self.hosts = gathered.hosts;
        self.first = 0;
        let mut old = std::mem::replace(&mut self.relays, gathered.relays);
        tokio::spawn(async move { old.release(RELEASE_TIMEOUT).await });
        self.watch.rebase(gathered.network, Instant::now());
    }
}

/// A gathering under way for an ICE restart.
type Regather = std::pin::Pin<Box<dyn Future<Output = Gathered> + Send>>;

async fn run(
    config: MediaConfig,
    mut net: Net,
    mut engine: mpsc::UnboundedReceiver<MediaRequest>,
    mut queues: Queues,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) {
    let call = config.call;
    let config = Arc::new(config);
    let mut buf = vec![0u8; audio_thread::MAX_DATAGRAM + 1];
    let mut dropped = 0u64;
    let mut regather: Option<Regather> = None;
    loop {
        let relay_timer = net
            .relays
            .next_timeout()
            .map(tokio::time::Instant::from_std);
        let look_at = tokio::time::Instant::from_std(net.watch.poll_timeout());
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
            _ = tokio::time::sleep_until(look_at) => {
                if let Some(change) = net.look(config.route_hint) {
                    let event = MediaEvent::NetworkChanged { path_lost: change.path_lost };
                    if events.send((call, event)).is_err() {
                        break;
                    }
                }
            }
            gathered = next_of(&mut regather) => {
                regather = None;
                net.adopt(gathered, &mut queues);
            }
            request = engine.recv(), if queues.requests.is_some() => match request {
                // Gathered again first; the offer follows (see `Net::adopt`).
                Some(MediaRequest::RestartIce) => {
                    if regather.is_none() {
                        let config = config.clone();
                        regather = Some(Box::pin(async move {
                            gather(&config, RESTART_GATHER_TIMEOUT).await
                        }));
                    }
                }
                Some(r) => {
                    if r == MediaRequest::Close {
                        regather = None;
                    }
                    queues.request(Request::Engine(r));
                }
                // The call is gone. Its last request (a close) may still be in the ring:
                // abandoning the ring ends the audio thread once it has sent the close's
                // events (the closed states), which still go to the engine below.
                None => {
                    regather = None;
                    queues.requests = None;
                }
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

/// The output of the gathering under way, or never without one.
async fn next_of(regather: &mut Option<Regather>) -> Gathered {
    match regather {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
