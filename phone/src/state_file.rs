//! Small state files the phone rewrites (call history, user settings): atomic writes
//! (temp file + fsync + rename + directory fsync) and reads that survive a corrupt file by moving
//! it aside instead of failing or losing it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a state file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct SaveError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Something wrong with a state file that the phone recovered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadProblem {
    /// The file did not parse; it was renamed to `moved_to` and an empty state used.
    Corrupt {
        path: PathBuf,
        moved_to: Option<PathBuf>,
        message: String,
    },
    /// The file could not be read (permissions, I/O); an empty state is used for now.
    Unreadable { path: PathBuf, message: String },
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadProblem::Corrupt {
                path,
                moved_to: Some(to),
                message,
            } => write!(
                f,
                "{} is corrupt ({message}); moved it to {} and started empty",
                path.display(),
                to.display()
            ),
            LoadProblem::Corrupt {
                path,
                moved_to: None,
                message,
            } => write!(
                f,
                "{} is corrupt ({message}) and could not be moved aside; started empty",
                path.display()
            ),
            LoadProblem::Unreadable { path, message } => {
                write!(
                    f,
                    "cannot read {}: {message}; started empty",
                    path.display()
                )
            }
        }
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SaveError> {
    let err = |source| SaveError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(err)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        // Make the rename itself durable.
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(err)
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SaveError> {
    let bytes = json_bytes(value).map_err(|e| SaveError {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_atomic(path, &bytes)
}

/// What [`save_json`] writes for `value`: pretty JSON and a final newline.
pub fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads JSON state. A missing file gives the default; a corrupt one is moved aside (to
/// `<name>.corrupt-1`, `-2`, …) and the default returned with the problem described.
pub fn load_json<T: DeserializeOwned + Default>(path: &Path) -> (T, Option<LoadProblem>) {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (T::default(), None),
        Err(e) => {
            return (
                T::default(),
                Some(LoadProblem::Unreadable {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                }),
            );
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => (value, None),
        Err(e) => {
            let moved_to = move_aside(path);
            (
                T::default(),
                Some(LoadProblem::Corrupt {
                    path: path.to_path_buf(),
                    moved_to,
                    message: e.to_string(),
                }),
            )
        }
    }
}

fn move_aside(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    for n in 1..1000 {
        let target = path.with_file_name(format!("{name}.corrupt-{n}"));
        if !target.exists() {
            return fs::rename(path, &target).ok().map(|_| target);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the target dir, removed when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("offhook-test-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = TempDir::new("atomic");
        let path = dir.0.join("sub/state.json");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(dir.0.join("sub"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_file_is_moved_aside_not_lost() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("h.json");
        fs::write(&path, b"{ not json").expect("write");
        let (value, problem): (Vec<u32>, _) = load_json(&path);
        assert!(value.is_empty());
        let Some(LoadProblem::Corrupt {
            moved_to: Some(to), ..
        }) = problem.clone()
        else {
            panic!("expected a corrupt report, got {problem:?}");
        };
        assert_eq!(fs::read(&to).expect("moved file kept"), b"{ not json");
        assert!(!path.exists());
        assert!(problem.expect("problem").to_string().contains("corrupt"));
        // A second corrupt file goes next to the first, not over it.
        fs::write(&path, b"[").expect("write");
        let (_, problem): (Vec<u32>, _) = load_json(&path);
        assert!(
            matches!(problem, Some(LoadProblem::Corrupt { moved_to: Some(p), .. }) if p.to_string_lossy().ends_with(".corrupt-2"))
        );
    }

    #[test]
    fn missing_file_is_not_a_problem() {
        let dir = TempDir::new("missing");
        let (value, problem): (Vec<u32>, _) = load_json(&dir.0.join("nope.json"));
        assert!(value.is_empty() && problem.is_none());
    }
}
