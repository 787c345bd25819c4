//! The interactive simulator: the terminal in raw mode, keys from the keyboard.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{BoardError, Result};
use crate::input::Key;
use crate::sim::input::RawInput;
use crate::sim::run::Executor;
use crate::sim::script::HookAction;

/// Puts stdin in raw mode (no echo, no line buffering, Ctrl-C as a key) until dropped.
pub(crate) struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter() -> Result<RawMode> {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(BoardError::io(
                "the terminal simulator needs a terminal on stdin",
                std::io::Error::last_os_error(),
            ));
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: fd is stdin and raw a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(BoardError::io(
                "setting the terminal to raw mode",
                std::io::Error::last_os_error(),
            ));
        }
        // Clear the screen and hide the cursor.
        print!("\x1b[2J\x1b[?25l");
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
        print!("\x1b[?25h\r\n");
    }
}

/// What a keyboard byte sequence means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyboardAction {
    Tap(Key),
    LongPress(Key),
    HookToggle,
    Flash,
    Quit,
}

/// Decodes keyboard input; `l` followed by a key means a long press of that key.
pub(crate) fn decode(bytes: &[u8]) -> Vec<KeyboardAction> {
    let mut actions = Vec::new();
    let mut long_next = false;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let (key, used) = match rest {
            [0x1b, b'O', b'P', ..] => (Some(Key::Mute), 3),
            [0x1b, b'O', b'Q', ..] => (Some(Key::Redial), 3),
            [0x1b, b'O', b'R', ..] => (Some(Key::VolumeDown), 3),
            [0x1b, b'O', b'S', ..] => (Some(Key::VolumeUp), 3),
            [0x1b, b'[', b'1', b'5', b'~', ..] => (Some(Key::Speaker), 5),
            [0x1b, b'[', b'A', ..] => (Some(Key::VolumeUp), 3),
            [0x1b, b'[', b'B', ..] => (Some(Key::VolumeDown), 3),
            [0x1b, b'[', ..] | [0x1b, b'O', ..] => {
                // Unknown escape sequence: skip to its final byte.
                let len = rest
                    .iter()
                    .skip(2)
                    .position(|b| (0x40..=0x7e).contains(b))
                    .map_or(rest.len(), |p| p + 3);
                (None, len)
            }
            [c, ..] => {
                let key = match *c {
                    b'0'..=b'9' | b'*' | b'#' => Key::from_dtmf_char(*c as char),
                    b'm' => Some(Key::Mute),
                    b'r' => Some(Key::Redial),
                    b'+' | b'=' => Some(Key::VolumeUp),
                    b'-' | b'_' => Some(Key::VolumeDown),
                    b's' => Some(Key::Speaker),
                    b'x' | 0x7f | 0x08 => Some(Key::Reject),
                    b'\r' | b'\n' => Some(Key::Menu),
                    b' ' | b'h' => {
                        actions.push(KeyboardAction::HookToggle);
                        None
                    }
                    b'f' => {
                        actions.push(KeyboardAction::Flash);
                        None
                    }
                    b'l' => {
                        long_next = true;
                        i += 1;
                        continue;
                    }
                    b'q' | 0x03 | 0x04 => {
                        actions.push(KeyboardAction::Quit);
                        None
                    }
                    _ => None,
                };
                (key, 1)
            }
            [] => break,
        };
        if let Some(key) = key {
            actions.push(if long_next {
                KeyboardAction::LongPress(key)
            } else {
                KeyboardAction::Tap(key)
            });
        }
        long_next = false;
        i += used.max(1);
    }
    actions
}

/// How long `l` + a key holds that key down.
const LONG_PRESS: Duration = Duration::from_millis(1500);

/// The keyboard's actions turned into presses one after another, sans-IO: a burst typed
/// faster than a keypad is pressed waits its turn. (Presses that overlapped were dropped by
/// the press tracker, so a number typed quickly lost digits.)
pub(crate) struct KeyQueue {
    pending: VecDeque<KeyboardAction>,
    /// The key now down, and when it is released.
    down: Option<(Key, Instant)>,
    /// When the next action may start: the gap after the last one.
    next_at: Option<Instant>,
    tap: Duration,
    gap: Duration,
}

impl KeyQueue {
    /// Each tap holds its key `tap`; `gap` separates one action from the next.
    pub fn new(tap: Duration, gap: Duration) -> KeyQueue {
        KeyQueue {
            pending: VecDeque::new(),
            down: None,
            next_at: None,
            tap,
            gap,
        }
    }

    pub fn push(&mut self, action: KeyboardAction) {
        self.pending.push_back(action);
    }

    /// What is due at `now`, in order; `RawInput::End` (from `q`) is the last thing it gives.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<RawInput>) {
        loop {
            if let Some((key, release_at)) = self.down {
                if now < release_at {
                    return;
                }
                out.push(RawInput::Release(key));
                self.down = None;
                self.next_at = Some(release_at + self.gap);
            }
            if self.next_at.is_some_and(|at| now < at) {
                return;
            }
            let Some(action) = self.pending.pop_front() else {
                return;
            };
            let mut press = |key: Key, held: Duration, out: &mut Vec<RawInput>| {
                out.push(RawInput::Press(key));
                self.down = Some((key, now + held));
            };
            match action {
                KeyboardAction::Tap(key) => press(key, self.tap, out),
                KeyboardAction::LongPress(key) => press(key, LONG_PRESS, out),
                KeyboardAction::HookToggle => {
                    out.push(RawInput::HookToggle);
                    self.next_at = Some(now + self.gap);
                }
                KeyboardAction::Flash => {
                    out.push(RawInput::Hook(HookAction::Flash));
                    self.next_at = Some(now + self.gap);
                }
                KeyboardAction::Quit => {
                    out.push(RawInput::End);
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// When `poll` next has something to do (`None`: nothing until the next `push`).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.down {
            Some((_, release_at)) => Some(release_at),
            None if !self.pending.is_empty() => self.next_at,
            None => None,
        }
    }
}

/// Reads the keyboard until `q`, Ctrl-C or end of input, and plays the keys through a
/// [`KeyQueue`] on a thread of its own, so that reading never waits for a press.
pub(crate) fn spawn_keyboard(exec: Executor) -> std::io::Result<()> {
    let (actions, queued) = mpsc::channel();
    std::thread::Builder::new()
        .name("sim-keyboard".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 64];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = actions.send(KeyboardAction::Quit);
                        return;
                    }
                    Ok(n) => n,
                };
                for action in decode(&buf[..n]) {
                    if actions.send(action).is_err() || action == KeyboardAction::Quit {
                        return;
                    }
                }
            }
        })?;
    std::thread::Builder::new()
        .name("sim-keys".into())
        .spawn(move || play_keys(&exec, &queued))?;
    Ok(())
}

fn play_keys(exec: &Executor, queued: &mpsc::Receiver<KeyboardAction>) {
    let mut queue = KeyQueue::new(exec.tap, exec.gap);
    let mut due = Vec::new();
    loop {
        let next = match queue.next_deadline() {
            Some(deadline) => {
                match queued.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(action) => Some(action),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match queued.recv() {
                Ok(action) => Some(action),
                Err(_) => return,
            },
        };
        if let Some(action) = next {
            queue.push(action);
        }
        queue.poll(Instant::now(), &mut due);
        for raw in due.drain(..) {
            if exec.input.send(raw).is_err() || raw == RawInput::End {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyboardAction::*;

    #[test]
    fn decodes_keys_function_keys_and_long_press() {
        assert_eq!(
            decode(b"5#l0 q"),
            vec![
                Tap(Key::Digit(5)),
                Tap(Key::Pound),
                LongPress(Key::Digit(0)),
                HookToggle,
                Quit
            ]
        );
        assert_eq!(
            decode(b"\x1bOP\x1b[15~\x1b[A\x1b[1;5C7"),
            vec![
                Tap(Key::Mute),
                Tap(Key::Speaker),
                Tap(Key::VolumeUp),
                Tap(Key::Digit(7))
            ]
        );
    }

    /// Plays `queue` with polls at its own deadlines only (as the keyboard thread does),
    /// returning each output with the time it came out.
    fn play(queue: &mut KeyQueue, start: Instant) -> Vec<(Duration, RawInput)> {
        let mut timeline = Vec::new();
        let mut now = start;
        let mut out = Vec::new();
        loop {
            queue.poll(now, &mut out);
            timeline.extend(out.drain(..).map(|raw| (now - start, raw)));
            match queue.next_deadline() {
                Some(deadline) => now = deadline,
                None => return timeline,
            }
        }
    }

    #[test]
    fn a_burst_of_keys_is_pressed_one_after_another_in_order() {
        let tap = Duration::from_millis(80);
        let gap = Duration::from_millis(120);
        let mut queue = KeyQueue::new(tap, gap);
        let start = Instant::now();
        // "2025550100" arriving in one read, as fast typing (or a paste) gives it.
        for action in decode(b"2025550100") {
            queue.push(action);
        }
        let timeline = play(&mut queue, start);
        let presses: Vec<char> = timeline
            .iter()
            .filter_map(|(_, raw)| match raw {
                RawInput::Press(k) => k.dtmf_char(),
                _ => None,
            })
            .collect();
        assert_eq!(presses.iter().collect::<String>(), "2025550100");
        // Never two keys down at once: press, release, press, release…
        let mut down = None;
        for (at, raw) in &timeline {
            match raw {
                RawInput::Press(k) => {
                    assert_eq!(down, None, "{k:?} pressed at {at:?} while another is down");
                    down = Some(*k);
                }
                RawInput::Release(k) => assert_eq!(down.take(), Some(*k), "at {at:?}"),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(down, None);
        // Each tap held `tap`, each next press `gap` after the release.
        let times: Vec<Duration> = timeline.iter().map(|(at, _)| *at).collect();
        assert_eq!(times[1] - times[0], tap);
        assert_eq!(times[2] - times[1], gap);
        assert_eq!(*times.last().unwrap(), tap * 10 + gap * 9);
    }

    #[test]
    fn keys_typed_during_a_long_press_wait_for_it_and_hook_toggles_keep_their_place() {
        let mut queue = KeyQueue::new(Duration::from_millis(80), Duration::from_millis(120));
        let start = Instant::now();
        for action in decode(b" l05 q") {
            queue.push(action);
        }
        let timeline: Vec<RawInput> = play(&mut queue, start)
            .into_iter()
            .map(|(_, raw)| raw)
            .collect();
        assert_eq!(
            timeline,
            vec![
                RawInput::HookToggle,
                RawInput::Press(Key::Digit(0)),
                RawInput::Release(Key::Digit(0)),
                RawInput::Press(Key::Digit(5)),
                RawInput::Release(Key::Digit(5)),
                RawInput::HookToggle,
                RawInput::End,
            ]
        );
        // Keys pushed while one is down come after it, not beside it.
        let mut queue = KeyQueue::new(Duration::from_millis(80), Duration::from_millis(120));
        let mut out = Vec::new();
        queue.push(KeyboardAction::Tap(Key::Digit(1)));
        queue.poll(start, &mut out);
        queue.push(KeyboardAction::Tap(Key::Digit(2)));
        queue.poll(start + Duration::from_millis(10), &mut out);
        assert_eq!(out, vec![RawInput::Press(Key::Digit(1))]);
        assert_eq!(
            queue.next_deadline(),
            Some(start + Duration::from_millis(80))
        );
    }
}
