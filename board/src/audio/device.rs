//! ALSA devices: opening and configuring a PCM (rate fallback, mono/stereo, S16/S32),
//! reading and writing mono i16 periods, classifying errors, and listing devices.

use std::time::Duration;

use alsa::pcm::{Access, Format, Frames, HwParams, PCM, State};
use alsa::{Direction, ValueOr};

use crate::error::BoardError;

/// Rates tried, in order, when a device refuses the one asked for.
const FALLBACK_RATES: [u32; 9] = [
    48_000, 44_100, 32_000, 16_000, 96_000, 24_000, 22_050, 8_000, 88_200,
];

/// Direction name for logs and errors.
pub(crate) fn direction_name(dir: Direction) -> &'static str {
    match dir {
        Direction::Capture => "capture",
        Direction::Playback => "playback",
    }
}

/// Picks the device rate: the forced one or the wanted one if the device takes it, otherwise
/// the first fallback rate it takes. Pure so the fallback logic is testable without hardware.
pub(crate) fn choose_rate(
    wanted: u32,
    forced: Option<u32>,
    supports: impl Fn(u32) -> bool,
) -> Option<u32> {
    let first = forced.unwrap_or(wanted);
    std::iter::once(first)
        .chain(FALLBACK_RATES)
        .find(|r| supports(*r))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleFormat {
    S16,
    S32,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::S16 => 2,
            SampleFormat::S32 => 4,
        }
    }
}

/// What the caller wants from a device.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub rate: u32,
    pub forced_rate: Option<u32>,
    pub period: Duration,
    pub periods: u32,
}

/// How an I/O call failed.
#[derive(Debug)]
pub(crate) enum IoFailure {
    /// Overrun (capture) or underrun (playback); recovered by re-preparing.
    Xrun,
    /// No data within the timeout: the device has stalled.
    Stalled,
    /// The device is gone or broken (unplugged USB: ENODEV, EIO, EBADFD, …).
    Gone(String),
}

/// An open, configured PCM.
pub(crate) struct Device {
    pcm: PCM,
    pub name: String,
    pub dir: Direction,
    pub rate: u32,
    pub channels: u32,
    format: SampleFormat,
    /// Period and buffer in device frames.
    pub period_frames: usize,
    pub buffer_frames: usize,
    bytes: Vec<u8>,
}

fn alsa_err(what: &str, source: alsa::Error) -> BoardError {
    BoardError::Alsa {
        what: what.to_string(),
        source,
    }
}

impl Device {
    /// Opens and configures `name`. Errors name the step that was refused.
    pub fn open(name: &str, dir: Direction, req: &Request) -> Result<Device, BoardError> {
        if name.contains('\0') {
            return Err(BoardError::AudioUnsupported(
                "device name contains a NUL byte",
            ));
        }
        let pcm = PCM::new(name, dir, false).map_err(|e| alsa_err("open", e))?;
        let (rate, channels, format, period_frames, buffer_frames) = {
            let hwp = HwParams::any(&pcm).map_err(|e| alsa_err("hw params", e))?;
            hwp.set_access(Access::RWInterleaved)
                .map_err(|e| alsa_err("interleaved access", e))?;
            let format = if hwp.test_format(Format::s16()).is_ok() {
                SampleFormat::S16
            } else if hwp.test_format(Format::s32()).is_ok() {
                SampleFormat::S32
            } else {
                return Err(BoardError::AudioUnsupported(
                    "device takes neither S16 nor S32 samples (try its plughw: name)",
                ));
            };
            hwp.set_format(match format {
                SampleFormat::S16 => Format::s16(),
                SampleFormat::S32 => Format::s32(),
            })
            .map_err(|e| alsa_err("sample format", e))?;
            let channels = if hwp.test_channels(1).is_ok() {
                1
            } else {
                hwp.get_channels_min()
                    .map_err(|e| alsa_err("channels", e))?
            };
            hwp.set_channels(channels)
                .map_err(|e| alsa_err("channels", e))?;
            let rate = choose_rate(req.rate, req.forced_rate, |r| hwp.test_rate(r).is_ok()).ok_or(
                BoardError::AudioUnsupported("device takes none of the usual sample rates"),
            )?;
            hwp.set_rate(rate, ValueOr::Nearest)
                .map_err(|e| alsa_err(&format!("rate {rate}"), e))?;
            let want_period =
                ((rate as u64 * req.period.as_micros() as u64) / 1_000_000).max(16) as Frames;
            let period = hwp
                .set_period_size_near(want_period, ValueOr::Nearest)
                .map_err(|e| alsa_err("period size", e))?;
            let buffer = hwp
                .set_buffer_size_near(period * req.periods.max(2) as Frames)
                .map_err(|e| alsa_err("buffer size", e))?;
            pcm.hw_params(&hwp)
                .map_err(|e| alsa_err("applying hw params", e))?;
            let rate = hwp.get_rate().unwrap_or(rate);
            (
                rate,
                channels,
                format,
                period.max(1) as usize,
                buffer.max(1) as usize,
            )
        };
        {
            let swp = pcm
                .sw_params_current()
                .map_err(|e| alsa_err("sw params", e))?;
            swp.set_avail_min(period_frames as Frames)
                .map_err(|e| alsa_err("avail min", e))?;
            if dir == Direction::Playback {
                // Start once the buffer is full (the thread primes it with silence at once).
                // Starting on one period makes sound servers underrun straight away.
                swp.set_start_threshold(buffer_frames as Frames)
                    .map_err(|e| alsa_err("start threshold", e))?;
            }
            pcm.sw_params(&swp)
                .map_err(|e| alsa_err("applying sw params", e))?;
        }
        let bytes = vec![0; period_frames * channels as usize * format.bytes()];
        Ok(Device {
            pcm,
            name: name.to_owned(),
            dir,
            rate,
            channels,
            format,
            period_frames,
            buffer_frames,
            bytes,
        })
    }

    /// Starts capture (playback starts by itself once its buffer is full).
    pub fn start(&self) -> Result<(), BoardError> {
        if self.pcm.state() != State::Running {
            self.pcm.start().map_err(|e| alsa_err("start", e))?;
        }
        Ok(())
    }

    fn classify(&self, e: alsa::Error) -> IoFailure {
        match e.errno() {
            libc::EPIPE => IoFailure::Xrun,
            libc::ESTRPIPE => match self.pcm.try_recover(e, true) {
                Ok(()) => IoFailure::Xrun,
                Err(e) => IoFailure::Gone(e.to_string()),
            },
            _ => IoFailure::Gone(e.to_string()),
        }
    }

    /// Re-prepares after an xrun.
    pub fn recover(&self) -> Result<(), BoardError> {
        self.pcm
            .prepare()
            .map_err(|e| alsa_err("prepare after xrun", e))?;
        if self.dir == Direction::Capture {
            self.start()?;
        }
        Ok(())
    }

    /// Blocks (at most `timeout`) for one period and appends it to `out` as mono i16
    /// (channel 0 of multichannel devices).
    pub fn read_period(
        &mut self,
        out: &mut Vec<i16>,
        timeout: Duration,
    ) -> Result<usize, IoFailure> {
        let ms = timeout.as_millis().min(u32::MAX as u128) as u32;
        match self.pcm.wait(Some(ms)) {
            Ok(true) => {}
            Ok(false) => return Err(IoFailure::Stalled),
            Err(e) => return Err(self.classify(e)),
        }
        let frames = {
            let io = self.pcm.io_bytes();
            match io.readi(&mut self.bytes) {
                Ok(n) => n,
                Err(e) => {
                    drop(io);
                    return Err(self.classify(e));
                }
            }
        };
        let frame_bytes = self.channels as usize * self.format.bytes();
        for frame in self.bytes.chunks_exact(frame_bytes).take(frames) {
            out.push(match self.format {
                SampleFormat::S16 => i16::from_ne_bytes([frame[0], frame[1]]),
                SampleFormat::S32 => {
                    (i32::from_ne_bytes([frame[0], frame[1], frame[2], frame[3]]) >> 16) as i16
                }
            });
        }
        Ok(frames)
    }

    /// Frames that can be read without blocking (to drain a device being switched away from).
    pub fn readable(&self) -> usize {
        self.pcm.avail_update().map_or(0, |f| f.max(0) as usize)
    }

    /// Writes mono samples (copied to every channel); blocks while the buffer is full.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), IoFailure> {
        let frame_bytes = self.channels as usize * self.format.bytes();
        let mut rest = samples;
        while !rest.is_empty() {
            let n = rest.len().min(self.period_frames);
            let mut len = 0;
            for s in &rest[..n] {
                for _ in 0..self.channels {
                    match self.format {
                        SampleFormat::S16 => {
                            self.bytes[len..len + 2].copy_from_slice(&s.to_ne_bytes())
                        }
                        SampleFormat::S32 => self.bytes[len..len + 4]
                            .copy_from_slice(&((*s as i32) << 16).to_ne_bytes()),
                    }
                    len += self.format.bytes();
                }
            }
            let written = {
                let io = self.pcm.io_bytes();
                match io.writei(&self.bytes[..len]) {
                    Ok(w) => w,
                    Err(e) => {
                        drop(io);
                        return Err(self.classify(e));
                    }
                }
            };
            debug_assert!(written * frame_bytes <= len);
            rest = &rest[written.min(n)..];
            if written == 0 {
                return Err(IoFailure::Stalled);
            }
        }
        Ok(())
    }

    /// Frames between the application and the speaker/microphone right now.
    pub fn delay_frames(&self) -> i64 {
        self.pcm.delay().map_or(0, i64::from)
    }

    /// Plays out what is queued (playback), so switching devices drops nothing.
    pub fn drain(&self) {
        if self.dir == Direction::Playback
            && let Err(e) = self.pcm.drain()
        {
            tracing::debug!("draining {}: {e}", self.name);
        }
    }
}

/// An ALSA PCM device as listed for settings screens and `offhook devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDevice {
    /// The name to put in the configuration, e.g. `plughw:CARD=Device,DEV=0` or `default`.
    pub name: String,
    /// Human description, e.g. `USB Audio Device, USB Audio — Hardware device with all software conversions`.
    pub description: String,
    /// Usable as a microphone.
    pub capture: bool,
    /// Usable as an earpiece/speaker.
    pub playback: bool,
}

/// Lists every PCM device ALSA knows: the configuration's hinted devices (`default`,
/// `plughw:…`, `sysdefault:…`, PulseAudio, …) plus each sound card's PCMs as `plughw:` names
/// (so a card is listed even with a minimal configuration).
pub fn list_devices() -> Vec<AudioDevice> {
    let mut devices: Vec<AudioDevice> = Vec::new();
    let mut add = |name: String, description: String, capture: bool, playback: bool| {
        if let Some(d) = devices.iter_mut().find(|d| d.name == name) {
            d.capture |= capture;
            d.playback |= playback;
        } else {
            devices.push(AudioDevice {
                name,
                description,
                capture,
                playback,
            });
        }
    };
    match alsa::device_name::HintIter::new_str(None, "pcm") {
        Ok(hints) => {
            for hint in hints {
                let Some(name) = hint.name else { continue };
                let description = hint
                    .desc
                    .unwrap_or_default()
                    .lines()
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" — ");
                let (capture, playback) = match hint.direction {
                    Some(Direction::Capture) => (true, false),
                    Some(Direction::Playback) => (false, true),
                    None => (true, true),
                };
                add(name, description, capture, playback);
            }
        }
        Err(e) => tracing::warn!("listing ALSA device hints: {e}"),
    }
    for card in alsa::card::Iter::new().map_while(Result::ok) {
        let Ok(ctl) = alsa::ctl::Ctl::from_card(&card, false) else {
            continue;
        };
        let Ok(info) = ctl.card_info() else { continue };
        let card_id = info.get_id().unwrap_or("").to_owned();
        let card_name = info.get_name().unwrap_or("").to_owned();
        for dev in alsa::ctl::DeviceIter::new(&ctl) {
            let Ok(dev) = u32::try_from(dev) else {
                continue;
            };
            let mut pcm_name = String::new();
            let mut dirs = (false, false);
            for (dir, slot) in [(Direction::Capture, 0), (Direction::Playback, 1)] {
                if let Ok(pi) = ctl.pcm_info(dev, 0, dir) {
                    if pcm_name.is_empty() {
                        pcm_name = pi.get_name().unwrap_or("").to_owned();
                    }
                    if slot == 0 {
                        dirs.0 = true;
                    } else {
                        dirs.1 = true;
                    }
                }
            }
            add(
                format!("plughw:CARD={card_id},DEV={dev}"),
                format!("{card_name}, {pcm_name} — with software conversions"),
                dirs.0,
                dirs.1,
            );
        }
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_fallback_prefers_forced_then_wanted_then_common_rates() {
        assert_eq!(choose_rate(16_000, None, |_| true), Some(16_000));
        assert_eq!(choose_rate(16_000, Some(44_100), |_| true), Some(44_100));
        // A USB device that only does 44.1 kHz and 48 kHz.
        assert_eq!(
            choose_rate(16_000, None, |r| r == 44_100 || r == 48_000),
            Some(48_000)
        );
        assert_eq!(choose_rate(16_000, None, |r| r == 44_100), Some(44_100));
        assert_eq!(choose_rate(16_000, None, |r| r == 11_025), None);
    }
}
