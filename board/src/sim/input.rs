//! The simulator's input thread: raw presses and hook actions in, debounced-looking
//! `InputEvent`s out (with long press and repeat timed by the real clock).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use crate::board::InputSender;
use crate::input::{InputEvent, Key};
use crate::keys::{KeyTiming, PressTracker};
use crate::sim::script::HookAction;
use crate::sim::state::Shared;

/// What scripts, the socket and the keyboard ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawInput {
    Press(Key),
    Release(Key),
    Hook(HookAction),
    /// Close the firmware's input stream.
    End,
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    events: InputSender,
    timing: KeyTiming,
) -> std::io::Result<mpsc::Sender<RawInput>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("sim-input".into())
        .spawn(move || run(shared, events, timing, rx))?;
    Ok(tx)
}

fn run(shared: Arc<Shared>, events: InputSender, timing: KeyTiming, rx: mpsc::Receiver<RawInput>) {
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
            Some(RawInput::End) => break,
            None => {}
        }
        tracker.poll(now, &mut out);
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
    shared.update(Some("input end".into()), |s| s.ended = true);
}
