//! The simulator's command language, shared by scripts and the control socket.
//!
//! One command per line; `#` starts a comment. Durations are `250ms`, `2s`, `1.5s` or `1m`.
//!
//! | command | effect |
//! |---|---|
//! | `hook up` / `hook down` / `hook flash` | lift, hang up, flash the hook |
//! | `key K` | tap key K (`0`–`9`, `*`, `#`, `mute`, `redial`, `volume-up`, `volume-down`, `speaker`, `reject`, `menu`) |
//! | `press K` / `release K` | hold / let go of a key |
//! | `hold K DURATION` | hold a key (long press, repeats) |
//! | `dial DIGITS` | tap each of `0-9*#` in turn |
//! | `wait DURATION` | pause |
//! | `expect led NAME off\|on\|blink [ON/OFF]` | an LED is in that mode |
//! | `expect ringer on\|off\|CADENCE` | the ringer rings (with that cadence) or is silent |
//! | `expect screen TEXT` | the display summary contains TEXT (quotes optional) |
//! | `expect frame` | a frame was flushed since the last command that is not an `expect` |
//! | `... within DURATION` | (after any `expect`) how long to wait; default 2 s |
//! | `snapshot PATH` | write the current frame as PNG |
//! | `log TEXT` | write a line to the log |
//! | `quit` | end the session (the firmware's input stream ends) |
//! | `unplug` | every input source goes, as when a keypad is unplugged (a fault for the firmware) |

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cadence::Cadence;
use crate::error::{BoardError, Result};
use crate::input::Key;
use crate::led::{Led, LedMode};

/// What to do with the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Up,
    Down,
    Flash,
}

/// Something a script waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    Led(Led, LedMode),
    /// `None`: any cadence.
    RingerOn(Option<Cadence>),
    RingerOff,
    Screen(String),
    Frame,
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Hook(HookAction),
    Tap(Key),
    Press(Key),
    Release(Key),
    Hold(Key, Duration),
    Dial(Vec<Key>),
    Wait(Duration),
    Expect { what: Expectation, within: Duration },
    Snapshot(PathBuf),
    Log(String),
    Quit,
    Unplug,
}

/// Default `expect` timeout.
pub const DEFAULT_EXPECT_WITHIN: Duration = Duration::from_secs(2);

/// Parses `250ms`, `2s`, `1.5s`, `1m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((text, ""), |i| text.split_at(i));
    let value: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        _ => return None,
    };
    (0.0..86_400.0)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

fn key(word: Option<&str>) -> Result<Key> {
    let word = word.ok_or_else(|| BoardError::command("missing key name"))?;
    Key::from_name(word).ok_or_else(|| BoardError::unknown("key", word))
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t)
}

impl Command {
    /// Parses one line; `Ok(None)` for blank lines and comments.
    pub fn parse(line: &str) -> Result<Option<Command>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let mut words = rest.split_whitespace();
        let cmd = match verb {
            "hook" => Command::Hook(match words.next() {
                Some("up") | Some("off") => HookAction::Up,
                Some("down") | Some("on") => HookAction::Down,
                Some("flash") => HookAction::Flash,
                other => {
                    return Err(BoardError::command(format!(
                        "hook wants up, down or flash, not {other:?}"
                    )));
                }
            }),
            "key" | "tap" => Command::Tap(key(words.next())?),
            "press" => Command::Press(key(words.next())?),
            "release" => Command::Release(key(words.next())?),
            "hold" => {
                let k = key(words.next())?;
                let d = words
                    .next()
                    .and_then(parse_duration)
                    .ok_or_else(|| BoardError::command("hold wants a key and a duration"))?;
                Command::Hold(k, d)
            }
            "dial" => {
                let keys = rest
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .map(|c| {
                        Key::from_dtmf_char(c)
                            .ok_or_else(|| BoardError::command(format!("cannot dial {c:?}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                if keys.is_empty() {
                    return Err(BoardError::command("dial wants digits"));
                }
                Command::Dial(keys)
            }
            "wait" | "sleep" => {
                Command::Wait(words.next().and_then(parse_duration).ok_or_else(|| {
                    BoardError::command("wait wants a duration such as 2s or 500ms")
                })?)
            }
            "expect" => Self::parse_expect(rest)?,
            "snapshot" => {
                if rest.is_empty() {
                    return Err(BoardError::command("snapshot wants a file name"));
                }
                Command::Snapshot(PathBuf::from(unquote(rest)))
            }
            "log" | "echo" => Command::Log(rest.to_owned()),
            "quit" | "exit" => Command::Quit,
            "unplug" => Command::Unplug,
            other => return Err(BoardError::command(format!("unknown command {other:?}"))),
        };
        if !matches!(
            cmd,
            Command::Expect { .. } | Command::Log(_) | Command::Dial(_) | Command::Snapshot(_)
        ) && words.next().is_some()
        {
            return Err(BoardError::command(format!("too many words in {line:?}")));
        }
        Ok(Some(cmd))
    }

    fn parse_expect(rest: &str) -> Result<Command> {
        let (body, within) = match rest.rsplit_once(" within ") {
            Some((body, d)) => (
                body.trim(),
                parse_duration(d.trim())
                    .ok_or_else(|| BoardError::command(format!("bad duration {d:?}")))?,
            ),
            None => (rest, DEFAULT_EXPECT_WITHIN),
        };
        let (what, arg) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        let arg = arg.trim();
        let what = match what {
            "led" => {
                let (name, mode) = arg
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| BoardError::command("expect led NAME MODE"))?;
                let led = Led::from_name(name).ok_or_else(|| BoardError::unknown("LED", name))?;
                let mode = LedMode::parse(mode.trim()).ok_or_else(|| {
                    BoardError::command(format!("bad LED mode {mode:?} (off, on, blink ON/OFF)"))
                })?;
                Expectation::Led(led, mode)
            }
            "ringer" => match arg {
                "on" => Expectation::RingerOn(None),
                "off" => Expectation::RingerOff,
                c => Expectation::RingerOn(Some(
                    Cadence::parse(c)
                        .ok_or_else(|| BoardError::command(format!("bad ringer state {c:?}")))?,
                )),
            },
            "screen" => {
                let text = unquote(arg);
                if text.is_empty() {
                    return Err(BoardError::command("expect screen wants some text"));
                }
                Expectation::Screen(text.to_owned())
            }
            "frame" if arg.is_empty() => Expectation::Frame,
            other => return Err(BoardError::command(format!("cannot expect {other:?}"))),
        };
        Ok(Command::Expect { what, within })
    }
}

/// A parsed script: commands with their line numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub commands: Vec<(usize, Command)>,
}

impl Script {
    pub fn parse(text: &str) -> Result<Script> {
        let mut commands = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match Command::parse(line) {
                Ok(Some(cmd)) => commands.push((i + 1, cmd)),
                Ok(None) => {}
                Err(e) => {
                    return Err(BoardError::Script {
                        line: i + 1,
                        source: Box::new(e),
                    });
                }
            }
        }
        Ok(Script { commands })
    }

    pub fn load(path: &Path) -> Result<Script> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BoardError::io(format!("reading script {}", path.display()), e))?;
        Script::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_set() {
        let s = Script::parse(
            "# demo\nhook up\nkey 5\nwait 2s\nexpect led mute blink 250/250 within 3s\n\
             expect screen \"Calling 5\"\nexpect ringer uk\ndial 555-0100\nhold volume-up 1.5s\nhook down\n",
        )
        .unwrap();
        let cmds: Vec<&Command> = s.commands.iter().map(|(_, c)| c).collect();
        assert_eq!(cmds[0], &Command::Hook(HookAction::Up));
        assert_eq!(cmds[1], &Command::Tap(Key::Digit(5)));
        assert_eq!(cmds[2], &Command::Wait(Duration::from_secs(2)));
        assert_eq!(
            cmds[3],
            &Command::Expect {
                what: Expectation::Led(Led::Mute, LedMode::blink(500)),
                within: Duration::from_secs(3)
            }
        );
        assert_eq!(
            cmds[4],
            &Command::Expect {
                what: Expectation::Screen("Calling 5".into()),
                within: DEFAULT_EXPECT_WITHIN
            }
        );
        assert!(matches!(cmds[6], Command::Dial(k) if k.len() == 7));
        assert_eq!(
            cmds[7],
            &Command::Hold(Key::VolumeUp, Duration::from_millis(1500))
        );
        assert_eq!(s.commands[0].0, 2, "line numbers count comments");
    }

    #[test]
    fn errors_name_the_line() {
        let err = Script::parse("hook up\nkey 55\n").unwrap_err();
        assert!(matches!(err, BoardError::Script { line: 2, .. }), "{err}");
        assert!(Script::parse("wait forever").is_err());
        assert!(Script::parse("hook up now").is_err());
        assert!(Script::parse("expect led disco on").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
