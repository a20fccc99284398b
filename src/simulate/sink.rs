//! The output side of the simulation: a buffered writer per log file (at most
//! [`MAX_OPEN_FILES`] open at once: a large site has tens of thousands of files), a line
//! counter per file (truth references are 1-based line numbers), and the time-ordered queue
//! that lets activities schedule lines in the future while every file is still written in
//! time order.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::core::Ms;

/// Index of an output file in the [`Sink`].
pub type FileId = u32;

/// Index of an identity in the truth.
pub type IdentityId = u32;

/// Index of a worker node.
pub type WnId = u16;

/// What a written line is evidence of.
#[derive(Debug, Clone, Copy)]
pub struct Tags {
    certain: [IdentityId; 3],
    count: u8,
    /// The line is a file operation from this worker node's address (a `probable` candidate).
    pub worker_node: Option<WnId>,
    /// The line is a use of the stolen token after the account was disabled.
    pub incident: bool,
}

impl Tags {
    /// A line that is evidence of nothing (noise).
    pub const NONE: Tags = Tags {
        certain: [0; 3],
        count: 0,
        worker_node: None,
        incident: false,
    };

    /// A line that certainly belongs to `identity`.
    pub fn of(identity: IdentityId) -> Tags {
        Tags::NONE.and(identity)
    }

    /// Adds another identity the line certainly belongs to (at most three).
    pub fn and(mut self, identity: IdentityId) -> Tags {
        if self.identities().contains(&identity) {
            return self;
        }
        debug_assert!((self.count as usize) < self.certain.len());
        self.certain[self.count as usize] = identity;
        self.count += 1;
        self
    }

    /// Marks the line as a file operation from a worker node.
    pub fn on_worker_node(mut self, worker_node: Option<WnId>) -> Tags {
        self.worker_node = worker_node;
        self
    }

    /// The identities the line certainly belongs to.
    pub fn identities(&self) -> &[IdentityId] {
        &self.certain[..self.count as usize]
    }
}

/// Files kept open at once; the oldest opened is closed (flushed) to open another, and
/// reopened for appending when written again.
pub const MAX_OPEN_FILES: usize = 512;

/// Write buffer per open file.
const BUFFER_BYTES: usize = 64 * 1024;

struct OutFile {
    /// `None` while closed.
    writer: Option<BufWriter<File>>,
    lines: u64,
    bytes: u64,
}

/// All output files under the output directory.
pub struct Sink {
    root: PathBuf,
    files: Vec<OutFile>,
    paths: Vec<String>,
    by_path: HashMap<String, FileId>,
    spare: Vec<String>,
    /// Open files, oldest opened first.
    open: VecDeque<FileId>,
}

impl Sink {
    /// A sink writing below `root` (created if missing).
    pub fn new(root: &Path) -> anyhow::Result<Sink> {
        fs::create_dir_all(root)
            .with_context(|| format!("while creating output directory {}", root.display()))?;
        Ok(Sink {
            root: root.to_path_buf(),
            files: Vec::new(),
            paths: Vec::new(),
            by_path: HashMap::new(),
            spare: Vec::new(),
            open: VecDeque::new(),
        })
    }

    /// The id of the file at `relative` (created, empty, on first use).
    pub fn file(&mut self, relative: &str) -> anyhow::Result<FileId> {
        if let Some(&id) = self.by_path.get(relative) {
            return Ok(id);
        }
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("while creating directory {}", parent.display()))?;
        }
        File::create(&path).with_context(|| format!("while creating {}", path.display()))?;
        let id = self.files.len() as FileId;
        self.files.push(OutFile {
            writer: None,
            lines: 0,
            bytes: 0,
        });
        self.paths.push(relative.to_string());
        self.by_path.insert(relative.to_string(), id);
        Ok(id)
    }

    /// The writer of `file`, opened for appending (closing the oldest open file when
    /// [`MAX_OPEN_FILES`] are open).
    fn writer(&mut self, file: FileId) -> anyhow::Result<&mut BufWriter<File>> {
        if self.files[file as usize].writer.is_none() {
            if self.open.len() >= MAX_OPEN_FILES {
                if let Some(oldest) = self.open.pop_front() {
                    self.close(oldest)?;
                }
            }
            let path = self.root.join(&self.paths[file as usize]);
            let handle = OpenOptions::new()
                .append(true)
                .open(&path)
                .with_context(|| format!("while opening {}", path.display()))?;
            self.files[file as usize].writer = Some(BufWriter::with_capacity(BUFFER_BYTES, handle));
            self.open.push_back(file);
        }
        Ok(self.files[file as usize]
            .writer
            .as_mut()
            .expect("opened above"))
    }

    /// Flushes and closes `file`.
    fn close(&mut self, file: FileId) -> anyhow::Result<()> {
        if let Some(mut writer) = self.files[file as usize].writer.take() {
            writer
                .flush()
                .with_context(|| format!("while writing {}", self.paths[file as usize]))?;
        }
        Ok(())
    }

    /// Appends `text` (one or more lines, without the final newline) to `file`; returns the
    /// 1-based number of its first line.
    pub fn append(&mut self, file: FileId, text: &str) -> anyhow::Result<u64> {
        let writer = self.writer(file)?;
        writer
            .write_all(text.as_bytes())
            .and_then(|()| writer.write_all(b"\n"))
            .with_context(|| format!("while writing {}", self.paths[file as usize]))?;
        let out = &mut self.files[file as usize];
        let first = out.lines + 1;
        out.lines += 1 + memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
        out.bytes += text.len() as u64 + 1;
        Ok(first)
    }

    /// Bytes written so far to `file` (the HTCondor history banner's `Offset`).
    pub fn offset(&self, file: FileId) -> u64 {
        self.files[file as usize].bytes
    }

    /// The path of `file` relative to the output directory.
    pub fn path(&self, file: FileId) -> &str {
        &self.paths[file as usize]
    }

    /// A cleared string buffer, reused from lines already written.
    pub fn buffer(&mut self) -> String {
        self.spare
            .pop()
            .unwrap_or_else(|| String::with_capacity(256))
    }

    /// Gives a line's buffer back for reuse.
    pub fn recycle(&mut self, mut text: String) {
        if self.spare.len() < 4096 && text.capacity() <= 64 * 1024 {
            text.clear();
            self.spare.push(text);
        }
    }

    /// Flushes every file; returns (files, bytes, lines).
    pub fn finish(&mut self) -> anyhow::Result<(usize, u64, u64)> {
        let mut bytes = 0;
        let mut lines = 0;
        while let Some(file) = self.open.pop_front() {
            self.close(file)?;
        }
        for out in &self.files {
            bytes += out.bytes;
            lines += out.lines;
        }
        Ok((self.files.len(), bytes, lines))
    }
}

/// An entry of the time-ordered queue: ordered by time, then by insertion.
pub struct Scheduled<T> {
    pub time: Ms,
    seq: u64,
    pub item: T,
}

impl<T> PartialEq for Scheduled<T> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}

impl<T> Eq for Scheduled<T> {}

impl<T> PartialOrd for Scheduled<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Scheduled<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A min-queue by time; ties keep insertion order, so the output is deterministic.
pub struct Queue<T> {
    heap: BinaryHeap<Scheduled<T>>,
    seq: u64,
}

impl<T> Queue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `item` at `time`.
    pub fn push(&mut self, time: Ms, item: T) {
        self.seq += 1;
        self.heap.push(Scheduled {
            time,
            seq: self.seq,
            item,
        });
    }

    /// The earliest entry.
    pub fn pop(&mut self) -> Option<Scheduled<T>> {
        self.heap.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_files_than_may_be_open_are_all_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(dir.path()).unwrap();
        let count = MAX_OPEN_FILES * 2 + 7;
        let ids: Vec<FileId> = (0..count)
            .map(|n| sink.file(&format!("d{}/f{n}.log", n % 3)).unwrap())
            .collect();
        // Round-robin over all files, three times: every write after the first round
        // reopens a file that was closed to make room.
        for round in 1..=3u64 {
            for (n, &id) in ids.iter().enumerate() {
                assert_eq!(
                    sink.append(id, &format!("{n} line {round}")).unwrap(),
                    round
                );
            }
        }
        assert!(sink.open.len() <= MAX_OPEN_FILES);
        let (files, _, lines) = sink.finish().unwrap();
        assert_eq!((files, lines), (count, 3 * count as u64));
        for n in [0, MAX_OPEN_FILES, count - 1] {
            let text = fs::read_to_string(dir.path().join(format!("d{}/f{n}.log", n % 3))).unwrap();
            assert_eq!(text, format!("{n} line 1\n{n} line 2\n{n} line 3\n"));
        }
    }
}
