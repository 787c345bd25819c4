//! The simulator's outputs: a panel that logs, renders and saves frames, and indicators that
//! log LED and ringer changes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use embedded_graphics::primitives::Rectangle;

use crate::cadence::Cadence;
use crate::display::{Frame, Layout, Panel, render};
use crate::error::Result;
use crate::indicators::Indicators;
use crate::led::{Led, LedMode};
use crate::sim::state::{Shared, SimState};

pub(crate) struct SimPanel {
    pub shared: Arc<Shared>,
    pub layout: Layout,
    pub frames_dir: Option<PathBuf>,
    pub png_scale: u32,
    pub terminal: bool,
}

impl Panel for SimPanel {
    fn name(&self) -> &str {
        "simulated"
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()> {
        let n = self.shared.snapshot().frames + 1;
        let mut line = format!("frame {n} regions={}", regions.len());
        if let Some(dir) = &self.frames_dir {
            let path = dir.join(format!("frame-{n:05}.png"));
            render::save_png(frame, self.png_scale, &path)?;
            line.push_str(&format!(" {}", path.display()));
        }
        self.shared.update(Some(line), |s| {
            s.frames = n;
            s.last_frame = Some(frame.clone());
        });
        if self.terminal {
            draw_terminal(&self.shared.snapshot());
        }
        Ok(())
    }

    fn set_summary(&mut self, text: &str) {
        self.shared.update(Some(format!("screen {text:?}")), |s| {
            s.summary = text.to_owned()
        });
        if self.terminal {
            draw_terminal(&self.shared.snapshot());
        }
    }
}

pub(crate) struct SimIndicators {
    pub shared: Arc<Shared>,
    pub terminal: bool,
}

impl Indicators for SimIndicators {
    fn set_led(&mut self, led: Led, mode: LedMode) {
        if self.shared.snapshot().led(led) == mode {
            return;
        }
        self.shared.update(Some(format!("led {led} {mode}")), |s| {
            s.leds.insert(led, mode);
        });
        if self.terminal {
            draw_terminal(&self.shared.snapshot());
        }
    }

    fn set_ringer(&mut self, cadence: Option<Cadence>) {
        if self.shared.snapshot().ringer == cadence {
            return;
        }
        let line = match &cadence {
            Some(c) => format!("ringer on {c}"),
            None => "ringer off".to_owned(),
        };
        self.shared.update(Some(line), |s| s.ringer = cadence);
        if self.terminal {
            draw_terminal(&self.shared.snapshot());
        }
    }
}

/// The keys, for the help lines under the screen.
const KEY_HELP: &str = "keys: 0-9 * #  space=hook  f=flash  m=mute  r=redial  +/-=volume  \
    s=speaker  x=reject  enter=menu  l<key>=long press  q=quit";

/// The coarsest scale the picture is drawn at: beyond it the screen's text is unreadable,
/// and the description alone says more.
const MAX_STEP: u32 = 4;

/// Redraws the screen and the status lines, fitted to the terminal.
pub(crate) fn draw_terminal(state: &SimState) {
    let (cols, rows) = terminal_size();
    let mut out = String::from("\x1b[H");
    for line in terminal_lines(state, cols, rows) {
        out.push_str(&line);
        out.push_str("\x1b[K\r\n");
    }
    // Clear whatever a taller drawing (before a resize) left below.
    out.push_str("\x1b[J");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// The terminal's columns and rows (80×24 when stdout is not a terminal).
fn terminal_size() -> (usize, usize) {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 && size.ws_row > 0 {
        (usize::from(size.ws_col), usize::from(size.ws_row))
    } else {
        (80, 24)
    }
}

/// What the terminal shows, as lines of at most `cols` columns and at most `rows` lines when
/// the text allows: the picture in half blocks at the finest scale that fits beside the
/// status lines, or no picture when even [`MAX_STEP`] does not fit.
pub(crate) fn terminal_lines(state: &SimState, cols: usize, rows: usize) -> Vec<String> {
    let cols = cols.max(1);
    let leds: Vec<String> = Led::ALL
        .iter()
        .map(|l| format!("{l}:{}", state.led(*l)))
        .collect();
    let ringer = state
        .ringer
        .as_ref()
        .map_or("off".to_owned(), |c| format!("on ({c})"));
    let status = format!(
        "hook: {}  ringer: {ringer}  {}",
        if state.off_hook { "up" } else { "down" },
        leds.join(" "),
    );
    let mut text = vec![String::new()];
    text.extend(wrap(&status, cols));
    text.extend(wrap(&format!("screen: {}", state.summary), cols));
    text.push(String::new());
    text.extend(wrap(KEY_HELP, cols));

    let mut lines = Vec::new();
    if let Some(frame) = &state.last_frame {
        let size = frame.size();
        let room = rows.saturating_sub(text.len());
        let fits = |step: u32| {
            let (w, h) = (size.width.div_ceil(step), size.height.div_ceil(2 * step));
            w as usize <= cols && h as usize <= room
        };
        if let Some(step) = (1..=MAX_STEP).find(|s| fits(*s)) {
            lines.extend(render::to_terminal(frame, step).lines().map(str::to_owned));
        }
    }
    lines.extend(text);
    lines
}

/// `text` broken at spaces into lines of at most `cols` characters (a word longer than a
/// line is cut).
fn wrap(text: &str, cols: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let used = line.chars().count();
            let len = word.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + len <= cols {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word wider than the terminal: as much as fits, the rest on the next line.
            let cut = word.char_indices().nth(cols).map_or(word.len(), |(i, _)| i);
            lines.push(word[..cut].to_owned());
            word = &word[cut..];
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Frame;
    use crate::display::Layout;

    /// Columns a line takes on screen: characters outside ANSI escape sequences.
    fn width(line: &str) -> usize {
        let mut n = 0;
        let mut in_escape = false;
        for c in line.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, c) if c.is_ascii_alphabetic() => in_escape = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        n
    }

    fn lit(layout: Layout) -> Frame {
        let mut frame = Frame::new(layout);
        if let Frame::Mono(f) = &mut frame {
            use embedded_graphics::prelude::*;
            let size = f.size();
            for y in 0..size.height as i32 {
                for x in 0..size.width as i32 {
                    let _ = Pixel(
                        Point::new(x, y),
                        embedded_graphics::pixelcolor::BinaryColor::On,
                    )
                    .draw(f);
                }
            }
        }
        frame
    }

    fn state(frame: Frame) -> SimState {
        let mut s = SimState {
            summary: "Dialling 2025550100 · Echo test · a description long enough to need \
                      a second line in an eighty-column terminal"
                .into(),
            last_frame: Some(frame),
            off_hook: true,
            ..SimState::default()
        };
        s.ringer = Some(Cadence::north_america());
        s
    }

    #[test]
    fn the_128x64_screen_fits_an_80x24_terminal_in_half_blocks() {
        let lines = terminal_lines(&state(lit(Layout::OLED_128X64)), 80, 24);
        assert!(lines.len() <= 24, "{} lines: {lines:#?}", lines.len());
        for line in &lines {
            assert!(width(line) <= 80, "{} columns: {line:?}", width(line));
        }
        // The picture is there, at half size: 64 columns by 16 lines.
        let picture: Vec<&String> = lines.iter().filter(|l| l.contains('█')).collect();
        assert_eq!(picture.len(), 16);
        assert!(picture.iter().all(|l| width(l) == 64));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("screen: Dialling 2025550100"))
        );
        // A wide terminal gets the full-size picture.
        let wide = terminal_lines(&state(lit(Layout::OLED_128X64)), 160, 50);
        assert_eq!(wide.iter().filter(|l| l.contains('█')).count(), 32);
    }

    #[test]
    fn a_screen_that_cannot_fit_leaves_the_description_alone() {
        // 240×320 in 80×24 would need a scale past MAX_STEP; 128×64 in 30×12 too.
        for (layout, cols, rows) in [(Layout::TFT_240X320, 80, 24), (Layout::OLED_128X64, 30, 12)] {
            let lines = terminal_lines(&state(lit(layout)), cols, rows);
            for line in &lines {
                assert!(!line.contains('▀') && !line.contains('█'), "{line:?}");
                assert!(width(line) <= cols, "{} columns: {line:?}", width(line));
            }
            assert!(lines.iter().any(|l| l.starts_with("screen: Dialling")));
        }
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
        assert_eq!(wrap("abcdefg h", 3), vec!["abc", "def", "g h"]);
        assert_eq!(wrap("", 3), vec![""]);
    }
}
