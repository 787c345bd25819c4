//! What several fuzz targets share: an `offhook-server` set up as in a real deployment.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use offhook_server::config::{self, Config};
use offhook_server::{AppState, Handset, Handsets};

/// Settings of a valid server (the shapes Twilio's console shows).
pub fn server_settings() -> HashMap<String, String> {
    [
        (config::ACCOUNT_SID, "AC0123456789abcdef0123456789abcdef"),
        (config::AUTH_TOKEN, "fedcba9876543210fedcba9876543210"),
        (config::API_KEY, "SK0123456789abcdef0123456789abcdef"),
        (config::API_SECRET, "abcdefghijklmnopqrstuvwxyzABCDEF"),
        (config::APP_SID, "AP0123456789abcdef0123456789abcdef"),
        (config::PHONE_NUMBER, "+14155550100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A server config from [`server_settings`] with `extra` on top.
pub fn server_config(extra: &[(&str, &str)]) -> Option<Config> {
    let mut settings = server_settings();
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_settings(|name| settings.get(name).cloned()).ok()
}

/// Two handsets, hashed once per process (Argon2 is slow by design).
pub fn handsets() -> &'static Handsets {
    static HANDSETS: OnceLock<Handsets> = OnceLock::new();
    HANDSETS.get_or_init(|| {
        let list = vec![
            Handset::with_secret("desk-1", "desk", "101", "Desk", "s3cret").expect("a handset"),
            Handset::with_secret("kitchen", "kitchen", "102", "Kitchen", "s3cret")
                .expect("a handset"),
        ];
        Handsets::new(list).expect("handsets")
    })
}

/// The routes' shared state, behind a reverse proxy (`OFFHOOK_TRUST_PROXY`) or not.
pub fn server_state(trust_proxy: bool) -> Arc<AppState> {
    let flag = if trust_proxy { "true" } else { "false" };
    // No ICE servers: a fuzzed login that gets in must not reach Twilio.
    let config = server_config(&[(config::TRUST_PROXY, flag), (config::ICE_SERVERS, "off")])
        .expect("a valid config");
    AppState::new(config, handsets().clone())
}
