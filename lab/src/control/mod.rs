//! The control API: HTTP JSON on loopback, for tests and demos (see the crate docs for routes).

mod client;
pub(crate) mod server;
pub mod types;

pub use client::Client;
