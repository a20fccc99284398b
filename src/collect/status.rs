//! `tokentrail status`: what the collectors have committed — totals per collector and, per
//! followed file, the committed position against the file's size now (the lag).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use tokentrail_index::EventStore;

use super::writer::collector_states;

/// One followed file.
#[derive(Debug, Serialize)]
pub struct FileStatus {
    pub path: String,
    /// Committed position.
    pub committed: u64,
    /// Size on disk now (`null` when the file is gone).
    pub size: Option<u64>,
    /// Bytes written and not yet committed.
    pub lag_bytes: u64,
    pub finished: bool,
}

/// One collector.
#[derive(Debug, Serialize)]
pub struct CollectorStatus {
    pub collector: String,
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub errors: u64,
    pub lag_bytes: u64,
    pub files: Vec<FileStatus>,
}

/// The committed status of every collector in `store`.
pub fn collect_status(store: &dyn EventStore) -> Result<Vec<CollectorStatus>> {
    let checkpoints = store.checkpoints()?;
    let mut out = Vec::new();
    for (key, state) in collector_states(&checkpoints) {
        let mut files = Vec::new();
        for stream in state.streams.values() {
            let size = std::fs::metadata(&stream.path).ok().map(|m| m.len());
            let lag_bytes = if stream.finished {
                0
            } else {
                size.map_or(0, |size| size.saturating_sub(stream.end))
            };
            files.push(FileStatus {
                path: stream.path.clone(),
                committed: stream.end,
                size,
                lag_bytes,
                finished: stream.finished,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        out.push(CollectorStatus {
            collector: key,
            lines: state.lines,
            bytes: state.bytes,
            events: state.events,
            errors: state.errors,
            lag_bytes: files.iter().map(|f| f.lag_bytes).sum(),
            files,
        });
    }
    Ok(out)
}

/// Prints the status as a table.
pub fn write_table(out: &mut dyn Write, status: &[CollectorStatus]) -> std::io::Result<()> {
    if status.is_empty() {
        writeln!(out, "no collector has committed anything in this store yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<28} {:>12} {:>14} {:>12} {:>8} {:>12}",
        "collector", "lines", "bytes", "events", "errors", "lag bytes"
    )?;
    for collector in status {
        writeln!(
            out,
            "{:<28} {:>12} {:>14} {:>12} {:>8} {:>12}",
            collector.collector,
            collector.lines,
            collector.bytes,
            collector.events,
            collector.errors,
            collector.lag_bytes
        )?;
        for file in collector.files.iter().filter(|f| !f.finished) {
            writeln!(
                out,
                "  {:<60} committed {:>12}  size {:>12}  lag {:>10}",
                file.path,
                file.committed,
                file.size.map_or("gone".to_string(), |s| s.to_string()),
                file.lag_bytes
            )?;
        }
        let finished = collector.files.iter().filter(|f| f.finished).count();
        if finished > 0 {
            writeln!(out, "  ({finished} rotated files read completely)")?;
        }
    }
    Ok(())
}
