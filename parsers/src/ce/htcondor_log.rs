//! The HTCondor daemon-log line grammar shared by AuditLog, SchedLog, JobRouterLog,
//! GridmanagerLog, ShadowLog and AuditPayloadLog (formats/ce.md §1), and the stream wrapper that
//! every one of those parsers uses.
//!
//! ```text
//! LINE := TIME " " ["(fd:N) "] ["(pid:N) "] ["(tid:N) "] ["(cid:N) "] ["(bt:HEX:N) "]
//!         ["(" D_CAT [":" V] ["|D_FAILURE"] ") "] MESSAGE
//! TIME := MM/DD/YY HH:MM:SS[.mmm]     local time of the stream's zone, two-digit year
//!       | EPOCH[.mmm]                 LOGS_USE_TIMESTAMP / D_TIMESTAMP, UTC
//! ```
//! `03/04/25 15:01:12.417 (pid:2245) (cid:54120) (D_AUDIT) AuthMethod=SCITOKENS, …`
//!
//! A line without a header continues the message of the line before it (the JobRouter's
//! routing-table dump): [`DaemonLogParser`] holds each record until the next header line so
//! that its events carry every line of the record in `raw`. Rotation banners (`MaxLog = …`,
//! `Saving log file to "…"`) are `Ignored`.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1, take_while_m_n};
use nom::character::complete::{char, digit1};
use nom::combinator::{opt, recognize};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use crate::event::{Event, Timestamp};
use crate::parser::{Context, Feed, Line, LineParser};
use crate::time::{expand_two_digit_year, TimeContext};

/// The parsed header of one daemon-log line.
#[derive(Clone, Debug, PartialEq)]
pub struct Header<'a> {
    /// The line's time in UTC; `None` when the header has the right shape but an impossible
    /// date (`13/45/25 …`).
    pub time: Option<Timestamp>,
    pub fd: Option<u64>,
    pub pid: Option<u64>,
    pub tid: Option<u64>,
    /// Connection id (`D_IDENT`): unique within one daemon run only.
    pub cid: Option<u64>,
    /// The category without verbosity and failure flag (`D_AUDIT`), when `D_CAT` is on.
    pub category: Option<&'a str>,
    /// `(…|D_FAILURE)`: the message was also an error.
    pub failure: bool,
    /// Everything after the header.
    pub message: &'a str,
}

fn two_digits(input: &str) -> IResult<&str, u32> {
    take_while_m_n(2, 2, |c: char| c.is_ascii_digit())
        .map_res(str::parse::<u32>)
        .parse(input)
}

fn millis(input: &str) -> IResult<&str, u32> {
    // `.mmm` (D_SUB_SECOND prints exactly three digits; more are tolerated and cut).
    preceded(char('.'), digit1)
        .map(|fraction: &str| {
            let padded = format!("{fraction:0<3}");
            padded.get(..3).and_then(|m| m.parse().ok()).unwrap_or(0)
        })
        .parse(input)
}

/// `MM/DD/YY HH:MM:SS[.mmm]` as parts (year still two digits).
type DateParts = (u32, u32, u32, u32, u32, u32, u32);

fn calendar_time(input: &str) -> IResult<&str, DateParts> {
    let (rest, (month, _, day, _, year, _, hour, _, minute, _, second, fraction)) = (
        two_digits,
        char('/'),
        two_digits,
        char('/'),
        two_digits,
        char(' '),
        two_digits,
        char(':'),
        two_digits,
        char(':'),
        two_digits,
        opt(millis),
    )
        .parse(input)?;
    Ok((
        rest,
        (
            month,
            day,
            year,
            hour,
            minute,
            second,
            fraction.unwrap_or(0),
        ),
    ))
}

fn epoch_time(input: &str) -> IResult<&str, (u64, u32)> {
    let (rest, seconds) = take_while_m_n(9, 10, |c: char| c.is_ascii_digit())
        .map_res(str::parse::<u64>)
        .parse(input)?;
    let (rest, fraction) = opt(millis).parse(rest)?;
    Ok((rest, (seconds, fraction.unwrap_or(0))))
}

fn numbered<'a>(
    key: &'static str,
) -> impl Parser<&'a str, Output = u64, Error = nom::error::Error<&'a str>> {
    delimited(
        (char('('), tag(key), char(':')),
        digit1.map_res(str::parse::<u64>),
        (char(')'), char(' ')),
    )
}

fn backtrace(input: &str) -> IResult<&str, &str> {
    delimited(
        tag("(bt:"),
        take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == 'x'),
        tag(") "),
    )
    .parse(input)
}

/// `(D_AUDIT)`, `(D_ALWAYS:2)`, `(D_AUDIT|D_FAILURE)` → (category, failure).
fn category(input: &str) -> IResult<&str, (&str, bool)> {
    let name = recognize((
        tag("D_"),
        take_while1(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
    ));
    let verbosity = preceded(char(':'), digit1);
    let failure = alt((tag("|D_FAILURE"), tag("|D_ERROR")));
    delimited(
        char('('),
        (name, opt(verbosity), opt(failure)),
        (char(')'), opt(char(' '))),
    )
    .map(|(name, _, failure)| (name, failure.is_some()))
    .parse(input)
}

/// Parses a daemon-log header; `None` when the line does not start with one (a continuation
/// line, or another format).
pub fn parse_header<'a>(text: &'a str, time: &TimeContext) -> Option<Header<'a>> {
    let (rest, stamp) = if let Ok((rest, parts)) = calendar_time(text) {
        let (month, day, year, hour, minute, second, fraction) = parts;
        let stamp = time.local_parts(
            expand_two_digit_year(year),
            month,
            day,
            hour,
            minute,
            second,
            fraction,
        );
        (rest, stamp)
    } else if let Ok((rest, (seconds, fraction))) = epoch_time(text) {
        let stamp = i64::try_from(seconds)
            .ok()
            .map(|s| Timestamp(s.saturating_mul(1000) + i64::from(fraction)));
        (rest, stamp)
    } else {
        return None;
    };
    // The header ends with a space before the message (or the line ends there).
    let mut rest = match rest.strip_prefix(' ') {
        Some(rest) => rest,
        None if rest.is_empty() => rest,
        None => return None,
    };
    let mut header = Header {
        time: stamp,
        fd: None,
        pid: None,
        tid: None,
        cid: None,
        category: None,
        failure: false,
        message: "",
    };
    if let Ok((next, fd)) = numbered("fd").parse(rest) {
        header.fd = Some(fd);
        rest = next;
    }
    if let Ok((next, pid)) = numbered("pid").parse(rest) {
        header.pid = Some(pid);
        rest = next;
    }
    if let Ok((next, tid)) = numbered("tid").parse(rest) {
        header.tid = Some(tid);
        rest = next;
    }
    if let Ok((next, cid)) = numbered("cid").parse(rest) {
        header.cid = Some(cid);
        rest = next;
    }
    if let Ok((next, _)) = backtrace(rest) {
        rest = next;
    }
    if let Ok((next, (name, failure))) = category(rest) {
        header.category = Some(name);
        header.failure = failure;
        rest = next;
    }
    header.message = rest;
    Some(header)
}

/// The lines a daemon appends to a log before rotating it.
pub fn is_rotation_banner(message: &str) -> bool {
    message.starts_with("MaxLog = ") || message.starts_with("Saving log file to ")
}

/// What a daemon's startup banner says about the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banner {
    /// `** condor_schedd (CONDOR_SCHEDD) STARTING UP`: a new daemon run starts.
    Starting,
    /// `** PID = 2245`.
    Pid(u64),
    /// Any other banner line (`******…`, `** $CondorVersion…`).
    Other,
}

/// Reads a startup-banner line (`** …` or a row of `*`).
pub fn banner(message: &str) -> Option<Banner> {
    let body = message.strip_prefix("**")?;
    if body.bytes().all(|b| b == b'*') {
        return Some(Banner::Other);
    }
    let body = body.trim();
    if body.ends_with("STARTING UP") {
        return Some(Banner::Starting);
    }
    if let Some(pid) = body.strip_prefix("PID = ") {
        if let Ok(pid) = pid.trim().parse() {
            return Some(Banner::Pid(pid));
        }
    }
    Some(Banner::Other)
}

/// Does the file name say it is this daemon log? `AuditLog`, `AuditLog.old`,
/// `AuditLog.20261122T000000`, `GridmanagerLog.cmspilot`, `AuditLog-20250304`.
pub fn file_hint(file_name: &str, base: &str) -> bool {
    match file_name.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('-'),
        None => false,
    }
}

/// The IP inside a sinful string `<1.2.3.4:9618?addrs=…>` or `<[2001:db8::1]:9618>`, without
/// port and brackets.
pub fn sinful_ip(text: &str) -> Option<&str> {
    let start = text.find('<')?;
    let inner = &text[start + 1..];
    let end = inner.find(['>', '?']).unwrap_or(inner.len());
    let address = &inner[..end];
    let host = if let Some(bracketed) = address.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        match address.rsplit_once(':') {
            Some((host, _)) => host,
            None => address,
        }
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    valid.then_some(host)
}

/// `alias=` of a sinful string: the name the daemon advertises.
pub fn sinful_alias(text: &str) -> Option<&str> {
    let start = text.find("alias=")? + "alias=".len();
    let rest = &text[start..];
    let end = rest.find(['&', '>', ' ']).unwrap_or(rest.len());
    let alias = &rest[..end];
    (!alias.is_empty()).then_some(alias)
}

/// A job id `C.P` (`P` may be `-1` for a cluster ad): returns it trimmed when valid.
pub fn job_number(text: &str) -> Option<&str> {
    let text = text.trim();
    let (cluster, proc_id) = text.split_once('.')?;
    let proc_digits = proc_id.strip_prefix('-').unwrap_or(proc_id);
    let valid = !cluster.is_empty()
        && cluster.bytes().all(|b| b.is_ascii_digit())
        && !proc_digits.is_empty()
        && proc_digits.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(text)
}

/// A job's id as the trace engine joins on it: `<host>#C.P`, or `C.P` alone when the host is
/// not known (no `--host`, no syslog host, no per-host directory).
pub fn qualified_job_id(host: &str, job: &str) -> String {
    if host.is_empty() {
        job.to_string()
    } else {
        format!("{host}#{job}")
    }
}

/// The execution host of a slot name, lower case: `slot1_7@wn042.example.org` and
/// `slot1_1@glidein_1234_567@wn042.example.org` → `wn042.example.org`.
pub fn slot_host(slot: &str) -> String {
    slot.rsplit('@').next().unwrap_or(slot).to_ascii_lowercase()
}

/// The host a line of the stream speaks for: the syslog sender, else the stream's host.
pub fn line_host<'a>(line: &Line<'a>, context: &'a Context) -> &'a str {
    line.prefix_host.unwrap_or(&context.host)
}

/// What a daemon log's parser does with one header line.
pub trait Handler: Send {
    /// Handles a header line; events it yields are built with `line.event(…)` and pushed to
    /// `out`. Returns `Parsed` (the wrapper then holds the events until the record ends),
    /// `Ignored`, `Malformed` or `NotMine`.
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed;

    /// May this header line be folded into the open record (whose events are given)? The
    /// SchedLog's `ATTRS: SetAttribute` lines of one job make one event this way.
    fn merge(
        &mut self,
        _header: &Header<'_>,
        _line: &Line<'_>,
        _context: &Context,
        _open: &mut [Event],
    ) -> bool {
        false
    }

    /// Is a line without a header that no record is open for still of this format? (Bare
    /// rotation banners are always; a handler may accept more.)
    fn hinted(&self, context: &Context) -> bool;

    /// End of stream: flush anything held.
    fn finish(&mut self, _out: &mut Vec<Event>) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    None,
    Open,
    Parsed,
    Ignored,
    Malformed,
}

struct OpenRecord {
    events: Vec<Event>,
    first_raw: String,
    raw: String,
}

/// The line parser of one daemon log: header grammar, continuation lines, rotation banners;
/// the messages go to the format's [`Handler`].
pub struct DaemonLogParser<H> {
    handler: H,
    context: Context,
    open: Option<OpenRecord>,
    last: Last,
}

impl<H: Handler> DaemonLogParser<H> {
    pub fn new(handler: H, context: &Context) -> Self {
        DaemonLogParser {
            handler,
            context: context.clone(),
            open: None,
            last: Last::None,
        }
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        if let Some(record) = self.open.take() {
            for mut event in record.events {
                if event.raw == record.first_raw {
                    event.raw.clone_from(&record.raw);
                }
                out.push(event);
            }
        }
    }
}

impl<H: Handler> LineParser for DaemonLogParser<H> {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Some(header) = parse_header(line.text, &self.context.time) else {
            if is_rotation_banner(line.text.trim_start())
                && (self.last != Last::None || self.handler.hinted(&self.context))
            {
                self.flush(out);
                self.last = Last::Ignored;
                return Feed::Ignored;
            }
            return match self.last {
                Last::Open => match self.open.as_mut() {
                    Some(record) => {
                        record.raw.push('\n');
                        record.raw.push_str(line.raw);
                        Feed::Pending
                    }
                    None => Feed::Parsed,
                },
                Last::Parsed => Feed::Parsed,
                Last::Ignored => Feed::Ignored,
                Last::Malformed => Feed::Malformed,
                Last::None => Feed::NotMine,
            };
        };
        if is_rotation_banner(header.message) {
            self.flush(out);
            self.last = Last::Ignored;
            return Feed::Ignored;
        }
        if let Some(record) = self.open.as_mut() {
            if self
                .handler
                .merge(&header, line, &self.context, &mut record.events)
            {
                record.raw.push('\n');
                record.raw.push_str(line.raw);
                return Feed::Pending;
            }
        }
        self.flush(out);
        let mut events = Vec::new();
        let feed = self
            .handler
            .handle(&header, line, &self.context, &mut events);
        let host = line_host(line, &self.context).to_string();
        for event in &mut events {
            if event.time.is_none() {
                event.time = header.time;
            }
            if event.host.is_empty() {
                event.host.clone_from(&host);
            }
        }
        match feed {
            Feed::Parsed | Feed::Pending if !events.is_empty() => {
                self.open = Some(OpenRecord {
                    events,
                    first_raw: line.raw.to_string(),
                    raw: line.raw.to_string(),
                });
                self.last = Last::Open;
                Feed::Pending
            }
            Feed::Parsed | Feed::Pending => {
                self.last = Last::Parsed;
                Feed::Parsed
            }
            other => {
                out.extend(events);
                self.last = match other {
                    Feed::Ignored => Last::Ignored,
                    Feed::Malformed => Last::Malformed,
                    _ => Last::None,
                };
                other
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        self.flush(out);
        self.handler.finish(out);
    }
}

/// Cheap sniff: does the line start with a daemon-log header? Returns the message.
pub fn sniff_message(text: &str) -> Option<&str> {
    // A fixed TimeContext: the sniff only needs the shape, not the zone.
    let bytes = text.as_bytes();
    let looks_like_time = bytes.len() > 10
        && bytes[0].is_ascii_digit()
        && bytes[1].is_ascii_digit()
        && (bytes[2] == b'/' || bytes[2].is_ascii_digit());
    if !looks_like_time {
        return None;
    }
    let context = TimeContext {
        zone: crate::time::Zone::Utc,
        year_override: None,
        reference_date: None,
    };
    parse_header(text, &context).map(|header| header.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Zone;

    fn utc() -> TimeContext {
        TimeContext {
            zone: Zone::Utc,
            year_override: None,
            reference_date: None,
        }
    }

    fn rfc(header: &Header<'_>) -> String {
        header.time.unwrap().to_rfc3339()
    }

    #[test]
    fn reads_the_default_ce_header_with_a_cid() {
        let header = parse_header(
            "03/04/25 10:15:02 (cid:48213) Submitting new job 1523.0",
            &utc(),
        )
        .unwrap();
        assert_eq!(rfc(&header), "2025-03-04T10:15:02.000Z");
        assert_eq!(header.cid, Some(48213));
        assert_eq!(header.pid, None);
        assert_eq!(header.message, "Submitting new job 1523.0");
    }

    #[test]
    fn reads_sub_second_pid_cid_and_category() {
        let header = parse_header(
            "03/04/25 15:01:12.417 (pid:2245) (cid:54120) (D_AUDIT) AuthMethod=SCITOKENS",
            &utc(),
        )
        .unwrap();
        assert_eq!(rfc(&header), "2025-03-04T15:01:12.417Z");
        assert_eq!(header.pid, Some(2245));
        assert_eq!(header.cid, Some(54120));
        assert_eq!(header.category, Some("D_AUDIT"));
        assert!(!header.failure);
        assert_eq!(header.message, "AuthMethod=SCITOKENS");
    }

    #[test]
    fn reads_every_optional_field_and_the_failure_flag() {
        let header = parse_header(
            "03/04/25 15:01:12 (fd:7) (pid:2245) (tid:2250) (cid:9) (bt:7f3a:12) (D_AUDIT:2|D_FAILURE) Authorization Denied",
            &utc(),
        )
        .unwrap();
        assert_eq!(header.fd, Some(7));
        assert_eq!(header.tid, Some(2250));
        assert_eq!(header.cid, Some(9));
        assert_eq!(header.category, Some("D_AUDIT"));
        assert!(header.failure);
        assert_eq!(header.message, "Authorization Denied");
    }

    #[test]
    fn reads_epoch_times_as_utc() {
        let header = parse_header("1741083302.250 (cid:0) Job start: {}", &utc()).unwrap();
        assert_eq!(rfc(&header), "2025-03-04T10:15:02.250Z");
        let zurich = TimeContext {
            zone: "Europe/Zurich".parse().unwrap(),
            ..utc()
        };
        let header = parse_header("1741083302 Job start", &zurich).unwrap();
        assert_eq!(rfc(&header), "2025-03-04T10:15:02.000Z");
    }

    #[test]
    fn converts_local_time_with_the_stream_zone() {
        let zurich = TimeContext {
            zone: "Europe/Zurich".parse().unwrap(),
            ..utc()
        };
        let header = parse_header("07/01/25 12:00:00 x", &zurich).unwrap();
        assert_eq!(rfc(&header), "2025-07-01T10:00:00.000Z");
    }

    #[test]
    fn two_digit_years_are_expanded_not_taken_from_elsewhere() {
        let context = TimeContext {
            year_override: Some(2030),
            ..utc()
        };
        let header = parse_header("12/31/99 23:59:59 x", &context).unwrap();
        assert_eq!(rfc(&header), "1999-12-31T23:59:59.000Z");
    }

    #[test]
    fn impossible_dates_keep_the_shape_but_no_time() {
        let header = parse_header("13/45/25 10:15:02 x", &utc()).unwrap();
        assert_eq!(header.time, None);
    }

    #[test]
    fn rejects_lines_without_a_header() {
        for text in [
            "  Route 1",
            "2025-03-04 10:15:02 other format",
            "03/04/25 10:15",
            "03/04/25 10:15:02x",
            "",
            "é/04/25 10:15:02 x",
            "12345678 short epoch",
        ] {
            assert!(parse_header(text, &utc()).is_none(), "{text}");
        }
    }

    #[test]
    fn sinful_strings_give_the_ip() {
        assert_eq!(sinful_ip("<192.0.2.77:41234>"), Some("192.0.2.77"));
        assert_eq!(
            sinful_ip("<10.20.4.42:9618?addrs=10.20.4.42-9618&alias=wn042.example.org>"),
            Some("10.20.4.42")
        );
        assert_eq!(sinful_ip("<[2001:db8::1]:9618>"), Some("2001:db8::1"));
        assert_eq!(sinful_ip("<garbage>"), None);
        assert_eq!(sinful_ip("no sinful"), None);
        assert_eq!(
            sinful_alias("<10.20.4.42:9618?addrs=x&alias=wn042.example.org&noUDP>"),
            Some("wn042.example.org")
        );
    }

    #[test]
    fn file_hints_accept_rotated_names_only_of_that_log() {
        assert!(file_hint("AuditLog", "AuditLog"));
        assert!(file_hint("AuditLog.old", "AuditLog"));
        assert!(file_hint("AuditLog.20261122T000000", "AuditLog"));
        assert!(!file_hint("AuditPayloadLog", "AuditLog"));
        assert!(!file_hint("SchedAuditLog", "AuditLog"));
        assert!(file_hint("GridmanagerLog.cmspilot", "GridmanagerLog"));
    }

    #[test]
    fn slot_names_give_the_lower_case_host() {
        assert_eq!(slot_host("slot1_7@WN042.example.org"), "wn042.example.org");
        assert_eq!(
            slot_host("slot1_1@glidein_1234_567@wn042.example.org"),
            "wn042.example.org"
        );
    }

    #[test]
    fn banners_are_recognised() {
        assert_eq!(
            banner("** condor_schedd (CONDOR_SCHEDD) STARTING UP"),
            Some(Banner::Starting)
        );
        assert_eq!(banner("** PID = 2245"), Some(Banner::Pid(2245)));
        assert_eq!(banner("******************"), Some(Banner::Other));
        assert_eq!(banner("Submitting new job 1.0"), None);
    }
}
