//! Kills `tokentrail collect` with SIGKILL at random moments while lines are appended, and
//! checks after the last restart that every line written is stored exactly once.

mod collect_support;

use std::io::Write;
use std::time::Duration;

use collect_support::{assert_exactly_once, stored_lines, wait_for, Collector, Rng};

#[test]
fn kill_9_mid_ingest_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = format!(
        "commit_interval_ms = 200\ncommit_events = 500\n[[files]]\nname = \"app\"\npaths = [\"{}/*.log\"]\npoll_interval_ms = 20\n",
        logs.display()
    );
    let mut collector = Collector::start(dir.path(), &config);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut expected = Vec::new();
    let mut files: Vec<std::fs::File> = (0..3)
        .map(|i| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join(format!("app{i}.log")))
                .unwrap()
        })
        .collect();
    for round in 0..6 {
        // Append for a random while (a few hundred ms), then kill -9 at that moment.
        let lines = 200 + rng.below(2000);
        for n in 0..lines {
            let file = rng.below(3) as usize;
            let line = format!(
                "round {round} line {n} file {file} {}",
                "x".repeat(rng.below(300) as usize)
            );
            writeln!(files[file], "{line}").unwrap();
            expected.push(line);
            if n % 100 == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(30)));
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        collector.crash_and_restart();
    }
    let data = collector.data.clone();
    let complete = wait_for(Duration::from_secs(60), || {
        stored_lines(&data).values().sum::<usize>() >= expected.len()
    });
    collector.terminate();
    let stored = stored_lines(&data);
    assert!(
        complete,
        "not everything was stored; log:\n{}",
        collector.log_text()
    );
    assert_exactly_once(&stored, &expected, "after 6 kill -9");
}
