//! One call's media, sans-IO: the WebRTC peer, codecs, resampling, the playout path, DTMF
//! and the counters behind samples. PCM goes in and out; the time is always a parameter.
//!
//! The sound card's periods drive the audio: [`MediaSession::capture`] takes a capture
//! period (encoded and sent once a 20 ms frame is complete) and [`MediaSession::playback`]
//! fills a playback period from the jitter buffer. Datagrams come in through
//! [`MediaSession::receive`] and go out through [`MediaSession::poll_transmit`];
//! [`MediaSession::handle_timeout`] runs the peer's timers. The shell
//! ([`super::audio_thread`]) calls them; tests run whole calls in virtual time.
//!
//! If the card stops delivering periods, the call goes on: after [`CARD_STALL_AFTER`]
//! without one the session sends silence on its own deadlines (and drains the playout),
//! logs it and counts it in [`CardStats`], until periods come again.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::codec::{self, Decoder, Encoder};
use super::dtmf::{DtmfScheduler, EventSender};
use super::jitter::StreamSplice;
use super::playout::{Downlink, PlayoutStats};
use super::resample::Resampler;
use super::rtc::{IceState, LocalCandidate, Negotiated, Peer, PeerOutput, RtcFailure, Transmit};
use super::states::PeerStates;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{Codec, PeerState};
use crate::quality::RawStats;

/// One codec frame.
const TICK: Duration = Duration::from_millis(20);
/// No capture period for this long: the card has stopped; the session stands in for it.
pub const CARD_STALL_AFTER: Duration = Duration::from_millis(200);
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

/// How the sound card has kept up with the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CardStats {
    /// Capture periods received.
    pub periods: u64,
    /// Times the card stopped delivering periods.
    pub stalls: u64,
    /// 20 ms frames of silence the session sent in its place.
    pub stand_in_frames: u64,
}

pub struct MediaSession {
    peer: Peer,
    /// The sound card's rate, both ways.
    card_rate: u32,
    bitrate: Option<u32>,
    negotiated: Option<Negotiated>,
    encoder: Option<Encoder>,
    up: Option<Resampler>,
    /// One codec frame of microphone, reused.
    frame: Vec<i16>,
    /// Its encoded payload, reused (room for the longest Opus packet).
    payload: Vec<u8>,
    downlink: Option<Downlink<Decoder>>,
    dtmf: DtmfScheduler,
    /// The RFC 4733 event being sent, with its RTP time at the telephone-event's clock.
    sounding: Option<(EventSender, u64)>,
    splice: StreamSplice,
    muted: bool,
    rtp_time: u64,
    /// The last capture period (or when audio was set up).
    last_period: Option<Instant>,
    /// The card is stalled: the next 20 ms the session sends in its place.
    stand_in: Option<Instant>,
    card: CardStats,
    next_volume: Instant,
    next_stats: Instant,
    peer_timeout: Instant,
    transmit: VecDeque<Transmit>,
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
    states: PeerStates,
}

impl MediaSession {
    /// A session without candidates: add them with [`MediaSession::add_candidate`] before
    /// the first description.
    pub fn new(
        now: Instant,
        prefs: &[Codec],
        bitrate: Option<u32>,
        card_rate: u32,
    ) -> Result<Self, RtcFailure> {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut session = MediaSession {
            peer: Peer::new(now, prefs)?,
            card_rate,
            bitrate,
            negotiated: None,
            encoder: None,
            up: None,
            frame: Vec::new(),
            payload: Vec::with_capacity(codec::MAX_OPUS_PACKET),
            downlink: None,
            dtmf: DtmfScheduler::new(),
            sounding: None,
            splice: StreamSplice::new(),
            muted: false,
            rtp_time: rand::random::<u16>() as u64 * 160,
            last_period: None,
            stand_in: None,
            card: CardStats::default(),
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
            states: PeerStates::default(),
        };
        // Host, server-reflexive and relay candidates follow.
        session.enter(PeerState::Gathering);
        Ok(session)
    }

    /// Reports what a state change changed (the SDK posts each to Insights).
    fn enter(&mut self, state: PeerState) {
        for s in self.states.enter(state) {
            self.events.push_back(MediaEvent::PeerState(s));
        }
    }

    /// A first description carries every candidate (there is no trickle) and the DTLS
    /// fingerprint: gathering is over and the transport exists.
    fn described(&mut self, signaling: PeerState) {
        self.enter(PeerState::GatheringComplete);
        self.enter(signaling);
        self.enter(PeerState::DtlsNew);
    }

    /// Offers one of our candidates (a server-reflexive one that is its own base, as behind
    /// no NAT, is left out: it is the host candidate).
    pub fn add_candidate(&mut self, candidate: LocalCandidate, now: Instant) {
        if let LocalCandidate::Reflexive { mapped, base } = candidate
            && mapped == base
        {
            return;
        }
        match self.peer.add_candidate(candidate) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(?candidate, "redundant candidate left out"),
            Err(e) => tracing::warn!(error = %e, ?candidate, "candidate refused"),
        }
        self.drain_peer(now);
    }

    /// Our candidates become `fresh`, gathered again for an ICE restart (the next
    /// [`MediaRequest::RestartIce`] offers them): the others are discarded.
    pub fn replace_candidates(&mut self, fresh: Vec<LocalCandidate>, now: Instant) {
        let fresh: Vec<LocalCandidate> = fresh
            .into_iter()
            .filter(|c| !matches!(c, LocalCandidate::Reflexive { mapped, base } if mapped == base))
            .collect();
        if let Err(e) = self.peer.replace_candidates(&fresh) {
            tracing::warn!(error = %e, "candidates refused");
        }
        tracing::info!(candidates = ?self.peer.candidates(), "call media gathered its candidates again");
        self.drain_peer(now);
    }

    /// The candidates offered.
    pub fn candidates(&self) -> &[LocalCandidate] {
        self.peer.candidates()
    }

    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn card_stats(&self) -> CardStats {
        self.card
    }

    /// What the playout has done (none before a codec is negotiated).
    pub fn playout_stats(&self) -> Option<PlayoutStats> {
        self.downlink.as_ref().map(|d| d.stats())
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
                Ok(sdp) => {
                    self.described(PeerState::HaveLocalOffer);
                    self.events.push_back(MediaEvent::LocalDescription(sdp));
                }
                Err(e) => self.fail(false, e),
            },
            MediaRequest::AnswerOffer { offer } => match self.peer.accept_offer(&offer) {
                Ok(answer) => {
                    self.described(PeerState::HaveRemoteOffer);
                    self.on_negotiated(now);
                    self.enter(PeerState::Stable);
                    self.events.push_back(MediaEvent::LocalDescription(answer));
                }
                Err(e) => self.fail(true, e),
            },
            MediaRequest::ApplyAnswer { answer } => match self.peer.accept_answer(&answer) {
                Ok(()) => {
                    self.enter(PeerState::Stable);
                    self.on_negotiated(now);
                }
                Err(e) => self.fail(true, e),
            },
            MediaRequest::RestartIce => match self.peer.restart_ice() {
                Ok(sdp) => {
                    self.enter(PeerState::HaveLocalOffer);
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
                for s in self.states.close() {
                    self.events.push_back(MediaEvent::PeerState(s));
                }
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
        if self.negotiated.is_none() {
            // The remote fingerprint and role are in: the DTLS handshake starts.
            self.enter(PeerState::DtlsConnecting);
        }
        let changed = self.negotiated.map(|o| o.codec) != Some(n.codec);
        self.negotiated = Some(n);
        if changed {
            let rate = codec::pcm_rate(n.codec, self.card_rate);
            let clock = codec::codec_rate(n.codec);
            match (
                Encoder::new(n.codec, self.bitrate, rate),
                Decoder::new(n.codec, rate),
            ) {
                (Ok(e), Ok(d)) => {
                    self.encoder = Some(e);
                    self.downlink = Some(Downlink::new(d, rate, clock, self.card_rate));
                }
                (Err(e), _) | (_, Err(e)) => {
                    self.events.push_back(MediaEvent::DescriptionFailed {
                        remote: true,
                        message: e.to_string(),
                    });
                    return;
                }
            }
            self.up = Some(Resampler::new(self.card_rate, rate));
            self.frame = vec![0; codec::frame_samples(rate)];
            // The card watchdog starts with the audio.
            self.last_period.get_or_insert(now);
        }
        if self.restarting {
            self.ice_deadline = Some(now + RESTART_FAILS_AFTER);
        } else if !self.peer.is_connected() {
            // Without a single candidate of ours (relays only, and every TURN server failed)
            // no pair can ever work: ICE fails at once, as gathering "none" does in the SDK.
            let wait = if self.peer.candidates().is_empty() {
                tracing::warn!("no ICE candidate to offer: the media connection cannot be made");
                Duration::ZERO
            } else {
                CONNECT_FAILS_AFTER
            };
            self.ice_deadline = Some(now + wait);
        }
        self.events.push_back(MediaEvent::RemoteApplied {
            codec: n.codec,
            telephone_event: n.telephone_event.is_some(),
        });
    }

    /// A datagram from `from` that arrived at our candidate base `to`.
    pub fn receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if self.closed {
            return;
        }
        if let Err(e) = self.peer.receive(now, from, to, data) {
            tracing::debug!(error = %e, "media input rejected");
        }
        self.drain_peer(now);
    }

    /// When [`MediaSession::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self.peer_timeout.min(self.next_volume).min(self.next_stats);
        if let Some(d) = self
            .stand_in
            .or(self.last_period.map(|p| p + CARD_STALL_AFTER))
        {
            t = t.min(d);
        }
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
        if self.peer_timeout <= now
            && let Err(e) = self.peer.handle_timeout(now)
        {
            tracing::debug!(error = %e, "media timeout");
        }
        self.watch_card(now);
        if self.ice_deadline.is_some_and(|d| d <= now) {
            self.ice_deadline = None;
            self.restarting = false;
            self.enter(PeerState::IceFailed);
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
            jitter_ms: self.downlink.as_ref().map(|d| d.jitter_ms()),
            rtt_ms: self.rtt.map(|r| r.as_secs_f64() * 1000.0),
        }
    }

    /// One capture period from the card (any length, at the card's rate): every complete
    /// 20 ms frame is encoded and sent.
    pub fn capture(&mut self, now: Instant, mic: &[i16]) {
        if self.closed {
            return;
        }
        self.card.periods += 1;
        self.last_period = Some(now);
        if self.stand_in.take().is_some() {
            tracing::info!("the sound card delivers periods again");
        }
        self.take_mic(now, mic);
        self.drain_peer(now);
    }

    /// Fills one playback period (`out`, at the card's rate) from the jitter buffer.
    pub fn playback(&mut self, now: Instant, out: &mut [i16]) {
        match self.downlink.as_mut() {
            Some(d) if !self.closed => d.pull(now, out),
            _ => out.fill(0),
        }
        self.output_peak = self.output_peak.max(super::analysis::peak(out));
    }

    fn take_mic(&mut self, now: Instant, mic: &[i16]) {
        let Some(up) = self.up.as_mut() else {
            return;
        };
        self.input_peak = self.input_peak.max(super::analysis::peak(mic));
        up.push(mic);
        while self
            .up
            .as_mut()
            .is_some_and(|u| u.take_into(&mut self.frame))
        {
            if self.muted {
                self.frame.fill(0);
            }
            self.send_frame(now);
        }
    }

    /// The card has stopped: silence goes out in its place, and the playout is drained, on
    /// the session's own 20 ms deadlines.
    fn watch_card(&mut self, now: Instant) {
        let Some(last) = self.last_period else {
            return;
        };
        if self.stand_in.is_none() && now >= last + CARD_STALL_AFTER {
            self.card.stalls += 1;
            tracing::warn!(
                after_ms = CARD_STALL_AFTER.as_millis() as u64,
                "the sound card stopped delivering periods: the call goes on with silence"
            );
            self.stand_in = Some(last + CARD_STALL_AFTER);
        }
        let mut scratch = [0i16; 960];
        while let Some(at) = self.stand_in.filter(|t| *t <= now) {
            self.card.stand_in_frames += 1;
            self.frame.fill(0);
            self.send_frame(at);
            let n = codec::frame_samples(self.card_rate).min(scratch.len());
            if let Some(d) = self.downlink.as_mut() {
                d.pull(at, &mut scratch[..n]);
            }
            self.stand_in = Some(at + TICK);
        }
    }

    /// Sends `self.frame` (one codec frame), as audio or as the DTMF event sounding.
    fn send_frame(&mut self, now: Instant) {
        let (Some(n), Some(enc)) = (self.negotiated, self.encoder.as_mut()) else {
            return;
        };
        // The RTP clock's ticks per frame, whatever rate the codec takes PCM at.
        let frame_ticks = u64::from(codec::codec_rate(n.codec) / 50);
        if let (Some(tone), Some(te)) = (self.dtmf.poll(now), n.telephone_event) {
            // The event's RTP time is this frame's, counted at the event's own clock.
            let codec_rate = u64::from(codec::codec_rate(n.codec));
            let te_time = self.rtp_time * u64::from(te.clock_rate) / codec_rate;
            self.sounding = Some((EventSender::new(tone, te.clock_rate), te_time));
        }
        // While an event is being sent, its packets go in place of audio.
        let mut sending_event = false;
        if let (Some((sender, te_time)), Some(te)) = (self.sounding.as_mut(), n.telephone_event) {
            sending_event = true;
            if self.peer.is_connected() {
                for packet in sender.packets(now + TICK) {
                    if let Err(e) = self.peer.write_telephone_event(now, te, *te_time, &packet) {
                        tracing::warn!(error = %e, digit = %sender.tone().digit, "cannot send DTMF");
                        break;
                    }
                    self.counters.packets_sent += 1;
                    self.counters.bytes_sent += packet.payload.len() as u64;
                }
            }
            if sender.is_done() {
                self.sounding = None;
            }
        }
        if self.peer.is_connected() && !sending_event {
            match enc.encode_into(&self.frame, &mut self.payload) {
                Ok(()) => {
                    if self
                        .peer
                        .write_audio(now, n.pt, self.rtp_time, &self.payload)
                        .is_ok()
                    {
                        self.counters.packets_sent += 1;
                        self.counters.bytes_sent += self.payload.len() as u64;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "encode failed"),
            }
        }
        self.rtp_time += frame_ticks;
    }

    fn drain_peer(&mut self, now: Instant) {
        loop {
            match self.peer.poll() {
                Ok(PeerOutput::Timeout(t)) => {
                    self.peer_timeout = t.max(now);
                    break;
                }
                Ok(PeerOutput::Transmit(t)) => self.transmit.push_back(t),
                Ok(PeerOutput::Ice(state)) => self.on_ice(state, now),
                Ok(PeerOutput::Connected) => self.enter(PeerState::DtlsConnected),
                Ok(PeerOutput::Audio {
                    ssrc,
                    pt,
                    seq,
                    rtp_time,
                    payload,
                    arrival,
                }) => self.on_audio(ssrc, pt, seq, rtp_time, payload, arrival),
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
        self.enter(match state {
            IceState::Checking => PeerState::IceChecking,
            IceState::Connected => PeerState::IceConnected,
            IceState::Disconnected => PeerState::IceDisconnected,
        });
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

    fn on_audio(
        &mut self,
        ssrc: u32,
        pt: u8,
        seq: u16,
        rtp_time: u32,
        payload: Vec<u8>,
        arrival: Instant,
    ) {
        let Some(n) = self.negotiated else { return };
        if n.telephone_event.is_some_and(|t| t.pt == pt) {
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
        let ticks_per_frame = codec::codec_rate(n.codec) / 50;
        let (seq, rtp_time) = self.splice.map(ssrc, seq, rtp_time, ticks_per_frame);
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
        if let Some(d) = self.downlink.as_mut() {
            d.insert(seq, rtp_time, payload, arrival);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}
