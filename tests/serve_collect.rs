//! `tokentrail serve --config`: the collectors run beside the web server on one store, with
//! the real binary over a real socket. A tailed file's new line, and a line pushed to
//! `POST /api/v1/ingest` on the web server's listener, become searchable through the JSON
//! API; `/metrics` holds the web server's and the collectors' counters; SIGTERM commits the
//! collectors' positions.

mod web_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use web_support::{free_port, viewer_with_key, BIN};
const PUSH_KEY: &str = "push-key-0123456789abcdef";
const FIXTURE: &str = include_str!("fixtures/dcache-access/webdav-se01Domain.access");
const CMS_JTI: &str = "711e3232-4ea8-4cd8-b857-c15ee2f94624";
const ATLAS_JTI: &str = "642cd217-3916-4311-be8b-ba9e4143afe0";

struct Server {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One HTTP/1.1 request; returns (status, body), or None when the server does not answer.
fn request(port: u16, head: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    write!(
        stream,
        "{head}Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let code = status.split(' ').nth(1)?.parse().ok()?;
    Some((code, String::from_utf8_lossy(&body).into_owned()))
}

fn get(port: u16, path: &str, key: &str) -> Option<(u16, String)> {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"),
        "",
    )
}

fn push(port: u16, key: &str, body: &str) -> (u16, String) {
    request(
        port,
        &format!(
            "POST /api/v1/ingest?host=push.example.org HTTP/1.1\r\nContent-Type: text/plain\r\nAuthorization: Bearer {key}\r\n"
        ),
        body,
    )
    .expect("the push endpoint answers")
}

/// Events the JSON API finds for `query` (`None` while it does not answer).
fn search_count(port: u16, key: &str, query: &str) -> Option<usize> {
    let (status, body) = get(port, &format!("/api/v1/search?q={query}&limit=50"), key)?;
    if status != 200 {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(answer["events"].as_array()?.len())
}

fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// A webhook receiver on loopback answering 200; the bodies it got, in order.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, bodies) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, bodies)
}

#[test]
fn serve_with_config_collects_beside_the_web_server() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let fixture: Vec<&str> = FIXTURE.lines().collect();
    let log_file = logs.join("webdav-se01Domain.access");
    std::fs::write(&log_file, format!("{}\n{}\n", fixture[0], fixture[1])).unwrap();

    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let key = viewer_with_key(&data, "officer");

    let port = free_port();
    // The config's own address is not served: --listen wins.
    let config_port = free_port();
    let (webhook_url, webhook_bodies) = webhook_receiver();
    let config = dir.path().join("tokentrail.toml");
    std::fs::write(
        &config,
        format!(
            "timezone = \"UTC\"\nwebhook = \"{webhook_url}\"\nlisten = \"127.0.0.1:{config_port}\"\napi_keys = [\"{PUSH_KEY}\"]\ncommit_interval_ms = 200\n[[files]]\nname = \"dcache\"\npaths = [\"{}/*.access\"]\npoll_interval_ms = 50\n",
            logs.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let child = Command::new(BIN)
        .args([
            "--data",
            data_arg,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
            config.to_str().unwrap(),
        ])
        .env("TOKENTRAIL_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server {
        child: Some(child),
        log,
    };
    let up = wait_for(Duration::from_secs(60), || {
        get(port, "/api/v1/health", &key).is_some()
    });
    assert!(up, "server did not start; log:\n{}", server.log_text());
    assert!(
        TcpStream::connect(("127.0.0.1", config_port)).is_err(),
        "the config's listen address is served although --listen was given"
    );

    // The file's first two lines (both of the cms token) are tailed.
    let tailed = wait_for(Duration::from_secs(60), || {
        search_count(port, &key, &format!("jti:{CMS_JTI}")) == Some(2)
    });
    assert!(
        tailed,
        "the file's lines were not found; log:\n{}",
        server.log_text()
    );
    assert_eq!(
        search_count(port, &key, &format!("jti:{ATLAS_JTI}")),
        Some(0)
    );

    // A watchlist entry added while the server runs: the appended line raises an alert,
    // recorded in alerts.jsonl and POSTed to the config's webhook.
    run(&[
        "--data",
        data_arg,
        "watch",
        "add",
        "--jti",
        ATLAS_JTI,
        "--reason",
        "INC-7 stolen token",
    ]);

    // A line appended while the server runs is found.
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_file)
        .unwrap();
    writeln!(handle, "{}", fixture[2]).unwrap();
    drop(handle);
    let appended = wait_for(Duration::from_secs(60), || {
        search_count(port, &key, &format!("jti:{ATLAS_JTI}")) == Some(1)
    });
    assert!(
        appended,
        "the appended line was not found; log:\n{}",
        server.log_text()
    );
    let alerted = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .is_ok_and(|alerts| alerts.contains(ATLAS_JTI) && alerts.contains("INC-7"))
    });
    assert!(alerted, "no alert recorded; log:\n{}", server.log_text());
    let delivered = webhook_bodies
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook received no alert");
    assert!(delivered.contains(ATLAS_JTI), "{delivered}");
    assert!(
        !std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap()
            .contains(CMS_JTI),
        "lines without a watched value raised an alert"
    );

    // Push on the web server's listener, with the config's API keys only.
    let pushed = "2026-11-22T10:00:00Z pushthroughserve arrived";
    let (status, _) = push(port, "wrong-key-0123456789abcdef", &format!("{pushed}\n"));
    assert_eq!(status, 401);
    let (status, _) = push(port, &key, &format!("{pushed}\n"));
    assert_eq!(status, 401, "a web API key is not a push key");
    let (status, body) = push(port, PUSH_KEY, &format!("{pushed}\n"));
    assert_eq!(status, 200, "{body}");
    let found = wait_for(Duration::from_secs(60), || {
        search_count(port, &key, "pushthroughserve") == Some(1)
    });
    assert!(
        found,
        "the pushed line was not found; log:\n{}",
        server.log_text()
    );

    // One /metrics, behind the web server's sign-in, with both sets of counters.
    let (status, _) = get(port, "/metrics", "not-a-key").unwrap();
    assert_eq!(status, 401);
    let (status, metrics) = get(port, "/metrics", &key).unwrap();
    assert_eq!(status, 200);
    for expected in [
        "tokentrail_http_requests_total{route=\"/api/v1/search\",status=\"200\"}",
        "tokentrail_http_requests_total{route=\"/api/v1/ingest\",status=\"200\"} 1",
        "tokentrail_http_requests_total{route=\"/api/v1/ingest\",status=\"401\"} 2",
        "tokentrail_events{source=\"dcache-access\"} 3",
        "tokentrail_collector_lines_total{collector=\"dcache\",kind=\"files\"} 3",
        "tokentrail_collector_lines_total{collector=\"http\",kind=\"http\"} 1",
        "tokentrail_collector_open_files{collector=\"dcache\",kind=\"files\"} 1",
        "tokentrail_commits_total ",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from /metrics:\n{metrics}"
        );
    }
    assert_eq!(
        metrics
            .matches("# TYPE tokentrail_collector_lines_total ")
            .count(),
        1,
        "{metrics}"
    );

    // SIGTERM: a clean stop that leaves the collectors' positions committed.
    let mut child = server.child.take().unwrap();
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "serve exited with {exit}; log:\n{}",
        server.log_text()
    );
    let status = run(&["--data", data_arg, "status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let collectors = status["collectors"].as_array().unwrap();
    let files = collectors
        .iter()
        .find(|c| c["collector"] == "files:dcache")
        .unwrap_or_else(|| panic!("no files collector in {status}"));
    assert_eq!(files["lines"], 3, "{status}");
    let size = std::fs::metadata(&log_file).unwrap().len();
    assert_eq!(files["files"][0]["committed"], size, "{status}");
    assert_eq!(files["lag_bytes"], 0, "{status}");
    let log_text = server.log_text();
    assert!(!log_text.contains(PUSH_KEY), "the push key was logged");
    assert!(!log_text.contains(&key), "the API key was logged");
}
