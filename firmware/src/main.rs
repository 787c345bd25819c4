//! `offhook`: the handset's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use offhook::config::{Config, DEFAULT_PATH};

#[derive(Parser)]
#[command(
    name = "offhook",
    version,
    about = "A Twilio Voice desk handset for the Raspberry Pi"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Screens { out, scale } => screens(&out, scale),
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
            let phone = config.phone_config();
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
                "  country     {} ({}), tones {}",
                config.country.name,
                config.country.iso,
                config.region.name()
            );
            println!(
                "  digit map   {} rules",
                phone.dial_plan.digit_map().rules().len()
            );
            println!(
                "  contacts    {}",
                phone.dial_plan.directory().contacts().len()
            );
            println!("  edges       {}", config.device.edge.join(", "));
            println!("  state       {}", config.state_dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
