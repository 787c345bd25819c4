//! The audio path between the board's rings and the call: the microphone goes to the call,
//! the call's audio and the phone's tones (dial tone, ringback, key beeps) are mixed, scaled
//! by the route's volume, and played. A tokio task paced by the capture ring (the device
//! clock) moves the samples; the call side reads and writes through shared queues.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use offhook_board::audio::{CaptureStream, PlaybackStream};
use twilio_voice::model::CallId as VoiceCallId;
use twilio_voice::{AudioDevice, AudioSink, AudioSource};

use crate::phone::{AudioRoute, MAX_VOLUME, VolumePath};
use crate::tones::{Region, Tone, TonePlayer, ToneSpec};

/// At most this much call audio waits in each direction (older samples are dropped).
const QUEUE_LIMIT: Duration = Duration::from_millis(200);

struct Mix {
    rate: u32,
    region: Region,
    uplink: VecDeque<i16>,
    downlink: VecDeque<i16>,
    tone: Option<TonePlayer>,
    route: AudioRoute,
    handset_gain: f32,
    speaker_gain: f32,
    /// Loudest sample played in the last period (for tests and the log).
    last_out_peak: u16,
    call_open: bool,
    /// One period of tone, reused: the mixer runs every 10 ms and should not allocate.
    tone_scratch: Vec<i16>,
}

impl Mix {
    fn limit(&self) -> usize {
        (self.rate as u128 * QUEUE_LIMIT.as_millis() / 1000) as usize
    }
}

/// Appends `samples`, dropping the oldest beyond `limit` (a late reader loses the past, not
/// the present).
fn push_bounded(queue: &mut VecDeque<i16>, samples: &[i16], limit: usize) {
    queue.extend(samples);
    let excess = queue.len().saturating_sub(limit);
    queue.drain(..excess);
}

/// The shared state of the audio path. Cheap to clone.
#[derive(Clone)]
pub struct AudioPath {
    mix: Arc<Mutex<Mix>>,
}

/// Volume steps are about 3 dB; level 0 is silent.
pub fn gain_for(level: u8) -> f32 {
    if level == 0 {
        return 0.0;
    }
    let steps_down = (MAX_VOLUME.saturating_sub(level)) as f32;
    10f32.powf(-3.0 * steps_down / 20.0)
}

impl AudioPath {
    pub fn new(rate: u32, region: Region) -> AudioPath {
        AudioPath {
            mix: Arc::new(Mutex::new(Mix {
                rate,
                region,
                uplink: VecDeque::new(),
                downlink: VecDeque::new(),
                tone: None,
                route: AudioRoute::Handset,
                handset_gain: gain_for(7),
                speaker_gain: gain_for(7),
                last_out_peak: 0,
                call_open: false,
                tone_scratch: Vec::new(),
            })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Mix) -> R) -> R {
        let mut guard = match self.mix.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn rate(&self) -> u32 {
        self.with(|m| m.rate)
    }

    /// Plays `tone` from now on (replacing any other); `None` stops it.
    pub fn play_tone(&self, tone: Option<Tone>) {
        self.with(|m| {
            m.tone =
                tone.and_then(
                    |t| match TonePlayer::new(ToneSpec::for_tone(t, m.region), m.rate) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::warn!(rate = e.0, "no tone player at this rate");
                            None
                        }
                    },
                );
        });
    }

    pub fn set_route(&self, route: AudioRoute) {
        self.with(|m| m.route = route);
    }

    pub fn set_volume(&self, path: VolumePath, level: u8) {
        self.with(|m| match path {
            VolumePath::Handset => m.handset_gain = gain_for(level),
            VolumePath::Speaker => m.speaker_gain = gain_for(level),
            VolumePath::Ringer => {}
        });
    }

    pub fn last_output_peak(&self) -> u16 {
        self.with(|m| m.last_out_peak)
    }

    /// One period: `mic` in (to the call), the mixed output for the earpiece out.
    pub fn process(&self, mic: &[i16], out: &mut [i16]) {
        self.with(|m| {
            if m.call_open {
                let limit = m.limit();
                push_bounded(&mut m.uplink, mic, limit);
            }
            let mut tone = std::mem::take(&mut m.tone_scratch);
            tone.clear();
            tone.resize(out.len(), 0);
            let mut tone_done = false;
            if let Some(player) = m.tone.as_mut() {
                player.fill(&mut tone);
                tone_done = player.is_finished();
            }
            if tone_done {
                m.tone = None;
            }
            let gain = match m.route {
                AudioRoute::Handset => m.handset_gain,
                AudioRoute::Speaker => m.speaker_gain,
            };
            let mut peak = 0u16;
            for (o, t) in out.iter_mut().zip(&tone) {
                let call = m.downlink.pop_front().unwrap_or(0);
                let mixed = (call as f32 + *t as f32) * gain;
                *o = mixed.clamp(i16::MIN as f32, i16::MAX as f32) as i16;
                peak = peak.max(o.unsigned_abs());
            }
            m.last_out_peak = peak;
            m.tone_scratch = tone;
        });
    }

    /// Starts the thread that moves audio between the board's rings and the path, paced by
    /// the capture device: one period in, one period out.
    pub fn start_pump(
        &self,
        capture: CaptureStream,
        playback: PlaybackStream,
    ) -> std::io::Result<Pump> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = self.clone();
        let thread = std::thread::Builder::new()
            .name("audio-mix".into())
            .spawn(move || path.pump(capture, playback, &flag))?;
        Ok(Pump {
            stop,
            thread: Some(thread),
        })
    }

    fn pump(&self, mut capture: CaptureStream, mut playback: PlaybackStream, stop: &AtomicBool) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "audio mixer cannot start");
                return;
            }
        };
        let period = capture.period_frames().max(1);
        let mut mic = vec![0i16; period];
        let mut out = vec![0i16; period];
        runtime.block_on(async {
            while !stop.load(Ordering::Relaxed) {
                // Woken by the capture thread; the timeout only lets a stop request through.
                let _ = tokio::time::timeout(Duration::from_millis(100), capture.readable()).await;
                while capture.available() >= period {
                    if !capture.read_exact(&mut mic) {
                        break;
                    }
                    self.process(&mic, &mut out);
                    // Keep the playback ring from growing without bound if its device stalls.
                    if playback.queued() < period * 6 {
                        playback.write(&out);
                    }
                }
            }
        });
    }
}

/// The mixer thread; stops when dropped.
pub struct Pump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pump {
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The call's side of the path, as the Voice SDK's audio device.
pub struct CallAudio {
    path: AudioPath,
}

impl CallAudio {
    pub fn new(path: AudioPath) -> CallAudio {
        CallAudio { path }
    }
}

struct PathSource(AudioPath);
struct PathSink(AudioPath);

impl AudioSource for PathSource {
    fn sample_rate(&self) -> u32 {
        self.0.rate()
    }
    fn read(&mut self, frame: &mut [i16]) -> bool {
        self.0.with(|m| {
            if m.uplink.len() < frame.len() {
                frame.fill(0);
                return false;
            }
            for s in frame.iter_mut() {
                *s = m.uplink.pop_front().unwrap_or(0);
            }
            true
        })
    }
}

impl AudioSink for PathSink {
    fn sample_rate(&self) -> u32 {
        self.0.rate()
    }
    fn write(&mut self, frame: &[i16]) {
        self.0.with(|m| {
            let limit = m.limit();
            push_bounded(&mut m.downlink, frame, limit);
        });
    }
}

impl Drop for PathSink {
    fn drop(&mut self) {
        // The call's media ended: stop feeding the microphone into a queue nobody reads.
        self.0.with(|m| {
            m.call_open = false;
            m.uplink.clear();
            m.downlink.clear();
        });
    }
}

impl AudioDevice for CallAudio {
    fn open(
        &self,
        _call: VoiceCallId,
    ) -> Result<(Box<dyn AudioSource>, Box<dyn AudioSink>), String> {
        self.path.with(|m| {
            m.call_open = true;
            m.uplink.clear();
            m.downlink.clear();
        });
        Ok((
            Box::new(PathSource(self.path.clone())),
            Box::new(PathSink(self.path.clone())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::analysis::has_frequency;

    #[test]
    fn call_audio_and_tones_are_mixed_and_scaled() {
        let path = AudioPath::new(16_000, Region::Us);
        let audio = CallAudio::new(path.clone());
        let (mut source, mut sink) = audio.open(VoiceCallId(1)).unwrap();
        // The far end's 1 kHz tone arrives.
        let far: Vec<i16> = (0..320)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin()) as i16
            })
            .collect();
        sink.write(&far);
        let mic = vec![1234i16; 160];
        let mut out = vec![0i16; 160];
        path.set_volume(VolumePath::Handset, MAX_VOLUME);
        path.process(&mic, &mut out);
        path.process(&mic, &mut out);
        let mut frame = vec![0i16; 320];
        assert!(
            source.read(&mut frame),
            "two periods of microphone queued for the call"
        );
        assert!(frame.iter().all(|s| *s == 1234));
        // Mute volume: silence out.
        path.set_volume(VolumePath::Handset, 0);
        sink.write(&far);
        path.process(&mic, &mut out);
        assert!(out.iter().all(|s| *s == 0));
        // A dial tone alone (no call audio) at full volume.
        path.set_volume(VolumePath::Handset, MAX_VOLUME);
        path.play_tone(Some(Tone::Dial));
        let mut heard = Vec::new();
        for _ in 0..50 {
            path.process(&mic, &mut out);
            heard.extend_from_slice(&out);
        }
        assert!(
            has_frequency(&heard[1600..], 16_000, 350.0, 0.2),
            "US dial tone has 350 Hz"
        );
        assert!(
            has_frequency(&heard[1600..], 16_000, 440.0, 0.2),
            "US dial tone has 440 Hz"
        );
        drop(sink);
        let mut frame = vec![0i16; 320];
        assert!(
            !source.read(&mut frame),
            "no microphone queued once the call's media ended"
        );
    }

    #[test]
    fn volume_steps_are_about_three_db() {
        assert_eq!(gain_for(0), 0.0);
        assert!((gain_for(MAX_VOLUME) - 1.0).abs() < 1e-6);
        let ratio = gain_for(9) / gain_for(MAX_VOLUME);
        assert!((ratio - 0.708).abs() < 0.01);
    }
}
