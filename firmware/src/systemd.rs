//! systemd integration for `Type=notify` with `WatchdogSec=`: readiness, status text, watchdog
//! pings paced by the main loop and sent only while every part that must run (the Device's
//! task, the audio mixer) still beats its heartbeat (so a hung loop or a dead part gets the
//! service restarted), a stopping notice, and logging to the journal when systemd runs us.

use std::io;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use twilio_voice::liveness::Heartbeat;

/// A part whose heartbeat is older than this is stuck: the watchdog is not pinged. (The
/// Device's task beats every second, the audio mixer every period or 100 ms.)
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// A part the watchdog vouches for, by name (for the log).
pub type Part<'a> = (&'a str, &'a Heartbeat);

/// The first part that is dead or stuck at `now`, if any.
pub fn stale_part<'a>(parts: &[Part<'a>], now: Instant) -> Option<&'a str> {
    parts
        .iter()
        .find(|(_, beat)| !beat.is_fresh(now, STALE_AFTER))
        .map(|(name, _)| *name)
}

/// What [`Systemd::on_timeout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// No watchdog, or not due yet.
    NotDue,
    Sent,
    /// Due, but this part is dead or stuck: no ping, so systemd restarts us.
    Refused(String),
}

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

    /// Call from the main loop: pings the watchdog if it is due and every one of `parts` is
    /// alive.
    pub fn on_timeout(&mut self, now: Instant, parts: &[Part<'_>]) -> io::Result<Ping> {
        match (self.next_ping, self.ping_every) {
            (Some(at), Some(every)) if at <= now => {
                self.next_ping = Some(now + every);
                if let Some(stale) = stale_part(parts, now) {
                    return Ok(Ping::Refused(stale.to_string()));
                }
                sd_notify::notify(&[NotifyState::Watchdog])?;
                Ok(Ping::Sent)
            }
            _ => Ok(Ping::NotDue),
        }
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
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(io::stderr)
                    // Colour only for a person at a terminal, never into a file or a pipe.
                    .with_ansi(io::IsTerminal::is_terminal(&io::stderr())),
            )
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

    #[test]
    fn watchdog_pings_at_half_the_timeout() {
        let t0 = Instant::now();
        let mut sd = Systemd::with_watchdog(Some(Duration::from_secs(30)), t0);
        assert_eq!(sd.poll_timeout(), Some(t0 + Duration::from_secs(15)));
        assert_eq!(
            sd.on_timeout(t0 + Duration::from_secs(14), &[])
                .expect("no socket: fine"),
            Ping::NotDue
        );
        assert_eq!(
            sd.on_timeout(t0 + Duration::from_secs(15), &[])
                .expect("no socket: fine"),
            Ping::Sent
        );
        assert_eq!(sd.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        let none = Systemd::with_watchdog(None, t0);
        assert_eq!(none.poll_timeout(), None);
    }

    /// Issue 15: the main loop alone pinged the watchdog, so a dead Device or a stuck audio
    /// mixer went unnoticed. A stale or ended heartbeat now withholds the ping.
    #[test]
    fn the_watchdog_is_not_pinged_for_a_stale_or_dead_part() {
        let t0 = Instant::now();
        let mut sd = Systemd::with_watchdog(Some(Duration::from_secs(30)), t0);
        let device = Heartbeat::started_at(t0);
        let audio = Heartbeat::started_at(t0);
        let at = t0 + Duration::from_secs(15);
        device.beat_at(at);
        audio.beat_at(at - STALE_AFTER - Duration::from_secs(1));
        let parts = [("device", &device), ("audio", &audio)];
        assert_eq!(stale_part(&parts, at), Some("audio"));
        assert_eq!(
            sd.on_timeout(at, &parts).expect("no socket: fine"),
            Ping::Refused("audio".into())
        );
        // Both beat again: the next ping goes out.
        audio.beat_at(at + Duration::from_secs(15));
        device.beat_at(at + Duration::from_secs(15));
        assert_eq!(
            sd.on_timeout(at + Duration::from_secs(15), &parts)
                .expect("no socket: fine"),
            Ping::Sent
        );
        // A part whose loop has ended never counts as alive, however recent its last beat.
        device.end();
        assert_eq!(
            sd.on_timeout(at + Duration::from_secs(30), &parts)
                .expect("no socket: fine"),
            Ping::Refused("device".into())
        );
    }

    /// Runs in a child process with `NOTIFY_SOCKET` set (see the test below).
    #[test]
    #[ignore = "run by notifications_reach_the_socket in a child process"]
    fn child_sends_notifications() {
        let t0 = Instant::now();
        let mut sd = Systemd::with_watchdog(Some(Duration::from_secs(2)), t0);
        sd.ready("Ready (ashburn)").expect("ready");
        sd.on_timeout(t0 + Duration::from_secs(1), &[])
            .expect("ping");
        sd.stopping().expect("stopping");
    }

    /// This test binary as a command, run the way cargo ran it: under the cross runner
    /// (`CARGO_TARGET_<TRIPLE>_RUNNER`, e.g. `qemu-aarch64 -L /` in `scripts/cross-build`)
    /// when there is one for this architecture, so the child does not depend on binfmt.
    fn this_test_binary() -> Command {
        let exe = std::env::current_exe().expect("test binary");
        let arch = std::env::consts::ARCH.to_uppercase();
        let runner = std::env::vars().find(|(key, _)| {
            key.starts_with("CARGO_TARGET_") && key.ends_with("_RUNNER") && key.contains(&arch)
        });
        match runner {
            Some((_, runner)) => {
                let mut words = runner.split_whitespace();
                let mut command = Command::new(words.next().expect("a runner command"));
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        }
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let output = this_test_binary()
            .args([
                "--exact",
                "systemd::tests::child_sends_notifications",
                "--ignored",
                "--test-threads=1",
            ])
            .env("NOTIFY_SOCKET", &path)
            .output()
            .expect("run child");
        assert!(
            output.status.success(),
            "child: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
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
            "Restart=always",
            "StartLimitIntervalSec=300",
            "StartLimitBurst=20",
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
