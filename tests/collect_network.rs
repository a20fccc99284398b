//! Syslog over loopback UDP and TCP (octet counting and newline framing, RFC 3164 and 5424),
//! the HTTP push endpoint (API key, raw lines, NDJSON, all-or-nothing on bad input) and the
//! collectors' metrics, against the real binary.

mod collect_support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use collect_support::{stored_lines, wait_for, Collector};

const KEY: &str = "test-key-0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post(port: u16, content_type: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!(
            "POST /api/v1/ingest?host=push.example.org HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn syslog_and_http_push_are_stored_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let syslog_port = free_port();
    let http_port = free_port();
    let config = format!(
        "timezone = \"UTC\"\nlisten = \"127.0.0.1:{http_port}\"\napi_keys = [\"{KEY}\"]\ncommit_interval_ms = 100\n[[syslog]]\nname = \"net\"\nudp = \"127.0.0.1:{syslog_port}\"\ntcp = \"127.0.0.1:{syslog_port}\"\n"
    );
    let mut collector = Collector::start(dir.path(), &config);
    let up = wait_for(Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", http_port)).is_ok()
    });
    assert!(
        up,
        "collector did not listen; log:\n{}",
        collector.log_text()
    );

    // UDP, RFC 3164.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rfc3164 = "<13>Nov 22 10:00:00 ce01.example.org myapp[42]: udp three one six four";
    udp.send_to(rfc3164.as_bytes(), ("127.0.0.1", syslog_port))
        .unwrap();
    // TCP, octet counting with RFC 5424, then newline framing.
    let rfc5424 =
        "<34>1 2026-11-22T10:00:01.000Z se01.example.org xrootd 77 - - tcp five four two four";
    let newline = "<13>Nov 22 10:00:02 se02.example.org dcache: tcp newline framed";
    let mut tcp = TcpStream::connect(("127.0.0.1", syslog_port)).unwrap();
    write!(tcp, "{} {}", rfc5424.len(), rfc5424).unwrap();
    drop(tcp);
    let mut tcp = TcpStream::connect(("127.0.0.1", syslog_port)).unwrap();
    write!(tcp, "{newline}\n{newline} again\n").unwrap();
    drop(tcp);

    let data = collector.data.clone();
    let found = wait_for(Duration::from_secs(30), || {
        let stored = stored_lines(&data);
        [rfc3164, rfc5424, newline]
            .iter()
            .all(|line| stored.get(*line) == Some(&1))
            && stored.contains_key(&format!("{newline} again"))
    });
    assert!(
        found,
        "syslog lines not stored: {:?}; log:\n{}",
        stored_lines(&data).keys().collect::<Vec<_>>(),
        collector.log_text()
    );

    // HTTP push: the key is checked.
    let (status, _) = post(http_port, "text/plain", None, "pushed without key\n");
    assert_eq!(status, 401);
    let (status, _) = post(http_port, "text/plain", Some("wrong-key-0123456789"), "x\n");
    assert_eq!(status, 401);
    // Raw lines are stored once the answer comes (it comes after the commit).
    let (status, body) = post(
        http_port,
        "text/plain",
        Some(KEY),
        "pushed raw one\npushed raw two\n",
    );
    assert_eq!(status, 200, "{body}");
    let stored = stored_lines(&data);
    assert_eq!(stored.get("pushed raw one"), Some(&1));
    assert_eq!(stored.get("pushed raw two"), Some(&1));
    // The same request again is not stored twice.
    let (status, _) = post(
        http_port,
        "text/plain",
        Some(KEY),
        "pushed raw one\npushed raw two\n",
    );
    assert_eq!(status, 200);
    assert_eq!(stored_lines(&data).get("pushed raw one"), Some(&1));
    // NDJSON; one bad object refuses the whole request.
    let (status, body) = post(
        http_port,
        "application/x-ndjson",
        Some(KEY),
        "{\"line\": \"ndjson good\"}\n{\"nope\": 1}\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 2"), "{body}");
    let (status, body) = post(
        http_port,
        "application/x-ndjson",
        Some(KEY),
        "{\"line\": \"ndjson one\", \"host\": \"wn01.example.org\"}\n{\"message\": \"ndjson two\"}\n",
    );
    assert_eq!(status, 200, "{body}");
    let stored = stored_lines(&data);
    assert!(!stored.contains_key("ndjson good"));
    assert_eq!(stored.get("ndjson one"), Some(&1));
    assert_eq!(stored.get("ndjson two"), Some(&1));
    let (status, _) = post(http_port, "text/plain", Some(KEY), "");
    assert_eq!(status, 400);

    // Metrics.
    let (status, metrics) = http(
        http_port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tokentrail_collector_lines_total{collector=\"net\",kind=\"syslog\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("tokentrail_collector_errors_total{collector=\"http\",kind=\"http\"}"));

    collector.terminate();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .arg("--data")
        .arg(&data)
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    assert!(status.status.success());
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let collectors = json["collectors"].as_array().unwrap();
    let net = collectors
        .iter()
        .find(|c| c["collector"] == "syslog:net")
        .unwrap();
    assert_eq!(net["lines"], 4);
    let push = collectors
        .iter()
        .find(|c| c["collector"] == "http:push")
        .unwrap();
    assert_eq!(push["lines"], 6);
}
