//! The handset's vocabulary, shared by the board (which reports and plays it) and the phone
//! (which reacts to it), so that the phone's sans-IO crate needs no hardware crate.
//!
//! - [`input`] — keys and hook events, as every input driver reports them.
//! - [`cadence`] — ring cadences: the presets, parsing, and the on/off timing.
pub mod cadence;
pub mod input;
