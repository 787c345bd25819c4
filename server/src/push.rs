//! Telling handsets about changes: the bookkeeping behind `GET /api/handset/events`.
//!
//! A change made through this process wakes every stream at once ([`Push::notify`]); a change
//! made through another server instance on the same database is found by each stream polling
//! the store's change counter ([`crate::store::Store::change_version`]) every
//! [`POLL_INTERVAL`]. Streams are bounded: at most [`MAX_STREAMS_PER_HANDSET`] per handset
//! (a new one closes that handset's oldest, since a handset that reconnects after a network
//! drop leaves its old stream behind until a write to it fails) and
//! [`crate::config::ServerLimits::max_event_streams`] in all (beyond that, refused). Every
//! stream ends when the server stops.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// How often a stream asks the database whether anything changed.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often an idle stream sends `: keep-alive`.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Streams one handset may hold open.
pub const MAX_STREAMS_PER_HANDSET: usize = 2;

/// The process's side of the push channel.
#[derive(Debug)]
pub struct Push {
    changes: watch::Sender<u64>,
    stopping: watch::Sender<bool>,
    streams: Arc<Mutex<Streams>>,
}

#[derive(Debug, Default)]
struct Streams {
    next_id: u64,
    total: usize,
    /// Per device id, oldest first: each stream's id and what closes it.
    by_handset: HashMap<String, VecDeque<(u64, oneshot::Sender<()>)>>,
}

/// The server has as many streams open as it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStreams;

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Mutex<Streams>>,
    device_id: String,
    id: u64,
    /// Fires when a newer stream of the same handset takes this one's place.
    pub replaced: oneshot::Receiver<()>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = lock(&self.streams);
        let Some(list) = streams.by_handset.get_mut(&self.device_id) else {
            return;
        };
        let before = list.len();
        list.retain(|(id, _)| *id != self.id);
        let removed = before - list.len();
        if list.is_empty() {
            streams.by_handset.remove(&self.device_id);
        }
        streams.total -= removed;
    }
}

fn lock(streams: &Mutex<Streams>) -> std::sync::MutexGuard<'_, Streams> {
    // The registry holds counts that a panic elsewhere cannot leave half-updated.
    streams.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Push {
    fn default() -> Self {
        Push {
            changes: watch::channel(0).0,
            stopping: watch::channel(false).0,
            streams: Arc::default(),
        }
    }
}

impl Push {
    /// Something handsets hear about changed through this process.
    pub fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes on every [`Push::notify`].
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Becomes `true` when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Ends every stream (the server is stopping).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// A place for a new stream of `device_id`, closing that handset's oldest if it has
    /// [`MAX_STREAMS_PER_HANDSET`] already.
    pub fn open(&self, device_id: &str, max_total: usize) -> Result<StreamSlot, TooManyStreams> {
        let mut guard = lock(&self.streams);
        let streams = &mut *guard;
        let list = streams.by_handset.entry(device_id.to_string()).or_default();
        if list.len() >= MAX_STREAMS_PER_HANDSET {
            if let Some((_, close)) = list.pop_front() {
                let _ = close.send(());
                streams.total -= 1;
            }
        } else if streams.total >= max_total {
            if list.is_empty() {
                streams.by_handset.remove(device_id);
            }
            return Err(TooManyStreams);
        }
        let id = streams.next_id;
        streams.next_id += 1;
        let (close, replaced) = oneshot::channel();
        list.push_back((id, close));
        streams.total += 1;
        Ok(StreamSlot {
            streams: Arc::clone(&self.streams),
            device_id: device_id.to_string(),
            id,
            replaced,
        })
    }

    /// Whether `device_id` has a stream open on this instance now.
    pub fn has_stream(&self, device_id: &str) -> bool {
        lock(&self.streams).by_handset.contains_key(device_id)
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        lock(&self.streams).total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handsets_newest_stream_replaces_its_oldest_and_the_total_is_capped() {
        let push = Push::default();
        let mut first = push.open("desk", 3).unwrap();
        let _second = push.open("desk", 3).unwrap();
        assert_eq!(push.open_streams(), 2);
        let _third = push.open("desk", 3).unwrap();
        assert_eq!(first.replaced.try_recv(), Ok(()));
        assert_eq!(push.open_streams(), 2);
        drop(first);
        assert_eq!(
            push.open_streams(),
            2,
            "a replaced stream is not counted twice"
        );
        let kitchen = push.open("kitchen", 3).unwrap();
        assert_eq!(push.open("attic", 3).unwrap_err(), TooManyStreams);
        // A handset at its own cap still gets in by replacing its oldest.
        assert!(push.open("desk", 3).is_ok());
        drop(kitchen);
        assert!(push.open("attic", 3).is_ok());
    }

    #[test]
    fn stopping_and_notifications_reach_subscribers() {
        let push = Push::default();
        let mut changes = push.changes();
        let stopping = push.stopping();
        push.notify();
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert!(!*stopping.borrow());
        push.stop();
        assert!(*stopping.borrow());
    }
}
