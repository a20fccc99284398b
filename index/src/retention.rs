//! Retention: the store keeps `retention_days` whole UTC days (default 180, what the EGI
//! traceability policy asks of a site) and drops older data a whole day at a time.
//!
//! tantivy has no partitions, so a "time partition" here is a UTC day: the cutoff is midnight
//! UTC at the start of the day `retention_days` before today, every dated event before it is
//! deleted (one delete query on the time range, then a commit that carries the ingest
//! checkpoints unchanged), and the segments that held deleted events are rewritten so the disk
//! space comes back at once. The cutoff day itself and everything newer are never touched;
//! events without a time are kept (nothing says they are old). Checkpoints of files whose
//! events expired stay, so re-ingesting an unchanged old file does not bring them back.

use serde::Serialize;
use tokentrail_parsers::Timestamp;

use crate::query::Query;
use crate::store::{EventStore, Order};
use crate::{Backend, Error};

/// Days kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 180;

const DAY_MILLIS: i64 = 86_400_000;

/// Retention settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Whole UTC days kept before today (today is always kept as well).
    pub retention_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl Retention {
    /// Midnight UTC starting the oldest kept day: `retention_days` days before `now`'s day.
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        let today = now.millis().div_euclid(DAY_MILLIS);
        Timestamp(
            today
                .saturating_sub(i64::from(self.retention_days))
                .saturating_mul(DAY_MILLIS),
        )
    }
}

/// Events of one expired day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub events: u64,
}

/// What retention removes (or, in a dry run, would remove).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub retention_days: u32,
    /// Events before this instant are removed; from it on, everything is kept.
    pub cutoff: Timestamp,
    /// Expired days that hold events, oldest first.
    pub days: Vec<ExpiredDay>,
    /// Events removed (or to remove).
    pub events: u64,
    /// Events kept.
    pub kept: u64,
    /// Size of the index directory before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub dry_run: bool,
}

/// Dated events: everything but the "no time" marker the store gives undated events.
fn dated_before(cutoff: Timestamp) -> Query {
    Query::All.within(Some(Timestamp(i64::MIN + 1)), Some(cutoff))
}

/// The expired days with events, oldest first: one count per day that has data, so a store
/// with a stray event from year 1 costs one step, not 700 000.
pub fn expired_days(store: &dyn EventStore, cutoff: Timestamp) -> Result<Vec<ExpiredDay>, Error> {
    let mut days = Vec::new();
    let mut from = Timestamp(i64::MIN + 1);
    while from < cutoff {
        let oldest = store.search(
            &Query::All.within(Some(from), Some(cutoff)),
            1,
            Order::OldestFirst,
        )?;
        let Some(time) = oldest.events.first().and_then(|event| event.time) else {
            break;
        };
        let day_start = time.millis().div_euclid(DAY_MILLIS) * DAY_MILLIS;
        let day_end = Timestamp(day_start.saturating_add(DAY_MILLIS).min(cutoff.millis()));
        let events = store.count(&Query::All.within(Some(Timestamp(day_start)), Some(day_end)))?;
        days.push(ExpiredDay {
            day: Timestamp(day_start).to_rfc3339()[..10].to_string(),
            events,
        });
        from = day_end;
    }
    Ok(days)
}

/// Applies `retention` as of `now` (or only reports, with `dry_run`). On the tantivy store
/// this opens the writer, so it is refused while another process ingests; on ClickHouse it
/// drops whole day partitions.
pub fn apply(
    store: &dyn Backend,
    retention: Retention,
    now: Timestamp,
    dry_run: bool,
) -> Result<RetentionReport, Error> {
    let cutoff = retention.cutoff(now);
    store.refresh()?;
    let bytes_before = store.disk_bytes().unwrap_or(0);
    let days = expired_days(store, cutoff)?;
    let events = store.count(&dated_before(cutoff))?;
    if !dry_run {
        // Also when nothing is due: a busy store (another writer) is refused either way.
        store.remove_before(cutoff)?;
    }
    let kept = store.count(&Query::All)? - if dry_run { events } else { 0 };
    Ok(RetentionReport {
        retention_days: retention.retention_days,
        cutoff,
        days,
        events,
        kept,
        bytes_before,
        bytes_after: store.disk_bytes().unwrap_or(0),
        dry_run,
    })
}

pub(crate) fn directory_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(|metadata| metadata.is_file())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Checkpoints, EventSink, SourceCheckpoint};
    use crate::TantivyStore;
    use tokentrail_parsers::{Event, Service};

    const NOW: &str = "2025-09-10T15:30:00Z";

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn event(id: &str, time: Option<&str>) -> Event {
        let mut event = Event::new("iam-audit", Service::Issuer);
        event.id = id.into();
        event.time = time.map(at);
        event.raw = format!("event {id}");
        event
    }

    fn store_with(events: &[Event]) -> (tempfile::TempDir, TantivyStore, Checkpoints) {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(16 << 20).unwrap();
        // Several commits, so several segments: old days alone in some, mixed in others.
        for chunk in events.chunks(events.len().div_ceil(3).max(1)) {
            for event in chunk {
                sink.add(event, false).unwrap();
            }
            sink.commit(&Checkpoints::default()).unwrap();
        }
        let mut checkpoints = Checkpoints::default();
        checkpoints.sources.insert(
            "f1".into(),
            SourceCheckpoint {
                path: "old.log".into(),
                prefix_len: 10,
                end: 99,
                file_size: 99,
                complete: true,
            },
        );
        sink.commit(&checkpoints).unwrap();
        drop(sink);
        store.reload().unwrap();
        (dir, store, checkpoints)
    }

    fn ids(store: &TantivyStore) -> Vec<String> {
        let mut ids: Vec<String> = store
            .search(&Query::All, 1000, Order::OldestFirst)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn cutoff_is_midnight_utc_of_the_oldest_kept_day() {
        let retention = Retention::default();
        assert_eq!(retention.retention_days, 180);
        assert_eq!(
            retention.cutoff(at(NOW)).to_rfc3339(),
            "2025-03-14T00:00:00.000Z"
        );
        let zero = Retention { retention_days: 0 };
        assert_eq!(
            zero.cutoff(at("2025-03-14T00:00:00Z")),
            at("2025-03-14T00:00:00Z")
        );
        let huge = Retention {
            retention_days: u32::MAX,
        };
        assert!(huge.cutoff(at(NOW)).millis() < 0);
    }

    #[test]
    fn removes_whole_days_before_the_cutoff_and_keeps_the_boundary_day_and_newer() {
        let events = [
            event("year-one", Some("0001-01-01T00:00:00Z")),
            event("old-1", Some("2025-03-12T08:00:00Z")),
            event("old-2", Some("2025-03-12T23:59:59.999Z")),
            event("last-expired", Some("2025-03-13T23:59:59.999Z")),
            event("boundary-start", Some("2025-03-14T00:00:00Z")),
            event("boundary-late", Some("2025-03-14T23:59:59Z")),
            event("recent", Some("2025-09-10T15:00:00Z")),
            event("future", Some("2031-01-01T00:00:00Z")),
            event("undated", None),
        ];
        let (_dir, store, checkpoints) = store_with(&events);

        let dry = apply(&store, Retention::default(), at(NOW), true).unwrap();
        assert_eq!(dry.events, 4);
        assert_eq!(dry.kept, 5);
        assert_eq!(
            dry.days,
            vec![
                ExpiredDay {
                    day: "0001-01-01".into(),
                    events: 1
                },
                ExpiredDay {
                    day: "2025-03-12".into(),
                    events: 2
                },
                ExpiredDay {
                    day: "2025-03-13".into(),
                    events: 1
                },
            ]
        );
        assert_eq!(ids(&store).len(), 9, "a dry run removes nothing");

        let report = apply(&store, Retention::default(), at(NOW), false).unwrap();
        assert_eq!(report.events, 4);
        assert_eq!(report.kept, 5);
        assert_eq!(
            ids(&store),
            vec![
                "boundary-late",
                "boundary-start",
                "future",
                "recent",
                "undated"
            ]
        );
        assert_eq!(store.checkpoints().unwrap(), checkpoints);

        // Idempotent: nothing more to remove, and a reopened store agrees.
        let again = apply(&store, Retention::default(), at(NOW), false).unwrap();
        assert_eq!(again.events, 0);
        let reopened = TantivyStore::open(store.directory().parent().unwrap()).unwrap();
        assert_eq!(ids(&reopened).len(), 5);
        assert_eq!(reopened.checkpoints().unwrap(), checkpoints);
    }

    #[test]
    fn space_of_expired_days_is_returned() {
        let mut events = Vec::new();
        for index in 0..4000 {
            let mut old = event(&format!("old-{index}"), Some("2024-01-01T10:00:00Z"));
            old.raw = format!("{index} {}", "old expired payload ".repeat(20));
            old.path = format!("/store/old/{index:06}");
            events.push(old);
        }
        events.push(event("recent", Some("2025-09-10T10:00:00Z")));
        let (_dir, store, _) = store_with(&events);
        let report = apply(&store, Retention::default(), at(NOW), false).unwrap();
        assert_eq!(report.events, 4000);
        assert!(
            report.bytes_after * 4 < report.bytes_before,
            "{} → {} bytes",
            report.bytes_before,
            report.bytes_after
        );
        assert_eq!(ids(&store), vec!["recent"]);
    }
}
