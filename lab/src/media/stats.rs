//! Per-leg counters and analysis, shared between a leg's task and the control API.

use super::analysis::{self, Analyzer};
use crate::control::types::DtlsStats;

/// A leg's DTLS figures, written by its endpoint, read by the control API.
pub type DtlsReport = std::sync::Arc<std::sync::Mutex<DtlsStats>>;
use crate::control::types::{DtmfRecord, MediaStats};

#[derive(Debug)]
pub struct LegStats {
    pub base: MediaStats,
    pub analyzer: Analyzer,
    /// What the leg's DTLS endpoint reports (WebRTC legs).
    pub dtls: Option<DtlsReport>,
}

impl LegStats {
    pub fn new(kind: &str) -> Self {
        LegStats {
            base: MediaStats {
                kind: kind.to_string(),
                level_dbfs: -100.0,
                max_level_dbfs: -100.0,
                ..MediaStats::default()
            },
            analyzer: Analyzer::default(),
            dtls: None,
        }
    }

    pub fn received_audio(&mut self, samples: &[i16]) {
        self.analyzer.push(samples);
    }

    pub fn dtmf_started(&mut self, digit: char, source: &str, clock_hz: Option<u32>, unix_ms: u64) {
        self.base.dtmf.push(DtmfRecord {
            digit,
            source: source.to_string(),
            clock_hz,
            measured_clock_hz: None,
            unix_ms,
            duration_ms: None,
        });
    }

    /// How much a `<Record>` on the leg has recorded (`None`: no recording).
    pub fn set_recording(&mut self, recorder: Option<&super::recorder::Recorder>) {
        self.base.recording_ms = recorder.map(super::recorder::Recorder::recorded_ms);
    }

    /// Sets the duration of the last RFC 4733 event once its end packet arrives.
    pub fn dtmf_ended(&mut self, duration_ms: u32) {
        if let Some(last) = self
            .base
            .dtmf
            .iter_mut()
            .rev()
            .find(|d| d.source == "rfc4733")
            && last.duration_ms.is_none()
        {
            last.duration_ms = Some(duration_ms);
        }
    }

    pub fn snapshot(&self) -> MediaStats {
        let mut s = self.base.clone();
        s.dtls = self
            .dtls
            .as_ref()
            .and_then(|d| d.lock().ok().map(|d| d.clone()));
        s.level_dbfs = self.analyzer.level_dbfs();
        s.dominant_hz = if s.level_dbfs >= analysis::SILENCE_DBFS {
            self.analyzer.dominant_hz()
        } else {
            None
        };
        s.max_level_dbfs = self.analyzer.max_level_dbfs.max(s.level_dbfs);
        s.loudest_dominant_hz = if self.analyzer.max_level_dbfs >= s.level_dbfs {
            self.analyzer.loudest_dominant_hz
        } else {
            s.dominant_hz
        };
        s
    }
}

/// Wall-clock milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
