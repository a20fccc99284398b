//! The command line: flags (clap derive) and one function per subcommand.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use tokentrail_index::{Backend, ClickHouseStore, Order, TantivyStore};
use tokentrail_parsers::time::{parse_loose_utc, Zone};
use tokentrail_parsers::Timestamp;

use crate::ingest::{self, IngestOptions};
use crate::output::{self, OutputFormat};

/// Follow bearer tokens through a WLCG grid site's logs.
#[derive(Debug, Parser)]
#[command(name = "tokentrail", version, about, long_about = None)]
pub struct Cli {
    /// Data directory holding the store.
    #[arg(
        long,
        global = true,
        env = "TOKENTRAIL_DATA",
        default_value = "./tokentrail-data"
    )]
    pub data: PathBuf,

    /// Store to use instead of the tantivy index in --data:
    /// `clickhouse://[USER[:PASSWORD]@]HOST:8123[,HOST:PORT…]/DB[?cluster=NAME]`.
    #[arg(long, global = true, env = "TOKENTRAIL_STORE", value_name = "URL")]
    pub store: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read log files (plain, .gz, directories) into the store; idempotent.
    Ingest(IngestArgs),
    /// Search stored events with the field query language.
    Search(SearchArgs),
    /// Everything an identity, token, job, address, host, path, user or client was part of.
    Trace(TraceArgs),
    /// Write a synthetic grid site with ground truth (for demos, tests and benchmarks).
    Simulate(SimulateArgs),
    /// List the log formats tokentrail reads.
    Formats,
    /// Serve the web UI and the JSON API (sign-in required; see `tokentrail user`); with
    /// --config, run the collectors beside it.
    Serve(ServeArgs),
    /// Manage the web UI's local accounts and API keys.
    User(UserArgs),
    /// Simulate a site with a stolen-token incident, ingest it and show its trace.
    Demo(DemoArgs),
    /// Remove stored events older than the retention period, whole UTC days at a time.
    Retention(RetentionArgs),
    /// Token policy report over a time range: lifetimes, audiences, scopes, use, refusals,
    /// flagged tokens and anomalies.
    Report(crate::analytics::commands::ReportArgs),
    /// Watchlist of identities, token ids, clients and addresses; ban-list exports.
    Watch(crate::analytics::commands::WatchArgs),
    /// Alerts raised by watchlist matches during ingest.
    Alerts(crate::analytics::commands::AlertsArgs),
    /// A self-contained HTML (and JSON) incident report of a trace, with evidence hashes.
    IncidentReport(crate::analytics::commands::IncidentArgs),
    /// Follow log files, receive syslog and HTTP pushes, store every line exactly once.
    Collect(CollectArgs),
    /// What the collectors have committed: lines, bytes, events, errors, lag per file.
    Status(StatusArgs),
    /// Measurements for scripts/bench.sh (see BENCHMARKS.md).
    #[command(hide = true)]
    Bench(crate::bench_driver::BenchArgs),
}

/// `tokentrail retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// Whole UTC days kept before today (today is always kept); the EGI traceability policy
    /// asks for at least 180.
    #[arg(long = "days", env = "TOKENTRAIL_RETENTION_DAYS", default_value_t = tokentrail_index::DEFAULT_RETENTION_DAYS)]
    pub retention_days: u32,
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Count days back from this time instead of now (RFC 3339, `YYYY-MM-DD`, epoch).
    #[arg(long)]
    pub now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// `tokentrail collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The collector configuration (see examples/tokentrail.toml).
    #[arg(long, env = "TOKENTRAIL_CONFIG")]
    pub config: PathBuf,
}

/// `tokentrail status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format (table or json).
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// `tokentrail ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or directories to read (directories recursively; .gz read transparently).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Read every line as this format instead of detecting it (see `tokentrail formats`).
    #[arg(long, env = "TOKENTRAIL_FORMAT")]
    pub format: Option<String>,
    /// Zone of times the logs print without one: IANA name, UTC, local or +hh:mm.
    #[arg(long, env = "TOKENTRAIL_TZ", default_value = "local")]
    pub tz: String,
    /// Year of lines that print none (default: from the rotated file name or its mtime).
    #[arg(long)]
    pub year: Option<i32>,
    /// Host that wrote these logs (default: a host-named directory in the path, or the
    /// syslog prefix).
    #[arg(long)]
    pub host: Option<String>,
    /// dCache OP alias to issuer URL, e.g. `wlcg=https://wlcg.cloud.cnaf.infn.it/` (repeat).
    #[arg(long = "issuer-alias", value_name = "ALIAS=URL")]
    pub issuer_alias: Vec<String>,
    /// Lines longer than this many bytes are cut (and counted).
    #[arg(long, default_value_t = crate::input::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Parser threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the counts as JSON instead of a table.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// POST watchlist alerts as JSON to this plain http:// URL.
    #[arg(long, env = "TOKENTRAIL_WEBHOOK")]
    pub webhook: Option<String>,
}

/// `tokentrail search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Query: `field:value` terms (`jti:…`, `sub:…`, `client_ip:…`, `path:/store/*`), free
    /// text, `-` to negate, `OR` between alternatives.
    #[arg(default_value = "")]
    pub query: String,
    /// Only events at or after this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, epoch).
    #[arg(long)]
    pub from: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many events (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// `tokentrail trace`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("seed").required(true).multiple(false)
    .args(["sub", "jti", "job", "ip", "host", "path", "user", "client"])))]
pub struct TraceArgs {
    /// Identity: the token subject (with --iss to pin the issuer).
    #[arg(long)]
    pub sub: Option<String>,
    /// Issuer of --sub (trailing slash ignored).
    #[arg(long, requires = "sub")]
    pub iss: Option<String>,
    /// Token id.
    #[arg(long)]
    pub jti: Option<String>,
    /// Job: `ce-host#C.P`, a batch id (`host#C.P`, `slurm:42`) or a bare `C.P`.
    #[arg(long)]
    pub job: Option<String>,
    /// Client address.
    #[arg(long)]
    pub ip: Option<String>,
    /// Host: worker node, client host or log host.
    #[arg(long)]
    pub host: Option<String>,
    /// File path.
    #[arg(long)]
    pub path: Option<String>,
    /// Issuer user name (resolved to its sub through the issuer's own events).
    #[arg(long)]
    pub user: Option<String>,
    /// OAuth client id.
    #[arg(long)]
    pub client: Option<String>,
    /// Only events at or after this time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Expansion rounds.
    #[arg(long, default_value_t = 4)]
    pub max_depth: usize,
    /// Most events in the answer (beyond: `truncated`).
    #[arg(long, default_value_t = 20_000)]
    pub max_events: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl TraceArgs {
    /// The trace request these flags describe.
    pub fn request(&self) -> Result<tokentrail_index::TraceRequest> {
        use tokentrail_index::Seed;
        let seed = if let Some(sub) = &self.sub {
            Seed::Identity {
                sub: sub.clone(),
                iss: self.iss.clone(),
            }
        } else if let Some(jti) = &self.jti {
            Seed::Jti { jti: jti.clone() }
        } else if let Some(job) = &self.job {
            Seed::Job { job: job.clone() }
        } else if let Some(ip) = &self.ip {
            Seed::Ip { ip: ip.clone() }
        } else if let Some(host) = &self.host {
            Seed::Host {
                host: host.to_ascii_lowercase(),
            }
        } else if let Some(path) = &self.path {
            Seed::Path { path: path.clone() }
        } else if let Some(user) = &self.user {
            Seed::User { user: user.clone() }
        } else if let Some(client) = &self.client {
            Seed::Client {
                client: client.clone(),
            }
        } else {
            anyhow::bail!(
                "trace needs one of --sub, --jti, --job, --ip, --host, --path, --user, --client"
            );
        };
        let mut request = tokentrail_index::TraceRequest::new(seed);
        request.from = parse_time_flag("from", &self.from)?;
        request.to = parse_time_flag("to", &self.to)?;
        request.max_depth = self.max_depth;
        request.max_events = self.max_events;
        Ok(request)
    }
}

/// `tokentrail demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo site and store (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Seed of the simulated site.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Users of the simulated VO.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Days simulated.
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Address the demo's web UI listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Print the incident's trace and stop instead of serving the web UI.
    #[arg(long)]
    pub no_serve: bool,
}

/// `tokentrail simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Directory to write the site's logs and truth.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed writes the same site.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of users of the VO.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Number of days.
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Activity multiplier (1 = a small site; larger for benchmark corpora).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// First day (UTC).
    #[arg(long, default_value = "2025-03-10")]
    pub start: String,
}

/// Parses `--from`/`--to`.
pub fn parse_time_flag(name: &str, value: &Option<String>) -> Result<Option<Timestamp>> {
    match value {
        None => Ok(None),
        Some(text) => parse_loose_utc(text).map(Some).ok_or_else(|| {
            anyhow::anyhow!(
                "--{name} {text:?} is not a time: use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (UTC) or epoch seconds"
            )
        }),
    }
}

/// Parses `ALIAS=URL` pairs.
pub fn parse_aliases(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut aliases = BTreeMap::new();
    for pair in pairs {
        let (alias, url) = pair
            .split_once('=')
            .filter(|(alias, url)| !alias.is_empty() && !url.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--issuer-alias {pair:?} is not ALIAS=URL"))?;
        aliases.insert(alias.to_string(), url.to_string());
    }
    Ok(aliases)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let store = StoreChoice::of(&cli);
    match cli.command {
        Command::Ingest(args) => run_ingest(&cli.data, &store, args),
        Command::Search(args) => run_search(&store, args),
        Command::Trace(args) => run_trace(&store, args),
        Command::Simulate(args) => run_simulate(args),
        Command::Formats => run_formats(),
        Command::Serve(args) => run_serve(&cli.data, &store, args),
        Command::User(args) => run_user(&cli.data, args),
        Command::Demo(args) => run_demo(args),
        Command::Retention(args) => run_retention(&store, args),
        Command::Report(args) => crate::analytics::commands::run_report(&store, args),
        Command::Watch(args) => crate::analytics::commands::run_watch(&cli.data, args),
        Command::Alerts(args) => crate::analytics::commands::run_alerts(&cli.data, args),
        Command::IncidentReport(args) => {
            crate::analytics::commands::run_incident_report(&store, args)
        }
        Command::Collect(args) => {
            let config = crate::collect::Config::load(&args.config)?;
            crate::collect::run_collect(config, &cli.data, cli.store.as_deref())
        }
        Command::Status(args) => run_status(&store, args),
        Command::Bench(args) => crate::bench_driver::run(args),
    }
}

/// Which store the global `--data` / `--store` options select.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// The embedded tantivy index in this data directory.
    Tantivy(PathBuf),
    /// ClickHouse at this URL.
    ClickHouse(String),
}

impl StoreChoice {
    /// `--store` when given, else the tantivy store in `--data`.
    pub fn of(cli: &Cli) -> StoreChoice {
        match &cli.store {
            Some(url) if !url.is_empty() => StoreChoice::ClickHouse(url.clone()),
            _ => StoreChoice::Tantivy(cli.data.clone()),
        }
    }

    /// Opens the chosen store.
    pub fn open(&self) -> Result<std::sync::Arc<dyn Backend>> {
        Ok(match self {
            StoreChoice::Tantivy(data) => std::sync::Arc::new(
                TantivyStore::open(data)
                    .with_context(|| format!("while opening the store in {}", data.display()))?,
            ),
            StoreChoice::ClickHouse(url) => {
                if !url.starts_with("clickhouse://") {
                    anyhow::bail!(
                        "--store {url:?} is not a store URL: use clickhouse://HOST:8123/DB, or leave it out for the tantivy store in --data"
                    );
                }
                std::sync::Arc::new(
                    ClickHouseStore::open(url).context("while opening the ClickHouse store")?,
                )
            }
        })
    }

    /// Where the events are, for messages.
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Tantivy(data) => data.display().to_string(),
            StoreChoice::ClickHouse(url) => tokentrail_index::clickhouse::redact_password(url),
        }
    }
}

fn run_ingest(data: &std::path::Path, choice: &StoreChoice, args: IngestArgs) -> Result<()> {
    let zone: Zone = args
        .tz
        .parse()
        .map_err(|error: String| anyhow::anyhow!(error))?;
    let store = choice.open()?;
    let mut options = IngestOptions {
        paths: args.paths,
        format: args.format,
        zone,
        year: args.year,
        host: args.host,
        issuer_aliases: parse_aliases(&args.issuer_alias)?,
        max_line_bytes: args.max_line_bytes,
        progress: ingest::progress_wanted(),
        ..IngestOptions::default()
    };
    if let Some(threads) = args.threads {
        options.threads = threads;
    }
    // Watchlist alerts on newly stored events.
    let watcher = crate::analytics::commands::ingest_watcher(data, args.webhook.as_deref())?;
    if let Some(watcher) = &watcher {
        let observed = std::sync::Arc::clone(watcher);
        options.observer = Some(ingest::BatchObserver(std::sync::Arc::new(
            std::sync::Mutex::new(move |events: &[tokentrail_parsers::Event]| {
                if let Ok(mut watcher) = observed.lock() {
                    watcher.check(events);
                }
            }),
        )));
    }
    let report = ingest::ingest(store.as_ref(), options)?;
    let alerts_raised = match &watcher {
        Some(watcher) => {
            let mut watcher = watcher
                .lock()
                .map_err(|_| anyhow::anyhow!("watchlist state poisoned"))?;
            if let Some(webhook) = watcher.webhook_mut() {
                webhook.finish(std::time::Duration::from_secs(30));
            }
            watcher.raised()
        }
        None => 0,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        _ => {
            writeln!(
                out,
                "{:<26} {:>10} {:>10} {:>9} {:>7} {:>10}",
                "FORMAT", "LINES", "PARSED", "KEPT_RAW", "ERRORS", "EVENTS"
            )?;
            for (format, counts) in &report.stats.formats {
                writeln!(
                    out,
                    "{:<26} {:>10} {:>10} {:>9} {:>7} {:>10}",
                    format, counts.lines, counts.parsed, counts.raw, counts.errors, counts.events
                )?;
            }
            let stats = &report.stats;
            writeln!(
                out,
                "{} files, {:.1} MB, {} lines ({} invalid UTF-8, {} cut at {} bytes, {} empty) → {} events added, {} already stored, {} unchanged files skipped, in {:.1}s",
                stats.files,
                stats.bytes as f64 / 1e6,
                stats.lines(),
                stats.invalid_utf8,
                stats.truncated,
                args.max_line_bytes,
                stats.empty,
                report.added,
                report.already_present,
                report.unchanged_files,
                report.seconds
            )?;
            for (file, error) in &report.failed_files {
                writeln!(out, "not read: {file}: {error}")?;
            }
            if alerts_raised > 0 {
                writeln!(
                    out,
                    "{alerts_raised} watchlist alert(s) raised (tokentrail alerts; {})",
                    data.join(crate::analytics::watchlist::ALERTS_FILE)
                        .display()
                )?;
            }
        }
    }
    if !report.failed_files.is_empty() {
        anyhow::bail!("{} file(s) could not be read", report.failed_files.len());
    }
    Ok(())
}

fn run_search(choice: &StoreChoice, args: SearchArgs) -> Result<()> {
    let query = tokentrail_index::parse_query(&args.query)?;
    let from = parse_time_flag("from", &args.from)?;
    let to = parse_time_flag("to", &args.to)?;
    let store = choice.open()?;
    let hits = store.search(&query.within(from, to), args.limit, Order::NewestFirst)?;
    let mut out = buffered_stdout();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"events": hits.events, "total": hits.total}),
            )?;
            writeln!(out)?;
        }
        OutputFormat::Csv => output::write_csv(&mut out, &hits.events, &[])?,
        OutputFormat::Table => {
            output::write_table(&mut out, &hits.events)?;
            writeln!(
                out,
                "{} of {} matching events",
                hits.events.len(),
                hits.total
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Standard output behind a 64 KiB buffer. Rust's stdout is line-buffered with a 1 KiB
/// buffer: a trace answer of 15 000 events (20 MB of JSON) took ~20 000 write calls and a
/// newline search on every piece serde writes. Flush it before returning: a buffer dropped
/// unflushed would swallow a write error.
fn buffered_stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

fn run_trace(choice: &StoreChoice, args: TraceArgs) -> Result<()> {
    let request = args.request()?;
    let store = choice.open()?;
    let answer = tokentrail_index::trace(store.as_ref(), &request)?;
    let mut out = buffered_stdout();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, &answer)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            let events: Vec<_> = answer
                .events
                .iter()
                .map(|linked| linked.event.clone())
                .collect();
            let rules = answer.events.iter().map(|l| l.link.rule.clone()).collect();
            let confidences = answer
                .events
                .iter()
                .map(|l| l.link.confidence.clone())
                .collect();
            output::write_csv(
                &mut out,
                &events,
                &[("link_rule", rules), ("link_confidence", confidences)],
            )?;
        }
        OutputFormat::Table => crate::report::write_trace_table(&mut out, &answer)?,
    }
    out.flush()?;
    Ok(())
}

fn run_simulate(args: SimulateArgs) -> Result<()> {
    let start = chrono::NaiveDate::parse_from_str(&args.start, "%Y-%m-%d")
        .with_context(|| format!("--start {:?} is not YYYY-MM-DD", args.start))?;
    let options = crate::simulate::Options {
        out: args.out.clone(),
        seed: args.seed,
        users: args.users,
        days: args.days,
        start,
        scale: args.scale,
    };
    let summary = crate::simulate::run(&options)?;
    println!(
        "wrote {} files, {:.1} MB, {} lines for {} identities into {} (ground truth: {}/truth.json)",
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.lines,
        summary.identities,
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn run_retention(choice: &StoreChoice, args: RetentionArgs) -> Result<()> {
    let now =
        parse_time_flag("now", &args.now)?.unwrap_or_else(|| Timestamp::from(chrono::Utc::now()));
    if let StoreChoice::Tantivy(data) = choice {
        if !data.join("index").exists() {
            anyhow::bail!("no store in {}: nothing to expire", data.display());
        }
    }
    let store = choice.open()?;
    let retention = tokentrail_index::Retention {
        retention_days: args.retention_days,
    };
    let report = tokentrail_index::retention::apply(store.as_ref(), retention, now, args.dry_run)
        .with_context(|| format!("while applying retention to {}", choice.describe()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            writeln!(out, "day,events")?;
            for day in &report.days {
                writeln!(out, "{},{}", day.day, day.events)?;
            }
        }
        OutputFormat::Table => {
            if !report.days.is_empty() {
                writeln!(out, "{:<12} {:>10}", "DAY", "EVENTS")?;
                for day in &report.days {
                    writeln!(out, "{:<12} {:>10}", day.day, day.events)?;
                }
            }
            writeln!(
                out,
                "{} {} events of {} days before {} (keeping {} days: {} events kept); index {:.1} MB → {:.1} MB",
                if report.dry_run { "would remove" } else { "removed" },
                report.events,
                report.days.len(),
                report.cutoff,
                report.retention_days,
                report.kept,
                report.bytes_before as f64 / 1e6,
                report.bytes_after as f64 / 1e6,
            )?;
        }
    }
    Ok(())
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let demo = crate::demo::prepare(&crate::demo::DemoOptions {
        dir: args.dir,
        seed: args.seed,
        users: args.users,
        days: args.days,
    })?;
    {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        crate::demo::print_walkthrough(&demo, &mut out)?;
    }
    if args.no_serve {
        return Ok(());
    }
    let (name, password) = tokentrail_web::create_one_time_admin(&demo.data)?;
    let incident_sub = demo.truth["incident"]["sub"].as_str().unwrap_or_default();
    println!(
        "\nWeb UI: http://{}/  — sign in as {name} with the one-time password {password}\n         Then search for {incident_sub} (the incident's user) and open its trace. Ctrl-C stops the demo.",
        args.listen
    );
    run_serve(
        &demo.data,
        &StoreChoice::Tantivy(demo.data.clone()),
        ServeArgs {
            listen: Some(args.listen),
            accounts: None,
            secure_cookies: false,
            report_config: None,
            site_networks: Vec::new(),
            config: None,
        },
    )
}

fn run_formats() -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for format in tokentrail_parsers::registry::all() {
        writeln!(
            out,
            "{:<26} {:<9} {}",
            format.id,
            format.service.as_str(),
            format.summary
        )?;
    }
    Ok(())
}

fn run_status(choice: &StoreChoice, args: StatusArgs) -> Result<()> {
    let store = choice.open()?;
    let status = crate::collect::status::collect_status(store.as_ref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "collectors": status }))?;
            writeln!(out)?;
        }
        _ => crate::collect::status::write_table(&mut out, &status)?,
    }
    Ok(())
}

/// `tokentrail serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: the --config file's `listen`, else 127.0.0.1:8080]; a
    /// non-loopback address needs an account (`tokentrail user add`).
    #[arg(long, env = "TOKENTRAIL_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Accounts file (default DATA/accounts.json).
    #[arg(long, env = "TOKENTRAIL_ACCOUNTS")]
    pub accounts: Option<PathBuf>,
    /// Mark session cookies Secure (set this when a TLS proxy fronts the server).
    #[arg(long, env = "TOKENTRAIL_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Report configuration (JSON with any `ReportConfig` fields) for `/report`; the same file
    /// as `tokentrail report --config`.
    #[arg(long, env = "TOKENTRAIL_REPORT_CONFIG")]
    pub report_config: Option<PathBuf>,
    /// A site network in CIDR notation (repeat) for the report's outside-network rule.
    #[arg(long = "site-network", value_name = "CIDR")]
    pub site_networks: Vec<crate::analytics::Cidr>,
    /// Run the collectors of this configuration (see examples/tokentrail.toml) beside the
    /// server, on the same store: files, syslog, and `POST /api/v1/ingest` on this listener.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where `serve` listens when neither --listen nor the config says.
const DEFAULT_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

fn run_serve(data: &std::path::Path, choice: &StoreChoice, args: ServeArgs) -> Result<()> {
    let collect_config = args
        .config
        .as_deref()
        .map(crate::collect::Config::load)
        .transpose()?;
    // With collectors, the config chooses the store as for `collect` (--store still wins),
    // and its `data` holds the accounts, audit log and watchlist too.
    let (choice, data) = match &collect_config {
        Some(config) => {
            let cli_store = match choice {
                StoreChoice::ClickHouse(url) => Some(url.as_str()),
                StoreChoice::Tantivy(_) => None,
            };
            (
                config.store_choice(data, cli_store),
                config.data.clone().unwrap_or_else(|| data.to_path_buf()),
            )
        }
        None => (choice.clone(), data.to_path_buf()),
    };
    let store = choice.open()?;
    let mut config = tokentrail_web::ServerConfig::new(&data);
    // --listen wins; the collector config's `listen` (where `collect` serves the push
    // endpoint) is the web server's address otherwise, so pushers need no change.
    config.listen = args
        .listen
        .or(collect_config.as_ref().and_then(|c| c.listen))
        .unwrap_or(DEFAULT_LISTEN);
    config.secure_cookies = args.secure_cookies;
    if let Some(accounts) = args.accounts {
        config.accounts_file = accounts;
    }
    config.report = crate::analytics::commands::load_report_config(
        args.report_config.as_deref(),
        &args.site_networks,
        None,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("while starting the async runtime")?;
    match collect_config {
        Some(collect_config) => runtime.block_on(crate::collect::serve_with_collectors(
            collect_config,
            config,
            store,
            choice.describe(),
        )),
        None => Ok(runtime.block_on(tokentrail_web::serve(config, store))?),
    }
}

/// `tokentrail user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
    /// Accounts file (default DATA/accounts.json).
    #[arg(long, global = true, env = "TOKENTRAIL_ACCOUNTS")]
    pub accounts: Option<PathBuf>,
}

/// `tokentrail user add|list|remove|key`.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add an account; prints a generated password unless --password-stdin is given.
    Add {
        name: String,
        /// viewer (reads) or admin (also manages accounts and watchlists).
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "admin"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts (names, roles, API key ids; never secrets).
    List,
    /// Remove an account and its API keys.
    Remove { name: String },
    /// Create an API key for scripts (printed once; send as `Authorization: Bearer KEY`).
    Key {
        name: String,
        #[arg(long, default_value = "")]
        label: String,
    },
}

fn run_user(data: &std::path::Path, args: UserArgs) -> Result<()> {
    let file = args
        .accounts
        .unwrap_or_else(|| tokentrail_web::default_accounts_file(data));
    match args.action {
        UserAction::Add {
            name,
            role,
            password_stdin,
        } => {
            let role: tokentrail_web::Role = role
                .parse()
                .map_err(|error: String| anyhow::anyhow!(error))?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("while reading the password from standard input")?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                tokentrail_web::accounts::random_secret()[..20].to_string()
            };
            tokentrail_web::add_account(&file, &name, role, &password)?;
            if password_stdin {
                println!(
                    "added {} account {name} to {}",
                    role.as_str(),
                    file.display()
                );
            } else {
                println!(
                    "added {} account {name} to {}; its password (shown once): {password}",
                    role.as_str(),
                    file.display()
                );
            }
        }
        UserAction::List => {
            for account in tokentrail_web::list_accounts(&file)? {
                println!(
                    "{:<24} {:<7} {} api-keys={}",
                    account.name,
                    account.role.as_str(),
                    account.created,
                    account.api_keys.len()
                );
            }
        }
        UserAction::Remove { name } => {
            if !tokentrail_web::remove_account(&file, &name)? {
                anyhow::bail!("no account {name:?} in {}", file.display());
            }
            println!("removed account {name}");
        }
        UserAction::Key { name, label } => {
            println!("{}", tokentrail_web::create_api_key(&file, &name, &label)?);
        }
    }
    Ok(())
}
