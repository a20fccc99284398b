//! The watchlist, shared with the CLI: the same `<data>/watchlist.json` that `tokentrail watch
//! add/list` reads and writes and that ingest matches new events against (identities, token
//! ids, clients and addresses, each with a reason). Admins add and remove entries; everyone
//! signed in reads them, each entry linking to its trace, and downloads the ban-list exports.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokentrail_index::analytics::{banlist, EntryKind, WatchEntry, Watchlist};
use tokentrail_parsers::Timestamp;

/// One entry with the id the web routes use to name it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Stable: derived from kind, value and issuer (the file itself has no ids).
    pub id: String,
    #[serde(flatten)]
    pub entry: WatchEntry,
}

/// The id of an entry: the first 12 hex digits of SHA-256 over kind, value and issuer.
pub fn entry_id(entry: &WatchEntry) -> String {
    let digest = Sha256::digest(format!(
        "{}\0{}\0{}",
        entry.kind.as_str(),
        entry.value,
        entry.iss
    ));
    digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The kinds, as forms and the API name them.
pub const KINDS: &[&str] = &["identity", "jti", "client", "address"];

/// Reads a kind; the trace parameter names `sub` and `ip` are accepted too.
pub fn parse_kind(text: &str) -> Result<EntryKind, String> {
    match text.trim() {
        "identity" | "sub" => Ok(EntryKind::Identity),
        "jti" => Ok(EntryKind::Jti),
        "client" => Ok(EntryKind::Client),
        "address" | "ip" => Ok(EntryKind::Address),
        other => Err(format!(
            "unknown kind {other:?}: use one of {}",
            KINDS.join(", ")
        )),
    }
}

/// The watchlist of a data directory; one writer at a time within this server (the CLI
/// replaces the file atomically, so a reader never sees half a file).
pub struct SharedWatchlist {
    data_dir: PathBuf,
    lock: Mutex<()>,
}

impl SharedWatchlist {
    /// The watchlist of `data_dir`.
    pub fn open(data_dir: &Path) -> Self {
        SharedWatchlist {
            data_dir: data_dir.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    fn load(&self) -> Result<Watchlist, String> {
        Watchlist::load(&self.data_dir).map_err(|error| error.to_string())
    }

    /// Every entry, in file order.
    pub fn list(&self) -> Result<Vec<Entry>, String> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(self
            .load()?
            .entries
            .into_iter()
            .map(|entry| Entry {
                id: entry_id(&entry),
                entry,
            })
            .collect())
    }

    /// Adds (or replaces: same kind, value and issuer) an entry.
    pub fn add(
        &self,
        kind: &str,
        value: &str,
        iss: &str,
        reason: &str,
        by: &str,
    ) -> Result<Entry, String> {
        let kind = parse_kind(kind)?;
        let value = value.trim();
        if value.is_empty() || value.len() > 1000 || value.chars().any(char::is_control) {
            return Err(
                "the value must have 1 to 1000 characters and no control characters".into(),
            );
        }
        let iss = iss.trim();
        if !iss.is_empty() && kind != EntryKind::Identity {
            return Err("an issuer (iss) only qualifies an identity".into());
        }
        if iss.len() > 1000 || iss.chars().any(char::is_control) {
            return Err(
                "the issuer must have at most 1000 characters and no control characters".into(),
            );
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("give a reason: it goes into alerts and ban lists".into());
        }
        let entry = WatchEntry {
            kind,
            value: value.to_string(),
            iss: iss.to_string(),
            reason: reason
                .chars()
                .filter(|c| !c.is_control())
                .take(500)
                .collect(),
            added: Timestamp::from(chrono::Utc::now()),
            added_by: by.to_string(),
        };
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Watchlist::update(&self.data_dir, |list| {
            ((), {
                list.add(entry.clone());
                true
            })
        })
        .map_err(|error| error.to_string())?;
        Ok(Entry {
            id: entry_id(&entry),
            entry,
        })
    }

    /// Removes the entry with `id`; returns whether it existed.
    pub fn remove(&self, id: &str) -> Result<bool, String> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Watchlist::update(&self.data_dir, |list| {
            let before = list.entries.len();
            list.entries.retain(|entry| entry_id(entry) != id);
            let removed = list.entries.len() != before;
            (removed, removed)
        })
        .map_err(|error| error.to_string())
    }

    /// The ban list in `format` (one of [`banlist::FORMATS`]) with its content type and file
    /// name.
    pub fn export(&self, format: &str) -> Result<Export, ExportError> {
        if !banlist::FORMATS.contains(&format) {
            return Err(ExportError::UnknownFormat(format!(
                "unknown export format {format:?}: use one of {}",
                banlist::FORMATS.join(", ")
            )));
        }
        let list = {
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.load().map_err(ExportError::Unreadable)?
        };
        let text = banlist::export(&list, format, Timestamp::from(chrono::Utc::now()))
            .map_err(|error| ExportError::Unreadable(error.to_string()))?;
        let (content_type, file_name) = match format {
            "json" => ("application/json", "tokentrail-banlist.json"),
            "misp" => ("application/json", "tokentrail-banlist.misp.json"),
            "csv" => ("text/csv; charset=utf-8", "tokentrail-banlist.csv"),
            "gplazma" => ("text/plain; charset=utf-8", "ban.conf"),
            "htcondor" => ("text/plain; charset=utf-8", "00-tokentrail-ban.conf"),
            _ => ("text/plain; charset=utf-8", "tokentrail-ban.nft"),
        };
        Ok(Export {
            text,
            content_type,
            file_name,
        })
    }
}

/// A ban-list download.
pub struct Export {
    pub text: String,
    pub content_type: &'static str,
    pub file_name: &'static str,
}

/// Why an export failed.
#[derive(Debug)]
pub enum ExportError {
    /// The client asked for a format that does not exist (400).
    UnknownFormat(String),
    /// The watchlist could not be read (500).
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shared_with_the_cli_file_and_named_by_stable_ids() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedWatchlist::open(dir.path());
        let added = shared
            .add(
                "sub",
                "abc",
                "https://iss.example",
                "stolen laptop",
                "alice",
            )
            .unwrap();
        let file = Watchlist::load(dir.path()).unwrap();
        assert_eq!(file.entries, vec![added.entry.clone()]);
        assert_eq!(file.entries[0].kind, EntryKind::Identity);
        assert_eq!(shared.list().unwrap()[0].id, added.id);
        assert!(shared.add("path", "/x", "", "r", "alice").is_err());
        assert!(shared.add("jti", "j", "https://iss", "r", "alice").is_err());
        assert!(shared.add("jti", "j", "", " ", "alice").is_err());
        assert!(shared.remove(&added.id).unwrap());
        assert!(!shared.remove(&added.id).unwrap());
        assert!(Watchlist::load(dir.path()).unwrap().entries.is_empty());
    }
}
