//! `htcondor-audit-payload`: the HTCondor-CE collector's AuditPayloadLog
//! (`/var/log/condor-ce/AuditPayloadLog`, rotated `.<YYYYMMDDTHHMMSS>`), formats/ce.md §8: the
//! payload jobs that pilots report running in their slots.
//!
//! Header as in §1 ([`super::htcondor_log`]), usually `(cid:0)`, then a Python-style dict:
//! ```text
//! Job start: {'Name': 'slot1_1@glidein_1234_567@wn042.example.org', 'SlotID': '1', 'GlobalJobId': 'submit-3.example.org#6612.0#1741080000', 'RemoteOwner': 'cmsuser@example.org', 'ClientMachine': 'submit-3.example.org'}
//! Job stop: {'Name': …, 'SlotID': …, 'GlobalJobID': ''}
//! Cleaning up 259200-second expired job: {'Name': …, 'GlobalJobId': …}
//! ```
//! `job.start` / `job.end` (the clean-up: `job.end`, status `expired after N s`) with
//! `worker_node` from the slot name (after its last `@`), `job_id` = `<schedd>#C.P` from the
//! payload's GlobalJobId (the VO submit host's job; empty when the stop line gives none),
//! `username` = `RemoteOwner` (the payload owner as the VO's pool knows it), `client_host` =
//! `ClientMachine`, `groups` = `Group` / `x509UserProxyVOName`. No token fields are logged.
//! A1 lines (`Examining SciToken …`) in this file go to `htcondor-ce-audit`.

use super::htcondor_audit::is_audit_message;
use super::htcondor_log::{file_hint, slot_host, sniff_message, DaemonLogParser, Handler, Header};
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-audit-payload` format.
pub static FORMAT: Format = Format {
    id: "htcondor-audit-payload",
    service: Service::Ce,
    summary: "HTCondor-CE collector AuditPayloadLog (pilot payload tracking)",
    programs: &["condor_collector"],
    sniff,
    new_parser: |context: &Context| Box::new(DaemonLogParser::new(PayloadHandler, context)),
};

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "AuditPayloadLog")
}

fn is_payload_message(message: &str) -> bool {
    message.starts_with("Job start: {")
        || message.starts_with("Job stop: {")
        || (message.starts_with("Cleaning up ") && message.contains(" expired job: {"))
}

fn sniff(text: &str, file_name: &str) -> bool {
    match sniff_message(text) {
        Some(message) => hinted(file_name) || is_payload_message(message),
        None => false,
    }
}

/// `{'Key': 'value', …}` → pairs; `None` when the dict is not closed.
fn python_dict(text: &str) -> Option<Vec<(String, String)>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs = Vec::new();
    let mut chars = body.chars().peekable();
    let read_quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let quote = chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => value.push(chars.next()?),
                c if c == quote => return Some(value),
                c => value.push(c),
            }
        }
    };
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let key = read_quoted(&mut chars)?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != ':' {
            return None;
        }
        let value = read_quoted(&mut chars)?;
        pairs.push((key, value));
    }
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// `submit-3.example.org#6612.0#1741080000` → `submit-3.example.org#6612.0`.
fn job_from_global_id(global: &str) -> String {
    let mut parts = global.splitn(3, '#');
    match (parts.next(), parts.next()) {
        (Some(schedd), Some(job)) if !schedd.is_empty() && !job.is_empty() => {
            format!("{schedd}#{job}")
        }
        _ => String::new(),
    }
}

struct PayloadHandler;

impl Handler for PayloadHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        let message = header.message.trim_end();
        let (name, status, dict) = if let Some(dict) = message.strip_prefix("Job start: ") {
            (action::JOB_START, String::new(), dict)
        } else if let Some(dict) = message.strip_prefix("Job stop: ") {
            (action::JOB_END, String::new(), dict)
        } else if let Some(rest) = message.strip_prefix("Cleaning up ") {
            match rest.split_once("-second expired job: ") {
                Some((seconds, dict)) => {
                    (action::JOB_END, format!("expired after {seconds} s"), dict)
                }
                None if hinted(&context.file_name) => return Feed::Ignored,
                None => return Feed::NotMine,
            }
        } else if hinted(&context.file_name) && !is_audit_message(message) {
            return Feed::Ignored;
        } else {
            return Feed::NotMine;
        };
        let Some(pairs) = python_dict(dict) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Ce);
        event.action = name.into();
        event.outcome = outcome::OK.into();
        event.status = status;
        let slot = get(&pairs, "Name");
        if !slot.is_empty() {
            event.worker_node = slot_host(slot);
        }
        // Job stop writes `GlobalJobID` (capital D), start `GlobalJobId`: compare caselessly.
        event.job_id = job_from_global_id(get(&pairs, "GlobalJobId"));
        event.username = get(&pairs, "RemoteOwner").to_string();
        event.client_host = get(&pairs, "ClientMachine").to_string();
        for key in ["Group", "x509UserProxyVOName"] {
            let value = get(&pairs, key);
            if !value.is_empty() {
                event.groups.push(value.to_string());
            }
        }
        out.push(event);
        Feed::Parsed
    }

    fn hinted(&self, context: &Context) -> bool {
        hinted(&context.file_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    fn context(file_name: &str) -> Context {
        crate::testing::utc_context("ce01.example.org", file_name)
    }

    fn parse(text: &str, file_name: &str) -> (Vec<Event>, crate::stream::Stats) {
        parse_text(text, None, context(file_name)).unwrap()
    }

    fn reference() -> Vec<Event> {
        parse(
            include_str!("../../../tests/fixtures/htcondor-audit-payload/AuditPayloadLog"),
            "AuditPayloadLog",
        )
        .0
    }

    #[test]
    fn reference_example_1_job_start_names_payload_and_worker_node() {
        let event = &reference()[0];
        assert_eq!(event.source, "htcondor-audit-payload");
        assert_eq!(event.action, action::JOB_START);
        assert_eq!(event.worker_node, "wn042.example.org");
        assert_eq!(event.job_id, "submit-3.example.org#6612.0");
        assert_eq!(event.username, "cmsuser@example.org");
        assert_eq!(event.client_host, "submit-3.example.org");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:25:40.000Z");
    }

    #[test]
    fn reference_example_2_job_stop_with_empty_global_job_id() {
        let events = reference();
        let event = &events[1];
        assert_eq!(event.action, action::JOB_END);
        assert_eq!(event.worker_node, "wn042.example.org");
        assert_eq!(event.job_id, "");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T12:02:11.000Z");
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn expired_cleanup_groups_and_escaped_quotes() {
        let text = "03/04/25 10:25:40 (cid:0) Cleaning up 259200-second expired job: {'Name': 'slot2@WN1.example.org', 'GlobalJobId': 's#1.0#2'}\n\
03/04/25 10:25:41 (cid:0) Job start: {'Name': 'slot1@wn1', 'GlobalJobId': 's#2.0#3', 'Group': 'cms', 'x509userproxysubject': '/DC=org/CN=O\\'Neil'}\n";
        let (events, _) = parse(text, "AuditPayloadLog.20250304T000000");
        assert_eq!(events[0].action, action::JOB_END);
        assert_eq!(events[0].status, "expired after 259200 s");
        assert_eq!(events[0].worker_node, "wn1.example.org");
        assert_eq!(events[0].job_id, "s#1.0");
        assert_eq!(events[1].groups, vec!["cms"]);
    }

    #[test]
    fn truncated_dict_is_malformed_and_sniff_is_specific() {
        let (events, stats) = parse(
            "03/04/25 10:25:40 (cid:0) Job start: {'Name': 'slot1@wn1', 'Glo\n",
            "AuditPayloadLog",
        );
        assert_eq!(stats.formats["htcondor-audit-payload"].errors, 1);
        assert_eq!(events[0].status, "unparsed");
        assert!(sniff("03/04/25 10:25:40 (cid:0) Job start: {}", "x"));
        assert!(!sniff("03/04/25 10:25:40 (cid:0) Job started", "x"));
        assert!(!sniff("Job start: {}", "AuditPayloadLog"));
    }

    #[test]
    fn scitoken_lines_in_the_collector_log_go_to_the_audit_format() {
        let text = "03/04/25 10:25:40 (cid:5) Examining SciToken with payload {\"iss\":\"https://i\",\"sub\":\"s\",\"jti\":\"j\"}.\n\
03/04/25 10:25:41 (cid:0) Job start: {'Name': 'slot1@wn1'}\n";
        let (events, _) = parse(text, "AuditPayloadLog");
        assert_eq!(events[0].source, "htcondor-ce-audit");
        assert_eq!(events[0].jti, "j");
        assert_eq!(events[1].source, "htcondor-audit-payload");
    }
}
