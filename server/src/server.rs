//! Serving the router: on a listener of the caller's (the lab and `offhook demo` run the
//! server in-process), or as the `offhook-server` daemon until SIGTERM.
//!
//! The accept loop is the first defence against slow and flooding clients: at most
//! [`ServerLimits::max_connections`] connections are served at once (the rest wait in the
//! listen queue, so file descriptors stay bounded), and a connection that has not sent a
//! request's headers within [`ServerLimits::header_timeout`] -- a new one, or an idle
//! keep-alive one -- is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::Error;
use crate::config::{Config, ServerLimits};
use crate::handsets::Handsets;
use crate::http::{AppState, app};

/// How long requests in flight may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of file descriptors, say), so the loop does not
/// spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(250);

/// Asks a running server to stop; cheap to clone and hand around.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A server started by [`start`].
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: ShutdownHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The address the server actually listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<address>`, for clients in the same process.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Stops accepting connections, lets requests in flight finish (at most
    /// [`SHUTDOWN_GRACE`]), and waits for the server to stop.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.shutdown.shutdown();
        self.wait().await
    }

    /// Waits until the server stops (after any [`ShutdownHandle::shutdown`]).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

async fn stop_requested(mut rx: watch::Receiver<bool>) {
    // An error means every handle is gone: nobody can ask any more, so keep serving.
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves `state` on `listener` in a background task; with a store, voicemail's retries run
/// beside it ([`crate::worker`]) until it stops, and so does the refresher of the ICE servers
/// (unless `OFFHOOK_ICE_SERVERS=off`).
pub fn start(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let limits = state.config.limits;
    if state.store.is_some() {
        crate::worker::spawn(Arc::clone(&state), rx.clone());
    }
    if state.handsets_in_store() {
        crate::worker::spawn_handsets_reloader(Arc::clone(&state), rx.clone());
    }
    if state.config.ice_servers == crate::config::IceServersMode::Twilio {
        crate::worker::spawn_ice_refresher(Arc::clone(&state), rx.clone());
    }
    let task = tokio::spawn(serve(listener, Arc::clone(&state), limits, rx));
    Ok(RunningServer {
        local_addr,
        shutdown: ShutdownHandle(Arc::new(tx)),
        task,
    })
}

/// Accepts connections until asked to stop, then lets requests in flight finish (at most
/// [`SHUTDOWN_GRACE`]).
async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let router: Router = app(Arc::clone(&state));
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let stopping = stop_requested(stop);
    tokio::pin!(stopping);
    loop {
        // A slot first: past the cap, connections wait in the kernel's listen queue.
        let slot = tokio::select! {
            slot = Arc::clone(&connection_slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stopping => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                // Timeouts and clients that vanish end up here; nothing to do about them.
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    // Event streams never end by themselves: end them, so that their connections can close.
    state.push.stop();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still running after the shutdown grace period; stopping anyway");
        }
    }
    Ok(())
}

/// Binds `addr` (port 0 picks a free port) and serves `state` there.
pub async fn start_at(state: Arc<AppState>, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    start(state, listener)
}

/// Imports the handsets file into the database (each handset the database has never had),
/// saying in the log what it did and what it left.
pub async fn import_handsets_file(
    store: &crate::store::Store,
    path: &std::path::Path,
    now: crate::store::UnixSeconds,
) -> Result<(), Error> {
    let owned = path.to_path_buf();
    let entries = tokio::task::spawn_blocking(move || Handsets::file_entries(&owned))
        .await
        .map_err(|e| Error::io("reading the handsets file", std::io::Error::other(e)))??;
    let file = path.display().to_string();
    let done = store.import_handsets(entries, now).await?;
    if !done.added.is_empty() {
        tracing::info!(%file, handsets = ?done.added, "handsets imported from the handsets file");
    }
    for id in &done.removed_before {
        tracing::warn!(%file, handset = %id, "a handset of the handsets file was removed in /admin: not imported again");
    }
    for id in &done.differing {
        tracing::warn!(%file, handset = %id, "a handset of the handsets file differs from the database's: the database's is used (edit it in /admin)");
    }
    for (id, problem) in &done.refused {
        tracing::error!(%file, handset = %id, %problem, "a handset of the handsets file clashes with the database's: not imported");
    }
    Ok(())
}

/// The daemon: opens the database, imports the handsets file into it, serves on
/// `config.listen`, and shuts down cleanly on SIGTERM or Ctrl-C. While there is no admin
/// account it logs a one-time setup link ([`crate::admin::SETUP_LINK_LOG`]).
pub async fn run(config: Config) -> Result<(), Error> {
    let listen = config.listen;
    match &config.public_url {
        Some(url) => tracing::info!(
            voice_url = %format!("{url}/hooks/voice"),
            connect_url = %format!("{url}/hooks/call/connect"),
            "webhook URLs to set in the Twilio console"
        ),
        None => tracing::warn!(
            "OFFHOOK_PUBLIC_URL is not set: webhook signatures are checked against this request's Host header"
        ),
    }
    let store = crate::store::Store::open(config.database_url.expose()).await?;
    tracing::info!(database = %store.url(), "database ready");
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let now = i64::try_from(clock.unix_now()).unwrap_or(i64::MAX);
    import_handsets_file(&store, &config.handsets_path, now).await?;
    let state = AppState::from_store(config, store.clone(), clock).await?;
    tracing::info!(
        account = %state.config.account_sid,
        number = %state.config.phone_number,
        handsets = state.handsets().len(),
        default_country = state.config.default_country.iso,
        token_ttl = state.config.token_ttl_secs,
        "offhook-server starting"
    );
    let config = state.config.clone();
    let server = start_at(state, listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen}"), e))?;
    let base = crate::admin::setup_base_url(&config, server.local_addr());
    if let Some(url) = crate::admin::new_setup_link(&store, &base, now).await? {
        tracing::warn!(
            url = %url,
            expires_in_minutes = crate::admin::SETUP_LINK_TTL_SECS / 60,
            "{}",
            crate::admin::SETUP_LINK_LOG
        );
    }
    tracing::info!(address = %server.local_addr(), "listening");
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("shutting down");
        handle.shutdown();
    });
    server.wait().await.map_err(|e| Error::io("serving", e))?;
    tracing::info!("stopped");
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
