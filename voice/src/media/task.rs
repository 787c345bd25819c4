//! The tokio side of a call's media: one UDP socket per call. It only moves packets: the
//! datagrams received and the engine's requests into bounded rings for the call's audio
//! thread ([`super::audio_thread`], where the [`MediaSession`] runs on the sound card's
//! clock), and what that thread sends back out to the socket and the engine. No timer
//! here paces audio.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::audio::AudioPort;
use super::audio_thread::{self, Datagram, Links, Outbound};
use super::session::MediaSession;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{CallId, Codec};

/// DSCP Expedited Forwarding (46) in the IP TOS byte.
const TOS_EF: libc::c_int = 46 << 2;
/// Datagrams waiting for the audio thread (it takes them every period, 10–20 ms).
const INBOUND_SLOTS: usize = 64;
/// Requests waiting for the audio thread.
const REQUEST_SLOTS: usize = 64;
/// Datagrams and events waiting for the socket and the engine.
const OUTBOUND_SLOTS: usize = 256;

/// Which of our addresses the kernel would use to reach `target` (no packet is sent).
pub fn local_ip_towards(target: IpAddr) -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let bind: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse()
        } else {
            "[::]:0".parse()
        }
        .map_err(std::io::Error::other)?;
        let s = StdUdpSocket::bind(bind)?;
        s.connect(SocketAddr::new(target, 9))?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn set_dscp_ef(socket: &UdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
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
    /// An address on the route to Twilio (the signaling server's), to pick our candidate IP.
    pub route_hint: IpAddr,
    pub codec_preferences: Vec<Codec>,
    pub max_average_bitrate: Option<u32>,
    pub dscp: bool,
    /// `stun:` URLs to learn our public address from.
    pub stun_urls: Vec<String>,
}

/// Starts the call's media: returns at once with the sender its requests go in on, while a
/// task of its own binds the socket, asks the STUN servers for our public address (up to half
/// a second each) and starts the audio thread. So the Device's loop never waits on the
/// network before a call. Requests sent meanwhile wait in the channel; if the media cannot
/// start, a `DescriptionFailed` event says why. Events come out on `events`.
pub fn spawn(
    config: MediaConfig,
    port: Box<dyn AudioPort>,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) -> mpsc::UnboundedSender<MediaRequest> {
    let (tx, rx) = mpsc::unbounded_channel();
    let call = config.call;
    tokio::spawn(async move {
        match start(config, port).await {
            Ok((socket, queues)) => run(call, socket, rx, queues, events).await,
            Err(e) => {
                let _ = events.send((
                    call,
                    MediaEvent::DescriptionFailed {
                        remote: false,
                        message: format!("cannot open the media socket: {e}"),
                    },
                ));
            }
        }
    });
    tx
}

/// Binds the socket, learns the server-reflexive address and starts the audio thread.
async fn start(
    config: MediaConfig,
    port: Box<dyn AudioPort>,
) -> std::io::Result<(UdpSocket, Queues)> {
    let local_ip = local_ip_towards(config.route_hint);
    let bind_ip: IpAddr = if local_ip.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0)).await?;
    if config.dscp
        && local_ip.is_ipv4()
        && let Err(e) = set_dscp_ef(&socket)
    {
        tracing::warn!(error = %e, "cannot mark media packets with DSCP EF");
    }
    let local = SocketAddr::new(local_ip, socket.local_addr()?.port());
    let mut session = MediaSession::new(
        Instant::now(),
        local,
        &config.codec_preferences,
        config.max_average_bitrate,
        port.sample_rate(),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    if !config.stun_urls.is_empty() {
        let timeout = std::time::Duration::from_millis(500);
        if let Some(mapped) =
            super::stun::reflexive_address(&socket, &config.stun_urls, timeout).await
        {
            session.add_reflexive(mapped, Instant::now());
        }
    }
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
    Ok((socket, queues))
}

/// The tokio side's ends of the queues to the audio thread.
struct Queues {
    inbound: rtrb::Producer<Datagram>,
    /// `None` once the engine has let go of the call: the audio thread sees the ring
    /// abandoned and ends after sending what its last requests (a close) produced.
    requests: Option<rtrb::Producer<MediaRequest>>,
    outbound: mpsc::Receiver<Outbound>,
}

async fn run(
    call: CallId,
    socket: UdpSocket,
    mut engine: mpsc::UnboundedReceiver<MediaRequest>,
    mut queues: Queues,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) {
    let mut buf = vec![0u8; audio_thread::MAX_DATAGRAM + 1];
    let mut dropped = 0u64;
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => {
                    let pushed = Datagram::new(from, &buf[..n])
                        .is_some_and(|d| queues.inbound.push(d).is_ok());
                    if !pushed {
                        dropped += 1;
                        if dropped.is_power_of_two() {
                            tracing::debug!(dropped, "media datagram dropped (queue full or too long)");
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "media receive failed"),
            },
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
                Some(Outbound::Transmit { to, data }) => {
                    if let Err(e) = socket.send_to(&data, to).await {
                        tracing::debug!(error = %e, %to, "media send failed");
                    }
                }
                Some(Outbound::Event(ev)) => {
                    if events.send((call, ev)).is_err() {
                        return;
                    }
                }
                // The audio thread ended (the session closed).
                None => return,
            },
        }
    }
}
