//! Status reports to offhook-server (`POST /api/handset/status`), for its admin page: at
//! start, every minute, and soon after the registration, the edge or the last error changes.
//!
//! - [`StatusSchedule`] — when to send, sans-IO: now at start; `period` after each report
//!   (sent or failed: a failure is retried at the next tick); at once after a change, but never
//!   sooner than `min_gap` after the last report (a Device flapping between states cannot
//!   flood the server).
//! - [`StatusReporter`] — the task: the glue updates the [`StatusFacts`] (registration, edge,
//!   last error) as they change; the task adds the firmware version, the local address the
//!   server is reached from and the uptime, and sends one report at a time, each bounded by
//!   the endpoint's timeout, off the phone's loop. Dropping the reporter stops the task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::ServerEndpoint;
use crate::api::provisioning::{Registration, StatusReport, post_status};

/// The period of the reports.
pub const STATUS_PERIOD: Duration = Duration::from_secs(60);
/// The shortest time between two reports.
pub const STATUS_MIN_GAP: Duration = Duration::from_secs(1);

/// When reports go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusTiming {
    pub period: Duration,
    pub min_gap: Duration,
}

impl Default for StatusTiming {
    fn default() -> Self {
        StatusTiming {
            period: STATUS_PERIOD,
            min_gap: STATUS_MIN_GAP,
        }
    }
}

/// Decides when the next report goes out.
#[derive(Debug, Clone)]
pub struct StatusSchedule {
    timing: StatusTiming,
    next: Instant,
    last: Option<Instant>,
}

impl StatusSchedule {
    /// The first report is due at once.
    pub fn new(timing: StatusTiming, now: Instant) -> StatusSchedule {
        StatusSchedule {
            timing,
            next: now,
            last: None,
        }
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next
    }

    /// Whether a report is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Something reported changed: report it soon.
    pub fn on_change(&mut self, now: Instant) {
        let soonest = match self.last {
            Some(last) => (last + self.timing.min_gap).max(now),
            None => now,
        };
        self.next = self.next.min(soonest);
    }

    /// A report went out (or failed, said in the log): the next one is a period from now.
    pub fn on_sent(&mut self, now: Instant) {
        self.last = Some(now);
        self.next = now + self.timing.period;
    }
}

/// What the glue knows and the report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFacts {
    pub registration: Registration,
    pub edge: Option<String>,
    /// `31205 Token expired` ([`StatusReport::error_text`]).
    pub last_error: Option<String>,
}

impl Default for StatusFacts {
    fn default() -> Self {
        StatusFacts {
            registration: Registration::Unregistered,
            edge: None,
            last_error: None,
        }
    }
}

/// The running reporter. Dropping it stops the task.
pub struct StatusReporter {
    facts: watch::Sender<StatusFacts>,
    task: JoinHandle<()>,
}

impl StatusReporter {
    /// Starts the task (on the current tokio runtime); `started` is when the handset started
    /// (the uptime counts from it).
    pub fn spawn(
        endpoint: Arc<ServerEndpoint>,
        timing: StatusTiming,
        started: Instant,
    ) -> StatusReporter {
        let (facts, rx) = watch::channel(StatusFacts::default());
        let task = tokio::spawn(run(endpoint, timing, started, rx));
        StatusReporter { facts, task }
    }

    /// Changes the facts; a change is reported soon.
    pub fn update(&self, change: impl FnOnce(&mut StatusFacts)) {
        self.facts.send_if_modified(|facts| {
            let before = facts.clone();
            change(facts);
            *facts != before
        });
    }
}

impl Drop for StatusReporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    endpoint: Arc<ServerEndpoint>,
    timing: StatusTiming,
    started: Instant,
    mut facts: watch::Receiver<StatusFacts>,
) {
    let mut schedule = StatusSchedule::new(timing, Instant::now());
    loop {
        let due = tokio::time::Instant::from_std(schedule.poll_timeout());
        tokio::select! {
            changed = facts.changed() => {
                if changed.is_err() {
                    return;
                }
                schedule.on_change(Instant::now());
            }
            _ = tokio::time::sleep_until(due) => {
                let now = Instant::now();
                if !schedule.is_due(now) {
                    continue;
                }
                let current = facts.borrow_and_update().clone();
                let report = StatusReport {
                    registration: current.registration,
                    edge: current.edge,
                    firmware_version: env!("CARGO_PKG_VERSION").into(),
                    address: endpoint.local_address().await.map(|ip| ip.to_string()),
                    last_error: current.last_error,
                    uptime_secs: now.saturating_duration_since(started).as_secs(),
                };
                match tokio::time::timeout(endpoint.timeout(), post_status(&endpoint, &report)).await {
                    Ok(Ok(())) => tracing::debug!(?report, "status reported"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "status report not accepted; trying again at the next tick"),
                    Err(_) => tracing::warn!("status report: no answer in time; trying again at the next tick"),
                }
                schedule.on_sent(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU16, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::ServerConfig;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// What the stand-in server saw: when, and the body.
    type Reports = Arc<Mutex<Vec<(Instant, serde_json::Value)>>>;

    /// A server on loopback that answers `POST /api/handset/status` with `status`.
    async fn server(status: Arc<AtomicU16>) -> (u16, Reports, JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let reports: Reports = Arc::default();
        let seen = reports.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut data = Vec::new();
                let mut buf = [0u8; 2048];
                let body = loop {
                    if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..at]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if data.len() >= at + 4 + length {
                            break data[at + 4..at + 4 + length].to_vec();
                        }
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break Vec::new(),
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                };
                let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                seen.lock().expect("lock").push((Instant::now(), json));
                let answer = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    status.load(Ordering::SeqCst)
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (port, reports, task)
    }

    async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + secs(20);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "no {what} in time");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn reports_at_start_on_change_and_every_period_even_after_failures() {
        let status = Arc::new(AtomicU16::new(204));
        let (port, reports, server) = server(status.clone()).await;
        let endpoint = ServerEndpoint::new(
            &ServerConfig {
                url: url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
                device_id: "desk-1".into(),
                device_secret: "s3cret".into(),
                ca_pem: None,
            },
            secs(5),
        )
        .expect("endpoint");
        let period = Duration::from_millis(300);
        let timing = StatusTiming {
            period,
            min_gap: Duration::from_millis(20),
        };
        let started = Instant::now();
        let reporter = StatusReporter::spawn(Arc::new(endpoint), timing, started);
        let count = || reports.lock().expect("lock").len();
        wait_for("the report at start", || count() == 1).await;
        let first = reports.lock().expect("lock")[0].1.clone();
        assert_eq!(first["registration"], "unregistered");
        assert_eq!(first["address"], "127.0.0.1");
        assert_eq!(first["firmware_version"], env!("CARGO_PKG_VERSION"));
        // Registered on an edge: reported soon, whatever the period.
        reporter.update(|f| {
            f.registration = Registration::Registered;
            f.edge = Some("ashburn".into());
        });
        wait_for("the report of the change", || {
            reports
                .lock()
                .expect("lock")
                .iter()
                .any(|(_, r)| r["registration"] == "registered" && r["edge"] == "ashburn")
        })
        .await;
        // The server fails for a while: each tick tries again; then it works again.
        status.store(500, Ordering::SeqCst);
        let before = count();
        wait_for("two failed reports", || count() >= before + 2).await;
        status.store(204, Ordering::SeqCst);
        let before = count();
        wait_for("reports again", || count() >= before + 2).await;
        // Without changes, reports are never closer than the period.
        let times: Vec<Instant> = reports
            .lock()
            .expect("lock")
            .iter()
            .map(|(t, _)| *t)
            .collect();
        let after_change = times.len() - 4;
        for pair in times[after_change..].windows(2) {
            assert!(
                pair[1] - pair[0] >= period - Duration::from_millis(20),
                "{:?}",
                pair[1] - pair[0]
            );
        }
        let last = reports.lock().expect("lock").last().map(|(_, r)| r.clone());
        assert!(
            last.is_some_and(|r| r["uptime_secs"].is_u64()),
            "the uptime is a number"
        );
        drop(reporter);
        server.abort();
    }

    #[test]
    fn at_start_every_period_and_soon_after_a_change() {
        let t0 = Instant::now();
        let mut s = StatusSchedule::new(StatusTiming::default(), t0);
        assert!(s.is_due(t0), "the first report goes at once");
        s.on_sent(t0);
        assert!(!s.is_due(t0 + secs(59)));
        assert_eq!(s.poll_timeout(), t0 + secs(60));
        // Registered at 10 s: reported then, and the minute counts again from there.
        s.on_change(t0 + secs(10));
        assert_eq!(s.poll_timeout(), t0 + secs(10));
        s.on_sent(t0 + secs(10));
        assert_eq!(s.poll_timeout(), t0 + secs(70));
        // A failed report is tried again at the next tick, not sooner.
        s.on_sent(t0 + secs(70));
        assert_eq!(s.poll_timeout(), t0 + secs(130));
    }

    #[test]
    fn changes_in_a_burst_are_one_report_a_gap_apart() {
        let t0 = Instant::now();
        let mut s = StatusSchedule::new(StatusTiming::default(), t0);
        s.on_sent(t0);
        let t = t0 + Duration::from_millis(200);
        s.on_change(t);
        assert_eq!(s.poll_timeout(), t0 + secs(1), "not sooner than the gap");
        s.on_change(t + Duration::from_millis(100));
        assert_eq!(s.poll_timeout(), t0 + secs(1), "the same report");
        // A change before anything was sent: the first report is still due at once.
        let mut s = StatusSchedule::new(StatusTiming::default(), t0);
        s.on_change(t0 + secs(5));
        assert_eq!(s.poll_timeout(), t0);
    }

    #[test]
    fn over_an_hour_the_reports_keep_their_period() {
        let t0 = Instant::now();
        let mut s = StatusSchedule::new(StatusTiming::default(), t0);
        let mut now = t0;
        let mut sent = Vec::new();
        // Virtual time: jump from deadline to deadline, for an hour.
        while s.poll_timeout() < t0 + secs(3600) {
            now = s.poll_timeout().max(now);
            assert!(s.is_due(now));
            sent.push(now.duration_since(t0).as_secs());
            s.on_sent(now);
        }
        assert_eq!(sent.len(), 60);
        assert!(sent.windows(2).all(|w| w[1] - w[0] == 60), "{sent:?}");
    }
}
