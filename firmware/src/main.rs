//! `offhook`: the handset's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use offhook::app::RunOptions;
use offhook::config::{Config, DEFAULT_PATH};
use offhook_board::sim::script::Script;
use offhook_board::sim::{SimLog, SimOptions, SimPins};

/// Where `offhook demo` went in a build without it (the shipped one).
#[cfg(not(feature = "demo"))]
const DEMO_HINT: &str = "The demo (`offhook demo`, `offhook demo-call`) is not in this build: \
run scripts/demo from the source tree, or build with `cargo build -p offhook --features demo`.";

#[derive(Parser)]
#[command(
    name = "offhook",
    version,
    about = "A Twilio Voice desk handset for the Raspberry Pi"
)]
#[cfg_attr(
    not(feature = "demo"),
    command(after_help = DEMO_HINT)
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the phone (what the systemd unit starts).
    Run {
        /// The config file.
        #[arg(long, short, default_value = DEFAULT_PATH)]
        config: PathBuf,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// List the audio devices (microphones and speakers) ALSA offers.
    Devices,
    #[cfg(feature = "demo")]
    /// The whole system on this machine: a local Twilio stand-in (offhook-lab), the token and
    /// TwiML server, and the handset on the simulated board in this terminal.
    Demo {
        /// Run without the terminal UI (for scripts): use --script or --control-socket.
        #[command(flatten)]
        sim: SimArgs,
        /// ALSA devices for the handset's microphone and earpiece ("" = no audio;
        /// default: "default" when ALSA has it).
        #[arg(long)]
        capture: Option<String>,
        #[arg(long)]
        playback: Option<String>,
    },
    #[cfg(feature = "demo")]
    /// Make the lab of a running `offhook demo` call the handset.
    DemoCall {
        /// The caller's number.
        #[arg(long, default_value = "+12025550170")]
        from: String,
        /// The tone the caller sends (Hz).
        #[arg(long, default_value_t = 440.0)]
        tone: f32,
    },
    /// Check a config file and print what it sets up (exit status 1 if it is bad).
    CheckConfig {
        /// The config file.
        #[arg(default_value = DEFAULT_PATH)]
        file: PathBuf,
    },
    /// Render every screen in both layouts (128x64 mono, 240x320 colour) to PNG files.
    Screens {
        /// Directory to write `<layout>-<screen>.png` into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Enlarge each pixel this many times (1 = the display's own size).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
        scale: u32,
    },
}

/// How the simulated board runs (ignored for real boards).
#[derive(clap::Args, Default)]
struct SimArgs {
    /// Draw the screen in this terminal and read keys from it.
    #[arg(long)]
    terminal: bool,
    /// Run a simulator script (`hook up`, `key 5`, `wait 2s`, …).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Take simulator commands on this Unix socket.
    #[arg(long)]
    control_socket: Option<PathBuf>,
    /// Write every screen as a PNG into this directory.
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Simulate at pin level: keys and hook close contacts on simulated GPIO pins, read by
    /// the real keypad scanner, debouncers and hook-flash timing (wired as the profile's
    /// keypad, buttons and hook, or as the reference builds).
    #[arg(long)]
    sim_pins: bool,
}

impl SimArgs {
    fn options(
        &self,
        profile: &offhook_board::profile::Profile,
    ) -> Result<Option<SimOptions>, String> {
        if profile.display.kind != offhook_board::profile::DisplayKind::Simulated {
            return Ok(None);
        }
        let mut o = SimOptions::from_profile(profile);
        o.terminal = self.terminal;
        if let Some(path) = &self.script {
            o.script = Some(Script::load(path).map_err(|e| e.to_string())?);
        }
        o.control_socket = self.control_socket.clone();
        o.frames_dir = self.frames.clone();
        if self.sim_pins {
            o.pins = Some(SimPins::from_profile(profile).map_err(|e| e.to_string())?);
        }
        o.log = if self.terminal {
            SimLog::Memory
        } else {
            SimLog::Stdout
        };
        Ok(Some(o))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Screens { out, scale } => screens(&out, scale),
        Command::Run { config, sim } => run(&config, &sim),
        Command::Devices => devices(),
        #[cfg(feature = "demo")]
        Command::Demo {
            sim,
            capture,
            playback,
        } => demo(&sim, capture, playback),
        #[cfg(feature = "demo")]
        Command::DemoCall { from, tone } => demo_call(&from, tone),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn run(path: &std::path::Path, sim: &SimArgs) -> ExitCode {
    offhook::systemd::init_logging("info");
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = (|| {
        let profile = offhook::app::board_profile(&config).map_err(|e| e.to_string())?;
        let sim = sim.options(&profile)?;
        let rt = runtime()?;
        rt.block_on(offhook::app::run(
            config,
            RunOptions {
                sim,
                wall_clock: true,
                ..Default::default()
            },
        ))
        .map_err(|e| e.to_string())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offhook: {e}");
            ExitCode::FAILURE
        }
    }
}

fn devices() -> ExitCode {
    let devices = offhook_board::audio::list_devices();
    if devices.is_empty() {
        println!("no ALSA devices found");
        return ExitCode::SUCCESS;
    }
    println!("{:<44} {:<10} description", "name", "use");
    for d in devices {
        let role = match (d.capture, d.playback) {
            (true, true) => "mic+spkr",
            (true, false) => "mic",
            (false, true) => "speaker",
            (false, false) => "-",
        };
        println!("{:<44} {:<10} {}", d.name, role, d.description);
    }
    ExitCode::SUCCESS
}

#[cfg(feature = "demo")]
fn demo(sim: &SimArgs, capture: Option<String>, playback: Option<String>) -> ExitCode {
    let interactive = sim.script.is_none() && sim.control_socket.is_none();
    if !interactive {
        // Scripts get the log on stderr; in the terminal UI it would garble the screen.
        offhook::systemd::init_logging("warn");
    }
    let has_default = offhook_board::audio::list_devices()
        .iter()
        .any(|d| d.name == "default");
    let default_dev = if has_default {
        "default".to_string()
    } else {
        String::new()
    };
    let options = offhook::demo::DemoOptions {
        capture: capture.unwrap_or_else(|| default_dev.clone()),
        playback: playback.unwrap_or(default_dev),
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("offhook-demo-{}", std::process::id()));
    let result = (|| {
        let rt = runtime()?;
        rt.block_on(async {
            let env = offhook::demo::start(&dir, &options).await.map_err(|e| e.to_string())?;
            let note = serde_json::json!({ "control": env.lab.control_url, "phone_number": env.credentials.phone_number });
            let _ = std::fs::write(offhook::demo::state_file(), note.to_string());
            // images/build-debs refuses a binary with this line in it: keep them alike.
            println!("offhook demo: a local Twilio stand-in and token server are running.");
            println!("  lab signaling {}   control {}", env.lab.signaling_addr, env.lab.control_url);
            println!("  token server  {}", env.server.base_url());
            println!("  handset       {} (ext {}), number {}", offhook::demo::DEMO_IDENTITY, offhook::demo::DEMO_EXTENSION, env.credentials.phone_number);
            println!("  audio         {}", if options.capture.is_empty() { "none (no ALSA default device)".to_string() } else { format!("capture {:?}, playback {:?}", options.capture, options.playback) });
            println!();
            println!("Keys: space = lift/hang up · 0-9 * # = dial · Enter = menu · m mute · s speaker · r redial · +/- volume · x reject · q quit");
            println!("Dial 2025550100 (or long-press 2) for the echo test, 2025550101 for a 1 kHz tone.");
            // scripts/demo runs it from target/, not from the PATH: name the file.
            let exe = std::env::current_exe().map_or_else(|_| "offhook".into(), |p| p.display().to_string());
            println!("To receive a call, run in another terminal:  {exe} demo-call");
            if interactive {
                println!("Starting in 3 s…");
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            let config = env.config().map_err(|e| e.to_string())?;
            let profile = offhook::app::board_profile(&config).map_err(|e| e.to_string())?;
            let mut sim_args = SimArgs { terminal: interactive, ..Default::default() };
            sim_args.script = sim.script.clone();
            sim_args.control_socket = sim.control_socket.clone();
            sim_args.frames = sim.frames.clone();
            sim_args.sim_pins = sim.sim_pins;
            let sim = sim_args.options(&profile)?;
            let result = offhook::app::run(config, RunOptions { sim, wall_clock: true, ..Default::default() }).await;
            let _ = std::fs::remove_file(offhook::demo::state_file());
            env.shutdown().await;
            result.map_err(|e| e.to_string())
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offhook demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
fn demo_call(from: &str, tone: f32) -> ExitCode {
    let path = offhook::demo::state_file();
    let note: serde_json::Value = match std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(v) => v,
        None => {
            eprintln!(
                "no running `offhook demo` found ({} is missing)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let control = note["control"].as_str().unwrap_or_default().to_string();
    let to = note["phone_number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let request = offhook_lab::control::types::StartCall {
                from: from.to_string(),
                to,
                caller: offhook_lab::Behaviour::Tone { hz: tone },
                timeout_secs: Some(60),
                params: Vec::new(),
            };
            offhook_lab::control::Client::new(&control)
                .start_inbound_call(&request)
                .await
                .map_err(|e| e.to_string())
        })
    });
    match result {
        Ok(sid) => {
            println!("calling the handset from {from} ({sid})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("offhook demo-call: {e}");
            ExitCode::FAILURE
        }
    }
}

fn screens(out: &std::path::Path, scale: u32) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let mut written = 0;
    for (name, view) in offhook::screens::catalog::catalog() {
        for layout in offhook::screens::Layout::ALL {
            let path = out.join(format!("{}-{name}.png", layout.name()));
            let rendered = offhook::screens::render(&view, layout);
            let result = rendered
                .to_png(scale)
                .map_err(|e| e.to_string())
                .and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()));
            if let Err(e) = result {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            written += 1;
        }
    }
    println!("wrote {written} screens to {}", out.display());
    ExitCode::SUCCESS
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            let local = config.local_only();
            let phone = &local.phone;
            let sources = &phone.sources;
            // Where a value comes from: this file, or the default until offhook-server
            // provisions one.
            let from = |source: offhook::phone::SettingSource| match source {
                offhook::phone::SettingSource::Local => "this file",
                _ => "default; offhook-server may set it",
            };
            println!("{}: OK", file.display());
            println!(
                "  server      {} (device {})",
                config.server.url, config.server.device_id
            );
            println!("  board       {}", config.board_profile);
            println!(
                "  audio       capture {}, playback {}, {} Hz",
                config.audio.capture, config.audio.playback, config.audio.sample_rate
            );
            println!(
                "  country     {} ({}), tones {} ({})",
                local.country.name,
                local.country.iso,
                local.region.name(),
                from(sources.country)
            );
            println!(
                "  digit map   {} rules ({})",
                phone.dial_plan.digit_map().rules().len(),
                from(sources.digit_map)
            );
            println!(
                "  contacts    {} ({})",
                phone.dial_plan.directory().contacts().len(),
                from(sources.contacts)
            );
            println!(
                "  edges       {} ({})",
                phone.edges.join(", "),
                from(sources.edges)
            );
            let policy = match config.device.ice_transport_policy {
                twilio_voice::options::IceTransportPolicy::All => "all candidates",
                twilio_voice::options::IceTransportPolicy::Relay => "relay only",
            };
            match &config.device.ice_servers {
                Some(list) => println!(
                    "  ICE         {} servers from this file, {policy}",
                    list.len()
                ),
                None => println!("  ICE         offhook-server's, with each token, {policy}"),
            }
            println!("  state       {}", config.state_dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
