//! tokentrail's parsers: the event model, transport unwrapping, token redaction, format
//! detection and one module per log format (grouped by family: issuer, CE, storage).
//!
//! A parser never knows about the store: it turns lines into [`Event`]s, nothing more.

pub mod csv;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod json;
pub mod jwt;
pub mod kv;
pub mod parser;
pub mod registry;
pub mod stream;
pub mod time;
pub mod unwrap;

#[cfg(test)]
mod testing;

pub mod ce;
pub mod issuer;
pub mod storage;

pub use event::{action, outcome, Event, IdSource, Label, Origin, Service, Timestamp};
pub use parser::{Context, Feed, Format, Line, LineParser};
pub use stream::{parse_text, RawLine, Stats, StreamParser};
