//! The lab's one error type.

/// Why the lab could not start, a control request failed, a webhook or `<Play>` fetch failed,
/// a signaling connection ended, or a leg's media could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("configuration: {0}")]
    Config(String),
    /// A `.env` file lacks a setting (named by its first accepted name).
    #[error("missing setting {0}")]
    MissingSetting(&'static str),
    /// A value given on the command line or in the configuration is malformed.
    #[error("{value:?}: {reason}")]
    InvalidValue { value: String, reason: String },
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

    /// The HTTP client (webhooks, `<Play>`, the control-API client) speaks plain HTTP only.
    #[error("only http:// URLs are supported: {0}")]
    UnsupportedUrl(String),
    #[error("bad request: {0}")]
    HttpRequest(#[from] http::Error),
    #[error("connection failed: {0}")]
    HttpConnect(#[from] hyper_util::client::legacy::Error),
    #[error("reading the body: {0}")]
    HttpBody(#[from] hyper::Error),
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// What timed out: a request, reading a body, a handshake.
    #[error("{0} timed out")]
    Timeout(&'static str),

    /// A signaling connection's TLS handshake.
    #[error("TLS handshake: {0}")]
    TlsHandshake(#[source] std::io::Error),
    /// A signaling connection's WebSocket: `what` is the handshake, a read or a write.
    #[error("{what}: {source}")]
    WebSocket {
        what: &'static str,
        source: tokio_tungstenite::tungstenite::Error,
    },

    /// An SDP the gateway refuses, by the lab's own checks (the oracle's, not str0m's).
    #[error("{0}")]
    Sdp(String),
    /// An SDP str0m cannot parse.
    #[error("{what}: {source}")]
    SdpParse {
        what: &'static str,
        source: str0m::error::SdpError,
    },
    /// str0m refused a negotiation step or a candidate.
    #[error("{what}: {source}")]
    Rtc {
        what: &'static str,
        source: str0m::RtcError,
    },
    /// The gateway's DTLS certificate could not be made.
    #[error("DTLS certificate: {0}")]
    Certificate(#[from] str0m::crypto::CryptoError),
    /// A media request that does not fit the leg's state (no leg, no pending offer).
    #[error("{0}")]
    Media(&'static str),
    /// A `<Play>` file that is not a WAV file the lab can play.
    #[error("{0}")]
    Wav(#[from] offhook_dsp::wav::WavError),
}
