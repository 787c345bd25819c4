//! Call quality: MOS by the SDK's formula and the StatsMonitor's warnings, sans-IO.

pub mod monitor;
pub mod mos;

pub use monitor::{RawStats, StatsMonitor, WarningChange};
