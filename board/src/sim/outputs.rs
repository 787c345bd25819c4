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

/// Redraws the screen and a status line at the top of the terminal.
pub(crate) fn draw_terminal(state: &SimState) {
    let mut out = String::from("\x1b[H");
    if let Some(frame) = &state.last_frame {
        let step = if frame.size().width > 160 { 2 } else { 1 };
        for line in render::to_terminal(frame, step).lines() {
            out.push_str(line);
            out.push_str("\x1b[K\r\n");
        }
    }
    let leds: Vec<String> = Led::ALL
        .iter()
        .map(|l| format!("{l}:{}", state.led(*l)))
        .collect();
    let ringer = state
        .ringer
        .as_ref()
        .map_or("off".to_owned(), |c| format!("on ({c})"));
    out.push_str(&format!(
        "\x1b[K\r\nhook: {}  ringer: {ringer}  {}\x1b[K\r\nscreen: {}\x1b[K\r\n",
        if state.off_hook { "up" } else { "down" },
        leds.join(" "),
        state.summary
    ));
    out.push_str(
        "\x1b[K\r\nkeys: 0-9 * #  space=hook  f=flash  m=mute r=redial +/-=volume s=speaker \
         x=reject enter=menu  l<key>=long press  q=quit\x1b[K\r\n",
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}
