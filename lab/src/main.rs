//! `offhook-lab`: run the lab from the command line (see the library docs for the contract).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use offhook_lab::{Credentials, Lab, LabConfig, LabError};

/// A local Twilio Voice stand-in. Prints one JSON line on stdout when ready; logs to stderr.
#[derive(Parser, Debug)]
#[command(name = "offhook-lab", version)]
struct Args {
    /// The `.env` file with the Twilio credentials (the same the server reads).
    #[arg(long)]
    env: Option<PathBuf>,
    /// Use generated credentials instead of `--env` (printed to stderr).
    #[arg(long, conflicts_with = "env")]
    generate_credentials: bool,
    /// Signaling (WSS) address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Control API address (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// IP for media sockets and SDP candidates (default: the listen IP).
    #[arg(long)]
    media_ip: Option<std::net::IpAddr>,
    /// The TwiML app's Voice URL (outgoing calls). Without it: built-in routing.
    #[arg(long)]
    app_url: Option<String>,
    /// The phone number's Voice URL (inbound calls). Without it: built-in routing.
    #[arg(long)]
    number_url: Option<String>,
    /// Add or replace a virtual number: NUMBER=KIND with KIND echo, tone:HZ, dtmf, silence,
    /// busy, no-answer, decline or slow:SECS. Repeatable.
    #[arg(long = "virtual-number", value_name = "NUMBER=KIND", value_parser = offhook_lab::VirtualNumber::parse)]
    virtual_numbers: Vec<offhook_lab::VirtualNumber>,
    /// Where to write the CA certificate (default: a temporary file).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Serve this certificate chain (PEM) instead of a generated one; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// What `connected` carries: `full` (region, gateway, edge, home, token) or `seed`
    /// (only region and gateway, as Twilio sent in the seed capture).
    #[arg(long, default_value = "full", value_name = "full|seed")]
    connected_form: offhook_lab::config::ConnectedForm,
    /// Recording media URLs need HTTP Basic auth (the account's SID and auth token, or an
    /// API key), as when a Twilio account enforces HTTP auth on media.
    #[arg(long)]
    enforce_media_auth: bool,
    /// An ICE server the Network Traversal Service's Tokens resource hands out:
    /// `URL[,URL…][|USERNAME|CREDENTIAL]`. Repeatable.
    #[arg(long = "ice-server", value_name = "URLS|USER|CREDENTIAL", value_parser = offhook_lab::IceServer::parse)]
    ice_servers: Vec<offhook_lab::IceServer>,
    /// The `ttl` the Tokens resource answers with when asked for none, seconds.
    #[arg(long, default_value_t = offhook_lab::config::DEFAULT_ICE_SERVERS_TTL_SECS)]
    ice_servers_ttl: u64,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("offhook_lab=info")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("offhook-lab: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("offhook-lab: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), LabError> {
    let credentials = match (&args.env, args.generate_credentials) {
        (Some(path), _) => Credentials::from_env_file(path)?,
        (None, true) => {
            let c = Credentials::generate();
            eprint!("{}", c.to_env_text());
            c
        }
        (None, false) => {
            return Err(LabError::Config(
                "--env FILE is required (or --generate-credentials)".into(),
            ));
        }
    };
    let mut config = LabConfig::new(credentials);
    config.listen = args.listen;
    config.control_listen = args.control;
    config.media_ip = args.media_ip;
    config.app_url = args.app_url;
    config.number_url = args.number_url;
    config.ca_cert_path = args.ca_cert;
    config.connected_form = args.connected_form;
    config.enforce_media_auth = args.enforce_media_auth;
    config.ice_servers = args.ice_servers;
    config.ice_servers_ttl_secs = args.ice_servers_ttl;
    for v in args.virtual_numbers {
        config
            .virtual_numbers
            .retain(|existing| existing.number != v.number);
        config.virtual_numbers.push(v);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| LabError::Config(format!("cannot read {}: {e}", p.display())))
        };
        config.tls = offhook_lab::TlsSource::Pem {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
    }
    let lab = Lab::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", lab.startup_line());
        let _ = out.flush();
    }
    wait_for_signal().await;
    tracing::info!("stopping");
    lab.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
