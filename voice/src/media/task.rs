//! The tokio shell of a call's media: one UDP socket per call, a [`MediaSession`] driven by
//! datagrams, the session's own deadlines (20 ms audio ticks among them) and the engine's
//! requests. It only moves bytes and time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::audio::{AudioSink, AudioSource};
use super::session::MediaSession;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{CallId, Codec};

/// DSCP Expedited Forwarding (46) in the IP TOS byte.
const TOS_EF: libc::c_int = 46 << 2;

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

/// Binds the call's socket and starts its task. Requests go in on the returned sender;
/// events come out on `events`.
pub async fn spawn(
    config: MediaConfig,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) -> std::io::Result<mpsc::UnboundedSender<MediaRequest>> {
    let local_ip = local_ip_towards(config.route_hint);
    let bind_ip: IpAddr = if local_ip.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0)).await?;
    if config.dscp && local_ip.is_ipv4() {
        if let Err(e) = set_dscp_ef(&socket) {
            tracing::warn!(error = %e, "cannot mark media packets with DSCP EF");
        }
    }
    let local = SocketAddr::new(local_ip, socket.local_addr()?.port());
    let mut session = MediaSession::new(
        Instant::now(),
        local,
        &config.codec_preferences,
        config.max_average_bitrate,
        source,
        sink,
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
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(config.call, session, socket, rx, events));
    Ok(tx)
}

async fn run(
    call: CallId,
    mut session: MediaSession,
    socket: UdpSocket,
    mut requests: mpsc::UnboundedReceiver<MediaRequest>,
    events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some((to, data)) = session.poll_transmit() {
            if let Err(e) = socket.send_to(&data, to).await {
                tracing::debug!(error = %e, %to, "media send failed");
            }
        }
        while let Some(ev) = session.poll_event() {
            if events.send((call, ev)).is_err() {
                return;
            }
        }
        if session.is_closed() {
            return;
        }
        let deadline = tokio::time::Instant::from_std(session.poll_timeout());
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => session.receive(Instant::now(), from, &buf[..n]),
                Err(e) => tracing::debug!(error = %e, "media receive failed"),
            },
            request = requests.recv() => match request {
                Some(r) => session.handle_request(r, Instant::now()),
                None => return,
            },
            _ = tokio::time::sleep_until(deadline) => session.handle_timeout(Instant::now()),
        }
    }
}
