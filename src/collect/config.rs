//! The collector configuration file (`tokentrail.toml`, see `examples/tokentrail.toml`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Deserialize;
use tokentrail_parsers::time::Zone;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Data directory of the store (the command line's `--data` when absent).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// A store URL (`clickhouse://HOST:8123/DB`) used instead of the tantivy store in `data`;
    /// the command line's `--store` wins.
    #[serde(default)]
    pub store: Option<String>,
    /// POST watchlist alerts raised on collected lines as JSON to this plain http:// URL.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Address of the push endpoint and `/metrics` (`tokentrail collect` serves them there).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// API keys accepted by `POST /api/v1/ingest`.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// A file holding more API keys, one a line (keeps secrets out of the config).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Zone of times logs print without one.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// dCache OP alias → issuer URL.
    #[serde(default)]
    pub issuer_aliases: BTreeMap<String, String>,
    /// Lines longer than this are cut (and counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Commit at least this often while there is something to commit.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// Commit after this many added events even before the interval.
    #[serde(default = "default_commit_events")]
    pub commit_events: u64,
    /// Batches in flight to the writer; beyond, collectors wait (backpressure).
    #[serde(default = "default_queue_batches")]
    pub queue_batches: usize,
    /// Writer memory budget in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: usize,
    /// File tailers.
    #[serde(default)]
    pub files: Vec<FilesConfig>,
    /// Syslog receivers.
    #[serde(default)]
    pub syslog: Vec<SyslogConfig>,
}

/// One file tailer: a set of globs read alike.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Name (metrics, checkpoints); unique.
    pub name: String,
    /// Glob patterns (`*`, `?`, `[…]` within one path component).
    pub paths: Vec<String>,
    /// Read every line as this format instead of detecting it.
    #[serde(default)]
    pub format: Option<String>,
    /// Host that wrote these logs (default: a host-named directory, the syslog prefix, or
    /// this machine's name).
    #[serde(default)]
    pub host: Option<String>,
    /// How often the globs are expanded and files checked for new bytes.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// A file that left the globs (deleted, rotated away) is still read for this long, then
    /// closed; a rotated file inside the globs is closed after this long without growth.
    #[serde(default = "default_grace_ms")]
    pub rotate_grace_ms: u64,
}

/// One syslog receiver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// Name (metrics, event ids); unique.
    pub name: String,
    /// UDP address to receive on.
    #[serde(default)]
    pub udp: Option<SocketAddr>,
    /// TCP address to accept on (octet-counted or newline framing, detected per connection).
    #[serde(default)]
    pub tcp: Option<SocketAddr>,
    /// Read every message as this format instead of dispatching by program and content.
    #[serde(default)]
    pub format: Option<String>,
}

fn default_timezone() -> String {
    "local".into()
}
fn default_max_line_bytes() -> usize {
    crate::input::DEFAULT_MAX_LINE_BYTES
}
fn default_commit_interval_ms() -> u64 {
    1000
}
fn default_commit_events() -> u64 {
    50_000
}
fn default_queue_batches() -> usize {
    16
}
fn default_memory_mib() -> usize {
    64
}
fn default_poll_ms() -> u64 {
    250
}
fn default_grace_ms() -> u64 {
    5000
}

impl Config {
    /// The store to collect into: `--store`, else the config's `store`, else the tantivy store
    /// in the config's `data` (else the command line's `--data`).
    pub fn store_choice(&self, data: &Path, cli_store: Option<&str>) -> crate::cli::StoreChoice {
        match cli_store
            .filter(|url| !url.is_empty())
            .or(self.store.as_deref().filter(|url| !url.is_empty()))
        {
            Some(url) => crate::cli::StoreChoice::ClickHouse(url.to_string()),
            None => crate::cli::StoreChoice::Tantivy(
                self.data.clone().unwrap_or_else(|| data.to_path_buf()),
            ),
        }
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading the config {}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .with_context(|| format!("while parsing the config {}", path.display()))?;
        if let Some(file) = config.api_key_file.clone() {
            let keys = std::fs::read_to_string(&file)
                .with_context(|| format!("while reading api_key_file {}", file.display()))?;
            config.api_keys.extend(
                keys.lines()
                    .map(str::trim)
                    .filter(|k| !k.is_empty() && !k.starts_with('#'))
                    .map(String::from),
            );
        }
        config.check()?;
        Ok(config)
    }

    /// Parses a config from text (tests).
    pub fn from_toml(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).context("while parsing the config")?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for name in self
            .files
            .iter()
            .map(|f| &f.name)
            .chain(self.syslog.iter().map(|s| &s.name))
        {
            anyhow::ensure!(!name.is_empty(), "a collector has an empty name");
            anyhow::ensure!(names.insert(name), "two collectors are named {name:?}");
        }
        for format in self
            .files
            .iter()
            .filter_map(|f| f.format.as_ref())
            .chain(self.syslog.iter().filter_map(|s| s.format.as_ref()))
        {
            anyhow::ensure!(
                tokentrail_parsers::registry::find(format).is_some(),
                "unknown format {format:?}; known formats: {}",
                tokentrail_parsers::registry::ids().join(", ")
            );
        }
        for files in &self.files {
            anyhow::ensure!(
                !files.paths.is_empty(),
                "files collector {:?} has no paths",
                files.name
            );
        }
        self.zone()?;
        anyhow::ensure!(
            self.api_keys.iter().all(|k| k.len() >= 16),
            "api keys must be at least 16 characters long"
        );
        Ok(())
    }

    /// The configured zone.
    pub fn zone(&self) -> Result<Zone> {
        self.timezone
            .parse()
            .map_err(|error: String| anyhow::anyhow!("timezone: {error}"))
    }

    /// The commit interval.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms.max(10))
    }
}
