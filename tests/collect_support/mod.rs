//! Helpers of the collector tests: run the real binary as `collect`, stop or kill it, and
//! count what the store holds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokentrail_index::{EventStore, Order, Query, TantivyStore};

pub struct Collector {
    pub child: Option<Child>,
    /// Length of the log when the collector was last started.
    pub log_mark: usize,
    pub config: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Collector {
    /// Starts `tokentrail collect` with `config_text` written to `dir/tokentrail.toml`.
    pub fn start(dir: &Path, config_text: &str) -> Collector {
        let config = dir.join("tokentrail.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut collector = Collector {
            child: None,
            log_mark: 0,
            config,
            data: dir.join("data"),
            log: dir.join("collect.log"),
        };
        collector.spawn();
        collector
    }

    fn spawn(&mut self) {
        self.log_mark = self.log_text().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tokentrail"))
            .arg("--data")
            .arg(&self.data)
            .arg("collect")
            .arg("--config")
            .arg(&self.config)
            .env("TOKENTRAIL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tokentrail collect");
        self.child = Some(child);
    }

    /// Waits until the last start has set up its collectors (its banner is in the log).
    pub fn wait_ready(&self) {
        let ready = wait_for(Duration::from_secs(60), || {
            self.log_text()
                .get(self.log_mark..)
                .is_some_and(|tail| tail.contains("tokentrail: collecting into"))
        });
        assert!(ready, "collect did not start; log:\n{}", self.log_text());
    }

    /// kill -9, then start again.
    pub fn crash_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM (clean stop), then start again.
    pub fn restart(&mut self) {
        self.terminate();
        self.spawn();
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        if self.child.is_some() {
            self.wait_ready();
        }
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(status.success());
            let exit = child.wait().unwrap();
            assert!(
                exit.success(),
                "collect exited with {exit}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// How often each raw line is stored (reads the committed index; the collector may run).
pub fn stored_lines(data: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    if !data.join("index").join("meta.json").exists() {
        return counts;
    }
    let store = TantivyStore::open(data).unwrap();
    let total = store.count(&Query::All).unwrap() as usize;
    let hits = store
        .search(&Query::All, total.max(1), Order::OldestFirst)
        .unwrap();
    for event in hits.events {
        *counts.entry(event.raw).or_insert(0) += 1;
    }
    counts
}

/// Polls `condition` every 100 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// A small deterministic random generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Checks that every expected line is stored exactly once and nothing else is.
pub fn assert_exactly_once(stored: &HashMap<String, usize>, expected: &[String], context: &str) {
    let mut missing = Vec::new();
    let mut doubled = Vec::new();
    for line in expected {
        match stored.get(line) {
            None => missing.push(line.clone()),
            Some(1) => {}
            Some(n) => doubled.push(format!("{line} x{n}")),
        }
    }
    let expected_set: std::collections::HashSet<&String> = expected.iter().collect();
    let extra: Vec<&String> = stored
        .keys()
        .filter(|k| !expected_set.contains(k))
        .collect();
    assert!(
        missing.is_empty() && doubled.is_empty() && extra.is_empty(),
        "{context}: {} missing {:?}, {} twice {:?}, {} unexpected {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        doubled.len(),
        doubled.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );
}
