//! A call's audio/codec thread: the [`MediaSession`] driven by the sound card's periods.
//!
//! Each capture period is encoded and sent, and the playback period of the same length is
//! pulled from the jitter buffer, so the call runs on the card's clock. Between periods the
//! thread takes the datagrams and requests the tokio side queued (lock-free SPSC rings,
//! preallocated), runs the peer's timers, and hands datagrams to send and events back
//! through one bounded channel. When the card stops delivering, the wait times out and the
//! session's own deadlines keep the call going (see [`super::session`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TrySendError};

use super::audio::AudioPort;
use super::rtc::{LocalCandidate, Transmit};
use super::session::MediaSession;
use crate::core::{MediaEvent, MediaRequest};

/// The largest datagram the call receives (RTP, RTCP, STUN and DTLS fit easily).
pub const MAX_DATAGRAM: usize = 2048;
/// The longest capture period the thread takes at once.
const MAX_PERIOD: Duration = Duration::from_millis(100);
/// The longest wait for a period: requests and datagrams are handled at least this often.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// SCHED_FIFO priority of the thread: below the ALSA threads (40), which must never wait
/// for it, above everything else.
pub const REALTIME_PRIORITY: u8 = 30;

/// A received datagram, by value, so the ring needs no allocation per packet.
#[derive(Clone, Copy)]
pub struct Datagram {
    pub from: SocketAddr,
    /// The candidate base it arrived at: the host socket's address, or a relayed address.
    pub to: SocketAddr,
    len: usize,
    bytes: [u8; MAX_DATAGRAM],
}

impl Datagram {
    /// `None` if `data` is longer than [`MAX_DATAGRAM`].
    pub fn new(from: SocketAddr, to: SocketAddr, data: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; MAX_DATAGRAM];
        bytes.get_mut(..data.len())?.copy_from_slice(data);
        Some(Datagram {
            from,
            to,
            len: data.len(),
            bytes,
        })
    }

    pub fn data(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What the thread hands to the tokio side.
#[derive(Debug)]
pub enum Outbound {
    Transmit(Transmit),
    Event(MediaEvent),
}

/// What the tokio side asks of the session.
#[derive(Debug)]
pub enum Request {
    /// The engine's request.
    Engine(MediaRequest),
    /// The candidates gathered again (before an ICE restart's offer).
    Candidates(Vec<LocalCandidate>),
}

/// The thread's ends of the queues to the tokio side.
pub struct Links {
    pub inbound: rtrb::Consumer<Datagram>,
    pub requests: rtrb::Consumer<Request>,
    pub outbound: mpsc::Sender<Outbound>,
}

/// Starts the thread; it ends when the session closes or the tokio side goes away.
pub fn spawn(
    session: MediaSession,
    port: Box<dyn AudioPort>,
    links: Links,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("call-audio".into())
        .spawn(move || {
            set_realtime(REALTIME_PRIORITY, "call audio");
            let session = run(session, port, links);
            report(&session);
        })
}

/// One line per call on how its audio went, to tell a network's gaps from a card's: a
/// warning when there were gaps.
fn report(session: &MediaSession) {
    let card = session.card_stats();
    let Some(p) = session.playout_stats() else {
        tracing::info!(card_periods = card.periods, "call audio ended before media");
        return;
    };
    let j = p.jitter;
    let summary = format!(
        "card_periods={} card_stalls={} frames={} silent_frames={} dry_runs={} received={} \
         lost={} late={} underruns={} dropped={} skipped={} stretch={:?}",
        card.periods,
        card.stalls,
        p.frames,
        p.silent_frames,
        p.dry_runs,
        j.received,
        j.lost,
        j.late,
        j.underruns,
        j.dropped,
        j.skipped,
        p.stretch
    );
    if p.dry_runs > 0 || card.stalls > 0 {
        tracing::warn!("call audio ended, with gaps: {summary}");
    } else {
        tracing::info!("call audio ended: {summary}");
    }
}

/// Runs the call until it closes or the tokio side goes away; gives the session back.
fn run(mut session: MediaSession, mut port: Box<dyn AudioPort>, mut links: Links) -> MediaSession {
    let max = (port.sample_rate() as u128 * MAX_PERIOD.as_millis() / 1000) as usize;
    let mut mic = vec![0i16; max.max(1)];
    let mut out = vec![0i16; max.max(1)];
    // Events wait here if the channel is full; datagrams are dropped instead (UDP).
    let mut backlog: VecDeque<MediaEvent> = VecDeque::new();
    let mut dropped_datagrams = 0u64;
    loop {
        let wait = session
            .poll_timeout()
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        let n = port.capture(&mut mic, wait);
        let now = Instant::now();
        if n > 0 {
            session.capture(now, &mic[..n]);
            session.playback(now, &mut out[..n]);
            port.play(&out[..n]);
        }
        while let Ok(d) = links.inbound.pop() {
            session.receive(now, d.from, d.to, d.data());
        }
        while let Ok(r) = links.requests.pop() {
            match r {
                Request::Engine(r) => session.handle_request(r, now),
                Request::Candidates(c) => session.replace_candidates(c, now),
            }
        }
        if session.poll_timeout() <= now {
            session.handle_timeout(now);
        }
        while let Some(t) = session.poll_transmit() {
            match links.outbound.try_send(Outbound::Transmit(t)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    dropped_datagrams += 1;
                    if dropped_datagrams.is_power_of_two() {
                        tracing::warn!(dropped_datagrams, "media send queue full");
                    }
                }
                Err(TrySendError::Closed(_)) => return session,
            }
        }
        backlog.extend(std::iter::from_fn(|| session.poll_event()));
        while let Some(e) = backlog.pop_front() {
            match links.outbound.try_send(Outbound::Event(e)) {
                Ok(()) => {}
                Err(TrySendError::Full(Outbound::Event(e))) => {
                    backlog.push_front(e);
                    break;
                }
                Err(_) => return session,
            }
        }
        if (session.is_closed() && backlog.is_empty()) || links.requests.is_abandoned() {
            return session;
        }
    }
}

/// Moves the calling thread to SCHED_FIFO so UI work and builds cannot delay a period;
/// without the right (CAP_SYS_NICE) it keeps normal scheduling and says so once.
pub(crate) fn set_realtime(priority: u8, what: &str) {
    let param = libc::sched_param {
        sched_priority: i32::from(priority.min(99)),
    };
    // SAFETY: plain syscall on the current thread with a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        tracing::debug!("{what} thread at SCHED_FIFO priority {priority}");
    } else {
        tracing::debug!(
            "{what} thread keeps normal scheduling (SCHED_FIFO {priority}: {})",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}
