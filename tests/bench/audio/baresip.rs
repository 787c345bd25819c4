//! baresip, the reference softphone: two instances on loopback SIP with DTLS-SRTP. The caller
//! is the handset's counterpart (microphone `mic_monitor`, earpiece `ear`, through the same
//! ALSA pulse plugin and null sinks as `offhook run`); the callee answers by itself and plays
//! back what it hears (baresip's `aubridge`: its player feeds its own source).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::guard::ChildGuard;
use offhook_e2e::real_handset::RATE;

/// The codec as baresip names it in `audio_codecs`.
pub fn codec_name(codec: &str) -> Result<&'static str, String> {
    match codec {
        "pcmu" => Ok("PCMU/8000/1"),
        "opus" => Ok("opus/48000/2"),
        other => Err(format!("no baresip name for codec {other:?}")),
    }
}

pub struct BaresipPair {
    pub caller: ChildGuard,
    _callee: ChildGuard,
    caller_log: std::path::PathBuf,
}

fn write_config(dir: &Path, port: u16, source: &str, player: &str) -> Result<(), String> {
    // Mono at the phone's rate on both devices, as `offhook run` opens them; no status line.
    let text = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{port}\n\
         audio_player {player}\n\
         audio_source {source}\n\
         audio_alert aubridge,alert\n\
         ausrc_srate {RATE}\nauplay_srate {RATE}\nausrc_channels 1\nauplay_channels 1\n\
         audio_buffer 20-160\n\
         jitter_buffer_delay 5-10\n\
         rtcp_mux yes\n\
         statmode_default off\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule opus.so\nmodule alsa.so\nmodule aubridge.so\nmodule dtls_srtp.so\n\
         module_tmp account.so\n\
         module_app menu.so\n"
    );
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("config"), text).map_err(|e| format!("baresip config: {e}"))
}

fn spawn(name: &str, dir: &Path, alsa_config: &Path, extra: &[&str]) -> Result<ChildGuard, String> {
    let log = std::fs::File::create(dir.join("baresip.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new("baresip");
    command
        .arg("-n")
        .arg("127.0.0.1")
        .arg("-f")
        .arg(dir)
        .args(extra)
        .env("ALSA_CONFIG_PATH", alsa_config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    ChildGuard::spawn(name, &mut command).map_err(|e| format!("{e} (apt-get install baresip-core)"))
}

impl BaresipPair {
    /// Starts the callee, then the caller dialling it with `codec` (`pcmu` or `opus`); returns
    /// once the caller logs the call established and the DTLS-SRTP handshake complete.
    pub fn call(dir: &Path, alsa_config: &Path, codec: &str) -> Result<BaresipPair, String> {
        let codec = codec_name(codec)?;
        // SIP over TLS takes the next port too.
        let base = 20_000 + (std::process::id() % 2000) as u16 * 10;
        let (caller_port, callee_port) = (base, base + 5);
        let callee_dir = dir.join("callee");
        write_config(&callee_dir, callee_port, "aubridge,echo", "aubridge,echo")?;
        std::fs::write(
            callee_dir.join("accounts"),
            format!(
                "<sip:echo@127.0.0.1:{callee_port}>;regint=0;answermode=auto;mediaenc=dtls_srtp;audio_codecs={codec}\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let callee = spawn("baresip callee", &callee_dir, alsa_config, &[])?;
        let callee_log = callee_dir.join("baresip.log");
        wait_log(&callee_log, "baresip is ready", Duration::from_secs(10))?;

        let caller_dir = dir.join("caller");
        write_config(&caller_dir, caller_port, "alsa,mic_monitor", "alsa,ear")?;
        std::fs::write(
            caller_dir.join("accounts"),
            format!(
                "<sip:desk@127.0.0.1:{caller_port}>;regint=0;mediaenc=dtls_srtp;audio_codecs={codec}\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let dial = format!("/dial sip:echo@127.0.0.1:{callee_port}");
        let caller = spawn("baresip caller", &caller_dir, alsa_config, &["-e", &dial])?;
        let caller_log = caller_dir.join("baresip.log");
        wait_log(&caller_log, "DTLS-SRTP complete", Duration::from_secs(15))?;
        wait_log(&caller_log, "player started", Duration::from_secs(15))?;
        Ok(BaresipPair {
            caller,
            _callee: callee,
            caller_log,
        })
    }

    /// The caller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.caller_log).unwrap_or_default()
    }
}

fn wait_log(path: &Path, text: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(format!(
                "baresip: no {text:?} in {} within {timeout:?}; last lines:\n{}",
                path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
