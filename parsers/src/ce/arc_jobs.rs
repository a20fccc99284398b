//! `arc-jobs`: the ARC A-REX jobs log (`/var/log/arc/arex-jobs.log`, `[arex] joblog`).
//!
//! Grammar (ARC `JobLog.cpp`), time `YYYY-MM-DD HH:MM:SS` in local time:
//! `TIME Started - job id: ID, unix user: UID:GID, name: "NAME", owner: "OWNER", lrms: LRMS, queue: Q`
//! `TIME Finished - job id: ID, unix user: UID:GID, name: "…", owner: "…", lrms: L, queue: Q[, lrmsid: LOCALID][, failure: "TEXT"]`
//! Quoted values escape `"` and `\` with a backslash; the part after `unix user` is missing
//! when A-REX could not read the job's `local` file.
//!
//! Fills: `Started` → `job.submit` (A-REX writes it when the job enters PREPARING, i.e. it was
//! accepted, not when it starts on a worker node); `Finished` → `job.end` (`outcome` fail with
//! the failure text in `status`), or `job.remove` when the failure says the job was cancelled.
//! `job_id` = `<stream host>#<arc id>`, `batch_job_id` = `<lrms>:<lrmsid>`, `iss`/`sub` from a
//! token owner `<iss>/<sub>` (an X.509 DN owner fills neither).

use crate::ce::arc;
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::time::TimeContext;

/// The `arc-jobs` format.
pub static FORMAT: Format = Format {
    id: "arc-jobs",
    service: Service::Ce,
    summary: "ARC CE arex-jobs.log job start/finish records",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
            host: context.host.clone(),
        })
    },
};

const STARTED: &str = " Started - job id: ";
const FINISHED: &str = " Finished - job id: ";

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 40
        && bytes[4] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && text
            .get(19..)
            .is_some_and(|rest| rest.starts_with(STARTED) || rest.starts_with(FINISHED))
}

struct Parser {
    time: TimeContext,
    host: String,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Some((time, rest)) = arc::arc_time(line.text, &self.time) else {
            return Feed::NotMine;
        };
        let (finished, rest) = if let Some(rest) = rest.strip_prefix(STARTED) {
            (false, rest)
        } else if let Some(rest) = rest.strip_prefix(FINISHED) {
            (true, rest)
        } else {
            return Feed::NotMine;
        };
        let Some((arc_id, fields)) = read_fields(rest) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Ce);
        event.time = Some(time);
        event.job_id = arc::job_id(&self.host, &arc_id);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .filter(|value| !value.is_empty())
        };
        if let Some(owner) = field("owner") {
            arc::fill_owner(owner, &mut event);
        }
        if let (Some(lrms), Some(local_id)) = (field("lrms"), field("lrmsid")) {
            event.batch_job_id = format!("{lrms}:{local_id}");
        }
        if !finished {
            event.action = action::JOB_SUBMIT.into();
            event.outcome = outcome::OK.into();
        } else if let Some(failure) = field("failure") {
            let lower = failure.to_ascii_lowercase();
            event.action = if lower.contains("cancel") {
                action::JOB_REMOVE
            } else {
                action::JOB_END
            }
            .into();
            event.outcome = outcome::FAIL.into();
            event.status = failure.to_string();
        } else {
            event.action = action::JOB_END.into();
            event.outcome = outcome::OK.into();
        }
        out.push(event);
        Feed::Parsed
    }
}

/// `ID, key: value, key: "quoted", …` → (id, [(key, value)]); `None` without an id.
fn read_fields(text: &str) -> Option<(String, Vec<(String, String)>)> {
    let (id, mut rest) = match text.find(", ") {
        Some(end) => (&text[..end], &text[end..]),
        None => (text.trim_end(), ""),
    };
    if !arc::is_arc_id(id) {
        return None;
    }
    let mut fields = Vec::new();
    while let Some(after) = rest.strip_prefix(", ") {
        let Some((key, value_start)) = after.split_once(": ") else {
            break;
        };
        // Keys are words (`unix user`, `lrmsid`); anything else means the line is cut.
        if key.len() > 20 || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
            break;
        }
        if let Some(quoted) = value_start.strip_prefix('"') {
            let (value, next) = read_quoted(quoted);
            fields.push((key.to_string(), value));
            rest = next;
        } else {
            let end = value_start.find(", ").unwrap_or(value_start.len());
            fields.push((key.to_string(), value_start[..end].trim_end().to_string()));
            rest = &value_start[end..];
        }
    }
    Some((id.to_string(), fields))
}

/// A backslash-escaped string up to its closing quote: (value, text after the quote). An
/// unterminated string takes the rest of the line.
fn read_quoted(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &text[index + 1..]),
            other => value.push(other),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    fn context(zone: Zone) -> Context {
        Context {
            time: TimeContext {
                zone,
                year_override: None,
                reference_date: None,
            },
            host: "arc01.example.org".into(),
            path: "/var/log/arc/arex-jobs.log".into(),
            file_name: "arex-jobs.log".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context(Zone::Utc)).unwrap().0
    }

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/arc-jobs/arex-jobs.log");

    fn example(index: usize) -> Event {
        let line = EXAMPLE.lines().nth(index).unwrap();
        let events = parse(line);
        assert_eq!(events.len(), 1);
        events.into_iter().next().unwrap()
    }

    #[test]
    fn started_example_is_a_submit_with_split_token_owner() {
        let event = example(0);
        assert_eq!(event.source, "arc-jobs");
        assert_eq!(event.action, "job.submit");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(event.batch_job_id, "");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:15:10.000Z");
    }

    #[test]
    fn finished_example_has_the_lrms_id() {
        let event = example(1);
        assert_eq!(event.action, "job.end");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(event.batch_job_id, "slurm:7734121");
        assert_eq!(event.sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T16:02:14.000Z");
    }

    #[test]
    fn cancelled_example_is_a_removal_with_the_failure_text() {
        let event = example(2);
        assert_eq!(event.action, "job.remove");
        assert_eq!(event.outcome, "fail");
        assert_eq!(event.status, "Job is canceled by external request");
        assert_eq!(event.job_id, "arc01.example.org#d7dee429865b");
        assert_eq!(event.iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(event.sub, "8f67ea7b-71e7-4394-bbcf-8963ab1a175e");
    }

    #[test]
    fn local_time_is_converted_to_utc() {
        let line = EXAMPLE.lines().next().unwrap();
        let (events, _) =
            parse_text(line, None, context("Europe/Zurich".parse().unwrap())).unwrap();
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2025-03-04T09:15:10.000Z"
        );
    }

    #[test]
    fn escaped_quotes_dn_owner_and_other_failures() {
        let line = r#"2025-03-04 11:00:00 Finished - job id: abc123def456, unix user: 1:1, name: "a \"quoted\", name", owner: "/DC=org/DC=example/CN=Some One", lrms: pbs, queue: q, lrmsid: 1234.server, failure: "LRMS error: (271) job killed: walltime"#;
        let events = parse(line);
        let event = &events[0];
        assert_eq!(event.action, "job.end");
        assert_eq!(event.iss, "");
        assert_eq!(event.sub, "");
        assert_eq!(event.batch_job_id, "pbs:1234.server");
        assert_eq!(event.status, "LRMS error: (271) job killed: walltime");
    }

    #[test]
    fn line_without_the_local_file_part_still_names_the_job() {
        let events = parse("2025-03-04 11:00:00 Started - job id: abc123def456, unix user: 1:1");
        assert_eq!(events[0].job_id, "arc01.example.org#abc123def456");
        assert_eq!(events[0].action, "job.submit");
    }

    #[test]
    fn truncated_and_foreign_lines() {
        let mut parser = (FORMAT.new_parser)(&context(Zone::Utc));
        let mut out = Vec::new();
        let cut = Line::plain("2025-03-04 11:00:00 Started - job id: ", 1, 0);
        assert_eq!(parser.feed(&cut, &mut out), Feed::Malformed);
        let other = Line::plain("2025-03-04 11:00:00 something else", 2, 0);
        assert_eq!(parser.feed(&other, &mut out), Feed::NotMine);
        assert!(!sniff(
            "[2025-03-04 10:15:09] [Arc] [INFO] [2143/4] x: Job finished",
            ""
        ));
        assert!(sniff(EXAMPLE.lines().next().unwrap(), "anything"));
        for text in [
            "2025-03-04 11:00:00 Started - job id: ab, x: \"\\",
            "2025-03-04 1é",
        ] {
            let _ = parse(text);
        }
    }
}
