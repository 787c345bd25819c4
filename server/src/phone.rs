//! Phone numbers: the one country table and E.164 normalisation of `offhook-core`, used for
//! the numbers in the handsets file and in webhooks.

pub use offhook_core::numbering::*;
