//! The phone under test: an offhook-server and offhook-lab in this process (`offhook demo`'s
//! set-up), and the real `offhook run` on the simulated board as a child, placing calls to
//! the lab's echo number (speed dial 2) over its control socket.

use std::path::Path;
use std::time::Duration;

use offhook::demo::{DemoEnv, DemoOptions};
use offhook_e2e::real_handset::{HandsetProcess, RATE, VirtualAudioRig, write_product_profile};

/// The idle screen, shown only while registered.
const IDLE: &str = "Idle desk";
const T: Duration = Duration::from_secs(20);

pub struct Phone {
    pub env: DemoEnv,
    pub handset: HandsetProcess,
}

impl Phone {
    /// Starts the server, the lab and the phone (offering `codecs`, in order; run through
    /// `wrap`, e.g. `qemu-aarch64 -L /`, when not empty) and waits until the phone is
    /// registered and idle.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        rig: &VirtualAudioRig,
        dir: &Path,
        codecs: &[&str],
        wrap: &[&str],
        period_ms: u32,
    ) -> Result<Phone, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let options = DemoOptions {
            capture: "mic_monitor".into(),
            playback: "ear".into(),
            sample_rate: RATE,
            board_profile: write_product_profile(dir, period_ms).display().to_string(),
            codecs: codecs.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let env = runtime
            .block_on(offhook::demo::start(&dir.join("env"), &options))
            .map_err(|e| e.to_string())?;
        let phone_dir = dir.join("phone");
        std::fs::create_dir_all(&phone_dir).map_err(|e| e.to_string())?;
        let handset = HandsetProcess::spawn(wrap, &env.config_path, &phone_dir, &rig.alsa_config)?;
        handset.wait_screen(IDLE, Duration::from_secs(30))?;
        Ok(Phone { env, handset })
    }

    /// Lifts the handset and speed-dials the echo number; returns once the call is up.
    pub fn call_echo(&self) -> Result<(), String> {
        let h = &self.handset;
        h.cmd("hook up")?;
        h.wait_screen("Dial ", T)?;
        h.cmd("hold 2 900ms")?;
        h.wait_screen("In call with Echo test", T)
    }

    /// Hangs up and waits for the idle screen.
    pub fn hang_up(&self) -> Result<(), String> {
        self.handset.cmd("hook down")?;
        self.handset.wait_screen(IDLE, T)
    }

    /// The phone's own account of its `n`-th call's audio (0-based; the `call audio ended`
    /// log line: card periods and stalls, jitter buffer and time-stretch counts), once written.
    pub fn call_audio(&self, n: usize) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let log = std::fs::read_to_string(&self.handset.stderr).unwrap_or_default();
            let line = log
                .lines()
                .filter_map(|l| l.split_once("call audio ended"))
                .nth(n);
            if let Some((_, fields)) = line {
                return Some(fields.trim_start_matches([':', ',', ' ']).to_string());
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The codec of the phone's last call, as the lab saw it.
    pub fn last_codec(&self, runtime: &tokio::runtime::Runtime) -> String {
        runtime
            .block_on(self.env.lab.control().calls())
            .ok()
            .and_then(|calls| {
                calls.iter().rev().find_map(|c| {
                    c.legs
                        .iter()
                        .find_map(|l| l.media.as_ref().and_then(|m| m.codec_in.clone()))
                })
            })
            .unwrap_or_else(|| "?".into())
    }

    pub fn shutdown(self, runtime: &tokio::runtime::Runtime) {
        let Phone { env, handset } = self;
        handset.stop(Duration::from_secs(5));
        drop(handset);
        runtime.block_on(env.shutdown());
    }
}
