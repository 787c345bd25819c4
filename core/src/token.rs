//! Twilio Access Tokens: the JWT a Device presents in `listen`.
//!
//! Minting follows `twilio-node`'s `AccessToken` (header `cty: twilio-fpa;v=1`, `jti` =
//! `<API key SID>-<iat>`, `iss` = API key SID, `sub` = Account SID, `grants.identity` and
//! `grants.voice`). Verification is what the signaling server does with a token before it
//! answers `connected`; the lab uses it. The client only reads its own token's facts
//! ([`facts`]: identity and lifetime) when `connected` does not carry them.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The content type every Twilio Access Token carries in its JWT header.
pub const ACCESS_TOKEN_CONTENT_TYPE: &str = "twilio-fpa;v=1";
/// Twilio refuses tokens that live longer than a day.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// `twilio-node`'s default lifetime.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;

/// The Voice grant of an Access Token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceGrant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<IncomingGrant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<OutgoingGrant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_credential_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncomingGrant {
    #[serde(default)]
    pub allow: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutgoingGrant {
    pub application_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, serde_json::Value>>,
}

impl VoiceGrant {
    /// A grant for a handset: incoming calls to its identity, outgoing calls through `app_sid`.
    pub fn handset(app_sid: impl Into<String>) -> Self {
        VoiceGrant {
            incoming: Some(IncomingGrant { allow: true }),
            outgoing: Some(OutgoingGrant {
                application_sid: app_sid.into(),
                params: None,
            }),
            push_credential_sid: None,
            endpoint_id: None,
        }
    }

    pub fn allows_incoming(&self) -> bool {
        self.incoming.as_ref().is_some_and(|i| i.allow)
    }

    pub fn outgoing_app(&self) -> Option<&str> {
        self.outgoing
            .as_ref()
            .map(|o| o.application_sid.as_str())
            .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grants {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceGrant>,
}

/// The claims of a Twilio Access Token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    pub grants: Grants,
}

impl Claims {
    pub fn identity(&self) -> Option<&str> {
        self.grants.identity.as_deref()
    }
}

/// Builder for an Access Token, with the same inputs as `twilio-node`'s `AccessToken`.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: String,
    pub identity: String,
    pub ttl_secs: u64,
    pub nbf: Option<u64>,
    /// Home region, written to the header as `twr` (as `twilio-node` does).
    pub region: Option<String>,
    pub voice: Option<VoiceGrant>,
}

impl AccessToken {
    pub fn new(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        api_key_secret: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        AccessToken {
            account_sid: account_sid.into(),
            api_key_sid: api_key_sid.into(),
            api_key_secret: api_key_secret.into(),
            identity: identity.into(),
            ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            nbf: None,
            region: None,
            voice: None,
        }
    }

    pub fn with_ttl(mut self, ttl_secs: u64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    pub fn with_voice(mut self, grant: VoiceGrant) -> Self {
        self.voice = Some(grant);
        self
    }

    /// The claims this token carries when issued at `iat` (Unix seconds).
    pub fn claims(&self, iat: u64) -> Claims {
        Claims {
            jti: format!("{}-{}", self.api_key_sid, iat),
            iss: self.api_key_sid.clone(),
            sub: self.account_sid.clone(),
            iat,
            nbf: self.nbf,
            exp: iat + self.ttl_secs,
            grants: Grants {
                identity: Some(self.identity.clone()),
                voice: self.voice.clone(),
            },
        }
    }

    /// Signs the token (HS256 with the API key secret) as issued at `iat` (Unix seconds).
    pub fn to_jwt(&self, iat: u64) -> Result<String, TokenError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.cty = Some(ACCESS_TOKEN_CONTENT_TYPE.to_string());
        if let Some(region) = &self.region {
            header.extras.insert("twr", region.clone());
        }
        let key = jsonwebtoken::EncodingKey::from_secret(self.api_key_secret.as_bytes());
        jsonwebtoken::encode(&header, &self.claims(iat), &key)
            .map_err(|e| TokenError::Malformed(format!("cannot sign token: {e}")))
    }
}

/// The JOSE header of an Access Token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenHeader {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub cty: Option<String>,
    #[serde(default)]
    pub twr: Option<String>,
}

/// Why a token was refused. Each maps to the code Twilio's signaling server sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, not JSON, missing claims: Twilio answers 31204.
    #[error("invalid JWT token: {0}")]
    Malformed(String),
    /// The HMAC does not match the API key secret: 31202.
    #[error("JWT signature validation failed")]
    BadSignature,
    /// `exp` is in the past: 31205.
    #[error("JWT token expired")]
    Expired,
    /// `nbf` is in the future: Twilio treats it as an invalid token (31204).
    #[error("JWT token not yet valid")]
    NotYetValid,
    /// `exp - iat` is more than 24 hours: 31207.
    #[error("JWT token expiration too long")]
    LifetimeTooLong,
}

impl TokenError {
    /// The Twilio error code the signaling server answers with.
    pub fn twilio_code(&self) -> u32 {
        match self {
            TokenError::Malformed(_) | TokenError::NotYetValid => 31204,
            TokenError::BadSignature => 31202,
            TokenError::Expired => 31205,
            TokenError::LifetimeTooLong => 31207,
        }
    }
}

/// What a client may read from its own token without the secret: who it is and how long
/// the token lives. The SDK reads neither (it trusts `connected.token`); a Device falls back
/// to these when the server's `connected` carries no `token` (the seed capture's form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// `grants.identity`, or the `clientName` of a capability token's
    /// `scope:client:incoming?clientName=…`.
    pub identity: Option<String>,
    pub iat: Option<u64>,
    pub exp: Option<u64>,
}

impl TokenFacts {
    /// `exp - iat`: how long the token lives from its issue. Measured from when the Device
    /// got the token, this needs no wall clock (a Pi without an RTC may think it is 1970).
    pub fn lifetime_secs(&self) -> Option<u64> {
        match (self.iat, self.exp) {
            (Some(iat), Some(exp)) => Some(exp.saturating_sub(iat)),
            _ => None,
        }
    }
}

/// Reads [`TokenFacts`] from a JWT's claims, leniently: no signature check, no required
/// claims, unknown shapes give `None`s. Never fails on junk (it just knows nothing).
pub fn facts(token: &str) -> TokenFacts {
    let claims = token
        .trim()
        .split('.')
        .nth(1)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .unwrap_or_default();
    let number = |key: &str| claims.get(key).and_then(serde_json::Value::as_u64);
    let identity = claims
        .get("grants")
        .and_then(|g| g.get("identity"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            claims
                .get("scope")
                .and_then(serde_json::Value::as_str)
                .and_then(capability_client_name)
        })
        .filter(|i| !i.is_empty());
    TokenFacts {
        identity,
        iat: number("iat"),
        exp: number("exp"),
    }
}

/// `clientName` of `scope:client:incoming?clientName=…` in a (1.x) capability token's scope.
fn capability_client_name(scope: &str) -> Option<String> {
    scope.split_whitespace().find_map(|s| {
        let query = s.strip_prefix("scope:client:incoming?")?;
        query.split('&').find_map(|pair| {
            let value = pair.strip_prefix("clientName=")?;
            Some(
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
    })
}

/// Splits and decodes a token without checking its signature.
pub fn decode_unverified(token: &str) -> Result<(TokenHeader, Claims), TokenError> {
    let (header, claims, _, _) = split(token)?;
    Ok((header, claims))
}

type Parts<'a> = (TokenHeader, Claims, &'a str, Vec<u8>);

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| TokenError::Malformed("header is not base64url".into()))?;
    let claim_bytes = URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| TokenError::Malformed("claims are not base64url".into()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed("signature is not base64url".into()))?;
    let header: TokenHeader = serde_json::from_slice(&header_bytes)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    let claims: Claims = serde_json::from_slice(&claim_bytes)
        .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
    let signed_len = h.len() + 1 + c.len();
    Ok((header, claims, &token[..signed_len], signature))
}

/// Verifies a token as Twilio does: signature with the API key secret, then the clock.
///
/// `now` is Unix seconds. `secret_for` maps the token's `iss` (API key SID) to its secret;
/// an unknown key is a signature failure, as it is at Twilio.
pub fn verify(
    token: &str,
    now: u64,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<Claims, TokenError> {
    let (header, claims, signed, signature) = split(token)?;
    if header.alg != "HS256" {
        return Err(TokenError::Malformed(format!(
            "unsupported algorithm {}",
            header.alg
        )));
    }
    if header.cty.as_deref() != Some(ACCESS_TOKEN_CONTENT_TYPE) {
        return Err(TokenError::Malformed(
            "header cty is not twilio-fpa;v=1".into(),
        ));
    }
    let secret = secret_for(&claims.iss).ok_or(TokenError::BadSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| TokenError::BadSignature)?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp.saturating_sub(claims.iat) > MAX_TOKEN_LIFETIME_SECS {
        return Err(TokenError::LifetimeTooLong);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AccessToken {
        AccessToken::new(
            "AC00000000000000000000000000000001",
            "SK00000000000000000000000000000001",
            "secret",
            "alice",
        )
        .with_voice(VoiceGrant::handset("AP00000000000000000000000000000001"))
    }

    #[test]
    fn minted_token_has_twilio_shape() {
        let jwt = token().to_jwt(1_700_000_000).unwrap();
        let (header, claims) = decode_unverified(&jwt).unwrap();
        assert_eq!(header.alg, "HS256");
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.cty.as_deref(), Some("twilio-fpa;v=1"));
        assert_eq!(claims.jti, "SK00000000000000000000000000000001-1700000000");
        assert_eq!(claims.iss, "SK00000000000000000000000000000001");
        assert_eq!(claims.sub, "AC00000000000000000000000000000001");
        assert_eq!(claims.exp, 1_700_003_600);
        let voice = claims.grants.voice.unwrap();
        assert!(voice.allows_incoming());
        assert_eq!(
            voice.outgoing_app(),
            Some("AP00000000000000000000000000000001")
        );
        let raw: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            raw["grants"],
            serde_json::json!({"identity":"alice","voice":{"incoming":{"allow":true},"outgoing":{"application_sid":"AP00000000000000000000000000000001"}}})
        );
    }

    #[test]
    fn verify_checks_signature_and_clock() {
        let jwt = token().to_jwt(1000).unwrap();
        let secret = |_: &str| Some("secret".to_string());
        assert!(verify(&jwt, 1001, secret).is_ok());
        assert_eq!(
            verify(&jwt, 1001, |_| Some("wrong".into())),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify(&jwt, 1000 + 3600, secret), Err(TokenError::Expired));
        assert!(matches!(
            verify("abc", 0, secret),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            verify("a.b.c", 0, secret),
            Err(TokenError::Malformed(_))
        ));
        let long = token()
            .with_ttl(MAX_TOKEN_LIFETIME_SECS + 1)
            .to_jwt(1000)
            .unwrap();
        assert_eq!(
            verify(&long, 1001, secret),
            Err(TokenError::LifetimeTooLong)
        );
    }

    #[test]
    fn facts_read_identity_and_lifetime_without_the_secret() {
        let jwt = token().with_ttl(60).to_jwt(1_700_000_000).unwrap();
        let f = facts(&jwt);
        assert_eq!(f.identity.as_deref(), Some("alice"));
        assert_eq!((f.iat, f.exp), (Some(1_700_000_000), Some(1_700_000_060)));
        assert_eq!(f.lifetime_secs(), Some(60));
        // The seed's 1.x capability token: no grants, the identity is in the scope.
        let seed = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InNjb3BlOmNsaWVudDpvdXRnb2luZz9hcHBTaWQ9VFdJTElPX0FQUF9TSUQgc2NvcGU6Y2xpZW50OmluY29taW5nP2NsaWVudE5hbWU9dHdpbGlvLXJlYWN0IiwiaXNzIjoiVFdJTElPX0FDQ09VTlRfU0lEIiwiZXhwIjoxNTk4OTI5MDExLCJpYXQiOjE1OTUzMjkwMTF9.8BW1h9GoOVg06-jareYRRovdlefgERUNGvumTxs2R8w";
        let f = facts(seed);
        assert_eq!(f.identity.as_deref(), Some("twilio-react"));
        assert_eq!(f.lifetime_secs(), Some(1_598_929_011 - 1_595_329_011));
        for junk in ["", "a.b.c", "not a jwt", "x.e30.y"] {
            assert_eq!(
                facts(junk),
                TokenFacts {
                    identity: None,
                    iat: None,
                    exp: None
                },
                "{junk}"
            );
        }
    }

    #[test]
    fn tampered_claims_fail_signature() {
        let jwt = token().to_jwt(1000).unwrap();
        let mut parts: Vec<String> = jwt.split('.').map(String::from).collect();
        let mut claims = token().claims(1000);
        claims.grants.identity = Some("mallory".into());
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert_eq!(
            verify(&parts.join("."), 1001, |_| Some("secret".into())),
            Err(TokenError::BadSignature)
        );
    }
}
