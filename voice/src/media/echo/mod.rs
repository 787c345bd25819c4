//! Speech processing for the uplink, sans-IO: acoustic echo cancellation (WebRTC's AEC3),
//! noise suppression and automatic gain control (AGC2), from `sonora`, the pure-Rust port of
//! WebRTC's audio processing module. Chosen over the C++ `webrtc-audio-processing` 2.x by the
//! figures of `--example aec-compare` (feature `aec-compare`) on the same simulated room: at
//! 48 kHz with every stage on, its worst 1 s window after convergence was 28.2 dB ERLE
//! against 23.2 dB, converging in 1.2 s against 3.1 s, at about 2.5 % of an x86 core against
//! 2.0 %, and 0.7x the C++ module's CPU on aarch64 under qemu. It also cross-builds for the
//! Pi with no C++ toolchain and no abseil newer than Debian 12's.
//!
//! One [`SpeechProcessor`] per call, fed in 10 ms frames of mono 16-bit PCM at the device's
//! rate: [`SpeechProcessor::process_render`] with exactly what the playback period wrote to the
//! sound card, [`SpeechProcessor::process_capture`] with each captured period before encoding.
//! The echo path's delay comes from the device's reported latency
//! ([`SpeechProcessor::set_device_latency`]); AEC3 refines it from there.
//!
//! - [`sim`] — a simulated acoustic path (delay, attenuation, room response, near-end talker)
//!   and its measurements (ERLE, near-end level), for the tests and the benchmark.

pub mod sim;

use std::time::Duration;

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::error::VoiceError;

/// Which stages run on the microphone's audio. Each can be switched on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechOptions {
    /// Acoustic echo cancellation: removes the far end's voice picked up from the loudspeaker.
    pub echo_cancellation: bool,
    /// Stationary noise suppression (fans, hum, street noise).
    pub noise_suppression: bool,
    /// Automatic gain control: brings a quiet or distant talker to a steady level.
    pub gain_control: bool,
}

impl SpeechOptions {
    /// Everything on: the speakerphone.
    pub const ALL: SpeechOptions = SpeechOptions {
        echo_cancellation: true,
        noise_suppression: true,
        gain_control: true,
    };
    /// Nothing: the microphone's audio goes out as captured.
    pub const OFF: SpeechOptions = SpeechOptions {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: false,
    };

    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }
}

/// Speech processing per audio route (`DeviceOptions::speech_processing`). Default: all on for
/// the loudspeaker, off for the handset (its earpiece hardly leaks into its microphone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechRoutes {
    pub speaker: SpeechOptions,
    pub handset: SpeechOptions,
}

impl Default for SpeechRoutes {
    fn default() -> Self {
        SpeechRoutes {
            speaker: SpeechOptions::ALL,
            handset: SpeechOptions::OFF,
        }
    }
}

/// One call's uplink speech processing. Preallocated: nothing allocates per frame.
pub struct SpeechProcessor {
    apm: AudioProcessing,
    options: SpeechOptions,
    frame_len: usize,
    delay_ms: i32,
    /// `sonora` writes the render frame back out (unchanged); this takes it.
    render_out: Vec<i16>,
}

impl SpeechProcessor {
    /// For mono audio at `sample_rate` (8000 to 48000 Hz).
    pub fn new(sample_rate: u32, options: SpeechOptions) -> Result<Self, VoiceError> {
        if !(8000..=48_000).contains(&sample_rate) || !sample_rate.is_multiple_of(100) {
            return Err(VoiceError::InvalidArgument(format!(
                "speech processing needs 8000 to 48000 Hz in whole 10 ms frames, not {sample_rate} Hz"
            )));
        }
        let config = Config {
            echo_canceller: options.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: options.noise_suppression.then(NoiseSuppression::default),
            gain_controller2: options.gain_control.then(|| GainController2 {
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            // Rumble below ~80 Hz only hurts the echo canceller's filter and the codec.
            high_pass_filter: (!options.is_off()).then(HighPassFilter::default),
            ..Config::default()
        };
        let stream = StreamConfig::new(sample_rate, 1);
        let apm = AudioProcessing::builder()
            .config(config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        let frame_len = stream.num_frames();
        Ok(SpeechProcessor {
            apm,
            options,
            frame_len,
            delay_ms: 0,
            render_out: vec![0; frame_len],
        })
    }

    /// Samples in one 10 ms frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    pub fn options(&self) -> SpeechOptions {
        self.options
    }

    /// The delay between handing a frame to [`Self::process_render`] and its sound reaching a
    /// frame given to [`Self::process_capture`]: the playback latency the sound card reports
    /// (queued frames) plus its capture latency. Clamped to the 0–500 ms that AEC3 accepts.
    pub fn set_device_latency(&mut self, playback: Duration, capture: Duration) {
        let ms = (playback + capture).as_millis().min(500);
        self.delay_ms = ms as i32;
    }

    /// The far end's audio exactly as written to the sound card, one 10 ms frame, at the
    /// playback period.
    pub fn process_render(&mut self, played: &[i16]) -> Result<(), VoiceError> {
        self.check_len(played.len())?;
        if !self.options.echo_cancellation {
            return Ok(());
        }
        self.apm
            .process_render_i16(played, &mut self.render_out)
            .map_err(|e| VoiceError::InvalidArgument(format!("speech processing: {e}")))
    }

    /// One 10 ms frame from the microphone into `cleaned` (the same length).
    pub fn process_capture(&mut self, mic: &[i16], cleaned: &mut [i16]) -> Result<(), VoiceError> {
        self.check_len(mic.len())?;
        self.check_len(cleaned.len())?;
        if self.options.is_off() {
            cleaned.copy_from_slice(mic);
            return Ok(());
        }
        if self.options.echo_cancellation {
            // Out of range is clamped (and said so); the delay was clamped already.
            let _ = self.apm.set_stream_delay_ms(self.delay_ms);
        }
        self.apm
            .process_capture_i16(mic, cleaned)
            .map_err(|e| VoiceError::InvalidArgument(format!("speech processing: {e}")))
    }

    /// AEC3's own estimate of its echo return loss enhancement, in dB, once it has one.
    pub fn echo_return_loss_enhancement_db(&self) -> Option<f64> {
        self.apm.statistics().echo_return_loss_enhancement
    }

    fn check_len(&self, len: usize) -> Result<(), VoiceError> {
        if len == self.frame_len {
            Ok(())
        } else {
            Err(VoiceError::InvalidArgument(format!(
                "speech processing takes 10 ms frames of {} samples, not {len}",
                self.frame_len
            )))
        }
    }
}

#[cfg(test)]
mod tests;
