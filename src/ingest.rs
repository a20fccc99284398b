//! `tokentrail ingest`: files → lines → events → store.
//!
//! Files are parsed on blocking worker threads (one file at a time per thread, lines in
//! order); events travel in bounded batches to one writer thread, which adds them to the
//! store and commits every few hundred thousand events with the checkpoints of every stream.
//! Re-ingesting is idempotent: a stream is known by the fingerprint of its first bytes, a
//! stream read completely and unchanged is skipped, and events of a known stream that lie
//! before its committed position are looked up by id before they are added.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use tokentrail_index::{Backend, Checkpoints, EventSink, SourceCheckpoint};
use tokentrail_parsers::stream::{RawLine, Stats, StreamParser};
use tokentrail_parsers::time::{TimeContext, Zone};
use tokentrail_parsers::{Context, Event};

use crate::input::{self, InputFile, LineReader, FINGERPRINT_BYTES};

/// Events per batch sent to the writer.
const BATCH_EVENTS: usize = 4096;
/// Batches in flight between parsers and the writer (backpressure beyond). The writer is the
/// slower side; a deeper queue only holds more parsed events in memory (16 batches held
/// ~65 000 events).
const CHANNEL_BATCHES: usize = 4;
/// The tantivy writer's indexing memory, all threads together. At 256 MiB a 50 M-event ingest
/// peaked at 988 MiB and 1 074 MiB of RSS in two runs (anonymous ≤ 771 MiB, mapped index
/// pages ≤ 372 MiB): too close to the 1 GiB a site provisions. Half of it makes segments
/// half as large before they merge.
const WRITER_MEMORY_BUDGET: usize = 128 << 20;

/// What to ingest and how to read it.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    pub paths: Vec<PathBuf>,
    /// `--format`: skip detection.
    pub format: Option<String>,
    /// Zone of times printed without one.
    pub zone: Zone,
    /// `--year` for lines that print none.
    pub year: Option<i32>,
    /// `--host`: the host that wrote these logs (else from the path or the syslog prefix).
    pub host: Option<String>,
    /// dCache OP alias → issuer URL.
    pub issuer_aliases: BTreeMap<String, String>,
    /// Line length cap.
    pub max_line_bytes: usize,
    /// Parser threads.
    pub threads: usize,
    /// Commit after this many added events.
    pub commit_every: u64,
    /// Writer memory budget in bytes.
    pub memory_budget: usize,
    /// Show progress on standard error.
    pub progress: bool,
    /// Called by the writer with each batch of newly stored events (watchlist alerts).
    pub observer: Option<BatchObserver>,
}

/// The callback of a [`BatchObserver`].
pub type ObserveBatch = dyn FnMut(&[Event]) + Send;

/// A callback on each batch of newly stored events; it must not block (the writer waits).
#[derive(Clone)]
pub struct BatchObserver(pub Arc<Mutex<ObserveBatch>>);

impl std::fmt::Debug for BatchObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchObserver")
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            paths: Vec::new(),
            format: None,
            zone: Zone::Local,
            year: None,
            host: None,
            issuer_aliases: BTreeMap::new(),
            max_line_bytes: input::DEFAULT_MAX_LINE_BYTES,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            commit_every: 500_000,
            memory_budget: WRITER_MEMORY_BUDGET,
            progress: false,
            observer: None,
        }
    }
}

/// What an ingest run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IngestReport {
    pub stats: Stats,
    /// Events added to the store.
    pub added: u64,
    /// Events already in the store (re-ingest).
    pub already_present: u64,
    /// Files skipped because they were already ingested completely and are unchanged.
    pub unchanged_files: u64,
    /// Files that could not be read, with the reason.
    pub failed_files: Vec<(String, String)>,
    pub seconds: f64,
}

/// One batch from a parser thread to the writer.
enum Message {
    Batch {
        fingerprint: String,
        events: Vec<Event>,
        /// Events that originated before this offset may already be stored.
        check_below: u64,
        checkpoint: SourceCheckpoint,
    },
}

/// How a stream relates to what is already stored.
struct Known {
    fingerprint: String,
    prefix_len: u64,
    previous: Option<SourceCheckpoint>,
}

pub(crate) fn fingerprint_of(prefix: &[u8]) -> String {
    // The pipeline's fingerprint of a first line would collide for files that start alike;
    // the first 4 KiB (or the whole of a smaller file) tell streams apart.
    let digest = Sha256::digest(prefix);
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Finds the stream in the checkpoints: by the fingerprint of its first 4 KiB, or — for a
/// file that has grown since it was read while smaller than that — by a shorter prefix.
fn identify(prefix: &[u8], checkpoints: &Checkpoints) -> Known {
    let fingerprint = fingerprint_of(prefix);
    if let Some(previous) = checkpoints.sources.get(&fingerprint) {
        return Known {
            fingerprint,
            prefix_len: prefix.len() as u64,
            previous: Some(previous.clone()),
        };
    }
    let shorter: HashSet<u64> = checkpoints
        .sources
        .values()
        .map(|source| source.prefix_len)
        .filter(|length| {
            (*length as usize) < prefix.len() && (*length as usize) < FINGERPRINT_BYTES
        })
        .collect();
    for length in shorter {
        let candidate = fingerprint_of(&prefix[..length as usize]);
        if let Some(previous) = checkpoints.sources.get(&candidate) {
            if previous.prefix_len == length {
                return Known {
                    fingerprint: candidate,
                    prefix_len: length,
                    previous: Some(previous.clone()),
                };
            }
        }
    }
    Known {
        fingerprint,
        prefix_len: prefix.len() as u64,
        previous: None,
    }
}

struct Shared {
    options: IngestOptions,
    checkpoints: Checkpoints,
    bytes_read: Arc<AtomicU64>,
    lines_read: AtomicU64,
    stats: Mutex<Stats>,
    unchanged: AtomicU64,
    failed: Mutex<Vec<(String, String)>>,
    /// Fingerprints already taken by a stream of this run (the same content given twice).
    claimed: Mutex<HashSet<String>>,
}

/// Ingests `options.paths` into `store`.
pub fn ingest(store: &dyn Backend, options: IngestOptions) -> Result<IngestReport> {
    let started = Instant::now();
    let files = input::discover(&options.paths)?;
    let total_bytes: u64 = files.iter().map(|file| file.size).sum();
    if let Some(format) = &options.format {
        if tokentrail_parsers::registry::find(format).is_none() {
            anyhow::bail!(
                "unknown format {format:?}; known formats: {}",
                tokentrail_parsers::registry::ids().join(", ")
            );
        }
    }
    let mut sink = store.open_sink(options.memory_budget)?;
    let checkpoints = store.checkpoints()?;
    let shared = Arc::new(Shared {
        options: options.clone(),
        checkpoints: checkpoints.clone(),
        bytes_read: Arc::new(AtomicU64::new(0)),
        lines_read: AtomicU64::new(0),
        stats: Mutex::new(Stats::default()),
        unchanged: AtomicU64::new(0),
        failed: Mutex::new(Vec::new()),
        claimed: Mutex::new(HashSet::new()),
    });

    let (sender, receiver) = sync_channel::<Message>(CHANNEL_BATCHES);
    let queue = Arc::new(Mutex::new(files.into_iter()));
    let threads = options.threads.clamp(1, 16);
    let mut workers = Vec::new();
    for _ in 0..threads {
        let queue = Arc::clone(&queue);
        let sender = sender.clone();
        let shared = Arc::clone(&shared);
        workers.push(std::thread::spawn(move || loop {
            let next = queue.lock().map(|mut files| files.next()).unwrap_or(None);
            let Some(file) = next else { break };
            // A parser bug must cost one file, reported, never the rest of the run.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_file(&file, &shared, &sender)
            }));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(format!("{error:#}")),
                Err(panic) => Some(format!(
                    "internal error while parsing (please report): {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|text| text.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            if let Some(error) = failure {
                tracing::error!(file = %file.display, %error, "file not ingested");
                if let Ok(mut failed) = shared.failed.lock() {
                    failed.push((file.display.clone(), error));
                }
            }
        }));
    }
    drop(sender);

    let progress = options
        .progress
        .then(|| spawn_progress(Arc::clone(&shared), total_bytes));
    let written = write_all(
        sink.as_mut(),
        receiver,
        checkpoints,
        options.commit_every,
        options.observer.as_ref(),
    );
    for worker in workers {
        let _ = worker.join();
    }
    if let Some((stop, handle)) = progress {
        stop.store(1, Ordering::Relaxed);
        let _ = handle.join();
    }
    let (added, already_present) = written?;
    let stats = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
    let failed_files = shared.failed.lock().map(|f| f.clone()).unwrap_or_default();
    sink.finish()
        .context("every event is committed, but merging the store's last small segments failed")?;
    store.refresh()?;
    Ok(IngestReport {
        stats,
        added,
        already_present,
        unchanged_files: shared.unchanged.load(Ordering::Relaxed),
        failed_files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The writer loop: adds batches, commits with checkpoints every `commit_every` events and at
/// the end. Returns (added, already present).
fn write_all(
    sink: &mut dyn EventSink,
    receiver: Receiver<Message>,
    mut checkpoints: Checkpoints,
    commit_every: u64,
    observer: Option<&BatchObserver>,
) -> Result<(u64, u64)> {
    let mut added = 0u64;
    let mut present = 0u64;
    let mut since_commit = 0u64;
    for message in receiver {
        let Message::Batch {
            fingerprint,
            events,
            check_below,
            checkpoint,
        } = message;
        let mut fresh = Vec::new();
        for event in &events {
            let check = event.origin.offset < check_below;
            if sink
                .add(event, check)
                .context("while adding events to the store")?
            {
                added += 1;
                since_commit += 1;
                if observer.is_some() {
                    fresh.push(event.clone());
                }
            } else {
                present += 1;
            }
        }
        if let (Some(observer), false) = (observer, fresh.is_empty()) {
            if let Ok(mut observe) = observer.0.lock() {
                observe(&fresh);
            }
        }
        checkpoints.sources.insert(fingerprint, checkpoint);
        if since_commit >= commit_every {
            sink.commit(&checkpoints).context("while committing")?;
            since_commit = 0;
        }
    }
    sink.commit(&checkpoints).context("while committing")?;
    Ok((added, present))
}

fn read_file(file: &InputFile, shared: &Shared, sender: &SyncSender<Message>) -> Result<()> {
    let options = &shared.options;
    let opened = input::open(&file.path, Arc::clone(&shared.bytes_read))?;
    let known = identify(&opened.prefix, &shared.checkpoints);
    if let Some(previous) = &known.previous {
        if previous.complete && previous.file_size == file.size {
            shared.unchanged.fetch_add(1, Ordering::Relaxed);
            shared.bytes_read.fetch_add(file.size, Ordering::Relaxed);
            return Ok(());
        }
    }
    let first_in_run = shared
        .claimed
        .lock()
        .map(|mut claimed| claimed.insert(known.fingerprint.clone()))
        .unwrap_or(true);
    if !first_in_run {
        // The same content was given twice in one run (a file and its compressed copy):
        // its events are already on their way.
        shared.unchanged.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let check_below = known.previous.as_ref().map_or(0, |previous| previous.end);

    let context = stream_context(file, options);
    let mut stream = StreamParser::new(
        context,
        options.format.as_deref(),
        known.fingerprint.clone(),
    )?;
    let mut reader = LineReader::new(opened.reader, options.max_line_bytes);
    let mut line = Vec::with_capacity(4096);
    let mut events = Vec::with_capacity(BATCH_EVENTS);
    let mut lines = 0u64;
    let mut unterminated = false;
    let checkpoint = |end: u64, complete: bool| SourceCheckpoint {
        path: file.display.clone(),
        prefix_len: known.prefix_len,
        end,
        file_size: file.size,
        complete,
    };
    loop {
        let position = reader
            .next_line(&mut line)
            .with_context(|| format!("while reading {}", file.display))?;
        let Some(position) = position else { break };
        lines += 1;
        unterminated = !position.terminated;
        stream.feed(
            RawLine {
                bytes: &line,
                number: position.number,
                offset: position.offset,
                truncated: position.truncated,
            },
            &mut events,
        );
        if events.len() >= BATCH_EVENTS {
            let batch = std::mem::replace(&mut events, Vec::with_capacity(BATCH_EVENTS));
            sender
                .send(Message::Batch {
                    fingerprint: known.fingerprint.clone(),
                    events: batch,
                    check_below,
                    checkpoint: checkpoint(reader.offset(), false),
                })
                .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
            shared.lines_read.fetch_add(lines, Ordering::Relaxed);
            lines = 0;
        }
    }
    stream.finish(&mut events);
    shared.lines_read.fetch_add(lines, Ordering::Relaxed);
    sender
        .send(Message::Batch {
            fingerprint: known.fingerprint.clone(),
            events,
            check_below,
            checkpoint: checkpoint(reader.offset(), true),
        })
        .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
    let mut file_stats = stream.into_stats();
    file_stats.files = 1;
    file_stats.bytes = reader.offset();
    file_stats.unterminated_last_line = u64::from(unterminated);
    if let Ok(mut stats) = shared.stats.lock() {
        stats.merge(&file_stats);
    }
    Ok(())
}

/// The parsing context of one input file: zone and year, host (flag, path or nothing), the
/// path shown in `origin.file` and the file name used for format hints.
pub fn stream_context(file: &InputFile, options: &IngestOptions) -> Context {
    Context {
        time: TimeContext {
            zone: options.zone.clone(),
            year_override: options.year,
            reference_date: input::reference_date(file),
        },
        host: options
            .host
            .clone()
            .or_else(|| file.host_hint.clone())
            .unwrap_or_default(),
        path: file.display.clone(),
        file_name: input::hint_name(&file.path),
        issuer_aliases: Arc::new(options.issuer_aliases.clone()),
    }
}

fn spawn_progress(
    shared: Arc<Shared>,
    total_bytes: u64,
) -> (Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicU64::new(0));
    let stop_flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let started = Instant::now();
        let mut shown = false;
        while stop_flag.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(250));
            let elapsed = started.elapsed().as_secs_f64();
            if elapsed < 1.0 {
                continue;
            }
            let bytes = shared.bytes_read.load(Ordering::Relaxed);
            let lines = shared.lines_read.load(Ordering::Relaxed);
            let rate = bytes as f64 / elapsed;
            let left = if rate > 0.0 && total_bytes > bytes {
                format!("{:.0}s left", (total_bytes - bytes) as f64 / rate)
            } else {
                String::new()
            };
            eprint!(
                "\r{:>8.1} / {:.1} MB  {:>9.0} lines/s  {:>6.1} MB/s  {left}    ",
                bytes as f64 / 1e6,
                total_bytes as f64 / 1e6,
                lines as f64 / elapsed,
                rate / 1e6,
            );
            shown = true;
        }
        if shown {
            eprint!("\r{:80}\r", "");
        }
    });
    (stop, handle)
}

/// Whether progress should be shown by default (standard error is a terminal).
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal()
}
