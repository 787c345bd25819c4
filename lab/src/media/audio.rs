//! Audio inside the lab: 8 kHz mono 16-bit frames of 20 ms, G.711 μ-law, and the sounds the
//! lab makes (tones, ringback, a speech stand-in for `<Say>`, WAV files for `<Play>`).

use std::f32::consts::TAU;

/// Internal sample rate: telephony's, which every codec the lab speaks can carry.
pub const RATE: u32 = 8000;
/// Samples in one 20 ms frame.
pub const FRAME: usize = 160;

pub type Frame = Vec<i16>;

/// G.711 μ-law encoding of one sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// G.711 μ-law decoding of one byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0f;
    let magnitude = (((i32::from(mantissa) << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A continuous sine generator.
#[derive(Debug, Clone)]
pub struct Tone {
    freqs: Vec<f32>,
    amplitude: f32,
    phase: Vec<f32>,
}

impl Tone {
    /// `amplitude` is a fraction of full scale, shared among the frequencies.
    pub fn new(freqs: &[f32], amplitude: f32) -> Self {
        Tone {
            freqs: freqs.to_vec(),
            amplitude,
            phase: vec![0.0; freqs.len()],
        }
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        let n = self.freqs.len().max(1) as f32;
        for s in out.iter_mut() {
            let mut v = 0.0;
            for (f, p) in self.freqs.iter().zip(self.phase.iter_mut()) {
                v += p.sin();
                *p = (*p + TAU * f / RATE as f32) % TAU;
            }
            *s = (v / n * self.amplitude * 32767.0) as i16;
        }
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

/// Reads a WAV file (PCM 8/16-bit or μ-law, any rate, mono or more) into 8 kHz mono.
pub fn decode_wav(bytes: &[u8]) -> Result<Vec<i16>, String> {
    let get = |at: usize, len: usize| bytes.get(at..at + len).ok_or("truncated WAV");
    if get(0, 4)? != b"RIFF" || get(8, 4)? != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |at: usize| -> Result<u16, String> {
        let b = get(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        let b = get(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12;
    let mut format = None;
    while at + 8 <= bytes.len() {
        let id = get(at, 4)?;
        let len = u32_at(at + 4)? as usize;
        let body = at + 8;
        if id == b"fmt " {
            format = Some((
                u16_at(body)?,
                u16_at(body + 2)?,
                u32_at(body + 4)?,
                u16_at(body + 14)?,
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or("data before fmt")?;
            let data = bytes
                .get(body..(body + len).min(bytes.len()))
                .ok_or("truncated WAV")?;
            let channels = usize::from(channels.max(1));
            let mono: Vec<i16> = match (tag, bits) {
                (1, 16) => data
                    .chunks_exact(2 * channels)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
                (1, 8) => data
                    .chunks_exact(channels)
                    .map(|c| (i16::from(c[0]) - 128) << 8)
                    .collect(),
                (7, 8) => data
                    .chunks_exact(channels)
                    .map(|c| ulaw_decode(c[0]))
                    .collect(),
                _ => {
                    return Err(format!(
                        "unsupported WAV encoding (format {tag}, {bits} bits)"
                    ));
                }
            };
            return Ok(resample(&mono, rate));
        }
        at = body + len + (len & 1);
    }
    Err("no data chunk".into())
}

/// Nearest-sample resampling to 8 kHz (good enough for test audio).
fn resample(samples: &[i16], rate: u32) -> Vec<i16> {
    if rate == RATE || rate == 0 {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(RATE) / u64::from(rate)) as usize;
    (0..out_len)
        .map(|i| {
            samples
                .get((i as u64 * u64::from(rate) / u64::from(RATE)) as usize)
                .copied()
                .unwrap_or(0)
        })
        .collect()
}

/// A 16-bit mono PCM WAV file (for tests and tools).
pub fn encode_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples.len() * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
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
    fn ulaw_round_trips_within_quantisation() {
        for s in [-32768i16, -12345, -100, -1, 0, 1, 100, 12345, 32767] {
            let back = ulaw_decode(ulaw_encode(s));
            let err = (i32::from(back) - i32::from(s)).abs();
            assert!(err <= (i32::from(s).abs() / 16).max(8), "{s} -> {back}");
        }
        // The G.711 reference: 0 encodes to 0xFF.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
    }

    #[test]
    fn wav_round_trip_and_resample() {
        let samples: Vec<i16> = (0..1600).map(|i| (i * 7) as i16).collect();
        assert_eq!(decode_wav(&encode_wav(&samples, 8000)).unwrap(), samples);
        assert_eq!(decode_wav(&encode_wav(&samples, 16000)).unwrap().len(), 800);
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
