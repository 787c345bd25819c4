//! The interactive simulator: the terminal in raw mode, keys from the keyboard.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::error::{BoardError, Result};
use crate::input::Key;
use crate::sim::input::RawInput;
use crate::sim::run::Executor;
use crate::sim::script::{Command, HookAction};

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

/// Reads the keyboard until `q`, Ctrl-C or end of input; each action runs on its own thread
/// so a long press does not block typing.
pub(crate) fn spawn_keyboard(exec: Executor) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sim-keyboard".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 64];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = exec.run(&Command::Quit);
                        return;
                    }
                    Ok(n) => n,
                };
                for action in decode(&buf[..n]) {
                    let cmd = match action {
                        KeyboardAction::Tap(k) => Command::Tap(k),
                        KeyboardAction::LongPress(k) => {
                            Command::Hold(k, Duration::from_millis(1500))
                        }
                        KeyboardAction::HookToggle => {
                            if exec.shared.snapshot().off_hook {
                                Command::Hook(HookAction::Down)
                            } else {
                                Command::Hook(HookAction::Up)
                            }
                        }
                        KeyboardAction::Flash => Command::Hook(HookAction::Flash),
                        KeyboardAction::Quit => {
                            let _ = exec.input.send(RawInput::End);
                            return;
                        }
                    };
                    let exec = exec.clone();
                    std::thread::spawn(move || {
                        let _ = exec.run(&cmd);
                    });
                }
            }
        })?;
    Ok(())
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
}
