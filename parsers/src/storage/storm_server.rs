//! `storm-webdav-server`: the StoRM WebDAV server log
//! `/var/log/storm/webdav/storm-webdav-server.log` (Spring Boot file pattern with StoRM's level
//! pattern `[%X{storm.requestId}] %X{tpc.clientInfo} %5p`, times in UTC):
//!
//! ```text
//! TS_UTC SP "[" REQ_UUID? "]" SP CLIENTINFO? SP LEVEL SP PID " --- " ["[" APP "] "] "[" THREAD "] " LOGGER " : " MSG
//! CLIENTINFO := "job-id:" JOBID ",file-id:" FILEID ",retry:" N      (FTS ClientInfo header, TPC only)
//! ```
//!
//! Messages read (others of a request become `other` events carrying its ids; lines outside
//! any request are kept raw):
//! - `Pull|Push third-party transfer requested: Source: …, Destination: …, hasAuthorizationHeader: …, id: <uuid>`
//!   → `transfer.submit`;
//! - `Pull|Push third-party transfer completed: <STATUS>. Source: …, Destination: …, Bytes transferred: n, Duration (msec): n, …, id: <uuid>`
//!   → `transfer.done` (ok iff `DONE`);
//! - `Third-party transfer <uuid> terminated with an error: <class> - <message>` → `transfer.done`, fail;
//! - `LogRequestFilter` (DEBUG): `<ip> <METHOD> <URI> <status> [user:<sub>, authorities:<[O_i(iss), O_sub(iss,sub), O_s(iss,scope), O_g(iss,group), O_client(iss,client_id)]>]`
//!   → the WebDAV action of the request with `iss`, `sub`, `scopes`, `groups`, `client_id`.
//!
//! Fills `time`, `session_id` (the request UUID, as in the access log), `transfer_id`
//! (`<FTS job id>/<file id>` from CLIENTINFO, else the TPC uuid), `path` (the local side),
//! `client_host` (the TPC peer), `bytes`, `duration_ms`, `status`/`outcome`. The identity of a
//! request seen on a `LogRequestFilter` line is also given to its later lines in the stream.

use std::collections::{HashMap, VecDeque};

use memchr::memmem;

use super::dcache_common as common;
use super::storm_access;
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `storm-webdav-server` format.
pub static FORMAT: Format = Format {
    id: "storm-webdav-server",
    service: Service::Storage,
    summary: "StoRM WebDAV server log (third-party copies, request authorities)",
    programs: &[],
    sniff,
    new_parser: |_: &Context| Box::new(Parser::default()),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 26
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && text
            .split_once(' ')
            .is_some_and(|(_, rest)| rest.starts_with('['))
        && memmem::find(bytes, b" --- ").is_some()
}

/// The parts of one server-log line.
#[derive(Debug)]
struct ServerLine<'a> {
    time: crate::event::Timestamp,
    request_id: &'a str,
    client_info: &'a str,
    logger: &'a str,
    message: &'a str,
}

fn parse_line(text: &str) -> Option<ServerLine<'_>> {
    let (stamp, rest) = text.split_once(' ')?;
    let time = common::parse_offset_time(stamp)?;
    let rest = rest.strip_prefix('[')?;
    let (request_id, rest) = rest.split_once(']')?;
    let separator = rest.find(" --- ")?;
    let mut prefix: Vec<&str> = rest[..separator].split_whitespace().collect();
    // Last two words: level and PID; anything before them is the FTS ClientInfo.
    let _pid = prefix.pop()?;
    let _level = prefix.pop()?;
    let client_info = prefix.first().copied().unwrap_or_default();
    let mut after = rest[separator + 5..].trim_start();
    // `[app] [thread] ` (thread names may be space-padded inside the brackets).
    while let Some(inner) = after.strip_prefix('[') {
        let close = inner.find(']')?;
        after = inner[close + 1..].trim_start();
    }
    let (logger, message) = after.split_once(" : ")?;
    Some(ServerLine {
        time,
        request_id: request_id.trim(),
        client_info,
        logger: logger.trim(),
        message,
    })
}

/// `job-id:<id>,file-id:<n>,retry:<n>` → `<job id>/<file id>`.
fn fts_transfer_id(client_info: &str) -> Option<String> {
    let mut job = None;
    let mut file = None;
    for part in client_info.split([',', ';']) {
        let Some((key, value)) = part.split_once([':', '=']) else {
            continue;
        };
        match key.trim() {
            "job-id" => job = Some(value.trim()),
            "file-id" => file = Some(value.trim()),
            _ => {}
        }
    }
    match (job, file) {
        (Some(job), Some(file)) if !job.is_empty() && !file.is_empty() => {
            Some(format!("{job}/{file}"))
        }
        _ => None,
    }
}

/// The text after `label` up to `end` (or the end of the message).
fn between<'a>(message: &'a str, label: &str, end: &str) -> Option<&'a str> {
    let start = message.find(label)? + label.len();
    let rest = &message[start..];
    Some(match rest.find(end) {
        Some(stop) => &rest[..stop],
        None => rest,
    })
}

fn leading_number(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok()
}

/// The host of a URL (`https://xrd01.example.org:1094//f` → `xrd01.example.org`).
fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    let host = common::split_socket(authority).0;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A TPC start or completion line; false when the message is no TPC message.
fn transfer_message(event: &mut Event, message: &str) -> bool {
    let (direction, rest) = if let Some(rest) = message.strip_prefix("Pull third-party transfer ") {
        ("pull", rest)
    } else if let Some(rest) = message.strip_prefix("Push third-party transfer ") {
        ("push", rest)
    } else if let Some(rest) = message.strip_prefix("Third-party transfer ") {
        // `<uuid> terminated with an error: <class> - <message>`
        let Some((id, error)) = rest.split_once(" terminated with an error: ") else {
            return false;
        };
        event.action = action::TRANSFER_DONE.into();
        event.outcome = outcome::FAIL.into();
        event.status = error.to_string();
        if event.transfer_id.is_empty() {
            event.transfer_id = id.trim().to_string();
        }
        return true;
    } else {
        return false;
    };
    if rest.starts_with("requested:") {
        event.action = action::TRANSFER_SUBMIT.into();
    } else if let Some(status) = rest.strip_prefix("completed: ") {
        event.action = action::TRANSFER_DONE.into();
        let status = status.split(['.', ' ']).next().unwrap_or_default();
        event.status = status.to_string();
        event.outcome = if status == "DONE" {
            outcome::OK
        } else {
            outcome::FAIL
        }
        .into();
        event.bytes = between(rest, "Bytes transferred: ", ",").and_then(leading_number);
        event.duration_ms = between(rest, "Duration (msec): ", ",").and_then(leading_number);
    } else {
        return false;
    }
    let source = between(rest, "Source: ", ", Destination: ").unwrap_or_default();
    let destination = between(rest, "Destination: ", ", ").unwrap_or_default();
    let (local, remote) = if direction == "pull" {
        (destination, source)
    } else {
        (source, destination)
    };
    event.path = common::url_path(local.trim()).to_string();
    if let Some(host) = url_host(remote.trim()) {
        event.client_host = host;
    }
    event.protocol = common::url_scheme(remote.trim());
    if event.transfer_id.is_empty() {
        if let Some(at) = rest.rfind(", id: ") {
            event.transfer_id = rest[at + 6..].trim().to_string();
        }
    }
    true
}

/// Identity read from a `LogRequestFilter` line.
#[derive(Clone, Debug, Default)]
struct Identity {
    iss: String,
    sub: String,
    username: String,
    client_id: String,
    scopes: Vec<String>,
    groups: Vec<String>,
}

impl Identity {
    fn fill(&self, event: &mut Event) {
        if event.sub.is_empty() && event.iss.is_empty() {
            event.iss = self.iss.clone();
            event.sub = self.sub.clone();
        }
        if event.username.is_empty() {
            event.username = self.username.clone();
        }
        if event.client_id.is_empty() {
            event.client_id = self.client_id.clone();
        }
        if event.scopes.is_empty() {
            event.scopes = self.scopes.clone();
        }
        if event.groups.is_empty() {
            event.groups = self.groups.clone();
        }
    }

    fn is_empty(&self) -> bool {
        self.sub.is_empty() && self.iss.is_empty() && self.username.is_empty()
    }
}

/// Splits `a(x), b(y,z)` at the commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(text[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|part| !part.is_empty());
    parts
}

/// `<ip> <METHOD> <URI> <status> [user:<name>, authorities:<[…]>]`.
fn log_request(event: &mut Event, message: &str) -> Option<Identity> {
    let user_at = message.find(" [user:")?;
    let request = &message[..user_at];
    let (ip, rest) = request.split_once(' ')?;
    let (method, rest) = rest.split_once(' ')?;
    let (uri, status) = rest.rsplit_once(' ')?;
    let status: u16 = status.parse().ok()?;
    common::set_client(event, ip);
    event.path = common::url_path(uri).to_string();
    common::apply_webdav(event, method, Some(status));
    let details = &message[user_at + 7..];
    let user = match details.strip_prefix('<') {
        Some(inner) => inner.split('>').next().unwrap_or_default(),
        None => details.split([',', ']']).next().unwrap_or_default(),
    };
    let mut identity = Identity::default();
    if user != "anonymousUser" {
        let remote = storm_access::remote_user(user);
        identity.sub = remote.sub;
        identity.iss = remote.iss;
        identity.username = remote.dn;
    }
    if let Some(authorities) = between(details, "authorities:<[", "]>") {
        for authority in split_top_level(authorities) {
            let Some((kind, arguments)) = authority.split_once('(') else {
                continue;
            };
            let arguments = arguments.strip_suffix(')').unwrap_or(arguments);
            // The issuer URL holds no comma; the value after it may.
            let (issuer, value) = arguments.split_once(',').unwrap_or((arguments, ""));
            match kind {
                "O_i" => identity.iss = issuer.to_string(),
                "O_sub" => {
                    identity.iss = issuer.to_string();
                    identity.sub = value.to_string();
                }
                "O_s" => identity.scopes.push(value.to_string()),
                "O_g" => identity.groups.push(value.to_string()),
                "O_client" => identity.client_id = value.to_string(),
                _ => {}
            }
        }
    }
    Some(identity)
}

/// Request identities kept at most per stream.
const MAX_REQUESTS: usize = 16_384;

#[derive(Default)]
struct Parser {
    identities: HashMap<String, Identity>,
    order: VecDeque<String>,
}

impl Parser {
    fn remember(&mut self, request_id: &str, identity: Identity) {
        if !self.identities.contains_key(request_id) {
            while self.identities.len() >= MAX_REQUESTS {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.identities.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(request_id.to_string());
        }
        self.identities.insert(request_id.to_string(), identity);
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if !sniff(line.text, "") {
            return Feed::NotMine;
        }
        let Some(parsed) = parse_line(line.text) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Storage);
        event.time = Some(parsed.time);
        event.session_id = parsed.request_id.to_string();
        if let Some(transfer_id) = fts_transfer_id(parsed.client_info) {
            event.transfer_id = transfer_id;
        }
        if parsed.logger.ends_with("LogRequestFilter") {
            let Some(identity) = log_request(&mut event, parsed.message) else {
                return Feed::Malformed;
            };
            identity.fill(&mut event);
            if !parsed.request_id.is_empty() && !identity.is_empty() {
                self.remember(parsed.request_id, identity);
            }
        } else if !transfer_message(&mut event, parsed.message) {
            if parsed.request_id.is_empty() {
                return Feed::Ignored;
            }
            // Another message of a request (an error, a warning): keep its ids.
            event.action = action::OTHER.into();
        }
        if let Some(identity) = self.identities.get(parsed.request_id) {
            identity.fill(&mut event);
        }
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    const SERVER: &str =
        include_str!("../../../tests/fixtures/storm-webdav-server/storm-webdav-server.log");
    const EDGE: &str = include_str!(
        "../../../tests/fixtures/storm-webdav-server/storm-webdav-server.log-20240613"
    );
    const ACCESS: &str =
        include_str!("../../../tests/fixtures/storm-webdav-access/storm-webdav-server-access.log");

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Rome),
                year_override: None,
                reference_date: None,
            },
            file_name: "storm-webdav-server.log".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context()).unwrap().0
    }

    fn line(text: &str, number: usize) -> &str {
        text.lines().nth(number).unwrap()
    }

    #[test]
    fn pull_request_is_a_transfer_submit_with_fts_ids() {
        let event = &parse(line(SERVER, 0))[0];
        assert_eq!(event.source, "storm-webdav-server");
        assert_eq!(event.action, "transfer.submit");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:12:05.884Z");
        assert_eq!(event.session_id, "c8d7e6f5-0a1b-4c2d-9e3f-4a5b6c7d8e9f");
        assert_eq!(
            event.transfer_id,
            "6578529a-b819-4372-8ab4-8b8b482e1314/3141592653"
        );
        assert_eq!(
            event.path,
            "/atlas/atlasdatadisk/rucio/mc23_13p6TeV/aa/bb/EVNT.12345._000001.pool.root.1"
        );
        assert_eq!(event.client_host, "xrd01.example.org");
        assert_eq!(event.protocol, "https");
    }

    #[test]
    fn pull_completion_is_a_transfer_done_with_bytes_and_duration() {
        let event = &parse(line(SERVER, 1))[0];
        assert_eq!(event.action, "transfer.done");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.status, "DONE");
        assert_eq!(event.bytes, Some(1_073_741_824));
        assert_eq!(event.duration_ms, Some(48213));
        assert_eq!(
            event.transfer_id,
            "6578529a-b819-4372-8ab4-8b8b482e1314/3141592653"
        );
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:12:54.097Z");
    }

    #[test]
    fn log_request_filter_line_carries_identity_scopes_and_groups() {
        let event = &parse(line(SERVER, 2))[0];
        assert_eq!(event.action, "file.read");
        assert_eq!(event.status, "200");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.scopes, vec!["storage.read:/"]);
        assert_eq!(event.groups, vec!["/cms"]);
        assert_eq!(event.client_ip, "192.0.2.42");
        assert_eq!(event.path, "/cms/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.session_id, "4d2ba923-4bb7-4ec9-974f-cf4c2bc561cc");
        assert_eq!(event.transfer_id, "");
    }

    #[test]
    fn server_and_access_lines_of_one_request_share_the_session_id() {
        let server = parse(SERVER);
        let access = parse_text(ACCESS, None, context()).unwrap().0;
        assert_eq!(access[0].source, "storm-webdav-access");
        // GET: LogRequestFilter ↔ access line.
        assert_eq!(server[2].session_id, access[0].session_id);
        assert_eq!(server[2].sub, access[0].sub);
        assert_eq!(server[2].iss, access[0].iss);
        // COPY: TPC lines ↔ access line.
        assert_eq!(server[0].session_id, access[2].session_id);
        assert_eq!(server[1].session_id, access[2].session_id);
    }

    #[test]
    fn push_error_client_id_and_later_lines_of_a_known_request() {
        let events = parse(EDGE);
        let filter = &events[0];
        assert_eq!(filter.action, "transfer.submit");
        assert_eq!(filter.status, "202");
        assert_eq!(filter.session_id, "0b000000-0000-4000-8000-000000000001");
        assert_eq!(filter.client_ip, "2001:db8:42::42");
        assert_eq!(filter.client_id, "fts-client");
        assert_eq!(
            filter.scopes,
            vec!["storage.read:/atlas", "storage.modify:/atlas/user"]
        );
        let push = &events[1];
        assert_eq!(push.action, "transfer.submit");
        assert_eq!(push.path, "/atlas/user/out.root");
        assert_eq!(push.client_host, "se02.example.org");
        assert_eq!(push.transfer_id, "7f3c0000-0000-4000-8000-00000000aaaa");
        // Same request id as the LogRequestFilter line before it.
        assert_eq!(push.sub, "eee0331a-a899-46b3-bb0d-8a89bc4041d1");
        assert_eq!(push.iss, "https://atlas-auth.cern.ch");
        let error = &events[2];
        assert_eq!(error.action, "transfer.done");
        assert_eq!(error.outcome, "fail");
        assert_eq!(
            error.status,
            "org.apache.http.client.ClientProtocolException - Connection reset"
        );
        assert_eq!(error.transfer_id, "7f3c0000-0000-4000-8000-00000000aaaa");
        let failed = &events[3];
        assert_eq!(failed.action, "transfer.done");
        assert_eq!(failed.outcome, "fail");
        assert_eq!(failed.status, "ERROR");
        assert_eq!(failed.bytes, Some(0));
    }

    #[test]
    fn source_url_tokens_are_redacted_and_other_lines_are_kept() {
        let events = parse(EDGE);
        let with_token = &events[4];
        assert_eq!(with_token.action, "transfer.submit");
        assert_eq!(with_token.path, "/atlas/in.root");
        assert!(
            !with_token.raw.contains("sEcReTmAcArOoN"),
            "{}",
            with_token.raw
        );
        let warning = &events[5];
        assert_eq!(warning.action, "other");
        assert_eq!(warning.session_id, "0b000000-0000-4000-8000-000000000005");
        let startup = &events[6];
        assert_eq!(startup.source, "storm-webdav-server");
        assert_eq!(startup.status, "");
        let x509 = &events[7];
        assert_eq!(x509.username, "/DC=org/DC=example/CN=Jane Doe");
        assert_eq!(x509.sub, "");
        assert_eq!(x509.action, "file.list");
        let denied = &events[8];
        assert_eq!(denied.action, "authz.deny");
        assert_eq!(denied.outcome, "fail");
        assert_eq!(denied.status, "403");
        assert_eq!(denied.sub, "");
        assert_eq!(denied.client_ip, "203.0.113.9");
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(line(SERVER, 0), ""));
        assert!(!sniff(line(ACCESS, 0), ""));
        assert!(!sniff(
            "2025-03-14 09:12:03.396  INFO 1 --- [main] o.m.iam.IamLoginService : Started",
            ""
        ));
        assert!(!sniff(
            "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.x",
            ""
        ));
    }

    #[test]
    fn hostile_lines_never_panic() {
        for text in [
            "2024-06-12T12:12:05.884Z [ --- ",
            "2024-06-12T12:12:05.884Z [] --- [x] y : z",
            "2024-06-12T12:12:05.884Z [a]  INFO 1 --- [t] l.LogRequestFilter : 1 GET / x [user:<",
            "2024-06-12T12:12:05.884Z [a]  INFO 1 --- [t] l : Third-party transfer é terminated with an error: ",
            "2024-06-12T12:12:05.884Z [a]  INFO 1 --- [t] l : Pull third-party transfer completed: \u{1f600}",
            "2024-06-12T12:12:05.884Z [a] INFO 1 --- [t] l.LogRequestFilter : 1 GET / 200 [user:x, authorities:<[O_s(, O_g)]>]",
        ] {
            let _ = parse(text);
        }
    }
}
