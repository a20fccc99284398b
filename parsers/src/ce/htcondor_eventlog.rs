//! `htcondor-eventlog`: the HTCondor job event log — a per-job user log or the schedd's global
//! `EVENT_LOG` (`/var/log/condor/EventLog`, on a CE `/var/log/condor-ce/EventLog`).
//!
//! Grammar: records of a header line, body lines, and a closing `...` line.
//! `NNN (C.PPP.SSS) DATE TIME MESSAGE` where DATE TIME is `YYYY-MM-DD HH:MM:SS[.mmm][Z]`
//! (ISO_DATE; `Z` with UTC, else local) or the legacy `MM/DD HH:MM:SS[.mmm]` (local, no year:
//! the stream's `year_for`). Example:
//! `001 (88712.000.000) 2025-03-04 10:20:11 Job executing on host: <10.20.4.42:9618?…>`
//! followed by `\tSlotName: slot1_7@wn042.example.org` and `...`.
//!
//! Events (one per record, origin = header line, raw = the record's lines):
//! - 000 `job.submit`; 001 `job.start` (`worker_node` from `SlotName` without the slot, else the
//!   sinful string's alias, else its IP; `client_ip` = the startd's IP); 005 `job.end` (`status`
//!   = return value or `signal N`); 009 `job.remove` and 012 `job.hold` (`status` = the reason);
//! - 027 `job.route`: `batch_job_id` = `<lrms>:<id>` from a BLAHP `GridJobId`
//!   (`… slurm/20250304/7734121` → `slurm:7734121`);
//! - 028 (job ad information) `other`, `status` = `TriggerEventTypeName`: its attributes
//!   (`AuthToken*`/`orig_AuthToken*`, `RoutedFromJobId`, `RoutedToJobId`, `GlobalJobId`,
//!   `RemoteHost`, `ExecuteHost`) fill this event and are remembered for the job's later events;
//! - any other number: `other`.
//!
//! Job ids (docs/conventions.md): the log names `C.P` in its own schedd. By default that is the
//! batch schedd's job: `batch_job_id` = `<host>#C.P` with the stream's host (service `batch`).
//! A log under a `condor-ce` directory is the CE schedd's: `job_id` = `<host>#C.P` (service
//! `ce`). A 028 record's `RoutedFromJobId` (→ `job_id` = `<host>#<it>`), `RoutedToJobId`
//! (→ `batch_job_id`) or `GlobalJobId` (→ the host) override this for that job from then on.

use std::collections::HashMap;

use nom::bytes::complete::take_while_m_n;
use nom::character::complete::{char, digit1};
use nom::combinator::{map_res, opt};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser as _};

use crate::ce::classad::{self, Ad};
use crate::event::{action, outcome, Event, Origin, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::time::TimeContext;

/// The `htcondor-eventlog` format.
pub static FORMAT: Format = Format {
    id: "htcondor-eventlog",
    service: Service::Batch,
    summary: "HTCondor job event log (user log / EVENT_LOG), legacy and ISO dates",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
            host: context.host.clone(),
            ce_side: context.path.contains("condor-ce"),
            record: None,
            jobs: HashMap::new(),
        })
    },
};

/// Jobs remembered from 028 records; past this many the memory starts afresh, so a huge log
/// cannot grow it without bound.
const MAX_REMEMBERED_JOBS: usize = 100_000;

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 8
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && bytes[4] == b'('
        && header(text).is_ok()
}

/// The header before the date: (event number, cluster, proc).
fn header(input: &str) -> IResult<&str, (u32, u64, u64)> {
    let number = || map_res(digit1, str::parse::<u64>);
    let (rest, (event, _, (cluster, _, proc, _, _), _)) = (
        map_res(
            take_while_m_n(3, 3, |c: char| c.is_ascii_digit()),
            str::parse,
        ),
        char(' '),
        delimited(
            char('('),
            (number(), char('.'), number(), char('.'), digit1),
            char(')'),
        ),
        char(' '),
    )
        .parse(input)?;
    Ok((rest, (event, cluster, proc)))
}

fn digits<'a>(
    count: usize,
) -> impl nom::Parser<&'a str, Output = u32, Error = nom::error::Error<&'a str>> {
    map_res(
        take_while_m_n(count, count, |c: char| c.is_ascii_digit()),
        str::parse,
    )
}

/// `HH:MM:SS[.fff]` → (h, m, s, ms).
fn clock(input: &str) -> IResult<&str, (u32, u32, u32, u32)> {
    let (rest, (hour, _, minute, _, second, fraction)) = (
        digits(2),
        char(':'),
        digits(2),
        char(':'),
        digits(2),
        opt(preceded(
            char('.'),
            take_while_m_n(1, 9, |c: char| c.is_ascii_digit()),
        )),
    )
        .parse(input)?;
    let millis = fraction
        .map(|digits: &str| {
            let padded = format!("{digits:0<3}");
            padded.get(..3).and_then(|ms| ms.parse().ok()).unwrap_or(0)
        })
        .unwrap_or(0);
    Ok((rest, (hour, minute, second, millis)))
}

/// The record time: ISO or legacy; returns the rest of the line (the message).
fn record_time<'a>(input: &'a str, context: &TimeContext) -> Option<(&'a str, Timestamp)> {
    let iso = (
        digits(4),
        char('-'),
        digits(2),
        char('-'),
        digits(2),
        nom::branch::alt((char(' '), char('T'))),
        clock,
        opt(char('Z')),
    )
        .parse(input);
    if let Ok((rest, (year, _, month, _, day, _, (h, m, s, ms), zulu))) = iso {
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let time = chrono::NaiveTime::from_hms_milli_opt(h, m, s, ms)?;
        let naive = chrono::NaiveDateTime::new(date, time);
        let stamp = match zulu {
            Some(_) => Timestamp(naive.and_utc().timestamp_millis()),
            None => context.local(naive),
        };
        return Some((rest, stamp));
    }
    let (rest, (month, _, day, _, (h, m, s, ms))) =
        (digits(2), char('/'), digits(2), char(' '), clock)
            .parse(input)
            .ok()?;
    let year = context.year_for(month, day);
    let stamp = context.local_parts(year, month, day, h, m, s, ms)?;
    Some((rest, stamp))
}

/// An open record.
struct Record {
    event: u32,
    number: String,
    time: Timestamp,
    message: String,
    body: Vec<String>,
    origin: Origin,
    lines: Vec<String>,
}

/// What earlier 028 records said about a job.
#[derive(Clone, Default)]
struct Known {
    job_id: Option<String>,
    batch_job_id: Option<String>,
    identity: Event,
    worker_node: String,
    worker_ip: String,
}

struct Parser {
    time: TimeContext,
    host: String,
    ce_side: bool,
    record: Option<Record>,
    jobs: HashMap<String, Known>,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let text = line.text.trim_end();
        if text == "..." {
            return match self.record.take() {
                Some(mut record) => {
                    record.lines.push(line.raw.to_string());
                    self.emit(record, out);
                    Feed::Parsed
                }
                None => Feed::Ignored,
            };
        }
        if let Ok((rest, (event, cluster, proc))) = header(text) {
            // A record without its `...` (a cut log) ends at the next header.
            if let Some(open) = self.record.take() {
                self.emit(open, out);
            }
            let Some((message, time)) = record_time(rest, &self.time) else {
                return Feed::Malformed;
            };
            self.record = Some(Record {
                event,
                number: format!("{cluster}.{proc}"),
                time,
                message: message.trim().to_string(),
                body: Vec::new(),
                origin: line.origin(),
                lines: vec![line.raw.to_string()],
            });
            return Feed::Pending;
        }
        match self.record.as_mut() {
            Some(record) => {
                record.body.push(text.to_string());
                record.lines.push(line.raw.to_string());
                Feed::Pending
            }
            None => Feed::NotMine,
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        if let Some(record) = self.record.take() {
            self.emit(record, out);
        }
    }
}

impl Parser {
    fn emit(&mut self, record: Record, out: &mut Vec<Event>) {
        let service = if self.ce_side {
            Service::Ce
        } else {
            Service::Batch
        };
        let mut event = Event::new(FORMAT.id, service);
        event.origin = record.origin.clone();
        event.raw = record.lines.join("\n");
        event.time = Some(record.time);
        event.action = action::OTHER.into();

        if record.event == 28 {
            self.learn(&record);
        }
        let known = self.jobs.get(&record.number).cloned().unwrap_or_default();
        let qualified = classad::qualified(&self.host, &record.number);
        match (&known.job_id, &known.batch_job_id) {
            (None, None) if self.ce_side => event.job_id = qualified,
            (None, None) => event.batch_job_id = qualified,
            (job_id, batch_job_id) => {
                event.job_id = job_id.clone().unwrap_or_default();
                event.batch_job_id = batch_job_id.clone().unwrap_or_default();
            }
        }
        copy_identity(&known.identity, &mut event);

        match record.event {
            0 => {
                event.action = action::JOB_SUBMIT.into();
                event.outcome = outcome::OK.into();
            }
            1 => {
                event.action = action::JOB_START.into();
                event.outcome = outcome::OK.into();
                let startd = record
                    .message
                    .strip_prefix("Job executing on host:")
                    .and_then(classad::sinful);
                let slot = record
                    .body
                    .iter()
                    .find_map(|line| line.trim().strip_prefix("SlotName:"))
                    .map(classad::worker_from_slot);
                event.worker_node = match (&slot, &startd) {
                    (Some(slot), _) => slot.clone(),
                    (None, Some(startd)) if !startd.alias.is_empty() => startd.alias.clone(),
                    (None, Some(startd)) => startd.ip.clone(),
                    (None, None) => String::new(),
                };
                event.client_ip = startd.map(|startd| startd.ip).unwrap_or_default();
                let entry = self.jobs.entry(record.number.clone()).or_default();
                entry.worker_node = event.worker_node.clone();
                entry.worker_ip = event.client_ip.clone();
            }
            5 => {
                event.action = action::JOB_END.into();
                set_termination(&record.body, &mut event);
                event.worker_node = known.worker_node.clone();
                event.client_ip = known.worker_ip.clone();
            }
            9 => {
                event.action = action::JOB_REMOVE.into();
                event.outcome = outcome::OK.into();
                event.status = first_body_line(&record.body);
                event.worker_node = known.worker_node.clone();
                event.client_ip = known.worker_ip.clone();
            }
            12 => {
                event.action = action::JOB_HOLD.into();
                event.outcome = outcome::FAIL.into();
                event.status = first_body_line(&record.body);
            }
            27 => {
                event.action = action::JOB_ROUTE.into();
                event.outcome = outcome::OK.into();
                let grid_job_id = record
                    .body
                    .iter()
                    .find_map(|line| line.trim().strip_prefix("GridJobId:"))
                    .map(str::trim)
                    .unwrap_or_default();
                if let Some(lrms_id) = blahp_lrms_id(grid_job_id) {
                    // The job this schedd knows becomes the CE side of the route.
                    if event.job_id.is_empty() {
                        event.job_id = std::mem::take(&mut event.batch_job_id);
                    }
                    event.batch_job_id = lrms_id;
                }
            }
            28 => {
                let ad = ad_of(&record.body);
                event.status = ad.string("TriggerEventTypeName").unwrap_or_default();
                event.worker_node = known.worker_node.clone();
                event.client_ip = known.worker_ip.clone();
            }
            _ => {}
        }
        // A job's last record: forget it. With job-ad information, a 028 follows its trigger,
        // so wait for the 028 of the termination or abort.
        let learnt = known.job_id.is_some() || known.batch_job_id.is_some();
        let last = match record.event {
            5 | 9 => !learnt,
            28 => matches!(
                ad_of(&record.body).integer("TriggerEventTypeNumber"),
                Some(5 | 9)
            ),
            _ => false,
        };
        if last {
            self.jobs.remove(&record.number);
        }
        out.push(event);
    }

    /// Remembers what a 028 record says about its job.
    fn learn(&mut self, record: &Record) {
        let ad = ad_of(&record.body);
        if self.jobs.len() >= MAX_REMEMBERED_JOBS && !self.jobs.contains_key(&record.number) {
            self.jobs.clear();
        }
        let host = ad
            .string("GlobalJobId")
            .and_then(|global| classad::global_job_id(&global).map(|(host, _)| host.to_string()))
            .unwrap_or_else(|| self.host.clone());
        let known = self.jobs.entry(record.number.clone()).or_default();
        let own = classad::qualified(&host, &record.number);
        let routed_from = ad
            .string("RoutedFromJobId")
            .filter(|id| classad::is_job_number(id));
        let routed_to = ad
            .string("RoutedToJobId")
            .filter(|id| classad::is_job_number(id));
        if let Some(source) = routed_from {
            known.job_id = Some(classad::qualified(&host, &source));
            known.batch_job_id = Some(own);
        } else if let Some(destination) = routed_to {
            known.job_id = Some(own);
            known.batch_job_id = Some(classad::qualified(&host, &destination));
        } else if ad.contains("GlobalJobId") {
            if self.ce_side {
                known.job_id = Some(own);
            } else {
                known.batch_job_id = Some(own);
            }
        }
        let mut identity = Event::default();
        classad::fill_identity(&ad, &mut identity);
        if !identity.sub.is_empty() || !identity.jti.is_empty() {
            known.identity = identity;
        }
        if let Some(owner) = ad.string("Owner") {
            known.identity.local_user = owner;
        }
        let slot = ad
            .string("RemoteHost")
            .or_else(|| ad.string("LastRemoteHost"));
        let execute = ad
            .string("ExecuteHost")
            .and_then(|text| classad::sinful(&text));
        if let Some(slot) = slot {
            known.worker_node = classad::worker_from_slot(&slot);
        }
        if let Some(execute) = execute {
            if known.worker_node.is_empty() {
                known.worker_node = if execute.alias.is_empty() {
                    execute.ip.clone()
                } else {
                    execute.alias.clone()
                };
            }
            known.worker_ip = execute.ip;
        }
    }
}

/// The `Attr = value` lines of a 028 body as an ad.
fn ad_of(body: &[String]) -> Ad {
    let mut ad = Ad::default();
    for line in body {
        if let Some((name, value)) = classad::attribute_line(line.trim()) {
            ad.insert(name, value);
        }
    }
    ad
}

fn copy_identity(from: &Event, to: &mut Event) {
    to.iss.clone_from(&from.iss);
    to.sub.clone_from(&from.sub);
    to.jti.clone_from(&from.jti);
    to.scopes.clone_from(&from.scopes);
    to.groups.clone_from(&from.groups);
    to.local_user.clone_from(&from.local_user);
}

fn first_body_line(body: &[String]) -> String {
    body.iter()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())
        .unwrap_or_default()
        .to_string()
}

/// `(1) Normal termination (return value 0)` / `(0) Abnormal termination (signal 9)`.
fn set_termination(body: &[String], event: &mut Event) {
    for line in body {
        let line = line.trim();
        if let Some(rest) = line.split("(return value ").nth(1) {
            let code = rest.trim_end_matches(')').trim();
            event.status = code.to_string();
            event.outcome = if code == "0" {
                outcome::OK
            } else {
                outcome::FAIL
            }
            .into();
            return;
        }
        if let Some(rest) = line.split("(signal ").nth(1) {
            event.status = format!("signal {}", rest.trim_end_matches(')').trim());
            event.outcome = outcome::FAIL.into();
            return;
        }
    }
}

/// `batch slurm <sandbox> slurm/20250304/7734121` → `slurm:7734121` (BLAHP ids); `None` for
/// other grid types.
fn blahp_lrms_id(grid_job_id: &str) -> Option<String> {
    let mut words = grid_job_id.split_whitespace();
    if words.next()? != "batch" {
        return None;
    }
    let blahp = words.last()?;
    let mut parts = blahp.split('/');
    let lrms = parts.next()?;
    let id = parts.next_back()?;
    if lrms.is_empty() || id.is_empty() || id == lrms {
        return None;
    }
    Some(format!("{lrms}:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    fn context(path: &str, zone: Zone) -> Context {
        Context {
            time: TimeContext {
                zone,
                year_override: None,
                reference_date: chrono::NaiveDate::from_ymd_opt(2025, 3, 5),
            },
            host: "ce01.example.org".into(),
            path: path.into(),
            file_name: path.rsplit('/').next().unwrap_or(path).into(),
            ..Context::default()
        }
    }

    fn parse(text: &str, path: &str) -> Vec<Event> {
        parse_text(text, None, context(path, Zone::Utc)).unwrap().0
    }

    fn rfc(event: &Event) -> String {
        event.time.map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/htcondor-eventlog/EventLog");
    const ISO_INTERLEAVED: &str =
        include_str!("../../../tests/fixtures/htcondor-eventlog/iso/EventLog");
    const LEGACY_INTERLEAVED: &str =
        include_str!("../../../tests/fixtures/htcondor-eventlog/legacy/EventLog");

    #[test]
    fn reference_example_gives_one_event_per_record() {
        let events = parse(EXAMPLE, "var/log/condor/EventLog");
        let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["job.submit", "job.start", "other", "job.remove"]);
        assert!(events.iter().all(|e| e.source == "htcondor-eventlog"));
        assert!(events.iter().all(|e| e.service == "batch"));
    }

    #[test]
    fn submit_example_names_the_batch_job() {
        let events = parse(EXAMPLE, "var/log/condor/EventLog");
        let submit = &events[0];
        assert_eq!(submit.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(submit.job_id, "");
        assert_eq!(rfc(submit), "2025-03-04T10:15:31.000Z");
        assert_eq!(submit.origin.line, 1);
        assert_eq!(submit.raw.lines().count(), 2);
    }

    #[test]
    fn execute_example_gives_worker_node_from_slot_name_and_ip() {
        let events = parse(EXAMPLE, "var/log/condor/EventLog");
        let start = &events[1];
        assert_eq!(start.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(start.worker_node, "wn042.example.org");
        assert_eq!(start.client_ip, "10.20.4.42");
        assert_eq!(rfc(start), "2025-03-04T10:20:11.000Z");
        assert_eq!(start.origin.line, 3);
        assert!(start
            .raw
            .contains("\tSlotName: slot1_7@wn042.example.org\n..."));
    }

    #[test]
    fn job_ad_information_example_carries_the_token_id() {
        let events = parse(EXAMPLE, "var/log/condor/EventLog");
        let info = &events[2];
        assert_eq!(info.action, "other");
        assert_eq!(info.status, "ULOG_EXECUTE");
        assert_eq!(info.jti, "034a2f47-eaad-4f5d-bb98-abf569609366");
        assert_eq!(info.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(info.worker_node, "wn042.example.org");
        assert_eq!(rfc(info), "2025-03-04T10:20:11.000Z");
    }

    #[test]
    fn aborted_example_gives_job_remove_with_reason() {
        let events = parse(EXAMPLE, "var/log/condor/EventLog");
        let remove = &events[3];
        assert_eq!(remove.action, "job.remove");
        assert_eq!(remove.batch_job_id, "ce01.example.org#88713.0");
        assert_eq!(remove.status, "via condor_rm (by user cmspilot)");
        assert_eq!(rfc(remove), "2025-03-04T13:02:50.000Z");
        // Another job: nothing learnt about 88712.0 leaks into it.
        assert_eq!(remove.jti, "");
    }

    #[test]
    fn interleaved_iso_records_keep_each_job_apart() {
        let events = parse(ISO_INTERLEAVED, "var/log/condor/EventLog");
        let of = |batch: &str| -> Vec<&Event> {
            events
                .iter()
                .filter(|e| e.batch_job_id == batch || e.job_id == batch)
                .collect()
        };
        let first = of("ce01.example.org#88712.0");
        let actions = |list: &[&Event]| list.iter().map(|e| e.action.clone()).collect::<Vec<_>>();
        assert_eq!(
            actions(&first),
            [
                "job.submit",
                "other",
                "job.start",
                "other",
                "job.end",
                "other"
            ]
        );
        // 88712.0 was routed from the CE job 1523.0: after the 028 says so, both ids.
        assert_eq!(first[1].job_id, "ce01.example.org#1523.0");
        assert_eq!(first[2].job_id, "ce01.example.org#1523.0");
        assert_eq!(first[2].sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(first[2].iss, "https://cms-auth.cern.ch");
        assert_eq!(first[2].local_user, "cmspilot");
        let end = first[4];
        assert_eq!((end.status.as_str(), end.outcome.as_str()), ("0", "ok"));
        assert_eq!(end.worker_node, "wn042.example.org");
        assert_eq!(rfc(end), "2025-03-04T16:39:58.000Z");
        assert_eq!(first[5].job_id, "ce01.example.org#1523.0");
        // 88713.0: started on another node (IPv6), held, then removed.
        let other = of("ce01.example.org#88713.0");
        assert_eq!(
            actions(&other),
            ["job.submit", "other", "job.start", "job.hold", "job.remove"]
        );
        assert_eq!(other[2].worker_node, "wn043.example.org");
        assert_eq!(other[2].client_ip, "2001:db8::43");
        assert_eq!(other[3].status, "Error from slot1_2@wn043.example.org: Job has gone over memory limit of 2048 megabytes.");
        assert_eq!(other[3].outcome, "fail");
        assert_eq!(other[1].job_id, "ce01.example.org#1523.1");
        // The grid job routed to Slurm.
        let route = events.iter().find(|e| e.action == "job.route").unwrap();
        assert_eq!(route.batch_job_id, "slurm:7734121");
        assert_eq!(route.job_id, "ce01.example.org#1601.0");
        // Sub-second and UTC-marked times.
        let signal = events.iter().find(|e| e.status == "signal 9").unwrap();
        assert_eq!(rfc(signal), "2025-03-04T17:00:00.250Z");
        assert_eq!(signal.outcome, "fail");
    }

    #[test]
    fn interleaved_legacy_records_take_the_year_from_the_context() {
        let events = parse(LEGACY_INTERLEAVED, "var/log/condor/EventLog");
        assert_eq!(events.len(), 6);
        assert_eq!(rfc(&events[0]), "2025-03-04T10:15:31.000Z");
        assert_eq!(events[0].batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(events[1].batch_job_id, "ce01.example.org#88713.0");
        let start = events.iter().find(|e| e.action == "job.start").unwrap();
        assert_eq!(start.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(start.worker_node, "wn042.example.org");
        let end = events.iter().find(|e| e.action == "job.end").unwrap();
        assert_eq!(end.worker_node, "wn042.example.org");
        assert_eq!(end.status, "1");
        assert_eq!(end.outcome, "fail");
        let remove = events.iter().find(|e| e.action == "job.remove").unwrap();
        assert_eq!(remove.batch_job_id, "ce01.example.org#88713.0");
        let other = events.iter().find(|e| e.action == "other").unwrap();
        assert_eq!(other.origin.line, 11);
    }

    #[test]
    fn legacy_times_are_local_and_december_lines_in_a_january_file_are_last_year() {
        let mut context = context("EventLog", "Europe/Zurich".parse().unwrap());
        context.time.reference_date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
        let text = "000 (5.000.000) 12/31 23:59:59 Job submitted from host: <10.0.0.1:9618>\n...\n";
        let (events, _) = parse_text(text, None, context).unwrap();
        assert_eq!(rfc(&events[0]), "2025-12-31T22:59:59.000Z");
    }

    #[test]
    fn ce_side_log_names_the_ce_job() {
        let events = parse(
            "000 (1523.000.000) 2025-03-04 10:15:02 Job submitted from host: <192.0.2.77:9618>\n...\n",
            "var/log/condor-ce/EventLog",
        );
        assert_eq!(events[0].job_id, "ce01.example.org#1523.0");
        assert_eq!(events[0].batch_job_id, "");
        assert_eq!(events[0].service, "ce");
    }

    #[test]
    fn record_cut_without_terminator_is_flushed_at_next_header_and_at_end() {
        let text = "000 (1.000.000) 2025-03-04 10:00:00 Job submitted from host: <10.0.0.1:1>\n001 (1.000.000) 2025-03-04 10:01:00 Job executing on host: <10.0.0.2:1?alias=wn2>\n";
        let events = parse(text, "EventLog");
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].worker_node, "wn2");
        assert_eq!(events[1].raw.lines().count(), 1);
    }

    #[test]
    fn bad_dates_are_malformed_and_foreign_lines_not_mine() {
        let mut parser = (FORMAT.new_parser)(&context("EventLog", Zone::Utc));
        let mut out = Vec::new();
        let bad = Line::plain("000 (1.000.000) 13/45 99:00:00 Job submitted", 1, 0);
        assert_eq!(parser.feed(&bad, &mut out), Feed::Malformed);
        let body = Line::plain("\tvia condor_rm", 2, 40);
        assert_eq!(parser.feed(&body, &mut out), Feed::NotMine);
        let dots = Line::plain("...", 3, 60);
        assert_eq!(parser.feed(&dots, &mut out), Feed::Ignored);
        assert!(out.is_empty());
    }

    #[test]
    fn sniff_is_specific_to_event_headers() {
        assert!(sniff(
            "005 (88712.000.000) 03/04 16:39:58 Job terminated.",
            ""
        ));
        assert!(!sniff("005 (88712.000) 03/04 16:39:58 Job terminated.", ""));
        assert!(!sniff("03/04/25 10:20:11 (88712.0) (2231844): Request", ""));
        assert!(!sniff("GlobalJobId = \"x\"", "EventLog"));
        assert!(!sniff("...", "EventLog"));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "000 (1.0.0) 2025-13-04 10:00:00 x",
            "000 (1.0.0) 2025-03-04 10:00:00.\u{e9}",
            "012 (1.0.0) 03/04 10:00:00 Job was held.\n",
            "027 (1.0.0) 03/04 10:00:00 x\n    GridJobId: batch\n...",
            "005 (1.0.0) 03/04 10:00:00 x\n\t(return value \n...",
            "000 (99999999999999999999.0.0) 03/04 10:00:00 x",
        ] {
            let _ = parse(text, "EventLog");
        }
    }
}
