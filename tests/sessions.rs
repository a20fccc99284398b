//! In-service sessions on the reference fixtures: a dCache access + billing pair, a StoRM
//! access + server pair and an XRootD login-to-disconnect session each give the identity to
//! every operation of the session, through the trace's `session` rule where the identity is
//! only in the other file.

use std::path::Path;

use tokentrail::ingest::{ingest, IngestOptions};
use tokentrail_index::trace::{Seed, TraceRequest};
use tokentrail_index::{trace, TantivyStore, TraceAnswer};

const JDOE: &str = "6ac17538-6c67-49f7-8693-4d6e43ed192e";
const FTS: &str = "eee0331a-a899-46b3-bb0d-8a89bc4041d1";

fn store() -> (tempfile::TempDir, TantivyStore) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path()).unwrap();
    let paths = [
        "dcache-access",
        "dcache-billing",
        "storm-webdav-access",
        "storm-webdav-server",
        "xrootd",
    ]
    .iter()
    .map(|name| fixtures.join(name))
    .collect();
    ingest(
        &store,
        IngestOptions {
            paths,
            zone: "UTC".parse().unwrap(),
            ..IngestOptions::default()
        },
    )
    .unwrap();
    (dir, store)
}

fn rule_of<'a>(answer: &'a TraceAnswer, file_suffix: &str, line: u64) -> Option<&'a str> {
    answer
        .events
        .iter()
        .find(|e| e.event.origin.file.ends_with(file_suffix) && e.event.origin.line == line)
        .map(|e| e.link.rule.as_str())
}

fn trace_sub(store: &TantivyStore, sub: &str) -> TraceAnswer {
    trace(
        store,
        &TraceRequest::new(Seed::Identity {
            sub: sub.into(),
            iss: None,
        }),
    )
    .unwrap()
}

#[test]
fn dcache_billing_lines_take_the_identity_of_their_door_session() {
    let (_dir, store) = store();
    let answer = trace_sub(&store, JDOE);
    // Billing lines 1–4 carry no token identity; their door sessions are jdoe's.
    for line in 1..=4 {
        assert_eq!(
            rule_of(&answer, "dcache-billing/billing-2024.06.12", line),
            Some("session"),
            "billing line {line}"
        );
    }
    // The xrootd door's connection lines before the login belong to the same session.
    assert_eq!(
        rule_of(&answer, "xrootd-se01Domain.access", 1),
        Some("session")
    );
    assert_eq!(
        rule_of(&answer, "xrootd-se01Domain.access", 4),
        Some("same-identity")
    );
}

#[test]
fn storm_server_lines_take_the_identity_of_their_request() {
    let (_dir, store) = store();
    let answer = trace_sub(&store, FTS);
    // The third-party copy's server lines name no user; the access line of the same request
    // id does.
    assert_eq!(
        rule_of(&answer, "storm-webdav-server/storm-webdav-server.log", 1),
        Some("session")
    );
    assert_eq!(
        rule_of(&answer, "storm-webdav-server/storm-webdav-server.log", 2),
        Some("session")
    );
    assert_eq!(
        rule_of(
            &answer,
            "storm-webdav-access/storm-webdav-server-access.log",
            3
        ),
        Some("same-identity")
    );
    // jdoe's request is not in the FTS identity's trace.
    assert_eq!(
        rule_of(
            &answer,
            "storm-webdav-access/storm-webdav-server-access.log",
            1
        ),
        None
    );
}

#[test]
fn xrootd_session_operations_carry_the_login_identity() {
    let (_dir, store) = store();
    let answer = trace_sub(&store, JDOE);
    for line in [7, 12, 14, 16, 17] {
        assert!(
            rule_of(&answer, "xrootd/sessions/xrootd.log.20240613", line).is_some(),
            "session line {line} missing"
        );
    }
    // The other user's interleaved session is not jdoe's.
    for line in [6, 11, 13, 15] {
        assert_eq!(
            rule_of(&answer, "xrootd/sessions/xrootd.log.20240613", line),
            None,
            "line {line}"
        );
    }
    let fts = trace_sub(&store, FTS);
    assert_eq!(rule_of(&fts, "xrootd/xrootd.log", 16), Some("session"));
}
