//! offhook-server's provisioned settings in the running phone. At start the last good copy
//! (kept in the state directory, so that a restart without network still has its contacts)
//! is resolved against the config file; each new document the push client fetches is resolved
//! the same way and handed to the phone, or refused with a log line (the last good one stays).
//! A document in use is saved through the state writer, never on the loop. The status
//! reporter's facts are kept here too, from the Device's events.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::App;
use crate::api::provisioning::{
    HandsetConfig, MAX_CONFIG_BODY, Registration, StatusReport, check_config, check_etag,
};
use crate::config::{Config, Resolved};
use crate::phone::{DeviceEvent, PhoneInput, ServerSettings, TwilioError};
use crate::status::StatusFacts;
use crate::twilio_errors;

/// The cache file: the document as the server sent it (checked), and its ETag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedConfig {
    pub etag: Option<String>,
    pub config: HandsetConfig,
}

/// Largest cache file read (the document, pretty-printed).
const MAX_CACHE: u64 = 4 * MAX_CONFIG_BODY as u64;

impl CachedConfig {
    /// The cached copy at `path`, checked again as if it had just arrived; `None` (said in
    /// the log when something is wrong with it) if there is none to use.
    pub fn load(path: &Path) -> Option<CachedConfig> {
        let problem = match read(path) {
            Ok(None) => return None,
            Ok(Some(cached)) => return Some(cached),
            Err(problem) => problem,
        };
        tracing::warn!(path = %path.display(), %problem, "the cached provisioned config is not used");
        None
    }

    /// The settings the server applies to calls, when the document gives them.
    pub fn server_settings(&self) -> Option<ServerSettings> {
        Some(ServerSettings {
            dnd: self.config.dnd?,
            forwarding: self.config.forwarding.clone()?,
        })
    }
}

fn read(path: &Path) -> Result<Option<CachedConfig>, String> {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if size > MAX_CACHE {
        return Err(format!("{size} bytes, more than {MAX_CACHE}"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let cached: CachedConfig = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(Some(CachedConfig {
        etag: cached.etag.map(|e| check_etag(&e)).transpose()?,
        config: check_config(cached.config)?,
    }))
}

/// The provisioned document in use and where its copy is kept.
#[derive(Debug)]
pub struct Provisioning {
    path: PathBuf,
    current: Option<CachedConfig>,
}

impl Provisioning {
    /// At start: the cached document resolved against the file, or the file alone.
    pub fn start(config: &Config) -> (Provisioning, Resolved) {
        let path = config.provisioned_path();
        let cached = CachedConfig::load(&path);
        let resolved = cached
            .as_ref()
            .and_then(|c| match config.resolve(Some(&c.config)) {
                Ok(resolved) => Some(resolved),
                Err(why) => {
                    tracing::warn!(%why, "the cached provisioned config does not fit this config file; not used");
                    None
                }
            });
        let (current, resolved) = match resolved {
            Some(resolved) => {
                tracing::info!(etag = ?cached.as_ref().and_then(|c| c.etag.clone()), "provisioned config from the cache");
                (cached, resolved)
            }
            None => (None, config.local_only().clone()),
        };
        for note in &resolved.notes {
            tracing::warn!(%note, "provisioned config");
        }
        (Provisioning { path, current }, resolved)
    }

    /// The document in use (for its ETag and the settings it gives).
    pub fn current(&self) -> Option<&CachedConfig> {
        self.current.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A document from the server: the configuration it makes with the file, now the one in
    /// use; `None` if it cannot be used (logged), the last good one staying.
    pub fn accept(
        &mut self,
        config: &Config,
        etag: Option<String>,
        document: HandsetConfig,
    ) -> Option<Resolved> {
        match config.resolve(Some(&document)) {
            Ok(resolved) => {
                for note in &resolved.notes {
                    tracing::warn!(%note, "provisioned config");
                }
                self.current = Some(CachedConfig {
                    etag,
                    config: document,
                });
                Some(resolved)
            }
            Err(why) => {
                tracing::warn!(%why, ?etag, "refused the provisioned config; keeping the last good one");
                None
            }
        }
    }
}

impl App {
    /// A new provisioned document: the phone takes what it can at once (the rest at the next
    /// idle moment), the tones follow the country, and the copy goes to disk off the loop.
    pub(super) fn on_provisioned(&mut self, etag: Option<String>, document: HandsetConfig) {
        let now = Instant::now();
        let Some(resolved) = self.provisioning.accept(&self.config, etag, document) else {
            return;
        };
        self.path.set_region(resolved.region);
        self.phone
            .handle(PhoneInput::Config(Box::new(resolved.phone)), now);
        if let Some(current) = self.provisioning.current() {
            if let Some(settings) = current.server_settings() {
                self.phone.handle(PhoneInput::ServerSettings(settings), now);
            }
            self.state_writer.save(self.provisioning.path(), current);
        }
    }

    /// Keeps the status report's facts up to date with a Device event.
    pub(super) fn track_status(&self, event: &DeviceEvent, edge: Option<&String>) {
        self.status.update(|facts: &mut StatusFacts| {
            match event {
                DeviceEvent::Registered => facts.registration = Registration::Registered,
                DeviceEvent::Registering => facts.registration = Registration::Registering,
                DeviceEvent::Unregistered | DeviceEvent::Destroyed => {
                    facts.registration = Registration::Unregistered
                }
                DeviceEvent::Error(error) => {
                    facts.last_error = Some(error_text(error));
                    if facts.registration != Registration::Registered {
                        facts.registration = Registration::Error;
                    }
                }
                DeviceEvent::Incoming(_) | DeviceEvent::TokenWillExpire | DeviceEvent::Edge(_) => {}
            }
            facts.edge = edge.cloned();
        });
    }
}

/// `31205 Token expired`: the code, and the handset's title for it (the SDK's message for a
/// code it has none for).
fn error_text(error: &TwilioError) -> String {
    let known = twilio_errors::ADVICE.iter().any(|a| a.code == error.code);
    let words = if known {
        twilio_errors::advice(error.code).title
    } else {
        error.message.as_str()
    };
    StatusReport::error_text(error.code, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path, extra: &str) -> Config {
        let text = format!(
            "{extra}\n[server]\nurl = \"http://127.0.0.1:1\"\ndevice_id = \"desk-1\"\n\
             device_secret = \"s\"\n[state]\ndir = \"{}\"\n",
            dir.display()
        );
        Config::parse(&text, &dir.join("offhook.toml")).expect("valid")
    }

    fn document() -> HandsetConfig {
        crate::api::provisioning::parse_config(crate::api::provisioning::EXAMPLE.as_bytes())
            .expect("valid")
    }

    #[test]
    fn the_cache_is_used_at_start_and_a_bad_one_is_not() {
        let dir = tempfile::tempdir().expect("dir");
        let config = config_in(dir.path(), "");
        // Nothing cached: the file alone.
        let (provisioning, resolved) = Provisioning::start(&config);
        assert!(provisioning.current().is_none());
        assert_eq!(resolved, *config.local_only());
        // A good copy: its contacts and speed dials, from the server.
        let cached = CachedConfig {
            etag: Some("\"v1\"".into()),
            config: document(),
        };
        crate::state_file::save_json(&config.provisioned_path(), &cached).expect("written");
        let (provisioning, resolved) = Provisioning::start(&config);
        assert_eq!(provisioning.current(), Some(&cached));
        assert_eq!(resolved.phone.dial_plan.speed_dial(2), Some("+12025550100"));
        assert_eq!(
            resolved.phone.sources.contacts,
            crate::phone::SettingSource::Server
        );
        assert_eq!(
            cached.server_settings().map(|s| s.dnd),
            Some(false),
            "do-not-disturb and forwarding from the copy too"
        );
        // Corrupt, absurd, or not fitting the file: not used, the file alone.
        for bad in [
            "{ not json".to_string(),
            r#"{"etag":null,"config":{"volumes":{"ring":999,"earpiece":1,"speaker":1}}}"#.into(),
            r#"{"etag":"no quotes","config":{}}"#.into(),
            r#"{"etag":null,"config":{"ring_cadence":"disco"}}"#.into(),
        ] {
            std::fs::write(config.provisioned_path(), &bad).expect("written");
            let (provisioning, resolved) = Provisioning::start(&config);
            assert!(provisioning.current().is_none(), "{bad}");
            assert_eq!(resolved, *config.local_only(), "{bad}");
        }
    }

    #[test]
    fn a_refused_document_leaves_the_last_good_one() {
        let dir = tempfile::tempdir().expect("dir");
        let config = config_in(dir.path(), "");
        let (mut provisioning, _) = Provisioning::start(&config);
        let good = provisioning
            .accept(&config, Some("\"v1\"".into()), document())
            .expect("usable");
        assert_eq!(good.phone.dial_plan.speed_dial(2), Some("+12025550100"));
        let bad = HandsetConfig {
            ring_cadence: Some("disco".into()),
            ..document()
        };
        assert!(
            provisioning
                .accept(&config, Some("\"v2\"".into()), bad)
                .is_none()
        );
        assert_eq!(
            provisioning.current().and_then(|c| c.etag.as_deref()),
            Some("\"v1\"")
        );
    }

    #[test]
    fn errors_are_reported_with_their_code_and_a_few_words() {
        assert_eq!(
            error_text(&TwilioError::new(31205, "JWT token expired")),
            format!("31205 {}", twilio_errors::advice(31205).title)
        );
        assert_eq!(
            error_text(&TwilioError::new(99999, "Something odd")),
            "99999 Something odd"
        );
    }
}
