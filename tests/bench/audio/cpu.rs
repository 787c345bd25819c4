//! CPU time of a process tree from `/proc`: utime + stime of every thread of the process and
//! of its descendants, sampled before and after a window.

use std::collections::BTreeMap;
use std::time::Instant;

/// One thread's CPU ticks, keyed by (pid, tid).
#[derive(Clone)]
pub struct Snapshot {
    at: Instant,
    threads: BTreeMap<(u32, u32), (String, u64)>,
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// (comm, ppid, utime + stime) from a `stat` file.
fn parse_stat(text: &str) -> Option<(String, u32, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, ppid, utime + stime))
}

/// `root` and its descendants.
fn tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some((_, ppid, _)) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|t| parse_stat(&t))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

impl Snapshot {
    pub fn of_tree(root: u32) -> Snapshot {
        let at = Instant::now();
        let mut threads = BTreeMap::new();
        for pid in tree(root) {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                if let Some((comm, _, ticks)) =
                    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
                        .ok()
                        .and_then(|t| parse_stat(&t))
                {
                    threads.insert((pid, tid), (comm, ticks));
                }
            }
        }
        Snapshot { at, threads }
    }
}

/// CPU used between two snapshots, as % of one core: the total and per thread name.
pub struct Usage {
    pub total: f64,
    pub by_name: Vec<(String, usize, f64)>,
}

pub fn usage(before: &Snapshot, after: &Snapshot) -> Usage {
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let scale = 100.0 / ticks_per_second() / wall;
    let mut by_name: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut total = 0u64;
    for (key, (comm, ticks)) in &after.threads {
        // A thread born during the window counts from zero.
        let start = before.threads.get(key).map_or(0, |(_, t)| *t);
        let used = ticks.saturating_sub(start);
        total += used;
        let entry = by_name.entry(comm.clone()).or_default();
        entry.0 += 1;
        entry.1 += used;
    }
    let mut by_name: Vec<(String, usize, f64)> = by_name
        .into_iter()
        .map(|(name, (n, t))| (name, n, t as f64 * scale))
        .collect();
    by_name.sort_by(|a, b| b.2.total_cmp(&a.2));
    Usage {
        total: total as f64 * scale,
        by_name,
    }
}
