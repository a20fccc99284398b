//! The watchlist: values (a sub, jti, address, path …) a site keeps an eye on, kept in
//! `<data>/watchlist.json`. Admins add and remove entries; everyone signed in reads them and
//! each entry links to its trace.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One watched value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// Trace kind: `sub`, `jti`, `job`, `ip`, `host`, `path`, `user`, `client`.
    pub kind: String,
    pub value: String,
    pub note: String,
    pub added_by: String,
    pub added: String,
}

/// The trace kinds a watchlist entry (and a trace) may have.
pub const KINDS: &[&str] = &["sub", "jti", "job", "ip", "host", "path", "user", "client"];

/// The watchlist file.
pub struct Watchlist {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Watchlist {
    /// The watchlist of a data directory.
    pub fn open(data_dir: &Path) -> Self {
        Watchlist {
            path: data_dir.join("watchlist.json"),
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Vec<Entry> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn write(&self, entries: &[Entry]) -> Result<(), String> {
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(entries).expect("entries serialise");
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|error| format!("cannot write {}: {error}", self.path.display()))
    }

    /// Every entry.
    pub fn list(&self) -> Vec<Entry> {
        let _guard = self.lock.lock().expect("watchlist lock");
        self.read()
    }

    /// Adds an entry.
    pub fn add(&self, kind: &str, value: &str, note: &str, by: &str) -> Result<Entry, String> {
        if !KINDS.contains(&kind) {
            return Err(format!(
                "unknown kind {kind:?}: use one of {}",
                KINDS.join(", ")
            ));
        }
        let value = value.trim();
        if value.is_empty() || value.len() > 1000 {
            return Err("the value must have 1 to 1000 characters".into());
        }
        let _guard = self.lock.lock().expect("watchlist lock");
        let mut entries = self.read();
        let entry = Entry {
            id: crate::accounts::random_bytes::<6>()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
            kind: kind.to_string(),
            value: value.to_string(),
            note: note.chars().take(500).collect(),
            added_by: by.to_string(),
            added: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        entries.push(entry.clone());
        self.write(&entries)?;
        Ok(entry)
    }

    /// Removes an entry; returns whether it existed.
    pub fn remove(&self, id: &str) -> Result<bool, String> {
        let _guard = self.lock.lock().expect("watchlist lock");
        let mut entries = self.read();
        let before = entries.len();
        entries.retain(|entry| entry.id != id);
        if entries.len() == before {
            return Ok(false);
        }
        self.write(&entries)?;
        Ok(true)
    }
}
