//! The trace as a readable table: identities, tokens, jobs, then a timeline in which each
//! job's events stand together under the job, at the place of its first event.

use std::collections::HashMap;
use std::io::{self, Write};

use tokentrail_index::trace::{LinkedEvent, TraceAnswer};

use crate::output::{subject_of, terminal_safe};

fn time(stamp: Option<tokentrail_parsers::Timestamp>) -> String {
    stamp.map_or_else(|| "-".to_string(), |t| t.to_rfc3339())
}

fn line(out: &mut dyn Write, linked: &LinkedEvent, indent: &str) -> io::Result<()> {
    let event = &linked.event;
    let marker = if linked.link.confidence == "probable" {
        "?"
    } else {
        " "
    };
    writeln!(
        out,
        "{indent}{marker} {:<24} {:<18} {:<16} {:<4} {:<15} {:<44} [{}] {}:{}",
        time(event.time),
        terminal_safe(&event.source),
        terminal_safe(&event.action),
        terminal_safe(&event.outcome),
        terminal_safe(&event.client_ip),
        terminal_safe(&subject_of(event)),
        linked.link.rule,
        terminal_safe(&event.origin.file),
        event.origin.line
    )
}

/// Writes the table form of a trace answer.
pub fn write_trace_table(out: &mut dyn Write, answer: &TraceAnswer) -> io::Result<()> {
    let certain = answer
        .events
        .iter()
        .filter(|e| e.link.confidence == "certain")
        .count();
    writeln!(
        out,
        "{} events ({} certain, {} probable){}",
        answer.events.len(),
        certain,
        answer.events.len() - certain,
        if answer.truncated {
            " — TRUNCATED: raise --max-events/--max-depth or narrow --from/--to"
        } else {
            ""
        }
    )?;
    writeln!(out, "\nIDENTITIES")?;
    for identity in &answer.identities {
        writeln!(
            out,
            "  {}  {}  {}",
            terminal_safe(&identity.iss),
            terminal_safe(&identity.sub),
            terminal_safe(&identity.usernames.join(","))
        )?;
    }
    writeln!(out, "\nTOKENS")?;
    for token in &answer.tokens {
        writeln!(
            out,
            "  {:<40} sub={} client={} grant={} {} → {} scopes=[{}] aud=[{}]{}",
            terminal_safe(&token.jti),
            terminal_safe(&token.sub),
            terminal_safe(&token.client_id),
            terminal_safe(&token.grant_type),
            time(token.iat),
            time(token.exp),
            terminal_safe(&token.scopes.join(" ")),
            terminal_safe(&token.aud.join(" ")),
            if token.parent_jti.is_empty() {
                String::new()
            } else {
                format!(" parent={}", terminal_safe(&token.parent_jti))
            }
        )?;
    }
    writeln!(out, "\nJOBS")?;
    let mut job_of: HashMap<&str, usize> = HashMap::new();
    for (index, job) in answer.jobs.iter().enumerate() {
        for id in [&job.job_id, &job.batch_job_id] {
            if !id.is_empty() {
                job_of.insert(id.as_str(), index);
            }
        }
        writeln!(
            out,
            "  {} → {} @ {}  submitted {}  ran {} .. {}  jti={}",
            terminal_safe(&job.job_id),
            terminal_safe(&job.batch_job_id),
            terminal_safe(&job.worker_node),
            time(job.submitted),
            time(job.started),
            time(job.ended),
            terminal_safe(&job.jti)
        )?;
    }
    writeln!(out, "\nTIMELINE  (? = probable link; [rule] origin)")?;
    let group = |linked: &LinkedEvent| {
        [&linked.event.job_id, &linked.event.batch_job_id]
            .iter()
            .find_map(|id| job_of.get(id.as_str()).copied())
    };
    let mut printed_jobs = vec![false; answer.jobs.len()];
    for linked in &answer.events {
        match group(linked) {
            None => line(out, linked, "")?,
            Some(index) if !printed_jobs[index] => {
                printed_jobs[index] = true;
                let job = &answer.jobs[index];
                writeln!(
                    out,
                    "  ┌ job {} {} @ {}",
                    terminal_safe(&job.job_id),
                    terminal_safe(&job.batch_job_id),
                    terminal_safe(&job.worker_node)
                )?;
                for member in answer.events.iter().filter(|e| group(e) == Some(index)) {
                    line(out, member, "  │")?;
                }
                writeln!(out, "  └")?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}
