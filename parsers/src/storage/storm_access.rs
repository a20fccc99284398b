//! `storm-webdav-access`: the StoRM WebDAV access log
//! `/var/log/storm/webdav/storm-webdav-server-access.log` (logback-access), one request a line:
//!
//! ```text
//! 192.0.2.42 8443 "<sub>@https://cms-auth.cern.ch/" 2024-06-12T12:03:22.456Z "<request uuid>" "GET /cms/f.root HTTP/1.1" 200 2147483648 1811
//! LINE := REMOTE_IP SP LOCAL_PORT SP '"' USER '"' SP TS_UTC SP '"' REQ_UUID '"' SP '"' METHOD SP PATH SP PROTO '"' SP STATUS SP BYTES SP MILLIS
//! ```
//!
//! USER is `anonymous`, `<sub>@<issuer URL>` (bearer token or OIDC login; split at the `@`
//! that starts the URL, a `sub` may hold `@`), a bare `<sub>` (StoRM's own TPC tokens) or an
//! X.509 DN. The path may hold spaces and quotes, so the line is read from both ends.
//!
//! Fills: `time`, `client_ip`, `iss`/`sub` (or `username` for a DN), `session_id` (the request
//! UUID, also printed by the server log), `action` (GET → `file.read`, PUT → `file.write`,
//! DELETE → `file.delete`, PROPFIND → `file.list`, MKCOL → `file.mkdir`, MOVE → `file.move`,
//! COPY → `transfer.submit`, 401/403 → `authz.deny`), `status`/`outcome`, `path`,
//! `duration_ms`, `protocol`, and `bytes` for GET only (`%b` is the response length: for a PUT
//! it is 0, not the bytes written).

use std::net::IpAddr;

use memchr::memmem;

use super::dcache_common as common;
use crate::event::{Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `storm-webdav-access` format.
pub static FORMAT: Format = Format {
    id: "storm-webdav-access",
    service: Service::Storage,
    summary: "StoRM WebDAV access log",
    programs: &[],
    sniff,
    new_parser: |_: &Context| Box::new(Parser),
};

/// `<remote> <port> "` at the start of a line.
fn head(text: &str) -> Option<(&str, &str, &str)> {
    let (remote, rest) = text.split_once(' ')?;
    if remote != "-" && remote.parse::<IpAddr>().is_err() {
        return None;
    }
    let (port, rest) = rest.split_once(' ')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || !rest.starts_with('"') {
        return None;
    }
    Some((remote, port, rest))
}

fn sniff(text: &str, _file_name: &str) -> bool {
    head(text).is_some() && memmem::find(text.as_bytes(), b"\" \"").is_some()
}

/// The identity StoRM prints for a request (`storm.remoteUser`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteUser {
    pub sub: String,
    pub iss: String,
    /// An X.509 DN.
    pub dn: String,
}

/// Splits StoRM's remote user: `<sub>@<issuer URL>`, a bare `<sub>`, a DN, or `anonymous`.
pub fn remote_user(user: &str) -> RemoteUser {
    let user = user.trim();
    if user.is_empty() || user == "-" || user == "anonymous" {
        return RemoteUser::default();
    }
    if common::looks_like_dn(user) {
        return RemoteUser {
            dn: user.to_string(),
            ..RemoteUser::default()
        };
    }
    let bytes = user.as_bytes();
    let url_at = memchr::memchr_iter(b'@', bytes).find(|&at| {
        user[at + 1..].starts_with("https://") || user[at + 1..].starts_with("http://")
    });
    match url_at {
        Some(at) => RemoteUser {
            sub: user[..at].to_string(),
            iss: user[at + 1..].to_string(),
            dn: String::new(),
        },
        None => RemoteUser {
            sub: user.to_string(),
            ..RemoteUser::default()
        },
    }
}

/// One access-log line.
#[derive(Debug, PartialEq, Eq)]
struct Access<'a> {
    remote: &'a str,
    port: &'a str,
    user: &'a str,
    time: Timestamp,
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes: Option<u64>,
    millis: Option<u64>,
}

fn parse_access(text: &str) -> Option<Access<'_>> {
    let (remote, port, rest) = head(text)?;
    let mut tail = rest.rsplitn(4, ' ');
    let millis = tail.next()?;
    let bytes = tail.next()?;
    let status = tail.next()?;
    let quoted = tail.next()?;
    let status: u16 = status.parse().ok()?;
    let millis = if millis == "-" {
        None
    } else {
        Some(millis.parse().ok()?)
    };
    let bytes = if bytes == "-" {
        None
    } else {
        Some(bytes.parse().ok()?)
    };
    // `"USER" TS "UUID" "METHOD PATH PROTO"`: the user ends at the first `" ` that is followed
    // by a timestamp and ` "`.
    let body = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let quote_space = crate::parser::finder!(b"\" ");
    let (user, time, after_time) = quote_space.find_iter(body.as_bytes()).find_map(|at| {
        let after = &body[at + 2..];
        let (stamp, rest) = after.split_once(' ')?;
        let time = common::parse_offset_time(stamp)?;
        let rest = rest.strip_prefix('"')?;
        Some((&body[..at], time, rest))
    })?;
    let between = crate::parser::finder!(b"\" \"").find(after_time.as_bytes())?;
    let (request_id, request) = (&after_time[..between], &after_time[between + 3..]);
    let (method, rest) = request.split_once(' ')?;
    let path = match rest.rsplit_once(' ') {
        Some((path, protocol)) if protocol.starts_with("HTTP/") => path,
        _ => rest,
    };
    Some(Access {
        remote,
        port,
        user,
        time,
        request_id,
        method,
        path,
        status,
        bytes,
        millis,
    })
}

struct Parser;

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if head(line.text).is_none() {
            return Feed::NotMine;
        }
        let Some(access) = parse_access(line.text) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Storage);
        event.time = Some(access.time);
        if access.remote != "-" {
            event.client_ip = access.remote.to_string();
        }
        let user = remote_user(access.user);
        event.sub = user.sub;
        event.iss = user.iss;
        event.username = user.dn;
        event.session_id = access.request_id.to_string();
        event.path = common::url_path(access.path).to_string();
        common::apply_webdav(&mut event, access.method, Some(access.status));
        event.duration_ms = access.millis;
        if access.method.eq_ignore_ascii_case("GET") {
            event.bytes = access.bytes;
        }
        // 8085 is StoRM's plain-HTTP connector; every other port is its TLS one.
        event.protocol = if access.port == "8085" {
            "http"
        } else {
            "https"
        }
        .into();
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    const ACCESS: &str =
        include_str!("../../../tests/fixtures/storm-webdav-access/storm-webdav-server-access.log");
    const EDGE: &str = include_str!(
        "../../../tests/fixtures/storm-webdav-access/storm-webdav-server-access.20240613.log"
    );

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Rome),
                year_override: None,
                reference_date: None,
            },
            file_name: "storm-webdav-server-access.log".into(),
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
    fn token_get_splits_sub_and_issuer_url() {
        let event = &parse(line(ACCESS, 0))[0];
        assert_eq!(event.source, "storm-webdav-access");
        assert_eq!(event.action, "file.read");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.status, "200");
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:22.456Z");
        assert_eq!(event.session_id, "4d2ba923-4bb7-4ec9-974f-cf4c2bc561cc");
        assert_eq!(event.path, "/cms/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.bytes, Some(2_147_483_648));
        assert_eq!(event.duration_ms, Some(1811));
        assert_eq!(event.client_ip, "192.0.2.42");
        assert_eq!(event.protocol, "https");
    }

    #[test]
    fn put_from_ipv6_client_is_a_write_without_bytes() {
        let event = &parse(line(ACCESS, 1))[0];
        assert_eq!(event.action, "file.write");
        assert_eq!(event.status, "201");
        assert_eq!(event.client_ip, "2001:db8:42::42");
        assert_eq!(event.bytes, None);
        assert_eq!(event.duration_ms, Some(3518));
        assert_eq!(event.session_id, "b3e1c9d2-7a4f-4e58-9c61-0d2f3a4b5c6d");
    }

    #[test]
    fn copy_is_a_transfer_submit_with_unknown_length() {
        let event = &parse(line(ACCESS, 2))[0];
        assert_eq!(event.action, "transfer.submit");
        assert_eq!(event.status, "202");
        assert_eq!(event.sub, "eee0331a-a899-46b3-bb0d-8a89bc4041d1");
        assert_eq!(event.iss, "https://atlas-auth.cern.ch");
        assert_eq!(event.bytes, None);
        assert_eq!(event.duration_ms, Some(48213));
        assert_eq!(event.session_id, "c8d7e6f5-0a1b-4c2d-9e3f-4a5b6c7d8e9f");
    }

    #[test]
    fn anonymous_propfind_401_is_an_authz_deny() {
        let event = &parse(line(ACCESS, 3))[0];
        assert_eq!(event.action, "authz.deny");
        assert_eq!(event.outcome, "fail");
        assert_eq!(event.status, "401");
        assert_eq!(event.sub, "");
        assert_eq!(event.iss, "");
        assert_eq!(event.path, "/cms/store/user/cmsprd/");
    }

    #[test]
    fn sub_with_at_sign_x509_and_bare_sub_users() {
        let events = parse(EDGE);
        assert_eq!(events[0].sub, "jane@example.org");
        assert_eq!(events[0].iss, "https://iam.example.org");
        assert_eq!(events[0].action, "file.delete");
        assert_eq!(events[1].username, "/DC=org/DC=example/CN=Jane Doe");
        assert_eq!(events[1].sub, "");
        assert_eq!(events[1].action, "file.mkdir");
        assert_eq!(events[2].sub, "eee0331a-a899-46b3-bb0d-8a89bc4041d1");
        assert_eq!(events[2].iss, "");
        assert_eq!(events[2].action, "file.move");
    }

    #[test]
    fn path_with_spaces_and_quotes_and_missing_remote() {
        let events = parse(EDGE);
        let event = &events[3];
        assert_eq!(event.path, "/cms/a \"b\" c.root");
        assert_eq!(event.client_ip, "");
        assert_eq!(event.protocol, "http");
        assert_eq!(event.bytes, Some(10));
    }

    #[test]
    fn truncated_line_is_malformed() {
        // Inside a stream of this format (the parser is sticky), a cut line is an error.
        let (events, stats) = parse_text(EDGE, None, context()).unwrap();
        assert_eq!(events[4].source, "storm-webdav-access");
        assert_eq!(events[4].status, "unparsed");
        assert_eq!(stats.formats["storm-webdav-access"].errors, 1);
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(line(ACCESS, 0), ""));
        assert!(!sniff(
            "192.0.2.1 - - [12/Jun/2024:14:03:22 +0200] \"GET / HTTP/1.1\" 200 5",
            ""
        ));
        assert!(!sniff(
            "level=INFO ts=x event=org.dcache.webdav.request",
            ""
        ));
        assert!(!sniff("240612 14:03:22 4711 XrootdXeq: x", ""));
    }

    #[test]
    fn remote_user_forms() {
        assert_eq!(remote_user("anonymous"), RemoteUser::default());
        let user = remote_user("a@b@http://iss.example.org:8080/realms/x");
        assert_eq!(user.sub, "a@b");
        assert_eq!(user.iss, "http://iss.example.org:8080/realms/x");
    }

    #[test]
    fn hostile_lines_never_panic() {
        for text in [
            "1.2.3.4 1 \"",
            "1.2.3.4 1 \"\" x \"\" \"\" 1 1 1",
            "::1 8443 \"é\" 2024-06-12T12:03:22.456Z \"x\" \"GET\" 200 - -",
            "- 8443 \"\u{1f600}\" 2024-06-12T12:03:22.456Z \"\" \"\" 999 1 1",
        ] {
            let _ = parse(text);
        }
    }
}
