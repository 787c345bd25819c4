//! Try the simulated board with a stand-in UI (the real UI is the firmware's `offhook demo`).
//!
//! ```text
//! cargo run -p offhook-board --example sim                       # terminal: type keys, space = hook
//! cargo run -p offhook-board --example sim -- --script demo.txt --frames out/ --log -
//! cargo run -p offhook-board --example sim -- --socket /tmp/sim.sock --log -   # then: echo "hook up" | nc -U /tmp/sim.sock
//! ```
//! Options: `--color` (240×320 RGB565 instead of the 128×64 OLED), `--timestamps`.

use std::path::PathBuf;

use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10, ascii::FONT_10X20};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::text::Text;
use offhook_board::cadence::Cadence;
use offhook_board::display::{Canvas, Layout};
use offhook_board::input::{InputEvent, Key};
use offhook_board::led::{Led, LedMode};
use offhook_board::sim::{self, Script, SimLog, SimOptions};

fn draw<D: DrawTarget<Color = C>, C: PixelColor + From<BinaryColor>>(
    d: &mut D,
    title: &str,
    line: &str,
) {
    let _ = d.clear(BinaryColor::Off.into());
    let _ = Text::new(
        title,
        Point::new(2, 10),
        MonoTextStyle::new(&FONT_6X10, BinaryColor::On.into()),
    )
    .draw(d);
    let _ = Text::new(
        line,
        Point::new(2, 40),
        MonoTextStyle::new(&FONT_10X20, BinaryColor::On.into()),
    )
    .draw(d);
}

fn main() {
    let mut options = SimOptions::default();
    let mut args = std::env::args().skip(1);
    let mut headless = false;
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--script" => {
                let path = PathBuf::from(value());
                options.script = Some(Script::load(&path).unwrap_or_else(|e| {
                    eprintln!("{e}");
                    std::process::exit(2)
                }));
                headless = true;
            }
            "--socket" => {
                options.control_socket = Some(value().into());
                headless = true;
            }
            "--frames" => options.frames_dir = Some(value().into()),
            "--log" => {
                options.log = match value().as_str() {
                    "-" => SimLog::Stdout,
                    path => SimLog::File(path.into()),
                }
            }
            "--color" => options.layout = Layout::TFT_240X320,
            "--timestamps" => options.timestamps = true,
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2)
            }
        }
    }
    options.terminal = !headless;
    let (mut board, mut handle) = sim::start(options).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let mut digits = String::new();
    let mut off_hook = false;
    let mut muted = false;
    let render = |board: &mut offhook_board::Board, title: &str, line: &str| {
        match board.display.canvas() {
            Canvas::Mono(f) => draw(f, title, line),
            Canvas::Color(f) => draw::<_, Rgb565>(f, title, line),
        }
        let _ = board.display.flush();
        board.display.set_summary(&format!("{title} {line}"));
    };
    render(&mut board, "on hook", "");
    while let Some(event) = board.events.blocking_recv() {
        match event {
            InputEvent::OffHook => {
                off_hook = true;
                digits.clear();
                board.indicators.set_ringer(None);
            }
            InputEvent::OnHook => {
                off_hook = false;
                digits.clear();
            }
            InputEvent::HookFlash => board.indicators.set_ringer(Some(Cadence::uk())),
            InputEvent::KeyDown(Key::Mute) => {
                muted = !muted;
                board
                    .indicators
                    .set_led(Led::Mute, if muted { LedMode::On } else { LedMode::Off });
            }
            InputEvent::KeyDown(k) => {
                if let Some(c) = k.dtmf_char() {
                    digits.push(c);
                }
            }
            InputEvent::KeyLongPress(Key::Digit(0)) => {
                digits.pop();
                digits.push('+');
            }
            _ => continue,
        }
        let title = if off_hook { "off hook" } else { "on hook" };
        render(&mut board, title, &digits);
    }
    if let Err(e) = handle.wait_script() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
