//! `TwilioError`: the SDK's error codes, names and messages, and its remapping rules.
//!
//! Source: `lib/twilio/errors/generated.ts` and `device.ts _onSignalingError` /
//! `call.ts _onHangup` in twilio-voice.js (research doc §3).

use std::fmt;

/// One row of the SDK's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: u32,
    /// The SDK's class name, e.g. `AuthorizationErrors.AccessTokenExpired`.
    pub name: &'static str,
    /// The SDK's description.
    pub description: &'static str,
}

macro_rules! table {
    ($($code:literal $name:literal $desc:literal;)*) => {
        /// Every error the 2.x SDK knows.
        pub const ERRORS: &[ErrorInfo] = &[$(ErrorInfo { code: $code, name: $name, description: $desc }),*];
    };
}

table! {
    20101 "AuthorizationErrors.AccessTokenInvalid" "Invalid access token";
    20104 "AuthorizationErrors.AccessTokenExpired" "Access token expired or expiration date invalid";
    20151 "AuthorizationErrors.AuthenticationFailed" "Authentication Failed";
    31000 "GeneralErrors.UnknownError" "Unknown Error";
    31001 "GeneralErrors.ApplicationNotFoundError" "Application Not Found";
    31002 "GeneralErrors.ConnectionDeclinedError" "Connection Declined";
    31003 "GeneralErrors.ConnectionTimeoutError" "Connection Timeout";
    31005 "GeneralErrors.ConnectionError" "Connection error";
    31008 "GeneralErrors.CallCancelledError" "Call cancelled";
    31009 "GeneralErrors.TransportError" "No transport available to send or receive messages";
    31100 "MalformedRequestErrors.MalformedRequestError" "The request had malformed syntax.";
    31101 "MalformedRequestErrors.MissingParameterArrayError" "Missing parameter array in request.";
    31102 "MalformedRequestErrors.AuthorizationTokenMissingError" "Authorization token missing in request.";
    31103 "MalformedRequestErrors.MaxParameterLengthExceededError" "Maximum parameter length has been exceeded.";
    31104 "MalformedRequestErrors.InvalidBridgeTokenError" "Invalid bridge token.";
    31105 "MalformedRequestErrors.InvalidClientNameError" "Invalid client name.";
    31107 "MalformedRequestErrors.ReconnectParameterInvalidError" "The reconnect parameter is invalid.";
    31201 "AuthorizationErrors.AuthorizationError" "Authorization error";
    31202 "SignatureValidationErrors.AccessTokenSignatureValidationFailed" "Signature validation failed.";
    31203 "AuthorizationErrors.NoValidAccountError" "No valid account";
    31204 "AuthorizationErrors.InvalidJWTTokenError" "Invalid JWT token";
    31205 "AuthorizationErrors.JWTTokenExpiredError" "JWT token expired";
    31206 "AuthorizationErrors.RateExceededError" "Rate exceeded authorized limit.";
    31207 "AuthorizationErrors.JWTTokenExpirationTooLongError" "JWT token expiration too long";
    31209 "AuthorizationErrors.ReconnectAttemptError" "Reconnect attempt is not authorized.";
    31210 "AuthorizationErrors.CallMessageEventTypeInvalidError" "Call Message Event Type is invalid.";
    31212 "AuthorizationErrors.PayloadSizeExceededError" "Call Message Event Payload size exceeded authorized limit.";
    31400 "ClientErrors.BadRequest" "Bad Request (HTTP/SIP)";
    31401 "UserMediaErrors.PermissionDeniedError" "UserMedia Permission Denied Error";
    31402 "UserMediaErrors.AcquisitionFailedError" "UserMedia Acquisition Failed Error";
    31404 "ClientErrors.NotFound" "Not Found (HTTP/SIP)";
    31480 "ClientErrors.TemporarilyUnavailable" "Temporarily Unavailable (SIP)";
    31486 "ClientErrors.BusyHere" "Busy Here (SIP)";
    31603 "SIPServerErrors.Decline" "Decline (SIP)";
    53000 "SignalingErrors.ConnectionError" "Signaling connection error";
    53001 "SignalingErrors.ConnectionDisconnected" "Signaling connection disconnected";
    53400 "MediaErrors.ClientLocalDescFailed" "Client is unable to create or apply a local media description";
    53402 "MediaErrors.ClientRemoteDescFailed" "Client is unable to apply a remote media description";
    53405 "MediaErrors.ConnectionError" "Media connection failed or Media activity ceased";
}

/// Codes the SDK surfaces as themselves only with `enableImprovedSignalingErrorPrecision`.
pub const PRECISE_CODES: &[u32] = &[
    31001, 31002, 31003, 31101, 31102, 31103, 31104, 31105, 31107, 31201, 31202, 31203, 31204,
    31205, 31207, 31404, 31480, 31486, 31603,
];

/// Looks a code up in the SDK's table.
pub fn lookup(code: u32) -> Option<&'static ErrorInfo> {
    ERRORS.iter().find(|e| e.code == code)
}

/// The error the server (or the transport) actually sent, kept inside a remapped error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalError {
    pub code: u32,
    pub message: String,
}

/// An error as the SDK reports it: code, class name, description and the message given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioError {
    pub code: u32,
    pub name: &'static str,
    pub description: &'static str,
    /// The message from the server or from the place the error was raised.
    pub message: String,
    /// For remapped errors (e.g. 53000 or 31005 hiding a precise code), what was really sent.
    pub original: Option<OriginalError>,
}

impl TwilioError {
    /// An error with a known code; an unknown code becomes 31000 keeping the code as original.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        let message = message.into();
        match lookup(code) {
            Some(info) => TwilioError {
                code,
                name: info.name,
                description: info.description,
                message,
                original: None,
            },
            None => TwilioError {
                original: Some(OriginalError {
                    code,
                    message: message.clone(),
                }),
                ..TwilioError::new(31000, message)
            },
        }
    }

    pub fn with_original(mut self, code: u32, message: impl Into<String>) -> Self {
        self.original = Some(OriginalError {
            code,
            message: message.into(),
        });
        self
    }

    /// Whether the code is in the "precise" set.
    pub fn is_precise_code(code: u32) -> bool {
        PRECISE_CODES.contains(&code)
    }

    /// A server `error` frame as the Device surfaces it (`device.ts _onSignalingError`).
    ///
    /// 31201→20151, 31204→20101 and 31205→20104 always; other precise codes only with the
    /// precision option; any other known code as itself; unknown codes as 53000.
    pub fn from_signaling(code: u32, message: &str, precise: bool) -> Self {
        let remapped = match code {
            31201 => Some(20151),
            31204 => Some(20101),
            31205 => Some(20104),
            _ => None,
        };
        if let Some(mapped) = remapped {
            return TwilioError::new(mapped, message).with_original(code, message);
        }
        if Self::is_precise_code(code) {
            return if precise {
                TwilioError::new(code, message)
            } else {
                TwilioError::new(53000, message).with_original(code, message)
            };
        }
        match lookup(code) {
            Some(_) => TwilioError::new(code, message),
            None => TwilioError::new(53000, message).with_original(code, message),
        }
    }

    /// A `hangup` frame carrying an error, as the Call surfaces it (`call.ts _onHangup`).
    pub fn from_hangup(code: u32, message: &str, precise: bool) -> Self {
        if precise && Self::is_precise_code(code) {
            TwilioError::new(code, message)
        } else {
            TwilioError::new(31005, "Error sent from gateway in HANGUP")
                .with_original(code, message)
        }
    }

    /// The code that actually came over the wire (the original if remapped).
    pub fn wire_code(&self) -> u32 {
        self.original.as_ref().map_or(self.code, |o| o.code)
    }

    /// True for the token errors a phone answers by fetching a new token.
    pub fn is_token_problem(&self) -> bool {
        matches!(self.code, 20101 | 20104 | 31204 | 31205 | 31207)
            || matches!(self.wire_code(), 31204 | 31205 | 31207)
    }
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.description)?;
        if !self.message.is_empty() && self.message != self.description {
            write!(f, " — {}", self.message)?;
        }
        if let Some(o) = &self.original {
            if o.code != self.code {
                write!(f, " [sent as {}: {}]", o.code, o.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for TwilioError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_remaps_as_the_sdk_does() {
        let e = TwilioError::from_signaling(31205, "JWT token expired", false);
        assert_eq!(e.code, 20104);
        assert_eq!(e.wire_code(), 31205);
        assert_eq!(TwilioError::from_signaling(31204, "x", false).code, 20101);
        assert_eq!(TwilioError::from_signaling(31201, "x", true).code, 20151);
        assert_eq!(TwilioError::from_signaling(31202, "x", false).code, 53000);
        assert_eq!(TwilioError::from_signaling(31202, "x", true).code, 31202);
        assert_eq!(TwilioError::from_signaling(31009, "x", false).code, 31009);
        assert_eq!(TwilioError::from_signaling(12345, "x", true).code, 53000);
    }

    #[test]
    fn hangup_errors_hide_behind_31005_without_precision() {
        let e = TwilioError::from_hangup(31486, "Busy", false);
        assert_eq!(e.code, 31005);
        assert_eq!(e.message, "Error sent from gateway in HANGUP");
        assert_eq!(e.original.unwrap().code, 31486);
        assert_eq!(TwilioError::from_hangup(31486, "Busy", true).code, 31486);
        assert_eq!(TwilioError::from_hangup(31000, "x", true).code, 31005);
    }

    #[test]
    fn every_precise_code_is_in_the_table() {
        for c in PRECISE_CODES {
            assert!(lookup(*c).is_some(), "{c}");
        }
    }
}

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
