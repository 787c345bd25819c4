//! A WebRTC leg: str0m in ICE-lite mode on its own UDP socket, DTLS-SRTP, Opus/PCMU and
//! RFC 4733 telephone events, speaking Twilio-shaped SDP. The decoded audio it receives is
//! what a `<Record>` on its call records; each telephone event it receives is also a key
//! pressed, for the switch.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use str0m::change::SdpPendingOffer;
use str0m::format::{Codec, CodecExtra};
use str0m::media::{Frequency, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input as RtcInput, Output as RtcOutput, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::audio::{self, FRAME, Frame};
#[cfg(feature = "twilio-crypto")]
use super::dtls;
use super::negotiate;
use super::playback::{PlayOut, Player};
use super::recorder::Recorder;
use super::sdp::GatewaySdp;
use super::stats::unix_ms;
use super::{BRIDGE_QUEUE, BridgeMsg, LegCommand, LegHandle, LegStats, bridge_channel};
use crate::error::LabError;
use crate::switch::{Input, MediaEvent};

/// Binds a socket, negotiates (answering `offer`, or offering) and starts the leg's task.
pub(super) fn spawn(
    leg: &str,
    ip: IpAddr,
    offer: Option<&str>,
    stats: Arc<Mutex<LegStats>>,
    events: mpsc::UnboundedSender<Input>,
) -> Result<(LegHandle, String), LabError> {
    let addr = SocketAddr::new(ip, 0);
    let std_socket = std::net::UdpSocket::bind(addr).map_err(|source| LabError::Bind {
        what: "a media socket",
        addr,
        source,
    })?;
    std_socket.set_nonblocking(true)?;
    let local = std_socket.local_addr()?;
    let config = negotiate::rtc_config();
    #[cfg(feature = "twilio-crypto")]
    let config = {
        let cert = dtls::certificate()?;
        let report = dtls::watch(&cert);
        if let Ok(mut s) = stats.lock() {
            s.dtls = Some(report);
        }
        dtls::twilio_crypto(config, cert)
    };
    let mut rtc = config.build(std::time::Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| LabError::Rtc {
        what: "local candidate",
        source: e.into(),
    })?;
    rtc.add_local_candidate(candidate);
    let mut shaper = GatewaySdp::new(ip, local.port());
    let (sdp, pending, mid) = match offer {
        Some(offer) => (
            negotiate::answer_offer(&mut rtc, &mut shaper, offer)?,
            None,
            None,
        ),
        None => {
            let (sdp, pending, mid) = negotiate::make_offer(&mut rtc, &mut shaper)?;
            (sdp, Some(pending), Some(mid))
        }
    };
    let socket = UdpSocket::from_std(std_socket)?;
    if let Ok(mut s) = stats.lock() {
        s.base.local_addr = Some(local.to_string());
        s.base.client_ice_ufrag = offer.and_then(super::sdp::ice_ufrag).map(String::from);
    }
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (audio_tx, audio_rx) = bridge_channel();
    let task = WebrtcLeg {
        leg: leg.to_string(),
        rtc,
        socket,
        local,
        remote: None,
        shaper,
        pending,
        mid,
        stats,
        events,
        peer: None,
        peer_queue: VecDeque::new(),
        player: None,
        stopped_until: None,
        connected: false,
        send_pt: None,
        opus_encoder: None,
        opus_decoder: None,
        received_pt: None,
        out_samples: 0,
        dtmf_queue: VecDeque::new(),
        next_dtmf_at: Instant::now(),
        tone: None,
        last_event_time: None,
        last_event_start: None,
        partial: Vec::new(),
        recorder: None,
    };
    tokio::spawn(task.run(cmd_rx, audio_rx));
    Ok((
        LegHandle {
            commands: cmd_tx,
            audio_in: audio_tx,
        },
        sdp,
    ))
}

struct WebrtcLeg {
    leg: String,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    shaper: GatewaySdp,
    /// Our offer awaiting the client's answer (legs the lab rings).
    pending: Option<SdpPendingOffer>,
    mid: Option<Mid>,
    stats: Arc<Mutex<LegStats>>,
    events: mpsc::UnboundedSender<Input>,
    peer: Option<mpsc::Sender<BridgeMsg>>,
    peer_queue: VecDeque<Frame>,
    player: Option<Player>,
    stopped_until: Option<Instant>,
    connected: bool,
    send_pt: Option<(Pt, Codec)>,
    opus_encoder: Option<opus::Encoder>,
    opus_decoder: Option<opus::Decoder>,
    received_pt: Option<Pt>,
    /// Samples sent so far (8 kHz), the RTP clock of the outgoing stream.
    out_samples: u64,
    dtmf_queue: VecDeque<(char, Duration)>,
    next_dtmf_at: Instant,
    tone: Option<SendingTone>,
    /// RTP time of the last telephone event seen (repeats share it).
    last_event_time: Option<MediaTime>,
    /// The RTP ticks and arrival of the last event's first packet: the clock the sender
    /// really used is the ticks between two events over the time between them.
    last_event_start: Option<(u64, Instant)>,
    /// Decoded samples not yet forming a whole frame.
    partial: Vec<i16>,
    recorder: Option<Recorder>,
}

impl WebrtcLeg {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<LegCommand>,
        mut audio: mpsc::Receiver<BridgeMsg>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut buf = vec![0u8; 2048];
        while let Some(timeout) = self.drain() {
            let wake = Instant::from_std(timeout);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.receive(&buf[..n], source),
                    Err(e) => tracing::debug!(leg = %self.leg, "media socket: {e}"),
                },
                command = commands.recv() => match command {
                    None | Some(LegCommand::Close) => break,
                    Some(c) => self.command(c),
                },
                Some(msg) = audio.recv() => match msg {
                    BridgeMsg::Audio(frame) => {
                        if self.peer_queue.len() >= BRIDGE_QUEUE {
                            self.peer_queue.pop_front();
                        }
                        self.peer_queue.push_back(frame);
                    }
                    BridgeMsg::Dtmf { digit, duration } => self.dtmf_queue.push_back((digit, duration)),
                },
                _ = tick.tick() => self.tick(),
                _ = tokio::time::sleep_until(wake) => {
                    let now = std::time::Instant::now();
                    if let Err(e) = self.rtc.handle_input(RtcInput::Timeout(now)) {
                        tracing::debug!(leg = %self.leg, "rtc timeout: {e}");
                    }
                }
            }
        }
        self.rtc.disconnect();
        if let Some(p) = self.player.take() {
            let _ = self.events.send(Input::Media(MediaEvent::PlayDone {
                leg: self.leg.clone(),
                token: p.token,
            }));
        }
        self.finish_recording();
    }

    fn finish_recording(&mut self) {
        if let Ok(mut s) = self.stats.lock() {
            s.set_recording(None);
        }
        if let Some(r) = self.recorder.take() {
            let _ = self.events.send(Input::Media(MediaEvent::Recorded {
                leg: self.leg.clone(),
                token: r.token,
                samples: r.finish(),
            }));
        }
    }

    fn is_stopped(&mut self) -> bool {
        match self.stopped_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                self.stopped_until = None;
                if let Ok(mut s) = self.stats.lock() {
                    s.base.media_stopped = false;
                }
                false
            }
            None => false,
        }
    }

    /// Runs str0m until it only waits for time; returns when that is (None: the leg is dead).
    fn drain(&mut self) -> Option<std::time::Instant> {
        let stopped = self.is_stopped();
        loop {
            match self.rtc.poll_output() {
                Ok(RtcOutput::Timeout(t)) => return Some(t),
                Ok(RtcOutput::Transmit(t)) => {
                    if !stopped {
                        let _ = self.socket.try_send_to(&t.contents, t.destination);
                    }
                }
                Ok(RtcOutput::Event(e)) => self.event(e),
                Err(e) => {
                    tracing::warn!(leg = %self.leg, "rtc failed: {e}");
                    return None;
                }
            }
        }
    }

    fn receive(&mut self, data: &[u8], source: SocketAddr) {
        if self.is_stopped() {
            return;
        }
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = RtcInput::Receive(
            std::time::Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if !self.rtc.accepts(&input) {
            return;
        }
        match self.rtc.handle_input(input) {
            // The client's address is learnt from its packets (its offer has no candidates).
            Ok(()) => {
                if self.remote != Some(source) {
                    self.remote = Some(source);
                    if let Ok(mut s) = self.stats.lock() {
                        s.base.remote_addr = Some(source.to_string());
                    }
                }
            }
            Err(e) => tracing::debug!(leg = %self.leg, "bad packet from {source}: {e}"),
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                if let Ok(mut s) = self.stats.lock() {
                    s.base.ice_connected = true;
                }
            }
            Event::IceConnectionStateChange(state) => {
                let up = matches!(
                    state,
                    IceConnectionState::Connected | IceConnectionState::Completed
                );
                if let Ok(mut s) = self.stats.lock() {
                    s.base.ice_connected = up && self.connected;
                }
            }
            Event::MediaAdded(m) if self.mid.is_none() => {
                self.mid = Some(m.mid);
            }
            Event::MediaData(data) => {
                let codec = data.params.spec().codec;
                if let CodecExtra::Tele(ev) = data.codec_extra {
                    let clock = data.params.spec().clock_rate.get();
                    self.telephone_event(data.time, ev, clock);
                    if let Ok(mut s) = self.stats.lock() {
                        s.base.packets_in += 1;
                        s.base.bytes_in += data.data.len() as u64;
                    }
                    return;
                }
                let samples = match codec {
                    Codec::PCMU => data
                        .data
                        .iter()
                        .map(|b| audio::ulaw_decode(*b))
                        .collect::<Vec<i16>>(),
                    Codec::Opus => self.decode_opus(&data.data),
                    _ => return,
                };
                self.received_pt = Some(data.pt);
                if let Ok(mut s) = self.stats.lock() {
                    s.base.packets_in += 1;
                    s.base.bytes_in += data.data.len() as u64;
                    s.base.codec_in = Some(codec_name(codec).into());
                    s.received_audio(&samples);
                }
                self.forward(samples);
            }
            _ => {}
        }
    }

    fn decode_opus(&mut self, packet: &[u8]) -> Vec<i16> {
        if self.opus_decoder.is_none() {
            self.opus_decoder = opus::Decoder::new(audio::RATE, opus::Channels::Mono).ok();
        }
        let Some(decoder) = &mut self.opus_decoder else {
            return Vec::new();
        };
        let mut out = vec![0i16; 960];
        match decoder.decode(packet, &mut out, false) {
            Ok(n) => {
                out.truncate(n);
                out
            }
            Err(_) => Vec::new(),
        }
    }

    /// Sends decoded audio on to the bridged peer in whole frames.
    fn forward(&mut self, samples: Vec<i16>) {
        self.partial.extend(samples);
        while self.partial.len() >= FRAME {
            let frame: Frame = self.partial.drain(..FRAME).collect();
            if let Some(r) = &mut self.recorder {
                r.push(&frame);
                if let Ok(mut s) = self.stats.lock() {
                    s.set_recording(Some(r));
                }
            }
            if let Some(peer) = &self.peer {
                let _ = peer.try_send(BridgeMsg::Audio(frame));
            }
        }
    }

    fn telephone_event(&mut self, time: MediaTime, ev: TelephoneEvent, clock_hz: u32) {
        let new_event = self.last_event_time != Some(time);
        let digit = audio::dtmf_digit(ev.event);
        if new_event {
            self.last_event_time = Some(time);
            let arrived = Instant::now();
            let measured_clock_hz = self.last_event_start.and_then(|(ticks, at)| {
                let seconds = arrived.duration_since(at).as_secs_f64();
                // Too close together to measure against the arrival times' jitter.
                (seconds >= 0.05)
                    .then(|| (time.numer().wrapping_sub(ticks) as f64 / seconds).round() as u32)
            });
            self.last_event_start = Some((time.numer(), arrived));
            if let (Some(d), Ok(mut s)) = (digit, self.stats.lock()) {
                s.dtmf_started(d, "rfc4733", Some(clock_hz), unix_ms());
                if let Some(last) = s.base.dtmf.last_mut() {
                    last.measured_clock_hz = measured_clock_hz;
                }
            }
            if let Some(digit) = digit {
                let _ = self.events.send(Input::Media(MediaEvent::Dtmf {
                    leg: self.leg.clone(),
                    digit,
                }));
            }
        }
        if ev.end {
            let mut first_end = false;
            if let Ok(mut s) = self.stats.lock() {
                let before = s.base.dtmf.last().and_then(|d| d.duration_ms);
                s.dtmf_ended(ev.duration.as_millis() as u32);
                first_end = before.is_none();
            }
            if first_end && let (Some(d), Some(peer)) = (digit, &self.peer) {
                let _ = peer.try_send(BridgeMsg::Dtmf {
                    digit: d,
                    duration: ev.duration,
                });
            }
        }
    }

    fn command(&mut self, command: LegCommand) {
        match command {
            LegCommand::AcceptAnswer(answer) => {
                let result = self.accept_answer(&answer);
                let _ = self.events.send(Input::Media(MediaEvent::AnswerApplied {
                    leg: self.leg.clone(),
                    result,
                }));
            }
            LegCommand::Reinvite(offer) => {
                let result = self.reinvite(&offer);
                let _ = self.events.send(Input::Media(MediaEvent::ReinviteAnswered {
                    leg: self.leg.clone(),
                    result,
                }));
            }
            LegCommand::SetPeer(peer) => {
                self.peer = peer;
                self.peer_queue.clear();
            }
            LegCommand::Play {
                token,
                items,
                loops,
            } => {
                if let Some(old) = self.player.replace(Player::new(token, items, loops)) {
                    self.play_done(old.token);
                }
            }
            LegCommand::Resolved { token, items } => {
                if let Some(player) = self.player.as_mut().filter(|p| p.token == token) {
                    player.resolve(items);
                }
            }
            LegCommand::StopPlayback => {
                if let Some(old) = self.player.take() {
                    self.play_done(old.token);
                }
            }
            LegCommand::ForwardDtmf(digits) => {
                for d in digits.chars().filter(|c| audio::dtmf_event(*c).is_some()) {
                    self.dtmf_queue.push_back((d, Duration::from_millis(160)));
                }
            }
            LegCommand::StopMedia(d) => {
                self.stopped_until = Some(Instant::now() + d);
                if let Ok(mut s) = self.stats.lock() {
                    s.base.media_stopped = true;
                }
            }
            LegCommand::SwitchSsrc => self.switch_ssrc(),
            LegCommand::StartRecording(recorder) => {
                self.finish_recording();
                if let Ok(mut s) = self.stats.lock() {
                    s.set_recording(Some(&recorder));
                }
                self.recorder = Some(recorder);
            }
            LegCommand::StopRecording(token) => {
                if self.recorder.as_ref().is_some_and(|r| r.token == token) {
                    self.finish_recording();
                }
            }
            // A client presses its own keys.
            LegCommand::SendDigits(_) | LegCommand::Close => {}
        }
    }

    fn play_done(&self, token: u64) {
        let _ = self.events.send(Input::Media(MediaEvent::PlayDone {
            leg: self.leg.clone(),
            token,
        }));
    }

    fn accept_answer(&mut self, answer: &str) -> Result<(), LabError> {
        let pending = self
            .pending
            .take()
            .ok_or(LabError::Media("no offer is waiting for an answer"))?;
        let mid = self.mid.ok_or(LabError::Media("no media line"))?;
        negotiate::apply_answer(&mut self.rtc, pending, mid, answer)
            .inspect_err(|why| {
                tracing::warn!(leg = %self.leg, "failing the leg: {why}");
            })
            .inspect(|()| self.note_client_ufrag(answer, false))
    }

    /// An ICE-restart offer from the client: answer it.
    fn reinvite(&mut self, offer: &str) -> Result<String, LabError> {
        let answer = negotiate::answer_offer(&mut self.rtc, &mut self.shaper, offer)?;
        self.note_client_ufrag(offer, true);
        Ok(answer)
    }

    /// Records the client's ICE credentials from its description; a `reinvite` that
    /// changed them restarted ICE.
    fn note_client_ufrag(&mut self, sdp: &str, reinvite: bool) {
        let Some(ufrag) = super::sdp::ice_ufrag(sdp) else {
            return;
        };
        if let Ok(mut s) = self.stats.lock() {
            let changed = s.base.client_ice_ufrag.as_deref() != Some(ufrag);
            if reinvite && changed {
                s.base.ice_restarts += 1;
                tracing::info!(leg = %self.leg, ufrag, "the client restarted ICE");
            }
            s.base.client_ice_ufrag = Some(ufrag.to_string());
        }
    }

    /// Every 20 ms: one frame of audio (and any due DTMF event) to the client.
    fn tick(&mut self) {
        if self.recorder.as_mut().is_some_and(Recorder::tick) {
            self.finish_recording();
        }
        let frame = match &mut self.player {
            Some(player) => match player.next_frame() {
                PlayOut::Audio(f) => Some(f),
                PlayOut::Dtmf {
                    digit,
                    duration,
                    frame,
                } => {
                    self.dtmf_queue.push_front((digit, duration));
                    Some(frame)
                }
                PlayOut::Done => {
                    let token = player.token;
                    self.player = None;
                    self.play_done(token);
                    None
                }
            },
            None => None,
        };
        let frame = frame
            .or_else(|| self.peer_queue.pop_front())
            .unwrap_or_else(|| vec![0; FRAME]);
        if !self.connected || self.is_stopped() {
            return;
        }
        self.send_frame(&frame);
    }

    fn choose_codec(&mut self) -> Option<(Pt, Codec)> {
        let mid = self.mid?;
        let writer = self.rtc.writer(mid)?;
        let params: Vec<(Pt, Codec)> = writer
            .payload_params()
            .map(|p| (p.pt(), p.spec().codec))
            .collect();
        // Answer in the codec the client sends; before it sends, PCMU (the SDK's preference).
        let received = self
            .received_pt
            .and_then(|pt| params.iter().find(|(p, _)| *p == pt).copied());
        received
            .or_else(|| params.iter().find(|(_, c)| *c == Codec::PCMU).copied())
            .or_else(|| params.iter().find(|(_, c)| *c == Codec::Opus).copied())
    }

    fn send_frame(&mut self, frame: &[i16]) {
        let Some(mid) = self.mid else { return };
        let chosen = self.choose_codec();
        if chosen != self.send_pt {
            self.send_pt = chosen;
            if let (Some((_, codec)), Ok(mut s)) = (chosen, self.stats.lock()) {
                s.base.codec_out = Some(codec_name(codec).into());
            }
        }
        let Some((pt, codec)) = self.send_pt else {
            return;
        };
        let (payload, rtp_time) = match codec {
            Codec::PCMU => (
                frame
                    .iter()
                    .map(|s| audio::ulaw_encode(*s))
                    .collect::<Vec<u8>>(),
                MediaTime::new(self.out_samples, Frequency::EIGHT_KHZ),
            ),
            Codec::Opus => {
                if self.opus_encoder.is_none() {
                    self.opus_encoder = opus::Encoder::new(
                        audio::RATE,
                        opus::Channels::Mono,
                        opus::Application::Voip,
                    )
                    .ok();
                }
                let Some(encoder) = &mut self.opus_encoder else {
                    return;
                };
                let Ok(bytes) = encoder.encode_vec(frame, 400) else {
                    return;
                };
                (
                    bytes,
                    MediaTime::new(self.out_samples * 6, Frequency::FORTY_EIGHT_KHZ),
                )
            }
            _ => return,
        };
        let rtp_now = self.out_samples;
        self.out_samples += frame.len() as u64;
        let now = std::time::Instant::now();
        if self.tone.is_none()
            && let Some(&(digit, duration)) = self.dtmf_queue.front()
            && Instant::now() >= self.next_dtmf_at
        {
            self.dtmf_queue.pop_front();
            self.next_dtmf_at = Instant::now() + duration + Duration::from_millis(80);
            self.tone = self.telephone_event_pt().and_then(|(te_pt, clock)| {
                Some(SendingTone {
                    event: audio::dtmf_event(digit)?,
                    pt: te_pt,
                    clock,
                    // 8 kHz samples → the event's clock.
                    rtp_time: rtp_now * u64::from(clock) / 8000,
                    elapsed: Duration::ZERO,
                    duration,
                    marker: true,
                })
            });
        }
        // A tone goes out as RFC 4733 packets in place of the audio frame.
        let (pt, rtp_time, payloads, marker) = match self.tone.as_mut() {
            Some(tone) => {
                tone.elapsed += Duration::from_millis(20);
                let (payloads, marker) = tone.packets();
                let pt = tone.pt;
                let time = MediaTime::new(
                    tone.rtp_time,
                    Frequency::new(tone.clock).unwrap_or(Frequency::EIGHT_KHZ),
                );
                if tone.elapsed >= tone.duration {
                    self.tone = None;
                }
                (pt, time, payloads, marker)
            }
            None => (pt, rtp_time, vec![payload], false),
        };
        for payload in payloads {
            let Some(w) = self.rtc.writer(mid) else {
                return;
            };
            let len = payload.len();
            match w
                .start_of_talkspurt(marker)
                .write(pt, now, rtp_time, payload)
            {
                Ok(()) => {
                    if let Ok(mut s) = self.stats.lock() {
                        s.base.packets_out += 1;
                        s.base.bytes_out += len as u64;
                    }
                }
                Err(e) => tracing::debug!(leg = %self.leg, "write failed: {e}"),
            }
        }
    }

    /// The telephone-event the client accepted: at 8 kHz, as Twilio offers it for every codec.
    fn telephone_event_pt(&mut self) -> Option<(Pt, u32)> {
        let mid = self.mid?;
        let writer = self.rtc.writer(mid)?;
        writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Tele)
            .map(|p| (p.pt(), p.spec().clock_rate.get()))
    }

    /// A new SSRC, sequence and RTP time base for what the leg sends (a re-bridge).
    fn switch_ssrc(&mut self) {
        let Some(mid) = self.mid else { return };
        let ssrc: u32 = rand::random();
        if self
            .rtc
            .direct_api()
            .reset_stream_tx(mid, None, ssrc.into(), None)
            .is_some()
        {
            self.out_samples = self
                .out_samples
                .wrapping_add(u64::from(rand::random::<u32>()));
            tracing::info!(leg = %self.leg, ssrc, "switched the leg's RTP to a new SSRC");
            if let Ok(mut s) = self.stats.lock() {
                s.base.ssrc_switches += 1;
            }
        }
    }
}

/// An RFC 4733 event the lab is sending, written here independently of the client's code.
struct SendingTone {
    event: u8,
    pt: Pt,
    clock: u32,
    /// The event's start at its own clock: every packet of the event carries it.
    rtp_time: u64,
    elapsed: Duration,
    duration: Duration,
    marker: bool,
}

impl SendingTone {
    /// This frame's packets (one update, or the end three times) and its marker bit.
    fn packets(&mut self) -> (Vec<Vec<u8>>, bool) {
        let end = self.elapsed >= self.duration;
        let lasted = self.elapsed.min(self.duration);
        let units = (lasted.as_millis() as u64 * u64::from(self.clock) / 1000).min(0xFFFF) as u16;
        let [d0, d1] = units.to_be_bytes();
        let packet = vec![self.event, if end { 0x80 | 10 } else { 10 }, d0, d1];
        let marker = std::mem::take(&mut self.marker);
        (vec![packet; if end { 3 } else { 1 }], marker)
    }
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::PCMU => "PCMU",
        Codec::Opus => "opus",
        Codec::Tele => "telephone-event",
        _ => "other",
    }
}
