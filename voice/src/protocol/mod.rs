//! The wire: PStream frames, custom-parameter encoding, call and event SIDs, SDP munging, and
//! the durations servers send ([`duration`]).
//!
//! Everything here is pure (strings in, values out) and tested against the SDK's own
//! fixtures (`tests/pstream.js`) and the captured frames in the project's seed document.

pub mod duration;
pub mod frame;
pub mod params;
pub mod sdp;
/// Call and event SIDs, from `offhook-core`.
pub use offhook_core::sid;

pub use frame::{ClientMessage, FrameError, ServerFrame, ServerMessage};
