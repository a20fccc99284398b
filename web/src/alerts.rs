//! Watchlist alerts for the UI: the history ingest appends to `<data>/alerts.jsonl`, and per
//! user the time of the newest alert they acknowledged (`<data>/alerts-seen.json`), so every
//! page can show a banner with the number of newer alerts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tokentrail_index::analytics::watchlist::{load_alerts, write_atomically, ALERTS_FILE};
use tokentrail_index::analytics::Alert;
use tokentrail_parsers::Timestamp;

/// File of the per-user acknowledgements.
pub const SEEN_FILE: &str = "alerts-seen.json";
/// Alerts kept in memory for the banner count and shown on the alerts page at most.
pub const MAX_ALERTS: usize = 5000;

#[derive(Default)]
struct Cache {
    /// Length and modification time of `alerts.jsonl` when last read.
    stamp: Option<(u64, Option<SystemTime>)>,
    /// The raised times of the last [`MAX_ALERTS`] alerts.
    raised: Vec<Timestamp>,
}

/// The alert history and acknowledgements of a data directory.
pub struct Alerts {
    data_dir: PathBuf,
    cache: Mutex<Cache>,
    seen_lock: Mutex<()>,
}

impl Alerts {
    /// The alerts of `data_dir`.
    pub fn open(data_dir: &Path) -> Self {
        Alerts {
            data_dir: data_dir.to_path_buf(),
            cache: Mutex::new(Cache::default()),
            seen_lock: Mutex::new(()),
        }
    }

    /// The last `limit` alerts, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Alert>, String> {
        let mut alerts = load_alerts(&self.data_dir, limit.min(MAX_ALERTS))
            .map_err(|error| error.to_string())?;
        alerts.reverse();
        Ok(alerts)
    }

    /// Raised times of the recent alerts, re-read only when the file changed.
    fn raised_times(&self) -> Vec<Timestamp> {
        let path = self.data_dir.join(ALERTS_FILE);
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|meta| (meta.len(), meta.modified().ok()));
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.stamp != stamp {
            cache.raised = match load_alerts(&self.data_dir, MAX_ALERTS) {
                Ok(alerts) => alerts.iter().map(|alert| alert.raised).collect(),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the alert history");
                    Vec::new()
                }
            };
            cache.stamp = stamp;
        }
        cache.raised.clone()
    }

    /// When `user` last acknowledged the alerts.
    pub fn seen_by(&self, user: &str) -> Option<Timestamp> {
        self.read_seen().get(user).copied()
    }

    fn read_seen(&self) -> BTreeMap<String, Timestamp> {
        std::fs::read(self.data_dir.join(SEEN_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// How many alerts were raised after `user` last acknowledged.
    pub fn unseen(&self, user: &str) -> usize {
        let raised = self.raised_times();
        if raised.is_empty() {
            return 0;
        }
        match self.seen_by(user) {
            Some(seen) => raised.iter().filter(|time| **time > seen).count(),
            None => raised.len(),
        }
    }

    /// Marks every alert raised so far as seen by `user`.
    pub fn acknowledge(&self, user: &str) -> Result<(), String> {
        let newest = self
            .raised_times()
            .into_iter()
            .max()
            .unwrap_or_else(|| Timestamp::from(chrono::Utc::now()));
        let _guard = self
            .seen_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut seen = self.read_seen();
        let entry = seen.entry(user.to_string()).or_insert(newest);
        *entry = (*entry).max(newest);
        let bytes = serde_json::to_vec_pretty(&seen).map_err(|error| error.to_string())?;
        write_atomically(&self.data_dir.join(SEEN_FILE), &bytes).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokentrail_index::analytics::{EntryKind, WatchEntry, Watcher, Watchlist};
    use tokentrail_parsers::Event;

    #[test]
    fn counts_alerts_newer_than_each_users_acknowledgement() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = Alerts::open(dir.path());
        assert_eq!(alerts.unseen("alice"), 0);
        let mut list = Watchlist::default();
        list.add(WatchEntry {
            kind: EntryKind::Jti,
            value: "j1".into(),
            iss: String::new(),
            reason: "test".into(),
            added: Timestamp(0),
            added_by: String::new(),
        });
        let mut watcher = Watcher::new(&list, Some(dir.path()), None);
        let hit = Event {
            jti: "j1".into(),
            ..Event::default()
        };
        watcher.check(std::slice::from_ref(&hit));
        assert_eq!(alerts.unseen("alice"), 1);
        alerts.acknowledge("alice").unwrap();
        assert_eq!(alerts.unseen("alice"), 0);
        assert_eq!(alerts.unseen("bob"), 1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        watcher.check(&[hit]);
        assert_eq!(alerts.unseen("alice"), 1);
        assert_eq!(alerts.recent(10).unwrap().len(), 2);
    }
}
