//! An adaptive jitter buffer, sans-IO: packets in (sequence number, RTP time, arrival),
//! one 20 ms frame out per playout tick.
//!
//! The target delay follows the measured interarrival jitter (RFC 3550 estimator): about
//! three times the jitter plus one frame, in whole frames, between one and fifteen frames.
//! A late packet or an underrun raises the target at once by a frame (fast attack); a
//! quiet network lets it decay back (slow release), dropping a frame when the buffer holds
//! more than the target needs. Lost frames are reported so the decoder can conceal them
//! (Opus FEC/PLC, PCMU fade), with the next packet handed over for FEC.
//!
//! Made [`JitterBuffer::for_time_stretch`] (the call's playout), it drops no frames to
//! shrink: the time-stretch after it accelerates instead. Only when it refills after an
//! underrun with far more than its target (the burst at the end of a network stall) does
//! it skip the stale frames, so the call goes on at the target delay without playing the
//! stall's backlog as catch-up audio.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const FRAME: Duration = Duration::from_millis(20);
const MIN_TARGET_FRAMES: u32 = 1;
const MAX_TARGET_FRAMES: u32 = 15;
/// Packets this far ahead of the playout point are treated as a new stream (a jump).
const MAX_AHEAD: u64 = 500;
/// Quiet time before the target may shrink by a frame.
const DECAY_AFTER: Duration = Duration::from_secs(2);
/// Refilling with more than this many frames above target skips the excess (a stall's
/// backlog); less is left to the time-stretch.
const SKIP_ABOVE_TARGET_FRAMES: u32 = 4;
/// Made for a time-stretch, an empty buffer is concealed this many frames (the decoder's
/// concealment carries on the sound) before it counts as an underrun and refills.
const CONCEAL_EMPTY_FRAMES: u32 = 3;

/// What the playout tick gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Playout {
    /// Still filling up (or refilling after an underrun): play silence.
    Buffering,
    /// The next frame's payload.
    Frame(Vec<u8>),
    /// The next frame is missing; conceal it. `next` is the following payload if present
    /// (Opus recovers the lost frame from its in-band FEC).
    Lost { next: Option<Vec<u8>> },
}

/// A 16-bit RTP sequence number extended to 64 bits: the value nearest to `reference` (the
/// highest extended number seen so far), so wrap-arounds count up. The first one starts one
/// cycle in, so that a little reordering before it cannot go below zero.
pub fn extend_seq(reference: Option<u64>, seq: u16) -> u64 {
    let Some(reference) = reference else {
        return 1 << 16 | seq as u64;
    };
    let base = reference & !0xFFFF;
    let candidates = [
        base.wrapping_sub(1 << 16) | seq as u64,
        base | seq as u64,
        (base + (1 << 16)) | seq as u64,
    ];
    candidates
        .into_iter()
        .min_by_key(|c| c.abs_diff(reference))
        .unwrap_or(base | seq as u64)
}

/// Streams [`StreamSplice`] remembers: the current one and the one it replaced.
const SPLICED_STREAMS: usize = 2;

/// Makes one sequence out of the RTP streams a call receives on one m-line. A far end that
/// switches SSRC (a re-bridge, a transfer) starts new sequence numbers and RTP times; mapped
/// here to follow on from the last packet of the old stream, they play on with no gap, where
/// the buffer would otherwise call them late (and drop them all) or a jump (and refill).
#[derive(Debug, Default)]
pub struct StreamSplice {
    /// `(ssrc, sequence offset, RTP time offset)`, newest last.
    streams: Vec<(u32, u16, u32)>,
    /// The newest mapped sequence number and its RTP time.
    last: Option<(u16, u32)>,
}

impl StreamSplice {
    pub fn new() -> Self {
        Self::default()
    }

    /// The packet's sequence number and RTP time in the spliced sequence. `ticks_per_frame`
    /// is the RTP time between two packets (the first of a new stream follows the last one).
    pub fn map(&mut self, ssrc: u32, seq: u16, rtp_time: u32, ticks_per_frame: u32) -> (u16, u32) {
        let offsets = match self.streams.iter().find(|s| s.0 == ssrc) {
            Some(&(_, seq_off, time_off)) => (seq_off, time_off),
            None => {
                let offsets = match self.last {
                    None => (0, 0),
                    Some((last_seq, last_time)) => (
                        last_seq.wrapping_add(1).wrapping_sub(seq),
                        last_time
                            .wrapping_add(ticks_per_frame)
                            .wrapping_sub(rtp_time),
                    ),
                };
                self.streams.push((ssrc, offsets.0, offsets.1));
                if self.streams.len() > SPLICED_STREAMS {
                    self.streams.remove(0);
                }
                offsets
            }
        };
        let mapped = (
            seq.wrapping_add(offsets.0),
            rtp_time.wrapping_add(offsets.1),
        );
        // Only newer packets move the end (a reordered one is at most half the space behind).
        let newer = self
            .last
            .is_none_or(|(s, _)| mapped.0.wrapping_sub(s) < 0x8000 && mapped.0 != s);
        if newer {
            self.last = Some(mapped);
        }
        mapped
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    pub lost: u64,
    pub late: u64,
    pub duplicates: u64,
    pub underruns: u64,
    /// Frames dropped to shrink the delay.
    pub dropped: u64,
    /// Stale frames skipped on refilling after a stall.
    pub skipped: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    /// RTP clock ticks per 20 ms frame.
    ticks_per_frame: u32,
    clock_rate: u32,
    packets: BTreeMap<u64, Vec<u8>>,
    /// Extended sequence number of the next frame to play.
    next: Option<u64>,
    highest: Option<u64>,
    playing: bool,
    target_frames: u32,
    jitter_ms: f64,
    last_transit: Option<f64>,
    epoch: Option<Instant>,
    last_trouble: Option<Instant>,
    last_decay: Option<Instant>,
    /// Consecutive ticks with more buffered than the target needs.
    excess_ticks: u32,
    /// A time-stretch follows: no frame drops; a stall's backlog is skipped.
    stretched: bool,
    /// Frames concealed in a row with nothing buffered.
    concealed_empty: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(clock_rate: u32) -> Self {
        JitterBuffer {
            ticks_per_frame: clock_rate / 50,
            clock_rate,
            packets: BTreeMap::new(),
            next: None,
            highest: None,
            playing: false,
            target_frames: 2,
            jitter_ms: 0.0,
            last_transit: None,
            epoch: None,
            last_trouble: None,
            last_decay: None,
            excess_ticks: 0,
            stretched: false,
            concealed_empty: 0,
            stats: JitterStats::default(),
        }
    }

    /// A buffer whose output goes through a time-stretch (see the module notes).
    pub fn for_time_stretch(clock_rate: u32) -> Self {
        JitterBuffer {
            stretched: true,
            ..Self::new(clock_rate)
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The RFC 3550 interarrival jitter estimate, in ms.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// The delay the buffer aims for.
    pub fn target_delay(&self) -> Duration {
        FRAME * self.target_frames
    }

    /// Frames buffered ahead of the playout point.
    pub fn buffered_frames(&self) -> u32 {
        match (self.next, self.highest) {
            (Some(n), Some(h)) if h >= n => (h - n + 1) as u32,
            _ => 0,
        }
    }

    /// Extends a 16-bit sequence number next to the ones seen.
    fn extend(&self, seq: u16) -> u64 {
        extend_seq(self.highest.or(self.next), seq)
    }

    pub fn insert(&mut self, seq: u16, rtp_time: u32, payload: Vec<u8>, arrival: Instant) {
        let ext = self.extend(seq);
        self.stats.received += 1;
        self.update_jitter(rtp_time, arrival);
        if let Some(next) = self.next {
            if ext < next {
                self.stats.late += 1;
                self.trouble(arrival);
                return;
            }
            if ext > next + MAX_AHEAD {
                // A jump (new SSRC or a long pause): start over from here.
                self.packets.clear();
                self.next = None;
                self.highest = None;
                self.playing = false;
            }
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.packets.insert(ext, payload);
        if self.next.is_none_or(|n| ext < n) && !self.playing {
            self.next = Some(ext);
        }
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
    }

    fn update_jitter(&mut self, rtp_time: u32, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let arrival_ms = arrival.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
        let rtp_ms = rtp_time as f64 * 1000.0 / self.clock_rate as f64;
        let transit = arrival_ms - rtp_ms;
        if let Some(prev) = self.last_transit {
            let mut d = (transit - prev).abs();
            // An RTP clock wrap or jump would look like enormous jitter: ignore it.
            if d > 10_000.0 {
                d = 0.0;
            }
            self.jitter_ms += (d - self.jitter_ms) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    fn trouble(&mut self, now: Instant) {
        self.target_frames = (self.target_frames + 1).min(MAX_TARGET_FRAMES);
        self.last_trouble = Some(now);
    }

    fn wanted_frames(&self) -> u32 {
        let ms = 3.0 * self.jitter_ms + 20.0;
        ((ms / 20.0).ceil() as u32).clamp(MIN_TARGET_FRAMES, MAX_TARGET_FRAMES)
    }

    /// One playout tick (every 20 ms).
    pub fn pop(&mut self, now: Instant) -> Playout {
        self.adapt(now);
        let Some(next) = self.next else {
            return Playout::Buffering;
        };
        if !self.playing {
            // Refilling for a time-stretch counts the packets there, not the span they
            // cover: the first few of a stall's backlog must not start the playout.
            let filled = if self.stretched {
                self.packets.len() as u32
            } else {
                self.buffered_frames()
            };
            if filled >= self.target_frames {
                self.playing = true;
                if self.stretched {
                    self.skip_backlog(next);
                    return self.pop_next(self.next.unwrap_or(next));
                }
            } else {
                return Playout::Buffering;
            }
        }
        if self.packets.is_empty() && self.stretched && self.concealed_empty < CONCEAL_EMPTY_FRAMES
        {
            // Late or lost: conceal in its place (a late packet is dropped when it comes).
            if self.concealed_empty == 0 {
                self.trouble(now);
            }
            self.concealed_empty += 1;
            return self.pop_next(next);
        }
        if self.packets.is_empty() {
            self.concealed_empty = 0;
            // Underrun: nothing to play. Conceal this frame, then refill to the target.
            self.stats.underruns += 1;
            self.trouble(now);
            // The playout point stays: when the stream resumes, its next packet plays first.
            self.playing = false;
            return Playout::Lost { next: None };
        }
        if self.stretched {
            return self.pop_next(next);
        }
        // Too much buffered for a while (half a second): drop the oldest frame to shrink.
        if self.buffered_frames() > self.target_frames + 2 {
            self.excess_ticks += 1;
        } else {
            self.excess_ticks = 0;
        }
        if self.excess_ticks >= 25 {
            self.excess_ticks = 0;
            if let Some(p) = self.packets.remove(&next) {
                drop(p);
                self.stats.dropped += 1;
            }
            self.next = Some(next + 1);
            return self.pop_next(next + 1);
        }
        self.pop_next(next)
    }

    /// Skips from `next` to the target delay if refilling brought a backlog far above it.
    fn skip_backlog(&mut self, next: u64) {
        let buffered = self.buffered_frames();
        if buffered <= self.target_frames + SKIP_ABOVE_TARGET_FRAMES {
            return;
        }
        let skip = u64::from(buffered - self.target_frames);
        let keep_from = next + skip;
        self.packets = self.packets.split_off(&keep_from);
        self.stats.skipped += skip;
        self.next = Some(keep_from);
    }

    fn pop_next(&mut self, next: u64) -> Playout {
        self.next = Some(next + 1);
        match self.packets.remove(&next) {
            Some(payload) => {
                self.concealed_empty = 0;
                self.stats.played += 1;
                Playout::Frame(payload)
            }
            None => {
                self.stats.lost += 1;
                Playout::Lost {
                    next: self.packets.get(&(next + 1)).cloned(),
                }
            }
        }
    }

    fn adapt(&mut self, now: Instant) {
        let wanted = self.wanted_frames();
        if wanted > self.target_frames {
            self.target_frames = wanted;
            return;
        }
        let quiet_since = self.last_trouble.max(self.last_decay);
        let quiet = quiet_since.is_none_or(|t| now.saturating_duration_since(t) >= DECAY_AFTER);
        if quiet && self.target_frames > wanted {
            self.target_frames -= 1;
            self.last_decay = Some(now);
        }
    }

    /// RTP ticks per frame at this buffer's clock.
    pub fn ticks_per_frame(&self) -> u32 {
        self.ticks_per_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ssrc_plays_on_without_a_gap() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(8000);
        let mut splice = StreamSplice::new();
        let mut played = Vec::new();
        // 50 packets of stream A, then stream B starting *behind* A's numbers and times.
        for i in 0..100u32 {
            let (ssrc, seq, ts) = if i < 50 {
                (1, 60_000u16.wrapping_add(i as u16), 1_000_000 + i * 160)
            } else {
                (2, 100 + (i - 50) as u16, 5_000 + (i - 50) * 160)
            };
            let at = t0 + FRAME * i;
            let (seq, ts) = splice.map(ssrc, seq, ts, 160);
            jb.insert(seq, ts, vec![i as u8], at);
            played.push(jb.pop(at));
        }
        let frames: Vec<u8> = played
            .iter()
            .filter_map(|p| match p {
                Playout::Frame(f) => Some(f[0]),
                _ => None,
            })
            .collect();
        // Every packet after the start-up plays, in order, across the switch.
        let first = frames[0];
        assert!(frames.windows(2).all(|w| w[1] == w[0] + 1), "{frames:?}");
        assert_eq!(
            *frames.last().unwrap() as usize,
            99 - (jb.buffered_frames() as usize)
        );
        assert!(first < 5);
        assert_eq!(jb.stats().late, 0);
        assert_eq!(jb.stats().lost, 0);
        // A late straggler of the old stream maps beside its own neighbours, not the new ones.
        let (seq, _) = splice.map(1, 60_049, 1_000_000 + 49 * 160, 160);
        assert_eq!(seq, 60_049);
    }

    struct Net {
        jb: JitterBuffer,
        t0: Instant,
    }

    impl Net {
        fn new() -> Self {
            Net {
                jb: JitterBuffer::new(8000),
                t0: Instant::now(),
            }
        }
        fn send(&mut self, seq: u16, at_ms: u64) {
            let ts = (seq as u32).wrapping_mul(160);
            self.jb.insert(
                seq,
                ts,
                vec![seq as u8],
                self.t0 + Duration::from_millis(at_ms),
            );
        }
        fn tick(&mut self, at_ms: u64) -> Playout {
            self.jb.pop(self.t0 + Duration::from_millis(at_ms))
        }
    }

    fn frame_ids(outs: &[Playout]) -> Vec<i32> {
        outs.iter()
            .map(|p| match p {
                Playout::Frame(v) => v[0] as i32,
                Playout::Lost { .. } => -1,
                Playout::Buffering => -2,
            })
            .collect()
    }

    #[test]
    fn clean_network_keeps_a_low_delay_and_plays_in_order() {
        let mut n = Net::new();
        let mut outs = Vec::new();
        for i in 0..100u16 {
            n.send(i, i as u64 * 20);
            outs.push(n.tick(i as u64 * 20 + 5));
        }
        assert!(
            n.jb.target_delay() <= Duration::from_millis(40),
            "{:?}",
            n.jb.target_delay()
        );
        let played: Vec<i32> = frame_ids(&outs).into_iter().filter(|x| *x >= 0).collect();
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(played.len() >= 97);
        assert_eq!(n.jb.stats().lost, 0);
    }

    #[test]
    fn reordered_packets_play_in_sequence() {
        let mut n = Net::new();
        for (seq, at) in [
            (0, 0),
            (2, 40),
            (1, 45),
            (4, 80),
            (3, 82),
            (5, 100),
            (6, 120),
            (7, 140),
        ] {
            n.send(seq, at);
        }
        let outs: Vec<Playout> = (0..8).map(|i| n.tick(150 + i * 20)).collect();
        let ids: Vec<i32> = frame_ids(&outs).into_iter().filter(|x| *x >= 0).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_lost_packet_is_concealed_with_the_next_for_fec() {
        let mut n = Net::new();
        for seq in [0u16, 1, 2, 4, 5, 6] {
            n.send(seq, seq as u64 * 20);
        }
        let outs: Vec<Playout> = (0..6).map(|i| n.tick(130 + i * 20)).collect();
        assert!(
            outs.contains(&Playout::Lost {
                next: Some(vec![4])
            }),
            "{outs:?}"
        );
        assert_eq!(n.jb.stats().lost, 1);
    }

    #[test]
    fn bursty_jitter_grows_the_target_then_it_shrinks_back() {
        let mut n = Net::new();
        let mut t = 0u64;
        // 5 s of bursts: packets arrive in clumps of 5 every 100 ms.
        for i in 0..250u16 {
            let arrival = (i as u64 / 5) * 100 + 95;
            n.send(i, arrival);
            t = i as u64 * 20 + 100;
            n.tick(t);
        }
        let grown = n.jb.target_delay();
        assert!(grown >= Duration::from_millis(80), "grew to {grown:?}");
        // Then 20 s of a clean network.
        for i in 250..1250u16 {
            let at = 5000 + (i as u64 - 250) * 20 + 100;
            n.send(i, at);
            t = at + 5;
            n.tick(t);
        }
        let shrunk = n.jb.target_delay();
        assert!(
            shrunk < grown && shrunk <= Duration::from_millis(60),
            "shrank to {shrunk:?} from {grown:?}"
        );
        assert!(n.jb.buffered_frames() <= n.jb.target_delay().as_millis() as u32 / 20 + 3);
        let _ = t;
    }

    #[test]
    fn late_duplicate_and_wrapping_sequence_numbers() {
        let mut jb = JitterBuffer::new(8000);
        let t0 = Instant::now();
        let seqs = [65533u16, 65534, 65535, 0, 1, 2];
        for (i, s) in seqs.iter().enumerate() {
            jb.insert(
                *s,
                i as u32 * 160,
                vec![i as u8],
                t0 + Duration::from_millis(i as u64 * 20),
            );
        }
        jb.insert(1, 4 * 160, vec![9], t0 + Duration::from_millis(100));
        assert_eq!(jb.stats().duplicates, 1);
        let mut got = Vec::new();
        for i in 0..6 {
            if let Playout::Frame(v) = jb.pop(t0 + Duration::from_millis(120 + i * 20)) {
                got.push(v[0]);
            }
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        jb.insert(65534, 160, vec![7], t0 + Duration::from_millis(300));
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn underrun_refills_before_playing_again() {
        let mut n = Net::new();
        for i in 0..10u16 {
            n.send(i, i as u64 * 20);
        }
        let outs: Vec<Playout> = (0..14).map(|i| n.tick(30 + i * 20)).collect();
        assert!(
            outs.iter()
                .any(|p| matches!(p, Playout::Lost { next: None }))
        );
        assert_eq!(n.jb.stats().underruns, 1);
        // The sender comes back: buffering first, then frames again.
        for i in 10..20u16 {
            n.send(i, 400 + (i as u64 - 10) * 20);
        }
        let again: Vec<Playout> = (0..8).map(|i| n.tick(420 + i * 20)).collect();
        assert!(again.iter().any(|p| matches!(p, Playout::Frame(_))));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_plays_twice(order in proptest::collection::vec(0u16..200, 1..300)) {
            let mut jb = JitterBuffer::new(48_000);
            let t0 = Instant::now();
            let mut played = std::collections::HashSet::new();
            for (i, seq) in order.iter().enumerate() {
                jb.insert(*seq, *seq as u32 * 960, seq.to_be_bytes().to_vec(), t0 + Duration::from_millis(i as u64 * 7));
                if i % 3 == 0
                    && let Playout::Frame(v) = jb.pop(t0 + Duration::from_millis(i as u64 * 7)) {
                        proptest::prop_assert!(played.insert(v));
                    }
            }
        }
    }
}
