//! The single writer shared by all collectors: adds their batches to the store and commits
//! every `commit_interval` (or `commit_events`) with every collector's position in the
//! commit payload, so that index content and positions always move together.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokentrail_index::{Backend, Checkpoints, EventSink, SourceCheckpoint};
use tokentrail_parsers::Event;

use super::metrics::{CollectorMetrics, Metrics};

/// Where a tailer stands in one file stream (by content fingerprint).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    /// Path it was last seen at.
    pub path: String,
    /// Device and inode it was last read from.
    pub dev: u64,
    pub ino: u64,
    /// Bytes of its start that make up the fingerprint (the stream's key and event-id seed,
    /// fixed when the stream is first seen).
    pub prefix_len: u64,
    /// Bytes of its start covered by `head`: taken again as the file grows, up to the full
    /// fingerprint length, so that a stream first seen while it held a few bytes (half a
    /// line) is not mistaken for a later file that merely starts alike.
    #[serde(default)]
    pub head_len: u64,
    /// Fingerprint of the first `head_len` bytes (empty in checkpoints of older versions:
    /// the key over `prefix_len` is the identity then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub head: String,
    /// A restart reads again from here (a line boundary where no multi-line record was open).
    pub resume: u64,
    /// Lines before `resume`.
    pub resume_line: u64,
    /// Every event that originated before this offset is committed; events re-read below it
    /// are looked up by id before being added.
    pub end: u64,
    /// Size of the file when last read (compressed size for gzip).
    pub size: u64,
    /// Read to its end and closed (rotated away, deleted, compressed copy).
    #[serde(default)]
    pub finished: bool,
    /// Unix seconds it was last read or seen.
    #[serde(default)]
    pub seen: i64,
}

impl StreamCheckpoint {
    /// The length and fingerprint of the longest start of the stream that is known: a file
    /// is this stream only if its first bytes match over this length.
    pub fn identity<'a>(&'a self, key: &'a str) -> (u64, &'a str) {
        if self.head.is_empty() || self.head_len < self.prefix_len {
            (self.prefix_len, key)
        } else {
            (self.head_len, &self.head)
        }
    }
}

/// What one collector keeps in the commit payload (`Checkpoints.collectors[<kind>:<name>]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorState {
    /// Tailed streams by content fingerprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamCheckpoint>,
    /// Committed totals.
    #[serde(default)]
    pub lines: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub events: u64,
    #[serde(default)]
    pub errors: u64,
}

/// Finished streams kept per collector to recognise compressed or copied rotations.
const KEEP_FINISHED: usize = 4096;

/// Sent by a collector to the writer.
pub(crate) struct Batch {
    /// `Checkpoints.collectors` key of the sender.
    pub collector: String,
    pub metrics: Arc<CollectorMetrics>,
    pub events: Vec<Event>,
    /// Events that originated before this offset may already be stored (checked by id).
    pub check_below: u64,
    /// New position of one tailed stream.
    pub stream: Option<(String, StreamCheckpoint)>,
    pub lines: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Told the outcome once the batch is committed (HTTP push answers after that).
    pub ack: Option<tokio::sync::oneshot::Sender<Result<u64, String>>>,
}

pub(crate) struct WriterSettings {
    pub commit_interval: Duration,
    pub commit_events: u64,
    /// Watchlist matching of every committed event (alerts log, `alerts.jsonl`, webhook).
    pub watcher: Option<LiveWatcher>,
}

/// A watchlist watcher for a long run: the watchlist file's modification time is looked at
/// for every batch received (one `stat`), so entries added from the CLI or the web UI after
/// the start apply from the next batch on. Events are kept for matching only while the
/// watchlist has entries: an empty list costs nothing on the write path.
pub(crate) struct LiveWatcher {
    watcher: crate::analytics::Watcher,
    data_dir: std::path::PathBuf,
    modified: Option<std::time::SystemTime>,
}

impl LiveWatcher {
    /// A watcher over `data_dir/watchlist.json` (empty or absent is fine: nothing matches
    /// until entries appear), alerting to `data_dir/alerts.jsonl` and `webhook`.
    pub fn new(data_dir: &std::path::Path, webhook: Option<&str>) -> anyhow::Result<LiveWatcher> {
        let list = crate::analytics::Watchlist::load(data_dir)?;
        let sender = match webhook {
            Some(url) => {
                Some(crate::analytics::WebhookSender::spawn(url).map_err(|e| anyhow::anyhow!(e))?)
            }
            None => None,
        };
        Ok(LiveWatcher {
            watcher: crate::analytics::Watcher::new(&list, Some(data_dir), sender),
            data_dir: data_dir.to_path_buf(),
            modified: watchlist_modified(data_dir),
        })
    }

    /// Reloads the watchlist if its file changed; says whether there is anything to watch.
    pub fn refresh(&mut self) -> bool {
        let modified = watchlist_modified(&self.data_dir);
        if modified != self.modified {
            match crate::analytics::Watchlist::load(&self.data_dir) {
                Ok(list) => {
                    tracing::info!(entries = list.entries.len(), "watchlist reloaded");
                    self.watcher.set_watchlist(&list);
                    self.modified = modified;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot reload the watchlist; keeping the previous one")
                }
            }
        }
        !self.watcher.is_empty()
    }

    /// Matches newly committed events.
    pub fn check(&mut self, events: &[tokentrail_parsers::Event]) {
        if !events.is_empty() {
            self.watcher.check(events);
        }
    }
}

fn watchlist_modified(data_dir: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(data_dir.join(crate::analytics::watchlist::WATCHLIST_FILE))
        .and_then(|metadata| metadata.modified())
        .ok()
}

/// The collectors' states found in `checkpoints`.
pub fn collector_states(checkpoints: &Checkpoints) -> BTreeMap<String, CollectorState> {
    checkpoints
        .collectors
        .iter()
        .filter_map(|(key, value)| {
            serde_json::from_value(value.clone())
                .ok()
                .map(|state| (key.clone(), state))
        })
        .collect()
}

/// Runs until every sender is gone, then commits one last time.
pub(crate) fn run(
    backend: Arc<dyn Backend>,
    mut sink: Box<dyn EventSink>,
    receiver: Receiver<Batch>,
    mut checkpoints: Checkpoints,
    mut settings: WriterSettings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    // Events added since the last commit, for the watchlist (bounded by commit_events).
    let mut uncommitted_new: Vec<tokentrail_parsers::Event> = Vec::new();
    let mut states = collector_states(&checkpoints);
    let mut added_since_commit = 0u64;
    let mut dirty = false;
    let mut first_dirty = Instant::now();
    let mut waiting: Vec<tokio::sync::oneshot::Sender<Result<u64, String>>> = Vec::new();
    let mut pending_committed: Vec<(Arc<CollectorMetrics>, u64)> = Vec::new();
    let mut result = Ok(());
    loop {
        let timeout = if dirty {
            settings
                .commit_interval
                .saturating_sub(first_dirty.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        let received = receiver.recv_timeout(timeout);
        let disconnected = matches!(received, Err(RecvTimeoutError::Disconnected));
        if let Ok(batch) = received {
            if !dirty {
                first_dirty = Instant::now();
            }
            dirty = true;
            let watching = settings.watcher.as_mut().is_some_and(LiveWatcher::refresh);
            let mut added = 0u64;
            for event in &batch.events {
                match sink.add(event, event.origin.offset < batch.check_below) {
                    Ok(true) => {
                        added += 1;
                        if watching {
                            uncommitted_new.push(event.clone());
                        }
                    }
                    Ok(false) => {}
                    Err(error) => {
                        result = Err(anyhow::anyhow!("while adding events to the store: {error}"));
                        break;
                    }
                }
            }
            if result.is_err() {
                if let Some(ack) = batch.ack {
                    let _ = ack.send(Err("the store refused the events".into()));
                }
                break;
            }
            added_since_commit += added;
            metrics
                .uncommitted_events
                .fetch_add(added, Ordering::Relaxed);
            pending_committed.push((Arc::clone(&batch.metrics), added));
            let state = states.entry(batch.collector.clone()).or_default();
            state.lines += batch.lines;
            state.bytes += batch.bytes;
            state.errors += batch.errors;
            state.events += added;
            if let Some((fingerprint, stream)) = batch.stream {
                checkpoints.sources.insert(
                    fingerprint.clone(),
                    SourceCheckpoint {
                        path: stream.path.clone(),
                        prefix_len: stream.prefix_len,
                        end: stream.end,
                        file_size: stream.size,
                        complete: false,
                    },
                );
                state.streams.insert(fingerprint, stream);
                prune(state);
            }
            if let Some(ack) = batch.ack {
                waiting.push(ack);
            }
        }
        let due = dirty
            && (disconnected
                || added_since_commit >= settings.commit_events
                || first_dirty.elapsed() >= settings.commit_interval);
        if due {
            for (key, state) in &states {
                if let Ok(value) = serde_json::to_value(state) {
                    checkpoints.collectors.insert(key.clone(), value);
                }
            }
            if let Err(error) = sink.commit(&checkpoints) {
                result = Err(anyhow::anyhow!("while committing: {error}"));
                break;
            }
            if let Err(error) = backend.refresh() {
                tracing::warn!(%error, "searches may not see the last commit");
            }
            metrics.commits.fetch_add(1, Ordering::Relaxed);
            metrics
                .last_commit_ms
                .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
            metrics.uncommitted_events.store(0, Ordering::Relaxed);
            for (collector, added) in pending_committed.drain(..) {
                collector.add(&collector.committed_events, added);
            }
            for ack in waiting.drain(..) {
                let _ = ack.send(Ok(added_since_commit));
            }
            tracing::debug!(events = added_since_commit, "committed");
            if let Some(watcher) = settings.watcher.as_mut() {
                watcher.check(&uncommitted_new);
                uncommitted_new.clear();
            }
            added_since_commit = 0;
            dirty = false;
        }
        if disconnected {
            break;
        }
    }
    for ack in waiting.drain(..) {
        let _ = ack.send(Err("the store writer stopped".into()));
    }
    if let Some(webhook) = settings
        .watcher
        .as_mut()
        .and_then(|live| live.watcher.webhook_mut())
    {
        // Alerts already queued get a short chance to leave before the process ends.
        webhook.finish(Duration::from_secs(5));
    }
    result
}

/// Keeps the newest finished streams only.
fn prune(state: &mut CollectorState) {
    let finished = state.streams.values().filter(|s| s.finished).count();
    if finished <= KEEP_FINISHED {
        return;
    }
    let mut by_age: Vec<(i64, String)> = state
        .streams
        .iter()
        .filter(|(_, s)| s.finished)
        .map(|(k, s)| (s.seen, k.clone()))
        .collect();
    by_age.sort();
    for (_, key) in by_age.into_iter().take(finished - KEEP_FINISHED) {
        state.streams.remove(&key);
    }
}
