//! `offhook-dsp`: the one home of the workspace's signal processing, over mono `i16` PCM.
//!
//! Module map:
//! - [`resample`] — a streaming polyphase windowed-sinc resampler between any two rates,
//!   with no allocation per period once warmed up.
//! - [`g711`] — G.711 μ-law (PCMU) and A-law (PCMA), sample by sample.
//! - [`tone`] — phase-continuous sine generators: one tone, dual tones, any mix.
//! - [`analysis`] — level (RMS, peak, dBFS), Goertzel power, frequency purity, dominant
//!   frequency: what the lab reports about a leg and what tests check in what they hear.
//! - [`wav`] — reading (PCM 8/16-bit, μ-law, A-law; any channel count) and writing
//!   (16-bit mono PCM) WAV files.
//!
//! Nothing here allocates per sample, and nothing panics on external input (a WAV file from
//! the network is external input).

pub mod analysis;
pub mod g711;
pub mod resample;
pub mod tone;
pub mod wav;

pub use resample::Resampler;
pub use tone::ToneGenerator;
