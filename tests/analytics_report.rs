//! The policy report, incident report and ban-list exports on a simulated site with its
//! incident, against `truth.json`: real store on disk, real files.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokentrail::analytics::{self, AnomalyKind, ReportConfig};
use tokentrail::ingest::{ingest, IngestOptions};
use tokentrail::simulate::{self, Options};
use tokentrail_index::{Seed, TantivyStore, TraceRequest};

const HOSTILE_PATH: &str = "/store/user/x/<script>alert(1)</script>.root";

struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    truth: Value,
    webdav_log: PathBuf,
}

/// One simulated, ingested site shared by the tests of this file. A hostile line (markup in
/// the path) with the incident's token is appended to the WebDAV door log before ingest.
fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        simulate::run(&Options {
            out: root.join("site"),
            seed: 3,
            users: 6,
            days: 1,
            ..Options::default()
        })
        .unwrap();
        let truth: Value =
            serde_json::from_slice(&std::fs::read(root.join("site/truth.json")).unwrap()).unwrap();
        let incident = &truth["incident"];
        let webdav_log = root.join("site/logs/dcache01.example.org/dcache/webdav-door.access");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&webdav_log)
            .unwrap();
        writeln!(
            file,
            "level=INFO ts=2025-03-10T23:59:58.000+0000 event=org.dcache.webdav.request session=door:WebDAV-dcache01@webdav-dcache01Domain:AAYvHOSTILE request.method=GET request.url=https://dcache01.example.org:2880/pnfs/example.org/data/cms{HOSTILE_PATH} socket.remote=203.0.113.66:40000 user-agent=<b>curl</b> user.sub={}@cms user.jti={}@cms user.mapped=50006:5030 duration=3 response.code=404",
            incident["sub"].as_str().unwrap(),
            incident["jti"].as_str().unwrap()
        )
        .unwrap();
        drop(file);
        let store = TantivyStore::open(&root.join("data")).unwrap();
        ingest(
            &store,
            IngestOptions {
                paths: vec![root.join("site").join(simulate::LOGS_DIR)],
                zone: "UTC".parse().unwrap(),
                ..IngestOptions::default()
            },
        )
        .unwrap();
        Site {
            _dir: dir,
            root,
            truth,
            webdav_log,
        }
    })
}

fn store(site: &Site) -> TantivyStore {
    TantivyStore::open(&site.root.join("data")).unwrap()
}

fn site_config() -> ReportConfig {
    ReportConfig {
        site_networks: ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]
            .iter()
            .map(|net| net.parse().unwrap())
            .collect(),
        ..ReportConfig::default()
    }
}

#[test]
fn report_flags_exactly_the_incident_token_and_the_noncompliant_tokens() {
    let site = site();
    let report = analytics::policy_report(&store(site), None, None, &site_config()).unwrap();
    let incident_jti = site.truth["incident"]["jti"].as_str().unwrap();
    let mut expected: BTreeSet<String> = site.truth["noncompliant_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["jti"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 3);
    expected.insert(incident_jti.to_string());
    let flagged: BTreeSet<String> = report.flagged.iter().map(|t| t.jti.clone()).collect();
    assert_eq!(flagged, expected);

    // Each non-compliant token is flagged for the reason the simulator gave it.
    for token in site.truth["noncompliant_tokens"].as_array().unwrap() {
        let row = report
            .flagged
            .iter()
            .find(|f| f.jti == token["jti"].as_str().unwrap())
            .unwrap();
        assert!(
            row.reasons
                .contains(&token["reason"].as_str().unwrap().to_string()),
            "{row:?} vs {token}"
        );
    }

    // The incident: used from the outside address, and after the account was disabled.
    let outside = site.truth["incident"]["outside_ip"].as_str().unwrap();
    let kinds: BTreeSet<AnomalyKind> = report
        .anomalies
        .iter()
        .filter(|a| a.jti == incident_jti)
        .map(|a| a.kind)
        .collect();
    assert!(kinds.contains(&AnomalyKind::OutsideNetwork));
    assert!(kinds.contains(&AnomalyKind::UseAfterAccountDisabled));
    let outside_anomaly = report
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::OutsideNetwork)
        .unwrap();
    assert_eq!(outside_anomaly.addresses, vec![outside.to_string()]);
    assert_eq!(
        outside_anomaly.trace,
        Seed::Jti {
            jti: incident_jti.into()
        }
    );
    let disabled_at = tokentrail_parsers::Timestamp::parse(
        site.truth["incident"]["disabled_at"].as_str().unwrap(),
    )
    .unwrap();
    let after_disable = report
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::UseAfterAccountDisabled)
        .unwrap();
    assert!(after_disable
        .evidence
        .iter()
        .all(|e| e.time.unwrap() > disabled_at));
    assert!(!after_disable.evidence.is_empty());

    // The JSON the web API serves, with the trace seed the UI links.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["anomalies"][0]["trace"]["kind"], "jti");
    assert!(json["tokens"]["total"].as_u64().unwrap() > 100);
    assert_eq!(json["audiences"]["any"], 1);
    assert!(report.refused.iter().any(|r| r.reason == "expired"));
    assert!(report.issuance.iter().any(|i| i.peak_per_second >= 1));

    // Without site networks the outside rule is off, but the disabled account still flags it.
    let bare =
        analytics::policy_report(&store(site), None, None, &ReportConfig::default()).unwrap();
    assert!(bare.flagged.iter().any(|t| t.jti == incident_jti));
    assert!(!bare
        .anomalies
        .iter()
        .any(|a| a.kind == AnomalyKind::OutsideNetwork));
}

#[test]
fn report_command_prints_json_with_the_flagged_tokens() {
    let site = site();
    let output = Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .arg("--data")
        .arg(site.root.join("data"))
        .args([
            "report",
            "--site-network",
            "192.0.2.0/24",
            "--site-network",
            "198.51.100.0/24",
            "--site-network",
            "2001:db8::/32",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["flagged"].as_array().unwrap().len(), 4);
}

fn incident_report(site: &Site) -> analytics::IncidentReport {
    let jti = site.truth["incident"]["jti"].as_str().unwrap();
    analytics::incident_report(
        &store(site),
        &TraceRequest::new(Seed::Jti { jti: jti.into() }),
        "Stolen token <b>test</b>",
    )
    .unwrap()
}

#[test]
fn incident_report_is_self_contained_escaped_and_hashes_its_sources() {
    let site = site();
    let report = incident_report(site);
    let html = report.to_html();
    // Hostile log content is shown, escaped, never as markup.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;curl&lt;/b&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<b>"));
    // Self-contained: no external resources.
    for needle in [" src=", " href=", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "{needle} in the report");
    }
    // Timeline, affected jobs, files and addresses.
    let outside = site.truth["incident"]["outside_ip"].as_str().unwrap();
    assert!(report.addresses.iter().any(|a| a.address == outside));
    assert!(
        report.files.iter().any(|f| f.path.ends_with(HOSTILE_PATH)),
        "{:?}",
        report.files
    );
    assert!(!report.jobs.is_empty());
    assert!(report
        .timeline
        .iter()
        .all(|l| !l.event.origin.file.is_empty()));
    // Every source file with its SHA-256.
    let expected = format!(
        "{:x}",
        Sha256::digest(std::fs::read(&site.webdav_log).unwrap())
    );
    let webdav = report
        .sources
        .iter()
        .find(|s| Path::new(&s.file) == site.webdav_log)
        .unwrap();
    assert_eq!(webdav.sha256.as_deref(), Some(expected.as_str()));
    assert!(html.contains(&expected));
    assert!(report.sources.iter().all(|s| s.sha256.is_some()));
}

#[test]
fn incident_report_command_writes_html_and_json() {
    let site = site();
    let jti = site.truth["incident"]["jti"].as_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let html_path = out.path().join("incident.html");
    let json_path = out.path().join("incident.json");
    let output = Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .arg("--data")
        .arg(site.root.join("data"))
        .args(["incident-report", "--jti", jti, "--out"])
        .arg(&html_path)
        .arg("--json")
        .arg(&json_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("id=\"timeline\""));
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert!(!json["timeline"].as_array().unwrap().is_empty());
    assert!(json["sources"][0]["sha256"].is_string());
}

#[test]
fn unreadable_source_files_are_noted_not_hashed() {
    let site = site();
    let jti = site.truth["incident"]["jti"].as_str().unwrap();
    // A log ingested from a place it has since been rotated away from.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("dcache01.example.org/webdav-door.access");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&site.webdav_log, &copy).unwrap();
    let store = TantivyStore::open(&dir.path().join("data")).unwrap();
    ingest(
        &store,
        IngestOptions {
            paths: vec![copy.clone()],
            zone: "UTC".parse().unwrap(),
            ..IngestOptions::default()
        },
    )
    .unwrap();
    std::fs::remove_file(&copy).unwrap();
    let report = analytics::incident_report(
        &store,
        &TraceRequest::new(Seed::Jti { jti: jti.into() }),
        "rotated",
    )
    .unwrap();
    assert_eq!(report.sources.len(), 1);
    assert_eq!(report.sources[0].sha256, None);
    assert!(report.sources[0].note.starts_with("unavailable"));
    assert!(report.to_html().contains("unavailable"));
}
