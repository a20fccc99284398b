//! CSV export of a trace: the event columns of DESIGN.md section 3 (origin split, lists joined
//! by spaces) plus the link's rule and confidence. Cells that a spreadsheet would read as a
//! formula are prefixed with `'` (log content is attacker-controlled).

use tokentrail_index::trace::LinkedEvent;

const COLUMNS: &[&str] = &[
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
    "link_rule",
    "link_confidence",
];

/// One CSV cell: formula-guarded, quoted when needed (RFC 4180).
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

/// The trace's events as CSV with a header line.
pub fn trace_csv(events: &[LinkedEvent]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for linked in events {
        let event = &linked.event;
        let time = |t: Option<tokentrail_parsers::Timestamp>| {
            t.map(|t| t.to_rfc3339()).unwrap_or_default()
        };
        let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let cells = [
            event.id.clone(),
            time(event.time),
            event.source.clone(),
            event.service.clone(),
            event.host.clone(),
            event.action.clone(),
            event.outcome.clone(),
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
            event.protocol.clone(),
            event.client_ip.clone(),
            event.client_host.clone(),
            event.transfer_id.clone(),
            event.session_id.clone(),
            event.origin.file.clone(),
            event.origin.line.to_string(),
            event.origin.offset.to_string(),
            event.raw.clone(),
            linked.link.rule.clone(),
            linked.link.confidence.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_formulas_and_quotes() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("plain"), "plain");
    }

    #[test]
    fn header_has_every_column() {
        let csv = trace_csv(&[]);
        assert!(csv.starts_with("id,time,source"));
        assert!(csv.trim_end().ends_with("link_rule,link_confidence"));
    }
}
