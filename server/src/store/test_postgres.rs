//! A throw-away PostgreSQL cluster for tests: `initdb` in a temp dir, a server listening only
//! on a Unix socket there, stopped (fast shutdown) and reaped on drop, pass or fail. As root it
//! runs as the `postgres` user, because PostgreSQL refuses to run as root.
//!
//! Tests share one cluster (each gets its own database, [`TestDatabase`]); it stops when the
//! last test holding it ends, so nothing outlives the test binary.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A fresh, empty database on the shared cluster.
pub struct TestDatabase {
    pub url: String,
    _cluster: Arc<TestPostgres>,
}

impl TestDatabase {
    pub fn create(name: &str) -> TestDatabase {
        static SHARED: Mutex<Weak<TestPostgres>> = Mutex::new(Weak::new());
        let cluster = {
            let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            match shared.upgrade() {
                Some(cluster) => cluster,
                None => {
                    let cluster = Arc::new(TestPostgres::start("shared"));
                    *shared = Arc::downgrade(&cluster);
                    cluster
                }
            }
        };
        let database = format!("t_{}_{}", name.to_ascii_lowercase(), rand::random::<u32>());
        let created = Command::new(cluster.bin.join("createdb"))
            .arg("-h")
            .arg(&cluster.dir)
            .args(["-U", "offhook", &database])
            .output()
            .expect("run createdb");
        assert!(
            created.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        TestDatabase {
            url: format!(
                "postgres://offhook@localhost/{database}?host={}",
                cluster.dir.display()
            ),
            _cluster: cluster,
        }
    }
}

pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    server: Option<Child>,
}

/// How long a cold `postgres` start may take on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl TestPostgres {
    pub fn start(name: &str) -> TestPostgres {
        let bin = bin_dir().expect("PostgreSQL is not installed (apt-get install postgresql)");
        let dir = std::env::temp_dir().join(format!(
            "offhook-pg-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the temp dir");
        }
        let data = dir.join("data");
        let status = command(&bin.join("initdb"), owner)
            .args(["-D"])
            .arg(&data)
            .args(["-A", "trust", "-U", "offhook", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run initdb");
        assert!(
            status.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let server = command(&bin.join("postgres"), owner)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ])
            .args(["-c", "shared_buffers=16MB"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let cluster = TestPostgres {
            bin,
            dir,
            server: Some(server),
        };
        cluster.wait_ready();
        cluster
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(&self.dir)
                .args(["-U", "offhook", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start in {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, then it exits.
            if let Ok(pid) = i32::try_from(server.id()) {
                unsafe { libc::kill(pid, libc::SIGINT) };
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed PostgreSQL's binaries.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The `postgres` user's ids when this process is root.
fn run_as() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres"))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
    })
}

fn command(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}
