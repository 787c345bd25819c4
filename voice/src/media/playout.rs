//! The receive half of a call's audio, pulled by the playback period: the jitter buffer,
//! the decoder, drift compensation ([`super::stretch`]) and resampling to the card's rate.
//!
//! Each 20 ms codec frame: [`DriftControl`] compares the buffered level with the jitter
//! buffer's target and asks for a pitch period less (accelerate, the buffer runs high) or
//! more (expand, it runs low); losses are concealed by the decoder (Opus FEC/PLC, PCMU
//! repetition). When the buffer runs dry the last sound fades out over a frame and silence
//! follows; when audio comes back it fades in ([`FADE_IN_MS`]), so neither end of a gap is
//! a step. Nothing here allocates per period except what the codec and resampler return.

use std::collections::VecDeque;
use std::time::Instant;

use super::codec::{self, Decoder};
use super::jitter::{JitterBuffer, JitterStats, Playout};
use super::resample::Resampler;
use super::stretch::{DriftControl, StretchStats, TimeStretch};

/// Length of the ramp from silence back to sound.
pub const FADE_IN_MS: u32 = 10;

/// 20 ms of PCM at the codec rate for the playout path: the call's decoder, or a test's.
pub trait FrameDecoder {
    /// Replaces `out` with the decoded payload (concealment if it does not decode).
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>);
    /// Replaces `out` with a frame in place of a lost one (`next`: the following payload).
    fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>);
}

impl FrameDecoder for Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        if self.decode_into(payload, out).is_err() {
            self.conceal_into(None, out);
        }
    }

    fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>) {
        self.conceal_into(next, out);
    }
}

/// What the playout did, for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayoutStats {
    /// Codec frames played (sound or silence).
    pub frames: u64,
    /// Frames of silence while the buffer was empty or refilling.
    pub silent_frames: u64,
    /// Times the buffer ran dry while sound was playing (each faded out).
    pub dry_runs: u64,
    pub stretch: StretchStats,
    pub jitter: JitterStats,
}

/// Whether sound is playing or the path has faded to silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sound {
    Playing,
    Silent,
}

pub struct Downlink<D> {
    jitter: JitterBuffer,
    decoder: D,
    stretch: TimeStretch,
    control: DriftControl,
    /// Codec rate to the card's; `None` when they are the same.
    resampler: Option<Resampler>,
    /// Codec samples per ms.
    per_ms: usize,
    decoded: Vec<i16>,
    frame: Vec<i16>,
    /// Card-rate samples waiting for the next playback periods.
    ready: VecDeque<i16>,
    sound: Sound,
    /// Samples of fade-in still to apply to newly decoded audio.
    fade_in_left: usize,
    frames: u64,
    silent_frames: u64,
    dry_runs: u64,
}

impl<D: FrameDecoder> Downlink<D> {
    /// `codec_rate`: the rate the decoder gives PCM at; `clock_rate`: the RTP clock's;
    /// `card_rate`: the playback period's.
    pub fn new(decoder: D, codec_rate: u32, clock_rate: u32, card_rate: u32) -> Self {
        let stretch = TimeStretch::new(codec_rate);
        let frame_len = stretch.frame_len();
        Downlink {
            jitter: JitterBuffer::for_time_stretch(clock_rate),
            decoder,
            stretch,
            control: DriftControl::new(),
            resampler: (codec_rate != card_rate).then(|| Resampler::new(codec_rate, card_rate)),
            per_ms: (codec_rate / 1000).max(1) as usize,
            decoded: Vec::with_capacity(frame_len),
            frame: vec![0; frame_len],
            ready: VecDeque::with_capacity(codec::frame_samples(card_rate) * 4),
            sound: Sound::Silent,
            fade_in_left: 0,
            frames: 0,
            silent_frames: 0,
            dry_runs: 0,
        }
    }

    /// A received packet (after the stream splice).
    pub fn insert(&mut self, seq: u16, rtp_time: u32, payload: Vec<u8>, arrival: Instant) {
        self.jitter.insert(seq, rtp_time, payload, arrival);
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter.jitter_ms()
    }

    /// The delay the jitter buffer aims for, in ms.
    pub fn target_ms(&self) -> f64 {
        self.jitter.target_delay().as_secs_f64() * 1000.0
    }

    /// Buffered audio ahead of the playout point, in ms (packets and decoded samples).
    pub fn level_ms(&self) -> f64 {
        self.jitter.buffered_frames() as f64 * 20.0
            + self.stretch.pending_samples() as f64 / self.per_ms as f64
    }

    pub fn stats(&self) -> PlayoutStats {
        PlayoutStats {
            frames: self.frames,
            silent_frames: self.silent_frames,
            dry_runs: self.dry_runs,
            stretch: self.stretch.stats(),
            jitter: self.jitter.stats(),
        }
    }

    /// Fills one playback period (`out`, at the card's rate).
    pub fn pull(&mut self, now: Instant, out: &mut [i16]) {
        while self.ready.len() < out.len() {
            self.next_frame(now);
            match self.resampler.as_mut() {
                Some(r) => {
                    r.push(&self.frame);
                    r.drain_into(&mut self.ready);
                }
                None => self.ready.extend(&self.frame),
            }
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
    }

    /// Makes the next codec frame in `self.frame`.
    fn next_frame(&mut self, now: Instant) {
        self.frames += 1;
        let decision = self.control.decide(self.level_ms(), self.target_ms());
        while self.stretch.wants_input(decision) {
            // Look-ahead for a stretch must not drain the buffer into an underrun.
            if !self.stretch.needs_input() && self.jitter.buffered_frames() <= 1 {
                break;
            }
            match self.jitter.pop(now) {
                Playout::Buffering => break,
                Playout::Frame(payload) => self.decoder.decode(&payload, &mut self.decoded),
                Playout::Lost { next } => self.decoder.conceal(next.as_deref(), &mut self.decoded),
            }
            self.take_decoded();
        }
        if self.stretch.needs_input() && self.sound == Sound::Playing {
            // Dry: the decoder's concealment, faded to zero over one frame, then silence.
            self.dry_runs += 1;
            self.decoder.conceal(None, &mut self.decoded);
            let n = self.decoded.len().max(1) as f32;
            for (i, s) in self.decoded.iter_mut().enumerate() {
                *s = (*s as f32 * (1.0 - (i + 1) as f32 / n)) as i16;
            }
            self.stretch.push(&self.decoded);
            self.sound = Sound::Silent;
        }
        if self.stretch.needs_input() {
            self.silent_frames += 1;
        } else {
            let before = self.stretch.pending_samples() as f64;
            if self.stretch.apply(decision) {
                let delta = self.stretch.pending_samples() as f64 - before;
                self.control.stretched(delta / self.per_ms as f64);
            }
        }
        self.stretch.pull(&mut self.frame);
    }

    /// Hands a decoded frame to the stretcher, fading it in if it ends a silence.
    fn take_decoded(&mut self) {
        if self.sound == Sound::Silent {
            self.sound = Sound::Playing;
            self.fade_in_left = self.per_ms * FADE_IN_MS as usize;
        }
        if self.fade_in_left > 0 {
            let total = self.per_ms * FADE_IN_MS as usize;
            for s in self.decoded.iter_mut().take(self.fade_in_left) {
                let done = total - self.fade_in_left;
                *s = (*s as f32 * (done + 1) as f32 / (total + 1) as f32) as i16;
                self.fade_in_left -= 1;
            }
        }
        self.stretch.push(&self.decoded);
    }
}
