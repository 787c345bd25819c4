//! The real `offhook-server` binary as a child process with a settings file of its own,
//! stopped and reaped on drop, and its command-line tools (`setup-link`, …) run against the
//! same settings: what the browser test of the web interface runs against.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::real_handset::workspace_binary;

/// The `offhook-server` binary under test: `$OFFHOOK_SERVER_BIN`, else the one cargo built.
pub fn server_binary() -> Result<PathBuf, String> {
    workspace_binary("offhook-server", "offhook-server", "OFFHOOK_SERVER_BIN")
}

/// A loopback address nothing listens on right now (for a server told where to listen
/// before it starts, as the lab must know the server's URL first).
pub fn free_loopback_addr() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("a free port: {e}"))
}

/// `offhook-server --env-file ENV serve` in its own directory; its log goes to
/// `offhook-server.log` there.
pub struct ServerProcess {
    child: Child,
    binary: PathBuf,
    dir: PathBuf,
    pub env_file: PathBuf,
    pub log: PathBuf,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Writes `settings` (`NAME=value` lines, `OFFHOOK_LISTEN` among them) to `dir/env`,
    /// starts the server with them and waits until `GET /health` at `addr` answers 200.
    pub fn start(
        dir: &Path,
        addr: SocketAddr,
        settings: &str,
        timeout: Duration,
    ) -> Result<ServerProcess, String> {
        let binary = server_binary()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let env_file = dir.join("env");
        std::fs::write(&env_file, settings).map_err(|e| format!("{}: {e}", env_file.display()))?;
        let log = dir.join("offhook-server.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(&binary);
        command
            .arg("--env-file")
            .arg(&env_file)
            .arg("serve")
            .current_dir(dir)
            .env(
                "RUST_LOG",
                std::env::var("OFFHOOK_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(|e| format!("{}: {e}", log.display()))?,
            )
            .stderr(log_file);
        // SAFETY: prctl only; async-signal-safe. The server dies with whoever started it, even
        // when that is killed outright and no Drop runs.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut server = ServerProcess {
            child,
            binary,
            dir: dir.to_path_buf(),
            env_file,
            log,
            addr,
        };
        server.wait_healthy(timeout)?;
        Ok(server)
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "offhook-server exited with {status}\n{}",
                    self.log_tail()
                ));
            }
            let last = match get_status(self.addr, "/health") {
                Ok(200) => return Ok(()),
                Ok(code) => format!("HTTP {code}"),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "offhook-server not healthy within {timeout:?} ({last})\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `offhook-server --env-file ENV ARGS…` (a command-line tool on the same database)
    /// with `stdin` on its standard input; its standard output.
    pub fn tool(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut child = Command::new(&self.binary)
            .arg("--env-file")
            .arg(&self.env_file)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("offhook-server {args:?}: {e}"))?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .map_err(|e| format!("offhook-server {args:?}: stdin: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("offhook-server {args:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "offhook-server {args:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- {} (last 40 lines)\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after `grace`; the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        crate::real_handset::terminate(&mut self.child, grace)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// The status code of `GET path` at `addr` (HTTP/1.1, one request, short timeouts).
pub fn get_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text:?}"))
}
