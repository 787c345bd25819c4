//! The signaling stream, sans-IO: the WebSocket transport's timers, backoff and edge
//! fallback ([`transport`]) and PStream's message layer ([`pstream`]).

pub mod backoff;
pub mod pstream;
pub mod transport;

pub use pstream::{PStream, StreamEvent, StreamStatus};
pub use transport::{SocketCommand, SocketId, TransportOptions};
