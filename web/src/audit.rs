//! The audit log: one JSON line per search, trace, event view, export, login and account
//! change in `<data>/audit.log` — who, when, which route, what was asked. Tokens pasted into a
//! query are replaced by their fingerprint first; passwords and API keys are never written.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::WebError;

/// The append-only audit file.
pub struct Audit {
    path: PathBuf,
    file: Mutex<File>,
}

fn redact_value(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(crate::recognise::redacted(&text)),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, redact_value(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_value).collect()),
        other => other,
    }
}

impl Audit {
    /// Opens (creates) `<data>/audit.log` for appending.
    pub fn open(data_dir: &Path) -> Result<Self, WebError> {
        let path = data_dir.join("audit.log");
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|source| WebError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Audit {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends one record. A failure to write is logged as an error (it is data loss).
    pub fn record(&self, user: &str, route: &str, query: Value) {
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "user": user,
            "route": route,
            "query": redact_value(query),
        });
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().expect("audit lock");
        if let Err(error) = file.write_all(text.as_bytes()) {
            tracing::error!(file = %self.path.display(), %error, "cannot write the audit log");
        }
    }
}
