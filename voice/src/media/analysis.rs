//! Signal measurements used by tests and by audio sinks that check what they hear: level
//! and dominant frequency. One implementation for the workspace, in `offhook-dsp`.

pub use offhook_dsp::analysis::{
    dominant_frequency, goertzel_power, has_frequency, level_dbfs, peak, purity, rms,
    zero_crossing_frequency,
};
