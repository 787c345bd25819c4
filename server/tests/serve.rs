//! The server on real sockets: in-process start and shutdown, and the binary's commands,
//! start-up errors and SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use offhook_server::AppState;

const BIN: &str = env!("CARGO_BIN_EXE_offhook-server");

/// One HTTP/1.1 request over a plain socket; returns the status line and the body.
fn http(addr: std::net::SocketAddr, request: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_server_serves_and_shuts_down() {
    let state = AppState::new(config(&[]), handsets());
    let server = offhook_server::start_at(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.base_url(), format!("http://{addr}"));
    let auth = basic("desk", DESK_SECRET);
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            &format!(
                "POST /api/token/generate HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("\"identity\":\"desk\""), "{body}");

    tokio::time::timeout(Duration::from_secs(15), server.shutdown())
        .await
        .expect("stops in time")
        .unwrap();
    let refused = tokio::task::spawn_blocking(move || TcpStream::connect(addr))
        .await
        .unwrap();
    assert!(refused.is_err(), "nothing listens after shutdown");
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("offhook-server {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "check",
        "hash-secret",
        "add-handset",
        "add-admin",
        "setup-link",
        "--env-file",
        "OFFHOOK_MAILBOX",
        "OFFHOOK_DIAL_TIMEOUT",
        "OFFHOOK_TWILIO_API_URL",
        "OFFHOOK_MAX_EVENT_STREAMS",
        "OFFHOOK_ICE_SERVERS",
    ] {
        assert!(help.contains(word), "{help}");
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("offhook-server-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with exactly these settings (nothing inherited, no stray .env).
fn bin(dir: &std::path::Path, settings: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .current_dir(dir)
        .envs(settings.iter().map(|(k, v)| (k, v)));
    cmd
}

#[test]
fn start_up_stops_naming_the_bad_setting() {
    let dir = temp_dir("startup");
    let mut s: Vec<(String, String)> = settings(&[])
        .into_iter()
        .filter(|(k, _)| k != "TWILIO_APP_SID")
        .collect();
    let out = bin(&dir, &s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TWILIO_APP_SID is not set"), "{err}");

    s.push(("TWILIO_APP_SID".into(), "AP-nope".into()));
    let out = bin(&dir, &s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TWILIO_APP_SID is not valid"));

    // Settings fine, handsets file malformed (a missing one is fine: the handsets are then
    // added in /admin).
    s.pop();
    s.push(("TWILIO_APP_SID".into(), APP_SID.into()));
    s.push(("OFFHOOK_LISTEN".into(), "127.0.0.1:0".into()));
    std::fs::write(dir.join("handsets.toml"), "[[handset]]\nid = 1\n").unwrap();
    let out = bin(&dir, &s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("handsets file handsets.toml"), "{err}");

    // The same settings from a .env file are enough for `check`.
    let env: String = settings(&[])
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(dir.join(".env"), env).unwrap();
    std::fs::write(dir.join("handsets.toml"), handsets_toml()).unwrap();
    let out = bin(&dir, &[]).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("handsets: 2") && text.contains("/hooks/call/connect"),
        "{text}"
    );
    assert!(text.contains("/admin"), "{text}");
    assert!(
        text.contains("voicemail: one mailbox per number, calls ring 20 s")
            && text.contains("Twilio API https://api.twilio.com"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hash_secret_and_add_handset() {
    let dir = temp_dir("cli");
    let mut child = bin(&dir, &[])
        .arg("hash-secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let stored = offhook_server::secret::StoredHash::parse(hash.trim()).unwrap();
    assert!(stored.matches("correct horse"));
    assert!(!stored.matches("correct horse\n"));

    // Without the server's database (which the server makes at its first start), the command
    // says so rather than write a database nobody reads.
    let add_desk = || {
        bin(&dir, &[])
            .args([
                "add-handset",
                "--id",
                "desk",
                "--extension",
                "101",
                "--name",
                "Desk phone",
            ])
            .output()
            .unwrap()
    };
    let out = add_desk();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("there is no database") && err.contains("--env-file"),
        "{err}"
    );
    database_handsets(&dir);
    let out = add_desk();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let secret = printed.lines().last().unwrap().trim().to_string();
    assert_eq!(secret.len(), 32);
    // Into the database beside the handsets file, where the server keeps its handsets.
    assert!(printed.contains("offhook.db"), "{printed}");
    assert!(!dir.join("handsets.toml").exists());
    let handsets = database_handsets(&dir);
    assert!(handsets.authenticate("desk", &secret).is_some());
    // Or into a handsets file, to import at the next start.
    let out = bin(&dir, &[])
        .args([
            "add-handset",
            "--id",
            "attic",
            "--extension",
            "109",
            "--name",
            "Attic",
            "--to-file",
            "more.toml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let file = offhook_server::Handsets::load(&dir.join("more.toml")).unwrap();
    assert!(file.authenticate("attic", &secret).is_some());

    let out = bin(&dir, &[])
        .args([
            "add-handset",
            "--id",
            "hall",
            "--extension",
            "101",
            "--name",
            "Hall",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("extension \"101\""));
    assert_eq!(
        database_handsets(&dir).len(),
        1,
        "a refused handset is not added"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The handsets in the database the commands use by default in `dir`.
fn database_handsets(dir: &std::path::Path) -> offhook_server::Handsets {
    let url = offhook_server::store::Store::default_url(&dir.join("handsets.toml"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = offhook_server::store::Store::open(&url).await.unwrap();
            let handsets = store.load_handsets().await.unwrap();
            store.close().await;
            handsets
        })
}

/// The server's log, read until a line has `what`; the lines so far.
fn log_until(stderr: &mut impl BufRead, child: &mut std::process::Child, what: &str) -> String {
    let mut log = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server exited early:\n{log}");
        }
        log.push_str(&line);
        if line.contains(what) {
            return log;
        }
    }
}

/// A child process killed and reaped when dropped, whatever the test did.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_first_start_logs_a_one_time_setup_link_until_an_admin_exists() {
    let dir = temp_dir("setup");
    let s: Vec<(String, String)> = settings(&[("OFFHOOK_LISTEN", "127.0.0.1:0")])
        .into_iter()
        .collect();
    // No handsets file and no admin: the server starts and logs the link.
    let mut child = bin(&dir, &s).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut guard = Reaped(child);
    let log = log_until(&mut stderr, &mut guard.0, "listening");
    let line = log
        .lines()
        .find(|l| l.contains(offhook_server::admin::SETUP_LINK_LOG))
        .unwrap_or_else(|| panic!("no setup link in the log:\n{log}"));
    let at = line.find("url=").expect("the link is the url field") + 4;
    let url: String = line[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    assert!(path.starts_with("/admin/setup?token="), "{url}");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let (status, body) = http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("id=\"create-admin\""), "{body}");
    drop(guard);

    // `setup-link` prints another while there is no admin.
    let out = bin(&dir, &s).arg("setup-link").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap();
    assert!(link.trim().contains("/admin/setup?token="), "{link}");
    // `add-admin` makes one (the password from standard input)...
    let mut child = bin(&dir, &[])
        .args(["add-admin", "--username", "owner", "--password-from-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and not twice; after that there are no setup links, in the log or on demand.
    let out = bin(&dir, &[])
        .args(["add-admin", "--username", "owner"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = bin(&dir, &s).arg("setup-link").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut child = bin(&dir, &s).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut guard = Reaped(child);
    let log = log_until(&mut stderr, &mut guard.0, "listening");
    assert!(
        !log.contains(offhook_server::admin::SETUP_LINK_LOG),
        "{log}"
    );
    drop(guard);
    // --reset gives a new password (generated and printed when none is given).
    let out = bin(&dir, &[])
        .args(["add-admin", "--username", "owner", "--reset"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(password.len(), 32);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unreachable_database_stops_start_up_naming_it_without_its_password() {
    let dir = temp_dir("nodb");
    std::fs::write(dir.join("handsets.toml"), handsets_toml()).unwrap();
    let url = format!(
        "postgres://offhook:hunter2@localhost/offhook?host={}&connect_timeout=2",
        dir.join("no-such-socket-dir").display()
    );
    let s: Vec<(String, String)> = settings(&[
        ("OFFHOOK_LISTEN", "127.0.0.1:0"),
        ("OFFHOOK_DATABASE_URL", url.as_str()),
    ])
    .into_iter()
    .collect();
    let out = bin(&dir, &s).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("database postgres://offhook:***@localhost/offhook"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // A URL of another kind is a bad setting, named as such.
    let s: Vec<(String, String)> = settings(&[("OFFHOOK_DATABASE_URL", "mysql://u:pw@db/x")])
        .into_iter()
        .collect();
    let out = bin(&dir, &s).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("OFFHOOK_DATABASE_URL is not valid"), "{err}");
    assert!(!err.contains("pw@"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let dir = temp_dir("sigterm");
    std::fs::write(dir.join("handsets.toml"), handsets_toml()).unwrap();
    let s: Vec<(String, String)> = settings(&[("OFFHOOK_LISTEN", "127.0.0.1:0")])
        .into_iter()
        .collect();
    let mut child = bin(&dir, &s).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("the server exited early:\n{log}");
        }
        log.push_str(&line);
        if line.contains("listening") {
            let at = line.find("127.0.0.1:").expect("address in the log line");
            let addr: String = line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            break addr.parse::<std::net::SocketAddr>().unwrap();
        }
    };
    let (status, body) = http(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    // The default database: SQLite beside the handsets file, created and migrated at start.
    assert!(
        body.contains(r#""ok":true"#) && body.contains("offhook.db"),
        "{body}"
    );
    assert!(dir.join("offhook.db").is_file());
    // The shell's built-in kill: /bin/kill is not on every minimal system.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    stderr.read_to_string(&mut log).unwrap();
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
