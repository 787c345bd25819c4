use std::path::Path;

use super::*;
use crate::phone::{Codec, SettingSource, Sources};

const MINIMAL: &str = r#"
[server]
url = "https://phone.example.com"
device_id = "desk-1"
device_secret = "s3cret"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/offhook/offhook.toml"))
}

fn error(text: &str) -> ConfigError {
    parse(text).expect_err("the config is rejected")
}

#[test]
fn the_shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("offhook.example.toml");
    let config = Config::load(&path).expect("example config parses");
    assert_eq!(config.server.device_id, "desk-1");
    // It leaves every provisioned setting to offhook-server.
    assert_eq!(
        config.local,
        LocalSettings {
            country: None,
            region: None,
            digit_map: None,
            speed_dials: None,
            contacts: None,
            ring_cadence: None,
            volumes: None,
            edges: None,
            codecs: None,
        }
    );
    let local = config.local_only();
    assert_eq!(local.country.iso, "US");
    assert_eq!(local.phone.sources, Sources::default());
    let phone = config.phone_config();
    assert_eq!(phone.edges, ["roaming"]);
    assert_eq!(phone.ring_cadences[0].name, "us");
    assert!(phone.ring_cadences.iter().any(|c| c.name == "triple"));
    assert_eq!(phone.dial_plan.speed_dial(3), None);
    assert_eq!(
        config.history_path(),
        Path::new("/var/lib/offhook/history.json")
    );
    assert_eq!(
        config.provisioned_path(),
        Path::new("/var/lib/offhook/provisioned.json")
    );
}

#[test]
fn minimal_config_gets_country_defaults() {
    let config = parse(MINIMAL).expect("valid");
    assert_eq!(config.local_only().region, Region::Us);
    assert_eq!(config.phone_config().codecs, [Codec::Opus, Codec::Pcmu]);
    assert_eq!(config.audio.sample_rate, 48_000);
    let gb = parse(&format!("{MINIMAL}\n[phone]\ncountry = \"GB\"\n")).expect("valid");
    assert_eq!(gb.local_only().region, Region::Uk);
    assert_eq!(gb.phone_config().ring_cadences[0].name, "uk");
    assert!(gb.phone_config().dial_plan.is_emergency("999"));
    assert_eq!(gb.phone_config().sources.country, SettingSource::Local);
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = error("[server]\nurl = \"https://x\"\ndevice_id = desk\n");
    assert_eq!(e.path, Path::new("/etc/offhook/offhook.toml"));
    assert_eq!(e.line, Some(3));
    let shown = e.to_string();
    assert!(shown.starts_with("/etc/offhook/offhook.toml:3:"), "{shown}");
    assert!(shown.contains("device_id = desk"), "{shown}");
}

#[test]
fn unknown_keys_are_errors_with_their_line() {
    let e = error(&format!("{MINIMAL}\n[phone]\ncuntry = \"US\"\n"));
    assert_eq!(e.line, Some(8));
    assert!(e.message.contains("cuntry"), "{}", e.message);
}

#[test]
fn semantic_errors_point_at_the_value() {
    let e = error(&format!("{MINIMAL}[phone]\ncountry = \"XX\"\n"));
    assert_eq!((e.line, e.column), (Some(7), Some(11)));
    assert!(e.message.starts_with("unknown country \"XX\""));

    let e = error(&format!("{MINIMAL}[phone]\ndigit_map = \"(xx|[2-\"\n"));
    assert_eq!(e.line, Some(7));
    assert!(e.message.contains("bad range"), "{}", e.message);
    assert_eq!(e.column, Some(21), "points at the end of the map text");

    let e = error(&format!(
        "{MINIMAL}[device]\nedge = [\"roaming\", \"ashburnn\"]\n"
    ));
    assert_eq!((e.line, e.column), (Some(7), Some(20)));

    let e = error(&format!("{MINIMAL}[speed_dial]\n12 = \"+14155550100\"\n"));
    assert!(e.message.contains("1 to 9"));
    assert_eq!(e.line, Some(7));

    let e = error(&format!("{MINIMAL}[phone]\nhook_flash = \"sometimes\"\n"));
    assert_eq!(e.line, Some(7));

    let e = error("[server]\nurl = \"ftp://x\"\ndevice_id = \"a\"\ndevice_secret = \"b\"\n");
    assert_eq!(e.line, Some(2));
}

#[test]
fn secrets_are_required_and_hidden() {
    let e = error("[server]\nurl = \"https://x.example\"\ndevice_id = \"a\"\n");
    assert!(e.message.contains("device_secret"));
    let config = parse(MINIMAL).expect("valid");
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn secret_file_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret"), "from-file\n").expect("write");
    let text = "[server]\nurl = \"http://127.0.0.1:8080\"\ndevice_id = \"a\"\ndevice_secret_file = \"secret\"\n";
    std::fs::write(dir.path().join("offhook.toml"), text).expect("write");
    let config = Config::load(&dir.path().join("offhook.toml")).expect("valid");
    assert_eq!(config.server.device_secret, "from-file");
    std::fs::remove_file(dir.path().join("secret")).expect("rm");
    let e = Config::load(&dir.path().join("offhook.toml")).expect_err("missing secret file");
    assert_eq!(e.line, Some(4));
}

#[test]
fn missing_file_is_a_clear_error() {
    let e = Config::load(Path::new("/nonexistent/offhook.toml")).expect_err("no file");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/offhook.toml: cannot read the config")
    );
}

#[test]
fn errors_never_show_the_device_secret() {
    for text in [
        "[server]\nurl = \"https://x.example\"\ndevice_id = \"a\"\ndevice_secret = 98765432\n",
        "[server]\nurl = \"https://x.example\"\ndevice_id = \"a\"\ndevice_secret = \"98765432\" junk\n",
        "[server]\nurl = \"https://x.example\"\ndevice_id = \"a\"\n\"device_secret\" = [\"98765432\"]\n",
        // A trailing comment, and an inline table whose first key is not the secret.
        "[server]\nurl = \"https://x.example\"\ndevice_id = \"a\"\ndevice_secret = 98765432 # pin\n",
        "# the server\n\n\nserver = { url = \"https://x.example\", device_id = \"a\", device_secret = 98765432 }\n",
    ] {
        let shown = error(text).to_string();
        assert!(!shown.contains("98765432"), "{shown}");
        assert!(
            shown.contains("<hidden>") && shown.contains(":4"),
            "{shown}"
        );
    }
    // Other lines are shown as they are.
    let shown = error("[server]\nurl = 5\ndevice_id = \"a\"\ndevice_secret = \"s\"\n").to_string();
    assert!(shown.contains("url = 5"), "{shown}");
}

#[test]
fn plain_http_is_for_loopback_or_when_asked_for() {
    let with = |url: &str, extra: &str| {
        format!("[server]\nurl = \"{url}\"\ndevice_id = \"a\"\ndevice_secret = \"s\"\n{extra}")
    };
    let e = error(&with("http://phone.example.com", "")).to_string();
    assert!(
        e.contains("must be https://") && e.contains("allow_insecure_http"),
        "{e}"
    );
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://phone.example.com",
    ] {
        Config::parse(&with(ok, ""), Path::new("/etc/offhook/offhook.toml"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    Config::parse(
        &with("http://10.0.2.2:8080", "allow_insecure_http = true\n"),
        Path::new("/etc/offhook/offhook.toml"),
    )
    .unwrap();
}

#[test]
fn voicemail_is_star_97_on_a_long_press_of_1_unless_told_otherwise() {
    let config = parse(MINIMAL).expect("valid");
    let plan = config.phone_config().dial_plan;
    assert_eq!(plan.voicemail(), Some("*97"));
    assert_eq!(plan.voicemail_key(), Some(1));

    let config = parse(&format!(
        "{MINIMAL}[voicemail]\nnumber = \"*86\"\nlong_press_key = 9\n"
    ))
    .expect("valid");
    let plan = config.phone_config().dial_plan;
    assert_eq!(
        (plan.voicemail(), plan.voicemail_key()),
        (Some("*86"), Some(9))
    );

    let config =
        parse(&format!("{MINIMAL}[voicemail]\nnumber = \"\"\n")).expect("valid: no voicemail");
    let plan = config.phone_config().dial_plan;
    assert_eq!((plan.voicemail(), plan.voicemail_key()), (None, None));

    let config = parse(&format!(
        "{MINIMAL}[voicemail]\nlong_press_key = 0\n[speed_dial]\n1 = \"101\"\n"
    ))
    .expect("valid: the key is free for the speed dial");
    assert_eq!(config.phone_config().dial_plan.voicemail_key(), None);
}

#[test]
fn a_bad_voicemail_section_is_an_error_at_its_value() {
    let e = error(&format!("{MINIMAL}[voicemail]\nnumber = \"*9a\"\n"));
    assert_eq!(e.line, Some(7));
    assert!(e.message.contains("voicemail.number"), "{}", e.message);

    let e = error(&format!("{MINIMAL}[voicemail]\nlong_press_key = 12\n"));
    assert_eq!(e.line, Some(7));
    assert!(e.message.contains("1 to 9"), "{}", e.message);

    let e = error(&format!("{MINIMAL}[voicemail]\nnumber = \"911\"\n"));
    assert!(e.message.contains("emergency"), "{}", e.message);

    // A speed dial on the voicemail key: the error names the slot.
    let e = error(&format!("{MINIMAL}[speed_dial]\n1 = \"+14155550100\"\n"));
    assert_eq!((e.line, e.column), (Some(7), Some(1)));
    assert!(e.message.contains("voicemail key"), "{}", e.message);
}

#[test]
fn push_channel_defaults_and_limits() {
    let config = parse(MINIMAL).expect("valid");
    assert!(config.push.enabled);
    assert_eq!(config.push.idle_timeout, Duration::from_secs(45));
    assert_eq!(
        (config.push.min_retry, config.push.max_retry),
        (Duration::from_secs(1), Duration::from_secs(60))
    );
    let config = parse(&format!("{MINIMAL}[push]\nenabled = false\n")).expect("valid");
    assert!(!config.push.enabled);
    let e = error(&format!("{MINIMAL}[push]\nidle_timeout_ms = 15000\n"));
    assert!(e.message.contains("keep-alive"), "{}", e.message);
    let e = error(&format!("{MINIMAL}[push]\nmin_retry_ms = 0\n"));
    assert!(e.message.contains("push.min_retry_ms"), "{}", e.message);
}

/// The contract's example document from offhook-server, with changes.
fn server(changes: serde_json::Value) -> crate::api::provisioning::HandsetConfig {
    let mut doc: serde_json::Value =
        serde_json::from_str(crate::api::provisioning::EXAMPLE).expect("example");
    if let (Some(doc), Some(changes)) = (doc.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            doc.insert(k.clone(), v.clone());
        }
    }
    crate::api::provisioning::parse_config(doc.to_string().as_bytes()).expect("a valid document")
}

#[test]
fn the_servers_settings_fill_what_the_file_leaves_out() {
    let config = parse(MINIMAL).expect("valid");
    let doc = server(serde_json::json!({
        "country": "GB", "digit_map": "(0xxxxxxxxxx|999)", "ring_cadence": "short-short",
        "volumes": {"ring": 9, "earpiece": 2, "speaker": 4},
        "codec_preferences": ["pcmu"], "edges": ["dublin", "frankfurt"],
    }));
    let resolved = config.resolve(Some(&doc)).expect("usable");
    let phone = &resolved.phone;
    assert_eq!(
        phone.sources,
        Sources {
            contacts: SettingSource::Server,
            speed_dials: SettingSource::Server,
            digit_map: SettingSource::Server,
            country: SettingSource::Server,
            ring_cadence: SettingSource::Server,
            volumes: SettingSource::Server,
            codecs: SettingSource::Server,
            edges: SettingSource::Server,
        }
    );
    assert_eq!(resolved.country.iso, "GB");
    assert_eq!(resolved.region, Region::Uk, "the tones follow the country");
    assert_eq!(phone.dial_plan.speed_dial(2), Some("+12025550100"));
    assert_eq!(phone.dial_plan.directory().contacts()[0].name, "Echo test");
    assert_eq!(phone.ring_cadences[0].name, "short-short");
    assert_eq!(
        phone.volumes,
        Some(crate::phone::Volumes {
            handset: 2,
            speaker: 4,
            ringer: 9
        })
    );
    assert_eq!(phone.codecs, [Codec::Pcmu]);
    assert_eq!(phone.edges, ["dublin", "frankfurt"]);
    assert_eq!(phone.dial_plan.digit_map().rules().len(), 2);
    assert!(resolved.notes.is_empty(), "{:?}", resolved.notes);
    // Nothing from the server: the defaults, and their source says so.
    let resolved = config
        .resolve(Some(&crate::api::provisioning::HandsetConfig::default()))
        .expect("usable");
    assert_eq!(resolved.phone.sources, Sources::default());
    assert_eq!(resolved.phone.edges, ["roaming"]);
    assert_eq!(resolved.phone.volumes, None);
    assert_eq!(resolved, *config.local_only());
}

#[test]
fn values_in_the_file_win_over_the_servers() {
    let text = format!(
        "{MINIMAL}[phone]\ncountry = \"DE\"\nring_cadence = \"triple\"\n\
         [phone.cadences]\ntriple = \"300/200/300/200/300/3000\"\n\
         [speed_dial]\n2 = \"+4930123456\"\n\
         [volumes]\nring = 1\nearpiece = 2\nspeaker = 3\n\
         [device]\nedge = [\"frankfurt\"]\n"
    );
    let config = parse(&text).expect("valid");
    let doc = server(serde_json::json!({"edges": ["tokyo"], "ring_cadence": "uk"}));
    let resolved = config.resolve(Some(&doc)).expect("usable");
    let phone = &resolved.phone;
    assert_eq!(resolved.country.iso, "DE");
    assert_eq!(phone.sources.country, SettingSource::Local);
    assert_eq!(phone.dial_plan.speed_dial(2), Some("+4930123456"));
    assert_eq!(phone.sources.speed_dials, SettingSource::Local);
    assert_eq!(phone.ring_cadences[0].name, "triple");
    assert_eq!(phone.sources.ring_cadence, SettingSource::Local);
    assert_eq!(phone.volumes.map(|v| v.ringer), Some(1));
    assert_eq!(phone.edges, ["frankfurt"]);
    assert_eq!(phone.sources.edges, SettingSource::Local);
    // What the file leaves out is still the server's.
    assert_eq!(phone.sources.contacts, SettingSource::Server);
    assert_eq!(phone.codecs, [Codec::Opus, Codec::Pcmu]);
    assert_eq!(phone.sources.codecs, SettingSource::Server);
    // An empty list in the file is a choice too: no contacts, whatever the server says.
    let config = parse(&format!("contacts = []\n{MINIMAL}")).expect("valid");
    let resolved = config.resolve(Some(&doc)).expect("usable");
    assert!(resolved.phone.dial_plan.directory().contacts().is_empty());
    assert_eq!(resolved.phone.sources.contacts, SettingSource::Local);
}

#[test]
fn what_the_handset_cannot_use_is_refused_or_left_out() {
    let config = parse(&format!("{MINIMAL}[phone]\ninter_digit_short_ms = 1500\n")).expect("valid");
    // A speed dial on 0 or on the voicemail key is left out, with a note.
    let doc = server(serde_json::json!({"speed_dial": {"0": "+1", "1": "+2", "4": "104"}}));
    let resolved = config.resolve(Some(&doc)).expect("usable");
    assert_eq!(resolved.phone.dial_plan.speed_dial(4), Some("104"));
    assert_eq!(resolved.phone.dial_plan.speed_dial(1), None);
    assert_eq!(resolved.notes.len(), 2, "{:?}", resolved.notes);
    assert!(resolved.notes.iter().any(|n| n.contains("voicemail")));
    // The file's timers apply to the server's digit map.
    let doc = server(serde_json::json!({"digit_map": "(xxxT)"}));
    let resolved = config.resolve(Some(&doc)).expect("usable");
    assert_eq!(
        resolved.phone.dial_plan.digit_map().short_timer(),
        Duration::from_millis(1500)
    );
    // A cadence the handset does not know, two contacts on one extension: refused.
    let e = config
        .resolve(Some(&server(serde_json::json!({"ring_cadence": "disco"}))))
        .expect_err("unknown cadence");
    assert!(e.contains("unknown ring cadence"), "{e}");
    let e = config
        .resolve(Some(&server(serde_json::json!({"contacts": [
            {"name": "A", "number": "1", "extension": "7"},
            {"name": "B", "number": "2", "extension": "7"}]}))))
        .expect_err("one extension twice");
    assert!(e.contains("extension 7"), "{e}");
}

#[test]
fn local_volumes_are_checked_where_they_are_written() {
    let e = error(&format!(
        "{MINIMAL}[volumes]\nring = 11\nearpiece = 1\nspeaker = 1\n"
    ));
    assert_eq!((e.line, e.column), (Some(7), Some(8)));
    assert!(e.message.contains("0 to 10"), "{}", e.message);
    let e = error(&format!("{MINIMAL}[volumes]\nring = 3\n"));
    assert!(e.message.contains("earpiece"), "{}", e.message);
}

#[test]
fn ice_servers_and_the_transport_policy() {
    // Absent: offhook-server's list, every candidate.
    let config = parse(MINIMAL).expect("valid");
    assert_eq!(config.device.ice_servers, None);
    assert_eq!(
        config.device.ice_transport_policy,
        twilio_voice::options::IceTransportPolicy::All
    );
    let text = format!(
        "{MINIMAL}\n[device]\nice_transport_policy = \"relay\"\nice_servers = [\n  \
         {{ urls = [\"turn:turn.example.com:3478?transport=udp\", \
         \"turns:turn.example.com:443?transport=tcp\"], username = \"u\", credential = \"p\" }},\n  \
         {{ urls = \"stun:stun.example.com\" }},\n]\n"
    );
    let config = parse(&text).expect("valid");
    let servers = config.device.ice_servers.expect("a list").0;
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].urls.len(), 2);
    assert_eq!(servers[0].credential.as_deref(), Some("p"));
    assert_eq!(servers[1].urls, ["stun:stun.example.com"]);
    assert_eq!(
        config.device.ice_transport_policy,
        twilio_voice::options::IceTransportPolicy::Relay
    );
    // An empty list is the file's: no servers, and not the server's either.
    let config = parse(&format!("{MINIMAL}\n[device]\nice_servers = []\n")).expect("valid");
    assert_eq!(config.device.ice_servers.map(|l| l.len()), Some(0));
}

#[test]
fn bad_ice_servers_are_pointed_at() {
    let device = |body: &str| format!("{MINIMAL}\n[device]\n{body}\n");
    // MINIMAL is 5 lines with its leading newline; [device] is line 7.
    let cases = [
        (
            "ice_servers = [{ urls = [\"http://turn.example.com\"] }]",
            8,
            "http://turn.example.com: not a stun:, turn: or turns: URL",
        ),
        (
            "ice_servers = [{ urls = \"turn:turn.example.com?transport=sctp\", username = \"u\", credential = \"p\" }]",
            8,
            "sctp",
        ),
        (
            "ice_servers = [{ urls = [\"turn:turn.example.com\"] }]",
            8,
            "a TURN server needs a username and a credential",
        ),
        ("ice_servers = [{ urls = [] }]", 8, "needs at least one URL"),
        ("ice_servers = [{ urls = 7 }]", 8, "a URL or a list of URLs"),
        ("ice_servers = [{ url = \"stun:x\" }]", 8, "unknown field"),
        (
            "ice_transport_policy = \"relay\"\nice_servers = [{ urls = \"stun:stun.example.com\" }]",
            8,
            "needs a turn: or turns: URL",
        ),
        ("ice_transport_policy = \"direct\"", 8, "unknown variant"),
    ];
    for (body, line, words) in cases {
        let e = error(&device(body));
        assert_eq!(e.line, Some(line), "{body}: {e}");
        assert!(e.to_string().contains(words), "{body}: {e}");
    }
    // A credential never shows in the message.
    let e = error(&device(
        "ice_servers = [{ urls = [\"turn:x.example\"], username = \"\", credential = \"hunter2\" }]",
    ));
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
