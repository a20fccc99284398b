//! `tokentrail demo`: a simulated site, ingested, with its incident traced — the quickest way
//! to see what tokentrail answers.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use tokentrail_index::{trace, Seed, TantivyStore, TraceRequest};

use crate::ingest::{self, IngestOptions};
use crate::simulate;

/// What the demo needs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Where the site and the store go (default: a new temporary directory).
    pub dir: Option<PathBuf>,
    pub seed: u64,
    pub users: usize,
    pub days: u32,
}

/// A ready demo: where it is and what its incident is.
#[derive(Clone, Debug)]
pub struct Demo {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub logs: PathBuf,
    pub truth: serde_json::Value,
}

/// Simulates and ingests the demo site.
pub fn prepare(options: &DemoOptions) -> Result<Demo> {
    let dir = match &options.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("tokentrail-demo-{}", std::process::id())),
    };
    let site = dir.join("site");
    let data = dir.join("data");
    eprintln!(
        "simulating a site with {} users over {} days in {} …",
        options.users,
        options.days,
        site.display()
    );
    simulate::run(&simulate::Options {
        out: site.clone(),
        seed: options.seed,
        users: options.users,
        days: options.days,
        ..simulate::Options::default()
    })?;
    let logs = site.join(simulate::LOGS_DIR);
    eprintln!("ingesting {} …", logs.display());
    let store = TantivyStore::open(&data)?;
    let report = ingest::ingest(
        &store,
        IngestOptions {
            paths: vec![logs.clone()],
            // The simulated dCache names its token issuer by the gPlazma alias `cms`.
            issuer_aliases: [(
                "cms".to_string(),
                "https://cms-auth.example.org/".to_string(),
            )]
            .into_iter()
            .collect(),
            zone: "UTC"
                .parse()
                .map_err(|error: String| anyhow::anyhow!(error))?,
            progress: ingest::progress_wanted(),
            ..IngestOptions::default()
        },
    )?;
    eprintln!(
        "{} lines → {} events in {:.1}s",
        report.stats.lines(),
        report.added,
        report.seconds
    );
    let truth = serde_json::from_slice(
        &std::fs::read(site.join("truth.json")).context("while reading the demo's truth.json")?,
    )?;
    Ok(Demo {
        dir,
        data,
        logs,
        truth,
    })
}

/// Prints the incident's trace and the commands to explore further.
pub fn print_walkthrough(demo: &Demo, out: &mut dyn Write) -> Result<()> {
    let incident = &demo.truth["incident"];
    let jti = incident["jti"].as_str().unwrap_or_default();
    let sub = incident["sub"].as_str().unwrap_or_default();
    let outside = incident["outside_ip"].as_str().unwrap_or_default();
    let store = TantivyStore::open(&demo.data)?;
    let answer = trace(
        &store,
        &TraceRequest::new(Seed::Jti {
            jti: jti.to_string(),
        }),
    )?;
    writeln!(
        out,
        "\nThe incident: access token {jti} of {sub} was stolen; after the account was disabled it was used from {outside}.\n\
         `tokentrail trace --jti {jti}` answers what it touched:\n"
    )?;
    crate::report::write_trace_table(out, &answer)?;
    let data = demo.data.display();
    writeln!(
        out,
        "\nTry:\n  tokentrail --data {data} trace --sub {sub}\n  tokentrail --data {data} trace --ip {outside}\n  tokentrail --data {data} trace --jti {jti} --format json\n  tokentrail --data {data} search 'action:account.disable'\n  tokentrail --data {data} search 'client_ip:{outside}' --format csv\n\
         The site's logs are in {}, the ground truth in {}.",
        demo.logs.display(),
        demo.dir.join("site/truth.json").display()
    )?;
    Ok(())
}
