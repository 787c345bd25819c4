//! The bundle the firmware gets: input events, indicators, display (and audio), whatever the
//! board. Built by [`crate::hardware`] from a profile or by [`crate::sim`] for the simulator.

use crate::display::Display;
use crate::indicators::Indicators;
use crate::input::InputEvent;

/// Debounced input events, in order. `recv().await` in async code, `blocking_recv()` in a
/// thread. The stream ends (`None`) when the board shuts its inputs down, e.g. when a
/// simulator script finishes or the user quits the terminal simulator.
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
}
