//! Log content is attacker-controlled: ingest StoRM WebDAV access lines (and an unparsable
//! line kept raw) whose sub, path and user agent carry `<script>`, quotes and control
//! characters, serve them with the real binary, and check that no page returns them unescaped:
//! search, trace, event and stats pages, the policy report, the watchlist (with a hostile entry
//! added by `tokentrail watch add`), the alerts page and the incident-report download.

mod web_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use web_support::{free_port, get, viewer_with_key, Guard, BIN};

const XSS: &str = "<script>alert(1)</script>";

fn run(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn attacker_controlled_log_values_are_escaped_in_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let sub = format!("{XSS}'x");
    let lines = format!(
        "192.0.2.42 8443 \"{sub}@https://cms-auth.example.org/\" 2024-06-12T12:03:22.456Z \"4d2ba923-4bb7-4ec9-974f-cf4c2bc561cc\" \"GET /cms/{XSS}'\u{1b}[31m.root HTTP/1.1\" 200 2147 1811\n\
         192.0.2.43 8443 \"6ac17538-6c67-49f7-8693-4d6e43ed192e@https://cms-auth.example.org/\" 2024-06-12T12:04:22.456Z \"5d2ba923-4bb7-4ec9-974f-cf4c2bc561cc\" \"PUT /cms/a\\\"b'{XSS}.root HTTP/1.1\" 201 0 10\n\
         2024-06-12T12:05:00Z weird line ua=\"Mozilla/5.0 {XSS}\" sub={XSS} \u{7}\u{0}\n"
    );
    std::fs::write(logs.join("storm-webdav-server-access.log"), lines).unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    run(&[
        "--data",
        data_arg,
        "ingest",
        "--tz",
        "UTC",
        logs.to_str().unwrap(),
    ]);
    let key = viewer_with_key(&data, "officer");
    // A watchlist entry as `tokentrail watch add` writes it, with hostile value and reason.
    run(&[
        "--data",
        data_arg,
        "watch",
        "add",
        "--sub",
        &sub,
        "--reason",
        &format!("{XSS}'x \u{1b}[31m"),
    ]);
    let port = free_port();
    let _server = Guard(
        Command::new(BIN)
            .args([
                "--data",
                data_arg,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/api/v1/health", &key).is_none() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, search) = get(port, "/api/v1/search?q=&limit=50", &key).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&search).unwrap();
    let events = answer["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{search}");
    assert!(
        search.contains(XSS),
        "the API keeps the value (JSON-escaped)"
    );
    let mut pages = vec![
        "/search?q=".to_string(),
        "/search?q=path:/cms/*".to_string(),
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        "/stats".to_string(),
        "/report".to_string(),
        "/watchlist".to_string(),
        "/alerts".to_string(),
    ];
    for event in events {
        let id = event["id"].as_str().unwrap();
        pages.push(format!("/event/{id}"));
        for (kind, field) in [("sub", "sub"), ("path", "path"), ("ip", "client_ip")] {
            if let Some(value) = event[field].as_str().filter(|v| !v.is_empty()) {
                let encoded: String = value
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                pages.push(format!("/trace?{kind}={encoded}"));
                if kind == "sub" {
                    pages.push(format!("/api/v1/incident-report?sub={encoded}"));
                }
            }
        }
    }
    let mut escaped_seen = false;
    for page in &pages {
        let (status, body) = get(port, page, &key).unwrap();
        assert!(status.contains(" 200 "), "{page}: {status}");
        assert!(!body.contains(XSS), "{page}: unescaped <script>");
        // The trace answer embedded for the page's script is JSON with `<` escaped: it cannot
        // close its element; outside it, no quote of the values may appear unescaped.
        let html = match body.find("id=\"trace-data\">") {
            Some(start) => {
                let end = start + body[start..].find("</script>").unwrap();
                assert!(
                    !body[start + 16..end].contains('<'),
                    "{page}: '<' in embedded JSON"
                );
                format!("{}{}", &body[..start], &body[end..])
            }
            None => body.clone(),
        };
        assert!(!html.contains("'x"), "{page}: unescaped quote");
        assert!(
            !body.contains('\u{1b}') && !body.contains('\u{7}') && !body.contains('\u{0}'),
            "{page}: raw control character"
        );
        escaped_seen |= body.contains("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    assert!(escaped_seen, "the hostile values were not shown at all");
}
