//! `arc-diag`: the ARC CE per-job `diag` file written by the LRMS scripts and the job wrapper
//! (ARC 6 `<controldir>/job.<id>.diag`, ARC 7 `<controldir>/jobs/…/diag`).
//!
//! Grammar: `key=value` lines — `nodename=<WN fqdn>` (one per slot), `LRMSStartTime=` and
//! `LRMSEndTime=` in MDSTime (`20250304102011Z`, UTC), `exitcode=`, `WallTime=…s`, usage keys.
//!
//! The whole file is one record, emitted at the end of the stream (origin = first line, raw =
//! all lines): `job.start` at `LRMSStartTime` and `job.end` at `LRMSEndTime` (`status` =
//! `exitcode`, `outcome` ok for 0), both with `worker_node` = the first `nodename` (lower case)
//! and `job_id` = `<stream host>#<arc id>` from the file name. The diag names no LRMS id, so
//! `batch_job_id` stays empty (the `local` file and the jobs log have it). A file without
//! times is kept as one `other` event.

use crate::ce::arc;
use crate::event::{action, outcome, Event, Origin, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `arc-diag` format.
pub static FORMAT: Format = Format {
    id: "arc-diag",
    service: Service::Ce,
    summary: "ARC CE per-job diag file (worker node, LRMS start/end, exit code)",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            host: context.host.clone(),
            file_id: arc::id_from_file(&context.file_name, &context.path, "diag"),
            origin: None,
            lines: Vec::new(),
            pairs: Vec::new(),
        })
    },
};

/// Keys the ARC LRMS scripts and job wrapper write (lower case).
const KEYS: &[&str] = &[
    "nodename",
    "processors",
    "walltime",
    "usertime",
    "kerneltime",
    "cputime",
    "exitcode",
    "lrmsstarttime",
    "lrmsendtime",
    "lrmsexitcode",
    "lrmsmessage",
    "averagetotalmemory",
    "averageresidentmemory",
    "maxresidentmemory",
    "maxtotalmemory",
    "runtimeenvironments",
    "frontend_distribution",
    "frontend_system",
    "systemsoftware",
    "wninstance",
    "benchmark",
    "localusername",
    "localuser",
];

fn sniff(text: &str, file_name: &str) -> bool {
    if file_name != "diag" && !file_name.ends_with(".diag") {
        return false;
    }
    match text.split_once('=') {
        Some((key, _)) => KEYS.contains(&key.to_ascii_lowercase().as_str()),
        None => false,
    }
}

struct Parser {
    host: String,
    file_id: Option<String>,
    origin: Option<Origin>,
    lines: Vec<String>,
    pairs: Vec<(String, String)>,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, _out: &mut Vec<Event>) -> Feed {
        let Some((key, value)) = line.text.split_once('=') else {
            return Feed::NotMine;
        };
        let plausible_key =
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible_key {
            return Feed::NotMine;
        }
        if self.origin.is_none() {
            self.origin = Some(line.origin());
        }
        self.lines.push(line.raw.to_string());
        self.pairs
            .push((key.to_ascii_lowercase(), value.trim().to_string()));
        Feed::Pending
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        let Some(origin) = self.origin.take() else {
            return;
        };
        let value = |name: &str| {
            self.pairs
                .iter()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| value.as_str())
        };
        let mut base = Event::new(FORMAT.id, Service::Ce);
        base.origin = origin;
        base.raw = self.lines.join("\n");
        if let Some(arc_id) = &self.file_id {
            base.job_id = arc::job_id(&self.host, arc_id);
        }
        // Multi-node jobs list several nodes; the first is where the job script ran.
        base.worker_node = value("nodename")
            .map(|node| node.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let start_time = value("lrmsstarttime").and_then(arc::mds_time);
        let end_time = value("lrmsendtime").and_then(arc::mds_time);
        if start_time.is_none() && end_time.is_none() {
            base.action = action::OTHER.into();
            out.push(base);
            return;
        }
        if let Some(time) = start_time {
            let mut start = base.clone();
            start.action = action::JOB_START.into();
            start.outcome = outcome::OK.into();
            start.time = Some(time);
            out.push(start);
        }
        if let Some(time) = end_time {
            let mut end = base;
            end.action = action::JOB_END.into();
            end.time = Some(time);
            if let Some(code) = value("exitcode") {
                end.status = code.to_string();
                end.outcome = if code == "0" {
                    outcome::OK
                } else {
                    outcome::FAIL
                }
                .into();
            }
            out.push(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    fn context(path: &str) -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            host: "arc01.example.org".into(),
            path: path.into(),
            file_name: path.rsplit('/').next().unwrap_or(path).into(),
            ..Context::default()
        }
    }

    fn parse(text: &str, path: &str) -> Vec<Event> {
        parse_text(text, None, context(path)).unwrap().0
    }

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/arc-diag/job.7afe2ff94787.diag");

    #[test]
    fn diag_gives_start_and_end_on_the_worker_node() {
        let events = parse(EXAMPLE, "/var/spool/arc/jobstatus/job.7afe2ff94787.diag");
        assert_eq!(events.len(), 2);
        let (start, end) = (&events[0], &events[1]);
        assert!(events.iter().all(|e| e.source == "arc-diag"));
        assert_eq!(start.action, "job.start");
        assert_eq!(start.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(start.worker_node, "wn042.example.org");
        assert_eq!(start.time.unwrap().to_rfc3339(), "2025-03-04T10:20:11.000Z");
        assert_eq!(end.action, "job.end");
        assert_eq!(end.worker_node, "wn042.example.org");
        assert_eq!(end.time.unwrap().to_rfc3339(), "2025-03-04T15:58:24.000Z");
        assert_eq!((end.status.as_str(), end.outcome.as_str()), ("0", "ok"));
        assert_eq!(end.origin.line, 1);
        assert_eq!(end.raw, EXAMPLE.trim_end());
    }

    #[test]
    fn failed_job_in_an_arc7_diag_and_a_running_one() {
        let text = "nodename=WN7.example.org\nLRMSStartTime=20250304102011Z\nLRMSEndTime=20250304102111Z\nexitcode=271\n";
        let events = parse(text, "control/jobs/012/345/678/9ab/diag");
        assert_eq!(events[1].job_id, "arc01.example.org#0123456789ab");
        assert_eq!(events[1].worker_node, "wn7.example.org");
        assert_eq!(
            (events[1].status.as_str(), events[1].outcome.as_str()),
            ("271", "fail")
        );
        let running = parse("nodename=wn7\nLRMSStartTime=20250304102011Z\n", "x.diag");
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].action, "job.start");
        assert_eq!(running[0].job_id, "arc01.example.org#x");
    }

    #[test]
    fn diag_without_times_is_one_other_event() {
        let events = parse("nodename=wn7\nWallTime=3s\n", "job.abc.diag");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "other");
        assert_eq!(events[0].worker_node, "wn7");
    }

    #[test]
    fn sniff_needs_the_file_name_and_a_diag_key() {
        assert!(sniff("nodename=wn042.example.org", "job.7afe2ff94787.diag"));
        assert!(sniff("LRMSStartTime=20250304102011Z", "diag"));
        assert!(!sniff(
            "nodename=wn042.example.org",
            "job.7afe2ff94787.local"
        ));
        assert!(!sniff("globalid=7afe2ff94787", "job.x.diag"));
        assert!(!sniff("LRMSStartTime=1", "EventLog"));
    }

    #[test]
    fn garbage_never_panics() {
        let _ = parse(
            "LRMSStartTime=2025é\nexitcode=\n=\nnodename=\n",
            "job.a.diag",
        );
    }
}
