//! Errors of the client API: [`VoiceError`], and the SDK's error table and remapping rules
//! ([`TwilioError`], from `offhook-core`, re-exported so that `twilio_voice::error` is the one
//! path a client uses).

pub use offhook_core::twilio_error::*;

/// Every error the API returns: a Twilio error, or a misuse the SDK would throw for
/// (`InvalidStateError`, `InvalidArgumentError`), or a local failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    #[error("{0}")]
    Twilio(TwilioError),
    /// The SDK's `InvalidStateError`.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The SDK's `InvalidArgumentError`.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The Device has been destroyed (or its task has stopped).
    #[error("the Device has been destroyed")]
    Destroyed,
    #[error("timed out: {0}")]
    Timeout(String),
    /// A local I/O failure (socket, TLS set-up).
    #[error("{0}")]
    Io(String),
}

impl From<TwilioError> for VoiceError {
    fn from(e: TwilioError) -> Self {
        VoiceError::Twilio(e)
    }
}

impl VoiceError {
    /// The Twilio code, where there is one.
    pub fn twilio_code(&self) -> Option<u32> {
        match self {
            VoiceError::Twilio(e) => Some(e.code),
            _ => None,
        }
    }
}
