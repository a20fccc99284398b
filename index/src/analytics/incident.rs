//! Incident reports: a trace turned into a self-contained HTML file (inline CSS, no scripts,
//! no external URLs) and the same content as JSON, to attach to a ticket. Every event is shown
//! with its origin and the raw line, and every source file with its SHA-256 (read now from the
//! path the event came from; marked unavailable when it cannot be read). Every value written
//! into the HTML is escaped: log content is attacker-controlled.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;

use crate::trace::{JobOut, LinkedEvent};
use crate::{EventStore, TraceRequest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokentrail_parsers::Timestamp;

/// A source file of the evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    pub file: String,
    /// Hex SHA-256 of the file as it is on disk now; `None` when it could not be read.
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// Why there is no hash.
    pub note: String,
    /// Evidence lines taken from it.
    pub events: u64,
}

/// A file path the trace touched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileTouched {
    pub path: String,
    pub actions: Vec<String>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub events: u64,
}

/// An address the trace involved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AddressSeen {
    pub address: String,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub events: u64,
}

/// The incident report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentReport {
    pub title: String,
    pub generated: Option<Timestamp>,
    pub request: serde_json::Value,
    pub truncated: bool,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub identities: Vec<crate::trace::IdentityOut>,
    pub tokens: Vec<crate::trace::TokenOut>,
    pub jobs: Vec<JobOut>,
    pub files: Vec<FileTouched>,
    pub addresses: Vec<AddressSeen>,
    pub sources: Vec<SourceFile>,
    /// Every event of the trace, oldest first, with its link and origin.
    pub timeline: Vec<LinkedEvent>,
}

/// Hashes a file with SHA-256, streaming.
pub fn sha256_file(path: &str) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        total += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        total,
    ))
}

/// Runs the trace of `request` and builds its incident report.
pub fn incident_report(
    store: &dyn EventStore,
    request: &TraceRequest,
    title: &str,
) -> Result<IncidentReport, crate::Error> {
    let answer = crate::trace(store, request)?;
    let mut timeline = answer.events;
    timeline.sort_by(|a, b| {
        (a.event.time, &a.event.origin.file, a.event.origin.line).cmp(&(
            b.event.time,
            &b.event.origin.file,
            b.event.origin.line,
        ))
    });
    let mut files: BTreeMap<String, FileTouched> = BTreeMap::new();
    let mut addresses: BTreeMap<String, AddressSeen> = BTreeMap::new();
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    for linked in &timeline {
        let event = &linked.event;
        if !event.origin.file.is_empty() {
            *sources.entry(event.origin.file.clone()).or_default() += 1;
        }
        if !event.path.is_empty() && event.action.starts_with("file.") {
            let entry = files.entry(event.path.clone()).or_default();
            entry.path = event.path.clone();
            if !entry.actions.iter().any(|known| *known == event.action) {
                entry.actions.push(event.action.to_string());
            }
            entry.first = entry.first.or(event.time);
            entry.last = event.time.or(entry.last);
            entry.events += 1;
        }
        if !event.client_ip.is_empty() {
            let entry = addresses.entry(event.client_ip.clone()).or_default();
            entry.address = event.client_ip.clone();
            entry.first = entry.first.or(event.time);
            entry.last = event.time.or(entry.last);
            entry.events += 1;
        }
    }
    let sources = sources
        .into_iter()
        .map(|(file, events)| match sha256_file(&file) {
            Ok((sha256, bytes)) => SourceFile {
                file,
                sha256: Some(sha256),
                bytes: Some(bytes),
                note: String::new(),
                events,
            },
            Err(error) => SourceFile {
                file,
                sha256: None,
                bytes: None,
                note: format!("unavailable: {error}"),
                events,
            },
        })
        .collect();
    Ok(IncidentReport {
        title: title.to_string(),
        generated: Some(Timestamp::from(chrono::Utc::now())),
        request: serde_json::to_value(request).unwrap_or_default(),
        truncated: answer.truncated,
        first: timeline.iter().find_map(|l| l.event.time),
        last: timeline.iter().rev().find_map(|l| l.event.time),
        identities: answer.identities,
        tokens: answer.tokens,
        jobs: answer.jobs,
        files: files.into_values().collect(),
        addresses: addresses.into_values().collect(),
        sources,
        timeline,
    })
}

/// Escapes text for HTML element content and attribute values: `& < > " '` become character
/// references, and control characters (but newline and tab) and Unicode bidirectional
/// overrides are shown as `\u{..}` — a log line may carry terminal escapes or NULs, and the
/// report should show them rather than let them vanish or reorder the text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn time(value: Option<Timestamp>) -> String {
    value.map(|t| t.to_rfc3339()).unwrap_or_default()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#111}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85em;width:100%}th,td{border:1px solid #ddd;padding:.25em .4em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.raw{font-family:monospace;white-space:pre-wrap;word-break:break-all}\
.probable{background:#fff8e1}.fail{color:#b00020}.meta{color:#555}code{font-family:monospace}";

impl IncidentReport {
    /// The self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n",
            escape(&self.title)
        );
        let _ = writeln!(html, "<h1 id=\"title\">{}</h1>", escape(&self.title));
        let _ = writeln!(
            html,
            "<p class=\"meta\">Generated {} by tokentrail. Trace request: <code>{}</code>. \
             {} events from {} to {}.{}</p>",
            escape(&time(self.generated)),
            escape(&self.request.to_string()),
            self.timeline.len(),
            escape(&time(self.first)),
            escape(&time(self.last)),
            if self.truncated {
                " <strong>The trace was truncated at its event cap.</strong>"
            } else {
                ""
            }
        );

        html.push_str("<h2>Identities and tokens</h2>\n<table id=\"identities\"><tr><th>iss</th><th>sub</th><th>user names</th></tr>\n");
        for identity in &self.identities {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&identity.iss),
                escape(&identity.sub),
                escape(&identity.usernames.join(", "))
            );
        }
        html.push_str("</table>\n<table id=\"tokens\"><tr><th>jti</th><th>sub</th><th>client</th><th>iat</th><th>exp</th><th>aud</th><th>scopes</th><th>grant</th></tr>\n");
        for token in &self.tokens {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&token.jti),
                escape(&token.sub),
                escape(&token.client_id),
                escape(&time(token.iat)),
                escape(&time(token.exp)),
                escape(&token.aud.join(" ")),
                escape(&token.scopes.join(" ")),
                escape(&token.grant_type)
            );
        }
        html.push_str("</table>\n");

        html.push_str("<h2>Affected jobs</h2>\n<table id=\"jobs\"><tr><th>job</th><th>batch job</th><th>worker node</th><th>submitted</th><th>started</th><th>ended</th><th>jti</th></tr>\n");
        for job in &self.jobs {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&job.job_id),
                escape(&job.batch_job_id),
                escape(&job.worker_node),
                escape(&time(job.submitted)),
                escape(&time(job.started)),
                escape(&time(job.ended)),
                escape(&job.jti)
            );
        }
        html.push_str("</table>\n");

        html.push_str("<h2>Affected files</h2>\n<table id=\"files\"><tr><th>path</th><th>actions</th><th>first</th><th>last</th><th>events</th></tr>\n");
        for file in &self.files {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&file.path),
                escape(&file.actions.join(", ")),
                escape(&time(file.first)),
                escape(&time(file.last)),
                file.events
            );
        }
        html.push_str("</table>\n");

        html.push_str("<h2>Addresses</h2>\n<table id=\"addresses\"><tr><th>address</th><th>first</th><th>last</th><th>events</th></tr>\n");
        for address in &self.addresses {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&address.address),
                escape(&time(address.first)),
                escape(&time(address.last)),
                address.events
            );
        }
        html.push_str("</table>\n");

        html.push_str("<h2>Timeline and evidence</h2>\n<table id=\"timeline\"><tr><th>time</th><th>service</th><th>host</th><th>action</th><th>outcome</th><th>sub / jti</th><th>address</th><th>job / path</th><th>link</th><th>origin</th><th>line</th></tr>\n");
        for linked in &self.timeline {
            let event = &linked.event;
            let class = if linked.link.confidence == "probable" {
                " class=\"probable\""
            } else {
                ""
            };
            let outcome_class = if event.outcome == "fail" {
                " class=\"fail\""
            } else {
                ""
            };
            let _ = writeln!(
                html,
                "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{outcome_class}>{} {}</td><td>{}<br>{}</td><td>{}</td><td>{}<br>{}</td><td>{} ({})</td><td>{}:{} @{}</td><td class=\"raw\">{}</td></tr>",
                escape(&time(event.time)),
                escape(&event.source),
                escape(&event.host),
                escape(&event.action),
                escape(&event.outcome),
                escape(&event.status),
                escape(&event.sub),
                escape(&event.jti),
                escape(&event.client_ip),
                escape(if event.job_id.is_empty() { &event.batch_job_id } else { &event.job_id }),
                escape(&event.path),
                escape(&linked.link.rule),
                escape(&linked.link.confidence),
                escape(&event.origin.file),
                event.origin.line,
                event.origin.offset,
                escape(&event.raw)
            );
        }
        html.push_str("</table>\n");

        html.push_str("<h2>Source files</h2>\n<table id=\"sources\"><tr><th>file</th><th>SHA-256</th><th>bytes</th><th>evidence lines</th></tr>\n");
        for source in &self.sources {
            let hash = match &source.sha256 {
                Some(hash) => format!("<code>{}</code>", escape(hash)),
                None => escape(&source.note),
            };
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{hash}</td><td>{}</td><td>{}</td></tr>",
                escape(&source.file),
                source.bytes.map(|b| b.to_string()).unwrap_or_default(),
                source.events
            );
        }
        html.push_str("</table>\n<p class=\"meta\">Hashes are of the files as read when this report was generated; a file rotated or changed since ingest hashes differently.</p>\n</body></html>\n");
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(
            escape("a\u{1b}[31m\u{0}\u{202e}b\n"),
            "a\\u{1b}[31m\\u{0}\\u{202e}b\n"
        );
    }
}
