//! Input files: discovery (files, directories walked recursively in a stable order), opening
//! (gzip detected by its magic bytes, not by name), and a line reader that caps line length so
//! memory stays bounded whatever the input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Local, NaiveDate};

/// Bytes at the start of a stream that identify it (see [`tokentrail_parsers::stream`]).
pub const FINGERPRINT_BYTES: usize = 4096;
/// Default cap on one line; longer lines are cut and counted.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// One file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Where it is.
    pub path: PathBuf,
    /// The path as the user gave it, joined with the relative path inside a given directory:
    /// what `origin.file` shows.
    pub display: String,
    /// Host named by a directory of the path (`…/ce01.example.org/condor-ce/AuditLog`).
    pub host_hint: Option<String>,
    /// Size on disk.
    pub size: u64,
}

/// Expands paths into files: a directory is walked recursively, entries sorted by name;
/// hidden entries and symbolic links to directories are skipped. A path that does not exist
/// is an error naming it.
pub fn discover(paths: &[PathBuf]) -> io::Result<Vec<InputFile>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot read {}: {error}", path.display()),
            )
        })?;
        if metadata.is_dir() {
            walk(path, &path.display().to_string(), &mut files)?;
        } else {
            files.push(input_file(
                path.clone(),
                path.display().to_string(),
                metadata.len(),
            ));
        }
    }
    Ok(files)
}

fn walk(directory: &Path, display: &str, files: &mut Vec<InputFile>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(directory)
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot list {}: {error}", directory.display()),
            )
        })?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child_display = format!("{}/{}", display.trim_end_matches('/'), name);
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            walk(&path, &child_display, files)?;
        } else if file_type.is_file() {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push(input_file(path, child_display, size));
        } else if file_type.is_symlink() {
            if let Ok(metadata) = std::fs::metadata(&path) {
                if metadata.is_file() {
                    files.push(input_file(path, child_display, metadata.len()));
                }
            }
        }
    }
    Ok(())
}

fn input_file(path: PathBuf, display: String, size: u64) -> InputFile {
    let host_hint = host_from_path(&display);
    InputFile {
        path,
        display,
        host_hint,
        size,
    }
}

/// The deepest directory of `path` that looks like a fully qualified host name.
pub fn host_from_path(path: &str) -> Option<String> {
    let mut components: Vec<&str> = path.split('/').collect();
    components.pop(); // the file itself
    components
        .into_iter()
        .rev()
        .find(|component| looks_like_host(component))
        .map(str::to_ascii_lowercase)
}

fn looks_like_host(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    if labels.len() < 3 || text.len() > 253 {
        return false;
    }
    let tld = labels[labels.len() - 1];
    labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
    }) && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The file name without compression suffixes (`AuditLog.20261122T000000.gz` →
/// `AuditLog.20261122T000000`), for format hints.
pub fn hint_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".gz").unwrap_or(&name).to_string()
}

/// The date a file speaks of: from its rotated name, else from its modification time.
pub fn reference_date(file: &InputFile) -> Option<NaiveDate> {
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(date) = tokentrail_parsers::time::date_from_file_name(&name) {
        return Some(date);
    }
    let modified = std::fs::metadata(&file.path)
        .and_then(|m| m.modified())
        .ok()?;
    Some(DateTime::<Local>::from(modified).date_naive())
}

/// Counts bytes read from the underlying file (compressed bytes for `.gz`), for progress.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.counter.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// An opened stream: its first bytes (for the fingerprint) and a reader over all of it.
pub struct Opened {
    pub prefix: Vec<u8>,
    pub reader: Box<dyn Read + Send>,
    pub compressed: bool,
}

/// Opens a file, decompressing gzip (detected by magic bytes) transparently.
pub fn open(path: &Path, counter: Arc<AtomicU64>) -> io::Result<Opened> {
    let file = File::open(path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot open {}: {error}", path.display()),
        )
    })?;
    let mut buffered = BufReader::with_capacity(
        256 << 10,
        CountingReader {
            inner: file,
            counter,
        },
    );
    let magic = buffered.fill_buf()?;
    let compressed = magic.len() >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    let mut reader: Box<dyn Read + Send> = if compressed {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut prefix = Vec::with_capacity(FINGERPRINT_BYTES);
    (&mut reader)
        .take(FINGERPRINT_BYTES as u64)
        .read_to_end(&mut prefix)
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot read {}: {error}", path.display()),
            )
        })?;
    let reader: Box<dyn Read + Send> = Box::new(Cursor::new(prefix.clone()).chain(reader));
    Ok(Opened {
        prefix,
        reader,
        compressed,
    })
}

/// Where a line stood in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinePosition {
    /// 1-based line number.
    pub number: u64,
    /// Offset of its first byte.
    pub offset: u64,
    /// It was longer than the cap and was cut.
    pub truncated: bool,
    /// It ended with a newline (false only for the last line of a stream).
    pub terminated: bool,
}

/// Splits a byte stream into lines (LF; a CR before it is left for the parser), never
/// holding more than `max_line` bytes of one line.
pub struct LineReader<R> {
    reader: BufReader<R>,
    max_line: usize,
    number: u64,
    offset: u64,
}

impl<R: Read> LineReader<R> {
    /// A reader with the given line cap.
    pub fn new(reader: R, max_line: usize) -> Self {
        LineReader {
            reader: BufReader::with_capacity(256 << 10, reader),
            max_line: max_line.max(1),
            number: 0,
            offset: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next line into `line` (cleared first). `None` at the end of the stream.
    pub fn next_line(&mut self, line: &mut Vec<u8>) -> io::Result<Option<LinePosition>> {
        line.clear();
        let start = self.offset;
        let mut truncated = false;
        let mut consumed_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                if !consumed_any {
                    return Ok(None);
                }
                self.number += 1;
                return Ok(Some(LinePosition {
                    number: self.number,
                    offset: start,
                    truncated,
                    terminated: false,
                }));
            }
            consumed_any = true;
            let (chunk, found_newline) = match memchr::memchr(b'\n', available) {
                Some(position) => (&available[..position], Some(position)),
                None => (available, None),
            };
            let room = self.max_line.saturating_sub(line.len());
            if chunk.len() > room {
                truncated = true;
            }
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = match found_newline {
                Some(position) => position + 1,
                None => available.len(),
            };
            self.reader.consume(used);
            self.offset += used as u64;
            if found_newline.is_some() {
                self.number += 1;
                return Ok(Some(LinePosition {
                    number: self.number,
                    offset: start,
                    truncated,
                    terminated: true,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<(Vec<u8>, LinePosition)> {
        let mut reader = LineReader::new(input, cap);
        let mut out = Vec::new();
        let mut line = Vec::new();
        while let Some(position) = reader.next_line(&mut line).unwrap() {
            out.push((line.clone(), position));
        }
        out
    }

    #[test]
    fn splits_lines_with_offsets_and_numbers() {
        let found = lines(b"ab\r\n\ncd", 100);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].0, b"ab\r");
        assert_eq!(found[1].1.offset, 4);
        assert_eq!(found[2].0, b"cd");
        assert_eq!(found[2].1.number, 3);
        assert!(!found[2].1.terminated);
        assert!(found[0].1.terminated);
    }

    #[test]
    fn caps_long_lines_and_keeps_offsets_right() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nnext\n");
        let found = lines(&input, 100);
        assert_eq!(found[0].0.len(), 100);
        assert!(found[0].1.truncated);
        assert_eq!(found[1].0, b"next");
        assert_eq!(found[1].1.offset, 10_001);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", 10).is_empty());
    }

    #[test]
    fn finds_hosts_in_paths() {
        assert_eq!(
            host_from_path("site/ce01.example.org/condor-ce/AuditLog").as_deref(),
            Some("ce01.example.org")
        );
        assert_eq!(host_from_path("logs/2024.06.12/x.log"), None);
        assert_eq!(host_from_path("ce01.example.org"), None);
        assert_eq!(
            host_from_path("a/xrd01.example.org__se01.example.org/f"),
            None
        );
    }

    #[test]
    fn discovers_directories_recursively_in_stable_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        std::fs::write(dir.path().join("b/c/z.log"), "z").unwrap();
        std::fs::write(dir.path().join("a.log"), "a").unwrap();
        std::fs::write(dir.path().join(".hidden"), "h").unwrap();
        let files = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.display.clone()).collect();
        let root = dir.path().display().to_string();
        assert_eq!(
            names,
            vec![format!("{root}/a.log"), format!("{root}/b/c/z.log")]
        );
        assert!(discover(&[dir.path().join("missing")]).is_err());
    }

    #[test]
    fn opens_gzip_by_magic_bytes() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain-name.log");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        encoder.write_all(b"hello\nworld\n").unwrap();
        encoder.finish().unwrap();
        let mut opened = open(&path, Arc::new(AtomicU64::new(0))).unwrap();
        assert!(opened.compressed);
        assert_eq!(opened.prefix, b"hello\nworld\n");
        let mut all = String::new();
        opened.reader.read_to_string(&mut all).unwrap();
        assert_eq!(all, "hello\nworld\n");
    }
}
