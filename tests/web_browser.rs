//! End-to-end test of the web UI in headless Chromium (Debian's `chromium` package), driven
//! over the DevTools protocol with a minimal WebSocket client (no browser-automation crate).
//!
//! Simulates a small site, ingests it, starts the real `tokentrail serve` on a free loopback
//! port with a created account, signs in, searches the incident's sub from truth.json, opens
//! its trace, checks that the timeline drew one mark per timed event of the API's answer,
//! clicks through to a job and to a file, and exports the trace as CSV. Then it opens the
//! policy report page from the navigation (its flagged tokens and anomalies must be the API's,
//! and a flagged token's link opens its trace), and downloads the incident report of the
//! incident's trace through the trace page's button and opens the file in the browser: its
//! title and evidence rows must match the report's JSON, with no script and no error.
//!
//! Run: `cargo test --test web_browser -- --nocapture`. Chromium is looked for at
//! `$TOKENTRAIL_CHROMIUM` or `/usr/bin/chromium`; when it is missing the test fails, unless
//! `TOKENTRAIL_SKIP_BROWSER=1` is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_tokentrail");
const PASSWORD: &str = "browser test password";

/// Kills a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tokentrail");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "tokentrail {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET on loopback (for /json/list and the health probe); reads the body by
/// its Content-Length, as Chromium's DevTools server keeps the connection open.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.is_empty() {
            return None;
        }
        if line == "\r\n" {
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
    String::from_utf8(body).ok()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Just enough of RFC 6455 for the DevTools protocol: masked text frames out, frames in.
struct WebSocket {
    stream: TcpStream,
}

impl WebSocket {
    fn connect(url: &str) -> WebSocket {
        let rest = url.strip_prefix("ws://").expect("ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(
            status.contains(" 101 "),
            "WebSocket upgrade refused: {status}"
        );
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        assert!(
            reader.buffer().is_empty(),
            "unexpected data after the upgrade"
        );
        WebSocket { stream }
    }

    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            len if len < 126 => frame.push(0x80 | len as u8),
            len if len < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).unwrap();
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            let mut len = (head[1] & 0x7f) as u64;
            if len == 126 {
                let mut bytes = [0u8; 2];
                self.stream.read_exact(&mut bytes).unwrap();
                len = u16::from_be_bytes(bytes) as u64;
            } else if len == 127 {
                let mut bytes = [0u8; 8];
                self.stream.read_exact(&mut bytes).unwrap();
                len = u64::from_be_bytes(bytes);
            }
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("DevTools closed the connection"),
                0x9 | 0xA => continue,
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message).unwrap();
            }
        }
    }
}

/// A DevTools session on one page.
struct Page {
    socket: WebSocket,
    next_id: u64,
    base: String,
    /// Protocol events received while waiting for replies (console entries, exceptions).
    events: Vec<Value>,
}

impl Page {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.socket
            .send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let message: Value = serde_json::from_str(&self.socket.receive()).unwrap();
            if message["id"] == id {
                return message;
            }
            if matches!(
                message["method"].as_str(),
                Some("Runtime.exceptionThrown" | "Log.entryAdded" | "Runtime.consoleAPICalled")
            ) {
                self.events.push(message);
            }
        }
    }

    /// Evaluates `expression` (awaiting a promise); `None` when it threw (e.g. mid-navigation).
    fn try_eval(&mut self, expression: &str) -> Option<Value> {
        let reply = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if reply.get("error").is_some() || reply["result"].get("exceptionDetails").is_some() {
            return None;
        }
        Some(reply["result"]["result"]["value"].clone())
    }

    fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|| panic!("script failed: {expression}"))
    }

    fn goto(&mut self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Waits until the page at `path_prefix` (pathname + search) has loaded.
    fn wait_page(&mut self, path_prefix: &str) -> String {
        wait_for(
            &format!("page {path_prefix}"),
            Duration::from_secs(30),
            || {
                let here = self.try_eval(
                    "document.readyState === 'complete' ? location.pathname + location.search : ''",
                )?;
                let here = here.as_str()?.to_string();
                here.starts_with(path_prefix).then_some(here)
            },
        )
    }

    fn wait_true(&mut self, what: &str, expression: &str) {
        wait_for(what, Duration::from_secs(30), || {
            (self.try_eval(expression)? == Value::Bool(true)).then_some(())
        })
    }

    /// Clicks the first element matching `selector` and returns its href.
    fn click(&mut self, selector: &str) -> String {
        let selector = serde_json::to_string(selector).unwrap();
        let href = self.eval(&format!(
            "(() => {{ const a = document.querySelector({selector}); if (!a) throw new Error('no ' + {selector}); \
             const href = a.getAttribute('href'); a.click(); return href; }})()"
        ));
        href.as_str().unwrap_or_default().to_string()
    }
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("TOKENTRAIL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn start_chromium(binary: &Path, profile: &Path) -> (Guard, u16) {
    let child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let guard = Guard(child);
    let port = wait_for("Chromium's DevTools port", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(profile.join("DevToolsActivePort")).ok()?;
        text.lines().next()?.trim().parse::<u16>().ok()
    });
    (guard, port)
}

#[test]
fn security_officer_traces_the_stolen_token_in_a_browser() {
    if std::env::var("TOKENTRAIL_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("TOKENTRAIL_SKIP_BROWSER=1: browser test skipped");
        return;
    }
    let Some(chromium) = chromium() else {
        panic!(
            "headless Chromium not found at /usr/bin/chromium (or $TOKENTRAIL_CHROMIUM): install \
             Debian's `chromium` package (apt-get install -y chromium), or set \
             TOKENTRAIL_SKIP_BROWSER=1 to skip this test"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let data = dir.path().join("data");
    let (site_arg, data_arg) = (site.to_str().unwrap(), data.to_str().unwrap());
    run(
        &["simulate", "--out", site_arg, "--users", "4", "--days", "1"],
        None,
    );
    run(
        &[
            "--data",
            data_arg,
            "ingest",
            "--tz",
            "UTC",
            &format!("{site_arg}/logs"),
        ],
        None,
    );
    run(
        &[
            "--data",
            data_arg,
            "user",
            "add",
            "officer",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(site.join("truth.json")).unwrap()).unwrap();
    let sub = truth["incident"]["sub"].as_str().unwrap().to_string();

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
    wait_for("the server", Duration::from_secs(30), || {
        http_get(port, "/api/v1/health").filter(|body| body.contains("ok"))
    });

    let profile = dir.path().join("chromium-profile");
    let (_browser, devtools) = start_chromium(&chromium, &profile);
    let targets: Value =
        serde_json::from_str(&wait_for("a page target", Duration::from_secs(30), || {
            http_get(devtools, "/json/list").filter(|body| body.contains("\"page\""))
        }))
        .unwrap();
    let url = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|target| target["type"] == "page")
        .and_then(|target| target["webSocketDebuggerUrl"].as_str())
        .unwrap()
        .to_string();
    let mut page = Page {
        socket: WebSocket::connect(&url),
        next_id: 0,
        base: format!("http://127.0.0.1:{port}"),
        events: Vec::new(),
    };
    page.call("Page.enable", json!({}));

    // Sign in: an unauthenticated visit lands on the login form.
    page.goto("/");
    page.wait_page("/login");
    page.eval(&format!(
        "document.getElementById('username').value = 'officer'; \
         document.getElementById('password').value = {}; \
         document.getElementById('login').click(); true",
        serde_json::to_string(PASSWORD).unwrap()
    ));
    page.wait_true(
        "the search page after sign-in",
        "location.pathname === '/' && !!document.getElementById('q')",
    );

    // Search the incident's sub without field syntax; it is recognised as a sub or jti.
    page.eval(&format!(
        "document.getElementById('q').value = {}; document.querySelector('form.searchbox').submit(); true",
        serde_json::to_string(&sub).unwrap()
    ));
    page.wait_page("/search");
    let hits = page.eval("Number(document.getElementById('hit-count').dataset.total)");
    assert!(hits.as_u64().unwrap() > 0, "the sub matches no event");
    let href = page.click("a.trace-candidate[data-kind='sub']");
    assert!(href.starts_with("/trace?sub="), "{href}");

    // The trace page: one timeline mark per timed event of the API's answer.
    page.wait_page("/trace?sub=");
    page.wait_true(
        "the timeline",
        "document.getElementById('timeline').dataset.ready === '1'",
    );
    let api_query = href.trim_start_matches("/trace?");
    let expected = page.eval(&format!(
        "fetch('/api/v1/trace?{api_query}').then(r => r.json()).then(a => a.events.filter(e => e.time).length)"
    ));
    let marks = page.eval("document.querySelectorAll('#timeline svg .mark').length");
    let reported =
        page.eval("Number(document.querySelector('#timeline svg').getAttribute('data-marks'))");
    eprintln!("trace of the incident sub: {marks} timeline marks, API has {expected} timed events");
    assert!(expected.as_u64().unwrap() > 0);
    assert_eq!(
        marks, expected,
        "timeline marks differ from the API's timed events"
    );
    assert_eq!(reported, expected);
    let rows = page.eval("document.querySelectorAll('#evidence tbody tr').length");
    let events = page.eval(&format!(
        "fetch('/api/v1/trace?{api_query}').then(r => r.json()).then(a => a.events.length)"
    ));
    assert_eq!(
        rows, events,
        "evidence table rows differ from the API's events"
    );
    let graph_nodes = page.eval("document.querySelectorAll('#graph svg a.node').length");
    assert!(graph_nodes.as_u64().unwrap() > 0, "the link graph is empty");
    let screenshot = page.call("Page.captureScreenshot", json!({"format": "png"}));
    if let Some(png) = screenshot["result"]["data"].as_str() {
        let path = std::env::temp_dir().join("tokentrail-web-trace.b64");
        let _ = std::fs::write(&path, png);
        eprintln!("trace page screenshot (base64 PNG): {}", path.display());
    }

    // Click through to a job.
    let job_href = page.click("#evidence a.tl-job");
    assert!(job_href.starts_with("/trace?job="), "{job_href}");
    page.wait_page("/trace?job=");
    page.wait_true(
        "the job's timeline",
        "document.getElementById('timeline').dataset.ready === '1'",
    );
    let job_marks = page.eval("document.querySelectorAll('#timeline svg .mark').length");
    assert!(
        job_marks.as_u64().unwrap() > 0,
        "the job's trace drew no marks"
    );

    // Back on the sub's trace, click through to a file.
    page.goto(&href);
    page.wait_page("/trace?sub=");
    let path_href = page.click("#evidence a.tl-path");
    assert!(path_href.starts_with("/trace?path="), "{path_href}");
    page.wait_page("/trace?path=");
    page.wait_true(
        "the file's timeline",
        "document.getElementById('timeline').dataset.ready === '1'",
    );
    let file_rows = page.eval("document.querySelectorAll('#evidence tbody tr').length");
    assert!(
        file_rows.as_u64().unwrap() > 0,
        "the file's trace has no evidence"
    );

    // Export the file's trace as CSV through the page's export link.
    let csv = page.eval(
        "fetch(document.getElementById('export-csv').href).then(r => r.text().then(t => [r.headers.get('content-type'), t]))",
    );
    assert_eq!(csv[0], "text/csv; charset=utf-8");
    let text = csv[1].as_str().unwrap();
    assert!(text.starts_with("id,time,source,"), "{text}");
    let csv_rows = text.trim_end().split("\r\n").count() - 1;
    assert_eq!(
        csv_rows as u64,
        file_rows.as_u64().unwrap(),
        "CSV rows differ from the evidence rows"
    );

    // The policy report, opened from the navigation: the flagged tokens and anomalies shown
    // are the API's.
    page.click("#nav-report");
    page.wait_page("/report");
    let shown = page.eval(
        "Array.from(document.querySelectorAll('#flagged tbody tr')).map(row => row.dataset.jti).sort()",
    );
    let api_flagged = page.eval(
        "fetch('/api/v1/report').then(r => r.json()).then(r => r.flagged.map(t => t.jti).sort())",
    );
    eprintln!(
        "report page: {} flagged tokens shown, API has {}",
        shown.as_array().map_or(0, Vec::len),
        api_flagged.as_array().map_or(0, Vec::len)
    );
    assert!(
        !api_flagged.as_array().unwrap().is_empty(),
        "the simulated site has no flagged token"
    );
    assert_eq!(shown, api_flagged, "flagged tokens differ from the API's");
    let anomaly_rows = page.eval("document.querySelectorAll('#anomalies tbody tr').length");
    let api_anomalies =
        page.eval("fetch('/api/v1/report').then(r => r.json()).then(r => r.anomalies.length)");
    assert_eq!(
        anomaly_rows, api_anomalies,
        "anomaly rows differ from the API's"
    );
    let flagged_href = page.click("#flagged tbody tr a.tl");
    assert!(flagged_href.starts_with("/trace?"), "{flagged_href}");
    page.wait_page("/trace?");
    page.wait_true(
        "the flagged token's timeline",
        "document.getElementById('timeline').dataset.ready === '1'",
    );

    // The incident report of the incident's trace, downloaded through the trace page's button
    // and opened from disk as whoever receives it would.
    page.goto(&href);
    page.wait_page("/trace?sub=");
    let download = page.eval(
        "(async () => { const a = document.getElementById('incident-report'); \
         const html = await fetch(a.href).then(r => r.text()); \
         const json = await fetch(document.getElementById('incident-report-json').href).then(r => r.json()); \
         return [html, json.title, json.timeline.length]; })()",
    );
    let html = download[0].as_str().unwrap();
    let title = download[1].as_str().unwrap().to_string();
    let evidence = download[2].as_u64().unwrap();
    assert!(evidence > 0, "the incident report has no evidence");
    let report_file = dir.path().join("incident-report.html");
    std::fs::write(&report_file, html).unwrap();
    page.call("Runtime.enable", json!({}));
    page.call("Log.enable", json!({}));
    page.events.clear();
    page.call(
        "Page.navigate",
        json!({"url": format!("file://{}", report_file.display())}),
    );
    page.wait_true(
        "the incident report from disk",
        "document.readyState === 'complete' && location.protocol === 'file:'",
    );
    assert_eq!(page.eval("document.title"), Value::String(title));
    let rows = page.eval("document.querySelectorAll('#timeline tr').length - 1");
    eprintln!("incident report: {rows} evidence rows, JSON has {evidence} events");
    assert_eq!(
        rows.as_u64().unwrap(),
        evidence,
        "evidence rows differ from the JSON"
    );
    assert_eq!(page.eval("document.scripts.length"), json!(0));
    // The inline style applied (the report's own CSP allows only that).
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('#timeline th')).backgroundColor"),
        json!("rgb(242, 242, 242)")
    );
    page.eval("true");
    let errors: Vec<&Value> = page
        .events
        .iter()
        .filter(|event| {
            event["method"] == "Runtime.exceptionThrown"
                || event["params"]["entry"]["level"] == "error"
        })
        .collect();
    assert!(
        errors.is_empty(),
        "errors while showing the incident report: {errors:?}"
    );
}
