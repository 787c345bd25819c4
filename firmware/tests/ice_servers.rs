//! The ICE servers offhook-server hands out beside a token reach the Twilio Device's options,
//! and the config file's own list wins over them; relay-only without a TURN server is never
//! handed to the Device as relay-only (the handset refuses calls instead).

use std::path::Path;
use std::time::Instant;

use offhook::app::{device_options, ice_choice};
use offhook::config::Config;
use offhook::history::CallHistory;
use offhook::ice::IceSource;
use offhook::phone::{Phone, UserSettings};
use offhook::token::http::read_response;
use twilio_voice::options::{IceServer, IceTransportPolicy};

const BASE: &str = r#"
[server]
url = "https://phone.example.com"
device_id = "desk-1"
device_secret = "s3cret"
"#;

/// What offhook-server answers: Twilio's STUN and TURN, as the token endpoint shapes them.
const TOKEN_ANSWER: &str = r#"{"token":"eyJ.a","identity":"desk","ttl":3600,
  "ice_servers":[
    {"urls":["stun:global.stun.twilio.com:3478"]},
    {"urls":["turn:global.turn.twilio.com:3478?transport=udp"],"username":"nts-user","credential":"nts-secret"},
    {"urls":["turns:global.turn.twilio.com:443?transport=tcp"],"username":"nts-user","credential":"nts-secret"}
  ],
  "ice_servers_stale":false}"#;

fn config(device: &str) -> Config {
    Config::parse(
        &format!("{BASE}\n[device]\n{device}\n"),
        Path::new("offhook.toml"),
    )
    .expect("a valid config")
}

fn options(config: &Config, answer: &str) -> twilio_voice::DeviceOptions {
    let token = read_response(200, &http::HeaderMap::new(), answer.as_bytes()).expect("a token");
    let phone = Phone::new(
        config.phone_config(),
        UserSettings::default(),
        CallHistory::default(),
        Instant::now(),
    );
    let choice = ice_choice(config, token.ice.servers.as_ref());
    let options = device_options(config, &phone, &choice);
    options.validate().expect("the Device takes these options");
    options
}

#[test]
fn the_token_answers_ice_servers_reach_the_device() {
    let plain = config("");
    let options = options(&plain, TOKEN_ANSWER);
    assert_eq!(options.ice_servers.len(), 3);
    assert_eq!(options.stun_urls(), ["stun:global.stun.twilio.com:3478"]);
    let turns = options.turn_servers();
    assert_eq!(turns.len(), 2);
    assert!(
        turns
            .iter()
            .all(|t| t.username == "nts-user" && t.credential == "nts-secret")
    );
    assert_eq!(options.ice_transport_policy, IceTransportPolicy::All);
    // Relay-only in the file, the server's TURN servers: every packet through them.
    let relay = config("ice_transport_policy = \"relay\"");
    let options = self::options(&relay, TOKEN_ANSWER);
    assert_eq!(options.ice_transport_policy, IceTransportPolicy::Relay);
    assert_eq!(options.turn_servers().len(), 2);
}

#[test]
fn the_config_files_list_wins_over_the_servers() {
    let own = config(
        "ice_servers = [{ urls = \"turn:own.example.com:3478\", username = \"mine\", credential = \"own\" }]",
    );
    let options = options(&own, TOKEN_ANSWER);
    assert_eq!(
        options.ice_servers,
        vec![IceServer {
            urls: vec!["turn:own.example.com:3478".into()],
            username: Some("mine".into()),
            credential: Some("own".into()),
        }]
    );
    // Even an empty list: the file says none.
    let none = config("ice_servers = []");
    assert!(options_of(&none).ice_servers.is_empty());
    assert_eq!(
        ice_choice(&none, None).source,
        IceSource::Config,
        "the file's choice"
    );
}

fn options_of(config: &Config) -> twilio_voice::DeviceOptions {
    options(config, TOKEN_ANSWER)
}

#[test]
fn relay_only_without_a_turn_server_is_not_handed_to_the_device() {
    let relay = config("ice_transport_policy = \"relay\"");
    // The server hands out STUN only (or nothing at all): the Device gets options it takes,
    // and the handset knows to refuse calls.
    for answer in [
        r#"{"token":"eyJ.a","identity":"desk","ttl":3600,"ice_servers":[{"urls":"stun:s.example"}]}"#,
        r#"{"token":"eyJ.a","identity":"desk","ttl":3600,"ice_servers_error":{"code":"unavailable","message":"503"}}"#,
    ] {
        let token = read_response(200, &http::HeaderMap::new(), answer.as_bytes()).unwrap();
        let choice = ice_choice(&relay, token.ice.servers.as_ref());
        assert!(choice.relay_missing, "{answer}");
        assert_eq!(
            options(&relay, answer).ice_transport_policy,
            IceTransportPolicy::All
        );
    }
}
