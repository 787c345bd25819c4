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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
    }
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
