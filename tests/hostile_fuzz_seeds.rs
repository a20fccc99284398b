//! The cargo-fuzz targets as a plain test: every seed under `fuzz/seeds/<target>/` and every
//! crash the fuzzer found (kept under `fuzz/regressions/<target>/`) through the same harness
//! (`tokentrail_parsers::fuzzing`), so CI catches a regression without cargo-fuzz or nightly.

use std::path::{Path, PathBuf};

use tokentrail_parsers::fuzzing::{self, Family};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        files.extend(entries.filter_map(Result::ok).map(|entry| entry.path()));
    }
    files.sort();
    files
}

fn replay(target: &str, harness: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness(&data)));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
    files.len()
}

#[test]
fn issuer_family_seeds_and_regressions_pass_the_fuzz_harness() {
    let count = replay(Family::Issuer.target(), |data| {
        fuzzing::family(Family::Issuer, data)
    });
    assert!(count >= Family::Issuer.formats().len());
}

#[test]
fn ce_family_seeds_and_regressions_pass_the_fuzz_harness() {
    let count = replay(Family::Ce.target(), |data| {
        fuzzing::family(Family::Ce, data)
    });
    assert!(count >= Family::Ce.formats().len());
}

#[test]
fn storage_family_seeds_and_regressions_pass_the_fuzz_harness() {
    let count = replay(Family::Storage.target(), |data| {
        fuzzing::family(Family::Storage, data)
    });
    assert!(count >= Family::Storage.formats().len());
}

#[test]
fn core_helper_seeds_and_regressions_pass_the_fuzz_harness() {
    let count = replay("core_helpers", fuzzing::core);
    assert!(count > 10);
}
