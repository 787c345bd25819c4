//! Device options, with the SDK's defaults and a documented meaning on a device for the
//! options that only mean something in a browser.

use std::time::Duration;

pub use crate::media::echo::{SpeechOptions, SpeechRoutes};
use crate::model::Codec;
use crate::regions;

/// How much this Device logs (through `tracing`, target `twilio_voice`; see
/// [`crate::logging`]). The SDK's `logLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    #[default]
    Error,
    Silent,
}

/// `closeProtection`: in a browser, a "leave this page?" prompt while a call is up. On a
/// device: `Device::destroy` refuses while a call is in progress and returns this message
/// (use `Device::force_destroy` to end it anyway) — a guard against shutting the phone's
/// client down mid-call by accident.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CloseProtection {
    #[default]
    Off,
    /// On, with the SDK's default text.
    On,
    /// On, with a custom message.
    Message(String),
}

impl CloseProtection {
    pub const DEFAULT_MESSAGE: &'static str =
        "A call is currently in-progress. Leaving or reloading this page will end the call.";

    pub fn message(&self) -> Option<&str> {
        match self {
            CloseProtection::Off => None,
            CloseProtection::On => Some(Self::DEFAULT_MESSAGE),
            CloseProtection::Message(m) => Some(m),
        }
    }
}

/// A STUN or TURN server (an entry of the SDK's `rtcConfiguration.iceServers`, in the shape
/// of `RTCIceServer` and of Twilio's Network Traversal Service tokens: `urls`, `username`,
/// `credential`).
///
/// - `stun:host[:port]`: our public address, for a server-reflexive candidate. Twilio's
///   gateway is ICE-lite on a public address and learns our address from our checks, so
///   none is needed.
/// - `turn:host[:port][?transport=udp|tcp]` and `turns:host[:port][?transport=tcp]` (TLS):
///   an allocation on the server for a relay candidate, for networks that block or mangle
///   UDP. They need `username` and `credential` (long-term credentials, RFC 8489 §9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// Which candidates a call offers (`RTCConfiguration.iceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Relay candidates only: every packet goes through a TURN server.
    Relay,
}

/// `Device` options. `Default` gives the SDK's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOptions {
    pub log_level: LogLevel,
    /// Codec order for our offers and for reading remote SDP. Default `[Pcmu, Opus]`.
    pub codec_preferences: Vec<Codec>,
    /// Edges in fallback order. Default `["roaming"]`.
    pub edge: Vec<String>,
    pub close_protection: CloseProtection,
    /// Surface precise signaling error codes (31202, 31486, …) instead of 53000/31005.
    pub enable_improved_signaling_error_precision: bool,
    /// `token_will_expire` fires this long before `connected.token.ttl` runs out. Default 10 s.
    pub token_refresh_ms: u64,
    /// Surface incoming calls while another call is active. Default false (ignored silently).
    pub allow_incoming_while_busy: bool,
    /// How long Twilio keeps a call whose signaling dropped (sent as `reconnectTimeout`,
    /// capped at 30 s) and how long we retry the same edge. Default 0.
    pub max_call_signaling_timeout_ms: u64,
    /// Opus `maxaveragebitrate` in bit/s (6000–510000); also the encoder's target.
    pub max_average_bitrate: Option<u32>,
    /// Mark media packets with DSCP EF (46), as the SDK asks browsers to with `priority: high`.
    pub dscp: bool,
    /// Reported to Insights as `publisher_metadata`.
    pub app_name: Option<String>,
    pub app_version: Option<String>,
    /// Signaling hosts (`host[:port]`) replacing the edge-derived ones: the SDK's `chunderw`.
    pub chunderw: Option<Vec<String>>,
    /// An extra CA (PEM) trusted for signaling and Insights, besides the public roots (for
    /// `offhook-lab`'s self-signed certificate).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Post Insights events and metrics. Default true. Feedback is posted either way, as the
    /// SDK does.
    pub publish_events: bool,
    /// Insights host override (`eventgw`). Reset from `connected.home` like the SDK does,
    /// unless `eventgw_pinned`.
    pub eventgw: Option<String>,
    /// Keep `eventgw` even after `connected` (the SDK always overwrites it; useful with a
    /// local collector).
    pub eventgw_pinned: bool,
    pub ice_servers: Vec<IceServer>,
    /// Which candidates calls offer. Default all.
    pub ice_transport_policy: IceTransportPolicy,
    /// Seed for backoff jitter; `None` = from the OS. Tests pin it.
    pub random_seed: Option<u64>,
    /// Echo cancellation, noise suppression and gain control on the uplink, per audio route
    /// (see [`crate::media::echo`]). Default: all on for the loudspeaker, off for the handset.
    pub speech_processing: SpeechRoutes,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            log_level: LogLevel::Error,
            codec_preferences: vec![Codec::Pcmu, Codec::Opus],
            edge: vec![regions::DEFAULT_EDGE.to_string()],
            close_protection: CloseProtection::Off,
            enable_improved_signaling_error_precision: false,
            token_refresh_ms: 10_000,
            allow_incoming_while_busy: false,
            max_call_signaling_timeout_ms: 0,
            max_average_bitrate: None,
            dscp: true,
            app_name: None,
            app_version: None,
            chunderw: None,
            extra_ca_pem: None,
            publish_events: true,
            eventgw: None,
            eventgw_pinned: false,
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            random_seed: None,
            speech_processing: SpeechRoutes::default(),
        }
    }
}

impl DeviceOptions {
    /// The signaling URLs to try, in order: `chunderw` if set, else one per edge.
    pub fn signaling_urls(&self) -> Vec<String> {
        match &self.chunderw {
            Some(hosts) if !hosts.is_empty() => {
                hosts.iter().map(|h| regions::signaling_url(h)).collect()
            }
            _ => {
                let edges: Vec<&str> = if self.edge.is_empty() {
                    vec![regions::DEFAULT_EDGE]
                } else {
                    self.edge.iter().map(String::as_str).collect()
                };
                edges
                    .into_iter()
                    .map(|e| regions::signaling_url(&regions::edge_host(e)))
                    .collect()
            }
        }
    }

    /// The URL reconnects prefer during a call: the first `chunderw` host, else the edge
    /// `connected` reported.
    pub fn preferred_url(&self, connected_edge: Option<&str>) -> Option<String> {
        match &self.chunderw {
            Some(hosts) if !hosts.is_empty() => hosts.first().map(|h| regions::signaling_url(h)),
            _ => connected_edge.map(|e| regions::signaling_url(&regions::edge_host(e))),
        }
    }

    pub fn codec_names(&self) -> Vec<&'static str> {
        self.codec_preferences
            .iter()
            .map(|c| c.sdp_name())
            .collect()
    }

    pub fn max_preferred_duration(&self) -> Duration {
        Duration::from_millis(self.max_call_signaling_timeout_ms)
    }

    /// Every `turn:`/`turns:` URL with its server's credentials.
    pub fn turn_servers(&self) -> Vec<crate::media::relays::TurnServer> {
        self.ice_servers
            .iter()
            .flat_map(|s| {
                s.urls
                    .iter()
                    .filter(|u| u.starts_with("turn:") || u.starts_with("turns:"))
                    .map(|u| crate::media::relays::TurnServer {
                        url: u.clone(),
                        username: s.username.clone().unwrap_or_default(),
                        credential: s.credential.clone().unwrap_or_default(),
                    })
            })
            .collect()
    }

    /// Every `stun:` URL.
    pub fn stun_urls(&self) -> Vec<String> {
        self.ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .filter(|u| u.starts_with("stun:"))
            .cloned()
            .collect()
    }

    pub fn validate(&self) -> Result<(), OptionsError> {
        if let Some(b) = self.max_average_bitrate
            && !(crate::protocol::sdp::BITRATE_MIN..=crate::protocol::sdp::BITRATE_MAX).contains(&b)
        {
            return Err(OptionsError::Bitrate(b));
        }
        if self.codec_preferences.is_empty() {
            return Err(OptionsError::NoCodecs);
        }
        for server in &self.ice_servers {
            for url in &server.urls {
                if url.starts_with("turn:") || url.starts_with("turns:") {
                    crate::media::turn::parse_turn_url(url)
                        .map_err(|e| OptionsError::BadTurnUrl(url.clone(), e.to_string()))?;
                    let present = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
                    if !present(&server.username) || !present(&server.credential) {
                        return Err(OptionsError::TurnCredentials(url.clone()));
                    }
                } else if crate::media::stun::stun_server(url).is_none() {
                    return Err(OptionsError::NotIceUrl(url.clone()));
                }
            }
        }
        if self.ice_transport_policy == IceTransportPolicy::Relay && self.turn_servers().is_empty()
        {
            return Err(OptionsError::RelayWithoutTurn);
        }
        if let Some(hosts) = &self.chunderw
            && hosts.iter().any(|h| h.is_empty() || h.contains('/'))
        {
            return Err(OptionsError::ChunderwHost);
        }
        Ok(())
    }
}

/// Why [`DeviceOptions::validate`] refused the options (the Device reports it as an
/// `InvalidArgumentError`, as the SDK does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("max_average_bitrate {0} is outside 6000..=510000")]
    Bitrate(u32),
    #[error("codec_preferences is empty")]
    NoCodecs,
    #[error("{0}: not a TURN URL: {1}")]
    BadTurnUrl(String, String),
    #[error("{0}: a TURN server needs a username and a credential")]
    TurnCredentials(String),
    #[error("{0}: not a stun:, turn: or turns: URL")]
    NotIceUrl(String),
    #[error("ice_transport_policy is relay, but ice_servers has no turn: or turns: URL")]
    RelayWithoutTurn,
    #[error("chunderw hosts are host[:port] without a scheme or path")]
    ChunderwHost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sdks() {
        let o = DeviceOptions::default();
        assert_eq!(o.codec_preferences, vec![Codec::Pcmu, Codec::Opus]);
        assert_eq!(o.token_refresh_ms, 10_000);
        assert_eq!(o.max_call_signaling_timeout_ms, 0);
        assert!(o.dscp && o.publish_events && !o.allow_incoming_while_busy);
        assert_eq!(
            o.signaling_urls(),
            vec!["wss://voice-js.roaming.twilio.com/signal"]
        );
    }

    #[test]
    fn chunderw_replaces_edges() {
        let o = DeviceOptions {
            edge: vec!["ashburn".into(), "dublin".into()],
            ..Default::default()
        };
        assert_eq!(
            o.signaling_urls(),
            vec![
                "wss://voice-js.ashburn.twilio.com/signal",
                "wss://voice-js.dublin.twilio.com/signal"
            ]
        );
        let o = DeviceOptions {
            chunderw: Some(vec!["127.0.0.1:8443".into()]),
            ..o
        };
        assert_eq!(o.signaling_urls(), vec!["wss://127.0.0.1:8443/signal"]);
        assert_eq!(
            o.preferred_url(Some("ashburn")).as_deref(),
            Some("wss://127.0.0.1:8443/signal")
        );
        assert!(
            DeviceOptions {
                max_average_bitrate: Some(100),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        let stun = DeviceOptions {
            ice_servers: vec![IceServer {
                urls: vec!["stun:stun.example.com:3478".into()],
                username: None,
                credential: None,
            }],
            ..Default::default()
        };
        assert!(stun.validate().is_ok());
    }

    fn with_servers(servers: Vec<IceServer>, policy: IceTransportPolicy) -> DeviceOptions {
        DeviceOptions {
            ice_servers: servers,
            ice_transport_policy: policy,
            ..Default::default()
        }
    }

    fn server(urls: &[&str], user: Option<&str>, credential: Option<&str>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            username: user.map(String::from),
            credential: credential.map(String::from),
        }
    }

    #[test]
    fn turn_servers_in_the_sdks_shape() {
        // What Twilio's Network Traversal Service hands out.
        let nts = server(
            &[
                "stun:global.stun.twilio.com:3478",
                "turn:global.turn.twilio.com:3478?transport=udp",
                "turn:global.turn.twilio.com:3478?transport=tcp",
                "turns:global.turn.twilio.com:443?transport=tcp",
            ],
            Some("user"),
            Some("secret"),
        );
        let o = with_servers(vec![nts.clone()], IceTransportPolicy::All);
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(o.stun_urls(), vec!["stun:global.stun.twilio.com:3478"]);
        let turns = o.turn_servers();
        assert_eq!(turns.len(), 3);
        assert!(
            turns
                .iter()
                .all(|t| t.username == "user" && t.credential == "secret")
        );
        assert_eq!(
            turns[2].url,
            "turns:global.turn.twilio.com:443?transport=tcp"
        );
        assert_eq!(
            with_servers(vec![nts], IceTransportPolicy::Relay).validate(),
            Ok(())
        );

        let refused = |s: IceServer, policy| with_servers(vec![s], policy).validate().unwrap_err();
        let e = refused(
            server(&["turn:relay.example.com"], None, None),
            IceTransportPolicy::All,
        );
        assert_eq!(
            e,
            OptionsError::TurnCredentials("turn:relay.example.com".into())
        );
        assert!(e.to_string().contains("username and a credential"));
        assert!(matches!(
            refused(
                server(&["turn:relay.example.com"], Some("u"), Some("")),
                IceTransportPolicy::All
            ),
            OptionsError::TurnCredentials(_)
        ));
        let e = refused(
            server(
                &["turns:relay.example.com?transport=udp"],
                Some("u"),
                Some("p"),
            ),
            IceTransportPolicy::All,
        );
        assert!(e.to_string().contains("DTLS"), "{e}");
        let e = refused(
            server(
                &["turn:relay.example.com?transport=sctp"],
                Some("u"),
                Some("p"),
            ),
            IceTransportPolicy::All,
        );
        assert!(e.to_string().contains("sctp"), "{e}");
        assert_eq!(
            refused(server(&["http://x"], None, None), IceTransportPolicy::All),
            OptionsError::NotIceUrl("http://x".into())
        );
        assert_eq!(
            refused(
                server(&["stun:stun.example.com"], None, None),
                IceTransportPolicy::Relay
            ),
            OptionsError::RelayWithoutTurn
        );
    }
}
