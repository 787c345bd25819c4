//! Child processes that end with the benchmark: each runs in a process group of its own and
//! is killed (the whole group) and reaped on drop, on error and on panic.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A started child and everything it starts (its process group), killed and reaped on drop.
pub struct ChildGuard {
    name: String,
    child: Child,
}

/// Makes this process the reaper of its orphaned descendants, so that grandchildren (the
/// browser's helpers, say) are reaped here when a guard kills their group.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
}

impl ChildGuard {
    /// Spawns `command` in a new process group; it gets SIGKILL when this process dies.
    pub fn spawn(name: &str, command: &mut Command) -> Result<ChildGuard, String> {
        // SAFETY: setpgid and prctl only; both async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        Ok(ChildGuard {
            name: name.to_string(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its exit status when it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for it to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; reaps the child and what of its group
    /// was left to this process.
    pub fn stop(&mut self, grace: Duration) {
        let group = self.child.id() as i32;
        if self.exited().is_none() {
            // SAFETY: signals the process group this guard created (its id is the child's pid,
            // which is not reaped yet, so it cannot have been reused).
            unsafe { libc::kill(-group, libc::SIGTERM) };
            if self.wait_exit(grace).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Whatever of the group survived its leader (reparented here: see become_subreaper).
        // SAFETY: signals and reaps only members of the group this guard created.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let r = libc::waitpid(-group, std::ptr::null_mut(), libc::WNOHANG);
                if r < 0 {
                    break; // ECHILD: none left
                }
                if r == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
        if std::env::var_os("AUDIO_BENCH_VERBOSE").is_some() {
            eprintln!("audio-bench: {} ended", self.name);
        }
    }
}
