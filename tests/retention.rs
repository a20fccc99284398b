//! `tokentrail retention` end to end: whole UTC days before the cutoff go, the boundary day
//! and everything newer stay, a dry run changes nothing, and a re-ingest of the expired file
//! does not bring its events back.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

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

fn raws(data: &Path) -> Vec<String> {
    let text = ok(tokentrail(
        data,
        &["search", "", "--format", "json", "--limit", "1000"],
    ));
    let value: Value = serde_json::from_str(&text).unwrap();
    let mut raws: Vec<String> = value["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["raw"].as_str().unwrap().to_string())
        .collect();
    raws.sort();
    raws
}

const NOW: &str = "2025-09-10T15:30:00Z";

#[test]
fn retention_removes_whole_old_days_and_never_the_boundary_day_or_newer() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("site.log");
    std::fs::write(
        &log,
        "2025-01-02 10:00:00 a expired\n2025-03-13 23:59:59 b expired\n2025-03-14 00:00:00 c boundary\n2025-03-14 23:00:00 d boundary\n2025-09-10 15:00:00 e today\nno time at all f\n",
    )
    .unwrap();
    let data = root.path().join("data");
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", log.to_str().unwrap()],
    ));
    let before = raws(&data);
    assert_eq!(before.len(), 6);

    let dry: Value = serde_json::from_str(&ok(tokentrail(
        &data,
        &["retention", "--dry-run", "--now", NOW, "--format", "json"],
    )))
    .unwrap();
    assert_eq!(dry["retention_days"], 180);
    assert_eq!(dry["cutoff"], "2025-03-14T00:00:00.000Z");
    assert_eq!(dry["events"], 2);
    assert_eq!(dry["days"][0]["day"], "2025-01-02");
    assert_eq!(dry["days"][1]["day"], "2025-03-13");
    assert_eq!(raws(&data), before, "a dry run removes nothing");

    let table = ok(tokentrail(&data, &["retention", "--now", NOW]));
    assert!(table.contains("removed 2 events of 2 days"), "{table}");
    let after = raws(&data);
    assert_eq!(after.len(), 4);
    assert!(
        after.iter().all(|raw| !raw.contains("expired")),
        "{after:?}"
    );
    for kept in ["c boundary", "d boundary", "e today", "f"] {
        assert!(after.iter().any(|raw| raw.contains(kept)), "{kept} lost");
    }

    // The file is unchanged: re-ingesting it skips it instead of restoring expired events.
    ok(tokentrail(
        &data,
        &["ingest", "--tz", "UTC", log.to_str().unwrap()],
    ));
    assert_eq!(raws(&data), after);

    // A shorter period, given by the environment as an operator would configure it.
    let output = Command::new(env!("CARGO_BIN_EXE_tokentrail"))
        .env("TOKENTRAIL_RETENTION_DAYS", "0")
        .arg("--data")
        .arg(&data)
        .args(["retention", "--now", NOW, "--format", "json"])
        .output()
        .unwrap();
    let zero: Value = serde_json::from_str(&ok(output)).unwrap();
    assert_eq!(zero["events"], 2);
    assert_eq!(raws(&data).len(), 2, "today and the undated event stay");
}
