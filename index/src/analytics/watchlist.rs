//! Watchlists: identities, token ids, clients and addresses an admin wants to hear about, with
//! the reason. [`Watcher::check`] matches each batch of newly ingested events and raises
//! alerts: a log line, a line in `alerts.jsonl` (read by the UI's banner), and an optional
//! webhook POST. Both files live in the data directory; `watchlist.json` is replaced
//! atomically (temporary file + rename), `alerts.jsonl` is appended one batch per write.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::Seed;
use serde::{Deserialize, Serialize};
use tokentrail_parsers::{Event, Timestamp};

use super::webhook::WebhookSender;
use super::AnalyticsError;

type Result<T> = std::result::Result<T, AnalyticsError>;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AnalyticsError + '_ {
    move |source| AnalyticsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// File name of the watchlist in the data directory.
pub const WATCHLIST_FILE: &str = "watchlist.json";
/// File name of the alert history in the data directory.
pub const ALERTS_FILE: &str = "alerts.jsonl";
/// Events carried in one alert at most (the count stays exact).
const EVENTS_PER_ALERT: usize = 10;

/// What a watchlist entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A `sub`, optionally pinned to an `iss`.
    Identity,
    Jti,
    /// An OAuth client id.
    Client,
    /// A client address.
    Address,
}

impl EntryKind {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Identity => "identity",
            EntryKind::Jti => "jti",
            EntryKind::Client => "client",
            EntryKind::Address => "address",
        }
    }
}

/// One watchlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEntry {
    pub kind: EntryKind,
    /// The `sub`, `jti`, client id or address.
    pub value: String,
    /// For identities: the issuer (empty = any issuer).
    #[serde(default)]
    pub iss: String,
    pub reason: String,
    pub added: Timestamp,
    #[serde(default)]
    pub added_by: String,
}

impl WatchEntry {
    /// Whether `event` matches this entry.
    pub fn matches(&self, event: &Event) -> bool {
        match self.kind {
            EntryKind::Identity => {
                event.sub == self.value
                    && (self.iss.is_empty()
                        || event.iss.is_empty()
                        || event.iss.trim_end_matches('/') == self.iss.trim_end_matches('/'))
            }
            EntryKind::Jti => event.jti == self.value || event.parent_jti == self.value,
            EntryKind::Client => event.client_id == self.value,
            EntryKind::Address => event.client_ip == self.value,
        }
    }

    /// The trace this entry starts.
    pub fn seed(&self) -> Seed {
        match self.kind {
            EntryKind::Identity => Seed::Identity {
                sub: self.value.clone(),
                iss: (!self.iss.is_empty()).then(|| self.iss.clone()),
            },
            EntryKind::Jti => Seed::Jti {
                jti: self.value.clone(),
            },
            EntryKind::Client => Seed::Client {
                client: self.value.clone(),
            },
            EntryKind::Address => Seed::Ip {
                ip: self.value.clone(),
            },
        }
    }
}

/// The watchlist file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watchlist {
    /// Schema version (1).
    #[serde(default = "one")]
    pub version: u32,
    pub entries: Vec<WatchEntry>,
}

fn one() -> u32 {
    1
}

/// An entry of the web UI's own list of before (see [`Watchlist::load`]).
#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    added_by: String,
    #[serde(default)]
    added: String,
}

fn is_legacy(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

impl Watchlist {
    /// Reads `DIR/watchlist.json`; an absent file is an empty watchlist. A list written by the
    /// web UI before it shared this file (a bare JSON array of `{kind, value, note, …}`) is
    /// read too: its `sub`, `jti`, `ip` and `client` entries become identities, token ids,
    /// addresses and clients; entries of other kinds cannot raise alerts and are skipped with
    /// a warning (the old file is kept beside the new one at the first save).
    pub fn load(data_dir: &Path) -> Result<Watchlist> {
        let path = data_dir.join(WATCHLIST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Watchlist {
                    version: 1,
                    entries: Vec::new(),
                })
            }
            Err(source) => return Err(AnalyticsError::Io { path, source }),
        };
        if is_legacy(&bytes) {
            let legacy: Vec<LegacyEntry> =
                serde_json::from_slice(&bytes).map_err(|source| AnalyticsError::Json {
                    path: path.clone(),
                    source,
                })?;
            return Ok(Watchlist::from_legacy(&path, legacy));
        }
        serde_json::from_slice(&bytes).map_err(|source| AnalyticsError::Json { path, source })
    }

    fn from_legacy(path: &Path, legacy: Vec<LegacyEntry>) -> Watchlist {
        let mut list = Watchlist {
            version: 1,
            entries: Vec::new(),
        };
        for old in legacy {
            let kind = match old.kind.as_str() {
                "sub" => EntryKind::Identity,
                "jti" => EntryKind::Jti,
                "ip" => EntryKind::Address,
                "client" => EntryKind::Client,
                other => {
                    tracing::warn!(
                        file = %path.display(),
                        kind = other,
                        value = %old.value,
                        "old web watchlist entry of a kind that cannot raise alerts: skipped"
                    );
                    continue;
                }
            };
            list.add(WatchEntry {
                kind,
                value: old.value,
                iss: String::new(),
                reason: old.note,
                added: Timestamp::parse(&old.added).unwrap_or(Timestamp(0)),
                added_by: old.added_by,
            });
        }
        list
    }

    /// Writes `DIR/watchlist.json` atomically (keeping an old web UI list, if that is what is
    /// there, as `watchlist.json.web-legacy`).
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(WATCHLIST_FILE);
        if let Ok(bytes) = std::fs::read(&path) {
            let backup = data_dir.join(format!("{WATCHLIST_FILE}.web-legacy"));
            if is_legacy(&bytes) && !backup.exists() {
                std::fs::write(&backup, &bytes).map_err(io_error(&backup))?;
            }
        }
        let bytes = serde_json::to_vec_pretty(self)?;
        write_atomically(&path, &bytes)
    }

    /// Reads, changes and writes the watchlist under an exclusive lock on
    /// `DIR/watchlist.json.lock`, so that the CLI and the web server changing it at the same
    /// moment never lose each other's change. Returns what `change` returns; the file is only
    /// written when `change` says so (its second value).
    pub fn update<R>(
        data_dir: &Path,
        change: impl FnOnce(&mut Watchlist) -> (R, bool),
    ) -> Result<R> {
        let lock_path = data_dir.join(format!("{WATCHLIST_FILE}.lock"));
        std::fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        lock.lock().map_err(io_error(&lock_path))?;
        let mut list = Watchlist::load(data_dir)?;
        let (result, changed) = change(&mut list);
        if changed {
            list.save(data_dir)?;
        }
        // The lock is released when `lock` is closed.
        drop(lock);
        Ok(result)
    }

    /// Adds an entry, replacing one of the same kind, value and issuer; returns whether it
    /// replaced one.
    pub fn add(&mut self, entry: WatchEntry) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.kind == entry.kind && e.value == entry.value && e.iss == entry.iss));
        let replaced = self.entries.len() != before;
        self.entries.push(entry);
        replaced
    }

    /// Removes the entries of `kind` and `value`; returns how many.
    pub fn remove(&mut self, kind: EntryKind, value: &str) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.kind == kind && e.value == value));
        before - self.entries.len()
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(directory).map_err(io_error(directory))?;
    let temporary = directory.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(bytes).map_err(io_error(&temporary))?;
        file.sync_all().map_err(io_error(&temporary))?;
    }
    std::fs::rename(&temporary, path).map_err(io_error(path))
}

/// An alert: newly ingested events matched a watchlist entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `tokentrail-alert` (so a receiver can tell our POSTs apart).
    pub kind: String,
    pub id: String,
    /// When it was raised.
    pub raised: Timestamp,
    pub entry: WatchEntry,
    /// Matching events in the batch.
    pub matches: u64,
    /// The first of them.
    pub events: Vec<Event>,
    /// Where the UI's trace link starts.
    pub trace: Seed,
}

/// Matches batches of new events against a watchlist.
#[derive(Debug)]
pub struct Watcher {
    entries: Vec<WatchEntry>,
    by_value: HashMap<(EntryKind, String), Vec<usize>>,
    alerts_path: Option<PathBuf>,
    webhook: Option<WebhookSender>,
    raised: u64,
}

impl Watcher {
    /// A watcher for `watchlist`, appending alerts to `DIR/alerts.jsonl` when `data_dir` is
    /// given and POSTing them to `webhook` when given.
    pub fn new(
        watchlist: &Watchlist,
        data_dir: Option<&Path>,
        webhook: Option<WebhookSender>,
    ) -> Watcher {
        let mut by_value: HashMap<(EntryKind, String), Vec<usize>> = HashMap::new();
        for (index, entry) in watchlist.entries.iter().enumerate() {
            by_value
                .entry((entry.kind, entry.value.clone()))
                .or_default()
                .push(index);
        }
        Watcher {
            entries: watchlist.entries.clone(),
            by_value,
            alerts_path: data_dir.map(|dir| dir.join(ALERTS_FILE)),
            webhook,
            raised: 0,
        }
    }

    /// Watches `watchlist` from now on (a long-running collector picks up entries added
    /// after it started); alert counts and the webhook are kept.
    pub fn set_watchlist(&mut self, watchlist: &Watchlist) {
        let fresh = Watcher::new(watchlist, None, None);
        self.entries = fresh.entries;
        self.by_value = fresh.by_value;
    }

    /// Whether there is anything to watch.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Alerts raised so far.
    pub fn raised(&self) -> u64 {
        self.raised
    }

    /// The webhook sender, to drain it at the end of a run.
    pub fn webhook_mut(&mut self) -> Option<&mut WebhookSender> {
        self.webhook.as_mut()
    }

    /// Matches `events` (newly stored); returns one alert per matched entry, after logging it,
    /// appending it to `alerts.jsonl` and queueing its webhook POST. Never blocks on the
    /// webhook.
    pub fn check(&mut self, events: &[Event]) -> Vec<Alert> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(u64, Vec<Event>)> = vec![(0, Vec::new()); self.entries.len()];
        for event in events {
            let keys = [
                (EntryKind::Identity, event.sub.as_str()),
                (EntryKind::Jti, event.jti.as_str()),
                (EntryKind::Jti, event.parent_jti.as_str()),
                (EntryKind::Client, event.client_id.as_str()),
                (EntryKind::Address, event.client_ip.as_str()),
            ];
            let mut matched: Vec<usize> = Vec::new();
            for (kind, value) in keys {
                if value.is_empty() {
                    continue;
                }
                if let Some(indexes) = self.by_value.get(&(kind, value.to_string())) {
                    for &index in indexes {
                        if !matched.contains(&index) && self.entries[index].matches(event) {
                            matched.push(index);
                        }
                    }
                }
            }
            for index in matched {
                let (count, kept) = &mut hits[index];
                *count += 1;
                if kept.len() < EVENTS_PER_ALERT {
                    kept.push(event.clone());
                }
            }
        }
        let now = Timestamp::from(chrono::Utc::now());
        let mut alerts = Vec::new();
        for (index, (count, kept)) in hits.into_iter().enumerate() {
            if count == 0 {
                continue;
            }
            let entry = self.entries[index].clone();
            self.raised += 1;
            let id = format!("{}-{}-{}", now.millis(), std::process::id(), self.raised);
            tracing::warn!(
                alert = %id,
                kind = entry.kind.as_str(),
                value = %entry.value,
                reason = %entry.reason,
                matches = count,
                "watchlist match"
            );
            alerts.push(Alert {
                kind: "tokentrail-alert".into(),
                id,
                raised: now,
                trace: entry.seed(),
                entry,
                matches: count,
                events: kept,
            });
        }
        if alerts.is_empty() {
            return alerts;
        }
        if let Some(path) = &self.alerts_path {
            if let Err(error) = append_alerts(path, &alerts) {
                tracing::error!(file = %path.display(), %error, "alerts not recorded");
            }
        }
        if let Some(webhook) = &self.webhook {
            for alert in &alerts {
                if let Ok(body) = serde_json::to_string(alert) {
                    webhook.send(body);
                }
            }
        }
        alerts
    }
}

fn append_alerts(path: &Path, alerts: &[Alert]) -> Result<()> {
    let mut text = String::new();
    for alert in alerts {
        text.push_str(&serde_json::to_string(alert)?);
        text.push('\n');
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    // One write per batch, so concurrent readers see whole lines.
    file.write_all(text.as_bytes()).map_err(io_error(path))?;
    Ok(())
}

/// Reads the alert history, newest last; at most the last `limit` alerts.
pub fn load_alerts(data_dir: &Path, limit: usize) -> Result<Vec<Alert>> {
    let path = data_dir.join(ALERTS_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AnalyticsError::Io { path, source }),
    };
    let mut alerts = std::collections::VecDeque::new();
    // Split on bytes, not `lines()`: one damaged (non-UTF-8) line must not hide the others.
    for (number, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(io_error(&path))?;
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Alert>(&line) {
            Ok(alert) => {
                alerts.push_back(alert);
                if alerts.len() > limit {
                    alerts.pop_front();
                }
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), line = number + 1, %error, "unreadable alert line")
            }
        }
    }
    Ok(alerts.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: EntryKind, value: &str) -> WatchEntry {
        WatchEntry {
            kind,
            value: value.into(),
            iss: String::new(),
            reason: "test".into(),
            added: Timestamp(0),
            added_by: String::new(),
        }
    }

    #[test]
    fn concurrent_updates_never_lose_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..6)
            .map(|writer| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for n in 0..15 {
                        let value = format!("192.0.2.{}", writer * 20 + n);
                        Watchlist::update(&path, |list| {
                            (list.add(entry(EntryKind::Address, &value)), true)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(Watchlist::load(dir.path()).unwrap().entries.len(), 90);
        let removed = Watchlist::update(dir.path(), |list| {
            let n = list.remove(EntryKind::Address, "192.0.2.0");
            (n, n > 0)
        })
        .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(Watchlist::load(dir.path()).unwrap().entries.len(), 89);
    }

    #[test]
    fn watchlist_round_trips_and_replaces_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut list = Watchlist::load(dir.path()).unwrap();
        assert!(list.entries.is_empty());
        assert!(!list.add(entry(EntryKind::Address, "203.0.113.66")));
        assert!(list.add(entry(EntryKind::Address, "203.0.113.66")));
        list.add(entry(EntryKind::Jti, "j1"));
        list.save(dir.path()).unwrap();
        let mut back = Watchlist::load(dir.path()).unwrap();
        assert_eq!(back, list);
        assert_eq!(back.remove(EntryKind::Jti, "j1"), 1);
        assert_eq!(back.entries.len(), 1);
    }

    #[test]
    fn watcher_groups_matches_per_entry_and_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut list = Watchlist::default();
        list.add(entry(EntryKind::Address, "203.0.113.66"));
        let mut identity = entry(EntryKind::Identity, "abc");
        identity.iss = "https://iss.example".into();
        list.add(identity);
        let mut watcher = Watcher::new(&list, Some(dir.path()), None);
        let hit = Event {
            client_ip: "203.0.113.66".into(),
            ..Event::default()
        };
        let other_issuer = Event {
            sub: "abc".into(),
            iss: "https://other.example".into(),
            ..Event::default()
        };
        let alerts = watcher.check(&[hit.clone(), hit, other_issuer, Event::default()]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].matches, 2);
        assert_eq!(load_alerts(dir.path(), 10).unwrap(), alerts);
    }

    #[test]
    fn reads_the_old_web_list_and_keeps_it_at_the_first_save() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"[{"id":"a1","kind":"ip","value":"203.0.113.66","note":"scanner","added_by":"alice","added":"2025-03-10T14:00:00Z"},
                      {"id":"a2","kind":"path","value":"/store/x","note":"","added_by":"alice","added":"2025-03-10T14:00:00Z"}]"#;
        std::fs::write(dir.path().join(WATCHLIST_FILE), old).unwrap();
        let list = Watchlist::load(dir.path()).unwrap();
        assert_eq!(list.entries.len(), 1, "a path cannot raise alerts");
        assert_eq!(list.entries[0].kind, EntryKind::Address);
        assert_eq!(list.entries[0].reason, "scanner");
        assert_eq!(
            list.entries[0].added.to_rfc3339(),
            "2025-03-10T14:00:00.000Z"
        );
        list.save(dir.path()).unwrap();
        let kept = std::fs::read_to_string(dir.path().join("watchlist.json.web-legacy")).unwrap();
        assert_eq!(kept, old);
        assert_eq!(Watchlist::load(dir.path()).unwrap(), list);
    }

    #[test]
    fn a_damaged_alert_line_does_not_hide_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut list = Watchlist::default();
        list.add(entry(EntryKind::Jti, "j1"));
        let mut watcher = Watcher::new(&list, Some(dir.path()), None);
        let hit = Event {
            jti: "j1".into(),
            ..Event::default()
        };
        watcher.check(std::slice::from_ref(&hit));
        let path = dir.path().join(ALERTS_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"\xff\xfe not json\n").unwrap();
        watcher.check(&[hit]);
        assert_eq!(load_alerts(dir.path(), 10).unwrap().len(), 2);
    }
}
