//! The store under hostile conditions: a full disk, a read-only data directory and a second
//! writer. Full and read-only filesystems are real: a size-limited tmpfs mounted for the test
//! (needs root, as CI runs; elsewhere these tests say they were skipped and pass).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokentrail::ingest::{ingest, IngestOptions};
use tokentrail_index::{EventStore, Order, Query, TantivyStore};
use tokentrail_parsers::time::Zone;

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

/// A tmpfs of a given size, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size_bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_bytes}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem at `directory` up to `leave` free bytes; returns the filler's path.
fn fill(directory: &Path, leave: u64) -> PathBuf {
    let path = directory.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 << 10];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(_) => break,
        }
    }
    let _ = file.sync_all();
    file.set_len(written.saturating_sub(leave)).unwrap();
    path
}

/// A log of `lines` raw lines, each with distinct words so the index cannot share them.
fn big_log(path: &Path, lines: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for index in 0..lines {
        writeln!(
            out,
            "2025-03-14 10:{:02}:{:02} transfer w{index:x}a w{index:x}b /store/user/u{index}/file{index}.root from 192.0.{}.{} bytes={}",
            (index / 60) % 60,
            index % 60,
            index % 250,
            (index / 250) % 250,
            index * 7919
        )
        .unwrap();
    }
    out.flush().unwrap();
}

fn options(paths: Vec<PathBuf>) -> IngestOptions {
    IngestOptions {
        paths,
        zone: Zone::Utc,
        commit_every: 5_000,
        memory_budget: 16 << 20,
        threads: 1,
        ..IngestOptions::default()
    }
}

fn all_ids(data: &Path) -> Vec<String> {
    let store = TantivyStore::open(data).unwrap();
    let hits = store
        .search(&Query::All, 1_000_000, Order::OldestFirst)
        .unwrap();
    let mut ids: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

#[test]
fn a_full_disk_stops_ingest_clearly_keeps_commits_and_resumes_to_a_clean_result() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let first = logs.join("iam01/iam-audit.log");
    std::fs::create_dir_all(first.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("iam-audit/iam-audit.log"), &first).unwrap();
    let second = logs.join("se01/transfers.log");
    big_log(&second, 60_000);

    // The clean run, on a roomy disk.
    let clean = root.path().join("clean");
    let store = TantivyStore::open(&clean).unwrap();
    ingest(&store, options(vec![first.clone()])).unwrap();
    ingest(&store, options(vec![first.clone(), second.clone()])).unwrap();
    let clean_ids = all_ids(&clean);
    let clean_checkpoints = store.checkpoints().unwrap();
    drop(store);

    let Some(mount) = Tmpfs::mount(&root.path().join("small"), 64 << 20) else {
        return;
    };
    let data = mount.path.join("data");
    let store = TantivyStore::open(&data).unwrap();
    ingest(&store, options(vec![first.clone()])).unwrap();
    let committed_ids = all_ids(&data);
    assert!(!committed_ids.is_empty());
    let filler = fill(&mount.path, 2 << 20);

    let error = ingest(&store, options(vec![first.clone(), second.clone()]))
        .expect_err("ingest into a full disk must fail");
    let message = format!("{error:#}");
    assert!(
        message.contains("No space left on device"),
        "unclear error: {message}"
    );
    // Whatever was committed before is intact and readable, with a consistent checkpoint.
    drop(store);
    let store = TantivyStore::open(&data).unwrap();
    let after_failure = all_ids(&data);
    assert!(committed_ids.iter().all(|id| after_failure.contains(id)));
    let checkpoints = store.checkpoints().unwrap();
    let first_checkpoint = checkpoints
        .sources
        .values()
        .find(|source| source.path.ends_with("iam-audit.log"))
        .expect("checkpoint of the committed file kept");
    assert!(first_checkpoint.complete);

    // Space returns: the same command completes and the store equals the clean run's.
    std::fs::remove_file(filler).unwrap();
    ingest(&store, options(vec![first.clone(), second.clone()])).unwrap();
    drop(store);
    assert_eq!(all_ids(&data), clean_ids);
    let resumed = TantivyStore::open(&data).unwrap().checkpoints().unwrap();
    assert_eq!(resumed, clean_checkpoints);
}

#[test]
fn a_read_only_data_directory_is_a_clear_error_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("iam01/iam-audit.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("iam-audit/iam-audit.log"), &log).unwrap();
    let Some(mount) = Tmpfs::mount(&root.path().join("ro"), 16 << 20) else {
        return;
    };
    let data = mount.path.join("data");
    let first = tokentrail(&data, &["ingest", "--tz", "UTC", log.to_str().unwrap()]);
    assert!(first.status.success());
    mount.remount("ro");

    let denied = tokentrail(&data, &["ingest", "--tz", "UTC", log.to_str().unwrap()]);
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("read-only"), "unclear error: {stderr}");
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");

    // Searching needs tantivy's meta lock file as well: the same clear error, not a crash.
    let search = tokentrail(&data, &["search", "source:iam-audit"]);
    let stderr = String::from_utf8_lossy(&search.stderr);
    assert!(
        search.status.success() || stderr.contains("read-only"),
        "{stderr}"
    );

    mount.remount("rw");
    let again = tokentrail(&data, &["ingest", "--tz", "UTC", log.to_str().unwrap()]);
    assert!(again.status.success());
    let stdout = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(
        stdout.contains("0 events added"),
        "nothing was lost or doubled: {stdout}"
    );
}

/// The disk fills while an indexing thread writes (no commit yet): the error still names the
/// cause, not only "the index writer was killed".
#[test]
fn a_disk_filling_between_commits_names_the_cause() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("logs/se01/transfers.log");
    big_log(&log, 60_000);
    let Some(mount) = Tmpfs::mount(&root.path().join("small"), 32 << 20) else {
        return;
    };
    let data = mount.path.join("data");
    let store = TantivyStore::open(&data).unwrap();
    let _filler = fill(&mount.path, 16 << 10);
    let mut options = options(vec![log]);
    options.commit_every = 1_000_000;
    let error = ingest(&store, options).expect_err("ingest into a full disk must fail");
    let message = format!("{error:#}");
    assert!(
        message.contains("No space left on device"),
        "unclear error: {message}"
    );
}

#[test]
fn a_second_writer_on_the_same_data_directory_is_refused_clearly() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = fixtures().join("iam-audit/iam-audit.log");
    let store = TantivyStore::open(&data).unwrap();
    let writer = store.writer(16 << 20).unwrap();

    for args in [
        vec!["ingest", log.to_str().unwrap()],
        vec!["retention", "--days", "1"],
    ] {
        let refused = tokentrail(&data, &args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("another tokentrail process is writing"),
            "{args:?}: {stderr}"
        );
    }
    // Readers are never refused.
    let search = tokentrail(&data, &["search", ""]);
    assert!(search.status.success());

    drop(writer);
    let accepted = tokentrail(&data, &["ingest", log.to_str().unwrap()]);
    assert!(accepted.status.success());
}
