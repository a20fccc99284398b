//! tokentrail's store: the backend-neutral query language and store traits, and the embedded
//! tantivy implementation (schema, batched idempotent writer, commit checkpoints, retention),
//! and the scale-out ClickHouse implementation.

pub mod analytics;
pub mod clickhouse;
mod event_cache;
mod key_terms;
mod merge;
pub mod query;
pub mod retention;
pub mod store;
mod stored;
mod tantivy_store;
pub mod trace;
mod words;

use std::path::PathBuf;

pub use clickhouse::{ClickHouseSink, ClickHouseStore};
pub use query::{parse as parse_query, Query, QueryError};
pub use retention::{Retention, RetentionReport, DEFAULT_RETENTION_DAYS};
pub use store::{
    Backend, Checkpoints, EventSink, EventStore, Hits, Order, SharedHits, SourceCheckpoint,
};
pub use tantivy_store::{TantivySink, TantivyStore};
pub use trace::{trace, Seed, TraceAnswer, TraceRequest};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the index at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "another tokentrail process is writing to {0}; stop it or use another --data directory"
    )]
    Busy(PathBuf),
    #[error("the data directory {0} is read-only: tokentrail must write there (its lock files, new data); remount it read-write or copy it")]
    ReadOnly(PathBuf),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("index data is corrupt: {0}")]
    Corrupt(String),
    #[error("bad store URL {url}: {reason}")]
    BadStoreUrl { url: String, reason: String },
    #[error("cannot reach ClickHouse at {address}: {source}")]
    ClickHouseConnection {
        address: String,
        source: std::io::Error,
    },
    #[error("ClickHouse at {address} answered {status}: {message}")]
    ClickHouse {
        address: String,
        status: u16,
        message: String,
    },
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}
