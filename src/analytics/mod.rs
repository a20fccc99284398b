//! Security analytics over the store: the token policy report (`tokentrail report`), anomalies
//! linked to their traces, watchlists with alerts and webhook delivery, ban-list exports
//! (JSON feed, CSV, MISP, service snippets) and self-contained incident reports.
//!
//! Everything here reads through [`tokentrail_index::EventStore`], so the CLI and the web crate
//! share one implementation; every answer type is serde-serialisable for the JSON API.

pub mod anomalies;
pub mod banlist;
pub mod commands;
pub mod config;
pub mod incident;
pub mod report;
mod scan;
pub mod watchlist;
pub mod webhook;

pub use anomalies::{anomalies, Anomaly, AnomalyKind};
pub use config::{Cidr, ReportConfig};
pub use incident::{incident_report, IncidentReport};
pub use report::{policy_report, PolicyReport};
pub use watchlist::{Alert, EntryKind, WatchEntry, Watcher, Watchlist};
pub use webhook::WebhookSender;
