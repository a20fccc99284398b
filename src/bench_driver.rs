//! `tokentrail bench …` (hidden): the measuring half of `scripts/bench.sh`. Runs one
//! measurement in one process and prints it as JSON on standard output.
//!
//! - `parse LOGS` — parse-only rate of the ingest pipeline (no store), per format family.
//! - `store LOGS --data DIR` — the ceiling: the corpus's events (every `--keep-every`-th,
//!   parsed beforehand, untimed) written through the store's own sink, no parsing.
//! - `trace --data DIR --truth truth.json --logs LOGS` — trace latency percentiles for
//!   identities with few and many events, tokens and addresses, and the time `rg` takes to
//!   find the same seed value in the raw logs.
//! - `clickhouse LOGS --truth truth.json` — the two backends side by side: starts throwaway
//!   ClickHouse servers (one, or `--shards N`), ingests the corpus into them and into a
//!   tantivy store in a temporary directory, and times the same traces on both.
//! - `report DIR` — reads the measurements `scripts/bench.sh` left in DIR and prints the
//!   figures and ratios as JSON; with `--check`, fails when a ratio falls below its floor
//!   (ratios only: absolute times drift from machine to machine).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::bench_support::{options_for, parse_only, percentiles, store_only};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tokentrail_index::{trace, EventStore, Order, Query, Seed, TantivyStore, TraceRequest};

/// `tokentrail bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Measure,
}

#[derive(Debug, Subcommand)]
enum Measure {
    /// Parse-only rate.
    Parse {
        logs: PathBuf,
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Store-only rate (events parsed first, untimed).
    Store {
        logs: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// Keep every n-th event of the corpus (bounds the memory of the pre-parsed events).
        #[arg(long, default_value_t = 1)]
        keep_every: u64,
    },
    /// Trace latency and the `rg` baseline.
    Trace {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        truth: PathBuf,
        #[arg(long)]
        logs: PathBuf,
        /// Seeds per kind of question.
        #[arg(long, default_value_t = 10)]
        seeds: usize,
        /// Timed rounds over all seeds (after one warm-up round).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// `rg` runs per kind of question (0: skip the baseline).
        #[arg(long, default_value_t = 3)]
        rg_runs: usize,
    },
    /// Ingest and trace on ClickHouse beside tantivy, same corpus, same questions.
    Clickhouse {
        logs: PathBuf,
        #[arg(long)]
        truth: PathBuf,
        /// ClickHouse server processes (shards of one `Distributed` table when > 1).
        #[arg(long, default_value_t = 1)]
        shards: usize,
        /// Seeds per kind of question.
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// Timed rounds over all seeds (after one warm-up round).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Starts throwaway ClickHouse servers (shards of one cluster when > 1) in a temporary
    /// directory, prints their store URL and keeps them until Ctrl-C (for trying the backend).
    ClickhouseServer {
        #[arg(long, default_value_t = 1)]
        shards: usize,
    },
    /// Figures and ratios from the measurements in a directory.
    Report {
        dir: PathBuf,
        /// Cores the figures are divided by for per-core rates.
        #[arg(long)]
        cores: usize,
        /// Fail when ingest is below this fraction of the store-only ceiling.
        #[arg(long)]
        min_ingest_vs_store: Option<f64>,
        /// Fail when ingest is below this fraction of the parse-only rate.
        #[arg(long)]
        min_ingest_vs_parse: Option<f64>,
        /// Fail when `rg` p50 over the token (jti) trace p95 falls below this.
        #[arg(long)]
        min_rg_over_jti_trace: Option<f64>,
        /// Fail when the store is larger than this fraction of the raw logs.
        #[arg(long)]
        max_store_vs_raw: Option<f64>,
    },
}

/// Runs one measurement.
pub fn run(args: BenchArgs) -> Result<()> {
    let output = match args.command {
        Measure::Parse { logs, threads } => {
            let (run, _) = parse_only(&options_for(vec![logs], threads), 0)?;
            serde_json::to_value(run)?
        }
        Measure::Store {
            logs,
            data,
            keep_every,
        } => {
            let options = options_for(vec![logs], None);
            let (parsed, events) = parse_only(&options, keep_every.max(1))?;
            let run = store_only(&events, &data, &options)?;
            json!({ "parsed_events": parsed.events, "store": run })
        }
        Measure::Trace {
            data,
            truth,
            logs,
            seeds,
            rounds,
            rg_runs,
        } => {
            let store = TantivyStore::open(&data)?;
            measure_traces(&store, &truth, &logs, seeds, rounds, rg_runs)?
        }
        Measure::Clickhouse {
            logs,
            truth,
            shards,
            seeds,
            rounds,
        } => compare_clickhouse(&logs, &truth, shards.max(1), seeds, rounds)?,
        Measure::ClickhouseServer { shards } => {
            use tokentrail_index::clickhouse::server::{find_binary, LocalServers};
            let binary = find_binary().context("no ClickHouse server installed")?;
            let servers = LocalServers::start(&binary, shards.max(1))?;
            println!("{}", servers.url("tokentrail"));
            eprintln!("ClickHouse running; Ctrl-C (or closing standard input) stops it");
            let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            drop(servers);
            return Ok(());
        }
        Measure::Report {
            dir,
            cores,
            min_ingest_vs_store,
            min_ingest_vs_parse,
            min_rg_over_jti_trace,
            max_store_vs_raw,
        } => {
            let report = report(&dir, cores.max(1))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            let mut failures = Vec::new();
            let ratio = |name: &str| report["ratios"][name].as_f64().unwrap_or(0.0);
            if let Some(floor) = min_ingest_vs_store {
                if ratio("ingest_vs_store_only") < floor {
                    failures.push(format!(
                        "ingest is {:.2} of the store-only ceiling (floor {floor})",
                        ratio("ingest_vs_store_only")
                    ));
                }
            }
            if let Some(floor) = min_ingest_vs_parse {
                if ratio("ingest_vs_parse_only") < floor {
                    failures.push(format!(
                        "ingest is {:.2} of the parse-only rate (floor {floor})",
                        ratio("ingest_vs_parse_only")
                    ));
                }
            }
            if let Some(floor) = min_rg_over_jti_trace {
                let found = ratio("rg_over_trace_p95_jti");
                if found < floor {
                    failures.push(format!(
                        "rg p50 over jti trace p95 is {found:.3} (floor {floor})"
                    ));
                }
            }
            if let Some(ceiling) = max_store_vs_raw {
                if ratio("store_vs_raw") > ceiling {
                    failures.push(format!(
                        "store is {:.2} of the raw logs (ceiling {ceiling})",
                        ratio("store_vs_raw")
                    ));
                }
            }
            if !failures.is_empty() {
                anyhow::bail!("benchmark ratios regressed: {}", failures.join("; "));
            }
            return Ok(());
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

fn read_json(path: &std::path::Path) -> Result<Value> {
    serde_json::from_slice(&std::fs::read(path).with_context(|| format!("while reading {path:?}"))?)
        .with_context(|| format!("while parsing {path:?}"))
}

fn read_number(path: &std::path::Path) -> Result<f64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("while reading {path:?}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("{path:?} does not hold a number"))
}

/// A figure of `/usr/bin/time -v` output, by its label.
fn time_figure(path: &std::path::Path, label: &str) -> Result<f64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("while reading {path:?}"))?;
    text.lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(label)
                .and_then(|value| value.trim().parse::<f64>().ok())
        })
        .with_context(|| format!("no {label:?} in {path:?}"))
}

/// The figures of one benchmark directory (files written by `scripts/bench.sh`).
fn report(dir: &std::path::Path, cores: usize) -> Result<Value> {
    let cores_f = cores as f64;
    let ingest = read_json(&dir.join("ingest.json"))?;
    let bytes = ingest["stats"]["bytes"].as_f64().unwrap_or(0.0);
    let events = ingest["added"].as_f64().unwrap_or(0.0);
    let seconds = ingest["seconds"].as_f64().unwrap_or(f64::NAN);
    let ingest_mb_s = bytes / 1e6 / seconds;
    let ingest_events_s = events / seconds;
    let time_path = dir.join("ingest.time");
    let rss = time_figure(&time_path, "Maximum resident set size (kbytes):")
        .map_or(f64::NAN, |kb| kb * 1024.0);
    // CPU seconds: on a shared machine wall time includes waiting for the other tenants.
    let cpu_seconds = time_figure(&time_path, "User time (seconds):").unwrap_or(f64::NAN)
        + time_figure(&time_path, "System time (seconds):").unwrap_or(f64::NAN);
    let rss_split = read_json(&dir.join("ingest.rss")).unwrap_or(Value::Null);
    let parse = read_json(&dir.join("parse.json")).ok();
    let store = read_json(&dir.join("store.json")).ok();
    let trace = read_json(&dir.join("trace.json")).ok();
    let raw = read_number(&dir.join("raw.bytes")).unwrap_or(bytes);
    let gzipped = read_number(&dir.join("gzip.bytes")).unwrap_or(f64::NAN);
    let index = read_number(&dir.join("index.bytes")).unwrap_or(f64::NAN);

    let mut ratios = serde_json::Map::new();
    ratios.insert("store_vs_raw".into(), json!(index / raw));
    ratios.insert("store_vs_gzip".into(), json!(index / gzipped));
    if let Some(parse) = &parse {
        let parse_mb_s = parse["mb_per_s"].as_f64().unwrap_or(f64::NAN);
        ratios.insert(
            "ingest_vs_parse_only".into(),
            json!(ingest_mb_s / parse_mb_s),
        );
    }
    if let Some(store) = &store {
        let store_events_s = store["store"]["events_per_s"].as_f64().unwrap_or(f64::NAN);
        ratios.insert(
            "ingest_vs_store_only".into(),
            json!(ingest_events_s / store_events_s),
        );
    }
    if let Some(trace) = &trace {
        let worst = trace["kinds"]
            .as_object()
            .map(|kinds| {
                kinds
                    .values()
                    .filter_map(|kind| kind["rg_p50_over_trace_p95"].as_f64())
                    .filter(|ratio| *ratio > 0.0)
                    .fold(f64::INFINITY, f64::min)
            })
            .unwrap_or(f64::NAN);
        ratios.insert("rg_over_trace_p95_worst".into(), json!(worst));
        if let Some(kinds) = trace["kinds"].as_object() {
            for (name, kind) in kinds {
                let short = name.replace("_events", "");
                ratios.insert(
                    format!("rg_over_trace_p95_{short}"),
                    kind["rg_p50_over_trace_p95"].clone(),
                );
            }
        }
    }
    let format_rates: Value = parse
        .as_ref()
        .and_then(|parse| parse["per_format"].as_object())
        .map(|formats| {
            formats
                .iter()
                .map(|(format, rate)| {
                    (
                        format.clone(),
                        json!({
                            "bytes": rate["bytes"],
                            "mb_per_s_per_core": rate["mb_per_s_per_thread"],
                        }),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .unwrap_or(Value::Null);
    Ok(json!({
        "cores": cores,
        "corpus": { "raw_bytes": raw, "gzip_bytes": gzipped, "events": events },
        "ingest": {
            "seconds": seconds,
            "mb_per_s": ingest_mb_s,
            "mb_per_s_per_core": ingest_mb_s / cores_f,
            "events_per_s": ingest_events_s,
            "events_per_s_per_core": ingest_events_s / cores_f,
            "peak_rss_mib": rss / (1 << 20) as f64,
            // Sampled from /proc by bench.sh: heap and stacks, and mapped index files.
            "peak_rss_anon_mib": rss_split["anon_kb"].as_f64().map(|kb| kb / 1024.0),
            "peak_rss_file_mib": rss_split["file_kb"].as_f64().map(|kb| kb / 1024.0),
            "cpu_seconds": cpu_seconds,
            "mb_per_cpu_second": bytes / 1e6 / cpu_seconds,
        },
        "parse_only": parse.as_ref().map(|parse| json!({
            "threads": parse["threads"],
            "mb_per_s": parse["mb_per_s"],
            "mb_per_s_per_core": parse["mb_per_s"].as_f64().map(|rate| rate / cores_f),
            "events_per_s": parse["events_per_s"],
            "per_format_per_core": format_rates,
        })),
        "store_only": store.as_ref().map(|store| json!({
            "events": store["store"]["events"],
            "events_per_s": store["store"]["events_per_s"],
            "mb_per_s": store["store"]["mb_per_s"],
        })),
        "store": { "index_bytes": index },
        "trace": trace.as_ref().map(|trace| trace["kinds"].clone()),
        "ratios": ratios,
    }))
}

/// One kind of question and its seeds (the value `rg` looks for, and the trace seed).
struct Kind {
    name: &'static str,
    seeds: Vec<(String, Seed)>,
}

fn measure_traces(
    store: &dyn EventStore,
    truth_path: &std::path::Path,
    logs: &std::path::Path,
    seeds_per_kind: usize,
    rounds: usize,
    rg_runs: usize,
) -> Result<Value> {
    let truth: Value = serde_json::from_slice(
        &std::fs::read(truth_path).with_context(|| format!("while reading {truth_path:?}"))?,
    )?;
    let kinds = pick_questions(store, &truth, seeds_per_kind)?;
    let total_events = store.count(&Query::All)?;

    let mut results = serde_json::Map::new();
    // `rg` is timed over logs in the page cache, as a site admin's repeated searches run:
    // the traces read the store after `rg` last read the logs, and the first timed `rg` of
    // a run read them from disk (6.6-8.2 s against 0.5-0.7 s at 10 M events).
    let mut rg_warm = false;
    for kind in &kinds {
        // One warm-up round (first touches of the mmap'ed index), then timed rounds.
        for (_, seed) in &kind.seeds {
            trace(store, &TraceRequest::new(seed.clone()))?;
        }
        let mut samples = Vec::new();
        let mut answer_sizes = Vec::new();
        for _ in 0..rounds {
            for (_, seed) in &kind.seeds {
                let started = Instant::now();
                let answer = trace(store, &TraceRequest::new(seed.clone()))?;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
                answer_sizes.push(answer.events.len() as f64);
            }
        }
        let mut rg_samples = Vec::new();
        if !rg_warm && rg_runs > 0 {
            if let Some((value, _)) = kind.seeds.first() {
                time_rg(value, logs)?;
                rg_warm = true;
            }
        }
        for (value, _) in kind.seeds.iter().take(rg_runs) {
            rg_samples.push(time_rg(value, logs)?);
        }
        let latency = percentiles(&samples);
        let rg = percentiles(&rg_samples);
        let speedup = if rg.samples > 0 && latency.p95_ms > 0.0 {
            rg.p50_ms / latency.p95_ms
        } else {
            0.0
        };
        results.insert(
            kind.name.to_string(),
            json!({
                "seeds": kind.seeds.iter().map(|(value, _)| value).collect::<Vec<_>>(),
                "trace": latency,
                "answer_events_p50": percentiles(&answer_sizes).p50_ms,
                "answer_events_max": percentiles(&answer_sizes).max_ms,
                "rg": rg,
                "rg_p50_over_trace_p95": speedup,
            }),
        );
    }
    Ok(json!({ "store_events": total_events, "kinds": results }))
}

/// Milliseconds `rg` takes to list every line of the raw logs holding `value`.
fn time_rg(value: &str, logs: &std::path::Path) -> Result<f64> {
    let started = Instant::now();
    let status = Command::new("rg")
        .args([
            "--fixed-strings",
            "--count",
            "--search-zip",
            "--no-messages",
            "--",
        ])
        .arg(value)
        .arg(logs)
        .stdout(Stdio::null())
        .status()
        .context("while running rg (install ripgrep)")?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    // rg exits 1 when nothing matched; only 2 is an error.
    anyhow::ensure!(status.code() != Some(2), "rg failed on {value:?}");
    Ok(elapsed)
}

/// Identities with few and with many events (by their ground-truth evidence), their tokens,
/// and client addresses seen in their events.
fn pick_questions(store: &dyn EventStore, truth: &Value, per_kind: usize) -> Result<Vec<Kind>> {
    let mut identities: Vec<(usize, String, Vec<String>)> = truth["identities"]
        .as_array()
        .context("truth.json has no identities")?
        .iter()
        .filter(|identity| identity["recorded"].as_bool().unwrap_or(false))
        .filter_map(|identity| {
            let evidence = identity["evidence"]["certain"].as_array()?.len();
            let sub = identity["sub"].as_str()?.to_string();
            let jtis = identity["jtis"]
                .as_array()
                .map(|jtis| {
                    jtis.iter()
                        .filter_map(|jti| jti.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (evidence > 0).then_some((evidence, sub, jtis))
        })
        .collect();
    anyhow::ensure!(!identities.is_empty(), "no recorded identity in truth.json");
    identities.sort();
    let few: Vec<_> = identities.iter().take(per_kind).collect();
    let many: Vec<_> = identities.iter().rev().take(per_kind).collect();
    let identity_seeds = |chosen: &[&(usize, String, Vec<String>)]| {
        chosen
            .iter()
            .map(|(_, sub, _)| {
                (
                    sub.clone(),
                    Seed::Identity {
                        sub: sub.clone(),
                        iss: None,
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    // Tokens: spread over the population (one per identity, from both ends and the middle).
    let mut jtis = Vec::new();
    let step = (identities.len() / per_kind.max(1)).max(1);
    for (_, _, identity_jtis) in identities.iter().step_by(step) {
        if let Some(jti) = identity_jtis.get(identity_jtis.len() / 2) {
            jtis.push((jti.clone(), Seed::Jti { jti: jti.clone() }));
        }
        if jtis.len() == per_kind {
            break;
        }
    }
    // Addresses: clients seen in the busiest identities' events, and the incident's.
    let mut addresses = BTreeSet::new();
    if let Some(ip) = truth["incident"]["outside_ip"].as_str() {
        if !ip.is_empty() {
            addresses.insert(ip.to_string());
        }
    }
    for (_, sub, _) in &many {
        let hits = store.search(&Query::term("sub", sub.as_str()), 200, Order::NewestFirst)?;
        for event in hits.events {
            if !event.client_ip.is_empty() && addresses.len() < per_kind {
                addresses.insert(event.client_ip);
            }
        }
    }
    Ok(vec![
        Kind {
            name: "identity_few_events",
            seeds: identity_seeds(&few),
        },
        Kind {
            name: "identity_many_events",
            seeds: identity_seeds(&many),
        },
        Kind {
            name: "jti",
            seeds: jtis,
        },
        Kind {
            name: "address",
            seeds: addresses
                .into_iter()
                .map(|ip| (ip.clone(), Seed::Ip { ip }))
                .collect(),
        },
    ])
}

/// Ingest and trace figures of the ClickHouse store beside the tantivy store's, measured in
/// one run on one corpus: the ratios are what to read, the absolute times drift.
fn compare_clickhouse(
    logs: &std::path::Path,
    truth: &std::path::Path,
    shards: usize,
    seeds: usize,
    rounds: usize,
) -> Result<Value> {
    use tokentrail_index::clickhouse::server::{find_binary, LocalServers};
    let binary = find_binary().context(
        "no ClickHouse server installed (apt-get install clickhouse-server, or set TOKENTRAIL_CLICKHOUSE_SERVER)",
    )?;
    let servers = LocalServers::start(&binary, shards)?;
    let clickhouse = tokentrail_index::ClickHouseStore::open(&servers.url("bench"))?;
    let directory = tempfile::tempdir()?;
    let tantivy_store = TantivyStore::open(directory.path())?;
    let mut figures = serde_json::Map::new();
    for (name, backend) in [
        ("tantivy", &tantivy_store as &dyn tokentrail_index::Backend),
        ("clickhouse", &clickhouse as &dyn tokentrail_index::Backend),
    ] {
        let started = Instant::now();
        let report = crate::ingest::ingest(backend, options_for(vec![logs.to_path_buf()], None))?;
        let seconds = started.elapsed().as_secs_f64();
        let traces = measure_traces(backend, truth, logs, seeds, rounds, 0)?;
        figures.insert(
            name.to_string(),
            json!({
                "ingest_seconds": seconds,
                "events": report.added,
                "events_per_s": report.added as f64 / seconds.max(1e-9),
                "mb_per_s": report.stats.bytes as f64 / 1e6 / seconds.max(1e-9),
                "trace": traces["kinds"],
            }),
        );
    }
    let p95 = |backend: &str, kind: &str| {
        figures[backend]["trace"][kind]["trace"]["p95_ms"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let mut ratios = serde_json::Map::new();
    ratios.insert(
        "ingest_clickhouse_over_tantivy_seconds".into(),
        json!(
            figures["clickhouse"]["ingest_seconds"]
                .as_f64()
                .unwrap_or(0.0)
                / figures["tantivy"]["ingest_seconds"].as_f64().unwrap_or(1.0)
        ),
    );
    for kind in [
        "identity_few_events",
        "identity_many_events",
        "jti",
        "address",
    ] {
        ratios.insert(
            format!("trace_p95_{kind}_clickhouse_over_tantivy"),
            json!(p95("clickhouse", kind) / p95("tantivy", kind).max(1e-9)),
        );
    }
    Ok(json!({ "shards": shards, "backends": figures, "ratios": ratios }))
}
