//! Audio inside the lab: 8 kHz mono 16-bit frames of 20 ms, G.711 μ-law, and the sounds the
//! lab makes (tones, ringback, a speech stand-in for `<Say>`, WAV files for `<Play>`).

use offhook_dsp::ToneGenerator;
use offhook_dsp::resample::resample_all;

/// Internal sample rate: telephony's, which every codec the lab speaks can carry.
pub const RATE: u32 = 8000;
/// Samples in one 20 ms frame.
pub const FRAME: usize = 160;

pub type Frame = Vec<i16>;

/// G.711 μ-law, from the DSP crate.
pub use offhook_dsp::g711::{ulaw_decode, ulaw_encode};
pub use offhook_dsp::wav::WavError;

/// A continuous mix of sines at the lab's rate.
#[derive(Debug, Clone)]
pub struct Tone(ToneGenerator);

impl Tone {
    /// `amplitude` is a fraction of full scale, shared among the frequencies.
    pub fn new(freqs: &[f32], amplitude: f32) -> Self {
        let freqs: Vec<f64> = freqs.iter().map(|f| f64::from(*f)).collect();
        let share = f64::from(amplitude) / freqs.len().max(1) as f64;
        Tone(ToneGenerator::new(RATE, &freqs, share * 32767.0))
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        self.0.fill(out);
    }

    pub fn frame(&mut self) -> Frame {
        let mut f = vec![0; FRAME];
        self.fill(&mut f);
        f
    }
}

/// A speech stand-in for `<Say>`: one short tone per word, pitch from the word, with gaps.
/// The lab has no text-to-speech; what matters to a handset is that audio arrives and lasts
/// about as long as speech would.
pub fn say(text: &str) -> Vec<i16> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let hash = word
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let hz = 250.0 + (hash % 400) as f32;
        let ms = 120 + 45 * word.chars().count().min(10);
        let mut tone = Tone::new(&[hz], 0.3);
        let mut samples = vec![0; ms * RATE as usize / 1000];
        tone.fill(&mut samples);
        // Short fades keep the word edges from clicking.
        let fade = 80.min(samples.len() / 2);
        for i in 0..fade {
            let g = i as f32 / fade as f32;
            samples[i] = (f32::from(samples[i]) * g) as i16;
            let j = samples.len() - 1 - i;
            samples[j] = (f32::from(samples[j]) * g) as i16;
        }
        out.extend(samples);
        out.extend(std::iter::repeat_n(0, 80 * RATE as usize / 1000));
    }
    out
}

/// The beep before `<Record>`: 1 kHz for half a second.
pub fn beep() -> Vec<i16> {
    let mut samples = vec![0; RATE as usize / 2];
    Tone::new(&[1000.0], 0.5).fill(&mut samples);
    samples
}

/// Ringback as in North America: 440 + 480 Hz, two seconds on, four off.
#[derive(Debug, Clone)]
pub struct Ringback {
    tone: Tone,
    position: usize,
}

impl Default for Ringback {
    fn default() -> Self {
        Ringback {
            tone: Tone::new(&[440.0, 480.0], 0.2),
            position: 0,
        }
    }
}

impl Ringback {
    pub fn frame(&mut self) -> Frame {
        let cycle = 6 * RATE as usize;
        let on = self.position % cycle < 2 * RATE as usize;
        self.position += FRAME;
        if on {
            self.tone.frame()
        } else {
            vec![0; FRAME]
        }
    }
}

/// Reads a WAV file (PCM 8/16-bit, μ-law or A-law, any rate, mono or more) into 8 kHz mono.
pub fn decode_wav(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    let wav = offhook_dsp::wav::read(bytes)?;
    Ok(resample_all(&wav.samples, wav.rate, RATE))
}

/// A 16-bit mono PCM WAV file (for tests and tools).
pub fn encode_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    offhook_dsp::wav::write(rate, samples)
}

/// RFC 4733 event code of a DTMF digit.
pub fn dtmf_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (digit as u8 - b'A')),
        'a'..='d' => Some(12 + (digit as u8 - b'a')),
        _ => None,
    }
}

/// The digit of an RFC 4733 event code.
pub fn dtmf_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_and_resample() {
        let samples: Vec<i16> = (0..1600).map(|i| (i * 7) as i16).collect();
        assert_eq!(decode_wav(&encode_wav(&samples, 8000)).unwrap(), samples);
        assert_eq!(decode_wav(&encode_wav(&samples, 16000)).unwrap().len(), 800);
        // Resampled, not picked: a 1 kHz tone at 48 kHz is a 1 kHz tone at 8 kHz.
        let mut tone = vec![0; 48_000];
        ToneGenerator::sine(48_000, 1000.0, 8000.0).fill(&mut tone);
        let heard = decode_wav(&encode_wav(&tone, 48_000)).unwrap();
        assert_eq!(heard.len(), 8000);
        let f = offhook_dsp::analysis::dominant_frequency(&heard, RATE);
        assert!((f - 1000.0).abs() < 2.0, "{f}");
        assert!(decode_wav(b"RIFF1234WAVE").is_err());
        assert!(decode_wav(b"nope").is_err());
    }

    #[test]
    fn dtmf_codes() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(dtmf_digit(dtmf_event(d).unwrap()), Some(d));
        }
        assert_eq!(dtmf_event('w'), None);
    }
}
