//! `htcondor-history`: HTCondor `history` files (`/var/lib/condor-ce/spool/history`, the batch
//! schedd's `/var/lib/condor/spool/history`, rotated `history.20250304T101500`, per-job
//! `history.<C>.<P>`) and saved `condor_history -l` output.
//!
//! Grammar: one job ad per record, `Attr = value` lines (strings double-quoted with backslash
//! escapes, integers, booleans, expressions), ended by the banner
//! `*** Offset = N ClusterId = C ProcId = P Owner = "u" CompletionDate = E[ CurrentTime = E2]`
//! in history files, or by a blank line in `condor_history -l` output. The stream pipeline
//! drops blank lines, so a gap in line numbers (or an attribute seen twice) closes an ad too;
//! the end of the stream closes the last one.
//!
//! Per ad (times are the ad's epoch seconds, UTC), all with the same ids, `local_user` = `Owner`
//! and the token identity (`AuthToken*`, or `orig_AuthToken*` on a routed job):
//! - `job.submit` at `QDate` (else the QDate that ends `GlobalJobId`);
//! - `job.start` at `JobCurrentStartDate` (else `JobStartDate`): `worker_node` from
//!   `LastRemoteHost`/`RemoteHost` without the slot, `client_ip` from `StartdIpAddr`;
//! - at `CompletionDate`/`EnteredCurrentStatus`: `job.end` (`ExitCode`, `ExitBySignal`),
//!   `job.remove` for `JobStatus = 3` (`RemoveReason`), `job.hold` for 5 (`HoldReason`).
//!
//! Ids (docs/conventions.md): the schedd host comes from `GlobalJobId` (else the stream's host).
//! A CE job ad (`RoutedToJobId`) has `job_id` = `<host>#C.P` and `batch_job_id` =
//! `<host>#<RoutedToJobId>`; a routed job ad (`RoutedFromJobId`, service `batch`) has
//! `batch_job_id` = `<host>#C.P` and `job_id` = `<host>#<RoutedFromJobId>`. The ad does not name
//! the other schedd, so both are assumed to run on one host, as HTCondor-CE sets them up
//! (`JOB_ROUTER_SCHEDD2_NAME = $(FULL_HOSTNAME)`). An ad with neither is named as a CE job.
//! An ad without any job id is kept as one `other` event, so no line is lost.

use crate::ce::classad::{self, Ad};
use crate::event::{action, outcome, Event, Origin, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `htcondor-history` format.
pub static FORMAT: Format = Format {
    id: "htcondor-history",
    service: Service::Ce,
    summary: "HTCondor history files and condor_history -l output",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            host: context.host.clone(),
            record: Record::default(),
            last_line: 0,
        })
    },
};

const BANNER: &str = "*** ";

/// Job-ad attributes (lower case) that mark a `Name = value` line as a job ad's, when the
/// file name does not say `history`.
const KNOWN_ATTRIBUTES: &[&str] = &[
    "args",
    "arguments",
    "cmd",
    "clusterid",
    "completiondate",
    "enteredcurrentstatus",
    "err",
    "globaljobid",
    "gridjobid",
    "gridresource",
    "in",
    "iwd",
    "out",
    "owner",
    "procid",
    "qdate",
    "requirements",
    "rank",
    "startdipaddr",
    "startdprincipal",
    "submitterglobaljobid",
    "targettype",
    "user",
    "mytype",
];

/// Prefixes (lower case) of job-ad attribute families.
const KNOWN_PREFIXES: &[&str] = &[
    "accountinggroup",
    "acctgroup",
    "authtoken",
    "autocluster",
    "bytes",
    "committed",
    "cumulative",
    "exit",
    "hold",
    "job",
    "last",
    "num",
    "orig_",
    "remote",
    "remove",
    "request",
    "route",
    "transfer",
    "x509",
];

fn sniff(text: &str, file_name: &str) -> bool {
    if text.starts_with("*** Offset = ") {
        return true;
    }
    let Some((name, value)) = classad::attribute_line(text) else {
        return false;
    };
    // The ClassAd unparser writes exactly ` = `; config files and other logs rarely do.
    if !text[name.len()..].starts_with(" = ") || value.is_empty() {
        return false;
    }
    if file_name.starts_with("history") {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    KNOWN_ATTRIBUTES.contains(&lower.as_str())
        || KNOWN_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
}

/// The ad being read.
#[derive(Default)]
struct Record {
    origin: Origin,
    lines: Vec<String>,
    ad: Ad,
}

impl Record {
    fn is_open(&self) -> bool {
        !self.lines.is_empty()
    }

    fn start(&mut self, line: &Line<'_>) {
        self.origin = line.origin();
        self.lines.clear();
        self.ad = Ad::default();
    }
}

struct Parser {
    host: String,
    record: Record,
    /// Number of the last line this parser saw: a gap means blank lines were dropped.
    last_line: u64,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let gap = self.last_line != 0 && line.number > self.last_line + 1;
        self.last_line = line.number;
        let text = line.text.trim_end();
        if let Some(banner) = text.strip_prefix(BANNER) {
            if !self.record.is_open() {
                return Feed::Ignored;
            }
            // The banner repeats ClusterId/ProcId/Owner/CompletionDate: a fallback for an ad
            // whose lines were cut.
            read_banner(banner, &mut self.record.ad);
            self.record.lines.push(line.raw.to_string());
            self.emit(out);
            return Feed::Parsed;
        }
        let Some((name, value)) = classad::attribute_line(text) else {
            return Feed::NotMine;
        };
        if self.record.is_open() && (gap || self.record.ad.contains(name)) {
            self.emit(out);
        }
        if !self.record.is_open() {
            self.record.start(line);
        }
        self.record.ad.insert(name, value);
        self.record.lines.push(line.raw.to_string());
        Feed::Pending
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        if self.record.is_open() {
            self.emit(out);
        }
    }
}

impl Parser {
    /// Emits the open ad's events and closes it.
    fn emit(&mut self, out: &mut Vec<Event>) {
        let record = std::mem::take(&mut self.record);
        out.extend(job_events(
            &record.ad,
            &self.host,
            record.origin,
            &record.lines,
        ));
    }
}

/// Reads the banner's `Name = value` pairs into the ad where it lacks them.
fn read_banner(banner: &str, ad: &mut Ad) {
    let mut rest = banner.trim_start();
    while let Some((name, after)) = rest.split_once(" = ") {
        let name = name.trim();
        let (value, next) = if after.starts_with('"') {
            let mut end = after.len();
            let mut escaped = false;
            for (index, c) in after.char_indices().skip(1) {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = index + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            after.split_at(end)
        } else {
            after.split_at(after.find(' ').unwrap_or(after.len()))
        };
        if !name.is_empty() && !name.contains(' ') {
            ad.insert_missing(name, value);
        }
        rest = next.trim_start();
    }
}

/// The events of one ad (see the module comment).
fn job_events(ad: &Ad, stream_host: &str, origin: Origin, lines: &[String]) -> Vec<Event> {
    let raw = lines.join("\n");
    let routed_from = ad
        .string("RoutedFromJobId")
        .filter(|id| classad::is_job_number(id));
    let service = if routed_from.is_some() {
        Service::Batch
    } else {
        Service::Ce
    };
    let mut base = Event::new(FORMAT.id, service);
    base.origin = origin;
    base.raw = raw;
    let Some(number) = ad.job_number() else {
        base.action = action::OTHER.into();
        return vec![base];
    };
    let host = ad.schedd_host().unwrap_or_else(|| stream_host.to_string());
    match routed_from {
        Some(source) => {
            base.job_id = classad::qualified(&host, &source);
            base.batch_job_id = classad::qualified(&host, &number);
        }
        None => {
            base.job_id = classad::qualified(&host, &number);
            if let Some(destination) = ad
                .string("RoutedToJobId")
                .filter(|id| classad::is_job_number(id))
            {
                base.batch_job_id = classad::qualified(&host, &destination);
            }
        }
    }
    classad::fill_identity(ad, &mut base);
    if let Some(owner) = ad.string("Owner") {
        base.local_user = owner;
    }

    let mut events = Vec::new();
    let mut submit = base.clone();
    submit.action = action::JOB_SUBMIT.into();
    submit.outcome = outcome::OK.into();
    // GlobalJobId ends with the QDate: the fallback for an excerpt without it.
    submit.time = ad.epoch("QDate").or_else(|| {
        ad.string("GlobalJobId")
            .and_then(|global| {
                global
                    .rsplit('#')
                    .next()
                    .and_then(|q| q.parse::<i64>().ok())
            })
            .filter(|seconds| *seconds > 0)
            .map(crate::event::Timestamp::from_secs)
    });
    events.push(submit);

    // The last run's host goes with the last run's start (JobCurrentStartDate).
    let startd = ad
        .string("StartdIpAddr")
        .and_then(|text| classad::sinful(&text));
    let slot = ad
        .string("LastRemoteHost")
        .or_else(|| ad.string("RemoteHost"));
    let worker_node = match (&slot, &startd) {
        (Some(slot), _) => classad::worker_from_slot(slot),
        (None, Some(startd)) if !startd.alias.is_empty() => startd.alias.clone(),
        (None, Some(startd)) => startd.ip.clone(),
        (None, None) => String::new(),
    };
    let worker_ip = startd.map(|startd| startd.ip).unwrap_or_default();
    let start_time = ad
        .epoch("JobCurrentStartDate")
        .or_else(|| ad.epoch("JobStartDate"));
    if let Some(time) = start_time {
        let mut start = base.clone();
        start.action = action::JOB_START.into();
        start.outcome = outcome::OK.into();
        start.time = Some(time);
        start.worker_node = worker_node.clone();
        start.client_ip = worker_ip.clone();
        events.push(start);
    }

    let status = ad.integer("JobStatus");
    let end_time = ad
        .epoch("CompletionDate")
        .or_else(|| ad.epoch("EnteredCurrentStatus"));
    let mut end = base;
    end.worker_node = worker_node;
    end.client_ip = worker_ip;
    end.time = end_time;
    match status {
        Some(3) => {
            end.action = action::JOB_REMOVE.into();
            end.outcome = outcome::OK.into();
            end.status = ad.string("RemoveReason").unwrap_or_default();
        }
        Some(5) => {
            end.action = action::JOB_HOLD.into();
            end.outcome = outcome::FAIL.into();
            end.status = ad.string("HoldReason").unwrap_or_default();
        }
        Some(4) => set_exit(ad, &mut end),
        _ if ad.epoch("CompletionDate").is_some() => set_exit(ad, &mut end),
        _ => return events,
    }
    if end.time.is_some() {
        events.push(end);
    }
    events
}

/// `job.end` with the exit code or signal.
fn set_exit(ad: &Ad, event: &mut Event) {
    event.action = action::JOB_END.into();
    if ad.boolean("ExitBySignal") == Some(true) {
        event.outcome = outcome::FAIL.into();
        event.status = match ad.integer("ExitSignal") {
            Some(signal) => format!("signal {signal}"),
            None => "signal".to_string(),
        };
        return;
    }
    if let Some(code) = ad.integer("ExitCode") {
        event.status = code.to_string();
        event.outcome = if code == 0 {
            outcome::OK
        } else {
            outcome::FAIL
        }
        .into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    fn context(file_name: &str) -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            host: "stream-host.example.org".into(),
            path: format!("spool/{file_name}"),
            file_name: file_name.into(),
            ..Context::default()
        }
    }

    fn parse(text: &str, file_name: &str) -> Vec<Event> {
        parse_text(text, None, context(file_name)).unwrap().0
    }

    fn find<'a>(events: &'a [Event], action: &str, job_id: &str) -> &'a Event {
        events
            .iter()
            .find(|e| e.action == action && e.job_id == job_id)
            .unwrap_or_else(|| panic!("no {action} for {job_id} in {events:#?}"))
    }

    fn rfc(event: &Event) -> String {
        event.time.map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    const CE_EXAMPLE: &str = include_str!("../../../tests/fixtures/htcondor-history/ce/history");
    const ROUTED_EXAMPLE: &str =
        include_str!("../../../tests/fixtures/htcondor-history/batch/history");
    const PAIR_HISTORY: &str =
        include_str!("../../../tests/fixtures/htcondor-history/pair/history.20250304T170000");
    const PAIR_CONDOR_HISTORY_L: &str =
        include_str!("../../../tests/fixtures/htcondor-history/pair/condor_history-l.txt");

    const JTI: &str = "034a2f47-eaad-4f5d-bb98-abf569609366";
    const SUB: &str = "95851aad-083d-49e5-8c3a-61d0438d201e";
    const ISS: &str = "https://cms-auth.cern.ch";

    #[test]
    fn ce_history_example_gives_submit_with_token_identity_and_routed_batch_id() {
        let events = parse(CE_EXAMPLE, "history");
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.source == "htcondor-history"));
        let submit = find(&events, "job.submit", "ce01.example.org#1523.0");
        assert_eq!(submit.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(submit.iss, ISS);
        assert_eq!(submit.sub, SUB);
        assert_eq!(submit.jti, JTI);
        assert_eq!(
            submit.scopes,
            [
                "compute.cancel",
                "compute.create",
                "compute.modify",
                "compute.read"
            ]
        );
        assert_eq!(submit.groups, ["/cms", "/cms/pilot"]);
        assert_eq!(submit.local_user, "cmspilot");
        assert_eq!(submit.service, "ce");
        assert_eq!(submit.outcome, "ok");
        // No QDate in the excerpt: the one in GlobalJobId.
        assert_eq!(rfc(submit), "2025-03-04T10:15:02.000Z");
        // No CompletionDate attribute either: the banner's.
        let end = find(&events, "job.end", "ce01.example.org#1523.0");
        assert_eq!(rfc(end), "2025-03-04T16:40:12.000Z");
        assert_eq!(end.jti, JTI);
        assert_eq!(end.origin.line, 1);
        assert_eq!(end.origin.offset, 0);
        assert!(end
            .raw
            .starts_with("AuthTokenGroups = \"/cms,/cms/pilot\"\n"));
        assert!(end.raw.ends_with("CurrentTime = 1741106415"));
        assert_eq!(end.raw.lines().count(), 14);
    }

    #[test]
    fn routed_history_example_gives_batch_job_worker_node_and_orig_token() {
        let events = parse(ROUTED_EXAMPLE, "history");
        assert_eq!(events.len(), 2);
        let submit = find(&events, "job.submit", "ce01.example.org#1523.0");
        assert_eq!(submit.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(submit.service, "batch");
        assert_eq!(rfc(submit), "2025-03-04T10:15:31.000Z");
        assert_eq!((submit.iss.as_str(), submit.sub.as_str()), (ISS, SUB));
        assert_eq!(submit.jti, JTI);
        // No start date in the excerpt, so no job.start; the end still names the node.
        let end = find(&events, "job.end", "ce01.example.org#1523.0");
        assert_eq!(end.batch_job_id, "ce01.example.org#88712.0");
        assert_eq!(end.worker_node, "wn042.example.org");
        assert_eq!(end.client_ip, "10.20.4.42");
        assert_eq!(rfc(end), "2025-03-04T16:40:00.000Z");
        assert_eq!(end.local_user, "cmspilot");
        assert_eq!(end.jti, JTI);
    }

    fn assert_pair(events: &[Event]) {
        assert!(events.iter().all(|e| e.source == "htcondor-history"));
        let ids: std::collections::BTreeSet<_> = events
            .iter()
            .map(|e| {
                (
                    e.job_id.as_str(),
                    e.batch_job_id.as_str(),
                    e.jti.as_str(),
                    e.sub.as_str(),
                    e.iss.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            [(
                "ce01.example.org#1523.0",
                "ce01.example.org#88712.0",
                JTI,
                SUB,
                ISS
            )]
        );
        let actions: Vec<_> = events
            .iter()
            .map(|e| (e.service.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("ce", "job.submit"),
                ("ce", "job.start"),
                ("ce", "job.end"),
                ("batch", "job.submit"),
                ("batch", "job.start"),
                ("batch", "job.end"),
            ]
        );
        // The routed job's own AuthToken* (the JobRouter's credential) is not taken.
        assert!(!events.iter().any(|e| e.jti.contains("jobrouter")));
        let batch_start = &events[4];
        assert_eq!(batch_start.worker_node, "wn042.example.org");
        assert_eq!(batch_start.client_ip, "10.20.4.42");
        assert_eq!(rfc(batch_start), "2025-03-04T10:20:11.000Z");
        assert_eq!(batch_start.groups, ["/cms", "/cms/pilot"]);
        let batch_end = &events[5];
        assert_eq!(rfc(batch_end), "2025-03-04T16:39:58.000Z");
        assert_eq!(
            (batch_end.status.as_str(), batch_end.outcome.as_str()),
            ("0", "ok")
        );
        // The CE ad knows no worker node, only the run window.
        assert_eq!(events[1].worker_node, "");
        assert_eq!(rfc(&events[1]), "2025-03-04T10:20:11.000Z");
        assert_eq!(rfc(&events[2]), "2025-03-04T16:40:12.000Z");
    }

    #[test]
    fn ce_and_routed_ads_in_a_history_file_agree_on_ids_identity_and_run_window() {
        let events = parse(PAIR_HISTORY, "history.20250304T170000");
        assert_pair(&events);
        assert_eq!(events[0].origin.line, 1);
        assert_eq!(events[3].origin.line, 23);
        assert_eq!(events[3].raw.lines().count(), 28);
    }

    #[test]
    fn condor_history_l_blocks_split_on_blank_lines() {
        let events = parse(PAIR_CONDOR_HISTORY_L, "condor_history-l.txt");
        assert_pair(&events);
        assert_eq!(events[3].origin.line, 23);
        assert_eq!(events[3].raw.lines().count(), 27);
        assert!(events[0]
            .raw
            .ends_with("User = \"cmspilot@users.htcondor.org\""));
    }

    #[test]
    fn condor_history_l_without_blank_lines_splits_on_a_repeated_attribute() {
        let joined = PAIR_CONDOR_HISTORY_L.replace("\n\n", "\n");
        let events = parse(&joined, "condor_history-l.txt");
        assert_pair(&events);
    }

    #[test]
    fn removed_job_gives_job_remove_with_reason() {
        let text = "ClusterId = 1523\nProcId = 1\nGlobalJobId = \"ce01.example.org#1523.1#1741083302\"\nQDate = 1741083302\nJobStatus = 3\nEnteredCurrentStatus = 1741093364\nRemoveReason = \"via condor_rm (by user cmspilot)\"\nRoutedToJobId = \"88713.0\"\n*** Offset = 512 ClusterId = 1523 ProcId = 1 Owner = \"cmspilot\" CompletionDate = 0\n";
        let events = parse(text, "history");
        let remove = find(&events, "job.remove", "ce01.example.org#1523.1");
        assert_eq!(remove.status, "via condor_rm (by user cmspilot)");
        assert_eq!(rfc(remove), "2025-03-04T13:02:44.000Z");
        assert_eq!(remove.local_user, "cmspilot");
        assert!(!events.iter().any(|e| e.action == "job.start"));
    }

    #[test]
    fn held_job_and_signal_exit_are_failures() {
        let held = "ClusterId = 7\nProcId = 0\nJobStatus = 5\nEnteredCurrentStatus = 1741093364\nHoldReason = \"Error from slot1@wn1: \\\"disk full\\\"\"\n";
        let events = parse(held, "history");
        let hold = find(&events, "job.hold", "stream-host.example.org#7.0");
        assert_eq!(hold.status, "Error from slot1@wn1: \"disk full\"");
        assert_eq!(hold.outcome, "fail");
        let killed = "ClusterId = 8\nProcId = 0\nJobStatus = 4\nCompletionDate = 1741093364\nExitBySignal = true\nExitSignal = 9\n";
        let events = parse(killed, "history");
        let end = find(&events, "job.end", "stream-host.example.org#8.0");
        assert_eq!(end.status, "signal 9");
        assert_eq!(end.outcome, "fail");
    }

    #[test]
    fn reordered_keys_lower_case_names_and_ipv6_startd() {
        let text = "startdipaddr = \"<[2001:db8::42]:9618?addrs=[2001:db8::42]-9618&noUDP>\"\nJobCurrentStartDate = 1741083611\nremotehost = \"slot1@WN7.example.org\"\nprocid = 0\nclusterid = 9\n";
        let events = parse(text, "history");
        let start = find(&events, "job.start", "stream-host.example.org#9.0");
        assert_eq!(start.client_ip, "2001:db8::42");
        assert_eq!(start.worker_node, "wn7.example.org");
    }

    #[test]
    fn worker_node_falls_back_to_the_startd_alias_then_ip() {
        let text = "ClusterId = 9\nProcId = 0\nJobStartDate = 1741083611\nStartdIpAddr = \"<10.0.0.9:9618?alias=wn9.example.org>\"\n";
        let events = parse(text, "history");
        assert_eq!(
            find(&events, "job.start", "stream-host.example.org#9.0").worker_node,
            "wn9.example.org"
        );
        let text = "ClusterId = 9\nProcId = 0\nJobStartDate = 1741083611\nStartdIpAddr = \"<10.0.0.9:9618>\"\n";
        let events = parse(text, "history");
        assert_eq!(
            find(&events, "job.start", "stream-host.example.org#9.0").worker_node,
            "10.0.0.9"
        );
    }

    #[test]
    fn truncated_ad_without_ids_is_kept_as_one_other_event() {
        let text = "Owner = \"cmspilot\"\nGlobalJobId = \"ce01.exam";
        let (events, stats) = parse_text(text, None, context("history")).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "other");
        assert_eq!(events[0].raw, text);
        assert_eq!(events[0].local_user, "");
        assert_eq!(stats.formats["htcondor-history"].lines, 2);
    }

    #[test]
    fn stray_banner_is_ignored_and_foreign_lines_are_not_mine() {
        let (events, _) = parse_text(
            "*** Offset = 0 ClusterId = 1 ProcId = 0 Owner = \"u\" CompletionDate = 0\n",
            None,
            context("history"),
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].source, "htcondor-history");
        assert_eq!(events[0].action, "");
        let mut parser = (FORMAT.new_parser)(&context("history"));
        let mut out = Vec::new();
        let line = Line::plain(
            "03/04/25 10:15:02 (cid:48213) Submitting new job 1523.0",
            1,
            0,
        );
        assert_eq!(parser.feed(&line, &mut out), Feed::NotMine);
    }

    #[test]
    fn sniff_needs_a_job_attribute_or_a_history_file_name() {
        assert!(sniff("GlobalJobId = \"x#1.0#2\"", "whatever.txt"));
        assert!(sniff("orig_AuthTokenId = \"x\"", "whatever.txt"));
        assert!(sniff("Foo = 1", "history.20250304T101500"));
        assert!(sniff("*** Offset = 0 ClusterId = 1", "x"));
        assert!(!sniff("Foo = 1", "x.conf"));
        assert!(!sniff("GlobalJobId=\"x\"", "x"));
        assert!(!sniff("lrms=slurm", "job.abc.local"));
        assert!(!sniff(
            "000 (88712.000.000) 2025-03-04 10:15:31 Job submitted from host: <1.2.3.4:1>",
            "EventLog"
        ));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "Owner = \"\u{e9}\\",
            "*** ClusterId = \"",
            "*** = = =",
            "A = \"\\",
            "ClusterId = 99999999999999999999999",
        ] {
            let _ = parse(text, "history");
        }
    }
}
