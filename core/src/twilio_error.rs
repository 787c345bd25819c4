//! `TwilioError`: the Voice SDK's error codes, names and messages, and its remapping rules
//! (`lib/twilio/errors/generated.ts`, `device.ts _onSignalingError` and `call.ts _onHangup`
//! of the SDK, as the protocol notes in `docs/` describe them). The client, the token
//! server, the lab and the handset's screens all read this one table.

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
    ($($code:literal $ident:ident $name:literal $desc:literal;)*) => {
        /// Every error the 2.x SDK knows.
        pub const ERRORS: &[ErrorInfo] = &[$(ErrorInfo { code: $code, name: $name, description: $desc }),*];

        /// The codes by name, so that code reads `code::ACCESS_TOKEN_EXPIRED`, not `20104`.
        pub mod code {
            $(#[doc = $name] pub const $ident: u32 = $code;)*
        }
    };
}

table! {
    20101 ACCESS_TOKEN_INVALID "AuthorizationErrors.AccessTokenInvalid" "Invalid access token";
    20104 ACCESS_TOKEN_EXPIRED "AuthorizationErrors.AccessTokenExpired" "Access token expired or expiration date invalid";
    20151 AUTHENTICATION_FAILED "AuthorizationErrors.AuthenticationFailed" "Authentication Failed";
    31000 UNKNOWN "GeneralErrors.UnknownError" "Unknown Error";
    31001 APPLICATION_NOT_FOUND "GeneralErrors.ApplicationNotFoundError" "Application Not Found";
    31002 CONNECTION_DECLINED "GeneralErrors.ConnectionDeclinedError" "Connection Declined";
    31003 CONNECTION_TIMEOUT "GeneralErrors.ConnectionTimeoutError" "Connection Timeout";
    31005 GENERAL_CONNECTION "GeneralErrors.ConnectionError" "Connection error";
    31008 CALL_CANCELLED "GeneralErrors.CallCancelledError" "Call cancelled";
    31009 TRANSPORT "GeneralErrors.TransportError" "No transport available to send or receive messages";
    31100 MALFORMED_REQUEST "MalformedRequestErrors.MalformedRequestError" "The request had malformed syntax.";
    31101 MISSING_PARAMETER_ARRAY "MalformedRequestErrors.MissingParameterArrayError" "Missing parameter array in request.";
    31102 AUTHORIZATION_TOKEN_MISSING "MalformedRequestErrors.AuthorizationTokenMissingError" "Authorization token missing in request.";
    31103 MAX_PARAMETER_LENGTH_EXCEEDED "MalformedRequestErrors.MaxParameterLengthExceededError" "Maximum parameter length has been exceeded.";
    31104 INVALID_BRIDGE_TOKEN "MalformedRequestErrors.InvalidBridgeTokenError" "Invalid bridge token.";
    31105 INVALID_CLIENT_NAME "MalformedRequestErrors.InvalidClientNameError" "Invalid client name.";
    31107 RECONNECT_PARAMETER_INVALID "MalformedRequestErrors.ReconnectParameterInvalidError" "The reconnect parameter is invalid.";
    31201 AUTHORIZATION "AuthorizationErrors.AuthorizationError" "Authorization error";
    31202 ACCESS_TOKEN_SIGNATURE_VALIDATION_FAILED "SignatureValidationErrors.AccessTokenSignatureValidationFailed" "Signature validation failed.";
    31203 NO_VALID_ACCOUNT "AuthorizationErrors.NoValidAccountError" "No valid account";
    31204 INVALID_JWT_TOKEN "AuthorizationErrors.InvalidJWTTokenError" "Invalid JWT token";
    31205 JWT_TOKEN_EXPIRED "AuthorizationErrors.JWTTokenExpiredError" "JWT token expired";
    31206 RATE_EXCEEDED "AuthorizationErrors.RateExceededError" "Rate exceeded authorized limit.";
    31207 JWT_TOKEN_EXPIRATION_TOO_LONG "AuthorizationErrors.JWTTokenExpirationTooLongError" "JWT token expiration too long";
    31209 RECONNECT_ATTEMPT "AuthorizationErrors.ReconnectAttemptError" "Reconnect attempt is not authorized.";
    31210 CALL_MESSAGE_EVENT_TYPE_INVALID "AuthorizationErrors.CallMessageEventTypeInvalidError" "Call Message Event Type is invalid.";
    31212 PAYLOAD_SIZE_EXCEEDED "AuthorizationErrors.PayloadSizeExceededError" "Call Message Event Payload size exceeded authorized limit.";
    31400 BAD_REQUEST "ClientErrors.BadRequest" "Bad Request (HTTP/SIP)";
    31401 PERMISSION_DENIED "UserMediaErrors.PermissionDeniedError" "UserMedia Permission Denied Error";
    31402 ACQUISITION_FAILED "UserMediaErrors.AcquisitionFailedError" "UserMedia Acquisition Failed Error";
    31404 NOT_FOUND "ClientErrors.NotFound" "Not Found (HTTP/SIP)";
    31480 TEMPORARILY_UNAVAILABLE "ClientErrors.TemporarilyUnavailable" "Temporarily Unavailable (SIP)";
    31486 BUSY_HERE "ClientErrors.BusyHere" "Busy Here (SIP)";
    31603 DECLINE "SIPServerErrors.Decline" "Decline (SIP)";
    53000 SIGNALING_CONNECTION "SignalingErrors.ConnectionError" "Signaling connection error";
    53001 CONNECTION_DISCONNECTED "SignalingErrors.ConnectionDisconnected" "Signaling connection disconnected";
    53400 CLIENT_LOCAL_DESC_FAILED "MediaErrors.ClientLocalDescFailed" "Client is unable to create or apply a local media description";
    53402 CLIENT_REMOTE_DESC_FAILED "MediaErrors.ClientRemoteDescFailed" "Client is unable to apply a remote media description";
    53405 MEDIA_CONNECTION "MediaErrors.ConnectionError" "Media connection failed or Media activity ceased";
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
                ..TwilioError::new(code::UNKNOWN, message)
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
            code::AUTHORIZATION => Some(code::AUTHENTICATION_FAILED),
            code::INVALID_JWT_TOKEN => Some(code::ACCESS_TOKEN_INVALID),
            code::JWT_TOKEN_EXPIRED => Some(code::ACCESS_TOKEN_EXPIRED),
            _ => None,
        };
        if let Some(mapped) = remapped {
            return TwilioError::new(mapped, message).with_original(code, message);
        }
        if Self::is_precise_code(code) {
            return if precise {
                TwilioError::new(code, message)
            } else {
                TwilioError::new(code::SIGNALING_CONNECTION, message).with_original(code, message)
            };
        }
        match lookup(code) {
            Some(_) => TwilioError::new(code, message),
            None => {
                TwilioError::new(code::SIGNALING_CONNECTION, message).with_original(code, message)
            }
        }
    }

    /// A `hangup` frame carrying an error, as the Call surfaces it (`call.ts _onHangup`).
    pub fn from_hangup(code: u32, message: &str, precise: bool) -> Self {
        if precise && Self::is_precise_code(code) {
            TwilioError::new(code, message)
        } else {
            TwilioError::new(
                code::GENERAL_CONNECTION,
                "Error sent from gateway in HANGUP",
            )
            .with_original(code, message)
        }
    }

    /// The code that actually came over the wire (the original if remapped).
    pub fn wire_code(&self) -> u32 {
        self.original.as_ref().map_or(self.code, |o| o.code)
    }

    /// True for the token errors a phone answers by fetching a new token.
    pub fn is_token_problem(&self) -> bool {
        matches!(
            self.code,
            code::ACCESS_TOKEN_INVALID
                | code::ACCESS_TOKEN_EXPIRED
                | code::INVALID_JWT_TOKEN
                | code::JWT_TOKEN_EXPIRED
                | code::JWT_TOKEN_EXPIRATION_TOO_LONG
        ) || matches!(
            self.wire_code(),
            code::INVALID_JWT_TOKEN | code::JWT_TOKEN_EXPIRED | code::JWT_TOKEN_EXPIRATION_TOO_LONG
        )
    }
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.description)?;
        if !self.message.is_empty() && self.message != self.description {
            write!(f, " — {}", self.message)?;
        }
        if let Some(o) = &self.original
            && o.code != self.code
        {
            write!(f, " [sent as {}: {}]", o.code, o.message)?;
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
