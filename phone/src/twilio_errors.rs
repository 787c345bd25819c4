//! What each Twilio error means for the person holding the handset: a short title, the cause in
//! plain language, what to do, and what the phone does about it.

/// What kind of trouble an error is, which decides how the phone reacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The access token is expired or unusable: fetch a new one.
    Token,
    /// The server's Twilio credentials or account setup are wrong: someone must fix the server.
    ServerSetup,
    /// Twilio cannot be reached: the Device retries by itself.
    Network,
    /// Call audio could not be set up or was lost.
    Media,
    /// How an outgoing call ended (busy, declined, …): shown as the call's result.
    CallOutcome,
    /// The phone sent something Twilio did not understand (a bug).
    Request,
    /// Only affects one call message, not worth showing.
    Minor,
}

/// The screen text for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorAdvice {
    pub code: u32,
    pub kind: ErrorKind,
    /// Fits one line on the small screen (≤ 20 characters).
    pub title: &'static str,
    pub cause: &'static str,
    pub action: &'static str,
}

macro_rules! advice {
    ($($code:literal $kind:ident $title:literal $cause:literal $action:literal;)*) => {
        /// Every error code the Voice SDK 2.x knows, with its advice.
        pub const ADVICE: &[ErrorAdvice] = &[$(ErrorAdvice {
            code: $code, kind: ErrorKind::$kind, title: $title, cause: $cause, action: $action,
        }),*];
    };
}

advice! {
    20101 Token "Token invalid" "Twilio refused the access token. The clock may be wrong." "Renewing the token. Check the time.";
    20104 Token "Token expired" "Token expired — renewing." "Nothing to do; this takes seconds.";
    20151 ServerSetup "Login refused" "Twilio refused the account login." "Check the account settings on the server.";
    31000 Network "Twilio error" "Something went wrong talking to Twilio." "Retrying automatically.";
    31001 ServerSetup "No TwiML app" "The TwiML application was not found." "Check the TwiML App SID on the server.";
    31002 CallOutcome "Declined" "The call was declined." "Try again later.";
    31003 Media "Connection lost" "The audio connection to Twilio timed out." "Check the network, then call again.";
    31005 Network "No connection" "Can't reach Twilio — retrying." "Check the internet connection.";
    31008 CallOutcome "Call cancelled" "The call ended before it was answered." "Call again if needed.";
    31009 Network "No connection" "No connection to Twilio to send on." "Check the network and that TCP 443 is open.";
    31100 Request "Bad request" "Twilio could not read a request from the phone." "Restart the phone; report it if it repeats.";
    31101 Request "Bad request" "A request was missing its parameters." "Restart the phone; report it if it repeats.";
    31102 Request "Bad request" "A request had no token." "Renewing the token.";
    31103 Request "Bad request" "A call parameter was too long." "Shorten the number or contact.";
    31104 Request "Bad request" "Twilio rejected the call's bridge token." "Call again.";
    31105 Request "Bad identity" "The handset's identity has characters Twilio refuses." "Fix the identity on the server.";
    31107 Request "Bad request" "The reconnect request was invalid." "Call again.";
    31201 ServerSetup "Not authorised" "Twilio refused the request." "Check the account on the server.";
    31202 ServerSetup "Bad credentials" "Server credentials rejected — check the API secret." "Fix the API key and secret on the server.";
    31203 ServerSetup "No account" "The Twilio account is not valid." "Check the account SID on the server.";
    31204 Token "Token invalid" "The access token is malformed." "Renewing; check the server if it repeats.";
    31205 Token "Token expired" "Token expired — renewing." "Nothing to do; this takes seconds.";
    31206 Network "Too many requests" "Twilio's rate limit was reached." "Waiting, then retrying.";
    31207 ServerSetup "Token too long" "The token lives longer than Twilio allows (24 h)." "Lower the token TTL on the server.";
    31209 CallOutcome "Reconnect refused" "Twilio refused to resume the call." "Call again.";
    31210 Minor "Message refused" "A call message had an invalid type." "Nothing to do.";
    31212 Minor "Message too big" "A call message was too large." "Nothing to do.";
    31400 Request "Bad request" "Twilio said the request was bad." "Call again; report it if it repeats.";
    31401 Media "No microphone" "The microphone could not be used." "Choose another microphone in Settings.";
    31402 Media "No microphone" "The microphone could not be opened." "Choose another microphone in Settings.";
    31404 CallOutcome "Not found" "The number or handset was not found." "Check the number.";
    31480 CallOutcome "Unavailable" "The person you called is not available." "Try again later.";
    31486 CallOutcome "Busy" "The line is busy." "Try again later.";
    31603 CallOutcome "Declined" "The call was declined." "Try again later.";
    53000 Network "No connection" "Can't reach Twilio — retrying." "Check the internet connection.";
    53001 Network "Disconnected" "The connection to Twilio dropped — retrying." "Check the internet connection.";
    53400 Media "Call setup failed" "The phone could not set up call audio." "Call again.";
    53402 Media "Call setup failed" "Twilio's audio offer could not be used." "Call again.";
    53405 Media "Audio failed" "The audio connection failed." "Check the firewall allows UDP 10000-60000.";
}

/// The advice for `code`, or a generic one that still names the code.
pub fn advice(code: u32) -> ErrorAdvice {
    ADVICE
        .iter()
        .find(|a| a.code == code)
        .copied()
        .unwrap_or(ErrorAdvice {
            code,
            kind: ErrorKind::Network,
            title: "Twilio error",
            cause: "Twilio reported an error.",
            action: "Retrying automatically.",
        })
}

/// Whether a fresh token could fix `code`.
pub fn wants_new_token(code: u32) -> bool {
    advice(code).kind == ErrorKind::Token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_examples() {
        assert_eq!(advice(31205).cause, "Token expired — renewing.");
        assert_eq!(advice(20104).cause, "Token expired — renewing.");
        assert!(advice(31202).cause.contains("check the API secret"));
        assert!(advice(31005).cause.starts_with("Can't reach Twilio"));
        assert!(advice(53000).cause.starts_with("Can't reach Twilio"));
        assert!(wants_new_token(31205) && wants_new_token(20101) && !wants_new_token(31202));
    }

    #[test]
    fn table_is_unique_and_fits_the_small_screen() {
        for (i, a) in ADVICE.iter().enumerate() {
            assert!(a.title.chars().count() <= 18, "{} title too long", a.code);
            assert!(
                ADVICE[..i].iter().all(|b| b.code != a.code),
                "{} twice",
                a.code
            );
        }
        let unknown = advice(99999);
        assert_eq!(unknown.code, 99999);
    }
}
