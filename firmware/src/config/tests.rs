use std::path::Path;

use super::*;

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
    assert_eq!(config.device.edge, ["roaming", "ashburn", "dublin"]);
    assert_eq!(config.country.iso, "US");
    let phone = config.phone_config();
    assert_eq!(phone.ring_cadences[0].name, "us");
    assert!(phone.ring_cadences.iter().any(|c| c.name == "triple"));
    assert_eq!(phone.dial_plan.speed_dial(3), Some("101"));
    assert_eq!(
        config.history_path(),
        Path::new("/var/lib/offhook/history.json")
    );
}

#[test]
fn minimal_config_gets_country_defaults() {
    let config = parse(MINIMAL).expect("valid");
    assert_eq!(config.region, Region::Us);
    assert_eq!(config.device.codec_preferences, [Codec::Opus, Codec::Pcmu]);
    assert_eq!(config.audio.sample_rate, 48_000);
    let gb = parse(&format!("{MINIMAL}\n[phone]\ncountry = \"GB\"\n")).expect("valid");
    assert_eq!(gb.region, Region::Uk);
    assert_eq!(gb.phone_config().ring_cadences[0].name, "uk");
    assert!(gb.phone_config().dial_plan.is_emergency("999"));
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
