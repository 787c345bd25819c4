//! `voice-call-bench`: a call of the Rust Device to the lab's echo number, measured.
//!
//! Prints the CPU seconds (user + system), peak RSS and packets per second of this process,
//! which holds only the Device: the lab runs in a child process (this program re-run with
//! `--serve-lab`). Not a test — run it explicitly:
//!
//! ```sh
//! cargo run --release -p offhook-e2e --bin voice-call-bench -- [--seconds 60] [--codec pcmu|opus]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use offhook_lab::{Credentials, Lab, LabConfig};
use twilio_voice::media::audio::TestAudio;
use twilio_voice::{CallEvent, Codec, Device, DeviceOptions};

fn usage() -> ! {
    eprintln!("usage: voice-call-bench [--seconds N] [--codec pcmu|opus]");
    std::process::exit(2)
}

struct Usage {
    cpu: Duration,
    max_rss_kib: i64,
}

fn rusage() -> Usage {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Usage {
        cpu: tv(u.ru_utime) + tv(u.ru_stime),
        max_rss_kib: u.ru_maxrss,
    }
}

fn serve_lab() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let credentials = Credentials::generate();
        let lab = Lab::start(LabConfig::new(credentials.clone()))
            .await
            .expect("lab starts");
        let line = serde_json::json!({
            "signaling": lab.signaling_addr.to_string(),
            "ca_pem": lab.ca_cert_pem,
            "env": credentials.to_env_text(),
        });
        println!("{line}");
        // Until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        lab.shutdown().await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve-lab") {
        serve_lab();
        return;
    }
    let mut seconds = 60u64;
    let mut codec = Codec::Pcmu;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--codec" => {
                codec = it
                    .next()
                    .and_then(|s| Codec::parse(s))
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let exe = std::env::current_exe().expect("own path");
    let mut lab = Command::new(exe)
        .arg("--serve-lab")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("lab process starts");
    let mut line = String::new();
    BufReader::new(lab.stdout.take().expect("lab stdout"))
        .read_line(&mut line)
        .expect("lab prints its address");
    let info: serde_json::Value = serde_json::from_str(&line).expect("lab start-up line");
    let credentials =
        Credentials::from_env_text(info["env"].as_str().unwrap_or_default()).expect("credentials");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let before = rusage();
    let (packets_sent, packets_received, mos) = rt.block_on(async {
        let options = DeviceOptions {
            chunderw: Some(vec![
                info["signaling"].as_str().unwrap_or_default().to_string(),
            ]),
            extra_ca_pem: Some(
                info["ca_pem"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            ),
            publish_events: false,
            codec_preferences: vec![
                codec,
                if codec == Codec::Pcmu {
                    Codec::Opus
                } else {
                    Codec::Pcmu
                },
            ],
            ..Default::default()
        };
        let audio = Arc::new(TestAudio::new(48_000, Some(700.0)));
        let device =
            Device::with_audio(credentials.token("bench", 3600), options, audio).expect("device");
        let call = device
            .connect(offhook_e2e::to("+12025550100"))
            .await
            .expect("call");
        let mut events = call.events();
        let until = Instant::now() + Duration::from_secs(seconds + 10);
        let mut last = None;
        let mut accepted_at = None;
        while Instant::now() < until {
            match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
                Ok(Some(CallEvent::Accept)) => accepted_at = Some(Instant::now()),
                Ok(Some(CallEvent::Sample(s))) => last = Some(s),
                Ok(Some(CallEvent::Disconnect)) | Ok(None) => break,
                _ => {}
            }
            if accepted_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(seconds)) {
                break;
            }
        }
        call.disconnect();
        device.force_destroy();
        let s = last.expect("the call produced samples");
        (s.total_packets_sent, s.total_packets_received, s.mos)
    });
    let after = rusage();
    drop(lab.stdin.take());
    let _ = lab.wait();
    let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
    println!("voice-call-bench: {seconds} s call to the echo number, codec {codec}");
    println!(
        "  cpu seconds (user+sys)  {cpu:.2}  ({:.1} % of one core)",
        cpu / seconds as f64 * 100.0
    );
    println!(
        "  peak RSS                {:.1} MiB",
        after.max_rss_kib as f64 / 1024.0
    );
    println!(
        "  packets sent / s        {:.1}",
        packets_sent as f64 / seconds as f64
    );
    println!(
        "  packets received / s    {:.1}",
        packets_received as f64 / seconds as f64
    );
    if let Some(m) = mos {
        println!("  last MOS                {m:.2}");
    }
}
