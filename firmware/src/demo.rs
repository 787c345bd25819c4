//! `offhook demo`: the whole system on one machine, with no Twilio account and no Pi.
//!
//! An `offhook-server` and an `offhook-lab` start in this process with freshly generated
//! credentials; the lab fetches its TwiML from the server exactly as Twilio would, and the
//! handset (the simulated board) gets its tokens from the server. Tests use the same set-up.
//!
//! The server keeps its voicemail, forwarding and do-not-disturb in a SQLite file in the
//! demo's directory, and reaches "Twilio's REST API" (recordings, and the ICE servers of the
//! Network Traversal Service: [`DemoOptions::ice_servers`]) at the lab.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use offhook_lab::{Credentials, Lab, LabConfig, LabHandle};
use offhook_server::store::Store;
use offhook_server::{AppState, Handset, Handsets, RunningServer};

use crate::config::Config;

/// The demo handset's identity, extension and credentials.
pub const DEMO_IDENTITY: &str = "desk";
pub const DEMO_EXTENSION: &str = "101";
pub const DEMO_DEVICE_ID: &str = "desk-1";

/// The running lab and server, and the handset config that reaches them.
pub struct DemoEnv {
    pub lab: LabHandle,
    pub server: RunningServer,
    pub credentials: Credentials,
    pub config_path: PathBuf,
    pub dir: PathBuf,
}

/// What the handset config should say besides the essentials.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// ALSA capture and playback PCM names (empty: no audio).
    pub capture: String,
    pub playback: String,
    pub sample_rate: u32,
    /// Token lifetime from the server, seconds.
    pub token_ttl_secs: u64,
    /// tokenWillExpire this long before expiry.
    pub token_refresh_ms: u64,
    /// Codecs, in preference order (`pcmu`, `opus`).
    pub codecs: Vec<String>,
    /// Board profile: a built-in name or a TOML file.
    pub board_profile: String,
    /// Where the server and the lab (signaling and media) listen. Beyond loopback the
    /// server speaks plain HTTP (`OFFHOOK_ALLOW_PLAIN_HTTP`), as on a network of your own.
    pub listen_ip: IpAddr,
    /// The host name the handset's server URL uses instead of `listen_ip` (for DNS tests).
    pub server_host: Option<String>,
    /// How long the server lets the handsets ring before voicemail answers, seconds.
    pub dial_timeout_secs: u32,
    /// More handsets on the server (for calls between handsets), each with a secret nobody
    /// is told: they reach the lab with tokens of their own.
    pub extra_handsets: Vec<ExtraHandset>,
    /// The ICE servers the lab's Network Traversal Service hands out (the server fetches them
    /// and gives them to the handset with its tokens). None by default.
    pub ice_servers: Vec<offhook_lab::IceServer>,
    /// The handset config's `device.ice_transport_policy` (`"relay"` or `"all"`); `None`
    /// leaves it out.
    pub ice_transport_policy: Option<String>,
}

/// Another handset the demo's server knows.
#[derive(Debug, Clone)]
pub struct ExtraHandset {
    pub device_id: String,
    pub identity: String,
    pub extension: String,
    pub name: String,
    /// The numbers it rings for (none: the account's number, like the demo handset).
    pub numbers: Vec<String>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            capture: String::new(),
            playback: String::new(),
            sample_rate: 16_000,
            token_ttl_secs: 3600,
            token_refresh_ms: 10_000,
            codecs: vec!["pcmu".into(), "opus".into()],
            board_profile: "simulated".into(),
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            server_host: None,
            dial_timeout_secs: 20,
            extra_handsets: Vec::new(),
            ice_servers: Vec::new(),
            ice_transport_policy: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("offhook-server: {0}")]
    Server(String),
    #[error("offhook-lab: {0}")]
    Lab(String),
    #[error("{0}")]
    Io(String),
}

/// Starts the server and the lab and writes the handset's config into `dir`.
pub async fn start(dir: &Path, options: &DemoOptions) -> Result<DemoEnv, DemoError> {
    std::fs::create_dir_all(dir).map_err(|e| DemoError::Io(format!("{}: {e}", dir.display())))?;
    let credentials = Credentials::generate();
    let secret = offhook_server::secret::generate();
    let plain_http = !options.listen_ip.is_loopback();
    // The server's socket first: the lab needs its URL for the webhooks, and the server needs
    // the lab's for the REST API.
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::new(options.listen_ip, 0))
        .await
        .map_err(|e| DemoError::Server(format!("listen on {}: {e}", options.listen_ip)))?;
    let listen = listener
        .local_addr()
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let base = format!("http://{listen}");
    let mut lab_config = LabConfig::new(credentials.clone());
    lab_config.app_url = Some(format!("{base}/hooks/call/connect"));
    lab_config.number_url = Some(format!("{base}/hooks/voice"));
    lab_config.ca_cert_path = Some(dir.join("lab-ca.pem"));
    lab_config.listen = std::net::SocketAddr::new(options.listen_ip, 0);
    lab_config.ice_servers = options.ice_servers.clone();
    let lab = Lab::start(lab_config)
        .await
        .map_err(|e| DemoError::Lab(e.to_string()))?;
    let env_text = format!(
        "{}OFFHOOK_TOKEN_TTL={}\nOFFHOOK_LISTEN={listen}\nOFFHOOK_ALLOW_PLAIN_HTTP={plain_http}\n\
         OFFHOOK_TWILIO_API_URL={}\nOFFHOOK_DIAL_TIMEOUT={}\n",
        credentials.to_env_text(),
        options.token_ttl_secs,
        lab.twilio_api_url(),
        options.dial_timeout_secs,
    );
    let settings: std::collections::HashMap<String, String> = env_text
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect();
    let server_config = offhook_server::Config::from_settings(|k| settings.get(k).cloned())
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let handset = Handset::with_secret(
        DEMO_DEVICE_ID,
        DEMO_IDENTITY,
        DEMO_EXTENSION,
        "Desk phone",
        &secret,
    )
    .map_err(|e| DemoError::Server(e.to_string()))?;
    let mut all = vec![handset];
    for extra in &options.extra_handsets {
        let secret_hash = offhook_server::secret::hash(&offhook_server::secret::generate())
            .map_err(|e| DemoError::Server(e.to_string()))?;
        all.push(
            Handset::from_entry(offhook_server::handsets::HandsetEntry {
                id: extra.device_id.clone(),
                identity: Some(extra.identity.clone()),
                extension: extra.extension.clone(),
                display_name: extra.name.clone(),
                secret_hash,
                numbers: extra.numbers.clone(),
            })
            .map_err(DemoError::Server)?,
        );
    }
    let handsets = Handsets::new(all).map_err(DemoError::Server)?;
    let store = Store::open(&Store::default_url(&dir.join("handsets.toml")))
        .await
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let server = offhook_server::start(
        AppState::with_store(server_config, handsets, store),
        listener,
    )
    .map_err(|e| DemoError::Server(e.to_string()))?;
    let codecs = options
        .codecs
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let handset_url = match &options.server_host {
        Some(host) => format!("http://{host}:{}", server.local_addr().port()),
        None => base.clone(),
    };
    let insecure = plain_http || options.server_host.is_some();
    let ice_policy = match options.ice_transport_policy.as_deref() {
        None => String::new(),
        Some(p @ ("all" | "relay")) => format!("ice_transport_policy = \"{p}\"\n"),
        Some(other) => {
            return Err(DemoError::Io(format!(
                "ice_transport_policy {other:?}: expected all or relay"
            )));
        }
    };
    let config = format!(
        r#"# Written by `offhook demo`: a handset on a local offhook-server and offhook-lab.
[server]
url = "{handset_url}"
device_id = "{DEMO_DEVICE_ID}"
device_secret = "{secret}"
allow_insecure_http = {insecure}

[board]
profile = "{profile}"

[audio]
capture = "{capture}"
playback = "{playback}"
sample_rate = {rate}

[phone]
country = "US"
own_number = "Ext {DEMO_EXTENSION}"
call_waiting = false

[[contacts]]
name = "Echo test"
number = "+12025550100"

[[contacts]]
name = "Lab caller"
number = "+12025550170"

[speed_dial]
2 = "+12025550100"
3 = "+12025550101"

[device]
signaling_hosts = ["{signaling}"]
signaling_ca_file = "lab-ca.pem"
publish_events = false
token_refresh_ms = {refresh}
codec_preferences = [{codecs}]
edge = ["roaming"]
{ice_policy}
[state]
dir = "{state}"
"#,
        capture = options.capture,
        playback = options.playback,
        rate = options.sample_rate,
        signaling = lab.signaling_addr,
        refresh = options.token_refresh_ms,
        state = dir.join("state").display(),
        profile = options.board_profile,
    );
    let config_path = dir.join("offhook.toml");
    std::fs::write(&config_path, config)
        .map_err(|e| DemoError::Io(format!("{}: {e}", config_path.display())))?;
    Ok(DemoEnv {
        lab,
        server,
        credentials,
        config_path,
        dir: dir.to_path_buf(),
    })
}

impl DemoEnv {
    /// The handset's config.
    pub fn config(&self) -> Result<Config, DemoError> {
        Config::load(&self.config_path).map_err(|e| DemoError::Io(e.to_string()))
    }

    /// A caller ringing the handset's number (through the server's `/hooks/voice`), sending
    /// a tone at `hz`.
    pub async fn call_in(
        &self,
        from: &str,
        hz: f32,
        timeout_secs: u32,
    ) -> Result<String, DemoError> {
        let request = offhook_lab::control::types::StartCall {
            from: from.to_string(),
            to: self.credentials.phone_number.clone(),
            caller: offhook_lab::Behaviour::Tone { hz },
            timeout_secs: Some(timeout_secs),
            params: Vec::new(),
        };
        self.lab
            .control()
            .start_inbound_call(&request)
            .await
            .map_err(|e| DemoError::Lab(e.to_string()))
    }

    pub async fn shutdown(self) {
        let _ = self.server.shutdown().await;
        self.lab.shutdown().await;
    }
}

/// Where a running demo notes its control API, for `offhook demo-call`.
pub fn state_file() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join("offhook-demo.json")
}
