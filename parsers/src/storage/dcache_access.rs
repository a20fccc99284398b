//! `dcache-access`: the dCache access log `/var/log/dcache/<domain>.access` (rotated
//! `<domain>.access.YYYY-MM-DD.gz`), NetLogger lines of the WebDAV and xrootd doors:
//!
//! ```text
//! level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.webdav.request session=… request.method=GET …
//! ```
//!
//! `LINE := "level=" LEVEL " ts=" yyyy-MM-ddTHH:mm:ss.SSSZ " event=" EVENT (" " KEY "=" VALUE)*`,
//! keys in any order (the order changed between releases, null values are omitted), a value is
//! bare or `"quoted"` with `\\ \" \n \r` escapes.
//!
//! Fills: `time`, `session_id` (the door `session`), `client_ip` (`socket.remote`, brackets and
//! port removed), `sub`/`jti` from `user.sub=<sub>@<alias>` / `user.jti=<jti>@<alias>` with `iss`
//! from the alias map (else `alias:<alias>`), `username` (`user.dn`), `local_user`
//! (`user.mapped`), `path`, `protocol`, `duration_ms`, `status`/`outcome`, `transfer_id`
//! (`transaction`, equal to the billing `[initiator]`).
//! - WebDAV `org.dcache.webdav.request`: GET → `file.read`, PUT → `file.write`, DELETE →
//!   `file.delete`, PROPFIND → `file.list`, MKCOL → `file.mkdir`, MOVE → `file.move`, COPY →
//!   `transfer.submit`; 401/403 → `authz.deny`.
//! - xrootd door: `connection.start` (`other`, remembers the client), `request=login` (`other`,
//!   `xrd.hostname` of the login CGI → `client_host`), `org.dcache.xrootd.login` (`auth.login`,
//!   the session's identity), `request=open|rm|mv|mkdir|dirlist|prepare|read|write…` (file
//!   actions; `NotAuhorized` → `authz.deny`), `connection.end` (`other`). Request lines carry no
//!   identity: it comes from the session map kept per stream, dropped at `connection.end`.

use std::collections::HashMap;

use memchr::memmem;

use std::borrow::Cow;

use super::dcache_common as common;
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `dcache-access` format.
pub static FORMAT: Format = Format {
    id: "dcache-access",
    service: Service::Storage,
    summary: "dCache access log (WebDAV and xrootd doors)",
    programs: &[],
    sniff,
    new_parser: |context: &Context| Box::new(Parser::new(context)),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    text.starts_with("level=") && memmem::find(text.as_bytes(), b" event=org.dcache.").is_some()
}

// The keys this parser reads, each key's first value.
crate::kv::known_keys!(Keys<'a, Cow<'a, str>>, keep first, {
    event = "event",
    ts = "ts",
    session = "session",
    socket_remote = "socket.remote",
    user_sub = "user.sub",
    user_jti = "user.jti",
    user_dn = "user.dn",
    user_mapped = "user.mapped",
    transaction = "transaction",
    duration = "duration",
    request_method = "request.method",
    request_url = "request.url",
    response_code = "response.code",
    failure_message = "failure.message",
    failure_class = "failure.class",
    timeout = "timeout",
    tpc_error = "tpc.error",
    options = "options",
    request = "request",
    path = "path",
    source = "source",
    mode = "mode",
    token = "token",
    response = "response",
    error_code = "error.code",
    error_msg = "error.msg",
});

/// A key's value; an empty value reads as absent.
fn get<'k>(value: &'k Option<Cow<'_, str>>) -> Option<&'k str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// Sessions kept at most; a stream with more open xrootd connections forgets the oldest ones.
const MAX_SESSIONS: usize = 65_536;

/// What an xrootd door session has told so far.
#[derive(Clone, Debug, Default)]
struct Session {
    client_ip: String,
    client_host: String,
    iss: String,
    sub: String,
    jti: String,
    username: String,
    local_user: String,
}

impl Session {
    fn fill(&self, event: &mut Event) {
        fn set(slot: &mut String, value: &str) {
            if slot.is_empty() {
                *slot = value.to_string();
            }
        }
        set(&mut event.client_ip, &self.client_ip);
        set(&mut event.client_host, &self.client_host);
        // The identity travels as a whole: never mix a line's sub with the session's iss.
        if event.sub.is_empty() && event.jti.is_empty() {
            event.iss = self.iss.clone();
            event.sub = self.sub.clone();
            event.jti = self.jti.clone();
        }
        set(&mut event.username, &self.username);
        set(&mut event.local_user, &self.local_user);
    }
}

struct Parser {
    context: Context,
    sessions: HashMap<String, Session>,
    /// Insertion order of `sessions`, to forget the oldest when full.
    order: std::collections::VecDeque<String>,
}

impl Parser {
    fn new(context: &Context) -> Self {
        Parser {
            context: context.clone(),
            sessions: HashMap::new(),
            order: std::collections::VecDeque::new(),
        }
    }

    fn session_mut(&mut self, id: &str) -> &mut Session {
        if !self.sessions.contains_key(id) {
            while self.sessions.len() >= MAX_SESSIONS {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.sessions.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(id.to_string());
        }
        self.sessions.entry(id.to_string()).or_default()
    }

    fn forget(&mut self, id: &str) {
        if self.sessions.remove(id).is_some() {
            self.order.retain(|known| known != id);
        }
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if !line.text.starts_with("level=") {
            return Feed::NotMine;
        }
        let keys = Keys::read(common::netlogger_pairs(line.text));
        let Some(name) = get(&keys.event).filter(|name| name.starts_with("org.dcache.")) else {
            return Feed::NotMine;
        };
        let Some(time) = get(&keys.ts).and_then(common::parse_offset_time) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Storage);
        event.time = Some(time);
        fill_common(&mut event, &keys, &self.context);
        let session = get(&keys.session).unwrap_or_default();
        match name {
            "org.dcache.webdav.request" => {
                if !webdav_request(&mut event, &keys) {
                    return Feed::Malformed;
                }
            }
            "org.dcache.xrootd.connection.start" => {
                event.action = action::OTHER.into();
                if !session.is_empty() {
                    let client_ip = event.client_ip.clone();
                    self.session_mut(session).client_ip = client_ip;
                }
            }
            "org.dcache.xrootd.login" => {
                event.action = action::AUTH_LOGIN.into();
                event.outcome = outcome::OK.into();
                if !session.is_empty() {
                    let known = self.session_mut(session);
                    known.iss = event.iss.clone();
                    known.sub = event.sub.clone();
                    known.jti = event.jti.clone();
                    known.username = event.username.clone();
                    known.local_user = event.local_user.clone();
                    known.fill(&mut event);
                }
            }
            "org.dcache.xrootd.request" => {
                xrootd_request(&mut event, &keys);
                if !session.is_empty() {
                    let known = self.session_mut(session);
                    if !event.client_host.is_empty() {
                        known.client_host = event.client_host.clone();
                    }
                    known.fill(&mut event);
                }
            }
            "org.dcache.xrootd.connection.end" => {
                event.action = action::OTHER.into();
                if let Some(known) = self.sessions.get(session) {
                    known.fill(&mut event);
                }
                self.forget(session);
            }
            _ => {
                // Other doors' events (FTP, NFS, future ones): keep what the common keys say.
                event.action = action::OTHER.into();
                if let Some(known) = self.sessions.get(session) {
                    known.fill(&mut event);
                }
            }
        }
        out.push(event);
        Feed::Parsed
    }
}

/// Keys every door may log.
fn fill_common(event: &mut Event, keys: &Keys<'_>, context: &Context) {
    if let Some(session) = get(&keys.session) {
        event.session_id = session.to_string();
    }
    if let Some(remote) = get(&keys.socket_remote) {
        common::set_client(event, common::split_socket(remote).0);
    }
    common::fill_oidc(event, context, get(&keys.user_sub), get(&keys.user_jti));
    if let Some(dn) = get(&keys.user_dn) {
        event.username = dn.to_string();
    }
    if let Some(mapped) = get(&keys.user_mapped) {
        event.local_user = common::mapped_account(mapped).to_string();
    }
    if let Some(transaction) = get(&keys.transaction) {
        event.transfer_id = transaction.to_string();
        // Releases before `session=` was logged (2019 docs) still print the transaction.
        if event.session_id.is_empty() {
            if let Some(session) = common::door_session(transaction) {
                event.session_id = session.to_string();
            }
        }
    }
    if let Some(duration) = get(&keys.duration).and_then(|d| d.parse().ok()) {
        event.duration_ms = Some(duration);
    }
}

/// `org.dcache.webdav.request`; false when the line lacks its method (truncated).
fn webdav_request(event: &mut Event, keys: &Keys<'_>) -> bool {
    let Some(method) = get(&keys.request_method) else {
        return false;
    };
    let url = get(&keys.request_url).unwrap_or_default();
    event.path = common::url_path(url).to_string();
    event.protocol = common::url_scheme(url);
    let code = get(&keys.response_code).and_then(|code| code.parse::<u16>().ok());
    common::apply_webdav(event, method, code);
    if code.is_none() {
        // The request ended without a response: an exception or a timeout.
        if let Some(failure) = get(&keys.failure_message).or(get(&keys.failure_class)) {
            event.outcome = outcome::FAIL.into();
            event.status = failure.to_string();
        } else if get(&keys.timeout).is_some() {
            event.outcome = outcome::FAIL.into();
            event.status = "timeout".to_string();
        }
    }
    if let Some(error) = get(&keys.tpc_error) {
        event.outcome = outcome::FAIL.into();
        event.status = error.to_string();
    }
    true
}

/// xrootd `kXR_open` options that make an open a write: delete, new, open_updt, open_apnd,
/// open_wrto (XProtocol.hh).
const OPEN_WRITE_OPTIONS: u32 = 0x0002 | 0x0008 | 0x0020 | 0x0200 | 0x8000;
/// xrootd `kXR_prepare` option `kXR_stage`.
const PREPARE_STAGE: u32 = 0x0008;

fn hex_option(keys: &Keys<'_>) -> Option<u32> {
    let text = get(&keys.options)?;
    u32::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

/// `org.dcache.xrootd.request`.
fn xrootd_request(event: &mut Event, keys: &Keys<'_>) {
    event.protocol = "xrootd".into();
    let request = get(&keys.request).unwrap_or_default();
    if let Some(path) = get(&keys.path).or(get(&keys.source)) {
        event.path = path.to_string();
    }
    let name = match request {
        "open" => {
            // AccessLogHandler logs `mode` only for opens that are not read-only.
            let writes = get(&keys.mode).is_some()
                || hex_option(keys).is_some_and(|options| options & OPEN_WRITE_OPTIONS != 0);
            if writes {
                action::FILE_WRITE
            } else {
                action::FILE_READ
            }
        }
        "read" | "readv" | "pgread" => action::FILE_READ,
        "write" | "writev" | "pgwrite" => action::FILE_WRITE,
        "rm" | "rmdir" => action::FILE_DELETE,
        "mv" => action::FILE_MOVE,
        "mkdir" => action::FILE_MKDIR,
        "dirlist" => action::FILE_LIST,
        "prepare" if hex_option(keys).is_some_and(|options| options & PREPARE_STAGE != 0) => {
            action::FILE_STAGE
        }
        _ => action::OTHER,
    };
    event.action = name.into();
    if request == "login" {
        // `token=` of a login request is the client's login CGI, not a bearer token.
        if let Some(host) = get(&keys.token).and_then(|cgi| cgi_value(cgi, "xrd.hostname")) {
            event.client_host = host.to_ascii_lowercase();
        }
    }
    match get(&keys.response) {
        Some("error") => {
            event.outcome = outcome::FAIL.into();
            let code = get(&keys.error_code).unwrap_or_default();
            event.status = match (code, get(&keys.error_msg)) {
                ("", Some(message)) => message.to_string(),
                ("", None) => "error".to_string(),
                (code, _) => code.to_string(),
            };
            if matches!(code, "NotAuhorized" | "NotAuthorized" | "AuthFailed") {
                event.action = action::AUTHZ_DENY.into();
            }
        }
        Some(response) => {
            event.outcome = outcome::OK.into();
            event.status = response.to_string();
        }
        None => {}
    }
}

/// The value of `key` in an `a=1&b=2` CGI string.
fn cgi_value<'a>(cgi: &'a str, key: &str) -> Option<&'a str> {
    cgi.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == key)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const WEBDAV: &str =
        include_str!("../../../tests/fixtures/dcache-access/webdav-se01Domain.access");
    const XROOTD: &str =
        include_str!("../../../tests/fixtures/dcache-access/xrootd-se01Domain.access");
    const EDGE: &str = include_str!("../../../tests/fixtures/dcache-access/edge-se01Domain.access");

    fn context() -> Context {
        let mut aliases = BTreeMap::new();
        aliases.insert("cms".to_string(), "https://cms-auth.cern.ch/".to_string());
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            host: "se01.example.org".into(),
            path: "webdav-se01Domain.access".into(),
            file_name: "webdav-se01Domain.access".into(),
            issuer_aliases: Arc::new(aliases),
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        let (events, _) = parse_text(text, None, context()).unwrap();
        events
    }

    fn line(text: &str, number: usize) -> &str {
        text.lines().nth(number).unwrap()
    }

    #[test]
    fn keys_take_their_first_value_and_empty_values_read_as_absent() {
        let line = r#"level=INFO session=a path= other=x session=b error.msg="no \"way\"" path=/p"#;
        let keys = Keys::read(common::netlogger_pairs(line));
        assert_eq!(get(&keys.session), Some("a"));
        assert_eq!(get(&keys.path), None);
        assert_eq!(get(&keys.error_msg), Some(r#"no "way""#));
        assert_eq!(get(&keys.request), None);
    }

    #[test]
    fn webdav_get_redirect_is_a_read_with_token_identity() {
        let events = parse(line(WEBDAV, 0));
        let event = &events[0];
        assert_eq!(event.source, "dcache-access");
        assert_eq!(event.action, "file.read");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.status, "302");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:22.497Z");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.jti, "711e3232-4ea8-4cd8-b857-c15ee2f94624");
        assert_eq!(event.local_user, "50123");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/store/mc/RunIII/AODSIM/file_0042.root"
        );
        assert_eq!(event.protocol, "https");
        assert_eq!(event.client_ip, "192.0.2.42");
        assert_eq!(event.duration_ms, Some(41));
        assert_eq!(
            event.session_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A"
        );
        assert_eq!(
            event.transfer_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A:1718193802456000"
        );
    }

    #[test]
    fn webdav_put_from_ipv6_client_is_a_write() {
        let event = &parse(line(WEBDAV, 1))[0];
        assert_eq!(event.action, "file.write");
        assert_eq!(event.status, "201");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.client_ip, "2001:db8:42::42");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/store/user/cmsprd/out_17.root"
        );
        assert_eq!(event.duration_ms, Some(3518));
        assert_eq!(event.local_user, "50123");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:07:45.019Z");
    }

    #[test]
    fn webdav_copy_is_a_transfer_submit_with_unmapped_alias() {
        let event = &parse(line(WEBDAV, 2))[0];
        assert_eq!(event.action, "transfer.submit");
        assert_eq!(event.status, "202");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.iss, "alias:atlas");
        assert_eq!(event.sub, "eee0331a-a899-46b3-bb0d-8a89bc4041d1");
        assert_eq!(event.jti, "642cd217-3916-4311-be8b-ba9e4143afe0");
        assert_eq!(event.client_ip, "198.51.100.20");
        assert_eq!(
            event.transfer_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasDE4QrI:1718194277480000"
        );
        assert_eq!(event.duration_ms, Some(48213));
        assert!(event.path.ends_with("/EVNT.12345._000001.pool.root.1"));
    }

    #[test]
    fn webdav_forbidden_delete_is_an_authz_deny() {
        let event = &parse(line(WEBDAV, 3))[0];
        assert_eq!(event.action, "authz.deny");
        assert_eq!(event.outcome, "fail");
        assert_eq!(event.status, "403");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/store/user/other/secret.root"
        );
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.transfer_id, "");
    }

    #[test]
    fn xrootd_connection_start_remembers_the_client() {
        let events = parse(XROOTD);
        let start = &events[0];
        assert_eq!(start.action, "other");
        assert_eq!(start.client_ip, "192.0.2.42");
        assert_eq!(start.time.unwrap().to_rfc3339(), "2024-06-12T12:03:22.101Z");
        assert_eq!(
            start.session_id,
            "door:Xrootd-se01@xrootd-se01Domain:AAYasCs7Fvg"
        );
    }

    #[test]
    fn xrootd_login_request_gives_the_worker_node_name() {
        let events = parse(XROOTD);
        let login = &events[1];
        assert_eq!(login.action, "other");
        assert_eq!(login.outcome, "ok");
        assert_eq!(login.client_host, "wn042.example.org");
        assert_eq!(login.client_ip, "192.0.2.42");
        assert_eq!(login.protocol, "xrootd");
    }

    #[test]
    fn xrootd_login_event_carries_the_identity() {
        let events = parse(XROOTD);
        let login = &events[2];
        assert_eq!(login.action, "auth.login");
        assert_eq!(login.iss, "https://cms-auth.cern.ch");
        assert_eq!(login.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(login.jti, "711e3232-4ea8-4cd8-b857-c15ee2f94624");
        assert_eq!(login.local_user, "50123");
        assert_eq!(login.client_host, "wn042.example.org");
    }

    #[test]
    fn xrootd_open_gets_the_session_identity() {
        let events = parse(XROOTD);
        let open = &events[3];
        assert_eq!(open.action, "file.read");
        assert_eq!(open.outcome, "ok");
        assert_eq!(open.status, "redirect");
        assert_eq!(
            open.path,
            "/pnfs/example.org/data/cms/store/mc/RunIII/AODSIM/file_0042.root"
        );
        assert_eq!(open.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(open.jti, "711e3232-4ea8-4cd8-b857-c15ee2f94624");
        assert_eq!(open.iss, "https://cms-auth.cern.ch");
        assert_eq!(open.client_ip, "192.0.2.42");
        assert_eq!(open.client_host, "wn042.example.org");
        assert_eq!(open.time.unwrap().to_rfc3339(), "2024-06-12T12:03:22.209Z");
    }

    #[test]
    fn xrootd_unauthorised_rm_is_an_authz_deny_with_identity() {
        let events = parse(XROOTD);
        let rm = &events[4];
        assert_eq!(rm.action, "authz.deny");
        assert_eq!(rm.outcome, "fail");
        assert_eq!(rm.status, "NotAuhorized");
        assert_eq!(
            rm.path,
            "/pnfs/example.org/data/cms/store/user/other/secret.root"
        );
        assert_eq!(rm.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
    }

    #[test]
    fn xrootd_connection_end_closes_the_session() {
        let text = format!(
            "{XROOTD}level=INFO ts=2024-06-12T14:06:00.000+0200 event=org.dcache.xrootd.request session=door:Xrootd-se01@xrootd-se01Domain:AAYasCs7Fvg request=stat path=/pnfs/x response=ok\n"
        );
        let events = parse(&text);
        let end = &events[5];
        assert_eq!(end.action, "other");
        assert_eq!(end.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        let after = &events[6];
        assert_eq!(after.sub, "");
        assert_eq!(after.client_ip, "");
    }

    #[test]
    fn xrootd_write_open_and_prepare_stage() {
        let text = "level=INFO ts=2024-06-12T14:03:22.209+0200 event=org.dcache.xrootd.request session=s1 request=open path=/pnfs/a/out.root mode=0644 options=0x4248 response=redirect\n\
level=INFO ts=2024-06-12T14:03:23.209+0200 event=org.dcache.xrootd.request session=s1 request=prepare options=0x8 path=/pnfs/a/tape.root response=ok\n\
level=INFO ts=2024-06-12T14:03:24.209+0200 event=org.dcache.xrootd.request session=s1 request=mv source=/pnfs/a/x target=/pnfs/a/y response=ok\n";
        let events = parse(text);
        assert_eq!(events[0].action, "file.write");
        assert_eq!(events[1].action, "file.stage");
        assert_eq!(events[1].path, "/pnfs/a/tape.root");
        assert_eq!(events[2].action, "file.move");
        assert_eq!(events[2].path, "/pnfs/a/x");
    }

    #[test]
    fn opaque_bearer_tokens_never_survive() {
        let jwt = crate::jwt::encode_test_jwt(
            &serde_json::json!({"iss": "https://cms-auth.cern.ch/", "sub": "abc", "jti": "j-1"}),
            "SIGNATUREsignatureSIGNATURE",
        );
        let text = format!(
            "level=INFO ts=2024-06-12T14:03:22.209+0200 event=org.dcache.xrootd.request session=s2 request=open path=/pnfs/a opaque=authz=Bearer%20{jwt}&scitag.flow=129 options=0x10 response=redirect\n\
level=INFO ts=2024-06-12T14:03:22.209+0200 event=org.dcache.xrootd.request session=s2 request=stat path=/pnfs/b opaque=authz=Bearer%20opaqueSecretValue123456 response=ok\n"
        );
        let events = parse(&text);
        assert_eq!(events.len(), 2);
        for event in &events {
            assert!(!event.raw.contains("SIGNATUREsignature"), "{}", event.raw);
            assert!(!event.raw.contains("opaqueSecretValue"), "{}", event.raw);
        }
        // The pipeline fills the identity from the token's claims.
        assert_eq!(events[0].sub, "abc");
        assert_eq!(events[0].jti, "j-1");
        assert_eq!(events[0].action, "file.read");
    }

    #[test]
    fn copy_with_transfer_header_authorization_is_redacted() {
        let event = &parse(line(EDGE, 0))[0];
        assert_eq!(event.action, "transfer.submit");
        assert!(!event.raw.contains("tpcSecretOpaqueToken"), "{}", event.raw);
        assert!(event.raw.contains("REDACTED-sha256:"));
    }

    #[test]
    fn reordered_keys_and_escaped_quotes_are_read() {
        let event = &parse(line(EDGE, 1))[0];
        assert_eq!(event.action, "file.read");
        assert_eq!(event.status, "200");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/a \"quoted\" name.root"
        );
        assert_eq!(event.client_ip, "2001:db8::1");
        assert_eq!(
            event.session_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasEEEEEE"
        );
    }

    #[test]
    fn x509_and_anonymous_users_have_no_token_identity() {
        let x509 = &parse(line(EDGE, 2))[0];
        assert_eq!(x509.username, "/DC=org/DC=example/CN=Jane Doe");
        assert_eq!(x509.sub, "");
        assert_eq!(x509.iss, "");
        assert_eq!(x509.local_user, "50200");
        assert_eq!(x509.action, "file.list");
        let anonymous = &parse(line(EDGE, 3))[0];
        assert_eq!(anonymous.local_user, "nobody");
        assert_eq!(anonymous.action, "authz.deny");
        assert_eq!(anonymous.status, "401");
    }

    #[test]
    fn failed_request_without_response_code_is_a_failure() {
        let event = &parse(line(EDGE, 4))[0];
        assert_eq!(event.action, "file.write");
        assert_eq!(event.outcome, "fail");
        assert_eq!(event.status, "Broken pipe");
    }

    #[test]
    fn truncated_line_is_malformed_and_garbage_after_a_value_is_tolerated() {
        let (events, stats) = parse_text(line(EDGE, 5), Some("dcache-access"), context()).unwrap();
        assert_eq!(events[0].status, "unparsed");
        assert_eq!(stats.formats["dcache-access"].errors, 1);
        let event = &parse(line(EDGE, 6))[0];
        assert_eq!(event.action, "file.mkdir");
        assert_eq!(event.status, "201");
    }

    #[test]
    fn old_key_order_without_session_derives_it_from_the_transaction() {
        let event = &parse(line(EDGE, 7))[0];
        assert_eq!(event.action, "file.write");
        assert_eq!(event.status, "307");
        assert_eq!(event.client_ip, "::1");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2019-08-05T07:47:49.337Z");
        assert_eq!(
            event.session_id,
            "door:WebDAV-se01@dCacheDomain:AAWPWeyoBWg"
        );
        assert_eq!(
            event.transfer_id,
            "door:WebDAV-se01@dCacheDomain:AAWPWeyoBWg:1564991268926000"
        );
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(line(WEBDAV, 0), ""));
        assert!(!sniff("level=INFO msg=hello", ""));
        assert!(!sniff(
            "192.0.2.42 8443 \"anonymous\" 2024-06-12T12:12:30.004Z \"e2f3\" \"GET / HTTP/1.1\" 200 - 2",
            ""
        ));
        let (events, _) = parse_text(
            "06.12 14:03:24 [pool:pool07:transfer] [x,1] [/a] <Unknown> 1 1 false {Xrootd-5.0:192.0.2.1:1} [door:x@y:z:1] {0:\"\"}",
            Some("dcache-access"),
            context(),
        )
        .unwrap();
        assert_eq!(events[0].source, "raw");
    }

    #[test]
    fn hostile_lines_never_panic() {
        for text in [
            "level=",
            "level=INFO ts=",
            "level=INFO ts=x event=org.dcache.webdav.request",
            "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.xrootd.request request=open options=0xzz response=",
            "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.webdav.request request.method=GET socket.remote=[::1 user.sub=@ user.jti=@@ response.code=99999",
            "level=\"é ts=\u{1f600}",
        ] {
            let _ = parse(text);
        }
    }
}
