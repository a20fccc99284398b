//! The analytics subcommands: `report`, `watch`, `alerts`, `incident-report`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use tokentrail_parsers::Timestamp;

use super::config::{Cidr, ReportConfig};
use super::watchlist::{self, EntryKind, WatchEntry, Watchlist};
use crate::cli::parse_time_flag;
use crate::output::OutputFormat;

/// `tokentrail report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Start of the range (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, epoch).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Configuration file (JSON) with any `ReportConfig` fields.
    #[arg(long, env = "TOKENTRAIL_REPORT_CONFIG")]
    pub config: Option<PathBuf>,
    /// A site network in CIDR notation (repeat); uses from elsewhere are anomalies.
    #[arg(long = "site-network", value_name = "CIDR")]
    pub site_networks: Vec<Cidr>,
    /// Seconds after `exp` a use is still tolerated.
    #[arg(long)]
    pub grace: Option<i64>,
    /// Output format (`table` is a readable summary; `csv` lists the flagged tokens).
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// `tokentrail watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub command: WatchCommand,
}

/// What to watch.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false)
    .args(["sub", "jti", "client", "ip"])))]
pub struct WatchTarget {
    /// An identity's `sub` (with --iss to pin its issuer).
    #[arg(long)]
    pub sub: Option<String>,
    /// Issuer of --sub.
    #[arg(long, requires = "sub")]
    pub iss: Option<String>,
    /// A token id.
    #[arg(long)]
    pub jti: Option<String>,
    /// An OAuth client id.
    #[arg(long)]
    pub client: Option<String>,
    /// A client address.
    #[arg(long)]
    pub ip: Option<String>,
}

impl WatchTarget {
    fn kind_value(&self) -> (EntryKind, String) {
        if let Some(sub) = &self.sub {
            (EntryKind::Identity, sub.clone())
        } else if let Some(jti) = &self.jti {
            (EntryKind::Jti, jti.clone())
        } else if let Some(client) = &self.client {
            (EntryKind::Client, client.clone())
        } else {
            (EntryKind::Address, self.ip.clone().unwrap_or_default())
        }
    }
}

/// `tokentrail watch` subcommands.
#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Add an identity, token id, client or address with a reason.
    Add {
        #[command(flatten)]
        target: WatchTarget,
        /// Why (shown in alerts and exports).
        #[arg(long)]
        reason: String,
        /// Who added it.
        #[arg(long, env = "USER", default_value = "")]
        by: String,
    },
    /// Remove an entry.
    Remove {
        #[command(flatten)]
        target: WatchTarget,
    },
    /// List the entries.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Export the watchlist as a ban list: json (feed), csv, misp, gplazma, htcondor, nftables.
    Export {
        #[arg(long, default_value = "json")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `tokentrail alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Show the last N alerts.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// `tokentrail incident-report`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("seed").required(true).multiple(false)
    .args(["sub", "jti", "ip", "client"])))]
pub struct IncidentArgs {
    /// Identity (with --iss).
    #[arg(long)]
    pub sub: Option<String>,
    #[arg(long, requires = "sub")]
    pub iss: Option<String>,
    /// Token id.
    #[arg(long)]
    pub jti: Option<String>,
    /// Client address.
    #[arg(long)]
    pub ip: Option<String>,
    /// OAuth client id.
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Title of the report.
    #[arg(long)]
    pub title: Option<String>,
    /// The HTML file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The report configuration: the file when given (JSON), plus site networks and grace from
/// flags.
pub fn load_report_config(
    file: Option<&Path>,
    site_networks: &[Cidr],
    grace: Option<i64>,
) -> Result<ReportConfig> {
    let mut config = match file {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("while reading {}", path.display()))?;
            serde_json::from_slice::<ReportConfig>(&bytes).with_context(|| {
                format!("while reading the report configuration {}", path.display())
            })?
        }
        None => ReportConfig::default(),
    };
    config.site_networks.extend(site_networks.iter().copied());
    if let Some(grace) = grace {
        config.grace_seconds = grace;
    }
    Ok(config)
}

/// Runs `report`.
pub fn run_report(choice: &crate::cli::StoreChoice, args: ReportArgs) -> Result<()> {
    let config = load_report_config(args.config.as_deref(), &args.site_networks, args.grace)?;
    let from = parse_time_flag("from", &args.from)?;
    let to = parse_time_flag("to", &args.to)?;
    let store = choice.open()?;
    let report = super::policy_report(store.as_ref(), from, to, &config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            writeln!(out, "jti,iss,sub,client_id,issued,lifetime_seconds,reasons")?;
            for token in &report.flagged {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    token.jti,
                    token.iss,
                    token.sub,
                    token.client_id,
                    token.issued.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    token
                        .lifetime_seconds
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    token.reasons.join(" ")
                )?;
            }
        }
        OutputFormat::Table => write_report_table(&mut out, &report)?,
    }
    Ok(())
}

fn write_report_table(out: &mut impl Write, report: &super::PolicyReport) -> Result<()> {
    let tokens = &report.tokens;
    writeln!(
        out,
        "TOKENS  {} ({} access, {} refresh; {} without logged claims; {} seen only at services)",
        tokens.total,
        tokens.access,
        tokens.refresh,
        tokens.claims_not_logged,
        tokens.seen_only_at_services
    )?;
    for row in &tokens.by_issuer_client {
        writeln!(
            out,
            "  {:<48} {:<38} {:>7} access {:>5} refresh",
            row.issuer, row.client_id, row.access, row.refresh
        )?;
    }
    write!(out, "LIFETIMES")?;
    for bucket in &report.lifetimes {
        write!(out, "  {} {}", bucket.label, bucket.count)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "AUDIENCE  any {}  none {}  specific {}",
        report.audiences.any, report.audiences.none, report.audiences.specific
    )?;
    writeln!(
        out,
        "SCOPES  write at VO root {}  any storage.* at VO root {} (of which used only below a narrower directory {})",
        report.scopes.write_at_vo_root, report.scopes.storage_at_vo_root, report.scopes.vo_root_used_narrowly
    )?;
    for missing in &report.missing_jti {
        writeln!(out, "MISSING JTI  {} {}", missing.label, missing.count)?;
    }
    writeln!(out, "USE BEFORE EXPIRY")?;
    for lead in &report.use_before_expiry {
        write!(out, "  {:<10} {:>7} uses", lead.service, lead.uses)?;
        for bucket in lead.buckets.iter().filter(|b| b.count > 0) {
            write!(out, "  {} {}", bucket.label, bucket.count)?;
        }
        writeln!(out)?;
    }
    writeln!(out, "ISSUANCE")?;
    for issuer in &report.issuance {
        writeln!(
            out,
            "  {:<40} {:>7} events, peak {}/s at {}, {} outage-like gaps",
            issuer.issuer,
            issuer.events,
            issuer.peak_per_second,
            issuer.peak_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            issuer.gaps.len()
        )?;
        for gap in &issuer.gaps {
            writeln!(out, "    gap {} → {} ({} s)", gap.from, gap.to, gap.seconds)?;
        }
    }
    writeln!(out, "REFUSED")?;
    for refusal in &report.refused {
        writeln!(
            out,
            "  {:<10} {:<20} {}",
            refusal.service, refusal.reason, refusal.count
        )?;
    }
    writeln!(out, "FLAGGED TOKENS  {}", report.flagged.len())?;
    for token in &report.flagged {
        writeln!(
            out,
            "  {}  sub={} client={}  {}",
            token.jti,
            token.sub,
            token.client_id,
            token.reasons.join(", ")
        )?;
    }
    writeln!(out, "ANOMALIES  {}", report.anomalies.len())?;
    for anomaly in &report.anomalies {
        writeln!(
            out,
            "  {} {:<28} {} ({} events) trace: {}",
            anomaly
                .first_seen
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            anomaly.kind.as_str(),
            anomaly.summary,
            anomaly.events,
            serde_json::to_string(&anomaly.trace)?
        )?;
    }
    if report.truncated {
        writeln!(out, "(lists cut at {} rows)", report.config.max_listed)?;
    }
    Ok(())
}

/// Runs `watch`.
pub fn run_watch(data: &Path, args: WatchArgs) -> Result<()> {
    let list = Watchlist::load(data)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        WatchCommand::Add { target, reason, by } => {
            let (kind, value) = target.kind_value();
            if value.trim().is_empty() {
                anyhow::bail!("the watched value is empty");
            }
            let entry = WatchEntry {
                kind,
                value: value.clone(),
                iss: target.iss.clone().unwrap_or_default(),
                reason,
                added: Timestamp::from(chrono::Utc::now()),
                added_by: by,
            };
            let replaced = Watchlist::update(data, |list| (list.add(entry), true))?;
            writeln!(
                out,
                "{} {} {}",
                if replaced { "updated" } else { "added" },
                kind.as_str(),
                value
            )?;
        }
        WatchCommand::Remove { target } => {
            let (kind, value) = target.kind_value();
            let removed = Watchlist::update(data, |list| {
                let removed = list.remove(kind, &value);
                (removed, removed > 0)
            })?;
            if removed == 0 {
                anyhow::bail!("{} {value} is not on the watchlist", kind.as_str());
            }
            writeln!(out, "removed {} {value}", kind.as_str())?;
        }
        WatchCommand::List { format } => match format {
            OutputFormat::Json => {
                serde_json::to_writer(&mut out, &list)?;
                writeln!(out)?;
            }
            OutputFormat::Csv => out.write_all(
                super::banlist::export(&list, "csv", Timestamp::from(chrono::Utc::now()))?
                    .as_bytes(),
            )?,
            OutputFormat::Table => {
                writeln!(out, "{:<9} {:<40} {:<24} REASON", "KIND", "VALUE", "ADDED")?;
                for entry in &list.entries {
                    writeln!(
                        out,
                        "{:<9} {:<40} {:<24} {}",
                        entry.kind.as_str(),
                        entry.value,
                        entry.added,
                        entry.reason
                    )?;
                }
            }
        },
        WatchCommand::Export { format, out: path } => {
            let text = super::banlist::export(&list, &format, Timestamp::from(chrono::Utc::now()))?;
            match path {
                Some(path) => watchlist::write_atomically(&path, text.as_bytes())?,
                None => out.write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
}

/// Runs `alerts`.
pub fn run_alerts(data: &Path, args: AlertsArgs) -> Result<()> {
    let alerts = watchlist::load_alerts(data, args.limit)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, &serde_json::json!({ "alerts": alerts }))?;
            writeln!(out)?;
        }
        _ => {
            for alert in &alerts {
                let first = alert.events.first();
                writeln!(
                    out,
                    "{} {} {} ({}) — {} matching events, first at {} from {}",
                    alert.raised,
                    alert.entry.kind.as_str(),
                    alert.entry.value,
                    alert.entry.reason,
                    alert.matches,
                    first
                        .and_then(|e| e.time)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default(),
                    first.map(|e| e.origin.file.as_str()).unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}

/// Runs `incident-report`.
pub fn run_incident_report(choice: &crate::cli::StoreChoice, args: IncidentArgs) -> Result<()> {
    use tokentrail_index::Seed;
    let seed = if let Some(sub) = &args.sub {
        Seed::Identity {
            sub: sub.clone(),
            iss: args.iss.clone(),
        }
    } else if let Some(jti) = &args.jti {
        Seed::Jti { jti: jti.clone() }
    } else if let Some(ip) = &args.ip {
        Seed::Ip { ip: ip.clone() }
    } else if let Some(client) = &args.client {
        Seed::Client {
            client: client.clone(),
        }
    } else {
        anyhow::bail!("incident-report needs one of --sub, --jti, --ip, --client");
    };
    let mut request = tokentrail_index::TraceRequest::new(seed);
    request.from = parse_time_flag("from", &args.from)?;
    request.to = parse_time_flag("to", &args.to)?;
    let title = args.title.clone().unwrap_or_else(|| {
        format!(
            "Incident report: {}",
            serde_json::to_string(&request.seed).unwrap_or_default()
        )
    });
    let store = choice.open()?;
    let report = super::incident_report(store.as_ref(), &request, &title)?;
    watchlist::write_atomically(&args.out, report.to_html().as_bytes())?;
    if let Some(path) = &args.json {
        watchlist::write_atomically(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    println!(
        "wrote {} ({} events, {} jobs, {} files, {} addresses, {} source files)",
        args.out.display(),
        report.timeline.len(),
        report.jobs.len(),
        report.files.len(),
        report.addresses.len(),
        report.sources.len()
    );
    Ok(())
}

/// Sets up watchlist alerts for an ingest run: `None` when the watchlist is empty.
pub fn ingest_watcher(
    data: &Path,
    webhook: Option<&str>,
) -> Result<Option<std::sync::Arc<std::sync::Mutex<super::Watcher>>>> {
    let list = Watchlist::load(data)?;
    if list.entries.is_empty() {
        return Ok(None);
    }
    let sender = match webhook {
        Some(url) => Some(super::WebhookSender::spawn(url).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    Ok(Some(std::sync::Arc::new(std::sync::Mutex::new(
        super::Watcher::new(&list, Some(data), sender),
    ))))
}
