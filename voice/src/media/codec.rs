//! Audio codecs: PCMU (G.711 μ-law) and Opus, 20 ms frames, mono.

use crate::model::Codec;

/// Every frame is 20 ms (`a=ptime:20`, the gateway's `maxptime:20`).
pub const FRAME_MS: u32 = 20;

/// The codec's RTP clock (PCMU 8 kHz; Opus always 48 kHz, RFC 7587).
pub fn codec_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Pcmu => 8000,
        Codec::Opus => 48_000,
    }
}

/// The longest Opus packet (RFC 6716, 3.4): room for any encoded frame.
pub const MAX_OPUS_PACKET: usize = 1275;

/// The rates Opus takes PCM at.
const OPUS_PCM_RATES: [u32; 5] = [8000, 12_000, 16_000, 24_000, 48_000];

/// The rate our PCM meets the codec at, for a sound card at `card_rate`. PCMU is 8 kHz. Opus
/// works at the lowest of its rates that carries all the card has: a 16 kHz card is encoded
/// as wideband speech (SILK alone, not SILK and CELT together), with no resampling either
/// way, which is most of an Opus call's CPU. The RTP clock stays 48 kHz ([`codec_rate`]).
pub fn pcm_rate(codec: Codec, card_rate: u32) -> u32 {
    match codec {
        Codec::Pcmu => 8000,
        Codec::Opus => OPUS_PCM_RATES
            .into_iter()
            .find(|r| *r >= card_rate)
            .unwrap_or(48_000),
    }
}

/// Samples in one 20 ms frame at `rate`.
pub fn frame_samples(rate: u32) -> usize {
    (rate * FRAME_MS / 1000) as usize
}

/// G.711 μ-law, from the DSP crate (PCMU's payload is one byte per sample).
pub use offhook_dsp::g711::{ulaw_decode, ulaw_encode};

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("opus: {0}")]
    Opus(String),
    #[error("frame of {got} samples, expected {expected}")]
    FrameSize { got: usize, expected: usize },
}

/// Encodes 20 ms of PCM at its [`pcm_rate`].
pub enum Encoder {
    Pcmu,
    Opus {
        encoder: Box<opus::Encoder>,
        rate: u32,
    },
}

impl Encoder {
    /// `bitrate` applies to Opus (the `maxaveragebitrate` option; default 32 kbit/s, the
    /// browsers' default for voice). Opus gets in-band FEC. `pcm_rate` as [`pcm_rate`] gives.
    pub fn new(codec: Codec, bitrate: Option<u32>, pcm_rate: u32) -> Result<Self, CodecError> {
        match codec {
            Codec::Pcmu => Ok(Encoder::Pcmu),
            Codec::Opus => {
                let e = |x: opus::Error| CodecError::Opus(x.to_string());
                let mut enc =
                    opus::Encoder::new(pcm_rate, opus::Channels::Mono, opus::Application::Voip)
                        .map_err(e)?;
                enc.set_bitrate(opus::Bitrate::Bits(bitrate.unwrap_or(32_000) as i32))
                    .map_err(e)?;
                enc.set_inband_fec(true).map_err(e)?;
                enc.set_packet_loss_perc(10).map_err(e)?;
                enc.set_complexity(5).map_err(e)?;
                Ok(Encoder::Opus {
                    encoder: Box::new(enc),
                    rate: pcm_rate,
                })
            }
        }
    }

    pub fn codec(&self) -> Codec {
        match self {
            Encoder::Pcmu => Codec::Pcmu,
            Encoder::Opus { .. } => Codec::Opus,
        }
    }

    /// The rate it takes PCM at.
    pub fn pcm_rate(&self) -> u32 {
        match self {
            Encoder::Pcmu => 8000,
            Encoder::Opus { rate, .. } => *rate,
        }
    }

    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode_into(pcm, &mut out)?;
        Ok(out)
    }

    /// [`Encoder::encode`] into `out` (replaced), which keeps its allocation from frame to
    /// frame: the call's thread allocates nothing per frame.
    pub fn encode_into(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let expected = frame_samples(self.pcm_rate());
        if pcm.len() != expected {
            return Err(CodecError::FrameSize {
                got: pcm.len(),
                expected,
            });
        }
        out.clear();
        match self {
            Encoder::Pcmu => {
                out.extend(pcm.iter().map(|s| ulaw_encode(*s)));
                Ok(())
            }
            Encoder::Opus { encoder, .. } => {
                out.resize(MAX_OPUS_PACKET, 0);
                let result = encoder.encode(pcm, out);
                out.truncate(*result.as_ref().unwrap_or(&0));
                result
                    .map(|_| ())
                    .map_err(|x| CodecError::Opus(x.to_string()))
            }
        }
    }
}

/// Decodes to 20 ms of PCM at its [`pcm_rate`], with concealment for lost frames.
pub enum Decoder {
    /// PCMU keeps the last frame to repeat it, fading, when one is lost.
    Pcmu { last: Vec<i16>, concealed: u32 },
    Opus {
        decoder: Box<opus::Decoder>,
        rate: u32,
    },
}

impl Decoder {
    /// `pcm_rate` as [`pcm_rate`] gives.
    pub fn new(codec: Codec, pcm_rate: u32) -> Result<Self, CodecError> {
        match codec {
            Codec::Pcmu => Ok(Decoder::Pcmu {
                last: vec![0; frame_samples(8000)],
                concealed: 0,
            }),
            Codec::Opus => opus::Decoder::new(pcm_rate, opus::Channels::Mono)
                .map(|d| Decoder::Opus {
                    decoder: Box::new(d),
                    rate: pcm_rate,
                })
                .map_err(|x| CodecError::Opus(x.to_string())),
        }
    }

    pub fn codec(&self) -> Codec {
        match self {
            Decoder::Pcmu { .. } => Codec::Pcmu,
            Decoder::Opus { .. } => Codec::Opus,
        }
    }

    /// The rate it gives PCM at.
    pub fn pcm_rate(&self) -> u32 {
        match self {
            Decoder::Pcmu { .. } => 8000,
            Decoder::Opus { rate, .. } => *rate,
        }
    }

    /// Decodes one received payload. Opus payloads longer than 20 ms are cut to 20 ms.
    pub fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, CodecError> {
        let mut out = Vec::new();
        self.decode_into(payload, &mut out)?;
        Ok(out)
    }

    /// [`Decoder::decode`] into `out` (replaced), which keeps its allocation from frame to
    /// frame.
    pub fn decode_into(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let n = frame_samples(self.pcm_rate());
        out.clear();
        match self {
            Decoder::Pcmu { last, concealed } => {
                out.extend(payload.iter().take(n).map(|b| ulaw_decode(*b)));
                out.resize(n, 0);
                last.copy_from_slice(out);
                *concealed = 0;
                Ok(())
            }
            Decoder::Opus { decoder: dec, rate } => {
                // Room for Opus's longest packet (120 ms).
                out.resize((*rate / 1000 * 120) as usize, 0);
                let result = dec.decode(payload, out, false);
                out.truncate(*result.as_ref().unwrap_or(&0));
                out.resize(n, 0);
                result
                    .map(|_| ())
                    .map_err(|x| CodecError::Opus(x.to_string()))
            }
        }
    }

    /// A frame in place of a lost one. With the next packet at hand, Opus recovers the lost
    /// frame from its in-band FEC; otherwise Opus runs its PLC and PCMU repeats the last
    /// frame at falling volume (silent after 60 ms).
    pub fn conceal(&mut self, next_payload: Option<&[u8]>) -> Vec<i16> {
        let mut out = Vec::new();
        self.conceal_into(next_payload, &mut out);
        out
    }

    /// [`Decoder::conceal`] into `out` (replaced), which keeps its allocation.
    pub fn conceal_into(&mut self, next_payload: Option<&[u8]>, out: &mut Vec<i16>) {
        let n = frame_samples(self.pcm_rate());
        out.clear();
        out.resize(n, 0);
        match self {
            Decoder::Pcmu { last, concealed } => {
                *concealed += 1;
                let gain = match *concealed {
                    1 => 0.8,
                    2 => 0.5,
                    3 => 0.2,
                    _ => 0.0,
                };
                for (o, s) in out.iter_mut().zip(last.iter_mut()) {
                    *s = (*s as f32 * gain) as i16;
                    *o = *s;
                }
            }
            Decoder::Opus { decoder: dec, .. } => {
                let result = match next_payload {
                    Some(p) => dec.decode(p, out, true),
                    None => dec.decode(&[], out, false),
                };
                if result.is_err() {
                    out.fill(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use offhook_dsp::tone::sine;

    #[test]
    fn opus_round_trip_keeps_a_tone() {
        let mut enc = Encoder::new(Codec::Opus, Some(24_000), 48_000).unwrap();
        let mut dec = Decoder::new(Codec::Opus, 48_000).unwrap();
        let pcm = sine(48_000, 1000.0, 8000.0, 960 * 10);
        let mut out = Vec::new();
        for frame in pcm.chunks(960) {
            let packet = enc.encode(frame).unwrap();
            assert!(packet.len() < 200);
            out.extend(dec.decode(&packet).unwrap());
        }
        let energy: f64 = out[960 * 5..]
            .iter()
            .map(|s| (*s as f64).powi(2))
            .sum::<f64>()
            / (960.0 * 5.0);
        assert!(energy.sqrt() > 3000.0, "rms {}", energy.sqrt());
        assert_eq!(dec.conceal(None).len(), 960);
        assert!(enc.encode(&pcm[..100]).is_err());
        assert!(dec.decode(&[0xff; 3]).is_err() || dec.decode(&[0xff; 3]).is_ok());
    }

    #[test]
    fn opus_meets_the_card_at_the_lowest_rate_that_carries_it() {
        assert_eq!(pcm_rate(Codec::Opus, 16_000), 16_000);
        assert_eq!(pcm_rate(Codec::Opus, 8000), 8000);
        assert_eq!(pcm_rate(Codec::Opus, 22_050), 24_000);
        assert_eq!(pcm_rate(Codec::Opus, 44_100), 48_000);
        assert_eq!(pcm_rate(Codec::Opus, 96_000), 48_000);
        assert_eq!(pcm_rate(Codec::Pcmu, 48_000), 8000);
        // The RTP clock does not follow.
        assert_eq!(codec_rate(Codec::Opus), 48_000);
    }

    #[test]
    fn opus_at_16khz_carries_a_tone_in_320_sample_frames() {
        let mut enc = Encoder::new(Codec::Opus, None, 16_000).unwrap();
        let mut dec = Decoder::new(Codec::Opus, 16_000).unwrap();
        let pcm = sine(16_000, 1000.0, 8000.0, 320 * 10);
        let mut out = Vec::new();
        for frame in pcm.chunks(320) {
            out.extend(dec.decode(&enc.encode(frame).unwrap()).unwrap());
        }
        assert_eq!(out.len(), 320 * 10);
        let tail = &out[320 * 5..];
        let rms =
            (tail.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!(rms > 3000.0, "rms {rms}");
        assert_eq!(dec.conceal(None).len(), 320);
        // A 48 kHz frame is the wrong size at 16 kHz.
        assert!(enc.encode(&sine(48_000, 1000.0, 8000.0, 960)).is_err());
    }

    #[test]
    fn pcmu_concealment_fades_out() {
        let mut dec = Decoder::new(Codec::Pcmu, 8000).unwrap();
        let pcm = sine(8000, 440.0, 10_000.0, 160);
        let bytes: Vec<u8> = pcm.iter().map(|s| ulaw_encode(*s)).collect();
        dec.decode(&bytes).unwrap();
        let peak = |v: &[i16]| v.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        let p0 = peak(&dec.conceal(None));
        let p1 = peak(&dec.conceal(None));
        let _ = dec.conceal(None);
        let p3 = peak(&dec.conceal(None));
        assert!(p0 > p1 && p1 > 0 && p3 == 0);
    }
}
