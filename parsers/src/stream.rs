//! The per-stream pipeline: bytes of one line → UTF-8 text → transport prefix removed →
//! secrets redacted → dispatched to a format's parser (forced, sticky, by program name, by
//! content) → enriched (token claims, issuer normalised, host, id). A line no parser takes is
//! kept as a `raw` event with the time found in it: nothing read is dropped.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::event::{Event, IdSource, Service};
use crate::jwt;
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::registry;
use crate::time;
use crate::unwrap;

/// Source id of events no parser understood.
pub const RAW_SOURCE: &str = "raw";

/// Counts for one format within a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FormatCounts {
    /// Lines attributed to this format (for `raw`: lines no parser took).
    pub lines: u64,
    /// Lines this format's parser understood (including those in multi-line records).
    pub parsed: u64,
    /// Lines kept as raw events (for a format: malformed or ignored lines).
    pub raw: u64,
    /// Lines of this format that were broken.
    pub errors: u64,
    /// Events produced.
    pub events: u64,
}

/// Counts of a whole run, by format and for input problems.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub formats: BTreeMap<String, FormatCounts>,
    /// Lines that were not valid UTF-8 (read lossily, kept).
    pub invalid_utf8: u64,
    /// Lines longer than the cap (cut at the cap, kept).
    pub truncated: u64,
    /// Empty lines (skipped; not events).
    pub empty: u64,
    /// Lines holding NUL bytes (replaced by U+FFFD, kept).
    pub nul_bytes: u64,
    /// Times outside what RFC 3339 can write (years 0001–9999), dropped from the event
    /// (the line keeps them).
    pub bad_times: u64,
    /// Files read.
    pub files: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Files whose last line had no newline.
    pub unterminated_last_line: u64,
}

impl Stats {
    /// Adds another run's counts to these.
    pub fn merge(&mut self, other: &Stats) {
        for (format, counts) in &other.formats {
            let mine = self.formats.entry(format.clone()).or_default();
            mine.lines += counts.lines;
            mine.parsed += counts.parsed;
            mine.raw += counts.raw;
            mine.errors += counts.errors;
            mine.events += counts.events;
        }
        self.invalid_utf8 += other.invalid_utf8;
        self.truncated += other.truncated;
        self.empty += other.empty;
        self.nul_bytes += other.nul_bytes;
        self.bad_times += other.bad_times;
        self.files += other.files;
        self.bytes += other.bytes;
        self.unterminated_last_line += other.unterminated_last_line;
    }

    /// All lines read, by every format.
    pub fn lines(&self) -> u64 {
        self.formats.values().map(|c| c.lines).sum()
    }

    /// All events produced.
    pub fn events(&self) -> u64 {
        self.formats.values().map(|c| c.events).sum()
    }
}

/// A line as read by a source, before any decoding.
#[derive(Clone, Copy, Debug)]
pub struct RawLine<'a> {
    /// The bytes, without the line ending (CR LF or LF).
    pub bytes: &'a [u8],
    /// 1-based line number.
    pub number: u64,
    /// Offset of the first byte.
    pub offset: u64,
    /// The source cut this line at its length cap.
    pub truncated: bool,
}

/// Identity of a stream's content: a fingerprint of its first line, so that the same log
/// read again — renamed by rotation, or compressed — gives the same event ids.
pub fn content_fingerprint(first_line: &[u8]) -> String {
    let digest = Sha256::digest(first_line);
    hex(&digest[..12])
}

/// Lower-case hex of `bytes` (one allocation: this runs once per event).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// The stable id of the `index`-th event that originated at `offset` of a stream.
pub fn event_id(fingerprint: &str, offset: u64, index: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(fingerprint.as_bytes());
    hasher.update(offset.to_le_bytes());
    hasher.update((index as u64).to_le_bytes());
    let digest = hasher.finalize();
    hex(&digest[..16])
}

struct Slot {
    format: &'static Format,
    parser: Box<dyn LineParser>,
}

/// Parses one stream.
pub struct StreamParser {
    context: Context,
    fingerprint: Arc<str>,
    forced: Option<&'static Format>,
    slots: Vec<Slot>,
    sticky: Option<usize>,
    stats: Stats,
    pending: Vec<Event>,
    /// Events already emitted per origin offset, so that two events of one line get distinct ids.
    last_offset: Option<u64>,
    index_at_offset: usize,
    /// Claims of JWTs found on recent lines, by line offset in increasing order, for events a
    /// parser emits after the line they originate from (multi-line records, held records).
    recent_claims: std::collections::VecDeque<(u64, jwt::Claims)>,
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: times RFC 3339 writes and reads back.
const FIRST_TIME: i64 = -62_135_596_800_000;
const LAST_TIME: i64 = 253_402_300_799_999;

/// How many recent lines' token claims are remembered for late events.
const RECENT_CLAIMS: usize = 256;

/// `--format` named an id no parser has.
#[derive(Debug, thiserror::Error)]
#[error("unknown format {0:?}; known formats: {known}", known = registry::ids().join(", "))]
pub struct UnknownFormat(pub String);

impl StreamParser {
    /// A pipeline for one stream. `forced` is `--format`; `fingerprint` is the stream's
    /// content fingerprint (see [`content_fingerprint`]).
    pub fn new(
        context: Context,
        forced: Option<&str>,
        fingerprint: String,
    ) -> Result<Self, UnknownFormat> {
        let forced = match forced {
            Some(id) => Some(registry::find(id).ok_or_else(|| UnknownFormat(id.to_string()))?),
            None => None,
        };
        Ok(StreamParser {
            context,
            fingerprint: fingerprint.into(),
            forced,
            slots: Vec::new(),
            sticky: None,
            stats: Stats::default(),
            pending: Vec::new(),
            last_offset: None,
            index_at_offset: 0,
            recent_claims: std::collections::VecDeque::new(),
        })
    }

    /// The stream's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Counts so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn slot_for(&mut self, format: &'static Format) -> usize {
        if let Some(index) = self.slots.iter().position(|s| s.format.id == format.id) {
            return index;
        }
        self.slots.push(Slot {
            format,
            parser: (format.new_parser)(&self.context),
        });
        self.slots.len() - 1
    }

    /// Feeds one line; finished events are appended to `out`.
    pub fn feed(&mut self, raw_line: RawLine<'_>, out: &mut Vec<Event>) {
        if raw_line.truncated {
            self.stats.truncated += 1;
        }
        let decoded: Cow<'_, str> = match std::str::from_utf8(raw_line.bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(raw_line.bytes)
            }
        };
        let decoded = decoded.strip_suffix('\r').unwrap_or(&decoded);
        // NUL bytes never help a parser and break some consumers.
        let decoded: Cow<'_, str> = if memchr::memchr(0, decoded.as_bytes()).is_some() {
            self.stats.nul_bytes += 1;
            Cow::Owned(decoded.replace('\0', "\u{fffd}"))
        } else {
            Cow::Borrowed(decoded)
        };
        if decoded.trim().is_empty() {
            self.stats.empty += 1;
            return;
        }
        let redacted = jwt::redact(&decoded);
        if let Some(claims) = redacted
            .tokens
            .iter()
            .find_map(|token| token.claims.as_ref())
        {
            // Kept in order of offset, so that a lookup stops at the first older line.
            if self
                .recent_claims
                .back()
                .is_some_and(|(offset, _)| *offset > raw_line.offset)
            {
                self.recent_claims.clear();
            }
            if self.recent_claims.len() == RECENT_CLAIMS {
                self.recent_claims.pop_front();
            }
            self.recent_claims
                .push_back((raw_line.offset, claims.clone()));
        }
        let raw_text: &str = &redacted.text;
        let unwrapped = unwrap::unwrap(raw_text, &self.context.time);
        let line = Line {
            text: &unwrapped.message,
            raw: raw_text,
            number: raw_line.number,
            offset: raw_line.offset,
            prefix_host: unwrapped.host,
            prefix_program: unwrapped.program,
            prefix_time: unwrapped.time,
        };
        let start = self.pending.len();
        let mut pending = std::mem::take(&mut self.pending);
        let (format_id, feed) = self.dispatch(&line, &mut pending);
        self.pending = pending;
        let counts = counts_of(&mut self.stats, format_id);
        counts.lines += 1;
        match feed {
            Feed::Parsed | Feed::Pending => counts.parsed += 1,
            Feed::Ignored => {
                counts.parsed += 1;
                counts.raw += 1;
            }
            Feed::Malformed => {
                counts.errors += 1;
                counts.raw += 1;
            }
            Feed::NotMine => counts.raw += 1,
        }
        if matches!(feed, Feed::Ignored | Feed::Malformed | Feed::NotMine) {
            let service = registry::find(format_id)
                .map(|f| f.service)
                .unwrap_or(Service::Unknown);
            let source = if feed == Feed::NotMine {
                RAW_SOURCE
            } else {
                format_id
            };
            let mut event = line.event(source, service);
            if event.time.is_none() {
                event.time = time::find_time(line.text, &self.context.time);
            }
            if feed == Feed::Malformed {
                event.outcome.clear();
                event.status = "unparsed".to_string();
            }
            self.pending.push(event);
        }
        self.finish_events(start, &line, out);
    }

    fn dispatch(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> (&'static str, Feed) {
        if let Some(format) = self.forced {
            let index = self.slot_for(format);
            let feed = self.slots[index].parser.feed(line, out);
            return (format.id, feed);
        }
        if let Some(index) = self.sticky {
            let feed = self.slots[index].parser.feed(line, out);
            if feed != Feed::NotMine {
                return (self.slots[index].format.id, feed);
            }
        }
        let file_name = self.context.file_name.clone();
        let by_program = line
            .prefix_program
            .map(registry::for_program)
            .unwrap_or_default();
        let candidates = by_program
            .into_iter()
            .chain(registry::all().iter().copied());
        for format in candidates {
            let already_tried = self
                .sticky
                .is_some_and(|index| self.slots[index].format.id == format.id);
            if already_tried {
                continue;
            }
            if !(format.sniff)(line.text, &file_name) {
                continue;
            }
            let index = self.slot_for(format);
            let feed = self.slots[index].parser.feed(line, out);
            if feed != Feed::NotMine {
                self.sticky = Some(index);
                return (format.id, feed);
            }
        }
        (RAW_SOURCE, Feed::NotMine)
    }

    /// Completes the events pushed since `start` and moves them to `out`.
    fn finish_events(&mut self, start: usize, line: &Line<'_>, out: &mut Vec<Event>) {
        let mut pending = std::mem::take(&mut self.pending);
        for mut event in pending.drain(start..) {
            if event.origin.line == 0 {
                event.origin = line.origin();
            }
            if event.raw.is_empty() {
                event.raw = line.raw.to_string();
            }
            self.fill_claims(&mut event);
            if event.host.is_empty() {
                if let Some(host) = line.prefix_host {
                    event.host = host.to_string();
                } else {
                    event.host = self.context.host.clone();
                }
            }
            self.complete(&mut event);
            out.push(event);
        }
        // Keep the buffer (and its capacity) for the next line.
        self.pending = pending;
    }

    fn fill_claims(&self, event: &mut Event) {
        if let Some((_, claims)) = self
            .recent_claims
            .iter()
            .rev()
            .take_while(|(offset, _)| *offset >= event.origin.offset)
            .find(|(offset, _)| *offset == event.origin.offset)
        {
            claims.fill(event);
        }
    }

    fn complete(&mut self, event: &mut Event) {
        normalise_issuer(&mut event.iss);
        // A time RFC 3339 cannot write would not read back from the store.
        for time in [&mut event.time, &mut event.token_iat, &mut event.token_exp] {
            if time.is_some_and(|t| !(FIRST_TIME..=LAST_TIME).contains(&t.millis())) {
                *time = None;
                self.stats.bad_times += 1;
            }
        }
        if event.source.is_empty() {
            event.source = RAW_SOURCE.into();
        }
        event.origin.file = self.context.path.clone();
        if self.last_offset == Some(event.origin.offset) {
            self.index_at_offset += 1;
        } else {
            self.last_offset = Some(event.origin.offset);
            self.index_at_offset = 0;
        }
        event.id = event_id(&self.fingerprint, event.origin.offset, self.index_at_offset);
        event.id_source = IdSource(Some((self.fingerprint.clone(), self.index_at_offset)));
        counts_of(&mut self.stats, &event.source).events += 1;
    }

    /// Ends the stream: flushes open records of every parser.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let mut flushed = Vec::new();
        for slot in &mut self.slots {
            slot.parser.finish(&mut flushed);
        }
        for mut event in flushed {
            self.fill_claims(&mut event);
            if event.host.is_empty() {
                event.host = self.context.host.clone();
            }
            self.complete(&mut event);
            out.push(event);
        }
    }

    /// Consumes the pipeline, returning its counts.
    pub fn into_stats(self) -> Stats {
        self.stats
    }
}

/// The counts of `format`, created on first use (without allocating its name every line).
fn counts_of<'a>(stats: &'a mut Stats, format: &str) -> &'a mut FormatCounts {
    if !stats.formats.contains_key(format) {
        stats
            .formats
            .insert(format.to_string(), FormatCounts::default());
    }
    stats.formats.get_mut(format).expect("inserted just above")
}

/// Issuers are compared without a trailing slash (`https://cms-auth.cern.ch/` and
/// `https://cms-auth.cern.ch` are one issuer).
pub fn normalise_issuer(iss: &mut String) {
    while iss.len() > 1 && iss.ends_with('/') && iss.contains("://") {
        iss.pop();
    }
}

/// Parses a whole text as one stream (tests, fixtures, the HTTP push endpoint).
pub fn parse_text(
    text: &str,
    forced: Option<&str>,
    context: Context,
) -> Result<(Vec<Event>, Stats), UnknownFormat> {
    let mut events = Vec::new();
    let stats = parse_text_in_batches(text, forced, context, usize::MAX, |batch| {
        if events.is_empty() {
            std::mem::swap(&mut events, batch);
        } else {
            events.append(batch);
        }
    })?;
    Ok((events, stats))
}

/// Parses a whole text as one stream, handing its events to `hand_on` whenever `batch` or
/// more are pending and once at the end, as ingest hands them to its sink. `hand_on` takes
/// them out of the vector (or clears it); what it leaves stays for the next call.
pub fn parse_text_in_batches(
    text: &str,
    forced: Option<&str>,
    context: Context,
    batch: usize,
    mut hand_on: impl FnMut(&mut Vec<Event>),
) -> Result<Stats, UnknownFormat> {
    let first_line = text.lines().next().unwrap_or("");
    let fingerprint = content_fingerprint(first_line.as_bytes());
    let mut stream = StreamParser::new(context, forced, fingerprint)?;
    // Sized for a bounded batch, as ingest sizes its own: growing it step by step moved every
    // event (most of a kilobyte) at each step.
    let mut events = if batch == usize::MAX {
        Vec::new()
    } else {
        Vec::with_capacity(batch)
    };
    let mut offset = 0u64;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bytes = line.strip_suffix('\n').unwrap_or(line).as_bytes();
        stream.feed(
            RawLine {
                bytes,
                number: index as u64 + 1,
                offset,
                truncated: false,
            },
            &mut events,
        );
        offset += line.len() as u64;
        if events.len() >= batch {
            hand_on(&mut events);
        }
    }
    stream.finish(&mut events);
    hand_on(&mut events);
    Ok(stream.into_stats())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{TimeContext, Zone};

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: Some(2025),
                reference_date: None,
            },
            host: "h1.example.org".into(),
            path: "logs/x.log".into(),
            file_name: "x.log".into(),
            ..Context::default()
        }
    }

    #[test]
    fn unknown_lines_become_raw_events_with_their_time_and_origin() {
        let text = "first line no time\n2025-03-14 09:00:00 something odd\n\nlast";
        let (events, stats) = parse_text(text, None, context()).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.source == RAW_SOURCE));
        assert_eq!(
            events[1].time.unwrap().to_rfc3339(),
            "2025-03-14T09:00:00.000Z"
        );
        assert_eq!(events[1].origin.line, 2);
        assert_eq!(events[1].origin.offset, 19);
        assert_eq!(events[1].origin.file, "logs/x.log");
        assert_eq!(events[2].origin.line, 4);
        assert_eq!(stats.empty, 1);
        assert_eq!(stats.formats[RAW_SOURCE].lines, 3);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let text = "a\nb\n";
        let (first, _) = parse_text(text, None, context()).unwrap();
        let (second, _) = parse_text(text, None, context()).unwrap();
        assert_eq!(first[0].id, second[0].id);
        assert_ne!(first[0].id, first[1].id);
    }

    #[test]
    fn invalid_utf8_and_crlf_are_handled() {
        let mut stream = StreamParser::new(context(), None, content_fingerprint(b"x")).unwrap();
        let mut out = Vec::new();
        stream.feed(
            RawLine {
                bytes: b"bad \xff\xfe bytes\r",
                number: 1,
                offset: 0,
                truncated: true,
            },
            &mut out,
        );
        assert_eq!(out[0].raw, "bad \u{fffd}\u{fffd} bytes");
        assert_eq!(stream.stats().invalid_utf8, 1);
        assert_eq!(stream.stats().truncated, 1);
    }

    /// Late events (multi-line and held records) get the claims of the token on the line
    /// they originate from, among the last `RECENT_CLAIMS` lines with one; a stream whose
    /// offsets restart forgets the older lines.
    #[test]
    fn late_events_get_the_claims_of_their_line() {
        let mut stream = StreamParser::new(context(), None, content_fingerprint(b"x")).unwrap();
        let mut out = Vec::new();
        let mut feed = |stream: &mut StreamParser, offset: u64, sub: &str| {
            let claims = serde_json::json!({"sub": sub, "iss": "https://iam.example.org"});
            let line = format!("token {}", jwt::encode_test_jwt(&claims, "c2ln"));
            let bytes = line.as_bytes();
            stream.feed(
                RawLine {
                    bytes,
                    number: offset,
                    offset,
                    truncated: false,
                },
                &mut out,
            );
        };
        let lines = RECENT_CLAIMS as u64 + 10;
        for offset in 0..lines {
            feed(&mut stream, offset * 100, &format!("user-{offset}"));
        }
        let late = |stream: &StreamParser, offset: u64| {
            let mut event = Event::new(RAW_SOURCE, Service::Unknown);
            event.origin.offset = offset;
            stream.fill_claims(&mut event);
            event.sub
        };
        assert_eq!(
            late(&stream, (lines - 1) * 100),
            format!("user-{}", lines - 1)
        );
        assert_eq!(late(&stream, 20 * 100), "user-20");
        assert_eq!(late(&stream, 10 * 100), "user-10");
        // Older than the last RECENT_CLAIMS lines, or on no line with a token.
        assert_eq!(late(&stream, 9 * 100), "");
        assert_eq!(late(&stream, 20 * 100 + 1), "");
        // Offsets that go back (a stream fed again from its start) start afresh.
        feed(&mut stream, 50, "again");
        assert_eq!(late(&stream, 50), "again");
        assert_eq!(late(&stream, 20 * 100), "");
        // Events of the line itself got its claims when it was fed.
        assert_eq!(out.last().unwrap().sub, "again");
    }

    #[test]
    fn unknown_forced_format_is_a_clear_error() {
        let error = parse_text("x", Some("no-such-format"), context()).unwrap_err();
        assert!(error.to_string().contains("no-such-format"));
    }

    #[test]
    fn issuer_trailing_slash_is_normalised() {
        let mut iss = "https://cms-auth.cern.ch/".to_string();
        normalise_issuer(&mut iss);
        assert_eq!(iss, "https://cms-auth.cern.ch");
        let mut odd = "/".to_string();
        normalise_issuer(&mut odd);
        assert_eq!(odd, "/");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::time::{TimeContext, Zone};
    use proptest::prelude::*;

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: Some(2025),
                reference_date: None,
            },
            host: "h1.example.org".into(),
            path: "logs/x.log".into(),
            file_name: "x.log".into(),
            ..Context::default()
        }
    }

    fn run(lines: &[Vec<u8>], forced: Option<&str>) -> (Vec<Event>, Stats) {
        let mut stream = StreamParser::new(context(), forced, content_fingerprint(b"p")).unwrap();
        let mut events = Vec::new();
        let mut offset = 0;
        for (index, line) in lines.iter().enumerate() {
            stream.feed(
                RawLine {
                    bytes: line,
                    number: index as u64 + 1,
                    offset,
                    truncated: false,
                },
                &mut events,
            );
            offset += line.len() as u64 + 1;
        }
        stream.finish(&mut events);
        (events, stream.into_stats())
    }

    /// Lines that look enough like the formats to reach their parsers.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "(\\{|\\}|\\[|\\]|\"[a-z_]{1,8}\"|:|,|[0-9]{1,13}|2025-03-14[ T]09:12:03(\\.123)?Z?|[A-Za-z]{1,10}|=| |/store/[a-z]{1,5}|\\(cid:[0-9]\\)|\\.\\.\\.){0,30}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_lines_never_panic_and_events_stay_well_formed(
            lines in proptest::collection::vec(line(), 0..40),
            forced in proptest::option::of(proptest::sample::select(registry::ids())),
        ) {
            let (events, stats) = run(&lines, forced);
            let mut ids = std::collections::HashSet::new();
            for event in &events {
                prop_assert!(ids.insert(event.id.clone()), "duplicate id");
                prop_assert!(event.origin.line >= 1 && event.origin.line <= lines.len() as u64);
                let json = serde_json::to_string(event).unwrap();
                let back: Event = serde_json::from_str(&json)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
                prop_assert_eq!(&back, event);
            }
            let non_blank = lines
                .iter()
                .filter(|l| !String::from_utf8_lossy(l).replace('\0', "x").trim().is_empty())
                .count() as u64;
            prop_assert_eq!(stats.lines(), non_blank);
        }

        #[test]
        fn no_stored_field_holds_a_jwt_signature(
            lines in proptest::collection::vec(line(), 1..10),
            at in any::<proptest::sample::Index>(),
            signature in "[A-Za-z0-9_-]{24,64}",
            forced in proptest::option::of(proptest::sample::select(registry::ids())),
        ) {
            let token = jwt::encode_test_jwt(
                &serde_json::json!({"sub": "s1", "jti": "j1", "iss": "https://iam.example.org"}),
                &signature,
            );
            let mut lines = lines;
            let index = at.index(lines.len());
            let mut line = lines[index].clone();
            line.extend_from_slice(format!(" Authorization: Bearer {token} ").as_bytes());
            lines[index] = line;
            let (events, _) = run(&lines, forced);
            for event in &events {
                let json = serde_json::to_string(event).unwrap();
                prop_assert!(!json.contains(&signature), "signature stored: {}", json);
            }
        }
    }
}
