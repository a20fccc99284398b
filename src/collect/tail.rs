//! The file tailer: follows the files matching a set of globs, on one blocking thread per
//! files collector, reading new bytes in 256 KiB blocks every poll interval.
//!
//! A stream is a file's content, known by the fingerprint of its first bytes (the same as
//! `tokentrail ingest`, so both give the same event ids) and followed through the inode
//! (device, inode) it lives in:
//! - rename rotation (`AuditLog` → `AuditLog.20261122T000000`): same inode, reading goes on;
//!   the new `AuditLog` is a new stream;
//! - copytruncate: the copy is recognised by its fingerprint and read on from where the
//!   original stood when the original shrinks; the truncated original is a new stream;
//! - rotated file compressed later (`x.1` → `x.1.gz`): recognised by the fingerprint of its
//!   decompressed start; only what was not yet read is read;
//! - a file deleted (or rotated out of the globs) is read to its end for `rotate_grace`, then
//!   closed; a file recreated at the same path, even in a reused inode, is a new stream
//!   because its fingerprint differs;
//! - a partial last line is held back until its newline arrives (or the file is closed);
//!   lines longer than `max_line_bytes` are cut and counted.
//!
//! Exactly once: every batch sent to the writer carries the stream's position after it. The
//! position has two offsets: `end` (all events from before it are in the batch or earlier
//! ones) and `resume` — the start of the oldest line that may still sit in an open
//! multi-line record of the parser. A restart reads again from `resume` with a fresh parser,
//! so a record that spans a commit is read whole again; its events get the same ids (stream
//! fingerprint, offset, index) and those below `end` are looked up before being added.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokentrail_parsers::stream::{RawLine, StreamParser};
use tokentrail_parsers::time::TimeContext;
use tokentrail_parsers::{Context, Event};

use super::config::FilesConfig;
use super::metrics::CollectorMetrics;
use super::writer::{Batch, StreamCheckpoint};
use super::Settings;
use crate::ingest::fingerprint_of;
use crate::input::{self, InputFile, FINGERPRINT_BYTES};

/// Bytes per read.
const READ_BLOCK: usize = 256 << 10;
/// A line that yielded no event of its own is given up as "maybe in an open record" once the
/// stream has moved this far past it (a parser that swallows lines must not pin `resume`).
const MAX_HOLD_BYTES: u64 = 8 << 20;

/// One open stream.
struct Open {
    file: File,
    compressed: bool,
    /// Size on disk of a compressed file (the open handle is its decompressed copy).
    disk_size: u64,
    parser: StreamParser,
    /// Offset of the next byte to read.
    read_pos: u64,
    /// Offset where `partial` starts (the end of the last complete line).
    line_start: u64,
    partial: Vec<u8>,
    partial_truncated: bool,
    /// Lines completed so far.
    line_number: u64,
    check_below: u64,
    /// (offset, lines before it) of lines that may sit in an open multi-line record.
    unaccounted: VecDeque<(u64, u64)>,
    last_growth: Instant,
    missing_since: Option<Instant>,
    /// The path it was first opened at (a different current path means it was rotated).
    opened_at: String,
    /// The stream's first bytes as known (up to `FINGERPRINT_BYTES`): grows with the file
    /// and becomes the checkpoint's `head`.
    head: Vec<u8>,
}

struct Stream {
    checkpoint: StreamCheckpoint,
    open: Option<Open>,
}

pub(crate) struct Tailer {
    config: FilesConfig,
    key: String,
    settings: Arc<Settings>,
    sender: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
    metrics: Arc<CollectorMetrics>,
    streams: BTreeMap<String, Stream>,
    /// Compressed files waiting for their size to settle.
    gz_sizes: HashMap<PathBuf, u64>,
    /// Files found to be a finished stream read to its end, by (device, inode), with the
    /// size and change times they had then: not looked at again while these stay the same.
    done: HashMap<(u64, u64), (u64, i64, i64)>,
    buffer: Vec<u8>,
}

struct Seen {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    /// Modification and status change times (nanoseconds).
    mtime: i64,
    ctime: i64,
}

impl Seen {
    fn unchanged_since(&self) -> (u64, i64, i64) {
        (self.size, self.mtime, self.ctime)
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Tailer {
    pub(crate) fn new(
        config: FilesConfig,
        settings: Arc<Settings>,
        sender: SyncSender<Batch>,
        stop: Arc<AtomicBool>,
        metrics: Arc<CollectorMetrics>,
        committed: BTreeMap<String, StreamCheckpoint>,
    ) -> Self {
        let key = format!("files:{}", config.name);
        let streams = committed
            .into_iter()
            .map(|(fingerprint, checkpoint)| {
                (
                    fingerprint,
                    Stream {
                        checkpoint,
                        open: None,
                    },
                )
            })
            .collect();
        Tailer {
            config,
            key,
            settings,
            sender,
            stop,
            metrics,
            streams,
            gz_sizes: HashMap::new(),
            done: HashMap::new(),
            buffer: vec![0; READ_BLOCK],
        }
    }

    /// Polls until stopped.
    pub(crate) fn run(mut self) {
        let interval = Duration::from_millis(self.config.poll_interval_ms.max(10));
        while !self.stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Err(error) = self.poll() {
                // The writer is gone: nothing more can be made durable.
                tracing::debug!(collector = %self.config.name, %error, "tailer stops");
                return;
            }
            let spent = started.elapsed();
            if spent < interval {
                std::thread::sleep(interval - spent);
            }
        }
    }

    /// One pass: expand the globs, follow known inodes, identify new ones, read new bytes.
    fn poll(&mut self) -> Result<(), Stopped> {
        let mut seen: Vec<Seen> = Vec::new();
        for pattern in &self.config.paths {
            for path in super::glob::expand(pattern) {
                if let Ok(metadata) = std::fs::metadata(&path) {
                    seen.push(Seen {
                        path,
                        dev: metadata.dev(),
                        ino: metadata.ino(),
                        size: metadata.len(),
                        mtime: metadata
                            .mtime()
                            .saturating_mul(1_000_000_000)
                            .saturating_add(metadata.mtime_nsec()),
                        ctime: metadata
                            .ctime()
                            .saturating_mul(1_000_000_000)
                            .saturating_add(metadata.ctime_nsec()),
                    });
                }
            }
        }
        seen.sort_by(|a, b| a.path.cmp(&b.path));
        seen.dedup_by(|a, b| a.path == b.path);
        self.done
            .retain(|inode, _| seen.iter().any(|s| (s.dev, s.ino) == *inode));

        // 1. Open streams: follow renames, notice truncation, read what grew.
        let mut claimed: Vec<bool> = vec![false; seen.len()];
        let fingerprints: Vec<String> = self.streams.keys().cloned().collect();
        for fingerprint in &fingerprints {
            let Some(stream) = self.streams.get_mut(fingerprint) else {
                continue;
            };
            let Some(open) = stream.open.as_mut() else {
                continue;
            };
            let position = seen
                .iter()
                .position(|s| s.dev == stream.checkpoint.dev && s.ino == stream.checkpoint.ino);
            match position {
                Some(index) => {
                    claimed[index] = true;
                    open.missing_since = None;
                    stream.checkpoint.path = seen[index].path.display().to_string();
                    let (identity_len, identity) = stream.checkpoint.identity(fingerprint);
                    let rewritten = !open.compressed
                        && seen[index].size != stream.checkpoint.size
                        && !content_matches(&open.file, identity_len, identity);
                    if !open.compressed && (seen[index].size < open.read_pos || rewritten) {
                        // Truncated in place (copytruncate): what it held lives on in the
                        // copy, if the copy is found; the inode's new content is a new stream.
                        tracing::info!(file = %stream.checkpoint.path, "file truncated");
                        stream.open = None;
                        claimed[index] = false;
                        continue;
                    }
                }
                None => {
                    if open.missing_since.is_none() {
                        open.missing_since = Some(Instant::now());
                    }
                }
            }
        }
        for fingerprint in &fingerprints {
            self.read_stream(fingerprint, false)?;
        }
        // Close streams that left the globs or were rotated and went quiet.
        let grace = Duration::from_millis(self.config.rotate_grace_ms);
        for fingerprint in &fingerprints {
            let close = self
                .streams
                .get(fingerprint)
                .and_then(|s| s.open.as_ref().map(|o| (o, &s.checkpoint)))
                .is_some_and(|(open, checkpoint)| {
                    open.missing_since.is_some_and(|t| t.elapsed() >= grace)
                        || (open.opened_at != checkpoint.path
                            && open.last_growth.elapsed() >= grace)
                });
            if close {
                self.read_stream(fingerprint, true)?;
            }
        }

        // 2. Inodes no open stream follows. Those in the inode a known stream was last read
        // from go first: after a restart a renamed file is resumed in its own inode before a
        // new file that starts alike could be taken for its copy.
        let mut unclaimed: Vec<(bool, usize)> = (0..seen.len())
            .filter(|index| !claimed[*index])
            .map(|index| {
                let known_inode = self.streams.values().any(|s| {
                    s.open.is_none()
                        && s.checkpoint.dev == seen[index].dev
                        && s.checkpoint.ino == seen[index].ino
                });
                (!known_inode, index)
            })
            .collect();
        unclaimed.sort();
        for (_, index) in unclaimed {
            self.consider(&seen[index])?;
        }
        let open: Vec<&Stream> = self.streams.values().filter(|s| s.open.is_some()).collect();
        self.metrics
            .open_files
            .store(open.len() as u64, Ordering::Relaxed);
        let lag: u64 = seen
            .iter()
            .map(|file| {
                open.iter()
                    .find(|s| s.checkpoint.dev == file.dev && s.checkpoint.ino == file.ino)
                    .and_then(|s| s.open.as_ref())
                    .filter(|o| !o.compressed)
                    .map_or(0, |o| file.size.saturating_sub(o.line_start))
            })
            .sum();
        self.metrics.lag_bytes.store(lag, Ordering::Relaxed);
        Ok(())
    }

    /// A file no open stream follows: is it done, a stream to resume, a copy, or new?
    fn consider(&mut self, file: &Seen) -> Result<(), Stopped> {
        // A finished stream's file, unchanged since: nothing to do (the common case for old
        // rotations). The change times tell a deleted file's reused inode apart.
        if self.done.get(&(file.dev, file.ino)) == Some(&file.unchanged_since()) {
            return Ok(());
        }
        self.done.remove(&(file.dev, file.ino));
        if file.size == 0 {
            return Ok(());
        }
        let Ok(mut handle) = File::open(&file.path) else {
            return Ok(());
        };
        let mut magic = [0u8; 2];
        let compressed = handle.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        if compressed {
            // Read a compressed file once its size has settled (gzip may still be writing).
            let previous = self.gz_sizes.insert(file.path.clone(), file.size);
            if previous != Some(file.size) {
                return Ok(());
            }
        }
        let prefix = match read_prefix(&file.path, compressed) {
            Ok(prefix) => prefix,
            Err(error) => {
                tracing::warn!(file = %file.path.display(), %error, "cannot read file start");
                self.metrics.add(&self.metrics.errors, 1);
                return Ok(());
            }
        };
        if prefix.is_empty() {
            return Ok(());
        }
        let shown_path = file.path.display().to_string();

        // Same content: a stream to resume (restart), reopen, or a copy of one. A file is a
        // known stream only if it starts with all of the stream's known start (the same
        // length compared) and holds at least what was committed of it.
        let mut found: Option<String> = None;
        let mut shorter_than_committed = false;
        for (fingerprint, stream) in &self.streams {
            let (identity_len, identity) = stream.checkpoint.identity(fingerprint);
            let identity_len = identity_len as usize;
            if identity_len > prefix.len() || fingerprint_of(&prefix[..identity_len]) != identity {
                continue;
            }
            if let Some(open) = &stream.open {
                if open.compressed {
                    continue;
                }
                // A copy of a file still followed (copytruncate before the truncation, or a
                // hard link) holds nothing the followed file lacks: the original is read, and
                // the copy takes over only once the original shrinks or goes away. A file
                // truncated since this poll began is left for the next poll to notice.
                let current = open.file.metadata().map(|m| m.len()).unwrap_or(0);
                let truncated = current < open.read_pos
                    || !content_matches(&open.file, identity_len as u64, identity);
                if truncated || starts_with_file(&open.file, &prefix) {
                    return Ok(());
                }
                // Starts like the followed file but goes on differently: another file.
                continue;
            }
            if !compressed && file.size < stream.checkpoint.end {
                // Starts like the stream but is shorter than what was read of it: not a later
                // view of it (a partial copy).
                shorter_than_committed = true;
                continue;
            }
            let same_inode = stream.checkpoint.dev == file.dev && stream.checkpoint.ino == file.ino;
            if same_inode || found.is_none() {
                found = Some(fingerprint.clone());
            }
            if same_inode {
                break;
            }
        }
        if found.is_none() && shorter_than_committed {
            // Reading a partial copy as a new stream would store its lines twice.
            return Ok(());
        }
        if found.is_none() && prefix.len() < FINGERPRINT_BYTES {
            // A copy being made (copytruncate) starts like a file still followed: wait
            // until the original is truncated and the copy is complete.
            for stream in self.streams.values() {
                if let Some(open) = &stream.open {
                    if !open.compressed && starts_with_file(&open.file, &prefix) {
                        return Ok(());
                    }
                }
            }
        }
        let fingerprint = match found {
            Some(fingerprint) => {
                let stream = &self.streams[&fingerprint];
                if stream.checkpoint.finished
                    && stream.checkpoint.size == file.size
                    && stream.checkpoint.dev == file.dev
                    && stream.checkpoint.ino == file.ino
                {
                    self.done
                        .insert((file.dev, file.ino), file.unchanged_since());
                    return Ok(());
                }
                fingerprint
            }
            None => {
                let prefix_len = prefix.len().min(FINGERPRINT_BYTES);
                let mut fingerprint = fingerprint_of(&prefix[..prefix_len]);
                let mut salt = 0u64;
                while self.streams.contains_key(&fingerprint) {
                    // Another stream was first seen holding exactly these bytes and has grown
                    // since: this file needs a key of its own (its event ids derive from it).
                    salt += 1;
                    let mut salted = prefix[..prefix_len].to_vec();
                    salted.extend_from_slice(b"\0tokentrail-stream\0");
                    salted.extend_from_slice(&file.dev.to_le_bytes());
                    salted.extend_from_slice(&file.ino.to_le_bytes());
                    salted.extend_from_slice(&salt.to_le_bytes());
                    fingerprint = fingerprint_of(&salted);
                }
                self.streams.insert(
                    fingerprint.clone(),
                    Stream {
                        checkpoint: StreamCheckpoint {
                            path: shown_path.clone(),
                            dev: file.dev,
                            ino: file.ino,
                            prefix_len: prefix_len as u64,
                            head_len: prefix_len as u64,
                            head: fingerprint_of(&prefix[..prefix_len]),
                            ..StreamCheckpoint::default()
                        },
                        open: None,
                    },
                );
                fingerprint
            }
        };
        self.open_stream(&fingerprint, file, compressed, prefix)?;
        self.read_stream(&fingerprint, compressed)
    }

    fn open_stream(
        &mut self,
        fingerprint: &str,
        file: &Seen,
        compressed: bool,
        head: Vec<u8>,
    ) -> Result<(), Stopped> {
        let shown_path = file.path.display().to_string();
        let host = self
            .config
            .host
            .clone()
            .or_else(|| input::host_from_path(&shown_path))
            .unwrap_or_else(|| self.settings.local_host.clone());
        let input_file = InputFile {
            path: file.path.clone(),
            display: shown_path.clone(),
            host_hint: None,
            size: file.size,
        };
        let context = Context {
            time: TimeContext {
                zone: self.settings.zone.clone(),
                year_override: None,
                reference_date: input::reference_date(&input_file),
            },
            host,
            path: shown_path.clone(),
            file_name: input::hint_name(&file.path),
            issuer_aliases: Arc::clone(&self.settings.issuer_aliases),
        };
        let Some(stream) = self.streams.get_mut(fingerprint) else {
            return Ok(());
        };
        let parser = match StreamParser::new(
            context,
            self.config.format.as_deref(),
            fingerprint.to_string(),
        ) {
            Ok(parser) => parser,
            Err(error) => {
                tracing::error!(%error, "collector format");
                return Ok(());
            }
        };
        let handle = match open_at(&file.path, compressed, stream.checkpoint.resume) {
            Ok(handle) => handle,
            Err(error) => {
                tracing::warn!(file = %shown_path, %error, "cannot open file");
                self.metrics.add(&self.metrics.errors, 1);
                return Ok(());
            }
        };
        let checkpoint = &mut stream.checkpoint;
        checkpoint.path = shown_path.clone();
        checkpoint.dev = file.dev;
        checkpoint.ino = file.ino;
        checkpoint.finished = false;
        if checkpoint.resume > 0 {
            tracing::info!(file = %shown_path, offset = checkpoint.resume, "resuming");
        }
        stream.open = Some(Open {
            file: handle,
            compressed,
            disk_size: file.size,
            parser,
            read_pos: checkpoint.resume,
            line_start: checkpoint.resume,
            partial: Vec::new(),
            partial_truncated: false,
            line_number: checkpoint.resume_line,
            check_below: checkpoint.end,
            unaccounted: VecDeque::new(),
            last_growth: Instant::now(),
            missing_since: None,
            opened_at: shown_path,
            head,
        });
        Ok(())
    }

    /// Reads what a stream's file holds beyond the read position, sending batches. With
    /// `finish` (or for a compressed file) the stream is read to its end, its partial last
    /// line and open records flushed, and it is closed.
    fn read_stream(&mut self, fingerprint: &str, finish: bool) -> Result<(), Stopped> {
        let max_line = self.settings.max_line_bytes;
        let Some(stream) = self.streams.get_mut(fingerprint) else {
            return Ok(());
        };
        let Some(open) = stream.open.as_mut() else {
            return Ok(());
        };
        let finish = finish || open.compressed;
        let mut events: Vec<Event> = Vec::new();
        let mut lines = 0u64;
        let mut bytes = 0u64;
        let mut errors = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) && !finish {
                break;
            }
            let read = match open.file.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(file = %stream.checkpoint.path, %error, "read failed");
                    errors += 1;
                    break;
                }
            };
            open.last_growth = Instant::now();
            extend_head(&mut open.head, open.read_pos, &self.buffer[..read]);
            bytes += read as u64;
            let mut rest = &self.buffer[..read];
            while !rest.is_empty() {
                match memchr::memchr(b'\n', rest) {
                    Some(position) => {
                        append_capped(open, &rest[..position], max_line);
                        open.read_pos += position as u64 + 1;
                        rest = &rest[position + 1..];
                        feed_line(open, &mut events);
                        lines += 1;
                    }
                    None => {
                        append_capped(open, rest, max_line);
                        open.read_pos += rest.len() as u64;
                        rest = &[];
                    }
                }
            }
            if events.len() >= 4096 || bytes >= 4 * READ_BLOCK as u64 {
                send(
                    &self.sender,
                    &self.key,
                    &self.metrics,
                    fingerprint,
                    stream_checkpoint(&mut stream.checkpoint, open, false),
                    std::mem::take(&mut events),
                    open.check_below,
                    (lines, bytes, errors),
                )?;
                lines = 0;
                bytes = 0;
                errors = 0;
            }
        }
        if finish {
            if open.read_pos > open.line_start {
                // The last line never got its newline: the file is done, so it is a line.
                feed_line(open, &mut events);
                lines += 1;
            }
            open.parser.finish(&mut events);
            open.unaccounted.clear();
        }
        stream.checkpoint.size = if open.compressed {
            open.disk_size
        } else {
            let size = open.file.metadata().map(|m| m.len()).unwrap_or(0);
            size.max(open.read_pos)
        };
        let checkpoint = stream_checkpoint(&mut stream.checkpoint, open, finish);
        let changed = !events.is_empty() || lines > 0 || finish || errors > 0;
        let check_below = open.check_below;
        if finish {
            stream.open = None;
        }
        if changed {
            send(
                &self.sender,
                &self.key,
                &self.metrics,
                fingerprint,
                checkpoint,
                events,
                check_below,
                (lines, bytes, errors),
            )?;
        }
        Ok(())
    }
}

/// The writer has stopped.
#[derive(Debug)]
pub(crate) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the store writer stopped")
    }
}

#[allow(clippy::too_many_arguments)]
fn send(
    sender: &SyncSender<Batch>,
    key: &str,
    metrics: &Arc<CollectorMetrics>,
    fingerprint: &str,
    checkpoint: StreamCheckpoint,
    events: Vec<Event>,
    check_below: u64,
    (lines, bytes, errors): (u64, u64, u64),
) -> Result<(), Stopped> {
    metrics.add(&metrics.lines, lines);
    metrics.add(&metrics.bytes, bytes);
    metrics.add(&metrics.errors, errors);
    metrics.add(&metrics.events, events.len() as u64);
    // Blocks while the writer is behind: the tailer then reads slower (backpressure).
    sender
        .send(Batch {
            collector: key.to_string(),
            metrics: Arc::clone(metrics),
            events,
            check_below,
            stream: Some((fingerprint.to_string(), checkpoint)),
            lines,
            bytes,
            errors,
            ack: None,
        })
        .map_err(|_| Stopped)
}

fn stream_checkpoint(
    checkpoint: &mut StreamCheckpoint,
    open: &Open,
    finished: bool,
) -> StreamCheckpoint {
    let (resume, resume_line) = open
        .unaccounted
        .front()
        .copied()
        .unwrap_or((open.line_start, open.line_number));
    checkpoint.resume = resume;
    checkpoint.resume_line = resume_line;
    if open.head.len() as u64 > checkpoint.head_len || checkpoint.head.is_empty() {
        checkpoint.head_len = open.head.len() as u64;
        checkpoint.head = fingerprint_of(&open.head);
    }
    checkpoint.end = checkpoint.end.max(open.line_start);
    checkpoint.finished = finished;
    checkpoint.seen = now_secs();
    checkpoint.clone()
}

/// Adds the bytes of a block read at `block_start` that extend the known start of a stream.
fn extend_head(head: &mut Vec<u8>, block_start: u64, block: &[u8]) {
    let known = head.len() as u64;
    if head.len() >= FINGERPRINT_BYTES || block_start > known {
        return;
    }
    let skip = (known - block_start) as usize;
    if skip >= block.len() {
        return;
    }
    let take = (FINGERPRINT_BYTES - head.len()).min(block.len() - skip);
    head.extend_from_slice(&block[skip..skip + take]);
}

fn append_capped(open: &mut Open, bytes: &[u8], max_line: usize) {
    let room = max_line.saturating_sub(open.partial.len());
    if bytes.len() > room {
        open.partial_truncated = true;
    }
    open.partial
        .extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Feeds the line in `open.partial` (which ends at `open.read_pos`) to the parser.
fn feed_line(open: &mut Open, events: &mut Vec<Event>) {
    let offset = open.line_start;
    let before = events.len();
    let lines_before = open.line_number;
    open.line_number += 1;
    open.parser.feed(
        RawLine {
            bytes: &open.partial,
            number: open.line_number,
            offset,
            truncated: open.partial_truncated,
        },
        events,
    );
    let blank = std::str::from_utf8(&open.partial).is_ok_and(|t| t.trim().is_empty());
    let emitted = &events[before..];
    // Events that close a record account for every line from the record's first line on.
    if let Some(oldest) = emitted.iter().map(|e| e.origin.offset).min() {
        while open
            .unaccounted
            .back()
            .is_some_and(|(pending, _)| *pending >= oldest)
        {
            open.unaccounted.pop_back();
        }
    }
    if !blank && !emitted.iter().any(|e| e.origin.offset == offset) {
        open.unaccounted.push_back((offset, lines_before));
    }
    while open
        .unaccounted
        .front()
        .is_some_and(|(pending, _)| pending + MAX_HOLD_BYTES < offset)
    {
        open.unaccounted.pop_front();
    }
    open.partial.clear();
    open.partial_truncated = false;
    open.line_start = open.read_pos;
}

/// The first bytes of a file's (decompressed) content.
fn read_prefix(path: &Path, compressed: bool) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut prefix = Vec::with_capacity(FINGERPRINT_BYTES);
    if compressed {
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))
            .take(FINGERPRINT_BYTES as u64)
            .read_to_end(&mut prefix)?;
    } else {
        file.take(FINGERPRINT_BYTES as u64)
            .read_to_end(&mut prefix)?;
    }
    Ok(prefix)
}

/// Opens a file positioned at `offset` of its (decompressed) content.
fn open_at(path: &Path, compressed: bool, offset: u64) -> std::io::Result<File> {
    let mut file = File::open(path)?;
    if compressed {
        // Decompress to an anonymous temporary file so reading stays a plain file read.
        let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
        let mut plain = tempfile_in_tmp()?;
        std::io::copy(&mut decoder, &mut plain)?;
        plain.seek(SeekFrom::Start(offset))?;
        return Ok(plain);
    }
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

fn tempfile_in_tmp() -> std::io::Result<File> {
    let directory = std::env::temp_dir();
    let path = directory.join(format!(
        ".tokentrail-gz-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// Whether `file` starts with `prefix`.
fn starts_with_file(file: &File, prefix: &[u8]) -> bool {
    let mut head = vec![0u8; prefix.len()];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => head == prefix,
        Err(_) => false,
    }
}

/// Whether the first `prefix_len` bytes of `file` still have this fingerprint.
fn content_matches(file: &File, prefix_len: u64, fingerprint: &str) -> bool {
    let mut head = vec![0u8; prefix_len as usize];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => fingerprint_of(&head) == fingerprint,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_grows_with_contiguous_blocks_up_to_the_fingerprint_length() {
        let mut head = b"2026-11-22T10:00:".to_vec();
        // A block that starts inside the known head adds only what follows it.
        extend_head(&mut head, 11, b"10:00:00Z line one\n");
        assert_eq!(head, b"2026-11-22T10:00:00Z line one\n");
        // A block after a gap adds nothing (the bytes between are unknown).
        let known = head.len();
        extend_head(&mut head, known as u64 + 5, b"more");
        assert_eq!(head.len(), known);
        // Never beyond the fingerprint length.
        let long = vec![b'x'; 2 * FINGERPRINT_BYTES];
        extend_head(&mut head, known as u64, &long);
        assert_eq!(head.len(), FINGERPRINT_BYTES);
    }

    #[test]
    fn identity_is_the_longer_head_once_taken() {
        let key = fingerprint_of(b"2026-11-22T10:00:");
        let mut checkpoint = StreamCheckpoint {
            prefix_len: 17,
            ..StreamCheckpoint::default()
        };
        // A checkpoint of an older version: the key over `prefix_len`.
        assert_eq!(checkpoint.identity(&key), (17, key.as_str()));
        let whole = b"2026-11-22T10:00:00Z line one\n";
        checkpoint.head_len = whole.len() as u64;
        checkpoint.head = fingerprint_of(whole);
        let head = fingerprint_of(whole);
        assert_eq!(
            checkpoint.identity(&key),
            (whole.len() as u64, head.as_str())
        );
    }
}
