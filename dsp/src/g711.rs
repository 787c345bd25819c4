//! G.711: μ-law (PCMU, North America and Japan) and A-law (PCMA, elsewhere), one sample to
//! one byte. The segment arithmetic of the ITU-T reference, with its bias and clipping.

/// μ-law encoding of one sample.
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
    // The segment is the position of the highest set bit of s >> 7 (0 when none).
    let top = ((s >> 7) & 0xFF) as u8;
    let exponent = if top == 0 {
        0
    } else {
        7 - top.leading_zeros() as i32
    };
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// μ-law decoding of one byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A-law encoding of one sample.
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13 bits; even bits are inverted on the wire (the 0x55 mask).
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    // Segment: how many times the 5-bit range doubles to hold the value (8 = clips).
    let segment = (0..8).find(|s| value < (0x20 << s)).unwrap_or(8);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = if segment < 2 {
        (value >> 1) & 0x0F
    } else {
        (value >> segment) & 0x0F
    };
    ((segment << 4) as u8 | mantissa as u8) ^ mask
}

/// A-law decoding of one byte.
pub fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (segment - 1),
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_reference_points() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(ulaw_encode(i16::MIN)), -32124);
    }

    #[test]
    fn alaw_reference_points() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_decodes_to_a_value_that_encodes_back() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
            // μ-law has two zeros; 0x7F (−0) encodes back as +0.
            if code != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "μ-law {code:#04x}");
            }
        }
    }

    #[test]
    fn round_trips_within_quantisation() {
        for s in (-32_000i32..32_000)
            .step_by(97)
            .chain([-32768, -12345, -100, -1, 0, 1, 100, 12345, 32767])
        {
            let tolerance = (s.abs() / 16).max(8);
            let u = i32::from(ulaw_decode(ulaw_encode(s as i16)));
            assert!((u - s).abs() <= tolerance, "μ-law {s} -> {u}");
            let a = i32::from(alaw_decode(alaw_encode(s as i16)));
            assert!((a - s).abs() <= tolerance.max(16), "A-law {s} -> {a}");
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut last = (i32::MIN, i32::MIN);
        for s in i16::MIN..=i16::MAX {
            let v = (
                i32::from(ulaw_decode(ulaw_encode(s))),
                i32::from(alaw_decode(alaw_encode(s))),
            );
            assert!(v.0 >= last.0 && v.1 >= last.1, "{s}");
            last = v;
        }
    }
}
