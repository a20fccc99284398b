//! The ground truth of a simulated site, collected while the lines are written and saved as
//! `truth.json`. Evidence follows the link rules of DESIGN.md §4 mechanically:
//! `certain` = lines carrying the identity's `sub` or one of its `jti`s, lines of its jobs
//! (CE, router, history, event log, shadow log, ARC) and lines of an in-service session it
//! opened (XRootD tident, dCache door session / billing transaction, StoRM request id);
//! `probable` = file operations from a worker node's address while one of the identity's jobs
//! ran there and that carry no identity at all (an operation with another identity's token is
//! that identity's, not probable evidence of whoever else ran a job on the node). A multi-line record (history ad, event-log
//! event, ARC control file) is referenced by its first line, as its event's origin is.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::core::{rfc3339, Ms};
use super::sink::{FileId, IdentityId, Sink, Tags, WnId};

/// The kind of an identity, as `truth.json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Pilot,
    Service,
    X509,
}

/// One job of an identity.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub job_id: String,
    pub batch_job_id: String,
    pub worker_node: String,
    pub started: Option<String>,
    pub ended: Option<String>,
}

/// A `(file, line)` reference.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    certain: Vec<Origin>,
    probable: Vec<Origin>,
}

/// One identity of the site population.
#[derive(Debug, Serialize)]
pub struct Identity {
    pub iss: String,
    pub sub: String,
    pub username: String,
    pub kind: Kind,
    pub jtis: Vec<String>,
    pub jobs: Vec<Job>,
    /// In-service session keys that tie lines without `sub`/`jti` to this identity.
    pub sessions: Vec<String>,
    evidence: Evidence,
    /// False when the identity is outside the sample kept for large `--scale` runs; then its
    /// lists are empty and must not be compared.
    pub recorded: bool,
}

/// The stolen-token incident.
#[derive(Debug, Default, Serialize)]
pub struct Incident {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub outside_ip: String,
    pub disabled_at: String,
    pub uses_after_disable: Vec<Origin>,
}

/// A deliberately non-compliant token.
#[derive(Debug, Serialize)]
pub struct Noncompliant {
    pub jti: String,
    pub reason: String,
}

/// Everything `truth.json` holds, plus the bookkeeping to fill it.
#[derive(Debug)]
pub struct Truth {
    pub identities: Vec<Identity>,
    pub incident: Incident,
    pub noncompliant: Vec<Noncompliant>,
    pub sample_note: Option<String>,
    /// Raw evidence as (file, line), resolved to paths at the end.
    certain: Vec<Vec<(FileId, u64)>>,
    probable: Vec<Vec<(FileId, u64)>>,
    incident_uses: Vec<(FileId, u64)>,
    /// Identities with a job running on each worker node right now (a multiset).
    running: Vec<Vec<IdentityId>>,
}

impl Truth {
    /// An empty truth for a site with `worker_nodes` worker nodes.
    pub fn new(worker_nodes: usize) -> Truth {
        Truth {
            identities: Vec::new(),
            incident: Incident::default(),
            noncompliant: Vec::new(),
            sample_note: None,
            certain: Vec::new(),
            probable: Vec::new(),
            incident_uses: Vec::new(),
            running: vec![Vec::new(); worker_nodes],
        }
    }

    /// Adds an identity; returns its id.
    pub fn add(
        &mut self,
        iss: &str,
        sub: &str,
        username: &str,
        kind: Kind,
        recorded: bool,
    ) -> IdentityId {
        self.identities.push(Identity {
            iss: iss.to_string(),
            sub: sub.to_string(),
            username: username.to_string(),
            kind,
            jtis: Vec::new(),
            jobs: Vec::new(),
            sessions: Vec::new(),
            evidence: Evidence::default(),
            recorded,
        });
        self.certain.push(Vec::new());
        self.probable.push(Vec::new());
        (self.identities.len() - 1) as IdentityId
    }

    /// Notes a token of `identity`.
    pub fn jti(&mut self, identity: IdentityId, jti: &str) {
        let entry = &mut self.identities[identity as usize];
        if entry.recorded {
            entry.jtis.push(jti.to_string());
        }
    }

    /// Notes an in-service session of `identity`.
    pub fn session(&mut self, identity: IdentityId, session: &str) {
        let entry = &mut self.identities[identity as usize];
        if entry.recorded {
            entry.sessions.push(session.to_string());
        }
    }

    /// Notes a job of `identity`.
    pub fn job(&mut self, identity: IdentityId, job: Job) {
        let entry = &mut self.identities[identity as usize];
        if entry.recorded {
            entry.jobs.push(job);
        }
    }

    /// A job of `identity` starts or ends on `worker_node`.
    pub fn running(&mut self, worker_node: WnId, identity: IdentityId, on: bool) {
        let list = &mut self.running[worker_node as usize];
        if on {
            list.push(identity);
        } else if let Some(at) = list.iter().position(|&id| id == identity) {
            list.swap_remove(at);
        }
    }

    /// Records what the line at (`file`, `line`) is evidence of.
    pub fn record(&mut self, file: FileId, line: u64, tags: &Tags) {
        for &identity in tags.identities() {
            if self.identities[identity as usize].recorded {
                self.certain[identity as usize].push((file, line));
            }
        }
        // A file operation that carries an identity is that identity's: it is `probable`
        // evidence of nobody else (a pilot's trace must not return its payloads' files).
        if let (Some(worker_node), true) = (tags.worker_node, tags.identities().is_empty()) {
            let running = &self.running[worker_node as usize];
            for (index, &identity) in running.iter().enumerate() {
                let duplicate = running[..index].contains(&identity);
                if duplicate
                    || tags.identities().contains(&identity)
                    || !self.identities[identity as usize].recorded
                {
                    continue;
                }
                self.probable[identity as usize].push((file, line));
            }
        }
        if tags.incident {
            self.incident_uses.push((file, line));
        }
    }

    /// Resolves file ids to paths and writes `truth.json` (pretty).
    pub fn write(mut self, sink: &Sink, path: &Path) -> anyhow::Result<()> {
        let resolve = |list: &[(FileId, u64)]| -> Vec<Origin> {
            let mut out: Vec<Origin> = list
                .iter()
                .map(|&(file, line)| Origin {
                    file: sink.path(file).to_string(),
                    line,
                })
                .collect();
            out.sort();
            out.dedup();
            out
        };
        for (index, identity) in self.identities.iter_mut().enumerate() {
            identity.evidence.certain = resolve(&self.certain[index]);
            identity.evidence.probable = resolve(&self.probable[index]);
            identity.jtis.sort();
            identity.jtis.dedup();
            identity.sessions.sort();
            identity.sessions.dedup();
        }
        self.incident.uses_after_disable = resolve(&self.incident_uses);
        let document = TruthFile {
            zone: "UTC",
            note: "Times in the logs are UTC (the site's zone). Evidence follows DESIGN.md §4: \
                   certain = lines with the identity's sub or jti, lines of its jobs and of its \
                   in-service sessions; probable = file operations carrying no identity from a worker node's \
                   address while one of its jobs ran there. Multi-line records are referenced by their \
                   first line.",
            sample: self.sample_note.as_deref(),
            identities: &self.identities,
            incident: &self.incident,
            noncompliant_tokens: &self.noncompliant,
        };
        let file =
            File::create(path).with_context(|| format!("while creating {}", path.display()))?;
        let mut writer = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut writer, &document)
            .with_context(|| format!("while writing {}", path.display()))?;
        writer.write_all(b"\n")?;
        writer.flush()?;
        Ok(())
    }
}

#[derive(Serialize)]
struct TruthFile<'a> {
    zone: &'static str,
    note: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<&'a str>,
    identities: &'a [Identity],
    incident: &'a Incident,
    noncompliant_tokens: &'a [Noncompliant],
}

/// A job entry with RFC 3339 times.
pub fn job(
    job_id: String,
    batch_job_id: String,
    worker_node: &str,
    window: Option<(Ms, Ms)>,
) -> Job {
    Job {
        job_id,
        batch_job_id,
        worker_node: worker_node.to_string(),
        started: window.map(|(start, _)| rfc3339(start)),
        ended: window.map(|(_, end)| rfc3339(end)),
    }
}
