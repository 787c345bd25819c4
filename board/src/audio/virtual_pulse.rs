//! Virtual audio for tests and benchmarks on machines without a sound card: a private
//! PulseAudio server with null sinks, reached through ALSA's `pulse` plugin, which gives
//! real-time paced ALSA devices.
//!
//! For each sink `NAME` the generated ALSA configuration defines PCM `NAME` (play into the
//! sink) and `NAME_monitor` (capture what the sink plays). Playing a tone into `mic` and
//! capturing `mic_monitor` is a loopback through a real-time clock.
//!
//! The server runs as a child of this process with its own runtime directory (it works as
//! root and as a normal user) and is killed, by its pid, when [`VirtualAudio`] is dropped.
//! One kept in a `static` is never dropped: [`VirtualAudio::end_at_exit`] kills its
//! processes when this process exits instead (left running, they load every later run, and
//! hold whatever file locks the test process inherited).

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{BoardError, Result};

/// A running private PulseAudio server.
pub struct VirtualAudio {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    /// Sink name, module index, and the process keeping it at low latency.
    sinks: Vec<(String, u32, Child)>,
}

fn err(message: impl Into<String>) -> BoardError {
    BoardError::Audio {
        device: "pulseaudio".into(),
        direction: "virtual",
        message: message.into(),
    }
}

impl VirtualAudio {
    /// Starts PulseAudio with its state in `dir` (created if needed) and one null sink per
    /// name (mono, `rate` Hz). Fails with the server's own log if it does not come up.
    pub fn start(dir: &Path, sinks: &[&str], rate: u32) -> Result<VirtualAudio> {
        let runtime = dir.join("runtime");
        let state = dir.join("state");
        for d in [dir, &runtime, &state] {
            std::fs::create_dir_all(d)
                .map_err(|e| BoardError::io(format!("creating {}", d.display()), e))?;
        }
        let socket = runtime.join("native");
        let _ = std::fs::remove_file(&socket);
        let log_path = dir.join("pulseaudio.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| BoardError::io(format!("creating {}", log_path.display()), e))?;
        let mut command = Command::new("pulseaudio");
        command
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                // Real-time scheduling where allowed (root, rtkit), so a busy machine does
                // not starve the server and fake underruns.
                "--realtime=yes",
                "--high-priority=yes",
                "--log-target=stderr",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .env("HOME", dir)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PULSE_RUNTIME_PATH", &runtime)
            .env("PULSE_STATE_PATH", &state)
            .env_remove("PULSE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = spawn_tied(command)
            .map_err(|e| err(format!("cannot run pulseaudio (is it installed?): {e}")))?;
        let mut va = VirtualAudio {
            child,
            dir: dir.to_owned(),
            socket,
            sinks: Vec::new(),
        };
        va.wait_for_socket(Duration::from_secs(10))?;
        for name in sinks {
            va.add_sink(name, rate)?;
        }
        Ok(va)
    }

    fn server_log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("pulseaudio.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn wait_for_socket(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(err(format!(
                    "pulseaudio exited ({status}) before listening:\n{}",
                    self.server_log()
                )));
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(err(format!(
                    "pulseaudio did not listen on {} within {timeout:?}:\n{}",
                    self.socket.display(),
                    self.server_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `pactl` against this server.
    pub fn pactl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("pactl")
            .arg("--server")
            .arg(format!("unix:{}", self.socket.display()))
            .args(args)
            .output()
            .map_err(|e| err(format!("cannot run pactl: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "pactl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Adds a mono null sink called `name`.
    ///
    /// A null sink with no low-latency client renders in 2-second blocks, so a new stream
    /// would wait up to two seconds before it moves. A `pacat` playing silence at 10 ms
    /// latency into each sink keeps it rendering in small blocks, as a sound card would.
    /// Returns once the sink runs at low latency.
    pub fn add_sink(&mut self, name: &str, rate: u32) -> Result<()> {
        let index = self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={name}"),
            &format!("rate={rate}"),
            "channels=1",
            "format=s16le",
        ])?;
        let index = index
            .parse()
            .map_err(|_| err(format!("pactl gave module index {index:?}")))?;
        let mut command = Command::new("pacat");
        command
            .arg(format!("--server={}", self.server()))
            .arg(format!("--device={name}"))
            .args([
                "--raw",
                "--channels=1",
                "--format=s16le",
                "--latency-msec=10",
            ])
            .arg(format!("--rate={rate}"))
            .arg("/dev/zero")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let keeper = spawn_tied(command).map_err(|e| err(format!("cannot run pacat: {e}")))?;
        self.sinks.push((name.to_owned(), index, keeper));
        self.settle(name)
    }

    /// Waits for the keeper to connect, then suspends and resumes the sink so it restarts
    /// its clock with small blocks at once instead of finishing its first 2-second block.
    fn settle(&self, name: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.keeper_connected(name)? {
            if Instant::now() >= deadline {
                return Err(err(format!("the keeper stream for {name} did not connect")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pactl(&["suspend-sink", name, "1"])?;
        self.pactl(&["suspend-sink", name, "0"])?;
        loop {
            match self.sink_latency(name)? {
                Some(l) if l < Duration::from_millis(50) => return Ok(()),
                _ if Instant::now() >= deadline => {
                    return Err(err(format!("sink {name} did not settle to a low latency")));
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Whether a client stream plays into sink `name`.
    fn keeper_connected(&self, name: &str) -> Result<bool> {
        let sinks = self.pactl(&["list", "short", "sinks"])?;
        let Some(index) = sinks
            .lines()
            .find(|l| l.split('\t').nth(1) == Some(name))
            .and_then(|l| l.split('\t').next())
        else {
            return Ok(false);
        };
        let inputs = self.pactl(&["list", "short", "sink-inputs"])?;
        Ok(inputs.lines().any(|l| l.split('\t').nth(1) == Some(index)))
    }

    /// The sink's current latency as `pactl list sinks` reports it.
    fn sink_latency(&self, name: &str) -> Result<Option<Duration>> {
        let text = self.pactl(&["list", "sinks"])?;
        let mut in_sink = false;
        for line in text.lines().map(str::trim) {
            if let Some(n) = line.strip_prefix("Name: ") {
                in_sink = n == name;
            } else if in_sink && let Some(rest) = line.strip_prefix("Latency: ") {
                let usec = rest.split_whitespace().next().and_then(|v| v.parse().ok());
                return Ok(usec.map(Duration::from_micros));
            }
        }
        Ok(None)
    }

    /// Removes a sink, as if its USB device had been unplugged.
    pub fn remove_sink(&mut self, name: &str) -> Result<()> {
        let pos = self
            .sinks
            .iter()
            .position(|(n, _, _)| n == name)
            .ok_or_else(|| err(format!("no sink {name}")))?;
        let (_, index, mut keeper) = self.sinks.remove(pos);
        let result = self.pactl(&["unload-module", &index.to_string()]);
        let _ = keeper.kill();
        let _ = keeper.wait();
        result.map(|_| ())
    }

    /// The server address for PulseAudio clients.
    pub fn server(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// An ALSA configuration defining `NAME` and `NAME_monitor` PCMs for `sinks`, with hints
    /// so they are listed. Self-contained: use it as `ALSA_CONFIG_PATH`. Playback PCMs report
    /// the server's underruns as ALSA underruns (`handle_underrun`), as a sound card would.
    pub fn alsa_config(&self, sinks: &[&str]) -> String {
        let server = self.server();
        let mut text = String::new();
        for name in sinks {
            let _ = writeln!(
                text,
                "pcm.{name} {{ type pulse device \"{name}\" server \"{server}\" handle_underrun true \
                 hint {{ show on description \"Virtual sink {name}\" }} }}\n\
                 pcm.{name}_monitor {{ type pulse device \"{name}.monitor\" server \"{server}\" \
                 hint {{ show on description \"Monitor of virtual sink {name}\" }} }}"
            );
        }
        text
    }
}

/// Spawns `command` so that the child is killed when this process dies, however it dies (a
/// test binary killed outright runs no `Drop` and no exit handler). `PR_SET_PDEATHSIG` fires
/// when the spawning *thread* ends, so every spawn happens on one thread that lives as long
/// as the process, not on a test's thread.
fn spawn_tied(command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, rx) = mpsc::channel::<Job>();
        let _ = std::thread::Builder::new()
            .name("pulse-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    // SAFETY: only async-signal-safe calls between fork and exec.
                    unsafe {
                        command.pre_exec(|| {
                            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            });
        std::sync::Mutex::new(jobs)
    });
    let (reply, result) = mpsc::channel();
    let gone = || std::io::Error::other("the spawner thread is gone");
    spawner
        .lock()
        .map_err(|_| gone())?
        .send((command, reply))
        .map_err(|_| gone())?;
    result.recv().map_err(|_| gone())?
}

/// Processes to kill when this process exits (see [`VirtualAudio::end_at_exit`]).
static AT_EXIT: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

extern "C" fn end_children_at_exit() {
    let pids = match AT_EXIT.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return,
    };
    for pid in pids {
        // SAFETY: signals and reaps only children this process started, by their pids.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}

impl VirtualAudio {
    /// Kills this server and its helpers when the process exits, for a value that is never
    /// dropped (a test binary's shared server in a `static`).
    pub fn end_at_exit(&self) {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        REGISTER.call_once(|| {
            // SAFETY: registers a plain function; it runs once, at exit.
            unsafe { libc::atexit(end_children_at_exit) };
        });
        if let Ok(mut pids) = AT_EXIT.lock() {
            pids.push(self.child.id() as i32);
            pids.extend(self.sinks.iter().map(|(_, _, k)| k.id() as i32));
        }
    }
}

impl Drop for VirtualAudio {
    fn drop(&mut self) {
        // Only the processes this value started, by their pids.
        for (_, _, keeper) in self.sinks.iter_mut() {
            let _ = keeper.kill();
            let _ = keeper.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
