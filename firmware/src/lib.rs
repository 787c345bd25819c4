//! `offhook`: the desk handset — the phone's behaviour, independent of hardware and network.
//!
//! Module map:
//! - [`dialplan`] — digit maps, emergency numbers, speed dials, directory, E.164 normalisation.
//! - [`tones`] — call-progress tones, DTMF feedback and ring cadences per region, as PCM.
pub mod dialplan;
pub mod tones;
