//! Mean Opinion Score, as `lib/twilio/rtc/mos.ts` computes it (an E-model simplification).

const R0: f64 = 94.768;

fn usable(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// MOS from round-trip time (ms), jitter (ms) and the interval's packet loss (percent).
/// `None` when any input is missing or not a finite non-negative number.
pub fn calculate(
    rtt_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss_percent: Option<f64>,
) -> Option<f64> {
    let (rtt, jitter, loss) = (rtt_ms?, jitter_ms?, loss_percent?);
    if !(usable(rtt) && usable(jitter) && usable(loss)) {
        return None;
    }
    let effective_latency = rtt + jitter * 2.0 + 10.0;
    let mut r = if effective_latency < 160.0 {
        R0 - effective_latency / 40.0
    } else if effective_latency < 1000.0 {
        R0 - (effective_latency - 120.0) / 10.0
    } else {
        0.0
    };
    r = if loss <= r / 2.5 {
        (r - loss * 2.5).max(6.52)
    } else {
        0.0
    };
    Some(1.0 + 0.035 * r + 0.000007 * r * (r - 60.0) * (100.0 - r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 0.0005)
    }

    /// Reference values of the SDK's MOS formula (its `rtc/mos.ts`), for these inputs.
    #[test]
    fn reference_values() {
        assert!(close(calculate(Some(15.0), Some(2.0), Some(0.0)), 4.425));
        assert!(close(calculate(Some(0.0), Some(0.0), Some(0.0)), 4.4333));
        assert!(close(calculate(Some(100.0), Some(10.0), Some(1.0)), 4.3142));
        assert!(close(calculate(Some(400.0), Some(30.0), Some(3.0)), 2.6943));
        // The capture's samples: rtt 15–17, jitter 0–2, no loss → 4.42–4.43.
        let m = calculate(Some(17.0), Some(2.0), Some(0.0)).unwrap();
        assert_eq!((m * 100.0).round() / 100.0, 4.42);
    }

    #[test]
    fn missing_or_bad_inputs_give_none() {
        assert_eq!(calculate(None, Some(1.0), Some(0.0)), None);
        assert_eq!(calculate(Some(-1.0), Some(1.0), Some(0.0)), None);
        assert_eq!(calculate(Some(f64::NAN), Some(1.0), Some(0.0)), None);
        assert_eq!(calculate(Some(10.0), Some(1.0), None), None);
        // Huge latency or loss: floor of the scale.
        assert!(close(calculate(Some(2000.0), Some(0.0), Some(0.0)), 1.0));
        assert!(close(calculate(Some(10.0), Some(0.0), Some(90.0)), 1.0));
    }
}
