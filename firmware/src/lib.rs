//! `offhook`: the desk handset — the phone's behaviour, independent of hardware and network.
//!
//! Module map:
//! - [`dialplan`] — digit maps, emergency numbers, speed dials, directory, E.164 normalisation.
pub mod dialplan;
