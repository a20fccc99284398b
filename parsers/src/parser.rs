//! The contract between the stream pipeline and a format's parser.
//!
//! A parser is created per input stream (one file, one syslog program, …) and fed that
//! stream's lines in order, so it may keep state: a multi-line record (a ClassAd, an event-log
//! record), a connection id that ties lines together, a session from login to disconnect.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::event::{Event, Origin, Service, Timestamp};
use crate::time::TimeContext;

/// What every parser of one stream may know about that stream.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Zone, year and reference date for times printed without them.
    pub time: TimeContext,
    /// Host that wrote the stream (`--host`, a per-host directory, or the syslog sender);
    /// empty when unknown.
    pub host: String,
    /// The path as given (joined with the relative path inside a given directory).
    pub path: String,
    /// The file's base name with compression suffix removed (`AuditLog.20261122T000000`);
    /// format detection and parsers use it as a hint.
    pub file_name: String,
    /// dCache gPlazma OP alias → issuer URL (`--issuer-alias ALIAS=URL`).
    pub issuer_aliases: Arc<BTreeMap<String, String>>,
}

impl Context {
    /// The issuer URL for a dCache OP alias; `None` when the map has no entry.
    pub fn issuer_for_alias(&self, alias: &str) -> Option<&str> {
        self.issuer_aliases.get(alias).map(String::as_str)
    }
}

/// One line as a parser sees it.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// The service's own line: transport prefix removed, secrets redacted, no line ending.
    pub text: &'a str,
    /// The whole line as read (prefix included), secrets redacted.
    pub raw: &'a str,
    /// 1-based line number in the stream.
    pub number: u64,
    /// Byte offset of the line's first byte in the (decompressed) stream.
    pub offset: u64,
    /// Host named by a syslog/journald prefix.
    pub prefix_host: Option<&'a str>,
    /// Program named by a syslog/journald/compose prefix.
    pub prefix_program: Option<&'a str>,
    /// Time of the syslog/journald prefix.
    pub prefix_time: Option<Timestamp>,
}

impl<'a> Line<'a> {
    /// A line with no transport prefix (tests, and sources that never wrap).
    pub fn plain(text: &'a str, number: u64, offset: u64) -> Self {
        Line {
            text,
            raw: text,
            number,
            offset,
            prefix_host: None,
            prefix_program: None,
            prefix_time: None,
        }
    }

    /// The origin of this line (the file is filled in by the pipeline).
    pub fn origin(&self) -> Origin {
        Origin {
            file: String::new(),
            line: self.number,
            offset: self.offset,
        }
    }

    /// A new event of `source` whose origin and raw text are this line.
    pub fn event(&self, source: &'static str, service: Service) -> Event {
        let mut event = Event::new(source, service);
        event.origin = self.origin();
        event.raw = self.raw.to_string();
        event.time = self.prefix_time;
        event
    }
}

/// What a parser did with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The line is of this format; zero or more events were pushed (a line may be understood
    /// and yield no event, e.g. a rotation banner, but then it is still kept — see `Ignored`).
    Parsed,
    /// The line belongs to a multi-line record still open; events come later.
    Pending,
    /// The line is of this format but carries nothing worth an event of its own (a banner,
    /// `MaxLog = …`); the pipeline keeps it as a raw event of this source, counted as parsed.
    Ignored,
    /// The line is of this format but broken (truncated, bad JSON): kept as a raw event and
    /// counted as an error of this format.
    Malformed,
    /// Not this format.
    NotMine,
}

/// A format's parser for one stream.
pub trait LineParser: Send {
    /// Feeds the next line of the stream. Events go to `out`; an event whose origin line is 0
    /// gets this line's origin, and one with an empty `raw` gets this line's raw text.
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed;

    /// The stream ended: flush any open record.
    fn finish(&mut self, _out: &mut Vec<Event>) {}
}

/// A log format: its id (the event's `source`), how to recognise it, how to parse it.
pub struct Format {
    /// Format id, e.g. `iam-audit` (DESIGN.md section 5).
    pub id: &'static str,
    /// Service kind of its events.
    pub service: Service,
    /// One line for `--help` and documentation.
    pub summary: &'static str,
    /// Syslog program names / compose services that write this format (dispatch hint).
    pub programs: &'static [&'static str],
    /// Cheap content test: could this line be of this format? `file_name` is a hint only.
    pub sniff: fn(text: &str, file_name: &str) -> bool,
    /// A fresh parser for one stream.
    pub new_parser: fn(&Context) -> Box<dyn LineParser>,
}

impl std::fmt::Debug for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Format").field("id", &self.id).finish()
    }
}

/// A substring searcher for a fixed needle, built on first use and kept (one per call site):
/// `str::find` and `memmem::find` build one per call, which costs more than searching a
/// short line.
macro_rules! finder {
    ($needle:expr) => {{
        static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
            std::sync::OnceLock::new();
        FINDER.get_or_init(|| memchr::memmem::Finder::new($needle))
    }};
}
pub(crate) use finder;
