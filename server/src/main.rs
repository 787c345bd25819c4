//! `offhook-server`: the token and TwiML webhook server (see the crate docs and README).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use offhook_server::config::{self, Config, LogFormat};
use offhook_server::handsets::{self, HandsetEntry};
use offhook_server::{Error, Handsets, secret};

#[derive(Debug, Parser)]
#[command(
    name = "offhook-server",
    version,
    about = "Mints Twilio Voice Access Tokens for offhook handsets, answers Twilio's voice webhooks (ringing, forwarding, do-not-disturb, voicemail) and keeps the handsets told of new messages.",
    long_about = None,
    after_help = "Settings come from the environment and the .env file: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, \
TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_APP_SID, TWILIO_PHONE_NUMBER (required); OFFHOOK_HANDSETS, \
OFFHOOK_LISTEN, OFFHOOK_ALLOW_PLAIN_HTTP, OFFHOOK_PUBLIC_URL, OFFHOOK_DEFAULT_COUNTRY, OFFHOOK_TOKEN_TTL, \
OFFHOOK_TRUST_PROXY, OFFHOOK_MAX_CONNECTIONS, OFFHOOK_HEADER_TIMEOUT, OFFHOOK_BODY_TIMEOUT, \
OFFHOOK_REQUEST_TIMEOUT, OFFHOOK_MAX_TOKEN_REQUESTS, OFFHOOK_MAX_WEBHOOK_REQUESTS, \
OFFHOOK_MAX_EVENT_STREAMS, OFFHOOK_DATABASE_URL, OFFHOOK_MAILBOX (number|handset), OFFHOOK_DIAL_TIMEOUT, \
OFFHOOK_TWILIO_API_URL, OFFHOOK_LOG_FORMAT. The README's server section explains each."
)]
struct Cli {
    /// Read settings from this file as well as the environment (default: ./.env if present).
    #[arg(long, global = true, value_name = "PATH")]
    env_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the token endpoint and the webhooks (the default).
    Serve,
    /// Check the settings and the handsets file, then print the webhook URLs.
    Check,
    /// Print the Argon2id hash of a secret read from standard input, for a handsets file.
    HashSecret {
        /// Make a new random secret instead, and print it with its hash.
        #[arg(long)]
        generate: bool,
    },
    /// Add a handset to the handsets file with a new random secret (printed once).
    AddHandset {
        /// The id the handset logs in with.
        #[arg(long)]
        id: String,
        /// Its Voice identity (default: the id).
        #[arg(long)]
        identity: Option<String>,
        /// What other handsets dial to reach it.
        #[arg(long)]
        extension: String,
        /// The name shown to people it calls.
        #[arg(long)]
        name: String,
        /// A number whose calls ring it (repeatable; default: TWILIO_PHONE_NUMBER).
        #[arg(long = "number", value_name = "E164")]
        numbers: Vec<String>,
        /// Read the secret from standard input instead of generating one.
        #[arg(long)]
        secret_from_stdin: bool,
        /// The handsets file.
        #[arg(long, env = config::HANDSETS, default_value = config::DEFAULT_HANDSETS_PATH)]
        handsets: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.env_file),
        Command::Check => check(cli.env_file),
        Command::HashSecret { generate } => hash_secret(generate),
        Command::AddHandset {
            id,
            identity,
            extension,
            name,
            numbers,
            secret_from_stdin,
            handsets,
        } => add_handset(
            HandsetEntry {
                id,
                identity,
                extension,
                display_name: name,
                secret_hash: String::new(),
                numbers,
            },
            secret_from_stdin,
            &handsets,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offhook-server: {e}");
            match e {
                Error::MissingSetting { .. }
                | Error::InvalidSetting { .. }
                | Error::EnvFile { .. }
                | Error::Handsets { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn serve(env_file: Option<PathBuf>) -> Result<(), Error> {
    let config = Config::from_env(env_file.as_deref())?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    runtime.block_on(offhook_server::run(config))
}

fn check(env_file: Option<PathBuf>) -> Result<(), Error> {
    let config = Config::from_env(env_file.as_deref())?;
    let handsets = Handsets::load(&config.handsets_path)?;
    println!(
        "settings: ok (account {}, number {})",
        config.account_sid, config.phone_number
    );
    println!(
        "handsets: {} in {}",
        handsets.len(),
        config.handsets_path.display()
    );
    for h in handsets.iter() {
        println!(
            "  {:<16} identity {:<16} extension {:<6} {}",
            h.id, h.identity, h.extension, h.display_name
        );
    }
    let mailbox = match config.mailbox_mode {
        config::MailboxMode::Number => "number",
        config::MailboxMode::Handset => "handset",
    };
    println!(
        "voicemail: one mailbox per {mailbox}, calls ring {} s; database {}; Twilio API {}",
        config.dial_timeout_secs,
        offhook_server::store::without_password(config.database_url.expose()),
        config.twilio_api_url
    );
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| "https://<your public address>".into());
    println!("Twilio console settings:");
    println!(
        "  phone number {} → A call comes in → Webhook: {base}/hooks/voice (HTTP POST)",
        config.phone_number
    );
    println!(
        "  TwiML app {} → Voice request URL: {base}/hooks/call/connect (HTTP POST)",
        config.app_sid
    );
    Ok(())
}

fn hash_secret(generate: bool) -> Result<(), Error> {
    if generate {
        let secret = secret::generate();
        println!("secret: {secret}");
        println!("secret_hash: {}", secret::hash(&secret)?);
        return Ok(());
    }
    let secret = read_secret("secret: ")?;
    println!("{}", secret::hash(&secret)?);
    Ok(())
}

fn add_handset(
    mut entry: HandsetEntry,
    secret_from_stdin: bool,
    path: &std::path::Path,
) -> Result<(), Error> {
    let (secret, generated) = if secret_from_stdin {
        (read_secret("secret: ")?, false)
    } else {
        (secret::generate(), true)
    };
    entry.secret_hash = secret::hash(&secret)?;
    let handset = handsets::append_to_file(path, entry)?;
    println!(
        "Added handset {} (identity {}, extension {}) to {}.",
        handset.id,
        handset.identity,
        handset.extension,
        path.display()
    );
    if generated {
        println!("Its secret, shown only now; put it in the handset's configuration:");
        println!("{secret}");
    }
    Ok(())
}

/// One line from standard input, without its line ending.
fn read_secret(prompt: &str) -> Result<String, Error> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("cannot read the secret from standard input", e))?;
    let secret = line.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(Error::Hash("the secret is empty".into()));
    }
    Ok(secret)
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never into journald or a file.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
