//! What a lab is started with: Twilio credentials, addresses, webhook URLs, virtual numbers.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use offhook_core::token::{AccessToken, IncomingGrant, OutgoingGrant, VoiceGrant};
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::sid;

/// The account a lab plays: the same six values the server reads from its `.env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// `TWILIO_ACCOUNT_SID` (`AC…`): tokens' `sub` must match it.
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: the key of `X-Twilio-Signature`.
    pub auth_token: String,
    /// `TWILIO_API_KEY` (`SK…`): tokens' `iss`.
    pub api_key_sid: String,
    /// `TWILIO_API_SECRET`: the key tokens are signed with.
    pub api_key_secret: String,
    /// `TWILIO_APP_SID` (`AP…`): the TwiML app whose Voice URL handles outgoing calls.
    pub app_sid: String,
    /// `TWILIO_PHONE_NUMBER` (E.164): inbound calls to it go to the number's Voice URL.
    pub phone_number: String,
}

impl Credentials {
    /// Fresh random SIDs and secrets, for tests that need no `.env`.
    pub fn generate() -> Self {
        Credentials {
            account_sid: sid::new_sid("AC"),
            auth_token: sid::hex32(),
            api_key_sid: sid::new_sid("SK"),
            api_key_secret: sid::hex32(),
            app_sid: sid::new_sid("AP"),
            phone_number: "+12025550199".to_string(),
        }
    }

    /// Reads a `.env` file (`KEY=value` lines, `#` comments, optional quotes, optional `export`).
    pub fn from_env_file(path: &Path) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LabError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_env_text(&text).map_err(|e| LabError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses `.env` text; names the first missing setting.
    pub fn from_env_text(text: &str) -> Result<Self, LabError> {
        let vars = parse_env(text);
        let get = |names: &[&'static str]| -> Result<String, LabError> {
            names
                .iter()
                .find_map(|n| vars.get(*n).filter(|v| !v.is_empty()).cloned())
                .ok_or(LabError::MissingSetting(names[0]))
        };
        Ok(Credentials {
            account_sid: get(&["TWILIO_ACCOUNT_SID"])?,
            auth_token: get(&["TWILIO_AUTH_TOKEN"])?,
            api_key_sid: get(&["TWILIO_API_KEY", "TWILIO_API_KEY_SID"])?,
            api_key_secret: get(&["TWILIO_API_SECRET", "TWILIO_API_KEY_SECRET"])?,
            app_sid: get(&["TWILIO_APP_SID", "TWILIO_TWIML_APP_SID"])?,
            phone_number: get(&["TWILIO_PHONE_NUMBER"])?,
        })
    }

    /// The credentials as `.env` text (for handing the same account to a server process).
    pub fn to_env_text(&self) -> String {
        format!(
            "TWILIO_ACCOUNT_SID={}\nTWILIO_AUTH_TOKEN={}\nTWILIO_API_KEY={}\nTWILIO_API_SECRET={}\nTWILIO_APP_SID={}\nTWILIO_PHONE_NUMBER={}\n",
            self.account_sid,
            self.auth_token,
            self.api_key_sid,
            self.api_key_secret,
            self.app_sid,
            self.phone_number
        )
    }

    /// A handset token for `identity`: incoming allowed, outgoing through this account's app,
    /// issued now and valid for `ttl_secs`.
    pub fn token(&self, identity: &str, ttl_secs: u64) -> String {
        self.token_with(
            identity,
            ttl_secs,
            now_unix(),
            VoiceGrant::handset(self.app_sid.clone()),
        )
    }

    /// A token with explicit issue time and grant (expired, future or grant-less tokens in tests).
    pub fn token_with(&self, identity: &str, ttl_secs: u64, iat: u64, voice: VoiceGrant) -> String {
        AccessToken::new(
            &self.account_sid,
            &self.api_key_sid,
            &self.api_key_secret,
            identity,
        )
        .with_ttl(ttl_secs)
        .with_voice(voice)
        .to_jwt(iat)
        .unwrap_or_default()
    }

    /// The grant a handset gets; `outgoing_params` are the grant's `outgoing.params`.
    pub fn voice_grant(&self, incoming: bool, outgoing: bool) -> VoiceGrant {
        VoiceGrant {
            incoming: incoming.then_some(IncomingGrant { allow: true }),
            outgoing: outgoing.then(|| OutgoingGrant {
                application_sid: self.app_sid.clone(),
                params: None,
            }),
            push_credential_sid: None,
            endpoint_id: None,
        }
    }
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let mut value = value.trim();
        for quote in ['"', '\''] {
            if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
                value = &value[1..value.len() - 1];
            }
        }
        vars.insert(key.trim().to_string(), value.to_string());
    }
    vars
}

/// Unix seconds from the system clock.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How a virtual phone number behaves when dialled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    /// Answers and sends back what it hears.
    Echo,
    /// Answers and sends a steady tone.
    Tone { hz: f32 },
    /// Answers, stays silent, records RFC 4733 and signaling DTMF.
    DtmfRecorder,
    /// Answers and stays silent.
    Silence,
    /// Refuses with SIP 486 (SDK code 31486).
    Busy,
    /// Rings until the dial timeout.
    NoAnswer,
    /// Refuses with SIP 603 (SDK code 31603).
    Decline,
    /// Rings `ring_secs`, then answers and behaves as `then`.
    SlowAnswer {
        ring_secs: f32,
        then: Box<Behaviour>,
    },
}

/// A number the lab answers itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualNumber {
    pub number: String,
    pub behaviour: Behaviour,
}

impl VirtualNumber {
    /// Parses `NUMBER=KIND`: `echo`, `tone:HZ`, `dtmf`, `silence`, `busy`, `no-answer`,
    /// `decline` or `slow:SECS` (rings SECS seconds, then echoes).
    pub fn parse(spec: &str) -> Result<VirtualNumber, LabError> {
        let invalid = |value: &str, reason: String| LabError::InvalidValue {
            value: value.to_string(),
            reason,
        };
        let (number, kind) = spec
            .split_once('=')
            .ok_or_else(|| invalid(spec, "expected NUMBER=KIND".into()))?;
        let number = number.trim();
        if !number.starts_with('+')
            || number.len() < 3
            || !number[1..].bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid(number, "not an E.164 number".into()));
        }
        let (name, arg) = kind.trim().split_once(':').unwrap_or((kind.trim(), ""));
        let float = |what: &str| -> Result<f32, LabError> {
            arg.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| invalid(spec, format!("{what} must be a number")))
        };
        let behaviour = match name {
            "echo" => Behaviour::Echo,
            "tone" => Behaviour::Tone {
                hz: float("the frequency")?,
            },
            "dtmf" => Behaviour::DtmfRecorder,
            "silence" => Behaviour::Silence,
            "busy" => Behaviour::Busy,
            "no-answer" => Behaviour::NoAnswer,
            "decline" => Behaviour::Decline,
            "slow" => Behaviour::SlowAnswer {
                ring_secs: float("the ring time")?,
                then: Box::new(Behaviour::Echo),
            },
            other => return Err(invalid(spec, format!("unknown kind {other:?}"))),
        };
        Ok(VirtualNumber {
            number: number.to_string(),
            behaviour,
        })
    }
}

/// Numbers from the range reserved for fiction (555-0100…0199).
pub const ECHO_NUMBER: &str = "+12025550100";
pub const TONE_NUMBER: &str = "+12025550101";
pub const DTMF_NUMBER: &str = "+12025550102";
pub const BUSY_NUMBER: &str = "+12025550103";
pub const NO_ANSWER_NUMBER: &str = "+12025550104";
pub const DECLINE_NUMBER: &str = "+12025550105";
pub const SLOW_ANSWER_NUMBER: &str = "+12025550106";

/// The default virtual numbers listed in issue 3.
pub fn default_virtual_numbers() -> Vec<VirtualNumber> {
    let n = |number: &str, behaviour| VirtualNumber {
        number: number.to_string(),
        behaviour,
    };
    vec![
        n(ECHO_NUMBER, Behaviour::Echo),
        n(TONE_NUMBER, Behaviour::Tone { hz: 1000.0 }),
        n(DTMF_NUMBER, Behaviour::DtmfRecorder),
        n(BUSY_NUMBER, Behaviour::Busy),
        n(NO_ANSWER_NUMBER, Behaviour::NoAnswer),
        n(DECLINE_NUMBER, Behaviour::Decline),
        n(
            SLOW_ANSWER_NUMBER,
            Behaviour::SlowAnswer {
                ring_secs: 3.0,
                then: Box::new(Behaviour::Echo),
            },
        ),
    ]
}

/// What `connected` carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectedForm {
    /// `region`, `gateway`, `edge`, `home` and `token: {identity, ttl}`: everything the 2.x
    /// SDK reads.
    #[default]
    Full,
    /// Only `region` and `gateway`, as in the seed capture (lines 183–188): a client must
    /// find its identity and token lifetime elsewhere.
    Seed,
}

impl std::str::FromStr for ConnectedForm {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self, LabError> {
        match s {
            "full" => Ok(ConnectedForm::Full),
            "seed" | "short" => Ok(ConnectedForm::Seed),
            other => Err(LabError::InvalidValue {
                value: other.to_string(),
                reason: "the connected form is full or seed".into(),
            }),
        }
    }
}

/// A STUN or TURN server the lab's Network Traversal Service hands out (`POST
/// …/Tokens.json`): in the JS SDK's shape, `urls`, `username`, `credential`. Tests set them
/// to a TURN server they start (coturn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl IceServer {
    /// Parses `URL[,URL…][|USERNAME|CREDENTIAL]` (the binary's `--ice-server`): each URL
    /// `stun:`, `turn:` or `turns:`.
    pub fn parse(spec: &str) -> Result<IceServer, LabError> {
        let invalid = |reason: &str| LabError::InvalidValue {
            value: spec.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = spec.split('|');
        let urls: Vec<String> = parts
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(invalid("expected URL[,URL…][|USERNAME|CREDENTIAL]"));
        }
        if !urls.iter().all(|u| {
            ["stun:", "turn:", "turns:"]
                .iter()
                .any(|scheme| u.starts_with(scheme))
        }) {
            return Err(invalid("ICE server URLs start with stun:, turn: or turns:"));
        }
        let (username, credential) = match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => (None, None),
            (Some(user), Some(credential), None) => {
                (Some(user.to_string()), Some(credential.to_string()))
            }
            _ => return Err(invalid("give both USERNAME and CREDENTIAL, or neither")),
        };
        Ok(IceServer {
            urls,
            username,
            credential,
        })
    }
}

/// How long the lab's ICE credentials are said to last when the request names no `Ttl`
/// (Twilio's default, a day).
pub const DEFAULT_ICE_SERVERS_TTL_SECS: u64 = 86_400;

/// Where the signaling server's certificate comes from.
#[derive(Debug, Clone, Default)]
pub enum TlsSource {
    /// A self-signed certificate for `localhost`, `127.0.0.1`, `::1` and the listen IP, made at start.
    #[default]
    Generate,
    /// A given certificate chain and key (PEM).
    Pem { cert_pem: String, key_pem: String },
}

/// Everything [`crate::Lab::start`] needs. `LabConfig::new(credentials)` gives loopback defaults.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub credentials: Credentials,
    /// Signaling (WSS) address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Control API address (plain HTTP; keep it on loopback).
    pub control_listen: SocketAddr,
    /// The IP put in SDP candidates and bound by media sockets; `None` = the listen IP
    /// (or 127.0.0.1 when listening on an unspecified address).
    pub media_ip: Option<IpAddr>,
    /// The TwiML app's Voice URL. `None` = built-in routing for outgoing calls.
    pub app_url: Option<String>,
    /// The phone number's Voice URL. `None` = built-in routing for inbound calls.
    pub number_url: Option<String>,
    pub tls: TlsSource,
    /// Where to write the CA certificate (PEM); `None` = a fresh file in the temp directory.
    pub ca_cert_path: Option<PathBuf>,
    pub virtual_numbers: Vec<VirtualNumber>,
    /// Heartbeat period; the SDK drops a socket after 15 s of silence.
    pub heartbeat_interval: Duration,
    /// `connected.region`, e.g. `US_EAST_VIRGINIA`.
    pub region: String,
    /// `connected.edge`.
    pub edge: String,
    /// `connected.home`.
    pub home: String,
    /// `connected.gateway`.
    pub gateway: String,
    /// Which `connected` the lab sends.
    pub connected_form: ConnectedForm,
    /// Recording media (`GET …/Recordings/{RE}[.wav]`) needs HTTP Basic auth, as with a
    /// Twilio account's "enforce HTTP auth on media URLs". Off by default, as on Twilio.
    /// The REST resources (`.json`, `DELETE`) always need it.
    pub enforce_media_auth: bool,
    /// What the Tokens resource (`POST …/Tokens.json`, Twilio's Network Traversal Service)
    /// hands out. Empty by default: the lab runs no STUN or TURN server of its own.
    pub ice_servers: Vec<IceServer>,
    /// The `ttl` of the Tokens resource's answer when the request names no `Ttl`.
    pub ice_servers_ttl_secs: u64,
}

impl LabConfig {
    pub fn new(credentials: Credentials) -> Self {
        LabConfig {
            credentials,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            control_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            media_ip: None,
            app_url: None,
            number_url: None,
            tls: TlsSource::Generate,
            ca_cert_path: None,
            virtual_numbers: default_virtual_numbers(),
            heartbeat_interval: Duration::from_secs(5),
            region: "US_EAST_VIRGINIA".to_string(),
            edge: "ashburn".to_string(),
            home: "us1".to_string(),
            gateway: "lab.offhook.invalid".to_string(),
            connected_form: ConnectedForm::Full,
            enforce_media_auth: false,
            ice_servers: Vec::new(),
            ice_servers_ttl_secs: DEFAULT_ICE_SERVERS_TTL_SECS,
        }
    }

    /// The IP media sockets bind and advertise.
    pub fn media_ip(&self) -> IpAddr {
        match self.media_ip {
            Some(ip) => ip,
            None if self.listen.ip().is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            None => self.listen.ip(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_text_round_trips_and_names_missing_settings() {
        let creds = Credentials::generate();
        let parsed = Credentials::from_env_text(&creds.to_env_text()).unwrap();
        assert_eq!(parsed, creds);
        let text = "# comment\nexport TWILIO_ACCOUNT_SID=\"AC1\"\nTWILIO_AUTH_TOKEN='t'\n";
        let err = Credentials::from_env_text(text).unwrap_err();
        assert!(
            matches!(err, LabError::MissingSetting("TWILIO_API_KEY")),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "missing setting TWILIO_API_KEY");
    }

    #[test]
    fn virtual_number_specs() {
        let v = VirtualNumber::parse("+15550001111=tone:440").unwrap();
        assert_eq!(v.behaviour, Behaviour::Tone { hz: 440.0 });
        assert_eq!(
            VirtualNumber::parse("+1555=slow:2").unwrap().behaviour,
            Behaviour::SlowAnswer {
                ring_secs: 2.0,
                then: Box::new(Behaviour::Echo)
            }
        );
        assert_eq!(
            VirtualNumber::parse("+1555=no-answer").unwrap().behaviour,
            Behaviour::NoAnswer
        );
        assert!(VirtualNumber::parse("5551=echo").is_err());
        assert!(VirtualNumber::parse("+1555=tone:x").is_err());
        assert!(VirtualNumber::parse("+1555=sing").is_err());
        assert!(VirtualNumber::parse("+1555").is_err());
    }

    #[test]
    fn ice_server_specs() {
        let s = IceServer::parse("turn:127.0.0.1:3478?transport=udp,turns:h:443|u|p").unwrap();
        assert_eq!(s.urls, ["turn:127.0.0.1:3478?transport=udp", "turns:h:443"]);
        assert_eq!(
            (s.username.as_deref(), s.credential.as_deref()),
            (Some("u"), Some("p"))
        );
        let stun = IceServer::parse("stun:127.0.0.1:3478").unwrap();
        assert_eq!((stun.username, stun.credential), (None, None));
        for bad in ["", "http://x", "turn:h|u", "turn:h|u|p|q", "stun:a,ftp:b"] {
            assert!(IceServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn minted_token_verifies_with_the_secret() {
        let creds = Credentials::generate();
        let jwt = creds.token("alice", 600);
        let claims = offhook_core::token::verify(&jwt, now_unix(), |iss| {
            (iss == creds.api_key_sid).then(|| creds.api_key_secret.clone())
        })
        .unwrap();
        assert_eq!(claims.identity(), Some("alice"));
        assert_eq!(claims.sub, creds.account_sid);
    }
}
