//! The two audio threads. Each owns at most one open device (see [`super::slot`]), moves
//! one period per loop iteration, and handles route switches, xruns, lost devices and
//! devices without a clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alsa::Direction;

use super::Shared;
use super::device::IoFailure;
use super::resample::Resampler;
use super::slot::{MAX_LEAD, Pacer, Slot, set_realtime, stall_timeout};
use super::stats::Counters;

pub(crate) fn capture(shared: Arc<Shared>, mut ring: rtrb::Producer<i16>) {
    set_realtime(shared.config.realtime_priority, "capture");
    let counters = &shared.capture;
    let period = shared.config.period_frames();
    let mut slot = Slot::new(&shared, Direction::Capture);
    let mut pacer = Pacer::new(shared.config.rate);
    let mut raw: Vec<i16> = Vec::new();
    let mut converted: Vec<i16> = Vec::new();
    let silence = vec![0i16; period];
    while !shared.stopped() {
        // Borrowed from the fixed configuration: nothing is allocated per period.
        let wanted = shared.devices().capture.as_str();
        if let Some(mut old) = slot.follow_route(wanted, counters) {
            // Keep what the old device already captured.
            let readable = old.dev.readable();
            raw.clear();
            if readable >= old.dev.period_frames
                && old.dev.read_period(&mut raw, Duration::ZERO).is_ok()
            {
                push_converted(
                    &mut ring,
                    &raw,
                    old.resampler.as_mut(),
                    &mut converted,
                    counters,
                );
            }
            pacer = Pacer::new(shared.config.rate);
        }
        let moved = match slot.open.as_mut() {
            Some(open) => {
                raw.clear();
                let timeout = stall_timeout(&shared, open.periods == 0);
                match open.dev.read_period(&mut raw, timeout) {
                    Ok(_) => {
                        open.periods += 1;
                        counters.periods.fetch_add(1, Ordering::Relaxed);
                        counters
                            .delay_frames
                            .store(open.dev.delay_frames(), Ordering::Relaxed);
                        push_converted(
                            &mut ring,
                            &raw,
                            open.resampler.as_mut(),
                            &mut converted,
                            counters,
                        )
                    }
                    Err(IoFailure::Xrun) => {
                        slot.xrun(counters);
                        0
                    }
                    Err(f) => {
                        slot.lost(f, counters);
                        pacer = Pacer::new(shared.config.rate);
                        0
                    }
                }
            }
            None => {
                // No device: silence at real-time pace keeps the reader's rhythm.
                shared.sleep_until(pacer.due(Duration::ZERO));
                push(&mut ring, &silence, counters)
            }
        };
        if moved > 0 {
            shared.readable.wake();
        }
        pacer.advance(moved);
        let due = pacer.due(MAX_LEAD);
        if due > Instant::now() {
            shared.sleep_until(due);
        }
    }
}

fn push_converted(
    ring: &mut rtrb::Producer<i16>,
    raw: &[i16],
    resampler: Option<&mut Resampler>,
    converted: &mut Vec<i16>,
    counters: &Counters,
) -> usize {
    match resampler {
        Some(r) => {
            converted.clear();
            r.process(raw, converted);
            push(ring, converted, counters)
        }
        None => push(ring, raw, counters),
    }
}

/// Pushes what fits; the rest is dropped and counted (the reader is too slow).
fn push(ring: &mut rtrb::Producer<i16>, samples: &[i16], counters: &Counters) -> usize {
    let (pushed, dropped) = ring.push_partial_slice(samples);
    if !dropped.is_empty() {
        let n = counters
            .ring_shortfalls
            .fetch_add(dropped.len() as u64, Ordering::Relaxed);
        if n == 0 {
            tracing::warn!("capture ring full: the reader is not keeping up; dropping samples");
        }
    }
    pushed.len() + dropped.len()
}

pub(crate) fn playback(shared: Arc<Shared>, mut ring: rtrb::Consumer<i16>) {
    set_realtime(shared.config.realtime_priority, "playback");
    let counters = &shared.playback;
    let period = shared.config.period_frames();
    let mut slot = Slot::new(&shared, Direction::Playback);
    let mut pacer = Pacer::new(shared.config.rate);
    let mut block = vec![0i16; period];
    let mut converted: Vec<i16> = Vec::new();
    let mut last_full = false;
    while !shared.stopped() {
        let wanted = shared.devices().playback.as_str();
        if let Some(old) = slot.follow_route(wanted, counters) {
            // Let the old device play what it holds before the new one takes over.
            old.dev.drain();
            pacer = Pacer::new(shared.config.rate);
        }
        if let Some(open) = slot.open.as_mut()
            && open.periods == 0
        {
            // Prime a newly opened device with one period of silence: a cushion against
            // the first scheduling hiccup.
            let silence = vec![0i16; open.dev.period_frames];
            let _ = open.dev.write(&silence);
        }

        let taken = {
            let (popped, _) = ring.pop_partial_slice(&mut block);
            popped.len()
        };
        block[taken..].fill(0);
        if taken < period && last_full {
            counters.ring_shortfalls.fetch_add(1, Ordering::Relaxed);
        }
        last_full = taken == period;

        match slot.open.as_mut() {
            Some(open) => {
                let samples: &[i16] = match open.resampler.as_mut() {
                    Some(r) => {
                        converted.clear();
                        r.process(&block, &mut converted);
                        &converted
                    }
                    None => &block,
                };
                match open.dev.write(samples) {
                    Ok(()) => {
                        open.periods += 1;
                        counters.periods.fetch_add(1, Ordering::Relaxed);
                        counters
                            .delay_frames
                            .store(open.dev.delay_frames(), Ordering::Relaxed);
                    }
                    Err(IoFailure::Xrun) => {
                        slot.xrun(counters);
                        if let Some(open) = slot.open.as_mut() {
                            let silence = vec![0i16; open.dev.period_frames];
                            let _ = open.dev.write(&silence);
                        }
                    }
                    Err(f) => {
                        slot.lost(f, counters);
                        pacer = Pacer::new(shared.config.rate);
                    }
                }
            }
            None => {
                // No device: consume the ring at real-time pace so latency does not build up.
                shared.sleep_until(pacer.due(Duration::ZERO));
            }
        }
        pacer.advance(period);
        let due = pacer.due(MAX_LEAD);
        if due > Instant::now() {
            shared.sleep_until(due);
        }
    }
}
