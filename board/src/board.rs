//! The bundle the firmware gets: input events, indicators, display (and audio), whatever the
//! board. Built by [`crate::hardware`] from a profile or by [`crate::sim`] for the simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audio::Audio;
use crate::display::Display;
use crate::error::Result;
use crate::indicators::Indicators;
use crate::input::InputEvent;
use crate::profile::Profile;

/// Debounced input events, in order. `recv().await` in async code, `blocking_recv()` in a
/// thread. The stream ends (`None`) when the board shuts its inputs down, e.g. when a
/// simulator script finishes or the user quits the terminal simulator
/// ([`Board::quit_requested`] is then true), or when every input source is gone (a keypad
/// unplugged, a GPIO reader failed: a fault).
pub type InputEvents = tokio::sync::mpsc::UnboundedReceiver<InputEvent>;

/// Sending half used by input drivers.
pub(crate) type InputSender = tokio::sync::mpsc::UnboundedSender<InputEvent>;

/// Everything physical the firmware talks to.
pub struct Board {
    /// Profile name, e.g. `pi-zero2w-ssd1306` or `simulated`.
    pub name: String,
    pub events: InputEvents,
    pub indicators: Box<dyn Indicators>,
    pub display: Display,
    /// Capture/playback rings and their control, when the board has audio configured.
    pub audio: Option<Audio>,
    /// Resources that must live as long as the board (e.g. a backlight line held on).
    pub(crate) _keep: Vec<Box<dyn Send>>,
    /// Set when the session was ended on purpose (the simulator's `quit`).
    pub(crate) quit: Arc<AtomicBool>,
}

impl Board {
    /// Whether the input stream ended because the user or a script asked to quit. When the
    /// stream ends without it, every input source is gone.
    pub fn quit_requested(&self) -> bool {
        self.quit.load(Ordering::SeqCst)
    }

    /// Starts the board a profile describes: the simulator for `simulated` profiles
    /// (headless, with `options`), real hardware otherwise.
    pub fn start(
        profile: &Profile,
        sim: Option<crate::sim::SimOptions>,
    ) -> Result<(Board, Option<crate::sim::SimHandle>)> {
        if profile.display.kind == crate::profile::DisplayKind::Simulated {
            let options = sim.unwrap_or_else(|| crate::sim::SimOptions::from_profile(profile));
            let (board, handle) = crate::sim::start(options)?;
            Ok((board, Some(handle)))
        } else {
            Ok((crate::hardware::start(profile)?, None))
        }
    }
}
