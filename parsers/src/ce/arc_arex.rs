//! `arc-arex`: the ARC A-REX logs `/var/log/arc/arex.log` (grid-manager) and
//! `/var/log/arc/ws-interface.log` (REST/WS front end).
//!
//! Grammar (ARC `Logger.cpp` LongFormat), time local:
//! `[YYYY-MM-DD HH:MM:SS] [DOMAIN] [LEVEL] [PID/TID] MESSAGE`, e.g.
//! `[2025-03-04 10:15:41] [Arc] [INFO] [2143/4] 7afe2ff94787: State: INLRMS from SUBMIT`.
//!
//! Messages read (others become `other`, with `job_id` when they start with a job id; ERROR
//! and FATAL lines have `outcome` fail):
//! - `Connection from <ip>: <DN>` → `other`, `client_ip`;
//! - `Grid identity is mapped to local identity '<user>'` → `auth.login`, `local_user`;
//! - `<id>: State: ACCEPTED: parsing job description` → `job.submit`;
//! - `<id>: Job finished` → `job.end`; `<id>: Canceling job because of user request` →
//!   `job.remove`; `<id>: state SUBMIT: child exited with code <n>` and
//!   `<id>: State: INLRMS: exit message is <code> <text>` → `other` with `status`/`outcome`;
//! - DEBUG `OTokens: Handle: attributes created: subject = <iss>/<sub>` → `auth.login`, `iss`/`sub`;
//! - DEBUG `OTokens: Attr: token: [bearer: ]<token>` → `other`. The pipeline has already
//!   replaced a JWT's signature (and filled the claims); an opaque token, which the pipeline's
//!   `Bearer `/key rules do not catch here, is replaced by its fingerprint in `raw`.
//!
//! `job_id` = `<stream host>#<arc id>`.

use crate::ce::arc;
use crate::event::{action, outcome, Event, Service};
use crate::jwt;
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::time::TimeContext;

/// The `arc-arex` format.
pub static FORMAT: Format = Format {
    id: "arc-arex",
    service: Service::Ce,
    summary: "ARC A-REX arex.log and ws-interface.log",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
            host: context.host.clone(),
        })
    },
};

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 26
        && bytes[0] == b'['
        && bytes[20] == b']'
        && text.get(21..).is_some_and(|rest| rest.starts_with(" [Arc"))
}

/// The parts of one line.
struct Header<'a> {
    time: crate::event::Timestamp,
    level: &'a str,
    message: &'a str,
}

/// `[TIME] [DOMAIN] [LEVEL] [PID/TID] MESSAGE`.
fn header<'a>(text: &'a str, context: &TimeContext) -> Option<Header<'a>> {
    let rest = text.strip_prefix('[')?;
    let (time, rest) = arc::arc_time(rest, context)?;
    let rest = rest.strip_prefix("] [")?;
    // The domain may hold spaces (`Arc.A-REX REST`) but no `]`.
    let (_domain, rest) = rest.split_once("] [")?;
    let (level, rest) = rest.split_once("] [")?;
    let (thread, message) = rest.split_once("] ").or_else(|| {
        // A message-less line: `[…] [2143/4]`.
        rest.strip_suffix(']').map(|thread| (thread, ""))
    })?;
    let (pid, tid) = thread.split_once('/')?;
    if !pid.bytes().all(|b| b.is_ascii_digit()) || !tid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !level.bytes().all(|b| b.is_ascii_uppercase()) || level.is_empty() {
        return None;
    }
    Some(Header {
        time,
        level,
        message,
    })
}

struct Parser {
    time: TimeContext,
    host: String,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if !sniff(line.text, "") {
            return Feed::NotMine;
        }
        let Some(header) = header(line.text, &self.time) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Ce);
        event.time = Some(header.time);
        event.action = action::OTHER.into();
        if matches!(header.level, "ERROR" | "FATAL") {
            event.outcome = outcome::FAIL.into();
        }
        let message = header.message;
        if let Some((arc_id, rest)) = job_prefix(message) {
            event.job_id = arc::job_id(&self.host, arc_id);
            job_message(rest, &mut event);
        } else if let Some(rest) = message.strip_prefix("Connection from ") {
            let address = rest
                .split(": ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(':');
            event.client_ip = arc::address_without_port(address);
        } else if let Some(rest) =
            message.strip_prefix("Grid identity is mapped to local identity '")
        {
            event.action = action::AUTH_LOGIN.into();
            event.outcome = outcome::OK.into();
            event.local_user = rest.split('\'').next().unwrap_or_default().to_string();
        } else if let Some(owner) =
            message.strip_prefix("OTokens: Handle: attributes created: subject = ")
        {
            event.action = action::AUTH_LOGIN.into();
            event.outcome = outcome::OK.into();
            arc::fill_owner(owner.trim(), &mut event);
        } else if message.starts_with("OTokens: Attr: token") {
            event.raw = redact_token_value(line.raw);
        }
        out.push(event);
        Feed::Parsed
    }
}

/// `<arc id>: rest` for job messages (ARC ids are at least 10 letters and digits, which
/// keeps `OTokens: …` out).
fn job_prefix(message: &str) -> Option<(&str, &str)> {
    let (id, rest) = message.split_once(": ")?;
    (id.len() >= 10 && arc::is_arc_id(id)).then_some((id, rest))
}

fn job_message(rest: &str, event: &mut Event) {
    if rest.starts_with("State: ACCEPTED: parsing job description") {
        event.action = action::JOB_SUBMIT.into();
        event.outcome = outcome::OK.into();
    } else if rest.starts_with("Job finished") {
        event.action = action::JOB_END.into();
        event.outcome = outcome::OK.into();
    } else if rest.starts_with("Canceling job because of user request") {
        event.action = action::JOB_REMOVE.into();
        event.outcome = outcome::OK.into();
    } else if let Some(code) = rest
        .strip_prefix("state SUBMIT: child exited with code ")
        .map(str::trim)
    {
        event.status = code.to_string();
        event.outcome = if code == "0" {
            outcome::OK
        } else {
            outcome::FAIL
        }
        .into();
    } else if let Some(exit) = rest
        .strip_prefix("State: INLRMS: exit message is ")
        .map(str::trim)
    {
        let code = exit.split_whitespace().next().unwrap_or_default();
        event.status = exit.to_string();
        event.outcome = if code == "0" {
            outcome::OK
        } else {
            outcome::FAIL
        }
        .into();
    }
}

/// Replaces the token after `token:` (and an optional `bearer:`) by its fingerprint, unless the
/// pipeline already redacted it (a JWT keeps its header and payload, the signature is gone).
fn redact_token_value(raw: &str) -> String {
    let Some(at) = raw.find("token:") else {
        return raw.to_string();
    };
    let mut start = at + "token:".len();
    let skip_spaces = |from: usize| from + raw[from..].len() - raw[from..].trim_start().len();
    start = skip_spaces(start);
    if raw[start..].to_ascii_lowercase().starts_with("bearer:") {
        start = skip_spaces(start + "bearer:".len());
    }
    let end = raw[start..]
        .find(char::is_whitespace)
        .map_or(raw.len(), |offset| start + offset);
    let value = &raw[start..end];
    if value.is_empty() || value.contains(jwt::REDACTED) {
        return raw.to_string();
    }
    format!(
        "{}{}{}",
        &raw[..start],
        jwt::fingerprint(value),
        &raw[end..]
    )
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
            path: "/var/log/arc/arex.log".into(),
            file_name: "arex.log".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context(Zone::Utc)).unwrap().0
    }

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/arc-arex/arex.log");

    fn example(index: usize) -> Event {
        let line = EXAMPLE.lines().nth(index).unwrap();
        let events = parse(line);
        assert_eq!(events.len(), 1, "{line}");
        assert_eq!(events[0].source, "arc-arex");
        events.into_iter().next().unwrap()
    }

    fn rfc(event: &Event) -> String {
        event.time.map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn connection_example_gives_the_client_ip() {
        let event = example(0);
        assert_eq!(event.action, "other");
        assert_eq!(event.client_ip, "192.0.2.81");
        assert_eq!(rfc(&event), "2025-03-04T10:15:08.000Z");
    }

    #[test]
    fn otokens_fallback_example_is_other() {
        let event = example(1);
        assert_eq!(event.action, "other");
        assert_eq!(event.job_id, "");
        assert_eq!(event.sub, "");
    }

    #[test]
    fn mapping_example_gives_the_local_user() {
        let event = example(2);
        assert_eq!(event.action, "auth.login");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.local_user, "atlpilot01");
    }

    #[test]
    fn accepted_example_is_the_submit() {
        let event = example(3);
        assert_eq!(event.action, "job.submit");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(rfc(&event), "2025-03-04T10:15:09.000Z");
    }

    #[test]
    fn submit_child_example_carries_its_exit_code() {
        let event = example(4);
        assert_eq!(event.action, "other");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!((event.status.as_str(), event.outcome.as_str()), ("0", "ok"));
    }

    #[test]
    fn state_change_example_names_the_job() {
        let event = example(5);
        assert_eq!(event.action, "other");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(rfc(&event), "2025-03-04T10:15:41.000Z");
    }

    #[test]
    fn job_finished_example_is_the_end() {
        let event = example(6);
        assert_eq!(event.action, "job.end");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(rfc(&event), "2025-03-04T16:02:13.000Z");
    }

    #[test]
    fn local_time_is_converted_to_utc() {
        let (events, _) = parse_text(
            EXAMPLE.lines().nth(6).unwrap(),
            None,
            context("Europe/Zurich".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(rfc(&events[0]), "2025-03-04T15:02:13.000Z");
    }

    #[test]
    fn debug_subject_line_gives_the_token_identity() {
        let events = parse("[2025-03-04 10:15:08] [Arc.OTokens] [DEBUG] [2210/17] OTokens: Handle: attributes created: subject = https://cms-auth.cern.ch//95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(events[0].action, "auth.login");
        assert_eq!(events[0].iss, "https://cms-auth.cern.ch");
        assert_eq!(events[0].sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
    }

    #[test]
    fn debug_token_lines_store_no_usable_token() {
        let claims = serde_json::json!({
            "iss": "https://cms-auth.cern.ch/",
            "sub": "95851aad-083d-49e5-8c3a-61d0438d201e",
            "jti": "034a2f47-eaad-4f5d-bb98-abf569609366",
        });
        let signature = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1zdG9yZWQ";
        let token = jwt::encode_test_jwt(&claims, signature);
        let opaque = "opaqueAccessToken0123456789abcdef";
        let text = format!(
            "[2025-03-04 10:15:08] [Arc.OTokens] [DEBUG] [2210/17] OTokens: Attr: token: {token}\n\
             [2025-03-04 10:15:08] [Arc.OTokens] [DEBUG] [2210/17] OTokens: Attr: token: bearer: {token}\n\
             [2025-03-04 10:15:08] [Arc.OTokens] [DEBUG] [2210/17] OTokens: Attr: token: {opaque}\n"
        );
        let events = parse(&text);
        assert_eq!(events.len(), 3);
        for event in &events {
            assert_eq!(event.source, "arc-arex");
            let json = serde_json::to_string(event).unwrap();
            assert!(!json.contains(signature), "{json}");
            assert!(!json.contains(opaque), "{json}");
            assert!(!json.contains(&token), "{json}");
            assert!(event.raw.contains(jwt::REDACTED), "{}", event.raw);
        }
        // The JWT's claims are still read.
        assert_eq!(events[0].jti, "034a2f47-eaad-4f5d-bb98-abf569609366");
        assert_eq!(events[1].sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
    }

    #[test]
    fn other_job_messages_errors_and_ipv6_connections() {
        let events = parse(concat!(
            "[2025-03-04 13:00:00] [Arc] [INFO] [2143/4] d7dee429865b: Canceling job because of user request\n",
            "[2025-03-04 13:00:01] [Arc] [INFO] [2143/4] d7dee429865b: State: INLRMS: exit message is 271 LRMS error: job killed\n",
            "[2025-03-04 13:00:02] [Arc] [ERROR] [2143/4] d7dee429865b: Failed to clean up\n",
            "[2025-03-04 13:00:03] [Arc.A-REX REST] [INFO] [2210/18] Connection from [2001:db8::9]:443: /DC=org/CN=x\n",
            "[2025-03-04 13:00:04] [Arc] [INFO] [2143/4] d7dee429865b: state SUBMIT: child exited with code 1\n",
        ));
        assert_eq!(events[0].action, "job.remove");
        assert_eq!(events[0].job_id, "arc01.example.org#d7dee429865b");
        assert_eq!(events[1].status, "271 LRMS error: job killed");
        assert_eq!(events[1].outcome, "fail");
        assert_eq!(events[2].outcome, "fail");
        assert_eq!(events[3].client_ip, "2001:db8::9");
        assert_eq!(
            (events[4].status.as_str(), events[4].outcome.as_str()),
            ("1", "fail")
        );
    }

    #[test]
    fn malformed_and_foreign_lines() {
        let mut parser = (FORMAT.new_parser)(&context(Zone::Utc));
        let mut out = Vec::new();
        let cut = Line::plain("[2025-03-04 13:00:00] [Arc] [INF", 1, 0);
        assert_eq!(parser.feed(&cut, &mut out), Feed::Malformed);
        let foreign = Line::plain("2025-03-04 10:15:10 Started - job id: 7afe2ff94787", 2, 0);
        assert_eq!(parser.feed(&foreign, &mut out), Feed::NotMine);
        assert!(!sniff("[2025-03-04 13:00:00] [storm] [INFO] x", ""));
        assert!(!sniff("[04/Mar/2025:10:15:08 +0000] \"GET /\"", ""));
        for text in [
            "[2025-03-04 13:00:00] [Arcé] [INFO] [1/2] x",
            "[2025-03-04 13:00:00] [Arc] [INFO] [1/2]",
            "[2025-03-04 13:00:00] [Arc] [DEBUG] [1/2] OTokens: Attr: token:",
            "[2025-03-04 13:00:00] [Arc] [DEBUG] [1/2] OTokens: Attr: token: bearer:",
        ] {
            let _ = parse(text);
        }
    }
}
