//! Security analytics over the store: the token policy report (`tokentrail report`), anomalies
//! linked to their traces, watchlists with alerts and webhook delivery, ban-list exports
//! (JSON feed, CSV, MISP, service snippets) and self-contained incident reports.
//!
//! Everything here reads through [`crate::EventStore`], so the CLI and the web crate share one
//! implementation; every answer type is serde-serialisable for the JSON API. The CLI's
//! subcommands live in the root crate (`src/analytics/commands.rs`).

pub mod anomalies;
pub mod banlist;
pub mod config;
pub mod incident;
pub mod report;
mod scan;
pub mod watchlist;
pub mod webhook;

use std::path::PathBuf;

pub use anomalies::{anomalies, Anomaly, AnomalyKind};
pub use config::{Cidr, ReportConfig};
pub use incident::{incident_report, IncidentReport};
pub use report::{policy_report, PolicyReport};
pub use watchlist::{Alert, EntryKind, WatchEntry, Watcher, Watchlist};
pub use webhook::WebhookSender;

/// Errors of the watchlist, alert and ban-list files.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot serialise: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("unknown export format {0:?}; known formats: {formats}", formats = banlist::FORMATS.join(", "))]
    UnknownFormat(String),
}
