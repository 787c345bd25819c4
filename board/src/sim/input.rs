//! The simulator's input thread: raw presses and hook actions in, `InputEvent`s out — either
//! made directly (with long press and repeat timed by the real clock), or at pin level by the
//! real scanner reading simulated pins ([`super::pins`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::board::InputSender;
use crate::error::{BoardError, Result};
use crate::input::{InputEvent, Key};
use crate::inputs::PinInputs;
use crate::keys::{KeyTiming, PressTracker};
use crate::sim::pins::{self, SimPins};
use crate::sim::script::HookAction;
use crate::sim::state::Shared;

/// What scripts, the socket and the keyboard ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawInput {
    Press(Key),
    Release(Key),
    Hook(HookAction),
    /// Lift if on hook, hang up if off (the keyboard's space bar), judged when it arrives so
    /// that toggles queued one after another alternate.
    HookToggle,
    /// Close the firmware's input stream: the session is over (`quit`).
    End,
    /// Close it as a failing board would (`unplug`): every input source gone.
    Unplug,
}

/// Starts the input thread: with `pins`, at pin level (the real scanner reads simulated
/// pins), else turning presses into events directly.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    events: InputSender,
    timing: KeyTiming,
    pins: Option<SimPins>,
    quit: Arc<AtomicBool>,
) -> Result<mpsc::Sender<RawInput>> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new().name("sim-input".into());
    let spawned = match pins {
        Some(pins) => {
            let (inputs, wiring) = pins::build(&pins, timing)?;
            let scan = PinScan {
                inputs,
                wiring,
                interval: pins.scan_interval,
                flash: pins.flash,
            };
            thread.spawn(move || run_pins(shared, events, scan, rx, &quit))
        }
        None => thread.spawn(move || run(shared, events, timing, rx, &quit)),
    };
    spawned.map_err(|e| BoardError::io("spawning the simulator input thread", e))?;
    Ok(tx)
}

/// Passes events to the firmware, logging each and keeping the hook state.
fn deliver(shared: &Shared, events: &InputSender, out: &mut Vec<InputEvent>) {
    for event in out.drain(..) {
        shared.update(Some(format!("input {event}")), |s| match event {
            InputEvent::OffHook => s.off_hook = true,
            InputEvent::OnHook => s.off_hook = false,
            _ => {}
        });
        if events.send(event).is_err() {
            // The firmware dropped its receiver: nobody is listening any more.
            shared.log("note: input stream closed by the firmware".into());
        }
    }
}

/// The pin-level input: the real input shell over simulated pins.
struct PinScan {
    inputs: PinInputs<pins::RowPin, pins::SimInputPin>,
    wiring: pins::Wiring,
    interval: std::time::Duration,
    flash: std::time::Duration,
}

fn run_pins(
    shared: Arc<Shared>,
    events: InputSender,
    mut scan: PinScan,
    rx: mpsc::Receiver<RawInput>,
    quit: &AtomicBool,
) {
    let mut out = Vec::new();
    let mut next_scan = Instant::now();
    // When a flash lifts the handset again.
    let mut lift_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now >= next_scan {
            if lift_at.is_some_and(|at| now >= at) {
                scan.wiring.set_lifted(true);
                lift_at = None;
            }
            if let Err(e) = scan.inputs.step(now, &mut out) {
                shared.log(format!("note: reading the simulated pins: {e}"));
            }
            deliver(&shared, &events, &mut out);
            next_scan = (next_scan + scan.interval).max(now);
            continue;
        }
        let raw = match rx.recv_timeout(next_scan - now) {
            Ok(raw) => raw,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let lifted = scan.wiring.is_lifted();
        match raw {
            RawInput::Press(key) => scan.wiring.press(key),
            RawInput::Release(key) => scan.wiring.release(key),
            RawInput::Hook(HookAction::Up) if !lifted => scan.wiring.set_lifted(true),
            RawInput::Hook(HookAction::Down) if lifted => {
                lift_at = None;
                scan.wiring.set_lifted(false);
            }
            RawInput::Hook(HookAction::Flash) if lifted => {
                scan.wiring.set_lifted(false);
                lift_at = Some(now + scan.flash);
            }
            RawInput::Hook(action) => {
                shared.log(format!("note: hook {action:?} ignored (already there)"));
            }
            RawInput::HookToggle => {
                lift_at = None;
                scan.wiring.set_lifted(!lifted);
            }
            RawInput::End => {
                quit.store(true, Ordering::SeqCst);
                break;
            }
            RawInput::Unplug => break,
        }
    }
    shared.update(Some("input end".into()), |s| s.ended = true);
}

fn run(
    shared: Arc<Shared>,
    events: InputSender,
    timing: KeyTiming,
    rx: mpsc::Receiver<RawInput>,
    quit: &AtomicBool,
) {
    let mut tracker = PressTracker::new(timing);
    let mut out = Vec::new();
    loop {
        let raw = match tracker.next_deadline() {
            Some(deadline) => {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(raw) => Some(raw),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(raw) => Some(raw),
                Err(_) => break,
            },
        };
        let now = Instant::now();
        match raw {
            Some(RawInput::Press(key)) => tracker.press(key, now, &mut out),
            Some(RawInput::Release(key)) => tracker.release(key, &mut out),
            Some(RawInput::Hook(action)) => {
                let off_hook = shared.snapshot().off_hook;
                match (action, off_hook) {
                    (HookAction::Up, false) => out.push(InputEvent::OffHook),
                    (HookAction::Down, true) => out.push(InputEvent::OnHook),
                    (HookAction::Flash, true) => out.push(InputEvent::HookFlash),
                    _ => shared.log(format!("note: hook {action:?} ignored (already there)")),
                }
            }
            Some(RawInput::HookToggle) => out.push(if shared.snapshot().off_hook {
                InputEvent::OnHook
            } else {
                InputEvent::OffHook
            }),
            Some(RawInput::End) => {
                quit.store(true, Ordering::SeqCst);
                break;
            }
            Some(RawInput::Unplug) => break,
            None => {}
        }
        tracker.poll(now, &mut out);
        deliver(&shared, &events, &mut out);
    }
    shared.update(Some("input end".into()), |s| s.ended = true);
}
