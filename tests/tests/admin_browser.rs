//! The web interface (`/admin`) in a real browser: Playwright (`tests/js/admin/admin.mjs`)
//! drives Debian's headless Chromium against the real `offhook-server` binary (SQLite), with
//! the lab playing Twilio in this process and the real `offhook run` on the simulated board
//! (virtual audio) as the handset.
//!
//! The admin account is made from the setup link `offhook-server setup-link` prints; the
//! handset is added in the page and started with the `offhook.toml` the page shows (plus the
//! lab's signaling address, the board and the audio devices: nothing that is provisioned).
//! Then: it shows online and registered; a speed dial set in the page appears on the handset's
//! Speed dials page; a caller whose caller ID is `<script>alert(1)</script>` leaves a message
//! nobody answers, which the page lists as text and plays (the server fetching the recording
//! from the lab); the speed dial makes a call, which the call log shows with the missed one;
//! signing out ends the session.
//!
//! Screenshots of the main pages, 1280 and 360 px wide, go to a scratch directory; with
//! `OFFHOOK_BLESS_SCREENSHOTS=1` to `docs/screenshots/` (the README's pictures).
//!
//! Needs `offhook` and `offhook-server` built (`cargo build -p offhook -p offhook-server`;
//! `cargo test --workspace` builds them), node with `npm ci` done in `tests/js`, Chromium and
//! PulseAudio (`.ci/install-deps --test` and `scripts/test` see to all of it).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use offhook_e2e::real_handset::{HandsetProcess, RATE, VirtualAudioRig, write_profile};
use offhook_e2e::server_process::{ServerProcess, free_loopback_addr};
use offhook_e2e::{init_logs, wait_until};
use offhook_lab::control::types::StartCall;
use offhook_lab::{Behaviour, Credentials, Lab, LabConfig};
use serde_json::{Value, json};

/// Patience for one step.
const T: Duration = Duration::from_secs(30);
/// A caller ID that would run as script if a page put it into HTML unescaped.
const CALLER: &str = "<script>alert(1)</script>";
const DEVICE_ID: &str = "front-desk";
const EXTENSION: &str = "201";
const ECHO: &str = "+12025550100";
/// How much of the caller's message is waited for before the caller hangs up.
const MESSAGE_MS: u64 = 2000;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn require_tools() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs `node` on PATH: {node:?}"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "this test needs Chromium at {chromium} (set CHROMIUM)"
    );
    assert!(
        js_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "run `npm ci` in tests/js: playwright-core is missing"
    );
}

/// `node admin.mjs`, answering one step at a time; closing its input closes the browser.
struct AdminBrowser {
    child: Child,
    input: Option<ChildStdin>,
    answers: mpsc::Receiver<String>,
}

impl AdminBrowser {
    fn start(base: &str, screenshots: &Path) -> AdminBrowser {
        let args = json!({
            "base": base,
            "screenshots": screenshots,
            "patienceMs": T.as_millis() as u64,
        });
        let mut command = Command::new("node");
        command
            .arg(js_dir().join("admin/admin.mjs"))
            .arg(args.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl only; async-signal-safe. Node (and with it its browser, whose pipe
        // closes) dies with the test even when no Drop runs.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("node starts admin.mjs");
        let input = child.stdin.take();
        let output = child.stdout.take().expect("stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut browser = AdminBrowser {
            child,
            input,
            answers,
        };
        let ready = browser.answer("starting the browser", Duration::from_secs(60));
        assert_eq!(ready, "ready", "admin.mjs: {ready}");
        browser
    }

    fn answer(&mut self, what: &str, timeout: Duration) -> Value {
        let line = self
            .answers
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("{what}: no answer from admin.mjs within {timeout:?}: {e}"));
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{what}: admin.mjs said {line:?}: {e}"));
        match v.get("ok") {
            Some(ok) => ok.clone(),
            None => panic!("{what} failed in the browser: {}", v["error"]),
        }
    }

    /// Runs one step of admin.mjs (blocking this thread, not the runtime's others).
    fn step(&mut self, step: &str, args: Value) -> Value {
        let mut command = args;
        command["step"] = json!(step);
        tokio::task::block_in_place(|| {
            let input = self.input.as_mut().expect("admin.mjs input");
            writeln!(input, "{command}").expect("admin.mjs reads its input");
            self.answer(step, T * 3)
        })
    }
}

impl Drop for AdminBrowser {
    fn drop(&mut self) {
        // End of input: the script closes the browser and exits.
        self.input.take();
        offhook_e2e::real_handset::wait_or_kill(&mut self.child, Duration::from_secs(10));
    }
}

/// Where the screenshots go: the README's pictures when blessing, else a scratch directory.
fn screenshots_dir(scratch: &Path) -> PathBuf {
    if std::env::var_os("OFFHOOK_BLESS_SCREENSHOTS").is_some_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        scratch.join("screenshots")
    }
}

/// The page's `offhook.toml` and what this rig adds: the lab's signaling (its address and
/// CA), the simulated board, the virtual sound card and a state directory. Nothing the
/// server provisions (contacts, speed dials, country, codecs, edges) is set here.
fn handset_config(page_toml: &str, dir: &Path, signaling: &str, ca: &Path) -> String {
    format!(
        r#"{page_toml}
[board]
profile = "{profile}"

[audio]
capture = "mic_monitor"
playback = "ear"
sample_rate = {RATE}

[device]
signaling_hosts = ["{signaling}"]
signaling_ca_file = "{ca}"
publish_events = false

[state]
dir = "{state}"
"#,
        profile = write_profile(dir).display(),
        ca = ca.display(),
        state = dir.join("state").display(),
    )
}

/// Blocking handset commands off the runtime's other threads.
fn phone<R>(handset: &HandsetProcess, f: impl FnOnce(&HandsetProcess) -> Result<R, String>) -> R {
    tokio::task::block_in_place(|| f(handset)).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_run_a_handset_end_to_end() {
    require_tools();
    init_logs();
    let dir = std::env::temp_dir().join(format!("offhook-admin-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let rig = VirtualAudioRig::start(&dir).unwrap_or_else(|e| panic!("{e}"));

    // The lab asks the server for TwiML; the server asks the lab for recordings.
    let addr = free_loopback_addr().unwrap_or_else(|e| panic!("{e}"));
    let credentials = Credentials::generate();
    let mut lab_config = LabConfig::new(credentials.clone());
    lab_config.app_url = Some(format!("http://{addr}/hooks/call/connect"));
    lab_config.number_url = Some(format!("http://{addr}/hooks/voice"));
    lab_config.ca_cert_path = Some(dir.join("lab-ca.pem"));
    let lab = Lab::start(lab_config).await.expect("the lab starts");
    let settings = format!(
        "{}OFFHOOK_LISTEN={addr}\nOFFHOOK_TWILIO_API_URL={}\nOFFHOOK_DIAL_TIMEOUT=5\n\
         OFFHOOK_DATABASE_URL=sqlite://{}?mode=rwc\n",
        credentials.to_env_text(),
        lab.twilio_api_url(),
        dir.join("offhook.db").display(),
    );
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start(&dir.join("server"), addr, &settings, T)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let link = server
        .tool(&["setup-link"], "")
        .unwrap_or_else(|e| panic!("{e}"));
    let link = link.trim();
    assert!(
        link.starts_with(&format!("{}/admin/setup?token=", server.url())),
        "{link}"
    );

    let mut browser =
        AdminBrowser::start(&format!("{}/admin", server.url()), &screenshots_dir(&dir));

    // Sign in: the setup link makes the admin; out, a wrong password, and in again.
    let (user, password) = ("admin", "correct horse battery staple");
    let made = browser.step(
        "create_admin",
        json!({ "link": link, "username": user, "password": password }),
    );
    assert_eq!(made["heading"], "Handsets", "{made}");
    let signed_in = browser.step("sign_in", json!({ "username": user, "password": password }));
    assert_eq!(signed_in["heading"], "Handsets", "{signed_in}");

    // Add a handset; the page shows its secret once, with its offhook.toml and QR code.
    let added = browser.step(
        "add_handset",
        json!({ "name": "Front desk", "device_id": DEVICE_ID, "extension": EXTENSION }),
    );
    let secret = added["secret"].as_str().expect("secret").to_string();
    let page_toml = added["toml"].as_str().expect("toml").to_string();
    assert!(secret.len() >= 20, "{added}");
    for part in [
        format!("url = \"{}\"", server.url()),
        format!("device_id = \"{DEVICE_ID}\""),
        format!("device_secret = \"{secret}\""),
    ] {
        assert!(page_toml.contains(&part), "{part} in {page_toml}");
    }

    // The handset starts with that file: it registers and reports in.
    let handset_dir = dir.join("handset");
    std::fs::create_dir_all(&handset_dir).expect("handset directory");
    let config = handset_dir.join("offhook.toml");
    std::fs::write(
        &config,
        handset_config(
            &page_toml,
            &handset_dir,
            &lab.signaling_addr.to_string(),
            &lab.ca_cert_path,
        ),
    )
    .expect("handset config");
    let handset = tokio::task::block_in_place(|| {
        HandsetProcess::spawn(&[], &config, &handset_dir, &rig.alsa_config)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    phone(&handset, |h| h.wait_screen(&format!("Idle {DEVICE_ID}"), T));
    let row = browser.step("wait_online", json!({ "device_id": DEVICE_ID }));
    assert_eq!(row["online"], "online", "{row}");
    assert_eq!(row["address"], "127.0.0.1", "{row}");

    // A speed dial (and a name for it) set in the page: the handset's open Speed dials page
    // follows.
    phone(&handset, |h| {
        h.cmd("key menu")?;
        h.cmd("key 3")?;
        h.wait_screen("Speed dials #0: Voicemail, (not set)", T)
    });
    let dials = browser.step(
        "set_speed_dial",
        json!({
            "device_id": DEVICE_ID,
            "key": 2,
            "number": ECHO,
            "contact": { "name": "Echo test", "number": ECHO },
        }),
    );
    assert_eq!(dials["speed_dial"]["2"], ECHO, "{dials}");
    phone(&handset, |h| {
        h.wait_screen("Speed dials #0: Voicemail, Echo test, (not set)", T)
    });
    phone(&handset, |h| {
        h.cmd("key reject")?;
        h.cmd("key reject")?;
        h.wait_screen(&format!("Idle {DEVICE_ID}"), T)
    });

    // A caller nobody answers leaves a message.
    let control = lab.control();
    let call_sid = control
        .start_inbound_call(&StartCall {
            from: CALLER.into(),
            to: credentials.phone_number.clone(),
            caller: Behaviour::Tone { hz: 1200.0 },
            timeout_secs: Some(90),
            params: Vec::new(),
        })
        .await
        .expect("the lab calls");
    wait_until(
        Duration::from_secs(60),
        "the caller's message recorded",
        || async {
            let call = control
                .get_call(&call_sid)
                .await
                .map_err(|e| e.to_string())?;
            let recorded = call
                .legs
                .iter()
                .filter_map(|l| l.media.as_ref()?.recording_ms)
                .max()
                .unwrap_or(0);
            if recorded >= MESSAGE_MS {
                Ok(())
            } else {
                Err(format!("{recorded} ms recorded; phase {}", call.phase))
            }
        },
    )
    .await;
    control
        .hangup_call(&call_sid)
        .await
        .expect("the caller hangs up");
    control
        .wait_for_recording(T, |r| r.call_sid == call_sid)
        .await
        .expect("the lab keeps the recording");

    // The page lists it with the caller ID as text, and plays it.
    let message = browser.step("voicemail", json!({ "caller": CALLER }));
    assert_eq!(message["caller"], CALLER, "{message}");
    assert_eq!(message["wav"]["status"], 200, "{message}");
    assert_eq!(message["wav"]["riff"], true, "{message}");
    let length = message["loaded"]["duration"].as_f64().unwrap_or(0.0);
    assert!(
        length >= (MESSAGE_MS as f64 / 1000.0) - 0.5,
        "the player knows the message's length: {message}"
    );

    // The speed dial calls the echo number; the call log shows it and the missed call.
    phone(&handset, |h| {
        h.cmd("hook up")?;
        h.wait_screen("Dial ", T)?;
        h.cmd("hold 2 900ms")?;
        h.wait_screen("In call with Echo test (0:02)", T)?;
        h.cmd("hook down")?;
        h.wait_screen(&format!("Idle {DEVICE_ID}"), T)
    });
    let log = browser.step(
        "call_log",
        json!({
            "rows": [
                { "direction": "outgoing", "from": EXTENSION, "to": ECHO, "result": "answered" },
                { "direction": "incoming", "from": CALLER, "result": "missed" },
            ],
            "search": "0100",
        }),
    );
    assert_eq!(log["searched"], 1, "{log}");
    // The echo call's length is the talk time the lab's status callback gave.
    let talked: u32 = log["found"][0]["length"]
        .as_str()
        .and_then(|l| l.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a length in seconds: {log}"));
    assert!((2..10).contains(&talked), "{log}");

    let system = browser.step("system", json!({}));
    assert_eq!(system["heading"], "System", "{system}");

    // Signing out ends the session: the pages ask to sign in again.
    let out = browser.step("sign_out", json!({}));
    assert_eq!(out["after"], "Sign in", "{out}");
    assert_eq!(out["then"], "Sign in", "{out}");

    drop(browser);
    let status = tokio::task::block_in_place(|| handset.stop(Duration::from_secs(10)));
    assert!(
        status.is_some_and(|s| s.success()),
        "the phone stops cleanly: {status:?}\n{}",
        handset.log_tail()
    );
    let mut server = server;
    let status = tokio::task::block_in_place(|| server.stop(Duration::from_secs(10)));
    assert!(
        status.is_some_and(|s| s.success()),
        "the server stops cleanly: {status:?}\n{}",
        server.log_tail()
    );
    lab.shutdown().await;
    drop(rig);
    let _ = std::fs::remove_dir_all(&dir);
}
