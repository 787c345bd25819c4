//! `offhook run` started the way the systemd unit starts it: no terminal, stdin at /dev/null,
//! the simulated board without a script or control socket (as in the image's boot test). The
//! phone must register and keep running until SIGTERM, then exit cleanly and leave the lab.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use offhook::demo::{DEMO_IDENTITY, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_service_registers_and_runs_until_sigterm() {
    let dir = std::env::temp_dir().join(format!("offhook-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let env = offhook::demo::start(&dir, &DemoOptions::default())
        .await
        .expect("server and lab start");
    let log = std::fs::File::create(dir.join("offhook.log")).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_offhook"))
        .arg("run")
        .arg("--config")
        .arg(&env.config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .expect("offhook starts");
    let read_log = || std::fs::read_to_string(dir.join("offhook.log")).unwrap_or_default();

    let control = env.lab.control();
    let registered = control
        .wait_for_connection(Duration::from_secs(30), |c| {
            c.identity.as_deref() == Some(DEMO_IDENTITY)
                && c.registered
                && c.closed_unix_ms.is_none()
        })
        .await;
    let early_exit = child.try_wait().expect("child status");
    if registered.is_err() || early_exit.is_some() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the handset did not stay up and register (exit: {early_exit:?}); its log:\n{}",
            read_log()
        );
    }
    let connection = registered.expect("registered");

    // SAFETY: a plain signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("SIGTERM did not stop the handset; its log:\n{}", read_log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit {status}; log:\n{}", read_log());
    control
        .wait_for_connection(Duration::from_secs(10), |c| {
            c.id == connection.id && c.closed_unix_ms.is_some()
        })
        .await
        .expect("the handset's signaling connection is closed after SIGTERM");

    env.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
