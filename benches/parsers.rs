//! Parse throughput per format (`Throughput::Bytes`), through the whole per-line pipeline
//! (UTF-8, transport unwrap, redaction, the format's parser, enrichment) with the format
//! forced, on two inputs:
//!
//! - `fixture/<format>`: the reference fixtures `tests/fixtures/<format>/…`, repeated to
//!   about 256 KiB so that per-stream setup does not dominate;
//! - `simulated/<format>`: up to 1 MiB of each file family of a small simulated site, with
//!   format detection (what ingest does).
//!
//! Lines are fed as ingest feeds them (`src/ingest.rs`): events handed on per 4 096, here
//! dropped at once, rather than collected into one vector of every event of the input
//! (`parse_text`), whose growth moved every event again at each doubling — up to a fifth of
//! the time for formats of short lines, and a cost ingest does not pay.
//!
//! `cargo bench --bench parsers` (all), `cargo bench --bench parsers -- dcache` (some).

use std::collections::BTreeMap;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokentrail_parsers::stream::parse_text_in_batches;
use tokentrail_parsers::time::{TimeContext, Zone};
use tokentrail_parsers::{parse_text, Context};

/// The binary's allocator (src/main.rs), so that these rates are the ones ingest sees.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FIXTURE_BYTES: usize = 256 << 10;
const SIMULATED_BYTES: usize = 1 << 20;

/// Events handed on at once by ingest (its `BATCH_EVENTS`).
const BATCH_EVENTS: usize = 4096;

/// Parses `text` as ingest does (see the module doc); the number of events.
fn parse_as_ingest(text: &str, forced: Option<&str>, context: Context) -> usize {
    let mut count = 0;
    parse_text_in_batches(text, forced, context, BATCH_EVENTS, |events| {
        count += events.len();
        events.clear();
    })
    .expect("known format");
    count
}

fn context(file_name: &str) -> Context {
    Context {
        time: TimeContext {
            zone: Zone::Utc,
            year_override: Some(2025),
            reference_date: None,
        },
        host: "host.example.org".into(),
        path: format!("bench/{file_name}"),
        file_name: file_name.into(),
        ..Context::default()
    }
}

/// Every text file under `directory`, concatenated (sorted, so runs compare).
fn read_all(directory: &Path) -> String {
    let mut paths: Vec<_> = walk(directory);
    paths.sort();
    let mut text = String::new();
    for path in paths {
        if let Ok(content) = std::fs::read_to_string(&path) {
            text.push_str(&content);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    text
}

fn walk(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn repeat_to(text: &str, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + text.len());
    while out.len() < bytes && !text.is_empty() {
        out.push_str(text);
    }
    out
}

fn fixtures(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut formats: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/fixtures")
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    formats.sort();
    let mut group = c.benchmark_group("fixture");
    group.sample_size(10);
    for format in formats {
        if tokentrail_parsers::registry::find(&format).is_none() {
            continue;
        }
        let text = repeat_to(&read_all(&root.join(&format)), FIXTURE_BYTES);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(&format), &text, |b, text| {
            b.iter(|| parse_as_ingest(text, Some(&format), context(&format)))
        });
    }
    group.finish();
}

fn simulated(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    tokentrail::simulate::run(&tokentrail::simulate::Options {
        out: dir.path().to_path_buf(),
        users: 10,
        days: 1,
        ..tokentrail::simulate::Options::default()
    })
    .expect("simulated site");
    // One input per format family: the first MiB of the files whose lines are mostly of it.
    let mut by_format: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut files = walk(&dir.path().join(tokentrail::simulate::LOGS_DIR));
    files.sort();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // compressed rotations
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok((_, stats)) = parse_text(&text, None, context(&name)) else {
            continue;
        };
        let Some((format, _)) = stats.formats.iter().max_by_key(|(_, c)| c.lines) else {
            continue;
        };
        let entry = by_format
            .entry(format.clone())
            .or_insert_with(|| (name.clone(), String::new()));
        if entry.1.len() < SIMULATED_BYTES {
            let mut cut = (SIMULATED_BYTES - entry.1.len()).min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let end = text[..cut].rfind('\n').map_or(cut, |i| i + 1);
            entry.1.push_str(&text[..end]);
        }
    }
    let mut group = c.benchmark_group("simulated");
    group.sample_size(10);
    for (format, (name, text)) in &by_format {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format), text, |b, text| {
            b.iter(|| parse_as_ingest(text, None, context(name)))
        });
    }
    group.finish();
}

criterion_group!(benches, fixtures, simulated);
criterion_main!(benches);
