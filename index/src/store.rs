//! The store seam: what ingest, the trace engine and the front ends need from a backend.
//! The embedded default is [`crate::TantivyStore`]; a scale-out backend implements the same.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokentrail_parsers::Event;

use crate::query::Query;
use crate::Error;

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first (search).
    #[default]
    NewestFirst,
    /// Oldest first (trace timelines).
    OldestFirst,
}

/// A page of matching events and how many matched in all.
#[derive(Clone, Debug, Default)]
pub struct Hits {
    pub events: Vec<Event>,
    pub total: u64,
}

/// A page of matching events shared with the store (whose cache may hold the same events):
/// a caller that only reads them, as the trace does, need not copy each one.
#[derive(Clone, Debug, Default)]
pub struct SharedHits {
    pub events: Vec<Arc<Event>>,
    pub total: u64,
}

/// What ingest has committed for one input stream, keyed by its content fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    /// The path it was last read from.
    pub path: String,
    /// Bytes of the stream's start that make up the fingerprint.
    pub prefix_len: u64,
    /// Every event that originated before this byte offset is committed.
    pub end: u64,
    /// Size of the file on disk when `end` was reached (compressed size for `.gz`).
    pub file_size: u64,
    /// The whole stream was read (up to `file_size`).
    #[serde(default)]
    pub complete: bool,
}

/// Checkpoints stored with each commit, so index content and read positions move together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// Input streams by content fingerprint.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceCheckpoint>,
    /// Live collectors' positions (tailers, by collector-defined key).
    #[serde(default)]
    pub collectors: BTreeMap<String, serde_json::Value>,
}

/// Read access to stored events.
pub trait EventStore: Send + Sync {
    /// Events matching `query`, at most `limit`, in `order`, with the total match count.
    fn search(&self, query: &Query, limit: usize, order: Order) -> Result<Hits, Error>;

    /// [`EventStore::search`], the events shared rather than copied where the backend keeps
    /// decoded events of its own.
    fn search_shared(
        &self,
        query: &Query,
        limit: usize,
        order: Order,
    ) -> Result<SharedHits, Error> {
        let hits = self.search(query, limit, order)?;
        Ok(SharedHits {
            events: hits.events.into_iter().map(Arc::new).collect(),
            total: hits.total,
        })
    }

    /// The event with this id.
    fn get(&self, id: &str) -> Result<Option<Event>, Error> {
        let hits = self.search(&Query::term("id", id), 1, Order::NewestFirst)?;
        Ok(hits.events.into_iter().next())
    }

    /// How many events match.
    fn count(&self, query: &Query) -> Result<u64, Error> {
        Ok(self.search(query, 0, Order::NewestFirst)?.total)
    }

    /// Which of `values` of the key field `field` some event matching `query` holds: a
    /// question of presence, answered without the events where the backend can (the trace
    /// asks it of sessions that might name another identity). `query` is ANDed with the
    /// values, its own top-level AND flattened into that one.
    fn values_present(
        &self,
        field: &str,
        values: &[String],
        query: &Query,
    ) -> Result<HashSet<String>, Error> {
        values_present_by_search(self, field, values, query)
    }

    /// The checkpoints of the last commit.
    fn checkpoints(&self) -> Result<Checkpoints, Error>;

    /// How many values of one field a lookup should put in one OR query. An index answers
    /// each term from its dictionary, so small batches are cheap; a column store scans the
    /// column once per query whatever the number of values, so it wants large ones.
    fn terms_per_query(&self) -> usize {
        64
    }
}

/// Write access: batched, idempotent by event id, committed with checkpoints.
pub trait EventSink: Send {
    /// Adds an event. With `check_existing`, an event whose id is already committed is
    /// skipped (returns `false`).
    fn add(&mut self, event: &Event, check_existing: bool) -> Result<bool, Error>;

    /// Makes everything added so far durable and visible, together with `checkpoints`.
    fn commit(&mut self, checkpoints: &Checkpoints) -> Result<(), Error>;

    /// Ends a batch ingest after its last commit: the backend may tidy what the ingest left
    /// (the tantivy store merges its small segments). Nothing is added; what was committed
    /// stays committed.
    fn finish(self: Box<Self>) -> Result<(), Error> {
        Ok(())
    }
}

/// A complete backend: read access plus its writer. Ingest, collectors and front ends take a
/// `&dyn Backend`, so the embedded tantivy store and a scale-out store are interchangeable.
pub trait Backend: EventStore {
    /// Opens the single writer.
    fn open_sink(&self, memory_budget: usize) -> Result<Box<dyn EventSink>, Error>;

    /// Makes the latest commit visible to searches.
    fn refresh(&self) -> Result<(), Error>;

    /// Removes every dated event before `cutoff` (a UTC midnight: retention works in whole
    /// days) and makes the removal durable. Undated events are kept.
    fn remove_before(&self, cutoff: tokentrail_parsers::Timestamp) -> Result<(), Error>;

    /// Bytes the store takes on disk, when this process can know it.
    fn disk_bytes(&self) -> Option<u64> {
        None
    }
}

/// [`EventStore::values_present`] from searches: the events of the values, chunk by chunk,
/// asked again for the values not seen while a search had more hits than it returned.
pub fn values_present_by_search<S: EventStore + ?Sized>(
    store: &S,
    field: &str,
    values: &[String],
    query: &Query,
) -> Result<HashSet<String>, Error> {
    let rest = query.and_parts();
    let mut present = HashSet::new();
    for chunk in values.chunks(store.terms_per_query().max(1)) {
        let mut left: Vec<&String> = chunk.iter().collect();
        while !left.is_empty() {
            let mut parts = vec![Query::Or(
                left.iter().map(|value| Query::term(field, value)).collect(),
            )];
            parts.extend(rest.iter().cloned());
            let hits = store.search(&Query::And(parts), 1024, Order::OldestFirst)?;
            let before = present.len();
            for event in &hits.events {
                for (name, value) in event.key_values() {
                    if name == field && left.iter().any(|wanted| *wanted == value) {
                        present.insert(value.to_string());
                    }
                }
            }
            // Done when the search returned every hit, or found nothing new (a backend that
            // compares values cut to their indexed length).
            if hits.total <= hits.events.len() as u64 || present.len() == before {
                break;
            }
            left.retain(|value| !present.contains(*value));
        }
    }
    Ok(present)
}
