//! Gaps in the earpiece: runs of near-silence in what should be a continuous tone.

/// Level resolution: 1 ms bins at 16 kHz.
const BIN: usize = offhook_e2e::real_handset::RATE as usize / 1000;

/// Silent runs longer than `min_ms` in `samples` (a continuous tone): a bin is silent when
/// its mean magnitude is under a tenth of the recording's median bin. Gaps touching either
/// end are not counted (the call starting or ending). The lengths in ms, and the recording's
/// length in ms.
pub fn gaps(samples: &[i16], min_ms: usize) -> (Vec<usize>, usize) {
    let bins: Vec<f64> = samples
        .chunks_exact(BIN)
        .map(|c| c.iter().map(|s| (*s as f64).abs()).sum::<f64>() / BIN as f64)
        .collect();
    let mut sorted = bins.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let threshold = median / 10.0;
    let mut out = Vec::new();
    let mut run = 0usize;
    let mut started = false;
    for level in &bins {
        if *level < threshold {
            run += 1;
        } else {
            if started && run > min_ms {
                out.push(run);
            }
            started = true;
            run = 0;
        }
    }
    (out, bins.len())
}
