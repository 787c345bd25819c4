//! One call's media, sans-IO: the WebRTC peer, codecs, resampling, the jitter buffer, DTMF
//! and the counters behind samples, driven by datagrams, 20 ms ticks and a clock.
//!
//! The shell ([`super::task`]) owns the UDP socket and calls [`MediaSession::receive`],
//! [`MediaSession::handle_timeout`] and [`MediaSession::poll_transmit`]; everything else
//! happens here, so tests can run a whole call in virtual time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::audio::{AudioSink, AudioSource};
use super::codec::{self, Decoder, Encoder};
use super::dtmf::{DtmfScheduler, DtmfTone};
use super::jitter::{JitterBuffer, Playout};
use super::resample::Resampler;
use super::rtc::{IceState, Negotiated, Peer, PeerOutput, RtcFailure};
use crate::core::{MediaEvent, MediaRequest};
use crate::model::Codec;
use crate::quality::RawStats;

const TICK: Duration = Duration::from_millis(20);
const VOLUME_INTERVAL: Duration = Duration::from_millis(50);
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// ICE that stays disconnected this long has failed (an end of an ICE cycle).
const DISCONNECTED_FAILS_AFTER: Duration = Duration::from_secs(10);
/// An ICE restart that has not connected after this long has failed.
const RESTART_FAILS_AFTER: Duration = Duration::from_secs(5);
/// ICE that never connects after the answer has failed.
const CONNECT_FAILS_AFTER: Duration = Duration::from_secs(15);

/// An RFC 4733 event received (first packet of each event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDtmf {
    pub event: u8,
    pub rtp_time: u32,
    pub arrival: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    pub packets_lost: u64,
    highest_seq: Option<u64>,
}

pub struct MediaSession {
    peer: Peer,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    bitrate: Option<u32>,
    negotiated: Option<Negotiated>,
    encoder: Option<Encoder>,
    decoder: Option<Decoder>,
    jitter: Option<JitterBuffer>,
    up: Option<Resampler>,
    down: Option<Resampler>,
    dtmf: DtmfScheduler,
    sounding: Option<DtmfTone>,
    muted: bool,
    rtp_time: u64,
    next_tick: Instant,
    next_volume: Instant,
    next_stats: Instant,
    peer_timeout: Instant,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<MediaEvent>,
    counters: Counters,
    rtt: Option<Duration>,
    ice: IceState,
    ice_deadline: Option<Instant>,
    restarting: bool,
    input_peak: u32,
    output_peak: u32,
    closed: bool,
    started: Instant,
    epoch_ms: u64,
    received_dtmf: Vec<ReceivedDtmf>,
}

impl MediaSession {
    pub fn new(
        now: Instant,
        local: SocketAddr,
        prefs: &[Codec],
        bitrate: Option<u32>,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<Self, RtcFailure> {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ok(MediaSession {
            peer: Peer::new(now, local, prefs)?,
            source,
            sink,
            bitrate,
            negotiated: None,
            encoder: None,
            decoder: None,
            jitter: None,
            up: None,
            down: None,
            dtmf: DtmfScheduler::new(),
            sounding: None,
            muted: false,
            rtp_time: rand::random::<u16>() as u64 * 160,
            next_tick: now + TICK,
            next_volume: now + VOLUME_INTERVAL,
            next_stats: now + STATS_INTERVAL,
            peer_timeout: now,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            rtt: None,
            ice: IceState::Checking,
            ice_deadline: None,
            restarting: false,
            input_peak: 0,
            output_peak: 0,
            closed: false,
            started: now,
            epoch_ms,
            received_dtmf: Vec::new(),
        })
    }

    /// Offers our public address (from STUN) besides the host candidate.
    pub fn add_reflexive(&mut self, mapped: SocketAddr, now: Instant) {
        if mapped == self.peer.local_addr() {
            return;
        }
        if let Err(e) = self.peer.add_reflexive(mapped) {
            tracing::warn!(error = %e, %mapped, "server-reflexive candidate refused");
        }
        self.drain_peer(now);
    }

    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// RFC 4733 events the far end sent, in arrival order.
    pub fn received_dtmf(&self) -> &[ReceivedDtmf] {
        &self.received_dtmf
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Carries out a request from the engine; results arrive as events.
    pub fn handle_request(&mut self, request: MediaRequest, now: Instant) {
        if self.closed {
            return;
        }
        match request {
            MediaRequest::CreateOffer => match self.peer.create_offer() {
                Ok(sdp) => self.events.push_back(MediaEvent::LocalDescription(sdp)),
                Err(e) => self.fail(false, e),
            },
            MediaRequest::AnswerOffer { offer } => match self.peer.accept_offer(&offer) {
                Ok(answer) => {
                    self.on_negotiated(now);
                    self.events.push_back(MediaEvent::LocalDescription(answer));
                }
                Err(e) => self.fail(true, e),
            },
            MediaRequest::ApplyAnswer { answer } => match self.peer.accept_answer(&answer) {
                Ok(()) => self.on_negotiated(now),
                Err(e) => self.fail(true, e),
            },
            MediaRequest::RestartIce => match self.peer.restart_ice() {
                Ok(sdp) => {
                    self.restarting = true;
                    self.ice_deadline = None;
                    self.events.push_back(MediaEvent::LocalDescription(sdp));
                }
                Err(e) => self.fail(false, e),
            },
            MediaRequest::Mute(m) => self.muted = m,
            MediaRequest::SendDigits(digits) => self.dtmf.enqueue(&digits, now),
            MediaRequest::Close => {
                self.peer.close();
                self.closed = true;
            }
        }
        self.drain_peer(now);
    }

    fn fail(&mut self, remote: bool, e: RtcFailure) {
        self.events.push_back(MediaEvent::DescriptionFailed {
            remote,
            message: e.to_string(),
        });
    }

    fn on_negotiated(&mut self, now: Instant) {
        let Some(n) = self.peer.negotiated() else {
            return;
        };
        let changed = self.negotiated.map(|o| o.codec) != Some(n.codec);
        self.negotiated = Some(n);
        if changed {
            let rate = codec::codec_rate(n.codec);
            match (Encoder::new(n.codec, self.bitrate), Decoder::new(n.codec)) {
                (Ok(e), Ok(d)) => {
                    self.encoder = Some(e);
                    self.decoder = Some(d);
                }
                (Err(e), _) | (_, Err(e)) => {
                    self.events.push_back(MediaEvent::DescriptionFailed {
                        remote: true,
                        message: e.to_string(),
                    });
                    return;
                }
            }
            self.jitter = Some(JitterBuffer::new(rate));
            self.up = Some(Resampler::new(self.source.sample_rate(), rate));
            self.down = Some(Resampler::new(rate, self.sink.sample_rate()));
        }
        if self.restarting {
            self.ice_deadline = Some(now + RESTART_FAILS_AFTER);
        } else if !self.peer.is_connected() {
            self.ice_deadline = Some(now + CONNECT_FAILS_AFTER);
        }
        self.events.push_back(MediaEvent::RemoteApplied {
            codec: n.codec,
            telephone_event: n.telephone_event,
        });
    }

    pub fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if self.closed {
            return;
        }
        if let Err(e) = self.peer.receive(now, from, data) {
            tracing::debug!(error = %e, "media input rejected");
        }
        self.drain_peer(now);
    }

    /// When [`MediaSession::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self
            .next_tick
            .min(self.peer_timeout)
            .min(self.next_volume)
            .min(self.next_stats);
        if let Some(d) = self.ice_deadline {
            t = t.min(d);
        }
        if let Some(d) = self.dtmf.next_start() {
            t = t.min(d);
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.peer_timeout <= now {
            if let Err(e) = self.peer.handle_timeout(now) {
                tracing::debug!(error = %e, "media timeout");
            }
        }
        while self.next_tick <= now {
            let at = self.next_tick;
            self.tick(at);
            self.next_tick += TICK;
        }
        if self.ice_deadline.is_some_and(|d| d <= now) {
            self.ice_deadline = None;
            self.restarting = false;
            self.events.push_back(MediaEvent::IceFailed);
        }
        if self.next_volume <= now {
            self.next_volume = now + VOLUME_INTERVAL;
            self.events.push_back(MediaEvent::Volume {
                input_level: self.input_peak as f64,
                output_level: self.output_peak as f64,
            });
            self.input_peak = 0;
            self.output_peak = 0;
        }
        if self.next_stats <= now {
            self.next_stats += STATS_INTERVAL;
            if self.negotiated.is_some() {
                let stats = self.raw_stats(now);
                self.events.push_back(MediaEvent::Stats(stats));
            }
        }
        self.drain_peer(now);
    }

    fn raw_stats(&self, now: Instant) -> RawStats {
        RawStats {
            timestamp_ms: self.epoch_ms
                + now.saturating_duration_since(self.started).as_millis() as u64,
            codec_name: self
                .negotiated
                .map(|n| n.codec.stats_name().to_string())
                .unwrap_or_default(),
            bytes_sent: self.counters.bytes_sent,
            bytes_received: self.counters.bytes_received,
            packets_sent: self.counters.packets_sent,
            packets_received: self.counters.packets_received,
            packets_lost: self.counters.packets_lost,
            jitter_ms: self.jitter.as_ref().map(|j| j.jitter_ms()),
            rtt_ms: self.rtt.map(|r| r.as_secs_f64() * 1000.0),
        }
    }

    /// 20 ms of audio each way.
    fn tick(&mut self, now: Instant) {
        let (Some(n), Some(enc), Some(up)) =
            (self.negotiated, self.encoder.as_mut(), self.up.as_mut())
        else {
            return;
        };
        let in_rate = self.source.sample_rate();
        let mut mic = vec![0i16; codec::frame_samples(in_rate)];
        let got = self.source.read(&mut mic);
        if !got {
            mic.fill(0);
        }
        self.input_peak = self.input_peak.max(super::analysis::peak(&mic));
        if self.muted {
            mic.fill(0);
        }
        up.push(&mic);
        let frame_len = codec::frame_samples(codec::codec_rate(n.codec));
        let pcm = up.take(frame_len).unwrap_or_else(|| vec![0; frame_len]);
        if let Some(tone) = self.dtmf.poll(now) {
            if n.telephone_event {
                if let Err(e) =
                    self.peer
                        .write_dtmf(now, n.pt, self.rtp_time, tone.event, tone.duration)
                {
                    tracing::warn!(error = %e, digit = %tone.digit, "cannot send DTMF");
                }
            }
            self.sounding = Some(tone);
        }
        let tone_on = self.sounding.is_some_and(|t| now < t.start + t.duration);
        if self.peer.is_connected() && !tone_on {
            match enc.encode(&pcm) {
                Ok(payload) => {
                    if self
                        .peer
                        .write_audio(now, n.pt, self.rtp_time, &payload)
                        .is_ok()
                    {
                        self.counters.packets_sent += 1;
                        self.counters.bytes_sent += payload.len() as u64;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "encode failed"),
            }
        }
        self.rtp_time += frame_len as u64;
        self.play(now);
    }

    fn play(&mut self, now: Instant) {
        let (Some(jb), Some(dec), Some(down)) = (
            self.jitter.as_mut(),
            self.decoder.as_mut(),
            self.down.as_mut(),
        ) else {
            return;
        };
        let frame_len = codec::frame_samples(codec::codec_rate(dec.codec()));
        let pcm = match jb.pop(now) {
            Playout::Buffering => vec![0; frame_len],
            Playout::Frame(payload) => dec.decode(&payload).unwrap_or_else(|_| dec.conceal(None)),
            Playout::Lost { next } => dec.conceal(next.as_deref()),
        };
        down.push(&pcm);
        let out_len = codec::frame_samples(self.sink.sample_rate());
        let out = down.take(out_len).unwrap_or_else(|| vec![0; out_len]);
        self.output_peak = self.output_peak.max(super::analysis::peak(&out));
        self.sink.write(&out);
    }

    fn drain_peer(&mut self, now: Instant) {
        loop {
            match self.peer.poll() {
                Ok(PeerOutput::Timeout(t)) => {
                    self.peer_timeout = t.max(now);
                    break;
                }
                Ok(PeerOutput::Transmit { to, data }) => self.transmit.push_back((to, data)),
                Ok(PeerOutput::Ice(state)) => self.on_ice(state, now),
                Ok(PeerOutput::Connected) => {}
                Ok(PeerOutput::Audio {
                    pt,
                    seq,
                    rtp_time,
                    payload,
                    arrival,
                }) => self.on_audio(pt, seq, rtp_time, payload, arrival),
                Ok(PeerOutput::Rtt(rtt)) => self.rtt = Some(rtt),
                Err(e) => {
                    tracing::warn!(error = %e, "media engine error");
                    self.peer_timeout = now + Duration::from_millis(50);
                    break;
                }
            }
        }
    }

    fn on_ice(&mut self, state: IceState, now: Instant) {
        if state == self.ice {
            return;
        }
        self.ice = state;
        match state {
            IceState::Connected => {
                self.ice_deadline = None;
                self.restarting = false;
                self.events.push_back(MediaEvent::IceConnected);
            }
            IceState::Disconnected => {
                if !self.restarting {
                    self.ice_deadline = Some(now + DISCONNECTED_FAILS_AFTER);
                }
                self.events.push_back(MediaEvent::IceDisconnected);
            }
            IceState::Checking => {}
        }
    }

    fn on_audio(&mut self, pt: u8, seq: u16, rtp_time: u32, payload: Vec<u8>, arrival: Instant) {
        let Some(n) = self.negotiated else { return };
        if Some(pt) == n.telephone_event_pt {
            // One event is several packets with the same RTP time: keep the first.
            if payload.len() >= 4 && !self.received_dtmf.iter().any(|d| d.rtp_time == rtp_time) {
                self.received_dtmf.push(ReceivedDtmf {
                    event: payload[0],
                    rtp_time,
                    arrival,
                });
            }
            return;
        }
        if pt != n.pt {
            return; // an unexpected codec: not audio we play
        }
        let ext = super::jitter::extend_seq(self.counters.highest_seq, seq);
        let c = &mut self.counters;
        c.packets_received += 1;
        c.bytes_received += payload.len() as u64;
        match c.highest_seq {
            None => c.highest_seq = Some(ext),
            Some(h) if ext > h => {
                c.packets_lost += ext - h - 1;
                c.highest_seq = Some(ext);
            }
            Some(_) => c.packets_lost = c.packets_lost.saturating_sub(1),
        }
        if let Some(jb) = self.jitter.as_mut() {
            jb.insert(seq, rtp_time, payload, arrival);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}
