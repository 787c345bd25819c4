//! The audio path between the board's rings and the call: the microphone goes to the call,
//! the call's audio and the phone's tones (dial tone, ringback, key beeps) are mixed, scaled
//! by the route's volume, and played.
//!
//! ```text
//!  capture ring ─▶ mixer thread ─ uplink ring ─▶ call audio thread (encode, send)
//!  playback ring ◀─ mixer thread ◀─ downlink ring ─ call audio thread (jitter buffer, decode)
//! ```
//!
//! The mixer thread ([`AudioPath::start_pump`], SCHED_FIFO where allowed) is paced by the
//! capture ring, the sound card's clock, and owns every piece of mixing state ([`Mixer`]).
//! The rest of the program reaches it through a lock-free ring of commands, and the call
//! through a pair of lock-free SPSC rings per call ([`CallAudio`]); the mixer never takes a
//! lock, and nothing on its path allocates per period.
//!
//! On the loudspeaker (and on the handset if configured) the microphone's audio goes through
//! echo cancellation, noise suppression and gain control ([`Uplink`]) before the call gets it:
//! the echo canceller's reference is exactly what the mixer writes to the sound card, in the
//! same period.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use offhook_board::audio::{CaptureStream, PlaybackStream, set_realtime};
use twilio_voice::liveness::Heartbeat;
use twilio_voice::media::echo::{SpeechOptions, SpeechProcessor, SpeechRoutes};
use twilio_voice::model::CallId as VoiceCallId;
use twilio_voice::{AudioDevice, AudioPort};

use crate::phone::{AudioRoute, MAX_VOLUME, VolumePath};
use crate::tones::{Region, Tone, TonePlayer, ToneSpec};

/// Call audio each way between the mixer and the call's thread, at most.
const CALL_RING: Duration = Duration::from_millis(200);
/// Downlink audio beyond this many periods is late audio the mixer skips.
const MAX_DOWNLINK_PERIODS: usize = 3;
/// The longest period the mixer handles (it preallocates for it).
const MAX_PERIOD: Duration = Duration::from_millis(100);
/// Commands waiting for the mixer.
const COMMAND_SLOTS: usize = 64;
/// SCHED_FIFO priority of the mixer: that of the ALSA threads it sits between.
const MIXER_PRIORITY: u8 = 40;

/// Volume steps are about 3 dB; level 0 is silent.
pub fn gain_for(level: u8) -> f32 {
    if level == 0 {
        return 0.0;
    }
    let steps_down = (MAX_VOLUME.saturating_sub(level)) as f32;
    10f32.powf(-3.0 * steps_down / 20.0)
}

/// What the rest of the program asks of the mixer.
enum Command {
    Tone(Option<TonePlayer>),
    Route(AudioRoute),
    Gain(VolumePath, f32),
    Call(CallEnds),
}

/// The mixer's ends of one call's rings.
struct CallEnds {
    uplink: rtrb::Producer<i16>,
    downlink: rtrb::Consumer<i16>,
    /// The call's audio thread, woken when a period is pushed.
    reader: Arc<OnceLock<Thread>>,
    handoff: Handoff,
}

/// How the call's thread kept up with the card, told once when the call ends.
#[derive(Default)]
struct Handoff {
    /// The call's audio has started arriving.
    flowing: bool,
    /// Periods the call's thread had not filled in time (played partly as silence).
    short_periods: u64,
    /// Samples skipped because they came too late.
    skipped: u64,
}

impl Handoff {
    fn report(&self, rate: usize) {
        let skipped_ms = self.skipped * 1000 / rate.max(1) as u64;
        if self.short_periods > 0 || self.skipped > 0 {
            tracing::warn!(
                short_periods = self.short_periods,
                skipped_ms,
                "the call's audio thread fell behind the sound card"
            );
        } else {
            tracing::debug!("the call's audio thread kept up with the sound card");
        }
    }
}

/// Everything the mixer thread owns.
pub struct Mixer {
    commands: rtrb::Consumer<Command>,
    tone: Option<TonePlayer>,
    route: AudioRoute,
    handset_gain: f32,
    speaker_gain: f32,
    call: Option<CallEnds>,
    /// Samples per second at the card.
    rate: usize,
    /// One period of tone and one of call audio, reused.
    tone_scratch: Vec<i16>,
    call_scratch: Vec<i16>,
    out_peak: Arc<AtomicU16>,
    /// The microphone's processing on the loudspeaker and on the handset.
    speaker_uplink: Uplink,
    handset_uplink: Uplink,
}

/// One route's uplink speech processing, fed in the mixer's periods and run in 10 ms frames.
/// Periods that are not whole frames are carried over, so the call may get the microphone up
/// to one frame later. Everything is allocated up front.
pub struct Uplink {
    processor: Option<SpeechProcessor>,
    /// Played and captured samples not yet making up a whole frame; the processed microphone
    /// audio of this period; one processed frame.
    played: Vec<i16>,
    captured: Vec<i16>,
    cleaned: Vec<i16>,
    frame: Vec<i16>,
    failed: bool,
}

impl Uplink {
    fn new(rate: u32, options: SpeechOptions, max_period: usize) -> Uplink {
        let processor = if options.is_off() {
            None
        } else {
            SpeechProcessor::new(rate, options)
                .inspect_err(|e| tracing::warn!(%e, "no speech processing at this rate"))
                .ok()
        };
        let frame = processor.as_ref().map_or(0, SpeechProcessor::frame_len);
        Uplink {
            processor,
            played: Vec::with_capacity(frame),
            captured: Vec::with_capacity(frame),
            cleaned: vec![0; max_period + frame],
            frame: vec![0; frame],
            failed: false,
        }
    }

    fn is_active(&self) -> bool {
        self.processor.is_some() && !self.failed
    }

    /// The sound card's playback plus capture delay, for the echo canceller's first guess.
    pub fn set_device_latency(&mut self, playback: Duration, capture: Duration) {
        if let Some(p) = self.processor.as_mut() {
            p.set_device_latency(playback, capture);
        }
    }

    /// One period: `played` is what goes to the sound card, `mic` what came from it. Returns
    /// the processed microphone audio that is ready (whole frames only).
    fn process(&mut self, played: &[i16], mic: &[i16]) -> &[i16] {
        let Some(processor) = self.processor.as_mut() else {
            return &[];
        };
        let frame_len = processor.frame_len();
        let mut ready = 0;
        for (p, m) in played.iter().zip(mic) {
            self.played.push(*p);
            self.captured.push(*m);
            if self.played.len() < frame_len {
                continue;
            }
            let done = processor
                .process_render(&self.played)
                .and_then(|()| processor.process_capture(&self.captured, &mut self.frame));
            if let Err(e) = done {
                // Never expected (the frame sizes are ours); the microphone then goes out as
                // captured rather than not at all.
                tracing::error!(%e, "speech processing failed: the microphone goes out unprocessed");
                self.failed = true;
                let n = mic.len().min(self.cleaned.len());
                self.cleaned[..n].copy_from_slice(&mic[..n]);
                return &self.cleaned[..n];
            }
            let end = (ready + frame_len).min(self.cleaned.len());
            self.cleaned[ready..end].copy_from_slice(&self.frame[..end - ready]);
            ready = end;
            self.played.clear();
            self.captured.clear();
        }
        &self.cleaned[..ready]
    }
}

impl Mixer {
    fn apply(&mut self, command: Command) {
        match command {
            Command::Tone(t) => self.tone = t,
            Command::Route(r) => self.route = r,
            Command::Gain(VolumePath::Handset, g) => self.handset_gain = g,
            Command::Gain(VolumePath::Speaker, g) => self.speaker_gain = g,
            Command::Gain(VolumePath::Ringer, _) => {}
            Command::Call(ends) => self.call = Some(ends),
        }
    }

    /// One period: `mic` in (to the call), the mixed output for the earpiece out.
    pub fn process(&mut self, mic: &[i16], out: &mut [i16]) {
        while let Ok(c) = self.commands.pop() {
            self.apply(c);
        }
        if self.call.as_ref().is_some_and(|c| c.uplink.is_abandoned()) {
            // The call's media ended.
            if let Some(ends) = self.call.take() {
                ends.handoff.report(self.rate);
            }
        }
        let n = out.len().min(self.tone_scratch.len());
        let (out, mic) = (&mut out[..n], &mic[..n.min(mic.len())]);
        let tone = &mut self.tone_scratch[..n];
        tone.fill(0);
        if let Some(player) = self.tone.as_mut() {
            player.fill(tone);
            if player.is_finished() {
                self.tone = None;
            }
        }
        let call = &mut self.call_scratch[..n];
        call.fill(0);
        if let Some(ends) = self.call.as_mut() {
            let late = ends
                .downlink
                .slots()
                .saturating_sub(MAX_DOWNLINK_PERIODS * n);
            if late > 0 {
                let _ = ends.downlink.read_chunk(late).map(|c| c.commit_all());
                ends.handoff.skipped += late as u64;
            }
            let (popped, _) = ends.downlink.pop_partial_slice(call);
            if popped.len() == n {
                ends.handoff.flowing = true;
            } else if ends.handoff.flowing {
                ends.handoff.short_periods += 1;
            }
        }
        let (gain, uplink) = match self.route {
            AudioRoute::Handset => (self.handset_gain, &mut self.handset_uplink),
            AudioRoute::Speaker => (self.speaker_gain, &mut self.speaker_uplink),
        };
        let mut peak = 0u16;
        for ((o, t), c) in out.iter_mut().zip(tone.iter()).zip(call.iter()) {
            let mixed = (*c as f32 + *t as f32) * gain;
            *o = mixed.clamp(i16::MIN as f32, i16::MAX as f32) as i16;
            peak = peak.max(o.unsigned_abs());
        }
        self.out_peak.store(peak, Ordering::Relaxed);
        // The microphone to the call: processed against what is played now, on a route that
        // asks for it, otherwise as captured.
        if let Some(ends) = self.call.as_mut() {
            let to_call = if uplink.is_active() {
                uplink.process(out, mic)
            } else {
                mic
            };
            // A full ring means the call's thread is not keeping up: the newest is dropped.
            let _ = ends.uplink.push_partial_slice(to_call);
            if let Some(t) = ends.reader.get() {
                t.unpark();
            }
        }
    }

    /// The sound card's playback and capture delay (the echo path's first estimate).
    pub fn set_device_latency(&mut self, playback: Duration, capture: Duration) {
        self.speaker_uplink.set_device_latency(playback, capture);
        self.handset_uplink.set_device_latency(playback, capture);
    }
}

struct Control {
    rate: u32,
    /// The tone plan (a provisioned country can change it); only control threads lock it.
    region: Mutex<Region>,
    /// Only non-real-time threads take this lock (to send a command).
    commands: Mutex<rtrb::Producer<Command>>,
    /// The mixer while no pump runs it (taken by the pump, given back when it stops).
    idle_mixer: Mutex<Option<Mixer>>,
    out_peak: Arc<AtomicU16>,
}

/// The control side of the audio path. Cheap to clone.
#[derive(Clone)]
pub struct AudioPath {
    control: Arc<Control>,
}

impl AudioPath {
    pub fn new(rate: u32, region: Region, speech: SpeechRoutes) -> AudioPath {
        let (producer, consumer) = rtrb::RingBuffer::new(COMMAND_SLOTS);
        let max_period = (rate as u128 * MAX_PERIOD.as_millis() / 1000) as usize;
        let out_peak = Arc::new(AtomicU16::new(0));
        let mixer = Mixer {
            commands: consumer,
            tone: None,
            route: AudioRoute::Handset,
            handset_gain: gain_for(7),
            speaker_gain: gain_for(7),
            call: None,
            rate: rate as usize,
            tone_scratch: vec![0; max_period],
            call_scratch: vec![0; max_period],
            out_peak: out_peak.clone(),
            speaker_uplink: Uplink::new(rate, speech.speaker, max_period),
            handset_uplink: Uplink::new(rate, speech.handset, max_period),
        };
        AudioPath {
            control: Arc::new(Control {
                rate,
                region: Mutex::new(region),
                commands: Mutex::new(producer),
                idle_mixer: Mutex::new(Some(mixer)),
                out_peak,
            }),
        }
    }

    pub fn rate(&self) -> u32 {
        self.control.rate
    }

    fn send(&self, command: Command) {
        let mut commands = match self.control.commands.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if commands.push(command).is_err() {
            tracing::warn!("audio mixer command dropped: the mixer is not taking them");
        }
    }

    /// The tone plan for tones played from now on.
    pub fn set_region(&self, region: Region) {
        *self
            .control
            .region
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = region;
    }

    /// Plays `tone` from now on (replacing any other); `None` stops it.
    pub fn play_tone(&self, tone: Option<Tone>) {
        let c = &self.control;
        let region = *c.region.lock().unwrap_or_else(|p| p.into_inner());
        let player =
            tone.and_then(
                |t| match TonePlayer::new(ToneSpec::for_tone(t, region), c.rate) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(rate = e.0, "no tone player at this rate");
                        None
                    }
                },
            );
        self.send(Command::Tone(player));
    }

    pub fn set_route(&self, route: AudioRoute) {
        self.send(Command::Route(route));
    }

    pub fn set_volume(&self, path: VolumePath, level: u8) {
        self.send(Command::Gain(path, gain_for(level)));
    }

    pub fn last_output_peak(&self) -> u16 {
        self.control.out_peak.load(Ordering::Relaxed)
    }

    /// The mixer, for running it by hand (tests); `None` while a pump runs it.
    pub fn take_mixer(&self) -> Option<Mixer> {
        lock(&self.control.idle_mixer).take()
    }

    /// Gives a mixer taken with [`AudioPath::take_mixer`] back.
    pub fn put_mixer(&self, mixer: Mixer) {
        *lock(&self.control.idle_mixer) = Some(mixer);
    }

    /// Starts the thread that moves audio between the board's rings and the path, paced by
    /// the capture device: one period in, one period out.
    pub fn start_pump(
        &self,
        capture: CaptureStream,
        playback: PlaybackStream,
    ) -> std::io::Result<Pump> {
        let mut mixer = self
            .take_mixer()
            .ok_or_else(|| std::io::Error::other("the audio mixer is already running"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let heartbeat = Heartbeat::new();
        let beat = heartbeat.clone();
        let thread = std::thread::Builder::new()
            .name("audio-mix".into())
            .spawn(move || {
                // Ends the heartbeat however the thread ends, a panic included.
                let _alive = beat.guard();
                set_realtime(MIXER_PRIORITY, "audio mixer");
                pump(&mut mixer, capture, playback, &flag, &beat);
                mixer
            })?;
        Ok(Pump {
            stop,
            thread: Some(thread),
            heartbeat,
            path: self.clone(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn pump(
    mixer: &mut Mixer,
    mut capture: CaptureStream,
    mut playback: PlaybackStream,
    stop: &AtomicBool,
    heartbeat: &Heartbeat,
) {
    let period = capture.period_frames().max(1);
    let mut mic = vec![0i16; period];
    let mut out = vec![0i16; period];
    let rate = capture.rate().max(1) as u64;
    let frames_to_duration =
        |frames: usize| Duration::from_micros(frames as u64 * 1_000_000 / rate);
    while !stop.load(Ordering::Relaxed) {
        heartbeat.beat();
        // What waits to be played, plus the period being captured: the echo's delay.
        mixer.set_device_latency(
            frames_to_duration(playback.queued() + playback.period_frames()),
            frames_to_duration(period),
        );
        // Woken by the capture thread; the timeout only lets a stop request through.
        capture.wait_readable(Duration::from_millis(100));
        while capture.available() >= period {
            if !capture.read_exact(&mut mic) {
                break;
            }
            mixer.process(&mic, &mut out);
            // Keep the playback ring from growing without bound if its device stalls.
            if playback.queued() < period * 6 {
                playback.write(&out);
            }
        }
    }
}

/// The mixer thread; stops when dropped.
pub struct Pump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Mixer>>,
    heartbeat: Heartbeat,
    path: AudioPath,
}

impl Pump {
    /// Beats on every turn of the mixer loop (at least every 100 ms); ends with the thread.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            match t.join() {
                // The next pump (after a device change) goes on with the same state.
                Ok(mixer) => self.path.put_mixer(mixer),
                Err(_) => tracing::error!("the audio mixer thread panicked"),
            }
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

/// One call's port: its ends of the two rings to the mixer.
struct RingPort {
    rate: u32,
    uplink: rtrb::Consumer<i16>,
    downlink: rtrb::Producer<i16>,
    reader: Arc<OnceLock<Thread>>,
}

impl AudioPort for RingPort {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn capture(&mut self, mic: &mut [i16], timeout: Duration) -> usize {
        let me = self.reader.get_or_init(std::thread::current);
        let deadline = Instant::now() + timeout;
        loop {
            // The mixer pushes whole periods: whatever is there is one or more of them.
            if self.uplink.slots() > 0 {
                let (popped, _) = self.uplink.pop_partial_slice(mic);
                return popped.len();
            }
            let now = Instant::now();
            if now >= deadline || self.uplink.is_abandoned() {
                return 0;
            }
            if me.id() == std::thread::current().id() {
                std::thread::park_timeout(deadline - now);
            } else {
                std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
            }
        }
    }

    fn play(&mut self, out: &[i16]) {
        // Full only if the mixer stopped taking audio: the newest is dropped.
        let _ = self.downlink.push_partial_slice(out);
    }
}

impl AudioDevice for CallAudio {
    fn open(
        &self,
        _call: VoiceCallId,
    ) -> Result<Box<dyn AudioPort>, twilio_voice::media::AudioError> {
        let rate = self.path.rate();
        let slots = (rate as u128 * CALL_RING.as_millis() / 1000) as usize;
        let (uplink_tx, uplink_rx) = rtrb::RingBuffer::new(slots);
        let (downlink_tx, downlink_rx) = rtrb::RingBuffer::new(slots);
        let reader = Arc::new(OnceLock::new());
        self.path.send(Command::Call(CallEnds {
            uplink: uplink_tx,
            downlink: downlink_rx,
            reader: reader.clone(),
            handoff: Handoff::default(),
        }));
        Ok(Box::new(RingPort {
            rate,
            uplink: uplink_rx,
            downlink: downlink_tx,
            reader,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::analysis::has_frequency;

    #[test]
    fn call_audio_and_tones_are_mixed_and_scaled() {
        let path = AudioPath::new(16_000, Region::Us, SpeechRoutes::default());
        let mut mixer = path.take_mixer().unwrap();
        let audio = CallAudio::new(path.clone());
        let mut port = audio.open(VoiceCallId(1)).unwrap();
        let wait = Duration::from_millis(1);
        // The far end's 1 kHz tone, played by the call for the first period.
        let far: Vec<i16> = (0..160)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin()) as i16
            })
            .collect();
        let mic = vec![1234i16; 160];
        let mut out = vec![0i16; 160];
        path.set_volume(VolumePath::Handset, MAX_VOLUME);
        mixer.process(&mic, &mut out);
        let mut frame = vec![0i16; 320];
        assert_eq!(
            port.capture(&mut frame, wait),
            160,
            "one period for the call"
        );
        assert!(frame[..160].iter().all(|s| *s == 1234));
        port.play(&far);
        mixer.process(&mic, &mut out);
        assert_eq!(out, far, "the call's audio is played in the next period");
        assert_eq!(
            path.last_output_peak(),
            far.iter().map(|s| s.unsigned_abs()).max().unwrap()
        );
        // Mute volume: silence out.
        path.set_volume(VolumePath::Handset, 0);
        port.play(&far);
        mixer.process(&mic, &mut out);
        assert!(out.iter().all(|s| *s == 0));
        // A dial tone alone (no call audio) at full volume.
        path.set_volume(VolumePath::Handset, MAX_VOLUME);
        path.play_tone(Some(Tone::Dial));
        let mut heard = Vec::new();
        for _ in 0..50 {
            mixer.process(&mic, &mut out);
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
        // Late call audio is skipped down to a few periods, not played late.
        path.play_tone(None);
        while port.capture(&mut frame, Duration::ZERO) > 0 {}
        for _ in 0..10 {
            port.play(&far);
        }
        mixer.process(&mic, &mut out);
        assert_eq!(out, far);
        for _ in 0..MAX_DOWNLINK_PERIODS - 1 {
            mixer.process(&mic, &mut out);
        }
        mixer.process(&mic, &mut out);
        assert!(
            out.iter().all(|s| *s == 0),
            "the rest of the backlog is gone"
        );
        drop(port);
        mixer.process(&mic, &mut out);
        assert!(
            mixer.call.is_none(),
            "the mixer lets go of a call whose media ended"
        );
    }

    #[test]
    fn the_call_thread_is_woken_by_the_mixer_period() {
        let path = AudioPath::new(16_000, Region::Us, SpeechRoutes::default());
        let mut mixer = path.take_mixer().unwrap();
        let mut port = CallAudio::new(path.clone()).open(VoiceCallId(1)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut frame = vec![0i16; 160];
            // Registers this thread, then waits for the period the mixer pushes.
            let _ = port.capture(&mut frame, Duration::ZERO);
            tx.send(()).unwrap();
            let started = Instant::now();
            let n = port.capture(&mut frame, Duration::from_secs(10));
            (n, started.elapsed())
        });
        rx.recv().unwrap();
        let mut out = vec![0i16; 160];
        mixer.process(&[7i16; 160], &mut out);
        let (n, waited) = reader.join().unwrap();
        assert_eq!(n, 160);
        assert!(
            waited < Duration::from_secs(5),
            "woken, not timed out: {waited:?}"
        );
    }

    /// The mixer on the simulated speakerphone (recorded speech through a room response back
    /// into the microphone): on the loudspeaker the call gets the microphone with the echo
    /// cancelled, against exactly what the mixer played; on the handset (processing off by
    /// default) it gets the microphone as captured.
    #[test]
    fn on_the_loudspeaker_the_call_gets_the_microphone_with_the_echo_cancelled() {
        use twilio_voice::media::echo::sim::{self, Scene, SceneSpec};
        const RATE: u32 = 16_000;
        let (far, near) = sim::talkers(RATE).expect("espeak-ng and sox render the talkers");
        let scene = Scene::new(&far, &near, SceneSpec::speakerphone(RATE));
        let uplink_on = |route: AudioRoute| {
            let path = AudioPath::new(RATE, Region::Us, SpeechRoutes::default());
            let mut mixer = path.take_mixer().unwrap();
            let mut port = CallAudio::new(path.clone()).open(VoiceCallId(1)).unwrap();
            path.set_route(route);
            path.set_volume(VolumePath::Speaker, MAX_VOLUME);
            path.set_volume(VolumePath::Handset, MAX_VOLUME);
            mixer.set_device_latency(scene.spec.delay, Duration::ZERO);
            // 20 ms periods, as the sound card gives them.
            let period = RATE as usize / 50;
            let mut out = vec![0i16; period];
            let mut got = vec![0i16; period * 2];
            let mut uplink = Vec::with_capacity(scene.mic.len());
            for (far, mic) in scene
                .far
                .chunks_exact(period)
                .zip(scene.mic.chunks_exact(period))
            {
                port.play(far);
                mixer.process(mic, &mut out);
                assert_eq!(out, far, "the far end is played as it came");
                loop {
                    let n = port.capture(&mut got, Duration::ZERO);
                    if n == 0 {
                        break;
                    }
                    uplink.extend_from_slice(&got[..n]);
                }
            }
            uplink
        };
        let speaker = uplink_on(AudioRoute::Speaker);
        assert_eq!(
            speaker.len(),
            scene.mic.len() / (RATE as usize / 50) * (RATE as usize / 50)
        );
        for start in [2.0, 4.0, 6.0, 14.0] {
            let erle = scene.erle_db(&speaker, start..start + 1.0);
            assert!(
                erle >= 25.0,
                "ERLE {erle:.1} dB in {start}..{} s",
                start + 1.0
            );
        }
        let handset = uplink_on(AudioRoute::Handset);
        assert_eq!(handset[..], scene.mic[..handset.len()], "as captured");
    }

    #[test]
    fn volume_steps_are_about_three_db() {
        assert_eq!(gain_for(0), 0.0);
        assert!((gain_for(MAX_VOLUME) - 1.0).abs() < 1e-6);
        let ratio = gain_for(9) / gain_for(MAX_VOLUME);
        assert!((ratio - 0.708).abs() < 0.01);
    }
}
