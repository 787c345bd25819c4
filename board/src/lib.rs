//! `offhook-board`: everything physical about the handset, behind small traits.
//!
//! Module map:
//! - [`input`] — keys and hook events shared by every input driver.
pub mod input;
