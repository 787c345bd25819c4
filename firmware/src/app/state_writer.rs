//! The phone's state files (call history, settings) written on a thread of their own. Each
//! write fsyncs the file and its directory, tens of milliseconds on an SD card, which the
//! phone's loop must not wait for. The newest content of each file wins: a write still waiting
//! is simply replaced. [`StateWriter::finish`] (and dropping the writer) waits until everything
//! handed over is on disk, so a clean shutdown loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::state_file;

#[derive(Default)]
struct Pending {
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// A write is in progress (its file already taken out of `files`).
    writing: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Pending>) -> MutexGuard<'a, Pending> {
        self.changed.wait(guard).unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes state files in the background.
pub struct StateWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl StateWriter {
    pub fn spawn() -> std::io::Result<StateWriter> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            changed: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("state-files".into())
            .spawn(move || write_files(&theirs))?;
        Ok(StateWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Serializes `value` now (cheap) and writes it to `path` soon.
    pub fn save<T: Serialize>(&self, path: &Path, value: &T) {
        match state_file::json_bytes(value) {
            Ok(bytes) => {
                self.shared.lock().files.insert(path.to_path_buf(), bytes);
                self.shared.changed.notify_all();
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot serialize"),
        }
    }

    /// Waits until every file handed over has been written (or has failed, said in the log).
    pub fn finish(&self) {
        let mut pending = self.shared.lock();
        while !pending.files.is_empty() || pending.writing {
            pending = self.shared.wait(pending);
        }
    }
}

fn write_files(shared: &Shared) {
    loop {
        let (path, bytes) = {
            let mut pending = shared.lock();
            loop {
                if let Some((path, bytes)) = pending.files.pop_first() {
                    pending.writing = true;
                    break (path, bytes);
                }
                if pending.stop {
                    return;
                }
                pending = shared.wait(pending);
            }
        };
        if let Err(e) = state_file::write_atomic(&path, &bytes) {
            tracing::warn!(error = %e, "cannot save a state file");
        }
        shared.lock().writing = false;
        shared.changed.notify_all();
    }
}

impl Drop for StateWriter {
    fn drop(&mut self) {
        // Everything pending is written before the thread ends.
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_content_of_each_file_is_on_disk_after_finish_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        let writer = StateWriter::spawn().unwrap();
        for n in 0..50 {
            writer.save(&a, &serde_json::json!({ "n": n }));
        }
        writer.save(&b, &vec![1, 2, 3]);
        writer.finish();
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        assert_eq!(read(&a)["n"], 49, "the newest content wins");
        assert_eq!(read(&b), serde_json::json!([1, 2, 3]));
        // Dropping the writer writes what is still pending.
        writer.save(&a, &serde_json::json!({ "n": "last" }));
        drop(writer);
        assert_eq!(read(&a)["n"], "last");
    }
}
