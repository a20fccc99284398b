//! `htcondor-jobrouter`: the HTCondor-CE JobRouterLog (`/var/log/condor-ce/JobRouterLog`,
//! rotated `.old` / `.<YYYYMMDDTHHMMSS>`), formats/ce.md §5.
//!
//! Header as in §1 ([`super::htcondor_log`]), then
//! ```text
//! JobRouter (src=C.P[,dest=C.P][,route=NAME]): claimed job | submitted job | finalized job
//! JobRouter (…): dest job was removed! | removing orphaned destination job …
//! JobRouter failure (…): <error>
//! JobRouter: Found candidate job src=C.P…
//! JobRouter: Checking for candidate jobs. routing table is:   + continuation lines (the table)
//! ```
//! Every line naming a job is a `job.route` event: `job_id` = `<host>#<src>` (the CE job),
//! `batch_job_id` = `<host>#<dest>` (the routed job; the batch schedd of an HTCondor route and
//! the CE schedd of a BLAHP route both run on the CE host, docs/conventions.md), `status` = the
//! route name. Failures (`JobRouter failure`, `dest job was removed!`, removing an orphaned
//! destination job) have outcome `fail` and the message in `status`. The routing-table dump is
//! one `other` event whose `raw` holds the whole table. Other header lines are `Ignored` in a
//! file named JobRouterLog, else not this format.

use super::htcondor_log::{
    file_hint, job_number, line_host, qualified_job_id, sniff_message, DaemonLogParser, Handler,
    Header,
};
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-jobrouter` format.
pub static FORMAT: Format = Format {
    id: "htcondor-jobrouter",
    service: Service::Ce,
    summary: "HTCondor-CE JobRouterLog (CE job → routed job)",
    programs: &["condor_job_router"],
    sniff,
    new_parser: |context: &Context| Box::new(DaemonLogParser::new(JobRouterHandler, context)),
};

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "JobRouterLog")
}

fn sniff(text: &str, file_name: &str) -> bool {
    match sniff_message(text) {
        Some(message) => hinted(file_name) || message.starts_with("JobRouter"),
        None => false,
    }
}

/// The JobDesc `src=…,dest=…,route=…` fields.
#[derive(Debug, Default, PartialEq)]
struct JobDesc<'a> {
    src: Option<&'a str>,
    dest: Option<&'a str>,
    route: Option<&'a str>,
}

fn job_desc(text: &str) -> JobDesc<'_> {
    let mut desc = JobDesc::default();
    for part in text.split([',', ' ']) {
        if let Some((key, value)) = part.split_once('=') {
            match key {
                "src" => desc.src = job_number(value),
                "dest" => desc.dest = job_number(value),
                "route" if !value.is_empty() => desc.route = Some(value),
                _ => {}
            }
        }
    }
    desc
}

struct JobRouterHandler;

impl Handler for JobRouterHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        let message = header.message.trim_end();
        let host = line_host(line, context);
        let mut event = line.event(FORMAT.id, Service::Ce);

        if message.starts_with("JobRouter: Checking for candidate jobs") {
            event.action = action::OTHER.into();
            event.status = "routing table".to_string();
            out.push(event);
            return Feed::Parsed;
        }

        // `JobRouter (desc): text`, `JobRouter failure (desc): text`, `JobRouter: Found … src=…`.
        let (failure, desc, text) = if let Some(rest) = message.strip_prefix("JobRouter failure (")
        {
            match rest.split_once("): ") {
                Some((desc, text)) => (true, job_desc(desc), text),
                None => return Feed::Malformed,
            }
        } else if let Some(rest) = message.strip_prefix("JobRouter (") {
            match rest.split_once("): ") {
                Some((desc, text)) => (false, job_desc(desc), text),
                None => return Feed::Malformed,
            }
        } else if let Some(rest) = message.strip_prefix("JobRouter: ") {
            let desc = job_desc(rest);
            if desc.src.is_none() {
                return Feed::Ignored;
            }
            (false, desc, rest)
        } else if hinted(&context.file_name) {
            return Feed::Ignored;
        } else {
            return Feed::NotMine;
        };

        let Some(src) = desc.src else {
            return Feed::Malformed;
        };
        event.action = action::JOB_ROUTE.into();
        event.job_id = qualified_job_id(host, src);
        if let Some(dest) = desc.dest {
            event.batch_job_id = qualified_job_id(host, dest);
        }
        let failed = failure
            || text.starts_with("dest job was removed")
            || text.starts_with("removing orphaned destination job");
        if failed {
            event.outcome = outcome::FAIL.into();
            event.status = text.trim_end_matches('!').to_string();
        } else {
            event.outcome = outcome::OK.into();
            event.status = desc.route.unwrap_or_default().to_string();
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
            include_str!("../../../tests/fixtures/htcondor-jobrouter/JobRouterLog"),
            "JobRouterLog",
        )
        .0
    }

    #[test]
    fn reference_example_1_claimed_job_has_no_dest_yet() {
        let event = &reference()[0];
        assert_eq!(event.source, "htcondor-jobrouter");
        assert_eq!(event.action, action::JOB_ROUTE);
        assert_eq!(event.job_id, "ce01.example.org#1523.0");
        assert_eq!(event.batch_job_id, "");
        assert_eq!(event.status, "Condor_Pool");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:15:31.000Z");
    }

    #[test]
    fn reference_example_2_submitted_job_links_both_ids() {
        let event = &reference()[1];
        assert_eq!(event.job_id, "ce01.example.org#1523.0");
        assert_eq!(event.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(event.outcome, outcome::OK);
    }

    #[test]
    fn reference_example_3_dest_removed_is_a_failure() {
        let event = &reference()[2];
        assert_eq!(event.job_id, "ce01.example.org#1523.1");
        assert_eq!(event.batch_job_id, "ce01.example.org#88713.0");
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "dest job was removed");
    }

    #[test]
    fn reference_example_4_finalized_job() {
        let event = &reference()[3];
        assert_eq!(event.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T16:40:12.000Z");
    }

    #[test]
    fn reference_example_5_blahp_route() {
        let events = reference();
        let event = &events[4];
        assert_eq!(event.job_id, "ce01.example.org#1600.0");
        assert_eq!(event.batch_job_id, "ce01.example.org#1601.0");
        assert_eq!(event.status, "Slurm_Cluster");
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn routing_table_is_one_event_with_its_continuation_lines() {
        let text = "03/04/25 10:15:30 JobRouter: Checking for candidate jobs. routing table is:\n\
Route Name         Submitted/Max        Idle/Max     Throttle\n\
Condor_Pool               0/2000           0/200       none\n\
03/04/25 10:15:30 (D_ALWAYS) JobRouter failure (src=7.0,route=Condor_Pool): failed to submit job\n\
03/04/25 10:15:31 JobRouter: Found candidate job src=8.0,route=Condor_Pool\n\
03/04/25 10:15:32 JobRouter (src=9.0,dest=90.0,route=Condor_Pool): removing orphaned destination job\n\
03/04/25 10:15:33 Something else the router says\n";
        let (events, stats) = parse(text, "JobRouterLog.old");
        assert_eq!(events[0].status, "routing table");
        assert_eq!(events[0].raw.lines().count(), 3);
        assert_eq!(events[1].outcome, outcome::FAIL);
        assert_eq!(events[1].status, "failed to submit job");
        assert_eq!(events[1].job_id, "ce01.example.org#7.0");
        assert_eq!(events[2].job_id, "ce01.example.org#8.0");
        assert_eq!(events[3].outcome, outcome::FAIL);
        assert_eq!(events[4].source, "htcondor-jobrouter");
        let counts = &stats.formats["htcondor-jobrouter"];
        assert_eq!(counts.parsed, 7);
        assert_eq!(counts.errors, 0);
    }

    #[test]
    fn sniff_and_not_mine() {
        assert!(sniff(
            "03/04/25 10:15:31 JobRouter (src=1.0): claimed job",
            "x.log"
        ));
        assert!(!sniff("03/04/25 10:15:31 Something", "x.log"));
        assert!(sniff("03/04/25 10:15:31 Something", "JobRouterLog"));
        assert!(!sniff("JobRouter (src=1.0): claimed job", "JobRouterLog"));
        let (events, _) = parse("03/04/25 10:15:31 Something", "x.log");
        assert_eq!(events[0].source, "raw");
    }

    #[test]
    fn truncated_lines_are_malformed() {
        let (_, stats) = parse(
            "03/04/25 10:15:31 JobRouter (src=1523.0,dest=88\n03/04/25 10:15:31 JobRouter (dest=1.0): x\n",
            "JobRouterLog",
        );
        assert_eq!(stats.formats["htcondor-jobrouter"].errors, 2);
    }
}
