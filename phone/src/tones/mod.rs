//! Call-progress tones, DTMF feedback and ring cadences per region, generated locally as PCM.
//!
//! The phone says *which* tone ([`Tone`]); [`ToneSpec::for_tone`] says what it sounds like in a
//! [`Region`]; a [`TonePlayer`] turns a spec into 10 ms frames of `i16` samples.

#[cfg(any(test, feature = "testing"))]
#[cfg(any(test, feature = "testing"))]
pub mod analysis;
mod player;
mod tables;

use offhook_core::handset::cadence::Cadence;
use serde::{Deserialize, Serialize};

pub use player::{TonePlayer, ToneRateError};

/// Which call-progress tone conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// North America (Bellcore / Cisco SPA defaults).
    Us,
    /// United Kingdom (BT SIN 350).
    Uk,
    /// Continental Europe (CEPT / ETSI, 425 Hz tones).
    Eu,
}

impl Region {
    /// The usual tone region for a country (ISO 3166 alpha-2).
    pub fn for_country(iso: &str) -> Region {
        match iso.to_ascii_uppercase().as_str() {
            "US" | "CA" | "MX" => Region::Us,
            "GB" | "IE" | "HK" | "SG" | "IN" => Region::Uk,
            _ => Region::Eu,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Uk => "uk",
            Region::Eu => "eu",
        }
    }
}

/// A tone the phone plays into the earpiece (or speaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tone {
    /// Off-hook and ready to dial.
    Dial,
    /// Dial tone that stutters first: messages waiting / missed calls.
    MessageWaitingDial,
    /// Off-hook but the phone cannot place calls (not registered, no network, no token).
    NoService,
    /// The far end is ringing (played locally when the network sends no early media).
    Ringback,
    /// The far end is busy or declined.
    Busy,
    /// The call failed, the number is invalid, dialing timed out, or the far end hung up.
    Reorder,
    /// Off the hook for too long: a loud tone to get someone to hang up.
    Howler,
    /// Another call is arriving while you are in a call.
    CallWaiting,
    /// A setting was accepted.
    Confirm,
    /// Key feedback for `0-9`, `*`, `#` (and `A-D`).
    Dtmf(char),
}

/// One step of a cadence: tone on for `on_ms`, then silence for `off_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub on_ms: u32,
    pub off_ms: u32,
}

/// How many times a phase's pattern plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Forever,
    Times(u32),
}

/// A part of a tone: frequencies mixed at a level, switched by a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct TonePhase {
    /// Frequencies in Hz, mixed.
    pub freqs: Vec<f32>,
    /// Level of each frequency in dBm0 (0 dBm0 = 3.14 dB below a full-scale sine).
    pub level_dbm0: f32,
    /// On/off steps; empty = continuously on.
    pub pattern: Vec<Segment>,
    pub repeat: Repeat,
}

/// What a tone sounds like: phases played in order; the tone ends after the last phase (unless
/// it repeats forever).
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    pub phases: Vec<TonePhase>,
}

impl ToneSpec {
    /// The sound of `tone` in `region`.
    pub fn for_tone(tone: Tone, region: Region) -> ToneSpec {
        tables::tone(tone, region)
    }

    /// A ring sound for a speaker used as the ringer, following `cadence`.
    pub fn ringer(cadence: &Cadence) -> ToneSpec {
        // Cadences are seconds long (at most a minute per segment), so milliseconds fit.
        let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        ToneSpec {
            phases: vec![TonePhase {
                freqs: vec![1000.0, 1250.0],
                level_dbm0: -6.0,
                pattern: cadence
                    .segments()
                    .iter()
                    .map(|&(on, off)| Segment {
                        on_ms: ms(on),
                        off_ms: ms(off),
                    })
                    .collect(),
                repeat: Repeat::Forever,
            }],
        }
    }

    /// Total length, or `None` if the tone never ends.
    pub fn duration_ms(&self) -> Option<u64> {
        let mut total = 0u64;
        for phase in &self.phases {
            let period: u64 = phase
                .pattern
                .iter()
                .map(|s| u64::from(s.on_ms) + u64::from(s.off_ms))
                .sum();
            match phase.repeat {
                _ if phase.pattern.is_empty() => return None,
                Repeat::Forever => return None,
                Repeat::Times(n) => total += period * u64::from(n),
            }
        }
        Some(total)
    }
}

/// The DTMF pair for a key: (row, column) Hz.
pub fn dtmf_frequencies(key: char) -> Option<(f32, f32)> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (row, col) = match key.to_ascii_uppercase() {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => return None,
    };
    Some((ROWS[row], COLS[col]))
}

/// A ring cadence as settings offer it: a name (`us`, `uk`, `eu`, `short-short`, … or one from
/// the config) for the one [`Cadence`] type the board plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCadence {
    /// Shown in settings and kept in the user's settings.
    pub name: String,
    pub cadence: Cadence,
}

impl NamedCadence {
    /// The built-in cadences ([`Cadence::presets`]), the region's default first.
    pub fn presets(region: Region) -> Vec<NamedCadence> {
        let mut all: Vec<NamedCadence> = Cadence::presets()
            .into_iter()
            .map(|(name, cadence)| NamedCadence {
                name: name.to_string(),
                cadence,
            })
            .collect();
        let default = all
            .iter()
            .position(|c| c.name == region.name())
            .unwrap_or(0);
        let chosen = all.remove(default);
        all.insert(0, chosen);
        all
    }
}

#[cfg(test)]
mod tests;
