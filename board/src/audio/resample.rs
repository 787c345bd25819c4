//! The resampler used when a device refuses our rate: `offhook-dsp`'s streaming windowed sinc
//! (exact rate, no allocation per period once warmed up; the filter is described there).

pub use offhook_dsp::resample::Resampler;
