//! Per-collector counters, shown on `/metrics` (Prometheus text format) and, as committed
//! totals, by `tokentrail status`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Live counters of one collector.
#[derive(Debug, Default)]
pub struct CollectorMetrics {
    /// Collector name from the config.
    pub name: String,
    /// `files`, `syslog` or `http`.
    pub kind: &'static str,
    /// Lines read (files: complete lines; syslog: messages; http: pushed lines).
    pub lines: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Events produced.
    pub events: AtomicU64,
    /// Events durable in the store.
    pub committed_events: AtomicU64,
    /// Read errors, undecodable input, rejected requests.
    pub errors: AtomicU64,
    /// Bytes written to the followed files and not yet read (files only).
    pub lag_bytes: AtomicU64,
    /// Files followed now (files only).
    pub open_files: AtomicU64,
}

impl CollectorMetrics {
    /// New counters for a collector.
    pub fn new(name: &str, kind: &'static str) -> Arc<Self> {
        Arc::new(CollectorMetrics {
            name: name.to_string(),
            kind,
            ..CollectorMetrics::default()
        })
    }

    pub(crate) fn add(&self, counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }
}

/// A metric: name, type, help, and how to read it from a collector.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CollectorMetrics) -> u64,
);

/// Counters of a running set of collectors and their writer.
#[derive(Debug, Default)]
pub struct Metrics {
    pub collectors: Vec<Arc<CollectorMetrics>>,
    /// Commits made.
    pub commits: AtomicU64,
    /// Unix milliseconds of the last commit.
    pub last_commit_ms: AtomicI64,
    /// Events added and not yet committed.
    pub uncommitted_events: AtomicU64,
}

impl Metrics {
    /// The counters of the collector called `name`.
    pub fn collector(&self, name: &str) -> Option<&Arc<CollectorMetrics>> {
        self.collectors.iter().find(|c| c.name == name)
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let series: [Series; 7] = [
            (
                "tokentrail_collector_lines_total",
                "counter",
                "Lines read.",
                |c| c.lines.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_bytes_total",
                "counter",
                "Bytes read.",
                |c| c.bytes.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_events_total",
                "counter",
                "Events produced.",
                |c| c.events.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_committed_events_total",
                "counter",
                "Events made durable.",
                |c| c.committed_events.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_errors_total",
                "counter",
                "Read errors and rejected input.",
                |c| c.errors.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_lag_bytes",
                "gauge",
                "Bytes in followed files not yet read.",
                |c| c.lag_bytes.load(Ordering::Relaxed),
            ),
            (
                "tokentrail_collector_open_files",
                "gauge",
                "Files followed.",
                |c| c.open_files.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for collector in &self.collectors {
                let _ = writeln!(
                    out,
                    "{name}{{collector=\"{}\",kind=\"{}\"}} {}",
                    collector.name.replace(['"', '\\', '\n'], "_"),
                    collector.kind,
                    value(collector)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP tokentrail_commits_total Commits of the store.\n# TYPE tokentrail_commits_total counter\ntokentrail_commits_total {}",
            self.commits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tokentrail_last_commit_timestamp_seconds Time of the last commit.\n# TYPE tokentrail_last_commit_timestamp_seconds gauge\ntokentrail_last_commit_timestamp_seconds {:.3}",
            self.last_commit_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "# HELP tokentrail_writer_uncommitted_events Events added and not yet committed.\n# TYPE tokentrail_writer_uncommitted_events gauge\ntokentrail_writer_uncommitted_events {}",
            self.uncommitted_events.load(Ordering::Relaxed)
        );
        out
    }
}
