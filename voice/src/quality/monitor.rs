//! The SDK's StatsMonitor (`lib/twilio/statsMonitor.ts`): turns cumulative counters read
//! once a second into `sample`s and raises/clears quality warnings with the SDK's names,
//! thresholds and windows.
//!
//! Rules (default thresholds): a window of the last 10 samples; `high-rtt` (> 400 ms),
//! `high-jitter` (> 30 ms), `low-mos` (< 3) and `high-packet-loss` (> 1 %) raise when at least
//! 3 samples in the window offend and clear when none do; `high-packets-lost-fraction` raises
//! when the 7-sample average exceeds 3 % and clears at ≤ 1 %; `low-bytes-received`/`-sent`
//! raise when all of the last 3 samples carried no bytes and clear when at most 2 do;
//! `constant-audio-input-level`/`-output-level` raise when the standard deviation of the
//! 50 ms level readings over the last 10 seconds is below 327.67. A window holding a missing
//! value is skipped. A warning clears no sooner than 5 s after it was raised. Warnings are off
//! for the first 5 s of a call.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::mos;
use crate::model::{RtcSample, WarningData};

const MAX_SAMPLE_COUNT: usize = 10;
const WARNING_TIMEOUT: Duration = Duration::from_secs(5);
/// Warnings are suppressed this long after the Call is created (`call.ts METRICS_DELAY`).
pub const METRICS_DELAY: Duration = Duration::from_secs(5);

/// Cumulative counters and current readings from the media stack.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawStats {
    pub timestamp_ms: u64,
    pub codec_name: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// Interarrival jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Round-trip time, ms (from RTCP or STUN).
    pub rtt_ms: Option<f64>,
}

/// A warning raised or cleared by a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum WarningChange {
    Raised { name: String, data: WarningData },
    Cleared { name: String },
}

impl WarningChange {
    pub fn name(&self) -> &str {
        match self {
            WarningChange::Raised { name, .. } | WarningChange::Cleared { name } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stat {
    Rtt,
    Jitter,
    Mos,
    PacketsLostFraction,
    BytesReceived,
    BytesSent,
    AudioInputLevel,
    AudioOutputLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Threshold {
    Max,
    Min,
    MaxAverage,
    MinStandardDeviation,
}

impl Threshold {
    fn name(self) -> &'static str {
        match self {
            Threshold::Max => "max",
            Threshold::Min => "min",
            Threshold::MaxAverage => "maxAverage",
            Threshold::MinStandardDeviation => "minStandardDeviation",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Threshold::Max | Threshold::MaxAverage => "high-",
            Threshold::Min => "low-",
            Threshold::MinStandardDeviation => "constant-",
        }
    }
}

fn warning_name(stat: Stat, threshold: Threshold) -> String {
    let base = match (stat, threshold) {
        (Stat::PacketsLostFraction, Threshold::Max) => "packet-loss",
        (Stat::PacketsLostFraction, _) => "packets-lost-fraction",
        (Stat::Rtt, _) => "rtt",
        (Stat::Jitter, _) => "jitter",
        (Stat::Mos, _) => "mos",
        (Stat::BytesReceived, _) => "bytes-received",
        (Stat::BytesSent, _) => "bytes-sent",
        (Stat::AudioInputLevel, _) => "audio-input-level",
        (Stat::AudioOutputLevel, _) => "audio-output-level",
    };
    format!("{}{base}", threshold.prefix())
}

/// The StatsMonitor for one call.
#[derive(Debug)]
pub struct StatsMonitor {
    samples: VecDeque<RtcSample>,
    active: BTreeMap<(Stat, Threshold), Instant>,
    input_levels: Vec<f64>,
    output_levels: Vec<f64>,
    input_sets: VecDeque<Vec<f64>>,
    output_sets: VecDeque<Vec<f64>>,
    warnings_from: Instant,
    previous: Option<RawStats>,
}

impl StatsMonitor {
    /// A monitor for a call created at `created`; warnings start `METRICS_DELAY` later.
    pub fn new(created: Instant) -> Self {
        StatsMonitor {
            samples: VecDeque::new(),
            active: BTreeMap::new(),
            input_levels: Vec::new(),
            output_levels: Vec::new(),
            input_sets: VecDeque::new(),
            output_sets: VecDeque::new(),
            warnings_from: created + METRICS_DELAY,
            previous: None,
        }
    }

    /// A 50 ms level reading (0–32767) of what we send and what we play.
    pub fn add_volumes(&mut self, input_level: f64, output_level: f64) {
        self.input_levels.push(input_level);
        self.output_levels.push(output_level);
    }

    /// Whether a warning is currently raised, by its event name (e.g. `low-bytes-received`).
    pub fn has_active_warning(&self, name: &str) -> bool {
        self.active
            .keys()
            .any(|(s, t)| warning_name(*s, *t) == name)
    }

    /// Takes this second's counters; returns the sample and any warning changes.
    pub fn sample(&mut self, stats: RawStats, now: Instant) -> (RtcSample, Vec<WarningChange>) {
        let sample = self.make_sample(&stats);
        self.previous = Some(stats);
        self.samples.push_back(sample.clone());
        while self.samples.len() > MAX_SAMPLE_COUNT {
            self.samples.pop_front();
        }
        let changes = if now >= self.warnings_from {
            self.evaluate(now)
        } else {
            self.active.clear();
            Vec::new()
        };
        (sample, changes)
    }

    fn make_sample(&mut self, stats: &RawStats) -> RtcSample {
        let prev = self.previous.as_ref();
        let d = |cur: u64, old: Option<u64>| cur.saturating_sub(old.unwrap_or(0));
        let bytes_sent = d(stats.bytes_sent, prev.map(|p| p.bytes_sent));
        let bytes_received = d(stats.bytes_received, prev.map(|p| p.bytes_received));
        let packets_sent = d(stats.packets_sent, prev.map(|p| p.packets_sent));
        let packets_received = d(stats.packets_received, prev.map(|p| p.packets_received));
        let packets_lost = d(stats.packets_lost, prev.map(|p| p.packets_lost));
        let inbound = packets_received + packets_lost;
        let fraction = if inbound > 0 {
            packets_lost as f64 / inbound as f64 * 100.0
        } else {
            0.0
        };
        let total_inbound = stats.packets_received + stats.packets_lost;
        let total_fraction = if total_inbound > 0 {
            stats.packets_lost as f64 / total_inbound as f64 * 100.0
        } else {
            100.0
        };
        let rtt = stats
            .rtt_ms
            .or_else(|| self.samples.back().and_then(|s| s.rtt));
        // The first sample has no loss input, so no MOS (as in the SDK).
        let loss_for_mos = self.previous.as_ref().map(|_| fraction);
        let avg = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let inputs = std::mem::take(&mut self.input_levels);
        let outputs = std::mem::take(&mut self.output_levels);
        let sample = RtcSample {
            timestamp_ms: stats.timestamp_ms,
            codec_name: stats.codec_name.clone(),
            rtt,
            jitter: stats.jitter_ms,
            mos: mos::calculate(rtt, stats.jitter_ms, loss_for_mos),
            packets_received,
            packets_lost,
            packets_sent,
            bytes_received,
            bytes_sent,
            packets_lost_fraction: fraction,
            total_packets_received: stats.packets_received,
            total_packets_lost: stats.packets_lost,
            total_packets_sent: stats.packets_sent,
            total_bytes_received: stats.bytes_received,
            total_bytes_sent: stats.bytes_sent,
            total_packets_lost_fraction: total_fraction,
            audio_input_level: avg(&inputs).round() as u32,
            audio_output_level: avg(&outputs).round() as u32,
        };
        self.input_sets.push_back(inputs);
        self.output_sets.push_back(outputs);
        sample
    }

    fn values(&self, stat: Stat, count: usize) -> Option<Vec<f64>> {
        let start = self.samples.len().saturating_sub(count);
        self.samples
            .iter()
            .skip(start)
            .map(|s| match stat {
                Stat::Rtt => s.rtt,
                Stat::Jitter => s.jitter,
                Stat::Mos => s.mos,
                Stat::PacketsLostFraction => Some(s.packets_lost_fraction),
                Stat::BytesReceived => Some(s.bytes_received as f64),
                Stat::BytesSent => Some(s.bytes_sent as f64),
                Stat::AudioInputLevel | Stat::AudioOutputLevel => None,
            })
            .collect()
    }

    fn evaluate(&mut self, now: Instant) -> Vec<WarningChange> {
        let mut out = Vec::new();
        // (stat, threshold, limit, raise count, clear count, window)
        let counted = [
            (Stat::Rtt, Threshold::Max, 400.0, 3, 0, MAX_SAMPLE_COUNT),
            (Stat::Jitter, Threshold::Max, 30.0, 3, 0, MAX_SAMPLE_COUNT),
            (Stat::Mos, Threshold::Min, 3.0, 3, 0, MAX_SAMPLE_COUNT),
            (
                Stat::PacketsLostFraction,
                Threshold::Max,
                1.0,
                3,
                0,
                MAX_SAMPLE_COUNT,
            ),
            (Stat::BytesReceived, Threshold::Min, 1.0, 3, 2, 3),
            (Stat::BytesSent, Threshold::Min, 1.0, 3, 2, 3),
        ];
        for (stat, threshold, limit, raise, clear, window) in counted {
            let Some(values) = self.values(stat, window) else {
                continue;
            };
            let count = values
                .iter()
                .filter(|v| {
                    if threshold == Threshold::Max {
                        **v > limit
                    } else {
                        **v < limit
                    }
                })
                .count();
            if count >= raise {
                self.raise(stat, threshold, limit, values, now, &mut out);
            } else if count <= clear {
                self.clear(stat, threshold, now, &mut out);
            }
        }
        // high-packets-lost-fraction: 7-sample average above 3 %, clears at ≤ 1 %.
        if let Some(values) = self
            .values(Stat::PacketsLostFraction, 7)
            .filter(|v| v.len() >= 7)
        {
            let avg = values.iter().sum::<f64>() / values.len() as f64;
            if avg > 3.0 {
                self.raise(
                    Stat::PacketsLostFraction,
                    Threshold::MaxAverage,
                    3.0,
                    values,
                    now,
                    &mut out,
                );
            } else if avg <= 1.0 {
                self.clear(
                    Stat::PacketsLostFraction,
                    Threshold::MaxAverage,
                    now,
                    &mut out,
                );
            }
        }
        for stat in [Stat::AudioInputLevel, Stat::AudioOutputLevel] {
            let sets = if stat == Stat::AudioInputLevel {
                &mut self.input_sets
            } else {
                &mut self.output_sets
            };
            if sets.len() < MAX_SAMPLE_COUNT {
                continue;
            }
            while sets.len() > MAX_SAMPLE_COUNT {
                sets.pop_front();
            }
            let flat: Vec<f64> = sets.iter().flatten().copied().collect();
            if flat.is_empty() {
                continue;
            }
            let mean = flat.iter().sum::<f64>() / flat.len() as f64;
            let sd =
                (flat.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / flat.len() as f64).sqrt();
            if sd < 327.67 {
                self.raise(
                    stat,
                    Threshold::MinStandardDeviation,
                    327.67,
                    vec![sd],
                    now,
                    &mut out,
                );
            } else {
                self.clear(stat, Threshold::MinStandardDeviation, now, &mut out);
            }
        }
        out
    }

    fn raise(
        &mut self,
        stat: Stat,
        threshold: Threshold,
        limit: f64,
        values: Vec<f64>,
        now: Instant,
        out: &mut Vec<WarningChange>,
    ) {
        if self.active.contains_key(&(stat, threshold)) {
            return;
        }
        self.active.insert((stat, threshold), now);
        let name = warning_name(stat, threshold);
        out.push(WarningChange::Raised {
            data: WarningData {
                name: name.clone(),
                threshold_name: threshold.name().to_string(),
                threshold_value: limit,
                values: values.iter().map(|v| (v * 100.0).round() / 100.0).collect(),
            },
            name,
        });
    }

    fn clear(
        &mut self,
        stat: Stat,
        threshold: Threshold,
        now: Instant,
        out: &mut Vec<WarningChange>,
    ) {
        let Some(raised) = self.active.get(&(stat, threshold)) else {
            return;
        };
        if now.saturating_duration_since(*raised) < WARNING_TIMEOUT {
            return;
        }
        self.active.remove(&(stat, threshold));
        out.push(WarningChange::Cleared {
            name: warning_name(stat, threshold),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Feed {
        monitor: StatsMonitor,
        stats: RawStats,
        now: Instant,
    }

    impl Feed {
        fn new() -> Self {
            let now = Instant::now();
            Feed {
                monitor: StatsMonitor::new(now),
                stats: RawStats {
                    codec_name: "PCMU".into(),
                    ..Default::default()
                },
                now,
            }
        }

        /// One second with `rx`/`tx` packets of 160 bytes, `lost` lost, the given rtt/jitter.
        fn second(
            &mut self,
            rx: u64,
            tx: u64,
            lost: u64,
            rtt: f64,
            jitter: f64,
        ) -> (RtcSample, Vec<WarningChange>) {
            self.now += Duration::from_secs(1);
            self.stats.packets_received += rx;
            self.stats.bytes_received += rx * 160;
            self.stats.packets_sent += tx;
            self.stats.bytes_sent += tx * 160;
            self.stats.packets_lost += lost;
            self.stats.rtt_ms = Some(rtt);
            self.stats.jitter_ms = Some(jitter);
            for i in 0..20 {
                self.monitor.add_volumes(
                    if i % 2 == 0 { 0.0 } else { 5000.0 },
                    3000.0 * (i % 3) as f64,
                );
            }
            self.monitor.sample(self.stats.clone(), self.now)
        }
    }

    fn names(c: &[WarningChange]) -> Vec<String> {
        c.iter()
            .map(|w| match w {
                WarningChange::Raised { name, .. } => format!("+{name}"),
                WarningChange::Cleared { name } => format!("-{name}"),
            })
            .collect()
    }

    #[test]
    fn samples_carry_deltas_totals_and_mos() {
        let mut f = Feed::new();
        let (s1, _) = f.second(50, 50, 0, 15.0, 2.0);
        assert_eq!(s1.mos, None, "first sample has no loss input");
        assert_eq!(s1.total_packets_received, 50);
        let (s2, _) = f.second(49, 50, 1, 15.0, 2.0);
        assert_eq!(
            (s2.packets_received, s2.packets_lost, s2.bytes_sent),
            (49, 1, 8000)
        );
        assert!((s2.packets_lost_fraction - 2.0).abs() < 1e-9);
        assert!(s2.mos.unwrap() > 4.0);
        assert_eq!(s2.audio_input_level, 2500);
    }

    #[test]
    fn high_rtt_raises_after_three_and_clears_after_five_seconds() {
        let mut f = Feed::new();
        for _ in 0..6 {
            assert!(names(&f.second(50, 50, 0, 10.0, 1.0).1).is_empty());
        }
        assert!(f.second(50, 50, 0, 500.0, 1.0).1.is_empty());
        assert!(f.second(50, 50, 0, 500.0, 1.0).1.is_empty());
        assert_eq!(names(&f.second(50, 50, 0, 500.0, 1.0).1), vec!["+high-rtt"]);
        assert!(f.monitor.has_active_warning("high-rtt"));
        // Clears only when no sample in the 10-sample window offends.
        let mut cleared_at = None;
        for i in 0..12 {
            if names(&f.second(50, 50, 0, 10.0, 1.0).1).contains(&"-high-rtt".to_string()) {
                cleared_at = Some(i);
                break;
            }
        }
        assert_eq!(cleared_at, Some(9));
    }

    #[test]
    fn warnings_are_suppressed_for_the_first_five_seconds() {
        let mut f = Feed::new();
        for _ in 0..4 {
            assert!(f.second(50, 50, 0, 900.0, 1.0).1.is_empty());
        }
        assert_eq!(names(&f.second(50, 50, 0, 900.0, 1.0).1), vec!["+high-rtt"]);
    }

    #[test]
    fn low_bytes_received_after_three_silent_seconds() {
        let mut f = Feed::new();
        for _ in 0..6 {
            f.second(50, 50, 0, 10.0, 1.0);
        }
        f.second(0, 50, 0, 10.0, 1.0);
        f.second(0, 50, 0, 10.0, 1.0);
        assert_eq!(
            names(&f.second(0, 50, 0, 10.0, 1.0).1),
            vec!["+low-bytes-received"]
        );
        // Clears when at most 2 of the last 3 are low, 5 s after raising.
        let mut all = Vec::new();
        for _ in 0..6 {
            all.extend(names(&f.second(50, 50, 0, 10.0, 1.0).1));
        }
        assert_eq!(all, vec!["-low-bytes-received"]);
    }

    #[test]
    fn packet_loss_warnings() {
        let mut f = Feed::new();
        for _ in 0..5 {
            f.second(50, 50, 0, 10.0, 1.0);
        }
        let mut all = Vec::new();
        for _ in 0..7 {
            all.extend(names(&f.second(45, 50, 5, 10.0, 1.0).1));
        }
        assert!(all.contains(&"+high-packet-loss".to_string()));
        assert!(all.contains(&"+high-packets-lost-fraction".to_string()));
    }

    #[test]
    fn constant_audio_level_when_the_mic_is_flat() {
        let now = Instant::now();
        let mut m = StatsMonitor::new(now);
        let mut stats = RawStats::default();
        let mut raised = Vec::new();
        for s in 1..=12u64 {
            for _ in 0..20 {
                m.add_volumes(100.0, if s % 2 == 0 { 0.0 } else { 9000.0 });
            }
            stats.packets_received += 50;
            stats.bytes_received += 8000;
            stats.packets_sent += 50;
            stats.bytes_sent += 8000;
            stats.rtt_ms = Some(10.0);
            stats.jitter_ms = Some(1.0);
            raised.extend(names(
                &m.sample(stats.clone(), now + Duration::from_secs(s)).1,
            ));
        }
        assert_eq!(raised, vec!["+constant-audio-input-level"]);
    }
}
