//! End-to-end tests of `tokentrail ingest` and `search`: the real binary, a real on-disk store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tokentrail(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run tokentrail")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn search(data: &Path, query: &str) -> Vec<Value> {
    let text = ok(tokentrail(
        data,
        &["search", query, "--limit", "1000", "--format", "json"],
    ));
    let value: Value = serde_json::from_str(&text).unwrap();
    value["events"].as_array().unwrap().clone()
}

const ISSUER_DIRS: &[&str] = &["iam-audit", "keycloak-event", "vault-audit"];

/// Copies the issuer fixtures three ways: plain, gzipped, and wrapped in syslog prefixes.
fn issuer_variants(root: &Path) {
    for variant in ["plain", "gzip", "syslog"] {
        for format in ISSUER_DIRS {
            let from = fixtures().join(format);
            let to = root.join(variant).join(format);
            std::fs::create_dir_all(&to).unwrap();
            for entry in std::fs::read_dir(&from).unwrap() {
                let entry = entry.unwrap();
                let text = std::fs::read_to_string(entry.path()).unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                match variant {
                    "plain" => std::fs::write(to.join(&name), &text).unwrap(),
                    "gzip" => {
                        let file = std::fs::File::create(to.join(format!("{name}.gz"))).unwrap();
                        let mut encoder =
                            flate2::write::GzEncoder::new(file, flate2::Compression::default());
                        encoder.write_all(text.as_bytes()).unwrap();
                        encoder.finish().unwrap();
                    }
                    _ => {
                        let wrapped: String = text
                            .lines()
                            .map(|line| {
                                format!("Mar 14 09:12:03 iam01.example.org {format}[812]: {line}\n")
                            })
                            .collect();
                        std::fs::write(to.join(&name), wrapped).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn issuer_examples_parse_plain_gzipped_and_syslog_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    issuer_variants(dir.path());
    for variant in ["plain", "gzip", "syslog"] {
        let data = dir.path().join(format!("data-{variant}"));
        let report = ok(tokentrail(
            &data,
            &[
                "ingest",
                "--tz",
                "UTC",
                dir.path().join(variant).to_str().unwrap(),
                "--output",
                "json",
            ],
        ));
        let report: Value = serde_json::from_str(&report).unwrap();
        assert!(
            report["stats"]["formats"].get("raw").is_none(),
            "{variant}: lines kept raw: {report}"
        );

        // IAM access token by jti: identity, client, scopes, audience, times, origin.
        let events = search(&data, "jti:e9b4a053-7ad2-4581-99a5-53b02b661b2c");
        assert_eq!(events.len(), 1, "{variant}");
        let event = &events[0];
        assert_eq!(event["source"], "iam-audit");
        assert_eq!(event["action"], "token.issue");
        assert_eq!(event["iss"], "https://cms-auth.cern.ch");
        assert_eq!(event["sub"], "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event["client_id"], "cms-vault-prod");
        assert_eq!(event["username"], "jdoe");
        assert_eq!(event["time"], "2025-03-14T09:12:03.417Z");
        assert_eq!(event["token_exp"], "2025-03-14T10:12:03.391Z");
        assert_eq!(event["aud"][0], "https://wlcg.cern.ch/jwt/v1/any");
        assert!(event["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "storage.create:/store/user/jdoe"));
        let file = event["origin"]["file"].as_str().unwrap();
        assert!(
            file.contains(&format!("{variant}/iam-audit/iam-audit.log")),
            "{file}"
        );
        assert!(event["origin"]["line"].as_u64().unwrap() >= 1);
        if variant == "syslog" {
            assert_eq!(event["host"], "iam01.example.org");
            assert!(event["raw"]
                .as_str()
                .unwrap()
                .starts_with("Mar 14 09:12:03 iam01.example.org"));
        }

        // By sub: IAM token events and the account disable of the same user.
        let by_sub = search(&data, "sub:46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert!(
            by_sub.iter().any(|e| e["action"] == "account.disable"),
            "{variant}"
        );
        // By client_id: Keycloak client-credentials token with its prefixed jti kept.
        let by_client = search(&data, "client_id:rucio-prod");
        let keycloak = by_client
            .iter()
            .find(|e| e["source"] == "keycloak-event")
            .unwrap();
        assert_eq!(
            keycloak["jti"],
            "trrtcc:c4d5e6f7-0809-4a1b-8c2d-3e4f5a6b7c8d"
        );
        assert_eq!(keycloak["client_ip"], "198.51.100.14");
        assert_eq!(keycloak["time"], "2025-03-14T10:00:31.907Z");
        // Vault: the address of the credential read.
        assert!(!search(&data, "source:vault-audit client_ip:192.0.2.51").is_empty());
    }
}

#[test]
fn a_second_ingest_adds_nothing_and_a_compressed_copy_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    issuer_variants(dir.path());
    let data = dir.path().join("data");
    let plain = dir.path().join("plain");
    let first: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            plain.to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    let added = first["added"].as_u64().unwrap();
    assert!(added > 10);
    let again: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            plain.to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(again["added"], 0);
    // The gzipped copies hold the same streams: nothing new either.
    let gzip: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            dir.path().join("gzip").to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(gzip["added"], 0);
    let total = search(&data, "");
    assert_eq!(total.len() as u64, added);
    // A file that grew: only the new line is added.
    let log = plain.join("iam-audit/iam-audit.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(r#"2025-03-14 12:00:00.000  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : {"@type":"AccountRestoredEvent","timestamp":1741953600000,"category":"ACCOUNT","principal":"admin","message":"Account 'jdoe' has been restored","account":{"uuid":"46889569-dbbb-42c1-a30b-853eeeeb9f9b","name":"jdoe"},"source":"DefaultIamAccountService"}"#);
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let grown: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            plain.to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(grown["added"], 1, "{grown}");
}

#[test]
fn every_fixture_line_is_detected_as_its_own_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", fixtures().to_str().unwrap()],
    ));
    let events = search(&data, "");
    assert!(events.len() > 200);
    for event in &events {
        let file = event["origin"]["file"].as_str().unwrap();
        let directory = file
            .strip_prefix(fixtures().to_str().unwrap())
            .unwrap()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap();
        // D_AUDIT lines inside a SchedLog are audit events by design.
        let also = if directory == "htcondor-schedlog" {
            "htcondor-ce-audit"
        } else {
            directory
        };
        assert!(
            event["source"] == directory || event["source"] == also,
            "{file}:{} read as {}",
            event["origin"]["line"],
            event["source"]
        );
    }
}

#[test]
fn bad_input_is_counted_and_kept_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("empty.log"), "").unwrap();
    std::fs::write(
        logs.join("binary.log"),
        b"\xff\xfe\x00garbage \xc3\x28 line\nsecond\n",
    )
    .unwrap();
    let mut huge = vec![b'a'; 3 << 20];
    huge.extend_from_slice(b"\nafter the huge line\n");
    std::fs::write(logs.join("huge.log"), huge).unwrap();
    std::fs::write(
        logs.join("truncated.log"),
        "2025-03-14 09:00:00 complete\n2025-03-14 09:00:01 no newline at the e",
    )
    .unwrap();
    std::fs::write(logs.join("crlf.log"), "one\r\ntwo\r\n").unwrap();
    let data = dir.path().join("data");
    let report: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &[
            "ingest",
            "--tz",
            "UTC",
            "--max-line-bytes",
            "65536",
            logs.to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    let stats = &report["stats"];
    assert_eq!(stats["invalid_utf8"], 1);
    assert_eq!(stats["truncated"], 1);
    assert_eq!(stats["unterminated_last_line"], 1);
    assert_eq!(stats["files"], 5);
    assert_eq!(stats["formats"]["raw"]["lines"], 8);
    let kept = search(&data, "source:raw");
    assert_eq!(kept.len(), 8);
    let huge_event = kept
        .iter()
        .find(|e| {
            e["origin"]["file"].as_str().unwrap().ends_with("huge.log") && e["origin"]["line"] == 1
        })
        .unwrap();
    assert_eq!(huge_event["raw"].as_str().unwrap().len(), 65536);
    let after = kept
        .iter()
        .find(|e| e["raw"] == "after the huge line")
        .unwrap();
    assert_eq!(after["origin"]["offset"], (3u64 << 20) + 1);
    let last = kept
        .iter()
        .find(|e| e["raw"] == "2025-03-14 09:00:01 no newline at the e")
        .unwrap();
    assert_eq!(last["time"], "2025-03-14T09:00:01.000Z");
    assert!(kept.iter().any(|e| e["raw"] == "two"));
}

#[test]
fn usage_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = tokentrail(&data, &["ingest", "/no/such/path"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/path"));
    let format = tokentrail(
        &data,
        &["ingest", "--format", "nope", fixtures().to_str().unwrap()],
    );
    assert!(!format.status.success());
    assert!(String::from_utf8_lossy(&format.stderr).contains("unknown format \"nope\""));
    let zone = tokentrail(
        &data,
        &["ingest", "--tz", "Mars/Base", fixtures().to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&zone.stderr).contains("unknown time zone"));
    let query = tokentrail(&data, &["search", "subb:x"]);
    assert!(!query.status.success());
    assert!(String::from_utf8_lossy(&query.stderr).contains("unknown field \"subb\""));
    let time = tokentrail(&data, &["search", "x", "--from", "yesterday-ish"]);
    assert!(String::from_utf8_lossy(&time.stderr).contains("--from"));
    let usage = tokentrail(&data, &["trace"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn no_bearer_token_signature_reaches_the_store() {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(br#"{"alg":"RS256","kid":"k"}"#);
    let payload = engine.encode(br#"{"iss":"https://issuer.example.org/","sub":"victim-sub","jti":"leaked-jti-1","exp":1741947123,"scope":"storage.read:/"}"#);
    let signature = "SIGNATUREsecretPART0123456789abcdefABCDEF_-xyz";
    let token = format!("{header}.{payload}.{signature}");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("mixed.log"),
        format!(
            "2025-03-14T09:00:00Z some service: Authorization: Bearer {token}\n\
             level=INFO ts=2025-03-14T09:00:01.000+0000 event=org.dcache.xrootd.request session=door:x request=open path=/store/a?authz=Bearer%20{token} response.code=ok\n\
             {{\"time\":\"2025-03-14T09:25:01.231007Z\",\"type\":\"response\",\"request\":{{\"id\":\"r1\",\"operation\":\"read\",\"path\":\"secret/oauth/creds/cms/x:default\",\"remote_address\":\"192.0.2.51\"}},\"response\":{{\"data\":{{\"access_token\":\"{token}\"}}}}}}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", logs.to_str().unwrap()],
    ));
    let events = search(&data, "");
    assert_eq!(events.len(), 3);
    assert!(events.iter().any(|e| e["jti"] == "leaked-jti-1"));
    // Nothing in the data directory holds the signature: not the stored events, not the index.
    let mut stack = vec![data.clone()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
                continue;
            }
            // Lower case: the full-text index stores lower-cased terms.
            let bytes = std::fs::read(entry.path()).unwrap().to_ascii_lowercase();
            let lower = signature.to_ascii_lowercase();
            let needle = lower.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "signature found in {}",
                entry.path().display()
            );
        }
    }
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(signature));
}

#[test]
fn output_cut_short_by_its_reader_is_not_an_error() {
    // `tokentrail search … | head`: the reader goes away and writes fail with a broken pipe,
    // which is the reader's choice, not a failure (exit 0, nothing on stderr).
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut text = String::new();
    for number in 0..3000 {
        text.push_str(&format!(
            "a line of an application no parser knows, number {number}\n"
        ));
    }
    std::fs::write(logs.join("app.log"), text).unwrap();
    let data = dir.path().join("data");
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", logs.to_str().unwrap()],
    ));
    for format in ["json", "csv", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokentrail"))
            .arg("--data")
            .arg(&data)
            .args(["search", "", "--limit", "5000", "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{format}: {:?} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
