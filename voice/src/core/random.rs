//! The Device engine's one random source, injected: backoff jitter, the seeds of the
//! signaling streams (their own jitter and edge fallback), temporary call SIDs and voice
//! event SIDs all come from it, so that a seed reproduces a run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::protocol::sid;

#[derive(Debug, Clone)]
pub struct Random(StdRng);

impl Random {
    /// A source the caller made (and may have seeded).
    pub fn new(rng: StdRng) -> Self {
        Random(rng)
    }

    /// From `seed` when given (tests and reproductions), else from the OS.
    pub fn from_seed(seed: Option<u64>) -> Self {
        Random(match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        })
    }

    /// A uniform number in [0, 1), as [`crate::signaling::backoff::Backoff::delay`] takes.
    pub fn unit(&mut self) -> f64 {
        self.0.random()
    }

    /// The seed of a new signaling stream.
    pub fn stream_seed(&mut self) -> u64 {
        self.0.random()
    }

    /// `TJS…` for an outgoing call.
    pub fn temp_call_sid(&mut self) -> String {
        sid::temp_call_sid_from(&mut self.0)
    }

    /// `KX…` for a call message.
    pub fn voice_event_sid(&mut self) -> String {
        sid::voice_event_sid_from(&mut self.0)
    }
}
