//! `htcondor-gridmanager`: the HTCondor-CE GridmanagerLog (`/var/log/condor-ce/GridmanagerLog.<owner>`),
//! formats/ce.md §6: the BLAHP side of non-HTCondor routes (Slurm, PBS, LSF, …).
//!
//! Header as in §1 ([`super::htcondor_log`]), then the gridmanager's `[PID] ` prefix:
//! ```text
//! [3301] (1601.0) gm state change: GM_SUBMIT_SAVE -> GM_SUBMITTED
//! [3301] GAHP[3317] <- 'BLAH_JOB_STATUS 12 slurm/20250304/7734121'
//! [3301] GAHP[3317] -> 'S'
//! ```
//! State changes give an event for the grid job `job_id` = `<host>#C.P` (the routed job in the
//! CE schedd): `-> GM_SUBMITTED` is `job.route`, `GM_HOLD` `job.hold`, `GM_CANCEL` `job.remove`,
//! `GM_DONE_SAVE` `job.end`, `GM_FAILED` outcome `fail`, others `other`; `status` = `FROM -> TO`.
//! GAHP commands and replies that carry a BLAHP id `<lrms>/<YYYYMMDD>/<id>` are `other` events
//! with `batch_job_id` = `<lrms>:<id>` (`slurm:7734121`, docs/conventions.md) and `status` = the
//! command; a status reply's `WorkerNode = "…"` (PBS/LSF/SGE) fills `worker_node`.
//! The grid job ↔ BLAHP id link is learnt in the stream: a `BLAH_JOB_SUBMIT <reqid>` command is
//! tied to the job whose state changed last (the gridmanager submits while evaluating that
//! job's state), and the reply of that request that names a BLAHP id binds the two; later
//! events of either id then carry both. [I] This depends on D_FULLDEBUG and on that ordering.
//! GAHP lines without a BLAHP id and other header lines are `Ignored`.

use std::collections::HashMap;

use super::htcondor_log::{
    file_hint, job_number, line_host, qualified_job_id, sniff_message, DaemonLogParser, Handler,
    Header,
};
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-gridmanager` format.
pub static FORMAT: Format = Format {
    id: "htcondor-gridmanager",
    service: Service::Ce,
    summary: "HTCondor-CE GridmanagerLog (BLAHP / LRMS job ids)",
    programs: &["condor_gridmanager"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(DaemonLogParser::new(GridmanagerHandler::default(), context))
    },
};

const MAX_LINKS: usize = 50_000;

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "GridmanagerLog")
}

/// `[PID] rest` → rest.
fn strip_pid(message: &str) -> Option<&str> {
    let rest = message.strip_prefix('[')?;
    let (pid, rest) = rest.split_once("] ")?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

fn sniff(text: &str, file_name: &str) -> bool {
    let Some(message) = sniff_message(text) else {
        return false;
    };
    if hinted(file_name) {
        return true;
    }
    match strip_pid(message) {
        Some(rest) => rest.contains("gm state change:") || rest.starts_with("GAHP["),
        None => false,
    }
}

/// The first BLAHP id `<lrms>/<YYYYMMDD>/<id>` in a text, as `<lrms>:<id>`.
fn blahp_id(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .find_map(|token| {
            let mut parts = token.splitn(3, '/');
            let lrms = parts.next()?;
            let date = parts.next()?;
            let id = parts.next()?;
            let valid = !lrms.is_empty()
                && lrms.bytes().all(|b| b.is_ascii_lowercase())
                && date.len() == 8
                && date.bytes().all(|b| b.is_ascii_digit())
                && !id.is_empty()
                && !id.contains('/');
            valid.then(|| format!("{lrms}:{id}"))
        })
}

fn worker_node(text: &str) -> Option<String> {
    let start = text.find("WorkerNode")?;
    let rest = text[start + "WorkerNode".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ';', ' ', ']', '\'']).unwrap_or(rest.len());
    let node = rest[..end].to_ascii_lowercase();
    (!node.is_empty()).then_some(node)
}

#[derive(Default)]
struct GridmanagerHandler {
    last_job: Option<String>,
    /// BLAH_JOB_SUBMIT request id → grid job (C.P).
    submits: HashMap<String, String>,
    job_to_batch: HashMap<String, String>,
    batch_to_job: HashMap<String, String>,
}

impl GridmanagerHandler {
    fn link(&mut self, job: &str, batch: &str) {
        if self.job_to_batch.len() >= MAX_LINKS {
            self.job_to_batch.clear();
            self.batch_to_job.clear();
        }
        self.job_to_batch.insert(job.to_string(), batch.to_string());
        self.batch_to_job.insert(batch.to_string(), job.to_string());
    }

    fn gahp(&mut self, rest: &str, event: &mut Event, host: &str) -> Feed {
        let Some((_, traffic)) = rest.split_once("] ") else {
            return Feed::Ignored;
        };
        let (command, body) = if let Some(body) = traffic.strip_prefix("<- ") {
            (true, body.trim_matches('\''))
        } else if let Some(body) = traffic.strip_prefix("-> ") {
            (false, body.trim_matches('\''))
        } else {
            return Feed::Ignored;
        };
        let mut words = body.split_whitespace();
        let first = words.next().unwrap_or_default();
        if command && first == "BLAH_JOB_SUBMIT" {
            if let (Some(request), Some(job)) = (words.next(), self.last_job.clone()) {
                if self.submits.len() >= MAX_LINKS {
                    self.submits.clear();
                }
                self.submits.insert(request.to_string(), job);
            }
        }
        let Some(batch) = blahp_id(body) else {
            return Feed::Ignored;
        };
        if !command {
            let request = first.trim_matches('\'');
            if let Some(job) = self.submits.remove(request) {
                self.link(&job, &batch);
            }
        }
        event.action = action::OTHER.into();
        event.status = if command {
            first.to_string()
        } else {
            "gahp reply".to_string()
        };
        if let Some(job) = self.batch_to_job.get(&batch) {
            event.job_id = qualified_job_id(host, job);
        }
        event.batch_job_id = batch;
        if let Some(node) = worker_node(body) {
            event.worker_node = node;
        }
        Feed::Parsed
    }
}

impl Handler for GridmanagerHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        let message = header.message.trim_end();
        let Some(rest) = strip_pid(message) else {
            return if hinted(&context.file_name) {
                Feed::Ignored
            } else {
                Feed::NotMine
            };
        };
        let host = line_host(line, context);
        let mut event = line.event(FORMAT.id, Service::Ce);

        if rest.starts_with("GAHP[") {
            let feed = self.gahp(rest, &mut event, host);
            if feed == Feed::Parsed {
                out.push(event);
            }
            return feed;
        }

        let job = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(") "))
            .and_then(|(job, text)| job_number(job).map(|job| (job, text)));
        let Some((job, text)) = job else {
            return Feed::Ignored;
        };
        self.last_job = Some(job.to_string());
        event.job_id = qualified_job_id(host, job);
        if let Some(batch) = blahp_id(text) {
            self.link(job, &batch);
        }
        if let Some(batch) = self.job_to_batch.get(job) {
            event.batch_job_id.clone_from(batch);
        }
        let Some(change) = text.strip_prefix("gm state change: ") else {
            if event.batch_job_id.is_empty() {
                return Feed::Ignored;
            }
            event.action = action::OTHER.into();
            out.push(event);
            return Feed::Parsed;
        };
        let Some((_, to)) = change.split_once(" -> ") else {
            return Feed::Malformed;
        };
        let (name, result) = match to.trim() {
            "GM_SUBMITTED" => (action::JOB_ROUTE, outcome::OK),
            "GM_HOLD" => (action::JOB_HOLD, outcome::OK),
            "GM_CANCEL" => (action::JOB_REMOVE, outcome::OK),
            "GM_DONE_SAVE" | "GM_DONE_COMMIT" => (action::JOB_END, outcome::OK),
            "GM_FAILED" => (action::OTHER, outcome::FAIL),
            _ => (action::OTHER, ""),
        };
        event.action = name.into();
        event.outcome = result.into();
        event.status = change.to_string();
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

    fn reference() -> (Vec<Event>, crate::stream::Stats) {
        parse(
            include_str!("../../../tests/fixtures/htcondor-gridmanager/GridmanagerLog.cmspilot"),
            "GridmanagerLog.cmspilot",
        )
    }

    #[test]
    fn reference_example_1_state_change_to_submitted_routes_the_job() {
        let (events, _) = reference();
        let event = &events[0];
        assert_eq!(event.source, "htcondor-gridmanager");
        assert_eq!(event.action, action::JOB_ROUTE);
        assert_eq!(event.job_id, "ce01.example.org#1601.0");
        assert_eq!(event.status, "GM_SUBMIT_SAVE -> GM_SUBMITTED");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:16:02.000Z");
    }

    #[test]
    fn reference_example_2_status_command_gives_the_lrms_id() {
        let (events, _) = reference();
        let event = &events[1];
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.status, "BLAH_JOB_STATUS");
        assert_eq!(event.batch_job_id, "slurm:7734121");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:21:02.000Z");
    }

    #[test]
    fn reference_example_3_plain_reply_is_ignored_but_counted() {
        let (events, stats) = reference();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].source, "htcondor-gridmanager");
        assert_eq!(events[2].action, "");
        assert_eq!(stats.formats["htcondor-gridmanager"].parsed, 3);
    }

    #[test]
    fn submit_reply_links_the_grid_job_to_the_lrms_id() {
        let text = "03/04/25 10:16:00 [3301] (1601.0) gm state change: GM_START -> GM_SUBMIT\n\
03/04/25 10:16:00 [3301] GAHP[3317] <- 'BLAH_JOB_SUBMIT 7 [ Cmd = \"/bin/sh\" ]'\n\
03/04/25 10:16:01 [3301] GAHP[3317] -> '7' '0' 'No error' 'pbs/20250304/1234.server'\n\
03/04/25 10:16:02 [3301] (1601.0) gm state change: GM_SUBMIT_SAVE -> GM_SUBMITTED\n\
03/04/25 10:21:02 [3301] GAHP[3317] -> '12' '0' 'No error' '[ BatchJobId = \"1234.server\"; JobStatus = 2; WorkerNode = \"WN042.example.org\" ]' pbs/20250304/1234.server\n\
03/04/25 10:30:00 [3301] (1601.0) gm state change: GM_SUBMITTED -> GM_CANCEL\n";
        let (events, _) = parse(text, "GridmanagerLog.cmspilot");
        let linked = &events[2];
        assert_eq!(linked.job_id, "ce01.example.org#1601.0");
        assert_eq!(linked.batch_job_id, "pbs:1234.server");
        let routed = events
            .iter()
            .find(|e| e.action == action::JOB_ROUTE)
            .unwrap();
        assert_eq!(routed.batch_job_id, "pbs:1234.server");
        let status = &events[4];
        assert_eq!(status.worker_node, "wn042.example.org");
        assert_eq!(status.job_id, "ce01.example.org#1601.0");
        assert_eq!(events[5].action, action::JOB_REMOVE);
    }

    #[test]
    fn sniff_needs_the_pid_prefix_and_gridmanager_content_or_the_name() {
        assert!(sniff(
            "03/04/25 10:16:02 [3301] (1601.0) gm state change: A -> B",
            "messages"
        ));
        assert!(!sniff("03/04/25 10:16:02 [3301] something", "messages"));
        assert!(sniff("03/04/25 10:16:02 anything", "GridmanagerLog.atlas"));
        assert!(!sniff("[3301] GAHP[1] <- 'x'", "GridmanagerLog"));
        let (_, stats) = parse(
            "03/04/25 10:16:02 [3301] (1601.0) gm state change: truncated\n",
            "GridmanagerLog",
        );
        assert_eq!(stats.formats["htcondor-gridmanager"].errors, 1);
    }

    #[test]
    fn blahp_ids_are_recognised_strictly() {
        assert_eq!(blahp_id("x slurm/20250304/77 y"), Some("slurm:77".into()));
        assert_eq!(blahp_id("'lsf/20140917/482046'"), Some("lsf:482046".into()));
        assert_eq!(blahp_id("/var/log/x"), None);
        assert_eq!(blahp_id("slurm/2025/77"), None);
    }
}
