//! Printing events as a table, JSON or CSV (`--format table|json|csv`).

use std::borrow::Borrow;
use std::io::{self, Write};

use tokentrail_parsers::csv::{csv_cell, csv_values, CSV_COLUMNS};
use tokentrail_parsers::Event;

/// Output format of commands that print results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// Writes a CSV header and rows; `extra` adds columns (name, value per event). The events
/// may be owned (a search's) or shared (a trace's).
pub fn write_csv<E: Borrow<Event>>(
    out: &mut dyn Write,
    events: &[E],
    extra: &[(&str, Vec<String>)],
) -> io::Result<()> {
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(extra.iter().map(|(name, _)| name.to_string()));
    writeln!(out, "{}", header.join(","))?;
    for (index, event) in events.iter().enumerate() {
        let mut cells: Vec<String> = csv_values(event.borrow())
            .iter()
            .map(|v| csv_cell(v))
            .collect();
        for (_, values) in extra {
            cells.push(csv_cell(
                values.get(index).map(String::as_str).unwrap_or(""),
            ));
        }
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

/// Control characters shown in a terminal could rewrite the screen: print them escaped.
pub fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn clip(text: &str, width: usize) -> String {
    let safe = terminal_safe(text);
    if safe.chars().count() <= width {
        return safe;
    }
    let mut clipped: String = safe.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// What an event is about, in a few words: its path, job, or client.
pub fn subject_of(event: &Event) -> String {
    if !event.path.is_empty() {
        return event.path.clone();
    }
    if !event.job_id.is_empty() || !event.batch_job_id.is_empty() {
        let mut job = event.job_id.clone();
        if !event.batch_job_id.is_empty() {
            if !job.is_empty() {
                job.push_str(" → ");
            }
            job.push_str(&event.batch_job_id);
        }
        if !event.worker_node.is_empty() {
            job.push_str(" @ ");
            job.push_str(&event.worker_node);
        }
        return job;
    }
    if !event.client_id.is_empty() {
        return format!("client {}", event.client_id);
    }
    String::new()
}

/// Writes events as an aligned table, one line each.
pub fn write_table(out: &mut dyn Write, events: &[Event]) -> io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<20} {:<16} {:<4} {:<36} {:<38} {:<15} {:<40} ORIGIN",
        "TIME", "SOURCE", "ACTION", "OK", "SUB", "JTI", "CLIENT_IP", "WHAT"
    )?;
    for event in events {
        writeln!(
            out,
            "{:<24} {:<20} {:<16} {:<4} {:<36} {:<38} {:<15} {:<40} {}:{}",
            event
                .time
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
            clip(&event.source, 20),
            clip(&event.action, 16),
            clip(&event.outcome, 4),
            clip(&event.sub, 36),
            clip(&event.jti, 38),
            clip(&event.client_ip, 15),
            clip(&subject_of(event), 40),
            terminal_safe(&event.origin.file),
            event.origin.line
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_output_escapes_control_characters() {
        assert_eq!(terminal_safe("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
    }
}
