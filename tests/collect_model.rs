//! Model-based test of the file tailer (after Vector's file-watcher tests): random sequences
//! of write, partial write, rename rotation, compression of a rotated file, copytruncate,
//! delete and recreate, clean restart and kill -9, against a real directory and the real
//! binary. The model is the list of lines written; at the end the index must hold each of
//! them exactly once and nothing else.

mod collect_support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use collect_support::{assert_exactly_once, stored_lines, wait_for, Collector, Rng};

const FILES: usize = 3;

#[derive(Debug)]
enum Op {
    Write {
        file: usize,
        lines: usize,
    },
    /// Half a line now, the rest with the next write to that file.
    Partial {
        file: usize,
    },
    Rotate {
        file: usize,
    },
    Compress,
    CopyTruncate {
        file: usize,
    },
    Delete {
        file: usize,
    },
    Restart,
    Crash,
}

fn random_op(rng: &mut Rng) -> Op {
    let file = rng.below(FILES as u64) as usize;
    match rng.below(20) {
        0..=7 => Op::Write {
            file,
            lines: 1 + rng.below(200) as usize,
        },
        8..=9 => Op::Partial { file },
        10..=11 => Op::Rotate { file },
        12 => Op::Compress,
        13..=14 => Op::CopyTruncate { file },
        15 => Op::Delete { file },
        16..=17 => Op::Restart,
        _ => Op::Crash,
    }
}

struct Model {
    logs: std::path::PathBuf,
    expected: Vec<String>,
    /// Text of a half-written line per file.
    partial: Vec<Option<String>>,
    counter: usize,
    rotations: usize,
}

impl Model {
    fn live(&self, file: usize) -> std::path::PathBuf {
        self.logs.join(format!("app{file}.log"))
    }

    fn append(&mut self, file: usize, text: &str) {
        let mut handle = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.live(file))
            .unwrap();
        handle.write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self, file: usize, rng: &mut Rng) -> String {
        self.counter += 1;
        format!(
            "{} file{file} line{} {}",
            "2026-11-22T10:00:00Z",
            self.counter,
            "abcdefghij".repeat(rng.below(30) as usize)
        )
    }

    /// Ends a half-written line (so that it is one line of the model).
    fn complete_partial(&mut self, file: usize) {
        if let Some(rest) = self.partial[file].take() {
            self.append(file, &format!("{rest}\n"));
        }
    }
}

fn run_model(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = format!(
        "timezone = \"UTC\"\ncommit_interval_ms = 100\n[[files]]\nname = \"model\"\npaths = [\"{}/app*.log*\"]\npoll_interval_ms = 20\nrotate_grace_ms = 300\n",
        logs.display()
    );
    let mut collector = Collector::start(dir.path(), &config);
    let mut rng = Rng(seed);
    let mut model = Model {
        logs: logs.clone(),
        expected: Vec::new(),
        partial: vec![None; FILES],
        counter: 0,
        rotations: 0,
    };
    let mut history = Vec::new();
    for _ in 0..steps {
        let op = random_op(&mut rng);
        history.push(format!("{op:?}"));
        match op {
            Op::Write { file, lines } => {
                let mut text = String::new();
                if let Some(rest) = model.partial[file].take() {
                    text.push_str(&rest);
                    text.push('\n');
                }
                for _ in 0..lines {
                    let line = model.line(file, &mut rng);
                    text.push_str(&line);
                    text.push('\n');
                    model.expected.push(line);
                }
                model.append(file, &text);
            }
            Op::Partial { file } => {
                if model.partial[file].is_none() {
                    let line = model.line(file, &mut rng);
                    let cut = line.len() / 2;
                    model.append(file, &line[..cut]);
                    model.partial[file] = Some(line[cut..].to_string());
                    model.expected.push(line);
                }
            }
            Op::Rotate { file } => {
                model.complete_partial(file);
                if model.live(file).exists() {
                    model.rotations += 1;
                    let rotated = logs.join(format!("app{file}.log.{}", model.rotations));
                    std::fs::rename(model.live(file), rotated).unwrap();
                }
            }
            Op::Compress => {
                let rotated: Vec<_> = std::fs::read_dir(&logs)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let name = p.file_name().unwrap().to_string_lossy().into_owned();
                        name.contains(".log.") && !name.ends_with(".gz")
                    })
                    .collect();
                if let Some(path) = rotated.first() {
                    compress(path, &logs);
                }
            }
            Op::CopyTruncate { file } => {
                model.complete_partial(file);
                if model.live(file).exists() {
                    model.rotations += 1;
                    let copy = logs.join(format!("app{file}.log.{}", model.rotations));
                    std::fs::copy(model.live(file), &copy).unwrap();
                    std::fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(model.live(file))
                        .unwrap();
                }
            }
            Op::Delete { file } => {
                model.complete_partial(file);
                // Deleting a file before anything read it loses its lines by definition:
                // wait until what was written is stored.
                let written = model.expected.len() - model.partial.iter().flatten().count();
                let data = collector.data.clone();
                let stored_all = wait_for(Duration::from_secs(60), || {
                    stored_lines(&data).values().sum::<usize>() >= written
                });
                if !stored_all {
                    let complete: Vec<String> = model
                        .expected
                        .iter()
                        .filter(|line| {
                            !model
                                .partial
                                .iter()
                                .flatten()
                                .any(|rest| line.ends_with(rest.as_str()))
                        })
                        .cloned()
                        .collect();
                    assert_exactly_once(
                        &stored_lines(&data),
                        &complete,
                        &format!(
                            "seed {seed}: before delete; ops {history:?}\nlog:\n{}",
                            collector.log_text()
                        ),
                    );
                }
                let _ = std::fs::remove_file(model.live(file));
            }
            Op::Restart => collector.restart(),
            Op::Crash => collector.crash_and_restart(),
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
    }
    for file in 0..FILES {
        model.complete_partial(file);
    }
    let data = collector.data.clone();
    let complete = wait_for(Duration::from_secs(60), || {
        stored_lines(&data).values().sum::<usize>() >= model.expected.len()
    });
    collector.terminate();
    let stored = stored_lines(&data);
    assert!(
        complete,
        "seed {seed}: {} of {} lines stored; ops {history:?}\nlog:\n{}",
        stored.values().sum::<usize>(),
        model.expected.len(),
        collector.log_text()
    );
    assert_exactly_once(
        &stored,
        &model.expected,
        &format!("seed {seed}, ops {history:?}"),
    );
}

/// Replaces a rotated file by its gzip copy (written aside, then renamed into place).
fn compress(path: &Path, logs: &Path) {
    let content = std::fs::read(path).unwrap();
    let aside = logs.join("compressing.tmp");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&aside).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&content).unwrap();
    encoder.finish().unwrap();
    let mut target = path.as_os_str().to_owned();
    target.push(".gz");
    std::fs::rename(&aside, &target).unwrap();
    std::fs::remove_file(path).unwrap();
}

/// Seeds that once failed, run on every test run beside 1–3 (seed 29: a file first seen
/// while it held half a line was taken for the rotated copy of a later file that started
/// alike, and the lines of the real rotated file were never read).
const REGRESSION_SEEDS: &[u64] = &[29];

/// `TOKENTRAIL_MODEL_SEED=N` runs one seed, `TOKENTRAIL_MODEL_SEEDS=A..B` a range (a sweep:
/// `TOKENTRAIL_MODEL_SEEDS=1..200 cargo test --release --test collect_model`).
fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("TOKENTRAIL_MODEL_SEED") {
        return vec![seed.parse().expect("TOKENTRAIL_MODEL_SEED is a number")];
    }
    if let Ok(range) = std::env::var("TOKENTRAIL_MODEL_SEEDS") {
        let (from, to) = range
            .split_once("..")
            .expect("TOKENTRAIL_MODEL_SEEDS is FROM..TO");
        let from: u64 = from.parse().expect("FROM is a number");
        let to: u64 = to.parse().expect("TO is a number");
        return (from..=to).collect();
    }
    [1, 2, 3].iter().chain(REGRESSION_SEEDS).copied().collect()
}

#[test]
fn random_file_operations_store_every_line_exactly_once() {
    // Longer sequences for sweeps: TOKENTRAIL_MODEL_STEPS=150.
    let steps = std::env::var("TOKENTRAIL_MODEL_STEPS")
        .map(|steps| steps.parse().expect("TOKENTRAIL_MODEL_STEPS is a number"))
        .unwrap_or(40);
    for seed in seeds() {
        run_model(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1, steps);
    }
}

/// The loss behind seed 29, step by step: the collector sees `app.log` while it holds only
/// the start of a line; the line is completed and the file rotated and read to its end; after
/// a restart a new `app.log` starts with the same bytes. It is a new stream, not the rotated
/// one seen again (which would resume it past its first line).
#[test]
fn file_first_seen_with_half_a_line_is_not_confused_with_a_new_file_that_starts_alike() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "timezone = \"UTC\"\nlisten = \"127.0.0.1:{port}\"\ncommit_interval_ms = 100\n[[files]]\nname = \"model\"\npaths = [\"{}/app*.log*\"]\npoll_interval_ms = 20\nrotate_grace_ms = 300\n",
        logs.display()
    );
    let live = logs.join("app.log");
    let start = "2026-11-22T10:00:";
    let first = "2026-11-22T10:00:00Z first file line one";
    let second = "2026-11-22T10:00:00Z second file, whose first line is longer";
    std::fs::write(&live, start).unwrap();
    let mut collector = Collector::start(dir.path(), &config);
    // The half line is read (and held back) once the file is open.
    let opened = "tokentrail_collector_open_files{collector=\"model\",kind=\"files\"} 1";
    let seen = wait_for(Duration::from_secs(60), || metrics(port).contains(opened));
    assert!(
        seen,
        "the half line was not read; log:\n{}",
        collector.log_text()
    );

    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    handle
        .write_all(format!("{}\n", &first[start.len()..]).as_bytes())
        .unwrap();
    drop(handle);
    std::fs::rename(&live, logs.join("app.log.1")).unwrap();
    let data = collector.data.clone();
    // Read to its end and closed (rotated, quiet for rotate_grace).
    let finished = wait_for(Duration::from_secs(60), || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokentrail"))
            .arg("--data")
            .arg(&data)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        status.to_string().contains("\"finished\":true")
    });
    assert!(
        finished,
        "the rotated file was not closed; log:\n{}",
        collector.log_text()
    );
    collector.restart();
    std::fs::write(&live, format!("{second}\n")).unwrap();

    let expected = vec![first.to_string(), second.to_string()];
    let complete = wait_for(Duration::from_secs(60), || {
        stored_lines(&data).values().sum::<usize>() >= expected.len()
    });
    collector.terminate();
    let stored = stored_lines(&data);
    assert!(
        complete,
        "lines missing: {stored:?}; log:\n{}",
        collector.log_text()
    );
    assert_exactly_once(&stored, &expected, "half-line start");
}

/// The collector's `/metrics` text (empty while it does not answer).
fn metrics(port: u16) -> String {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    if stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}
