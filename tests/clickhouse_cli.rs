//! The commands a user runs, unchanged against ClickHouse: the real binary with `--store
//! clickhouse://…` on a real server process (Debian's 18.16 in CI), side by side with the
//! tantivy store in `--data`, on one simulated site with its incident. Ingest, search, trace,
//! report, status, retention and the web API over a socket must give the same answers on both.

mod web_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokentrail_index::clickhouse::server::{binary_for_tests, LocalServers};
use web_support::{free_port, get, viewer_with_key, Guard, BIN};

const SITE_NETWORKS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"];

/// Runs the binary with `store` (`None`: the tantivy store in `data`); returns stdout.
fn run(data: &Path, store: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(BIN);
    command
        .env_remove("TOKENTRAIL_STORE")
        .arg("--data")
        .arg(data);
    if let Some(url) = store {
        command.args(["--store", url]);
    }
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} on {store:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// Event ids of a JSON answer (search or trace: `events[].id`).
fn ids(answer: &Value) -> BTreeSet<String> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_string())
        .collect()
}

fn flagged(report: &Value) -> BTreeSet<String> {
    report["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["jti"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_command_answers_the_same_on_clickhouse_as_on_tantivy() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 1).unwrap();
    let url = servers.url("cli");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let data = dir.path().join("data");
    run(
        &data,
        None,
        &[
            "simulate",
            "--seed",
            "3",
            "--users",
            "6",
            "--days",
            "1",
            "--out",
            site.to_str().unwrap(),
        ],
    );
    let truth = json(&std::fs::read_to_string(site.join("truth.json")).unwrap());
    let logs = site.join("logs");
    let logs = logs.to_str().unwrap();

    // Ingest into both; a second ingest into ClickHouse adds nothing.
    let ingest = ["ingest", "--tz", "UTC", "--output", "json", logs];
    let tantivy_ingest = json(&run(&data, None, &ingest));
    let clickhouse_ingest = json(&run(&data, Some(&url), &ingest));
    assert_eq!(tantivy_ingest["added"], clickhouse_ingest["added"]);
    assert!(clickhouse_ingest["added"].as_u64().unwrap() > 1000);
    let again = json(&run(&data, Some(&url), &ingest));
    assert_eq!(again["added"], 0, "{again}");

    // Search and trace: the same events.
    let jti = truth["incident"]["jti"].as_str().unwrap();
    let sub = truth["incident"]["sub"].as_str().unwrap();
    for query in [format!("jti:{jti}"), format!("sub:{sub} -service:storage")] {
        let args = ["search", "--format", "json", "--limit", "5000", &query];
        let on_tantivy = json(&run(&data, None, &args));
        let on_clickhouse = json(&run(&data, Some(&url), &args));
        assert!(!ids(&on_tantivy).is_empty(), "{args:?}");
        assert_eq!(ids(&on_tantivy), ids(&on_clickhouse), "{args:?}");
        assert_eq!(on_tantivy["total"], on_clickhouse["total"], "{args:?}");
    }
    let trace = ["trace", "--format", "json", "--sub", sub];
    let tantivy_trace = json(&run(&data, None, &trace));
    let clickhouse_trace = json(&run(&data, Some(&url), &trace));
    assert!(ids(&tantivy_trace).len() > 10);
    assert_eq!(ids(&tantivy_trace), ids(&clickhouse_trace));

    // Report: the incident's token and the non-compliant ones, on both.
    let mut report = vec!["report", "--format", "json"];
    for network in SITE_NETWORKS {
        report.extend(["--site-network", network]);
    }
    let mut expected: BTreeSet<String> = truth["noncompliant_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["jti"].as_str().unwrap().to_string())
        .collect();
    expected.insert(jti.to_string());
    assert_eq!(flagged(&json(&run(&data, None, &report))), expected);
    assert_eq!(flagged(&json(&run(&data, Some(&url), &report))), expected);

    // The incident report reads the ClickHouse store too.
    let html = dir.path().join("incident.html");
    run(
        &data,
        Some(&url),
        &[
            "incident-report",
            "--jti",
            jti,
            "--out",
            html.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains(jti));

    // The checkpoints ingest wrote are there for `status` (no collectors ran: empty list).
    let status = json(&run(&data, Some(&url), &["status", "--format", "json"]));
    assert_eq!(status["collectors"], serde_json::json!([]));

    // The web API served from ClickHouse answers like the CLI on tantivy.
    let key = viewer_with_key(&data, "officer");
    let port = free_port();
    let server = Guard(
        Command::new(BIN)
            .env_remove("TOKENTRAIL_STORE")
            .arg("--data")
            .arg(&data)
            .args(["--store", &url, "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/api/v1/health", &key).is_none() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status_line, body) = get(port, &format!("/api/v1/trace?sub={sub}"), &key).unwrap();
    assert!(status_line.contains(" 200 "), "{status_line}: {body}");
    assert_eq!(ids(&json(&body)), ids(&tantivy_trace));
    let (status_line, _) = get(port, &format!("/api/v1/trace?sub={sub}"), "wrong-key").unwrap();
    assert!(!status_line.contains(" 200 "), "{status_line}");
    // SIGTERM (systemd's stop) ends the server gracefully, with success.
    let mut server = server;
    let terminated = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "serve exited with {exit} on SIGTERM");
    drop(server);

    // Retention drops whole days: everything dated before the day after the site's last day.
    let all = json(&run(
        &data,
        Some(&url),
        &["search", "--format", "json", "--limit", "1", ""],
    ));
    let retention = json(&run(
        &data,
        Some(&url),
        &[
            "retention",
            "--days",
            "0",
            "--now",
            "2030-01-01",
            "--format",
            "json",
        ],
    ));
    assert!(retention["events"].as_u64().unwrap() > 0, "{retention}");
    assert_eq!(
        retention["events"].as_u64().unwrap() + retention["kept"].as_u64().unwrap(),
        all["total"].as_u64().unwrap(),
        "{retention}"
    );
    let after = json(&run(
        &data,
        Some(&url),
        &["search", "--format", "json", "--limit", "1", ""],
    ));
    assert_eq!(after["total"], retention["kept"], "{after}");
}

#[test]
fn a_store_url_that_is_not_clickhouse_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .env_remove("TOKENTRAIL_STORE")
        .arg("--data")
        .arg(dir.path())
        .args(["--store", "postgres://x/y", "search", "sub:a"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a store URL"), "{stderr}");
}

/// Total events the ClickHouse store at `url` holds.
fn total(data: &Path, url: &str) -> u64 {
    json(&run(
        data,
        Some(url),
        &["search", "--format", "json", "--limit", "0", ""],
    ))["total"]
        .as_u64()
        .unwrap()
}

fn wait_total(data: &Path, url: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = total(data, url);
        if now >= want || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn start_collector(data: &Path, config: &Path, log: &Path) -> Guard {
    Guard(
        Command::new(BIN)
            .env_remove("TOKENTRAIL_STORE")
            .arg("--data")
            .arg(data)
            .arg("collect")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn collectors_write_into_clickhouse_exactly_once_across_a_kill() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 1).unwrap();
    let url = servers.url("collect");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_file = dir.path().join("app.log");
    let append = |from: usize, to: usize| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .unwrap();
        for n in from..to {
            writeln!(
                file,
                "2026-11-22T10:00:{:02}Z collector line {n} of the model",
                n % 60
            )
            .unwrap();
        }
    };
    append(0, 50);
    let config = dir.path().join("tokentrail.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"{url}\"\ntimezone = \"UTC\"\ncommit_interval_ms = 100\n[[files]]\nname = \"app\"\npaths = [\"{}\"]\n",
            log_file.display()
        ),
    )
    .unwrap();
    let collector = start_collector(&data, &config, &dir.path().join("collect1.log"));
    assert_eq!(
        wait_total(&data, &url, 50),
        50,
        "{}",
        std::fs::read_to_string(dir.path().join("collect1.log")).unwrap_or_default()
    );
    // kill -9 (Guard's drop), more lines, a restart: every line once.
    drop(collector);
    append(50, 80);
    let collector = start_collector(&data, &config, &dir.path().join("collect2.log"));
    assert_eq!(wait_total(&data, &url, 80), 80);
    append(80, 90);
    assert_eq!(wait_total(&data, &url, 90), 90);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(total(&data, &url), 90, "nothing stored twice");
    let status = json(&run(&data, Some(&url), &["status", "--format", "json"]));
    let collectors = status["collectors"].as_array().unwrap();
    assert!(!collectors.is_empty(), "{status}");
    drop(collector);
}
