//! Serving the router: on a listener of the caller's (the lab and `offhook demo` run the
//! server in-process), or as the `offhook-server` daemon until SIGTERM.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::config::Config;
use crate::handsets::Handsets;
use crate::http::{AppState, app};

/// How long requests in flight may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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

/// Serves `state` on `listener` in a background task.
pub fn start(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let graceful = axum::serve(listener, service)
        .with_graceful_shutdown(stop_requested(rx.clone()))
        .into_future();
    let task = tokio::spawn(async move {
        tokio::select! {
            result = graceful => result,
            () = async {
                stop_requested(rx).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("requests still running after the shutdown grace period; stopping anyway");
                Ok(())
            }
        }
    });
    Ok(RunningServer {
        local_addr,
        shutdown: ShutdownHandle(Arc::new(tx)),
        task,
    })
}

/// Binds `addr` (port 0 picks a free port) and serves `state` there.
pub async fn start_at(state: Arc<AppState>, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    start(state, listener)
}

/// The daemon: loads the handsets file, serves on `config.listen`, and shuts down cleanly
/// on SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), Error> {
    let path = config.handsets_path.clone();
    let handsets = tokio::task::spawn_blocking(move || Handsets::load(&path))
        .await
        .map_err(|e| Error::io("loading the handsets file", std::io::Error::other(e)))??;
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
    tracing::info!(
        account = %config.account_sid,
        number = %config.phone_number,
        handsets = handsets.len(),
        default_country = config.default_country.iso,
        token_ttl = config.token_ttl_secs,
        "offhook-server starting"
    );
    let state = AppState::new(config, handsets);
    let server = start_at(state, listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen}"), e))?;
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
