//! Harnesses shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and by the plain
//! `cargo test` that replays their seed corpora (`tests/hostile_fuzz_seeds.rs`), so a crash
//! found by the fuzzer is reproduced by an ordinary test run.
//!
//! Input layout of the family harness: the first byte picks the format (one of the family's,
//! or content detection), the second byte picks zone and file-name hint, the rest is the
//! stream, split into lines at `\n` exactly as the line reader would.

use crate::event::Event;
use crate::parser::{Context, Format};
use crate::stream::{content_fingerprint, RawLine, StreamParser};
use crate::time::{TimeContext, Zone};
use crate::{jwt, kv, unwrap};

/// A parser family (DESIGN.md section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Issuer,
    Ce,
    Storage,
}

impl Family {
    /// The family's formats, most specific first.
    pub fn formats(self) -> Vec<&'static Format> {
        match self {
            Family::Issuer => crate::issuer::formats(),
            Family::Ce => crate::ce::formats(),
            Family::Storage => crate::storage::formats(),
        }
    }

    /// The family's fuzz target name.
    pub fn target(self) -> &'static str {
        match self {
            Family::Issuer => "family_issuer",
            Family::Ce => "family_ce",
            Family::Storage => "family_storage",
        }
    }
}

/// File-name hints that steer detection (rotated names, dated names, none).
const FILE_NAMES: &[&str] = &[
    "",
    "AuditLog.20261122T000000",
    "billing-2024.06.12",
    "xrootd.log-20240612",
    "job.7afe2ff94787.diag",
];

/// Feeds `data` through a [`StreamParser`] of `family` and checks the invariants every event
/// must hold whatever the input. Panics (the fuzzer's crash signal) when one is broken.
pub fn family(family: Family, data: &[u8]) {
    let formats = family.formats();
    let (selector, rest) = data.split_first().unwrap_or((&0, &[]));
    let (variant, stream) = rest.split_first().unwrap_or((&0, &[]));
    let forced = formats
        .get(*selector as usize % (formats.len() + 1))
        .map(|format| format.id);
    let context = Context {
        time: TimeContext {
            zone: if variant & 1 == 0 {
                Zone::Utc
            } else {
                "Europe/Zurich".parse().unwrap_or(Zone::Utc)
            },
            year_override: (variant & 2 == 0).then_some(2025),
            reference_date: None,
        },
        host: "fuzz.example.org".into(),
        path: "fuzz.log".into(),
        file_name: FILE_NAMES[(*variant as usize >> 2) % FILE_NAMES.len()].into(),
        ..Context::default()
    };
    let events = run_stream(context, forced, stream);
    let lines = stream.split(|b| *b == b'\n').count() as u64;
    for event in &events {
        check_event(event, lines);
    }
}

/// Splits `stream` into lines and runs them through one pipeline.
pub fn run_stream(context: Context, forced: Option<&str>, stream: &[u8]) -> Vec<Event> {
    let first_line = stream.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let Ok(mut parser) = StreamParser::new(context, forced, content_fingerprint(first_line)) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    let mut offset = 0u64;
    for (index, line) in stream.split(|b| *b == b'\n').enumerate() {
        parser.feed(
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
    parser.finish(&mut events);
    events
}

fn check_event(event: &Event, lines: u64) {
    assert!(!event.id.is_empty(), "event without id");
    assert!(!event.source.is_empty(), "event without source");
    assert!(
        event.origin.line >= 1 && event.origin.line <= lines,
        "origin line {} outside 1..={lines}",
        event.origin.line
    );
    // What the store writes must read back (a stored event that cannot be decoded breaks
    // every search that finds it).
    let json = serde_json::to_string(event).expect("event serialises");
    let back: Event = serde_json::from_str(&json).expect("stored event reads back");
    assert_eq!(&back, event, "event changes through the store's encoding");
}

/// The core helpers on one line of arbitrary text: redaction (total: redacting the redacted
/// text finds no further secret of the first pass), syslog/journald unwrapping, `key=value`.
pub fn core(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let redacted = jwt::redact(&text);
    for token in &redacted.tokens {
        assert!(token.fingerprint.starts_with(jwt::REDACTED));
    }
    let context = TimeContext {
        zone: Zone::Utc,
        year_override: None,
        reference_date: None,
    };
    let unwrapped = unwrap::unwrap(&text, &context);
    let _ = jwt::redact(&unwrapped.message);
    let pairs = kv::pairs(&text);
    for pair in &pairs {
        assert!(!pair.key.is_empty());
        assert!(!pair.key.contains('='));
    }
    let _ = crate::time::find_time(&text, &context);
    let _ = crate::time::parse_loose_utc(&text);
}
