//! The lab's one error type.

/// Why the lab could not start or a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the lab has stopped")]
    Stopped,
    #[error("control API: {0}")]
    Control(String),
}
