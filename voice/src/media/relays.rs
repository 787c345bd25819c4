//! The tokio side of a call's TURN relays ([`super::turn::Relay`]): one connection per
//! `turn:`/`turns:` URL (a connected UDP socket, a TCP stream, or TLS over TCP with the
//! Device's trust roots), reader and writer tasks that only move bytes, the relays' timers,
//! and the release at the end of the call.
//!
//! Every failure — the name does not resolve, the server is unreachable, TLS fails, the
//! server refuses the credentials or never answers — is logged with its URL and reason, and
//! the call goes on with its other candidates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::turn::{Relay, RelayEvent, TurnTransport, TurnUrl, parse_turn_url};

/// Frames waiting for a stream's writer; past this the connection is stalled and frames are
/// dropped (media tolerates it; a lost refresh is retried).
const STREAM_QUEUE: usize = 256;
/// Pieces from all the relays' readers waiting for the media task.
const INCOMING_QUEUE: usize = 512;
/// The largest read from a relay's connection.
const READ_SIZE: usize = 4096;

/// A TURN server from the `ice_servers` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The URL as configured (for logs).
    pub url: String,
    pub username: String,
    pub credential: String,
}

impl TurnServer {
    fn parsed(&self) -> Result<TurnUrl, String> {
        parse_turn_url(&self.url).map_err(|e| e.to_string())
    }
}

/// What a reader task reports.
#[derive(Debug)]
pub enum Incoming {
    Data(Vec<u8>),
    /// The connection is gone, and why.
    Closed(String),
}

enum Out {
    Udp(Arc<UdpSocket>),
    Stream(mpsc::Sender<Vec<u8>>),
}

struct Link {
    url: String,
    relay: Relay,
    out: Out,
}

/// A call's relays and their connections. Dropping it stops their tasks.
pub struct Relays {
    links: Vec<Link>,
    incoming: mpsc::Receiver<(usize, Incoming)>,
    incoming_tx: mpsc::Sender<(usize, Incoming)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Relays {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Default for Relays {
    fn default() -> Self {
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
        Relays {
            links: Vec::new(),
            incoming,
            incoming_tx,
            tasks: Vec::new(),
        }
    }
}

/// A connection to a TURN server, before its relay exists.
struct Connected {
    server: TurnServer,
    transport: TurnTransport,
    local: SocketAddr,
    remote: SocketAddr,
    conn: Conn,
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Relays {
    /// Connects to every server at once and runs an allocation on each connection as soon
    /// as it is up, until each allocation is made or has failed, or until `deadline` (what is
    /// still connecting or waiting then is given up). A server that cannot be reached holds
    /// up no other.
    pub async fn gather(
        servers: &[TurnServer],
        tls: Arc<rustls::ClientConfig>,
        dscp: bool,
        deadline: tokio::time::Instant,
    ) -> Relays {
        use futures_util::StreamExt;
        let mut relays = Relays::default();
        let mut connecting: futures_util::stream::FuturesUnordered<_> = servers
            .iter()
            .map(|s| {
                let tls = tls.clone();
                async move { (s, connect_one(s, tls, dscp).await) }
            })
            .collect();
        while !connecting.is_empty() || relays.allocating() {
            let wake = relays
                .next_timeout()
                .map(tokio::time::Instant::from_std)
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                Some((server, connected)) = connecting.next(), if !connecting.is_empty() => {
                    match connected {
                        Ok(c) => relays.add(c, Instant::now()),
                        Err(why) => tracing::warn!(url = %server.url, "TURN server left out: {why}"),
                    }
                }
                got = relays.incoming.recv() => {
                    if let Some((idx, incoming)) = got {
                        relays.on_incoming(idx, incoming, Instant::now(), &mut |_, _, _| {});
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    relays.on_timeout(Instant::now());
                }
            }
        }
        drop(connecting);
        for server in servers {
            if !relays.links.iter().any(|l| l.url == server.url) {
                tracing::warn!(url = %server.url, "TURN server left out: no connection in time");
            }
        }
        let now = Instant::now();
        for idx in 0..relays.links.len() {
            if relays.links[idx].relay.is_allocating() {
                relays.links[idx]
                    .relay
                    .connection_lost("no answer from the TURN server in time", now);
                relays.settle(idx);
            }
        }
        relays
    }

    fn add(&mut self, c: Connected, now: Instant) {
        let idx = self.links.len();
        let relay = Relay::new(
            c.transport,
            c.local,
            c.remote,
            &c.server.username,
            &c.server.credential,
            now,
        );
        let tx = self.incoming_tx.clone();
        let out = match c.conn {
            Conn::Udp(socket) => {
                let socket = Arc::new(socket);
                self.tasks
                    .push(tokio::spawn(read_datagrams(socket.clone(), idx, tx)));
                Out::Udp(socket)
            }
            Conn::Tcp(stream) => Out::Stream(self.spawn_stream(stream, idx, tx)),
            Conn::Tls(stream) => Out::Stream(self.spawn_stream(*stream, idx, tx)),
        };
        self.links.push(Link {
            url: c.server.url,
            relay,
            out,
        });
        self.flush(idx);
    }

    fn spawn_stream<S>(
        &mut self,
        stream: S,
        idx: usize,
        tx: mpsc::Sender<(usize, Incoming)>,
    ) -> mpsc::Sender<Vec<u8>>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        let (out_tx, out_rx) = mpsc::channel(STREAM_QUEUE);
        self.tasks.push(tokio::spawn(read_stream(read, idx, tx)));
        self.tasks.push(tokio::spawn(write_stream(write, out_rx)));
        out_tx
    }

    /// Whether any relay is still waiting for its allocation.
    fn allocating(&self) -> bool {
        self.links.iter().any(|l| l.relay.is_allocating())
    }

    /// The relay candidates: (relayed address, our end of the connection to the server).
    pub fn candidates(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.links
            .iter()
            .filter_map(|l| l.relay.relayed().map(|r| (r, l.relay.local())))
            .collect()
    }

    /// Our end of the connection to the TURN server whose relayed address is `relayed`.
    pub fn local_of(&self, relayed: SocketAddr) -> Option<SocketAddr> {
        self.links
            .iter()
            .find(|l| l.relay.relayed() == Some(relayed))
            .map(|l| l.relay.local())
    }

    /// Sends `data` from the relayed address `from` to `to`; `false` if `from` is no relay's.
    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8], now: Instant) -> bool {
        let Some(idx) = self
            .links
            .iter()
            .position(|l| l.relay.relayed() == Some(from))
        else {
            return false;
        };
        self.links[idx].relay.send(to, data, now);
        self.flush(idx);
        self.settle(idx);
        true
    }

    /// The next piece a relay's connection got (`None` never comes while `self` lives: it
    /// holds a sender itself).
    pub async fn recv(&mut self) -> Option<(usize, Incoming)> {
        self.incoming.recv().await
    }

    /// Handles what a connection got; what peers sent to relayed addresses goes to
    /// `deliver(peer, relayed, data)`.
    pub fn on_incoming(
        &mut self,
        idx: usize,
        incoming: Incoming,
        now: Instant,
        deliver: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        let Some(link) = self.links.get_mut(idx) else {
            return;
        };
        match incoming {
            Incoming::Data(bytes) => link.relay.handle_input(&bytes, now),
            Incoming::Closed(why) => link.relay.connection_lost(&why, now),
        }
        if let Some(relayed) = link.relay.relayed() {
            while let Some((peer, data)) = link.relay.poll_received() {
                deliver(peer, relayed, &data);
            }
        }
        self.flush(idx);
        self.settle(idx);
    }

    /// When [`Relays::on_timeout`] must run next.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.links
            .iter()
            .filter_map(|l| l.relay.poll_timeout())
            .min()
    }

    pub fn on_timeout(&mut self, now: Instant) {
        for idx in 0..self.links.len() {
            if self.links[idx]
                .relay
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.links[idx].relay.handle_timeout(now);
                self.flush(idx);
                self.settle(idx);
            }
        }
    }

    /// Writes what the relay has for its server.
    fn flush(&mut self, idx: usize) {
        let Some(link) = self.links.get_mut(idx) else {
            return;
        };
        while let Some(bytes) = link.relay.poll_transmit() {
            match &link.out {
                Out::Udp(socket) => {
                    if let Err(e) = socket.try_send(&bytes) {
                        tracing::debug!(url = %link.url, error = %e, "TURN datagram not sent");
                    }
                }
                Out::Stream(tx) => {
                    if tx.try_send(bytes).is_err() {
                        tracing::debug!(url = %link.url, "TURN stream stalled: frame dropped");
                    }
                }
            }
        }
    }

    /// Logs what the relay reports.
    fn settle(&mut self, idx: usize) {
        let Some(link) = self.links.get_mut(idx) else {
            return;
        };
        while let Some(event) = link.relay.poll_event() {
            match event {
                RelayEvent::Allocated(relayed) => {
                    tracing::info!(url = %link.url, %relayed, server = %link.relay.server(), "TURN allocation made");
                }
                RelayEvent::Failed(why) => {
                    tracing::warn!(url = %link.url, server = %link.relay.server(), "TURN relay failed: {why}");
                }
                RelayEvent::Released => {
                    tracing::info!(url = %link.url, "TURN allocation released");
                }
            }
        }
    }

    /// Releases every allocation (a Refresh with a lifetime of 0) and waits for the servers'
    /// answers, `within` at most.
    pub async fn release(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let now = Instant::now();
        for idx in 0..self.links.len() {
            self.links[idx].relay.release(now);
            self.flush(idx);
            self.settle(idx);
        }
        while self.links.iter().any(|l| !l.relay.is_done()) {
            let wake = self
                .next_timeout()
                .map(tokio::time::Instant::from_std)
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                got = self.incoming.recv() => {
                    if let Some((idx, incoming)) = got {
                        self.on_incoming(idx, incoming, Instant::now(), &mut |_, _, _| {});
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        tracing::debug!("TURN release unanswered");
                        return;
                    }
                    self.on_timeout(Instant::now());
                }
            }
        }
    }
}

/// Resolves the server and connects: a connected UDP socket, or a TCP stream (with TLS for
/// `turns:`). Addresses are tried IPv4 first, then IPv6.
async fn connect_one(
    server: &TurnServer,
    tls: Arc<rustls::ClientConfig>,
    dscp: bool,
) -> Result<Connected, String> {
    let url = server.parsed()?;
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    if addrs.is_empty() {
        return Err(format!("{} has no address", url.host));
    }
    let mut last = String::new();
    for remote in addrs {
        match connect_addr(&url, remote, tls.clone(), dscp).await {
            Ok((conn, local)) => {
                return Ok(Connected {
                    server: server.clone(),
                    transport: url.transport,
                    local,
                    remote,
                    conn,
                });
            }
            Err(e) => last = format!("{remote}: {e}"),
        }
    }
    Err(format!("cannot connect ({last})"))
}

async fn connect_addr(
    url: &TurnUrl,
    remote: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    dscp: bool,
) -> Result<(Conn, SocketAddr), String> {
    let unspecified: SocketAddr = if remote.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    match url.transport {
        TurnTransport::Udp => {
            let socket = UdpSocket::bind(unspecified)
                .await
                .map_err(|e| e.to_string())?;
            socket.connect(remote).await.map_err(|e| e.to_string())?;
            if dscp && remote.is_ipv4() {
                let _ = super::task::set_dscp_ef(&socket);
            }
            let local = socket.local_addr().map_err(|e| e.to_string())?;
            Ok((Conn::Udp(socket), local))
        }
        TurnTransport::Tcp | TurnTransport::Tls => {
            let tcp = TcpStream::connect(remote)
                .await
                .map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            if dscp && remote.is_ipv4() {
                let _ = super::task::set_dscp_ef(&tcp);
            }
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            if url.transport == TurnTransport::Tcp {
                return Ok((Conn::Tcp(tcp), local));
            }
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| format!("{} is no TLS server name: {e}", url.host))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            Ok((Conn::Tls(Box::new(stream)), local))
        }
    }
}

async fn read_datagrams(socket: Arc<UdpSocket>, idx: usize, tx: mpsc::Sender<(usize, Incoming)>) {
    let mut buf = vec![0u8; super::audio_thread::MAX_DATAGRAM + 64];
    loop {
        let incoming = match socket.recv(&mut buf).await {
            Ok(n) => Incoming::Data(buf[..n].to_vec()),
            // An ICMP "port unreachable" shows on a connected socket.
            Err(e) => Incoming::Closed(format!("the TURN server is unreachable: {e}")),
        };
        let closed = matches!(incoming, Incoming::Closed(_));
        if tx.send((idx, incoming)).await.is_err() || closed {
            return;
        }
    }
}

async fn read_stream<R: AsyncRead + Unpin>(
    mut read: R,
    idx: usize,
    tx: mpsc::Sender<(usize, Incoming)>,
) {
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let incoming = match read.read(&mut buf).await {
            Ok(0) => Incoming::Closed("the TURN server closed the connection".into()),
            Ok(n) => Incoming::Data(buf[..n].to_vec()),
            Err(e) => Incoming::Closed(format!("the connection to the TURN server failed: {e}")),
        };
        let closed = matches!(incoming, Incoming::Closed(_));
        if tx.send((idx, incoming)).await.is_err() || closed {
            return;
        }
    }
}

async fn write_stream<W: AsyncWrite + Unpin>(mut write: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if write.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}
