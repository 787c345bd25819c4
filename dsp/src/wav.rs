//! WAV files: reading what a `<Play>` URL or a test fixture gives (PCM 8/16-bit, μ-law,
//! A-law; any number of channels, of which the first is kept), writing 16-bit mono PCM.
//!
//! Our own parser rather than the `hound` crate: hound reads integer and float PCM only,
//! while telephony WAVs are often μ-law or A-law, and a borrowed buffer with bounds-checked
//! reads is all this needs. A data chunk whose length says "unknown" (0 or `u32::MAX`, as
//! streaming writers leave it) runs to the end of the file.

/// A decoded WAV file: the first channel's samples at `rate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    pub rate: u32,
    pub samples: Vec<i16>,
}

/// The highest sample rate a file may declare.
pub const MAX_RATE: u32 = 384_000;

/// Why bytes are not a WAV file we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("truncated {0} chunk")]
    Truncated(&'static str),
    #[error("short fmt chunk")]
    ShortFormat,
    #[error("data before fmt")]
    DataBeforeFormat,
    #[error("no data chunk")]
    NoData,
    #[error(
        "unsupported WAV encoding (format {tag}, {bits} bits); need PCM 8/16-bit, μ-law or A-law"
    )]
    Unsupported { tag: u16, bits: u16 },
    #[error("unsupported WAV layout: {channels} channels at {rate} Hz")]
    Layout { channels: u16, rate: u32 },
}

const PCM: u16 = 1;
const ALAW: u16 = 6;
const ULAW: u16 = 7;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn chunk_name(id: &[u8]) -> &'static str {
    match id {
        b"data" => "data",
        b"fmt " => "fmt",
        _ => "unknown",
    }
}

/// Parses a WAV file.
pub fn read(bytes: &[u8]) -> Result<Wav, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut pos = 12;
    // (format tag, channels, rate, bits per sample)
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = u32_at(bytes, pos + 4);
        let body_start = pos + 8;
        let unknown_length = id == b"data" && (declared == 0 || declared == u32::MAX);
        let body_end = if unknown_length {
            bytes.len()
        } else {
            body_start
                .checked_add(declared as usize)
                .filter(|end| *end <= bytes.len())
                .ok_or(WavError::Truncated(chunk_name(id)))?
        };
        let body = &bytes[body_start..body_end];
        if id == b"fmt " {
            if body.len() < 16 {
                return Err(WavError::ShortFormat);
            }
            format = Some((
                u16_at(body, 0),
                u16_at(body, 2),
                u32_at(body, 4),
                u16_at(body, 14),
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or(WavError::DataBeforeFormat)?;
            if channels == 0 || rate == 0 || rate > MAX_RATE {
                return Err(WavError::Layout { channels, rate });
            }
            let channels = usize::from(channels);
            let samples = match (tag, bits) {
                (PCM, 16) => body
                    .chunks_exact(2 * channels)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
                (PCM, 8) => body
                    .chunks_exact(channels)
                    .map(|c| (i16::from(c[0]) - 128) << 8)
                    .collect(),
                (ULAW, 8) => body
                    .chunks_exact(channels)
                    .map(|c| crate::g711::ulaw_decode(c[0]))
                    .collect(),
                (ALAW, 8) => body
                    .chunks_exact(channels)
                    .map(|c| crate::g711::alaw_decode(c[0]))
                    .collect(),
                _ => return Err(WavError::Unsupported { tag, bits }),
            };
            return Ok(Wav { rate, samples });
        }
        // Chunks are padded to an even length.
        pos = body_end + (body_end - body_start) % 2;
    }
    Err(WavError::NoData)
}

/// Encodes mono 16-bit PCM as a WAV file.
pub fn write(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV file with any header values, for the formats we do not write.
    fn wav_with(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = write(rate, &[]);
        v[20..22].copy_from_slice(&tag.to_le_bytes());
        v[22..24].copy_from_slice(&channels.to_le_bytes());
        v[34..36].copy_from_slice(&bits.to_le_bytes());
        v[40..44].copy_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn round_trip() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 7) as i16).collect();
        let bytes = write(16_000, &samples);
        assert_eq!(bytes.len(), 44 + 2000);
        assert_eq!(
            read(&bytes).unwrap(),
            Wav {
                rate: 16_000,
                samples
            }
        );
    }

    #[test]
    fn reads_8_bit_ulaw_alaw_and_the_first_of_two_channels() {
        let pcm8 = wav_with(PCM, 1, 8000, 8, &[0, 128, 255]);
        assert_eq!(read(&pcm8).unwrap().samples, vec![-32768, 0, 32512]);
        let ulaw = wav_with(ULAW, 1, 8000, 8, &[0xFF, 0x80]);
        assert_eq!(read(&ulaw).unwrap().samples, vec![0, 32124]);
        let alaw = wav_with(ALAW, 1, 8000, 8, &[0xD5, 0xAA]);
        assert_eq!(read(&alaw).unwrap().samples, vec![8, 32256]);
        let stereo = wav_with(PCM, 2, 8000, 16, &[1, 0, 2, 0, 3, 0, 4, 0]);
        assert_eq!(read(&stereo).unwrap().samples, vec![1, 3]);
    }

    #[test]
    fn an_unknown_data_length_runs_to_the_end() {
        let mut v = wav_with(PCM, 1, 8000, 16, &[1, 0, 2, 0]);
        v[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read(&v).unwrap().samples, vec![1, 2]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let bytes = write(16_000, &[1; 100]);
        assert_eq!(read(b"RIFF"), Err(WavError::NotWave));
        assert_eq!(read(b"nope"), Err(WavError::NotWave));
        assert_eq!(read(b"RIFF1234WAVE"), Err(WavError::NoData));
        assert_eq!(read(&bytes[..50]), Err(WavError::Truncated("data")));
        assert_eq!(
            read(&wav_with(3, 1, 8000, 32, &[0; 8])),
            Err(WavError::Unsupported { tag: 3, bits: 32 })
        );
        assert_eq!(
            read(&wav_with(PCM, 0, 8000, 16, &[0; 8])),
            Err(WavError::Layout {
                channels: 0,
                rate: 8000
            })
        );
        let mut huge_rate = write(8000, &[0; 4]);
        huge_rate[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&huge_rate), Err(WavError::Layout { .. })));
        let mut data_first = b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0".to_vec();
        data_first.extend_from_slice(&[0; 4]);
        assert_eq!(read(&data_first), Err(WavError::DataBeforeFormat));
        let short_fmt = b"RIFF\0\0\0\0WAVEfmt \x04\0\0\0\0\0\0\0";
        assert_eq!(read(short_fmt), Err(WavError::ShortFormat));
    }

    #[test]
    fn never_panics_on_any_prefix_or_corruption() {
        let bytes = wav_with(ULAW, 3, 8000, 8, &[7; 33]);
        for n in 0..bytes.len() {
            let _ = read(&bytes[..n]);
            let mut corrupt = bytes.clone();
            corrupt[n] ^= 0xA5;
            let _ = read(&corrupt);
        }
    }
}
