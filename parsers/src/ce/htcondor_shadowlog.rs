//! `htcondor-shadowlog`: the condor_shadow log of a batch access point
//! (`/var/log/condor/ShadowLog`, rotated `.old`), formats/ce.md §7 (ShadowLog paragraph) and §1.
//!
//! Header as in §1 ([`super::htcondor_log`]), then the shadow's `(C.P) (PID): ` prefix:
//! ```text
//! (88712.0) (2231844): Request to run on slot1_7@wn042.example.org <10.20.4.42:9618?…> was ACCEPTED
//! (88712.0) (2231844): Job 88712.0 terminated: exited with status 0
//! (88712.0) (2231844): Job 88712.0 terminated: killed by signal 9
//! ```
//! `job.start` (REFUSED: outcome `fail`) and `job.end` events with `batch_job_id` =
//! `<host>#C.P` (the batch schedd's job on this host), `worker_node` from the slot name (else
//! the sinful `alias=`), `client_ip` = the worker node's IP from the sinful string. `job.end`
//! repeats the worker node of the job's start seen earlier in the stream; its `status` is
//! `exited with status N` / `killed by signal N`, outcome `ok` only for exit status 0.
//! Other lines with the shadow prefix, and any header line in a file named ShadowLog, are
//! `Ignored`.

use std::collections::HashMap;

use super::htcondor_log::{
    file_hint, job_number, line_host, qualified_job_id, sinful_alias, sinful_ip, slot_host,
    sniff_message, DaemonLogParser, Handler, Header,
};
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-shadowlog` format.
pub static FORMAT: Format = Format {
    id: "htcondor-shadowlog",
    service: Service::Batch,
    summary: "HTCondor ShadowLog (job start/end on a worker node)",
    programs: &["condor_shadow"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(DaemonLogParser::new(
            ShadowHandler {
                placements: HashMap::new(),
            },
            context,
        ))
    },
};

/// Jobs whose start is remembered for their end event.
const MAX_PLACEMENTS: usize = 50_000;

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "ShadowLog")
}

fn sniff(text: &str, file_name: &str) -> bool {
    match sniff_message(text) {
        Some(message) => hinted(file_name) || shadow_prefix(message).is_some(),
        None => false,
    }
}

/// `(C.P) (PID): rest` → (job, rest).
fn shadow_prefix(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix('(')?;
    let (job, rest) = rest.split_once(") (")?;
    let job = job_number(job)?;
    let (pid, rest) = rest.split_once("): ")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((job, rest))
}

#[derive(Clone, Default)]
struct Placement {
    worker_node: String,
    ip: String,
}

struct ShadowHandler {
    placements: HashMap<String, Placement>,
}

impl Handler for ShadowHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        let Some((job, text)) = shadow_prefix(header.message.trim_end()) else {
            return if hinted(&context.file_name) {
                Feed::Ignored
            } else {
                Feed::NotMine
            };
        };
        let host = line_host(line, context);
        let mut event = line.event(FORMAT.id, Service::Batch);
        event.batch_job_id = qualified_job_id(host, job);

        if let Some(rest) = text.strip_prefix("Request to run on ") {
            let Some((slot, _)) = rest.split_once(' ') else {
                return Feed::Malformed;
            };
            // The slot name is missing when the shadow only knows the startd's address.
            let worker_node = if slot.contains('@') && !slot.starts_with('<') {
                slot_host(slot)
            } else {
                sinful_alias(rest)
                    .map(str::to_ascii_lowercase)
                    .unwrap_or_default()
            };
            let ip = sinful_ip(rest).unwrap_or_default().to_string();
            event.action = action::JOB_START.into();
            if rest.ends_with("was ACCEPTED") {
                event.outcome = outcome::OK.into();
                event.status = "accepted".to_string();
                if self.placements.len() >= MAX_PLACEMENTS {
                    self.placements.clear();
                }
                self.placements.insert(
                    job.to_string(),
                    Placement {
                        worker_node: worker_node.clone(),
                        ip: ip.clone(),
                    },
                );
            } else if rest.ends_with("was REFUSED") {
                event.outcome = outcome::FAIL.into();
                event.status = "refused".to_string();
            } else {
                return Feed::Malformed;
            }
            event.worker_node = if worker_node.is_empty() {
                ip.clone()
            } else {
                worker_node
            };
            event.client_ip = ip;
            out.push(event);
            return Feed::Parsed;
        }

        if let Some(rest) = text.strip_prefix("Job ") {
            let Some((_, how)) = rest.split_once(" terminated: ") else {
                return Feed::Ignored;
            };
            event.action = action::JOB_END.into();
            event.status = how.trim_end_matches('.').to_string();
            let clean_exit = how
                .strip_prefix("exited with status ")
                .is_some_and(|code| code.trim_end_matches('.').trim() == "0");
            event.outcome = if clean_exit {
                outcome::OK
            } else {
                outcome::FAIL
            }
            .into();
            if let Some(placement) = self.placements.remove(job) {
                event.worker_node = placement.worker_node;
                event.client_ip = placement.ip;
            }
            out.push(event);
            return Feed::Parsed;
        }
        Feed::Ignored
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
        crate::testing::utc_context("ap01.example.org", file_name)
    }

    fn parse(text: &str, file_name: &str) -> (Vec<Event>, crate::stream::Stats) {
        parse_text(text, None, context(file_name)).unwrap()
    }

    fn reference() -> Vec<Event> {
        parse(
            include_str!("../../../tests/fixtures/htcondor-shadowlog/ShadowLog"),
            "ShadowLog",
        )
        .0
    }

    #[test]
    fn reference_example_1_accepted_request_starts_the_job() {
        let event = &reference()[0];
        assert_eq!(event.source, "htcondor-shadowlog");
        assert_eq!(event.service, "batch");
        assert_eq!(event.action, action::JOB_START);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.batch_job_id, "ap01.example.org#88712.0");
        assert_eq!(event.worker_node, "wn042.example.org");
        assert_eq!(event.client_ip, "10.20.4.42");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:20:11.000Z");
    }

    #[test]
    fn reference_example_2_termination_ends_the_job_on_its_worker_node() {
        let events = reference();
        let event = &events[1];
        assert_eq!(event.action, action::JOB_END);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.status, "exited with status 0");
        assert_eq!(event.batch_job_id, "ap01.example.org#88712.0");
        assert_eq!(event.worker_node, "wn042.example.org");
        assert_eq!(event.client_ip, "10.20.4.42");
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn refused_signals_ipv6_and_other_lines() {
        let text = "03/04/25 10:20:11 (7.0) (99): Request to run on slot1@wn7.example.org <[2001:db8::7]:9618?addrs=x> was REFUSED\n\
03/04/25 10:20:12 (7.0) (99): Request to run on <[2001:db8::7]:9618?alias=WN7.example.org> was ACCEPTED\n\
03/04/25 10:20:13 (7.0) (99): Job 7.0 terminated: killed by signal 9\n\
03/04/25 10:20:14 (7.0) (99): Some other shadow message\n\
03/04/25 10:20:15 ** condor_shadow (CONDOR_SHADOW) STARTING UP\n";
        let (events, stats) = parse(text, "ShadowLog.old");
        assert_eq!(events[0].outcome, outcome::FAIL);
        assert_eq!(events[0].client_ip, "2001:db8::7");
        assert_eq!(events[1].worker_node, "wn7.example.org");
        assert_eq!(events[2].outcome, outcome::FAIL);
        assert_eq!(events[2].status, "killed by signal 9");
        assert_eq!(events[2].worker_node, "wn7.example.org");
        assert_eq!(stats.formats["htcondor-shadowlog"].parsed, 5);
    }

    #[test]
    fn sniff_needs_the_shadow_prefix_or_the_name() {
        assert!(sniff("03/04/25 10:20:11 (1.0) (2): x", "messages"));
        assert!(!sniff(
            "03/04/25 10:20:11 (cid:1) Submitting new job 1.0",
            "messages"
        ));
        assert!(sniff("03/04/25 10:20:11 anything", "ShadowLog"));
        let (events, _) = parse("03/04/25 10:20:11 (1.0) (2) no colon", "messages");
        assert_eq!(events[0].source, "raw");
    }

    #[test]
    fn truncated_request_is_malformed() {
        let (_, stats) = parse(
            "03/04/25 10:20:11 (1.0) (2): Request to run on slot1@wn\n",
            "ShadowLog",
        );
        assert_eq!(stats.formats["htcondor-shadowlog"].errors, 1);
    }
}
