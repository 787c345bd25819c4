//! Call history: placed, received and missed calls, newest first, with a count of missed calls
//! not yet seen (the idle screen's "3 missed calls"; the message lamp is voicemail's). Saved
//! with [`crate::state_file`] after every change.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::state_file::{self, LoadProblem, SaveError};

/// How many entries are kept.
pub const MAX_ENTRIES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Placed,
    Received,
    Missed,
}

/// How a call ended, as far as the history cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum CallResult {
    Answered,
    /// Placed and hung up before the far end answered.
    Cancelled,
    Busy,
    Declined,
    Unavailable,
    /// Incoming, declined with the reject key.
    Rejected,
    Failed {
        code: Option<u32>,
    },
    /// Incoming and nobody answered.
    NotAnswered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub direction: Direction,
    /// What to dial to call back (E.164, an extension, or as dialed).
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the call started (seconds since 1970 UTC), if the clock was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix: Option<i64>,
    /// Talk time, for answered calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    #[serde(flatten)]
    pub result: CallResult,
}

/// The history file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHistory {
    version: u32,
    /// Missed calls since the history was last looked at.
    unseen_missed: u32,
    entries: Vec<HistoryEntry>,
}

impl Default for CallHistory {
    fn default() -> Self {
        CallHistory {
            version: 1,
            unseen_missed: 0,
            entries: Vec::new(),
        }
    }
}

impl CallHistory {
    /// Reads the history; a corrupt file is moved aside and reported, never fatal.
    pub fn load(path: &Path) -> (CallHistory, Option<LoadProblem>) {
        let (mut history, problem): (CallHistory, _) = state_file::load_json(path);
        history.entries.truncate(MAX_ENTRIES);
        let missed = history
            .entries
            .iter()
            .filter(|e| e.direction == Direction::Missed)
            .count() as u32;
        history.unseen_missed = history.unseen_missed.min(missed);
        (history, problem)
    }

    pub fn save(&self, path: &Path) -> Result<(), SaveError> {
        state_file::save_json(path, self)
    }

    /// Newest first.
    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    pub fn unseen_missed(&self) -> u32 {
        self.unseen_missed
    }

    pub fn add(&mut self, entry: HistoryEntry) {
        if entry.direction == Direction::Missed {
            self.unseen_missed = self.unseen_missed.saturating_add(1);
        }
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ENTRIES);
    }

    /// The history was looked at: the missed-call indicator goes out.
    pub fn mark_seen(&mut self) -> bool {
        let changed = self.unseen_missed != 0;
        self.unseen_missed = 0;
        changed
    }

    /// The last number dialed, for redial.
    pub fn last_placed(&self) -> Option<&HistoryEntry> {
        self.entries
            .iter()
            .find(|e| e.direction == Direction::Placed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_file::tests::TempDir;

    fn entry(direction: Direction, number: &str) -> HistoryEntry {
        HistoryEntry {
            direction,
            number: number.into(),
            name: None,
            started_unix: Some(1_795_269_909),
            duration_secs: None,
            result: CallResult::NotAnswered,
        }
    }

    #[test]
    fn survives_a_restart() {
        let dir = TempDir::new("history");
        let path = dir.0.join("history.json");
        let mut h = CallHistory::default();
        h.add(HistoryEntry {
            duration_secs: Some(65),
            result: CallResult::Answered,
            ..entry(Direction::Placed, "+14155550100")
        });
        h.add(entry(Direction::Missed, "+14155550101"));
        h.save(&path).expect("save");
        let (loaded, problem) = CallHistory::load(&path);
        assert!(problem.is_none());
        assert_eq!(loaded, h);
        assert_eq!(loaded.unseen_missed(), 1);
        assert_eq!(
            loaded.last_placed().map(|e| e.number.as_str()),
            Some("+14155550100")
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("\"result\": \"answered\""), "{text}");
    }

    #[test]
    fn corrupt_history_starts_empty_and_keeps_the_bad_file() {
        let dir = TempDir::new("history-corrupt");
        let path = dir.0.join("history.json");
        std::fs::write(
            &path,
            "{\"version\":1,\"entries\":[{\"direction\":\"sideways\"}]}",
        )
        .expect("write");
        let (loaded, problem) = CallHistory::load(&path);
        assert!(loaded.entries().is_empty());
        assert!(matches!(
            problem,
            Some(LoadProblem::Corrupt {
                moved_to: Some(_),
                ..
            })
        ));
        assert!(dir.0.join("history.json.corrupt-1").exists());
    }

    #[test]
    fn keeps_the_newest_hundred_and_counts_missed() {
        let mut h = CallHistory::default();
        for i in 0..150 {
            h.add(entry(Direction::Missed, &format!("{i}")));
        }
        assert_eq!(h.entries().len(), MAX_ENTRIES);
        assert_eq!(h.entries()[0].number, "149");
        assert_eq!(h.unseen_missed(), 150);
        assert!(h.mark_seen());
        assert!(!h.mark_seen());
    }
}
