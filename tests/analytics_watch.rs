//! Watchlist alerts end to end: a watched address raises an alert during `tokentrail ingest`,
//! recorded in `alerts.jsonl` and POSTed to a webhook receiver on loopback (which first fails,
//! so delivery is retried). Real processes, real store, real HTTP on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tokentrail::analytics::webhook::WebhookSender;
use tokentrail::simulate::{self, Options};

fn tokentrail(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TOKENTRAIL_WEBHOOK")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A tiny HTTP receiver: answers the first request 503 and the rest 200, and hands every
/// request's body to the test.
fn receiver() -> (String, mpsc::Receiver<(u16, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/tokentrail", listener.local_addr().unwrap());
    let (sender, bodies) = mpsc::channel();
    std::thread::spawn(move || {
        for (count, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            assert!(request_line.starts_with("POST /hooks/tokentrail HTTP/1.1"));
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header == "\r\n" || header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let status = if count == 0 { 503 } else { 200 };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = sender.send((status, String::from_utf8(body).unwrap()));
        }
    });
    (url, bodies)
}

#[test]
fn watched_address_raises_an_alert_delivered_to_the_webhook_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    simulate::run(&Options {
        out: dir.path().join("site"),
        seed: 5,
        users: 4,
        days: 1,
        ..Options::default()
    })
    .unwrap();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("site/truth.json")).unwrap())
            .unwrap();
    let outside = truth["incident"]["outside_ip"].as_str().unwrap();
    let data = dir.path().join("data");

    ok(tokentrail(
        &data,
        &[
            "watch",
            "add",
            "--ip",
            outside,
            "--reason",
            "stolen token, ticket #42",
        ],
    ));
    let listed = ok(tokentrail(&data, &["watch", "list", "--format", "json"]));
    assert!(listed.contains(outside));
    assert!(data.join("watchlist.json").exists());

    let (url, bodies) = receiver();
    let logs = dir.path().join("site").join(simulate::LOGS_DIR);
    let printed = ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            "--webhook",
            &url,
            logs.to_str().unwrap(),
        ],
    ));
    assert!(printed.contains("watchlist alert(s) raised"), "{printed}");

    // The first POST was refused (503) and retried; ingest waited for delivery at exit, so
    // both requests have been made by now (the bound only keeps a broken build from hanging).
    let (first_status, first) = bodies.recv_timeout(Duration::from_secs(60)).unwrap();
    let (second_status, second) = bodies.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!((first_status, second_status), (503, 200));
    assert_eq!(first, second);
    let alert: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(alert["kind"], "tokentrail-alert");
    assert_eq!(alert["entry"]["kind"], "address");
    assert_eq!(alert["entry"]["value"], outside);
    assert_eq!(
        alert["trace"],
        serde_json::json!({"kind": "ip", "ip": outside})
    );
    let events = alert["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["client_ip"] == outside));
    assert!(alert["matches"].as_u64().unwrap() >= events.len() as u64);

    // The alert history holds the same alert.
    let history = std::fs::read_to_string(data.join("alerts.jsonl")).unwrap();
    let recorded: Vec<Value> = history
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(recorded.iter().any(|a| a["id"] == alert["id"]));
    let shown = ok(tokentrail(&data, &["alerts", "--format", "json"]));
    assert!(shown.contains(alert["id"].as_str().unwrap()));

    // A second ingest stores nothing new, so it raises nothing new.
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", logs.to_str().unwrap()],
    ));
    let again = std::fs::read_to_string(data.join("alerts.jsonl")).unwrap();
    assert_eq!(again.lines().count(), history.lines().count());

    // Ban-list exports of the same watchlist.
    let misp: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &["watch", "export", "--format", "misp"],
    )))
    .unwrap();
    assert_eq!(misp["Event"]["Attribute"][0]["type"], "ip-src");
    assert_eq!(misp["Event"]["Attribute"][0]["value"], outside);
    let feed: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &["watch", "export", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(feed["version"], 1);

    ok(tokentrail(&data, &["watch", "remove", "--ip", outside]));
    assert!(!ok(tokentrail(&data, &["watch", "list"])).contains(outside));
}

#[test]
fn a_full_webhook_queue_drops_and_counts_instead_of_blocking() {
    // Nothing listens on this port once the listener is gone: every delivery fails slowly
    // (retries with backoff), so the queue fills.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sender = WebhookSender::spawn(&format!("http://127.0.0.1:{port}/")).unwrap();
    let capacity = tokentrail::analytics::webhook::QUEUE_CAPACITY;
    let accepted = (0..capacity + 50)
        .filter(|n| sender.send(format!("{{\"n\":{n}}}")))
        .count();
    assert!(accepted <= capacity + 1);
    let dropped = sender
        .stats()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped as usize, capacity + 50 - accepted);
    assert!(dropped >= 49);
}
