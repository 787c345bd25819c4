//! `offhook-phone`: the desk handset's behaviour, independent of hardware and network. Inputs
//! go in with the time, outputs and a deadline come out; the firmware's glue does the I/O.
//!
//! Module map:
//! - [`phone`] — the sans-IO phone state machine: inputs, outputs and the view model, and
//!   what offhook-server holds for the handset (mailbox, do-not-disturb, forwarding).
//! - [`dialplan`] — digit maps, emergency numbers, speed dials, directory, E.164 normalisation.
//! - [`tones`] — call-progress tones, DTMF feedback and ring cadences per region, as PCM.
//! - [`screens`] — the view model drawn in 128×64 mono and 240×320 colour layouts, and as PNG.
//! - [`history`] — placed / received / missed calls, persisted across restarts.
//! - [`state_file`] — atomic writes and corrupt-tolerant reads of state files.
//! - [`twilio_errors`] — every Twilio error code as a title, a plain cause and what to do.
//! - [`clock`] — wall-clock time carried on the monotonic clock, and time formatting.
pub mod clock;
pub mod dialplan;
pub mod history;
pub mod phone;
pub mod screens;
pub mod state_file;
pub mod tones;
pub mod twilio_errors;
