//! `offhook-server`: the token and TwiML webhook server (see the crate docs and README).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use offhook_server::config::{self, Config, LogFormat};
use offhook_server::handsets::{self, HandsetEntry};
use offhook_server::store::Store;
use offhook_server::store::admin::AddAdminError;
use offhook_server::store::directory::DirectoryError;
use offhook_server::{Error, Handsets, admin, secret};

#[derive(Debug, Parser)]
#[command(
    name = "offhook-server",
    version,
    about = "Mints Twilio Voice Access Tokens for offhook handsets, answers Twilio's voice webhooks (ringing, forwarding, do-not-disturb, voicemail), keeps the handsets told of new messages and provisions them, and serves a web interface at /admin.",
    long_about = None,
    after_help = "Settings come from the environment and the .env file: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, \
TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_APP_SID, TWILIO_PHONE_NUMBER (required); OFFHOOK_HANDSETS, \
OFFHOOK_LISTEN, OFFHOOK_ALLOW_PLAIN_HTTP, OFFHOOK_PUBLIC_URL, OFFHOOK_DEFAULT_COUNTRY, OFFHOOK_TOKEN_TTL, \
OFFHOOK_TRUST_PROXY, OFFHOOK_MAX_CONNECTIONS, OFFHOOK_HEADER_TIMEOUT, OFFHOOK_BODY_TIMEOUT, \
OFFHOOK_REQUEST_TIMEOUT, OFFHOOK_MAX_TOKEN_REQUESTS, OFFHOOK_MAX_WEBHOOK_REQUESTS, \
OFFHOOK_MAX_EVENT_STREAMS, OFFHOOK_DATABASE_URL, OFFHOOK_MAILBOX (number|handset), OFFHOOK_DIAL_TIMEOUT, \
OFFHOOK_TWILIO_API_URL, OFFHOOK_ICE_SERVERS (twilio|off), OFFHOOK_LOG_FORMAT. The README's server section explains each."
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
    /// Add a handset to the database with a new random secret (printed once); a running
    /// server sees it within a second.
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
        /// The handsets file: the database is OFFHOOK_DATABASE_URL, or offhook.db beside it.
        #[arg(long, env = config::HANDSETS, default_value = config::DEFAULT_HANDSETS_PATH)]
        handsets: PathBuf,
        /// Append the handset to this handsets file instead of the database (it is imported
        /// at the server's next start).
        #[arg(long, value_name = "PATH")]
        to_file: Option<PathBuf>,
    },
    /// Add an admin account for the web interface (/admin), or with --reset give an existing
    /// one a new password (ending its sessions).
    AddAdmin {
        /// The name to sign in with.
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of generating one (printed once).
        #[arg(long)]
        password_from_stdin: bool,
        /// Set the password of an admin that exists.
        #[arg(long)]
        reset: bool,
        /// The handsets file: the database is OFFHOOK_DATABASE_URL, or offhook.db beside it.
        #[arg(long, env = config::HANDSETS, default_value = config::DEFAULT_HANDSETS_PATH)]
        handsets: PathBuf,
    },
    /// Print a new one-time link that creates the first admin account (only while there is
    /// none; it works for an hour).
    SetupLink,
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
            to_file,
        } => add_handset(
            cli.env_file,
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
            to_file.as_deref(),
        ),
        Command::AddAdmin {
            username,
            password_from_stdin,
            reset,
            handsets,
        } => add_admin(
            cli.env_file,
            &username,
            password_from_stdin,
            reset,
            &handsets,
        ),
        Command::SetupLink => setup_link(cli.env_file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offhook-server: {e}");
            match e {
                Error::MissingSetting { .. }
                | Error::InvalidSetting { .. }
                | Error::EnvFile { .. }
                | Error::Handsets { .. }
                | Error::Refused(_) => ExitCode::from(2),
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
    let entries = Handsets::file_entries(&config.handsets_path)?;
    println!(
        "settings: ok (account {}, number {})",
        config.account_sid, config.phone_number
    );
    if entries.is_empty() {
        println!(
            "handsets: none in {} (the database keeps them: add them in /admin or with `offhook-server add-handset`)",
            config.handsets_path.display()
        );
    } else {
        println!(
            "handsets: {} in {} (imported into the database at start)",
            entries.len(),
            config.handsets_path.display()
        );
    }
    for h in &entries {
        println!(
            "  {:<16} identity {:<16} extension {:<6} {}",
            h.id,
            h.identity.as_deref().unwrap_or(&h.id),
            h.extension,
            h.display_name
        );
    }
    println!(
        "voicemail: {}; database {}; Twilio API {}",
        offhook_server::check::voicemail_summary(&config),
        offhook_server::store::without_password(config.database_url.expose()),
        config.twilio_api_url
    );
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| "https://<your public address>".into());
    println!("Twilio console settings (HTTP POST):");
    for hook in offhook_server::check::webhooks(&config, &base) {
        println!("  {}: {}", hook.place, hook.url);
    }
    println!("Web interface: {base}/admin");
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

/// A runtime for the commands that use the database.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))
}

/// The database the server uses, for a command. A SQLite file must exist already (the server
/// makes it at its first start): a command that made a new one would most likely have the
/// wrong path (run without the server's settings), and the server would never see what it
/// wrote.
async fn open_store(url: &config::Secret) -> Result<Store, Error> {
    if let Some(path) = sqlite_path(url.expose())
        && !path.exists()
    {
        return Err(Error::Refused(format!(
            "there is no database at {}: start offhook-server once (it creates it), or give this \
             command the server's settings (--env-file, OFFHOOK_DATABASE_URL) so that it uses \
             the server's database",
            path.display()
        )));
    }
    Store::open(url.expose()).await
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn add_handset(
    env_file: Option<PathBuf>,
    mut entry: HandsetEntry,
    secret_from_stdin: bool,
    handsets_path: &std::path::Path,
    to_file: Option<&std::path::Path>,
) -> Result<(), Error> {
    let (secret, generated) = if secret_from_stdin {
        (read_secret("secret: ")?, false)
    } else {
        (secret::generate(), true)
    };
    entry.secret_hash = secret::hash(&secret)?;
    let (handset, place) = match to_file {
        Some(path) => (
            handsets::append_to_file(path, entry)?,
            path.display().to_string(),
        ),
        None => {
            let url = Config::database_url_from_env(env_file.as_deref(), Some(handsets_path))?;
            let now = unix_now();
            let added = runtime()?.block_on(async {
                let store = open_store(&url).await?;
                let added = store.add_handset(entry, now).await;
                store.close().await;
                Ok::<_, Error>(added)
            })?;
            let handset = added.map_err(|e| match e {
                DirectoryError::Invalid(problem) => {
                    Error::Refused(format!("cannot add the handset: {problem}"))
                }
                DirectoryError::NotFound => Error::Refused("cannot add the handset".into()),
                DirectoryError::Store(e) => e,
            })?;
            (
                handset,
                format!(
                    "the database {}",
                    offhook_server::store::without_password(url.expose())
                ),
            )
        }
    };
    println!(
        "Added handset {} (identity {}, extension {}) to {place}.",
        handset.id, handset.identity, handset.extension,
    );
    if generated {
        println!("Its secret, shown only now; put it in the handset's configuration:");
        println!("{secret}");
    }
    Ok(())
}

fn add_admin(
    env_file: Option<PathBuf>,
    username: &str,
    password_from_stdin: bool,
    reset: bool,
    handsets_path: &std::path::Path,
) -> Result<(), Error> {
    let username = admin::check_username(username).map_err(Error::Refused)?;
    let (password, generated) = if password_from_stdin {
        let password = read_secret("password: ")?;
        admin::check_password(&password).map_err(Error::Refused)?;
        (password, false)
    } else {
        (secret::generate(), true)
    };
    let hash = secret::hash(&password)?;
    let url = Config::database_url_from_env(env_file.as_deref(), Some(handsets_path))?;
    let now = unix_now();
    runtime()?.block_on(async {
        let store = open_store(&url).await?;
        let result = if reset {
            match store.set_admin_password(username, &hash).await? {
                true => Ok(()),
                false => Err(Error::Refused(format!(
                    "there is no admin {username:?} to reset"
                ))),
            }
        } else {
            match store.add_admin(username, &hash, now, None).await {
                Ok(_) => Ok(()),
                Err(AddAdminError::Exists) => Err(Error::Refused(format!(
                    "the admin {username:?} exists already (--reset gives it a new password)"
                ))),
                Err(AddAdminError::SetupLinkInvalid) => {
                    Err(Error::Refused("the setup link is not valid".into()))
                }
                Err(AddAdminError::Store(e)) => Err(e),
            }
        };
        store.close().await;
        result
    })?;
    if reset {
        println!("Gave the admin {username} a new password; their sessions have ended.");
    } else {
        println!("Added the admin {username}: sign in at <server>/admin.");
    }
    if generated {
        println!("The password, shown only now:");
        println!("{password}");
    }
    Ok(())
}

fn setup_link(env_file: Option<PathBuf>) -> Result<(), Error> {
    let config = Config::from_env(env_file.as_deref())?;
    let now = unix_now();
    let base = admin::setup_base_url(&config, config.listen);
    let link = runtime()?.block_on(async {
        let store = open_store(&config.database_url).await?;
        let link = admin::new_setup_link(&store, &base, now).await;
        store.close().await;
        link
    })?;
    match link {
        Some(link) => {
            println!("{link}");
            Ok(())
        }
        None => Err(Error::Refused(
            "an admin account exists already: sign in, or run `offhook-server add-admin --reset`"
                .into(),
        )),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
