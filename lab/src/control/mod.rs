//! The control API: HTTP JSON on loopback, for tests and demos (see the crate docs for routes).
//! The same server answers Twilio's REST paths the lab emulates (`rest`: the Recordings
//! resource and the Network Traversal Service's Tokens resource), so its base URL is also the
//! lab's Twilio API base.

mod client;
pub(crate) mod rest;
pub(crate) mod server;
pub mod types;

pub use client::Client;
