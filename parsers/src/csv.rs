//! CSV cells and the event columns of DESIGN.md section 3, shared by the CLI's `--format csv`,
//! the web's trace download and the ban-list export.

use crate::event::{Event, Timestamp};

/// Quotes a CSV cell when needed (RFC 4180). Cells starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return are prefixed with `'` so that a spreadsheet never evaluates log content
/// (attacker-controlled) as a formula.
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The CSV columns of an event (section 3 of DESIGN.md, lists joined by spaces, origin split).
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "time",
    "source",
    "service",
    "host",
    "action",
    "outcome",
    "status",
    "iss",
    "sub",
    "jti",
    "client_id",
    "username",
    "local_user",
    "groups",
    "scopes",
    "aud",
    "token_iat",
    "token_exp",
    "grant_type",
    "parent_jti",
    "job_id",
    "batch_job_id",
    "worker_node",
    "path",
    "bytes",
    "duration_ms",
    "protocol",
    "client_ip",
    "client_host",
    "transfer_id",
    "session_id",
    "origin_file",
    "origin_line",
    "origin_offset",
    "raw",
];

/// The CSV cells of one event, in [`CSV_COLUMNS`] order.
pub fn csv_values(event: &Event) -> Vec<String> {
    let time = |t: Option<Timestamp>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    vec![
        event.id.clone(),
        time(event.time),
        event.source.to_string(),
        event.service.to_string(),
        event.host.clone(),
        event.action.to_string(),
        event.outcome.to_string(),
        event.status.clone(),
        event.iss.clone(),
        event.sub.clone(),
        event.jti.clone(),
        event.client_id.clone(),
        event.username.clone(),
        event.local_user.clone(),
        event.groups.join(" "),
        event.scopes.join(" "),
        event.aud.join(" "),
        time(event.token_iat),
        time(event.token_exp),
        event.grant_type.clone(),
        event.parent_jti.clone(),
        event.job_id.clone(),
        event.batch_job_id.clone(),
        event.worker_node.clone(),
        event.path.clone(),
        number(event.bytes),
        number(event.duration_ms),
        event.protocol.to_string(),
        event.client_ip.clone(),
        event.client_host.clone(),
        event.transfer_id.clone(),
        event.session_id.clone(),
        event.origin.file.clone(),
        event.origin.line.to_string(),
        event.origin.offset.to_string(),
        event.raw.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formula_guarded() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("\t=1"), "'\t=1");
    }

    #[test]
    fn one_value_per_column() {
        let event = Event::new("iam-audit", crate::event::Service::Issuer);
        assert_eq!(csv_values(&event).len(), CSV_COLUMNS.len());
    }
}
