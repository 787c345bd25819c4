//! The call's audio path allocates nothing per period once it runs: the playout (jitter
//! buffer, decoder, time-stretch, resampler) and the microphone side (resampler, framing,
//! encoder), for both codecs on a 16 kHz card. A counting allocator measures the calling
//! thread only. Packets are handed in outside the measured part: they come from the network
//! side (str0m owns the payloads it receives).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use offhook_dsp::ToneGenerator;
use twilio_voice::Codec;
use twilio_voice::media::codec::{self, Decoder, Encoder, frame_samples};
use twilio_voice::media::playout::Downlink;
use twilio_voice::media::resample::Resampler;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` made on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(|n| n.get())
}

const CARD: u32 = 16_000;
/// 10 ms card periods, as the reference builds run.
const PERIOD: usize = CARD as usize / 100;
/// Periods before counting starts: buffers reach their working size.
const WARM_UP: usize = 100;
const PERIODS: usize = 500;

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[test]
fn the_playout_allocates_nothing_per_period() {
    for codec in [Codec::Pcmu, Codec::Opus] {
        let rate = codec::pcm_rate(codec, CARD);
        let ticks = codec::codec_rate(codec) / 50;
        let mut encoder = Encoder::new(codec, None, rate).unwrap();
        let decoder = Decoder::new(codec, rate).unwrap();
        let mut downlink = Downlink::new(decoder, rate, codec::codec_rate(codec), CARD);
        let mut tone = ToneGenerator::sine(rate, 700.0, 8000.0);
        let mut frame = vec![0i16; frame_samples(rate)];
        let mut out = vec![0i16; PERIOD];
        let t0 = Instant::now();
        let mut counted = 0;
        let mut heard = Vec::new();
        for period in 0..PERIODS {
            let now = t0 + Duration::from_millis(10 * period as u64);
            if period % 2 == 0 {
                let k = (period / 2) as u32;
                tone.fill(&mut frame);
                let payload = encoder.encode(&frame).unwrap();
                downlink.insert(k as u16, k * ticks, payload, now);
            }
            let n = allocations_in(|| downlink.pull(now, &mut out));
            if period >= WARM_UP {
                counted += n;
                heard.extend_from_slice(&out);
            }
        }
        assert_eq!(
            counted, 0,
            "{codec:?}: allocations in the playout after warm-up"
        );
        // The path really played the tone (a silent path would allocate nothing too).
        assert!(rms(&heard) > 2000.0, "{codec:?}: rms {}", rms(&heard));
    }
}

#[test]
fn the_microphone_side_allocates_nothing_per_period() {
    for codec in [Codec::Pcmu, Codec::Opus] {
        let rate = codec::pcm_rate(codec, CARD);
        let mut encoder = Encoder::new(codec, None, rate).unwrap();
        let mut up = Resampler::new(CARD, rate);
        let mut tone = ToneGenerator::sine(CARD, 700.0, 8000.0);
        let mut mic = vec![0i16; PERIOD];
        let mut frame = vec![0i16; frame_samples(rate)];
        let mut payload = Vec::with_capacity(codec::MAX_OPUS_PACKET);
        let (mut counted, mut frames, mut bytes) = (0, 0, 0);
        for period in 0..PERIODS {
            tone.fill(&mut mic);
            let n = allocations_in(|| {
                up.push(&mic);
                while up.take_into(&mut frame) {
                    encoder.encode_into(&frame, &mut payload).unwrap();
                    frames += 1;
                    bytes += payload.len();
                }
            });
            if period >= WARM_UP {
                counted += n;
            }
        }
        assert_eq!(
            counted, 0,
            "{codec:?}: allocations on the microphone side after warm-up"
        );
        assert!(frames >= PERIODS / 2 - 2, "{codec:?}: {frames} frames");
        assert!(
            bytes > frames * 20,
            "{codec:?}: {bytes} bytes in {frames} frames"
        );
    }
}
