//! Measurement helpers for the benchmarks (`benches/`, `examples/bench_driver.rs`,
//! `scripts/bench.sh`): the ingest pipeline cut in two — parsing without the store, and
//! already-parsed events written through the store's own sink without parsing — so that
//! end-to-end ingest can be reported as a fraction of each stage alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::Serialize;
use tokentrail_index::{Backend, Checkpoints, TantivyStore};
use tokentrail_parsers::stream::{content_fingerprint, RawLine, StreamParser};
use tokentrail_parsers::Event;

use crate::ingest::{stream_context, IngestOptions};
use crate::input::{self, LineReader};

/// Throughput of one format family in a parse-only run: the files whose lines were mostly
/// of this format, and the time one thread spent parsing them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FormatRate {
    pub files: u64,
    pub bytes: u64,
    pub lines: u64,
    pub thread_seconds: f64,
    /// Bytes per second of one thread (one core when threads ≤ cores).
    pub mb_per_s_per_thread: f64,
}

/// A parse-only run over a corpus.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParseRun {
    pub threads: usize,
    pub files: u64,
    /// Decompressed bytes parsed.
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    /// Wall time.
    pub seconds: f64,
    pub mb_per_s: f64,
    pub events_per_s: f64,
    /// Events kept for a later store-only run (every `keep_every`-th).
    pub kept: u64,
    /// Lines attributed to each format, by the format that took most lines of a file.
    pub per_format: BTreeMap<String, FormatRate>,
}

/// Parses every file under `options.paths` the way ingest does (one file at a time per
/// thread, `options.threads` threads) and drops the events, keeping every `keep_every`-th
/// (0: none) for [`store_only`].
pub fn parse_only(options: &IngestOptions, keep_every: u64) -> Result<(ParseRun, Vec<Event>)> {
    let files = input::discover(&options.paths)?;
    let file_count = files.len() as u64;
    let queue = Arc::new(Mutex::new(files.into_iter()));
    let threads = options.threads.clamp(1, 16);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..threads {
        let queue = Arc::clone(&queue);
        let options = options.clone();
        workers.push(std::thread::spawn(
            move || -> Result<(ParseRun, Vec<Event>)> {
                let mut run = ParseRun::default();
                let mut kept = Vec::new();
                let mut seen = 0u64;
                loop {
                    let next = queue.lock().map(|mut files| files.next()).unwrap_or(None);
                    let Some(file) = next else { break };
                    let file_started = Instant::now();
                    let opened = input::open(&file.path, Arc::new(AtomicU64::new(0)))?;
                    let mut stream = StreamParser::new(
                        stream_context(&file, &options),
                        options.format.as_deref(),
                        content_fingerprint(&opened.prefix),
                    )?;
                    let mut reader = LineReader::new(opened.reader, options.max_line_bytes);
                    let mut line = Vec::with_capacity(4096);
                    let mut events = Vec::with_capacity(4096);
                    let mut drain = |events: &mut Vec<Event>, run: &mut ParseRun| {
                        for event in events.drain(..) {
                            run.events += 1;
                            seen += 1;
                            if keep_every > 0 && seen.is_multiple_of(keep_every) {
                                kept.push(event);
                            }
                        }
                    };
                    while let Some(position) = reader
                        .next_line(&mut line)
                        .with_context(|| format!("while reading {}", file.display))?
                    {
                        stream.feed(
                            RawLine {
                                bytes: &line,
                                number: position.number,
                                offset: position.offset,
                                truncated: position.truncated,
                            },
                            &mut events,
                        );
                        if events.len() >= 4096 {
                            drain(&mut events, &mut run);
                        }
                    }
                    stream.finish(&mut events);
                    drain(&mut events, &mut run);
                    let stats = stream.into_stats();
                    let seconds = file_started.elapsed().as_secs_f64();
                    run.bytes += reader.offset();
                    run.lines += stats.lines();
                    let dominant = stats
                        .formats
                        .iter()
                        .max_by_key(|(_, counts)| counts.lines)
                        .map(|(format, _)| format.clone())
                        .unwrap_or_else(|| "empty".into());
                    let rate = run.per_format.entry(dominant).or_default();
                    rate.files += 1;
                    rate.bytes += reader.offset();
                    rate.lines += stats.lines();
                    rate.thread_seconds += seconds;
                }
                run.kept = kept.len() as u64;
                Ok((run, kept))
            },
        ));
    }
    let mut kept = Vec::new();
    let mut total = ParseRun {
        threads,
        files: file_count,
        ..ParseRun::default()
    };
    for worker in workers {
        let (run, mut events) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a parser thread panicked"))??;
        kept.append(&mut events);
        total.bytes += run.bytes;
        total.lines += run.lines;
        total.events += run.events;
        total.kept += run.kept;
        for (format, rate) in run.per_format {
            let mine = total.per_format.entry(format).or_default();
            mine.files += rate.files;
            mine.bytes += rate.bytes;
            mine.lines += rate.lines;
            mine.thread_seconds += rate.thread_seconds;
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.mb_per_s = total.bytes as f64 / 1e6 / total.seconds;
    total.events_per_s = total.events as f64 / total.seconds;
    for rate in total.per_format.values_mut() {
        rate.mb_per_s_per_thread = rate.bytes as f64 / 1e6 / rate.thread_seconds.max(1e-9);
    }
    Ok((total, kept))
}

/// A store-only run: parsed events written through the store's sink.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StoreRun {
    pub events: u64,
    /// Bytes of the events' raw lines (plus one newline each): the input they stand for.
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub events_per_s: f64,
}

/// Writes `events` into a new tantivy store under `data_dir` with ingest's writer settings
/// (memory budget, commit interval) and ends it as ingest does, without parsing: the ceiling
/// of ingest.
pub fn store_only(events: &[Event], data_dir: &Path, options: &IngestOptions) -> Result<StoreRun> {
    let store = TantivyStore::open(data_dir)?;
    let started = Instant::now();
    let mut sink = store.open_sink(options.memory_budget)?;
    let checkpoints = Checkpoints::default();
    let mut since_commit = 0u64;
    let mut bytes = 0u64;
    for event in events {
        sink.add(event, false)?;
        bytes += event.raw.len() as u64 + 1;
        since_commit += 1;
        if since_commit >= options.commit_every {
            sink.commit(&checkpoints)?;
            since_commit = 0;
        }
    }
    sink.commit(&checkpoints)?;
    // Ended as an ingest ends (its last small segments merged), so the two compare.
    sink.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(StoreRun {
        events: events.len() as u64,
        bytes,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        events_per_s: events.len() as f64 / seconds,
    })
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Percentiles of `samples_ms`.
pub fn percentiles(samples_ms: &[f64]) -> Percentiles {
    if samples_ms.is_empty() {
        return Percentiles::default();
    }
    let mut sorted = samples_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[index.clamp(1, sorted.len()) - 1]
    };
    Percentiles {
        samples: sorted.len(),
        p50_ms: rank(50.0),
        p95_ms: rank(95.0),
        p99_ms: rank(99.0),
        max_ms: sorted[sorted.len() - 1],
    }
}

/// The paths to ingest, as options for the helpers above.
pub fn options_for(paths: Vec<PathBuf>, threads: Option<usize>) -> IngestOptions {
    let mut options = IngestOptions {
        paths,
        zone: tokentrail_parsers::time::Zone::Utc,
        ..IngestOptions::default()
    };
    if let Some(threads) = threads {
        options.threads = threads;
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let found = percentiles(&samples);
        assert_eq!(found.p50_ms, 50.0);
        assert_eq!(found.p95_ms, 95.0);
        assert_eq!(found.p99_ms, 99.0);
        assert_eq!(found.max_ms, 100.0);
        assert_eq!(percentiles(&[]).samples, 0);
    }
}
