//! A simulated acoustic path for the speakerphone, and its measurements.
//!
//! The far end's speech is "played", comes back into the microphone after the device's delay,
//! attenuated and through a short room impulse response, and is mixed with a near-end talker
//! and a little noise. The timeline (seconds) is fixed so the measurements know what is where:
//! far end alone `0..8` (convergence, ERLE), double talk `8..11`, near end alone `11..14`
//! (level), far end alone again `14..16` (ERLE after double talk).
//!
//! Speech is recorded speech: `espeak-ng` renders it and `sox` brings it to the device's rate
//! (both Debian packages, installed by `.ci/install-deps --test`).

use std::ops::Range;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::SpeechProcessor;
use crate::error::VoiceError;

pub const FAR_ONLY: Range<f64> = 0.0..8.0;
pub const DOUBLE_TALK: Range<f64> = 8.0..11.0;
pub const NEAR_ONLY: Range<f64> = 11.0..14.0;
pub const FAR_AGAIN: Range<f64> = 14.0..16.0;
pub const LENGTH_S: f64 = 16.0;

pub const FAR_TEXT: &str = "The quick brown fox jumps over the lazy dog. A desk phone is judged \
    by its audio. Please leave a message after the tone, and we will call you back as soon as \
    we can. Thank you for calling, goodbye. The weather tomorrow will be sunny with a light \
    breeze from the west.";
pub const NEAR_TEXT: &str = "Hello, can you hear me now? I am talking on the speakerphone.";

/// `text` spoken by espeak-ng's `voice`, as mono samples in [-1, 1] at `rate`.
pub fn speak(text: &str, voice: &str, rate: u32, dir: &Path) -> Result<Vec<f32>, VoiceError> {
    let io = |what: &str, e: std::io::Error| VoiceError::Io(format!("{what}: {e}"));
    std::fs::create_dir_all(dir).map_err(|e| io("speech directory", e))?;
    let wav = dir.join(format!("{voice}.wav").replace('+', "-"));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .map_err(|e| io("espeak-ng (Debian package espeak-ng)", e))?;
    if !status.success() {
        return Err(VoiceError::Io(format!("espeak-ng exited with {status}")));
    }
    let rate_arg = rate.to_string();
    // -R: sox dithers when it requantizes, from a random seed unless told to repeat; the same
    // talkers every run keep the figures comparable from one run to the next.
    let out = Command::new("sox")
        .arg("-R")
        .arg(&wav)
        .args([
            "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-r", &rate_arg, "-",
        ])
        .output()
        .map_err(|e| io("sox (Debian package sox)", e))?;
    if !out.status.success() {
        return Err(VoiceError::Io(format!("sox exited with {}", out.status)));
    }
    let _ = std::fs::remove_file(&wav);
    Ok(out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect())
}

/// The two talkers of the scene: (far end, near end), at `rate`.
pub fn talkers(rate: u32) -> Result<(Vec<f32>, Vec<f32>), VoiceError> {
    let dir = std::env::temp_dir().join(format!("offhook-echo-speech-{}", std::process::id()));
    let far = speak(FAR_TEXT, "en-us", rate, &dir);
    let near = speak(NEAR_TEXT, "en-gb+m3", rate, &dir);
    let _ = std::fs::remove_dir(&dir);
    Ok((far?, near?))
}

/// How loud things are and how long the echo takes.
#[derive(Debug, Clone, Copy)]
pub struct SceneSpec {
    pub rate: u32,
    /// The far end's level while talking, as played (dBFS); `None`: the far end is silent.
    pub far_level_db: Option<f64>,
    /// The near-end talker's level at the microphone (dBFS).
    pub near_level_db: f64,
    /// Loudspeaker to microphone, before the room response (dB).
    pub echo_gain_db: f64,
    /// Played to captured: what the device reports as its playback plus capture latency.
    pub delay: Duration,
    /// White noise at the microphone (dBFS).
    pub noise_level_db: f64,
}

impl SceneSpec {
    /// A loudspeaker close to the microphone: the echo is louder than the near-end talker.
    pub fn speakerphone(rate: u32) -> Self {
        SceneSpec {
            rate,
            far_level_db: Some(-20.0),
            near_level_db: -26.0,
            echo_gain_db: -6.0,
            delay: Duration::from_millis(40),
            noise_level_db: -70.0,
        }
    }
}

/// One run's signals. `echo` and `near` are what the microphone's audio is made of, kept apart
/// for the measurements.
pub struct Scene {
    pub spec: SceneSpec,
    pub far: Vec<i16>,
    pub mic: Vec<i16>,
    pub echo: Vec<f32>,
    pub near: Vec<f32>,
}

impl Scene {
    pub fn new(far_speech: &[f32], near_speech: &[f32], spec: SceneSpec) -> Scene {
        let rate = spec.rate;
        let at = |s: f64| (s * rate as f64) as usize;
        let total = at(LENGTH_S);
        let mut far = vec![0f32; total];
        if let Some(level) = spec.far_level_db {
            let n = far_speech.len().min(total);
            far[..n].copy_from_slice(&far_speech[..n]);
            set_active_level(&mut far, level);
            far[at(NEAR_ONLY.start)..at(NEAR_ONLY.end)].fill(0.0);
        }
        let mut near = vec![0f32; total];
        for start in [DOUBLE_TALK.start, NEAR_ONLY.start] {
            let n = near_speech.len().min(at(3.0));
            near[at(start)..at(start) + n].copy_from_slice(&near_speech[..n]);
        }
        set_active_level(&mut near, spec.near_level_db);
        let far: Vec<i16> = far.iter().map(|&v| to_i16(v)).collect();
        let delay = at(spec.delay.as_secs_f64());
        let gain = db_to_gain(spec.echo_gain_db);
        let room = room_response(rate, 7);
        let mut echo = vec![0f32; total];
        for (i, &x) in far.iter().enumerate().take(total.saturating_sub(delay)) {
            if x == 0 {
                continue;
            }
            let x = x as f32 / 32768.0 * gain;
            for (j, &h) in room.iter().enumerate() {
                if let Some(e) = echo.get_mut(i + delay + j) {
                    *e += x * h;
                }
            }
        }
        let mut noise = Lcg(3);
        // Uniform in [-a, a] has RMS a/sqrt(3).
        let noise_peak = db_to_gain(spec.noise_level_db) * 3f32.sqrt();
        let mic = (0..total)
            .map(|i| to_i16(echo[i] + near[i] + noise.next() * noise_peak))
            .collect();
        Scene {
            spec,
            far,
            mic,
            echo,
            near,
        }
    }

    /// Runs the scene through `processor` as the audio engine would: per 10 ms, the played frame
    /// to `process_render`, then the captured frame to `process_capture`. The delay it is told
    /// is the scene's (as the device would report it).
    pub fn run(&self, processor: &mut SpeechProcessor) -> Result<Vec<i16>, VoiceError> {
        processor.set_device_latency(self.spec.delay, Duration::ZERO);
        let n = processor.frame_len();
        self.run_frames(n, |played, mic, cleaned| {
            processor.process_render(played)?;
            processor.process_capture(mic, cleaned)
        })
    }

    /// The same framing for any processor: `frame` gets, per `frame_len` samples in order, the
    /// played frame, the captured frame and where its output goes.
    pub fn run_frames<E>(
        &self,
        frame_len: usize,
        mut frame: impl FnMut(&[i16], &[i16], &mut [i16]) -> Result<(), E>,
    ) -> Result<Vec<i16>, E> {
        let mut out = vec![0i16; self.mic.len()];
        for ((played, mic), cleaned) in self
            .far
            .chunks_exact(frame_len)
            .zip(self.mic.chunks_exact(frame_len))
            .zip(out.chunks_exact_mut(frame_len))
        {
            frame(played, mic, cleaned)?;
        }
        Ok(out)
    }

    fn span(&self, seconds: &Range<f64>) -> Range<usize> {
        let at = |s: f64| ((s * self.spec.rate as f64) as usize).min(self.mic.len());
        at(seconds.start)..at(seconds.end)
    }

    /// Echo return loss enhancement over a window without near-end speech: the echo's energy
    /// at the microphone over the energy of what went out.
    pub fn erle_db(&self, out: &[i16], seconds: Range<f64>) -> f64 {
        let r = self.span(&seconds);
        power_ratio_db(energy(&self.echo[r.clone()]), energy_i16(&out[r]))
    }

    /// The 1 s windows over which the echo must be cancelled once converged: every second from
    /// 2 s on while the far end talks alone, and after double talk.
    pub fn converged_windows() -> impl Iterator<Item = Range<f64>> {
        let alone = (FAR_ONLY.start as usize + 2..FAR_ONLY.end as usize).map(|s| s as f64);
        let after = (FAR_AGAIN.start as usize..FAR_AGAIN.end as usize).map(|s| s as f64);
        alone.chain(after).map(|s| s..s + 1.0)
    }

    /// When the echo canceller has converged: the start of the first 200 ms window (in 50 ms
    /// steps over the far end alone) from which every window with echo in it has an ERLE of
    /// at least `threshold_db`. Windows whose echo is 10 dB below the loudest one's (pauses)
    /// are skipped. `None`: not converged by the end of the far end alone.
    pub fn convergence_s(&self, out: &[i16], threshold_db: f64) -> Option<f64> {
        let windows: Vec<Range<f64>> = (0..)
            .map(|i| FAR_ONLY.start + i as f64 * 0.05)
            .take_while(|&s| s + 0.2 <= FAR_ONLY.end + 1e-9)
            .map(|s| s..s + 0.2)
            .collect();
        let echo: Vec<f64> = windows
            .iter()
            .map(|w| energy(&self.echo[self.span(w)]))
            .collect();
        let loudest = echo.iter().fold(0f64, |m, &e| m.max(e));
        let mut converged = None;
        for (w, &e) in windows.iter().zip(&echo).rev() {
            if e < loudest * 0.1 {
                continue;
            }
            if self.erle_db(out, w.clone()) < threshold_db {
                break;
            }
            converged = Some(w.start);
        }
        converged
    }

    /// What went out over what the near-end talker said, in dB (0: the same level).
    pub fn near_level_db(&self, out: &[i16], seconds: Range<f64>) -> f64 {
        let r = self.span(&seconds);
        power_ratio_db(energy_i16(&out[r.clone()]), energy(&self.near[r]))
    }

    /// How much of the near-end talker's own waveform is in the output, in dB (0: all of it):
    /// the output's projection on the near-end signal, at the best lag up to 25 ms (the
    /// processor's band-split filters delay its output a little). Unlike a level, residual
    /// echo cannot make up for a muted talker here.
    pub fn near_retained_db(&self, out: &[i16], seconds: Range<f64>) -> f64 {
        let r = self.span(&seconds);
        let max_lag = (self.spec.rate / 40) as usize;
        let end = r.end.saturating_sub(max_lag);
        let near_energy = energy(&self.near[r.start..end]);
        let best = (0..max_lag)
            .map(|lag| {
                (r.start..end)
                    .map(|i| self.near[i] as f64 * out[i + lag] as f64 / 32768.0)
                    .sum::<f64>()
            })
            .fold(f64::MIN, f64::max);
        20.0 * (best.max(1e-12) / near_energy.max(1e-20)).log10()
    }
}

/// CPU time this thread has used so far (`CLOCK_THREAD_CPUTIME_ID`): what processing a scene
/// cost, whatever else the machine runs.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A short room impulse response (40 ms): the direct path after 1 ms, five early reflections
/// and a diffuse tail decaying with an 8 ms time constant.
pub fn room_response(rate: u32, seed: u64) -> Vec<f32> {
    let at = |ms: f32| (ms * rate as f32 / 1000.0) as usize;
    let mut h = vec![0f32; at(40.0)];
    h[at(1.0)] = 1.0;
    for (ms, g) in [
        (3.1, 0.55),
        (5.7, -0.4),
        (8.3, 0.3),
        (12.9, -0.22),
        (17.5, 0.15),
    ] {
        h[at(ms)] += g;
    }
    let mut tail = Lcg(seed);
    for (i, v) in h.iter_mut().enumerate().skip(at(4.0)) {
        let t = i as f32 / rate as f32;
        *v += 0.12 * tail.next() * (-t / 0.008).exp();
    }
    h
}

/// Scales `x` so that its RMS over the 10 ms blocks holding speech is `db` dBFS.
fn set_active_level(x: &mut [f32], db: f64) {
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let threshold = peak * 0.003;
    let (mut e, mut n) = (0f64, 0usize);
    for block in x
        .chunks(480)
        .filter(|b| b.iter().any(|v| v.abs() > threshold))
    {
        e += energy(block);
        n += block.len();
    }
    if n == 0 {
        return;
    }
    let now_db = 10.0 * (e / n as f64).log10();
    let g = db_to_gain(db - now_db);
    x.iter_mut().for_each(|v| *v *= g);
}

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

/// A sample in [-1, 1] as 16-bit PCM (rounded, clipped).
pub fn to_i16(v: f32) -> i16 {
    (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

fn energy_i16(x: &[i16]) -> f64 {
    x.iter().map(|&v| (v as f64 / 32768.0).powi(2)).sum()
}

fn power_ratio_db(num: f64, den: f64) -> f64 {
    10.0 * (num.max(1e-20) / den.max(1e-20)).log10()
}

/// A small deterministic generator: the same room and noise on every run.
struct Lcg(u64);

impl Lcg {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
