//! `htcondor-schedlog`: the HTCondor(-CE) schedd's SchedLog (`/var/log/condor-ce/SchedLog`,
//! rotated `SchedLog.old` / `SchedLog.<YYYYMMDDTHHMMSS>`), formats/ce.md §3.
//!
//! Header as in §1 ([`super::htcondor_log`]). Token lines (D_ERROR / D_SECURITY):
//! ```text
//! Failed to map SCITOKENS authenticated identity '<iss>,<sub>', failing … → auth.fail, iss, sub
//! Mapped SCITOKENS authenticated identity '<iss>,<sub>' to <user>, …       → auth.login, local_user
//! SciToken is mapped to issuer '<iss>'                                     → other, iss, status token-validated
//! …Failed to verify token and generate ACLs: <error>                       → auth.fail, status = error
//! ATTRS: SetAttribute <C>.<P> AuthToken<X>="<value>"                       → job.submit (see below)
//! ```
//! The `ATTRS:` lines of one job that follow each other make one `job.submit` event (its `raw`
//! holds them all) with `jti` (AuthTokenId), `iss`, `sub`, `scopes` and `groups` (split on `,`)
//! and `status` = `AuthToken attributes`. A cluster ad (`1523.-1`) is reported on proc 0
//! (`<host>#1523.0`): every cluster has a proc 0, and the trace engine joins on exact ids.
//!
//! With `SCHEDD_DEBUG = D_AUDIT` (the CE default) the SchedLog also holds the audit messages
//! A1–A15; they are read with [`super::htcondor_audit::AuditState`] and carry the source
//! `htcondor-ce-audit`. The payload line has no cid here: it is tied to the next matching
//! `AuthMethod=` line. The startup banner (`** condor_schedd … STARTING UP`) starts a new
//! daemon run for cid joining. Other header lines are `Ignored` when the file name says
//! SchedLog, else not this format.

use super::htcondor_audit::AuditState;
use super::htcondor_log::{
    file_hint, job_number, line_host, qualified_job_id, sniff_message, DaemonLogParser, Handler,
    Header,
};
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-schedlog` format.
pub static FORMAT: Format = Format {
    id: "htcondor-schedlog",
    service: Service::Ce,
    summary: "HTCondor(-CE) SchedLog token lines",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(DaemonLogParser::new(
            SchedLogHandler {
                audit: AuditState::default(),
            },
            context,
        ))
    },
};

/// `status` of the event made of a job's `ATTRS: SetAttribute … AuthToken*` lines.
pub const TOKEN_ATTRIBUTES: &str = "AuthToken attributes";

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "SchedLog")
}

fn is_token_line(message: &str) -> bool {
    message.starts_with("Failed to map SCITOKENS authenticated identity '")
        || message.starts_with("Mapped SCITOKENS authenticated identity '")
        || message.starts_with("SciToken is mapped to issuer '")
        || message.contains("Failed to verify token and generate ACLs")
        || token_attribute(message).is_some()
}

fn sniff(text: &str, file_name: &str) -> bool {
    match sniff_message(text) {
        Some(message) => hinted(file_name) || is_token_line(message),
        None => false,
    }
}

/// `ATTRS: SetAttribute 1523.-1 AuthTokenId="…"` → (job, attribute, value).
fn token_attribute(message: &str) -> Option<(&str, &str, &str)> {
    let rest = message.strip_prefix("ATTRS: SetAttribute ")?;
    let (job, assignment) = rest.split_once(' ')?;
    let job = job_number(job)?;
    let (attribute, value) = assignment.split_once('=')?;
    let attribute = attribute.trim();
    if !attribute.starts_with("AuthToken") {
        return None;
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Some((job, attribute, value))
}

/// The job a cluster or proc ad stands for in `job_id`.
fn reported_job(job: &str) -> String {
    match job.strip_suffix(".-1") {
        Some(cluster) => format!("{cluster}.0"),
        None => job.to_string(),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn apply_attribute(event: &mut Event, attribute: &str, value: &str) {
    match attribute {
        "AuthTokenId" => event.jti = value.to_string(),
        "AuthTokenIssuer" => event.iss = value.to_string(),
        "AuthTokenSubject" => event.sub = value.to_string(),
        "AuthTokenScopes" => event.scopes = split_list(value),
        "AuthTokenGroups" => event.groups = split_list(value),
        _ => {}
    }
}

/// `'<iss>,<sub>'…` → (iss, sub, the text after the closing quote).
fn quoted_identity(rest: &str) -> Option<(&str, &str, &str)> {
    let inner = rest.strip_prefix('\'')?;
    // The closing quote is the last one before the message's fixed tail.
    let close = inner.rfind('\'')?;
    let identity = &inner[..close];
    let (iss, sub) = identity.split_once(',')?;
    Some((iss, sub, &inner[close + 1..]))
}

struct SchedLogHandler {
    audit: AuditState,
}

impl SchedLogHandler {
    fn token_line(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Option<Feed> {
        let message = header.message.trim_end();
        let host = line_host(line, context);
        let mut event = line.event(FORMAT.id, Service::Ce);
        if let Some((job, attribute, value)) = token_attribute(message) {
            event.action = action::JOB_SUBMIT.into();
            event.outcome = outcome::OK.into();
            event.status = TOKEN_ATTRIBUTES.to_string();
            event.job_id = qualified_job_id(host, &reported_job(job));
            apply_attribute(&mut event, attribute, value);
        } else if let Some(rest) =
            message.strip_prefix("Failed to map SCITOKENS authenticated identity ")
        {
            let Some((iss, sub, _)) = quoted_identity(rest) else {
                return Some(Feed::Malformed);
            };
            event.action = action::AUTH_FAIL.into();
            event.outcome = outcome::FAIL.into();
            event.status = "failed to map scitokens identity".to_string();
            event.iss = iss.to_string();
            event.sub = sub.to_string();
        } else if let Some(rest) = message.strip_prefix("Mapped SCITOKENS authenticated identity ")
        {
            let Some((iss, sub, tail)) = quoted_identity(rest) else {
                return Some(Feed::Malformed);
            };
            event.action = action::AUTH_LOGIN.into();
            event.outcome = outcome::OK.into();
            event.status = "mapped".to_string();
            event.iss = iss.to_string();
            event.sub = sub.to_string();
            let user = tail.trim_start().strip_prefix("to ").unwrap_or_default();
            event.local_user = user
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
        } else if let Some(rest) = message.strip_prefix("SciToken is mapped to issuer '") {
            event.action = action::OTHER.into();
            event.status = "token-validated".to_string();
            event.iss = rest.trim_end_matches('\'').to_string();
        } else if let Some(at) = message.find("Failed to verify token and generate ACLs") {
            event.action = action::AUTH_FAIL.into();
            event.outcome = outcome::FAIL.into();
            let error = message[at..]
                .split_once(": ")
                .map(|(_, error)| error)
                .unwrap_or("failed to verify token");
            event.status = error.to_string();
        } else {
            return None;
        }
        out.push(event);
        Some(Feed::Parsed)
    }
}

impl Handler for SchedLogHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        self.audit.observe(header);
        if let Some(feed) = self.audit.handle(header, line, context, out) {
            return feed;
        }
        if let Some(feed) = self.token_line(header, line, context, out) {
            return feed;
        }
        if self.hinted(context) {
            Feed::Ignored
        } else {
            Feed::NotMine
        }
    }

    fn merge(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        open: &mut [Event],
    ) -> bool {
        let Some((job, attribute, value)) = token_attribute(header.message.trim_end()) else {
            return false;
        };
        let [event] = open else { return false };
        let job_id = qualified_job_id(line_host(line, context), &reported_job(job));
        if event.source != FORMAT.id || event.status != TOKEN_ATTRIBUTES || event.job_id != job_id {
            return false;
        }
        apply_attribute(event, attribute, value);
        true
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
            include_str!("../../../tests/fixtures/htcondor-schedlog/SchedLog"),
            "SchedLog",
        )
        .0
    }

    #[test]
    fn reference_example_1_token_mapped_to_issuer() {
        let events = reference();
        assert_eq!(events[0].source, "htcondor-schedlog");
        assert_eq!(events[0].action, action::OTHER);
        assert_eq!(events[0].status, "token-validated");
        assert_eq!(events[0].iss, "https://cms-auth.cern.ch");
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2025-03-04T10:15:02.000Z"
        );
    }

    #[test]
    fn reference_examples_2_and_3_attrs_lines_make_one_submit_event() {
        let events = reference();
        let submit = &events[1];
        assert_eq!(submit.action, action::JOB_SUBMIT);
        assert_eq!(submit.status, TOKEN_ATTRIBUTES);
        assert_eq!(submit.job_id, "ce01.example.org#1523.0");
        assert_eq!(submit.jti, "034a2f47-eaad-4f5d-bb98-abf569609366");
        assert_eq!(submit.sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(submit.origin.line, 2);
        assert_eq!(submit.raw.lines().count(), 2);
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn reference_example_4_mapping_failure() {
        let events = reference();
        let failed = &events[2];
        assert_eq!(failed.action, action::AUTH_FAIL);
        assert_eq!(failed.outcome, outcome::FAIL);
        assert_eq!(failed.iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(failed.sub, "8f67ea7b-71e7-4394-bbcf-8963ab1a175e");
        assert_eq!(
            failed.time.unwrap().to_rfc3339(),
            "2025-03-04T14:40:09.000Z"
        );
    }

    #[test]
    fn every_token_attribute_and_proc_ads() {
        let text =
            "03/04/25 10:15:02 ATTRS: SetAttribute 7.1 AuthTokenIssuer=\"https://i.example/\"\n\
03/04/25 10:15:02 ATTRS: SetAttribute 7.1 AuthTokenScopes=\"compute.create,compute.read\"\n\
03/04/25 10:15:02 ATTRS: SetAttribute 7.1 AuthTokenGroups=\"/cms,/cms/pilot\"\n\
03/04/25 10:15:02 ATTRS: SetAttribute 8.-1 AuthTokenId=\"other\"\n";
        let (events, _) = parse(text, "SchedLog.old");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].job_id, "ce01.example.org#7.1");
        assert_eq!(events[0].iss, "https://i.example");
        assert_eq!(events[0].scopes, vec!["compute.create", "compute.read"]);
        assert_eq!(events[0].groups, vec!["/cms", "/cms/pilot"]);
        assert_eq!(events[1].job_id, "ce01.example.org#8.0");
        assert_eq!(events[1].jti, "other");
    }

    #[test]
    fn mapped_identity_gives_local_user_and_verify_errors_fail() {
        let text = "03/04/25 10:15:02 (D_SECURITY:2) Mapped SCITOKENS authenticated identity 'https://cms-auth.cern.ch/,95851aad' to cmspilot, assuming authorization will succeed.\n\
03/04/25 10:15:03 (D_SECURITY) SCITOKENS:2:Failed to verify token and generate ACLs: token expired\n";
        let (events, _) = parse(text, "messages");
        assert_eq!(events[0].action, action::AUTH_LOGIN);
        assert_eq!(events[0].local_user, "cmspilot");
        assert_eq!(events[0].sub, "95851aad");
        assert_eq!(events[1].action, action::AUTH_FAIL);
        assert_eq!(events[1].status, "token expired");
    }

    #[test]
    fn audit_lines_in_a_schedlog_link_across_the_cidless_payload_and_restart() {
        let text =
            include_str!("../../../tests/fixtures/htcondor-schedlog/SchedLog.20250304T120000");
        let (events, stats) = parse(text, "SchedLog.20250304T120000");
        assert_eq!(stats.formats["htcondor-schedlog"].errors, 0);
        let submits: Vec<(&str, &str, &str, &str)> = events
            .iter()
            .filter(|e| e.action == action::JOB_SUBMIT && e.source == "htcondor-ce-audit")
            .map(|e| {
                (
                    e.job_id.as_str(),
                    e.jti.as_str(),
                    e.status.as_str(),
                    e.session_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            submits,
            vec![
                (
                    "ce01.example.org#1523.0",
                    "034a2f47-eaad-4f5d-bb98-abf569609366",
                    "",
                    "ce01.example.org:cid:130@2025-03-04T09:00:00.000Z"
                ),
                (
                    "ce01.example.org#1524.0",
                    "",
                    "cached-session",
                    "ce01.example.org:cid:130@2025-03-04T11:00:00.000Z"
                ),
            ]
        );
        // Banner, other lines and the rotation banner are kept raw but counted as parsed.
        let counts = &stats.formats["htcondor-schedlog"];
        assert_eq!(counts.parsed, counts.lines);
        assert!(events
            .iter()
            .any(|e| e.source == "htcondor-schedlog" && e.raw.contains("STARTING UP")));
    }

    #[test]
    fn other_lines_are_not_mine_without_a_schedlog_name() {
        let (events, _) = parse("03/04/25 10:15:02 Number of Active Workers 0", "messages");
        assert_eq!(events[0].source, "raw");
        assert!(!sniff(
            "03/04/25 10:15:02 Number of Active Workers 0",
            "messages"
        ));
        assert!(sniff(
            "03/04/25 10:15:02 Number of Active Workers 0",
            "SchedLog"
        ));
        assert!(!sniff(
            "03/04/25 10:15:02 ATTRS: SetAttribute 1.0 Owner=\"x\"",
            "messages"
        ));
        assert!(!sniff(
            "2025-03-04T10:15:02Z SciToken is mapped to issuer 'x'",
            "x"
        ));
    }

    #[test]
    fn broken_identity_is_malformed_and_garbage_never_panics() {
        let (events, stats) = parse(
            "03/04/25 14:40:09 Failed to map SCITOKENS authenticated identity 'no-comma', failing\n",
            "SchedLog",
        );
        assert_eq!(stats.formats["htcondor-schedlog"].errors, 1);
        assert_eq!(events[0].status, "unparsed");
        for text in [
            "03/04/25 14:40:09 Mapped SCITOKENS authenticated identity '",
            "03/04/25 14:40:09 ATTRS: SetAttribute 1.0 AuthTokenId",
            "03/04/25 14:40:09 SciToken is mapped to issuer '",
        ] {
            let _ = parse(text, "SchedLog");
        }
    }
}
