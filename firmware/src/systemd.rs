//! systemd integration for `Type=notify` with `WatchdogSec=`: readiness, status text, watchdog
//! pings paced by the main loop (so a hung loop gets the service restarted), a stopping notice,
//! and logging to the journal when systemd runs us.

use std::io;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use crate::phone::view::{Screen, View};

/// Talks to systemd when `NOTIFY_SOCKET` is set; does nothing otherwise.
#[derive(Debug, Clone)]
pub struct Systemd {
    /// How often to ping: half of `WatchdogSec=`.
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
}

impl Systemd {
    /// Reads `WATCHDOG_USEC` / `WATCHDOG_PID` from the environment.
    pub fn from_env(now: Instant) -> Systemd {
        Systemd::with_watchdog(sd_notify::watchdog_enabled(), now)
    }

    /// With an explicit watchdog timeout (`None` = no watchdog).
    pub fn with_watchdog(timeout: Option<Duration>, now: Instant) -> Systemd {
        let ping_every = timeout.filter(|t| !t.is_zero()).map(|t| t / 2);
        Systemd {
            ping_every,
            next_ping: ping_every.map(|every| now + every),
        }
    }

    /// Start-up is done (config read, devices open): `READY=1`.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)])
    }

    /// `STATUS=…`, shown by `systemctl status`.
    pub fn status(&self, status: &str) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Status(status)])
    }

    /// Shutting down (after hanging up any call): `STOPPING=1`.
    pub fn stopping(&self) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("Stopping")])
    }

    /// When the next watchdog ping is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }

    /// Call from the main loop: pings the watchdog if it is due. Returns whether it pinged.
    pub fn on_timeout(&mut self, now: Instant) -> io::Result<bool> {
        match (self.next_ping, self.ping_every) {
            (Some(at), Some(every)) if at <= now => {
                self.next_ping = Some(now + every);
                sd_notify::notify(&[NotifyState::Watchdog])?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// A one-line status for `systemctl status`, from what the screen shows.
pub fn status_line(view: &View) -> String {
    let registration = view.status.registration.label();
    match &view.screen {
        Screen::InCall {
            party,
            elapsed_secs,
            ..
        } => format!(
            "In call with {} ({})",
            party.headline(),
            crate::clock::format_duration(Duration::from_secs(*elapsed_secs))
        ),
        Screen::Calling { party, .. } => format!("Calling {}", party.headline()),
        Screen::Incoming { party } => format!("Ringing: {}", party.headline()),
        Screen::Error {
            code: Some(code),
            title,
            ..
        } => format!("{registration}: error {code} ({title})"),
        Screen::Error { title, .. } | Screen::NoService { title, .. } => {
            format!("{registration}: {title}")
        }
        _ => match &view.status.edge {
            Some(edge) => format!("{registration} ({edge})"),
            None => registration.to_string(),
        },
    }
}

/// Logs to the journal when started by systemd (`JOURNAL_STREAM` set), else to stderr.
/// `default_filter` applies unless `RUST_LOG` says otherwise (e.g. `"info"`).
pub fn init_logging(default_filter: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    let registry = tracing_subscriber::registry().with(filter);
    let result = match journald {
        Some(layer) => registry.with(layer).try_init(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(io::stderr))
            .try_init(),
    };
    // Already initialised (tests, embedding): keep the existing subscriber.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::process::Command;

    use super::*;
    use crate::state_file::tests::TempDir;

    #[test]
    fn watchdog_pings_at_half_the_timeout() {
        let t0 = Instant::now();
        let mut sd = Systemd::with_watchdog(Some(Duration::from_secs(30)), t0);
        assert_eq!(sd.poll_timeout(), Some(t0 + Duration::from_secs(15)));
        assert!(
            !sd.on_timeout(t0 + Duration::from_secs(14))
                .expect("no socket: fine")
        );
        assert!(
            sd.on_timeout(t0 + Duration::from_secs(15))
                .expect("no socket: fine")
        );
        assert_eq!(sd.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        let none = Systemd::with_watchdog(None, t0);
        assert_eq!(none.poll_timeout(), None);
    }

    /// Runs in a child process with `NOTIFY_SOCKET` set (see the test below).
    #[test]
    #[ignore = "run by notifications_reach_the_socket in a child process"]
    fn child_sends_notifications() {
        let t0 = Instant::now();
        let mut sd = Systemd::with_watchdog(Some(Duration::from_secs(2)), t0);
        sd.ready("Ready (ashburn)").expect("ready");
        sd.on_timeout(t0 + Duration::from_secs(1)).expect("ping");
        sd.stopping().expect("stopping");
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = TempDir::new("notify");
        let path = dir.0.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let exe = std::env::current_exe().expect("test binary");
        let status = Command::new(exe)
            .args([
                "--exact",
                "systemd::tests::child_sends_notifications",
                "--ignored",
                "--test-threads=1",
            ])
            .env("NOTIFY_SOCKET", &path)
            .status()
            .expect("run child");
        assert!(status.success());
        let mut messages = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            let n = socket.recv(&mut buf).expect("a notification");
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(messages[0], "READY=1\nSTATUS=Ready (ashburn)\n");
        assert_eq!(messages[1], "WATCHDOG=1\n");
        assert_eq!(messages[2], "STOPPING=1\nSTATUS=Stopping\n");
    }

    #[test]
    fn status_lines_follow_the_screen() {
        let catalog = crate::screens::catalog::catalog();
        let find = |name: &str| {
            catalog
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| status_line(v))
                .expect("screen in catalog")
        };
        assert_eq!(find("idle"), "Ready (ashburn)");
        assert_eq!(find("in-call"), "In call with Mum (1:06)");
        assert_eq!(
            find("error-31202"),
            "No token: error 31202 (Bad credentials)"
        );
        assert_eq!(find("incoming"), "Ringing: Mum");
    }
}

#[cfg(test)]
mod unit_file {
    /// The shipped unit keeps the properties the firmware relies on.
    #[test]
    fn shipped_unit_is_notify_with_watchdog_and_restart() {
        let unit = include_str!("../offhook.service");
        let has = |line: &str| unit.lines().any(|l| l.trim() == line);
        for line in [
            "Type=notify",
            "NotifyAccess=main",
            "WatchdogSec=30",
            "Restart=on-failure",
            "User=offhook",
            "SupplementaryGroups=audio gpio i2c spi video input",
            "StandardOutput=journal",
            "StateDirectory=offhook",
            "WantedBy=multi-user.target",
        ] {
            assert!(has(line), "offhook.service lacks {line}");
        }
    }
}
