//! `offhook run` on the simulated board when its inputs end (issue 15): a quit ends the phone
//! cleanly; inputs that go away on their own (a keypad unplugged) are a fault, and the run
//! returns an error so that `offhook run` exits non-zero and systemd restarts it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use offhook::app::{AppError, RunOptions};
use offhook::config::Config;
use offhook_board::sim::{Script, SimOptions, SimPins};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("offhook-inputs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A phone on the simulated board with no sound card and no token server (it keeps trying
/// port 1 on loopback): enough to see what happens to its inputs.
fn config(dir: &Path) -> Config {
    let text = format!(
        r#"
[server]
url = "http://127.0.0.1:1"
device_id = "desk-1"
device_secret = "s3cret"

[board]
profile = "simulated"

[audio]
capture = "null"
playback = "null"

[state]
dir = "{}"
"#,
        dir.display()
    );
    let path = dir.join("offhook.toml");
    std::fs::write(&path, &text).expect("config written");
    Config::load(&path).expect("config is valid")
}

async fn run_script(tag: &str, script: &str) -> Result<(), AppError> {
    let dir = temp_dir(tag);
    let config = config(&dir);
    let profile = offhook::app::board_profile(&config).expect("profile");
    let sim = SimOptions {
        script: Some(Script::parse(script).expect("script")),
        ..SimOptions::from_profile(&profile)
    };
    let run = offhook::app::run(
        config,
        RunOptions {
            sim: Some(sim),
            ..Default::default()
        },
    );
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the phone stops by itself");
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_gone_is_an_error() {
    let result = run_script("unplug", "wait 200ms\nunplug\n").await;
    assert!(
        matches!(result, Err(AppError::InputsGone)),
        "inputs gone must fail the run: {result:?}"
    );
    assert!(
        AppError::InputsGone.to_string().contains("input source"),
        "the error says what went"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quit_ends_the_run_cleanly() {
    let result = run_script("quit", "wait 200ms\nquit\n").await;
    assert!(result.is_ok(), "{result:?}");
}

/// The phone on a pin-level simulated board (`offhook demo --sim-pins`): the script closes
/// contacts on simulated GPIO pins, and the real keypad scanner, debouncers and hook switch
/// make the events the phone reacts to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_runs_on_simulated_pins() {
    let dir = temp_dir("pins");
    let config = config(&dir);
    let profile = offhook::app::board_profile(&config).expect("profile");
    let script = "key menu\n\
                  expect screen \"Menu \" within 5s\n\
                  key reject\n\
                  hook up\n\
                  expect screen \"No service\" within 5s\n\
                  hook down\n\
                  wait 1500ms\n\
                  quit\n";
    let sim = SimOptions {
        script: Some(Script::parse(script).expect("script")),
        pins: Some(SimPins::from_profile(&profile).expect("wiring")),
        ..SimOptions::from_profile(&profile)
    };
    let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
    let run = tokio::spawn(offhook::app::run(
        config,
        RunOptions {
            sim: Some(sim),
            sim_handle: Some(handle_tx),
            ..Default::default()
        },
    ));
    let mut handle = handle_rx.await.expect("the simulator started");
    let script = tokio::task::spawn_blocking(move || {
        let result = handle.wait_script();
        (result, handle.log_lines())
    });
    let (script, log) = tokio::time::timeout(Duration::from_secs(30), script)
        .await
        .expect("the script ends")
        .expect("script thread");
    let result = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the phone stops by itself")
        .expect("run task");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(script.is_ok(), "{script:?}\n{log:#?}");
    assert!(result.is_ok(), "{result:?}");
    // The hook went down and up through the hook switch's debouncer: the phone saw it.
    let at = |line: &str| log.iter().position(|l| l == line);
    let lifted = at("input off-hook").expect("off-hook seen");
    assert!(at("input key-down menu").is_some(), "{log:#?}");
    assert!(
        log[lifted..].iter().any(|l| l == "input on-hook"),
        "hung up after the flash window: {log:#?}"
    );
}
