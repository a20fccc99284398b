//! Helpers shared by the dCache parsers (access log, text and JSON billing) and by the StoRM
//! WebDAV parsers: NetLogger `key=value` lines, dCache's `<name>@<gPlazma alias>` principals,
//! socket addresses (`ip:port`, `[v6]:port`), door sessions and transactions, and the
//! WebDAV method → action mapping.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::DateTime;

use crate::event::{action, outcome, Event, Label, Timestamp};
use crate::parser::Context;

/// The `(key, value)` pairs of a NetLogger line (`level=INFO ts=… event=… a=b c="x \"y\""`),
/// in order; a quoted value is unescaped.
///
/// Unlike `crate::kv`, pairs are separated by spaces only: dCache values hold commas
/// (`user.mapped=50123:5030,5031`) and `=` (`token=xrd.cc=us&xrd.tz=1`). A value is quoted iff
/// it holds a space, `"`, CR or LF, with escapes `\\ \" \n \r`. Never panics; an unterminated
/// quote takes the rest of the line.
pub fn netlogger_pairs(text: &str) -> NetPairs<'_> {
    NetPairs { text, index: 0 }
}

/// The iterator of [`netlogger_pairs`].
pub struct NetPairs<'a> {
    text: &'a str,
    index: usize,
}

impl<'a> Iterator for NetPairs<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let mut index = self.index;
        while index < bytes.len() {
            while index < bytes.len() && bytes[index] == b' ' {
                index += 1;
            }
            let key_start = index;
            index =
                memchr::memchr2(b'=', b' ', &bytes[index..]).map_or(bytes.len(), |at| index + at);
            if index >= bytes.len() || bytes[index] != b'=' || index == key_start {
                // A bare word (or a stray `=`): skip it.
                index += 1;
                continue;
            }
            let key = &text[key_start..index];
            index += 1;
            let value = if bytes.get(index) == Some(&b'"') {
                // Quoted as `crate::kv` reads double quotes; a `'` starts a bare value here.
                let (value, next) = crate::kv::value_at(text, index);
                index = next;
                value
            } else {
                let start = index;
                index = memchr::memchr(b' ', &bytes[index..]).map_or(bytes.len(), |at| index + at);
                Cow::Borrowed(&text[start..index])
            };
            self.index = index;
            return Some((key, value));
        }
        self.index = index;
        None
    }
}

/// A time with an explicit offset: dCache's `2024-06-12T14:03:22.456+0200` (no colon), JSON
/// billing's `2024-06-12T14:03:24.310+02:00`, StoRM's `…Z`.
pub fn parse_offset_time(text: &str) -> Option<Timestamp> {
    if let Some(time) = crate::time::parse_iso_zoned(text) {
        return Some(time);
    }
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.into());
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(parsed) = DateTime::parse_from_str(text, pattern) {
            return Some(parsed.into());
        }
    }
    None
}

/// Splits dCache's `<name>@<gPlazma alias>` (the alias never holds `@`, a `sub` may) into
/// (name, alias). dCache 5.1–7.1 wrote the `OpScopedPrincipal` name as `<alias>:<name>`; that
/// older form is read when there is no `@`.
pub fn split_alias(value: &str) -> Option<(&str, &str)> {
    let (name, alias) = match value.rsplit_once('@') {
        Some(split) => split,
        None => {
            let (alias, name) = value.split_once(':')?;
            (name, alias)
        }
    };
    if name.is_empty() || alias.is_empty() {
        return None;
    }
    Some((name, alias))
}

/// The issuer of a gPlazma alias: the mapped URL, else `alias:<alias>` (docs/conventions.md).
pub fn issuer_for_alias(context: &Context, alias: &str) -> String {
    match context.issuer_for_alias(alias) {
        Some(url) => url.to_string(),
        None => format!("alias:{alias}"),
    }
}

/// Fills `sub`/`iss` from `user.sub` and `jti` from `user.jti` (both `<value>@<alias>`, comma
/// joined when a subject holds several; the first one is taken).
pub fn fill_oidc(event: &mut Event, context: &Context, subs: Option<&str>, jtis: Option<&str>) {
    if let Some(first) = subs.and_then(|subs| subs.split(',').next()) {
        match split_alias(first) {
            Some((sub, alias)) => {
                event.sub = sub.to_string();
                event.iss = issuer_for_alias(context, alias);
            }
            None => event.sub = first.to_string(),
        }
    }
    if let Some(first) = jtis.and_then(|jtis| jtis.split(',').next()) {
        let jti = split_alias(first).map_or(first, |(jti, _)| jti);
        event.jti = jti.to_string();
        if event.iss.is_empty() {
            if let Some((_, alias)) = split_alias(first) {
                event.iss = issuer_for_alias(context, alias);
            }
        }
    }
}

/// The local account of dCache's `user.mapped` (`root`, `nobody`, `<uid>:<gid>[,<gid>…]`,
/// optionally followed by `[<macaroon id>]`): the name, else the uid.
pub fn mapped_account(mapped: &str) -> &str {
    let head = mapped.split('[').next().unwrap_or(mapped);
    head.split(':').next().unwrap_or(head).trim()
}

/// An X.509 distinguished name (`/DC=ch/CN=…` or `CN=…,O=…`) rather than an account name.
pub fn looks_like_dn(text: &str) -> bool {
    (text.starts_with('/') && text.contains('=')) || text.starts_with("CN=")
}

/// `ip:port`, `[v6]:port`, a bare IP or `host:port` → (address without brackets, port).
pub fn split_socket(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (address, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    if text.parse::<IpAddr>().is_ok() {
        return (text, None);
    }
    match text.rsplit_once(':') {
        Some((address, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (address, Some(port)),
        _ => (text, None),
    }
}

/// Puts an address in `client_ip` when it is an IP, else in `client_host` (lower case).
pub fn set_client(event: &mut Event, address: &str) {
    let address = address.trim();
    if address.is_empty() || address == "unknown" || address == "-" {
        return;
    }
    if address.parse::<IpAddr>().is_ok() {
        event.client_ip = address.to_string();
    } else {
        event.client_host = address.to_ascii_lowercase();
    }
}

/// The path of a URL without scheme, host or query (`https://h:1/a/b?x` → `/a/b`); a text that
/// is no URL is returned without its query.
pub fn url_path(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "/",
        },
        None => without_query,
    }
}

/// The scheme of a URL, lower case (`https`), empty when none.
pub fn url_scheme(url: &str) -> Label {
    /// Schemes of the grid's storage URLs, kept without a copy.
    const KNOWN: [&str; 8] = [
        "https", "http", "davs", "dav", "root", "roots", "xroot", "gsiftp",
    ];
    match url.split_once("://") {
        Some((scheme, _)) if scheme.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            match KNOWN
                .iter()
                .find(|known| known.eq_ignore_ascii_case(scheme))
            {
                Some(known) => Label::from(*known),
                None => scheme.to_ascii_lowercase().into(),
            }
        }
        _ => Label::default(),
    }
}

/// The door session of a dCache transaction: `door:<cell>@<domain>:<session>:<id>` without its
/// last `:<id>`. The WebDAV/xrootd access log prints this session as `session=`, and the billing
/// `[initiator]` is the transaction, so both sides get this same `session_id`.
pub fn door_session(transaction: &str) -> Option<&str> {
    if !transaction.starts_with("door:") {
        return None;
    }
    let (session, id) = transaction.rsplit_once(':')?;
    let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    // `session` must still hold `door:<cell>@<domain>:<counter>`.
    if numeric && session.matches(':').count() >= 2 {
        Some(session)
    } else {
        None
    }
}

/// The action of a WebDAV request (dCache WebDAV door, StoRM WebDAV).
pub fn webdav_action(method: &str) -> &'static str {
    match method.to_ascii_uppercase().as_str() {
        "GET" => action::FILE_READ,
        "PUT" => action::FILE_WRITE,
        "DELETE" => action::FILE_DELETE,
        "PROPFIND" => action::FILE_LIST,
        "MKCOL" => action::FILE_MKDIR,
        "MOVE" => action::FILE_MOVE,
        "COPY" => action::TRANSFER_SUBMIT,
        _ => action::OTHER,
    }
}

/// Sets action, outcome and status of a WebDAV request: 401/403 are `authz.deny`.
pub fn apply_webdav(event: &mut Event, method: &str, code: Option<u16>) {
    event.action = webdav_action(method).into();
    if let Some(code) = code {
        event.set_http_status(code);
        if code == 401 || code == 403 {
            event.action = action::AUTHZ_DENY.into();
            event.outcome = outcome::FAIL.into();
        }
    }
}

/// Protocol name of a dCache `ProtocolInfo` (`Https-1.1`, `Xrootd-5.0`, `GFtp-2.0`,
/// `RemoteHttpsDataTransfer-1.1`) in the event's vocabulary (`https`, `xrootd`, `gsiftp`).
pub fn protocol_name(info: &str) -> Label {
    /// dCache's names and the event's, compared ignoring case.
    const NAMES: [(&str, &str); 11] = [
        ("https", "https"),
        ("http", "http"),
        ("xrootd", "xrootd"),
        ("dcap", "dcap"),
        ("gftp", "gsiftp"),
        ("remotegsiftptransfer", "gsiftp"),
        ("remotehttpsdatatransfer", "https"),
        ("remotehttpdatatransfer", "http"),
        ("nfs4", "nfs"),
        ("nfsv41", "nfs"),
        ("nfs", "nfs"),
    ];
    let name = info.split(['-', ':', ' ']).next().unwrap_or(info);
    match NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
    {
        Some((_, protocol)) => Label::from(*protocol),
        None => name.to_ascii_lowercase().into(),
    }
}

/// What a billing `{protocol}` block says about the remote end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtocolInfo {
    pub protocol: Label,
    /// Client IP (or name) of the transfer.
    pub client: String,
    /// The remote URL of a third-party copy (`<ver>:<url>`).
    pub remote_url: String,
}

/// Reads a billing `ProtocolInfo.toString()`:
/// `Https-1.1:<ip>:<port>:<door cell>:<door domain>:<path>` (IPv6 adds colons, so the fields
/// are taken from the right), `Xrootd-5.0:<ip>:<port>`, `<ver>:<source url>` for HTTP-TPC and
/// the old space form `GFtp-2.0 <ip> <port>`.
pub fn protocol_info(text: &str) -> ProtocolInfo {
    let text = text.trim();
    let mut info = ProtocolInfo {
        protocol: protocol_name(text),
        ..ProtocolInfo::default()
    };
    if !text.contains(':') {
        // `GFtp-2.0 192.0.2.1 33211`
        let mut words = text.split_whitespace();
        words.next();
        info.client = words.next().unwrap_or_default().to_string();
        return info;
    }
    let rest = match text.split_once(':') {
        Some((_, rest)) => rest,
        None => return info,
    };
    if rest.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
    }) {
        info.remote_url = rest.to_string();
        return info;
    }
    // HTTP form: the path starts at the first `:/` (IPv6 addresses hold no `/`).
    let head = match rest.find(":/") {
        Some(at) => {
            let head = &rest[..at];
            // Drop `:<door cell>:<door domain>`.
            let mut parts = head.rsplitn(3, ':');
            let _domain = parts.next();
            let _cell = parts.next();
            parts.next().unwrap_or_default()
        }
        None => rest,
    };
    let address = match head.rsplit_once(':') {
        Some((address, port)) if port.bytes().all(|b| b.is_ascii_digit()) => address,
        _ => head,
    };
    info.client = address.trim_matches(['[', ']']).to_string();
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first value of `key`, empty values read as absent.
    fn get<'p>(pairs: &'p [(&str, Cow<'_, str>)], key: &str) -> Option<&'p str> {
        pairs
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.as_ref())
            .filter(|value| !value.is_empty())
    }

    #[test]
    fn netlogger_values_keep_commas_and_equals_and_unescape_quotes() {
        let pairs: Vec<_> = netlogger_pairs(
            r#"level=INFO ts=x event=e user.mapped=50123:5030,5031 token=xrd.cc=us&xrd.tz=1 ua="a \"b\" c" empty="" tail"#,
        )
        .collect();
        assert_eq!(get(&pairs, "user.mapped"), Some("50123:5030,5031"));
        assert_eq!(get(&pairs, "token"), Some("xrd.cc=us&xrd.tz=1"));
        assert_eq!(get(&pairs, "ua"), Some(r#"a "b" c"#));
        assert_eq!(get(&pairs, "empty"), None);
    }

    #[test]
    fn netlogger_survives_hostile_text() {
        for text in ["", "=", "a=\"", "a=\"\\", "é=ü", "==x", "k=\"\u{1f600}"] {
            let _ = netlogger_pairs(text).count();
        }
    }

    #[test]
    fn op_scoped_names_split_in_new_and_old_forms() {
        assert_eq!(split_alias("a@b@cms"), Some(("a@b", "cms")));
        assert_eq!(split_alias("cms:6ac1"), Some(("6ac1", "cms")));
        assert_eq!(split_alias("plain"), None);
        assert_eq!(split_alias("@cms"), None);
    }

    #[test]
    fn sockets_split_with_and_without_brackets() {
        assert_eq!(
            split_socket("192.0.2.42:51844"),
            ("192.0.2.42", Some("51844"))
        );
        assert_eq!(
            split_socket("[2001:db8:42::42]:40312"),
            ("2001:db8:42::42", Some("40312"))
        );
        assert_eq!(split_socket("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(split_socket("[2001:db8::1"), ("2001:db8::1", None));
    }

    #[test]
    fn door_session_drops_the_transaction_counter_only() {
        assert_eq!(
            door_session("door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A:1718193802456000"),
            Some("door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A")
        );
        assert_eq!(
            door_session("door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A"),
            None
        );
        assert_eq!(door_session("pool:pool07@pool07Domain:AAYa:17"), None);
    }

    #[test]
    fn protocol_info_reads_ipv6_http_xrootd_tpc_and_gridftp_forms() {
        let http = protocol_info(
            "Https-1.1:2001:db8:42::42:40312:WebDAV-se01:webdav-se01Domain:/pnfs/a:b",
        );
        assert_eq!(http.protocol, "https");
        assert_eq!(http.client, "2001:db8:42::42");
        let loopback =
            protocol_info("Http-1.1:0:0:0:0:0:0:0:1:44924:WebDAV-x:dCacheDomain:/pnfs/f");
        assert_eq!(loopback.client, "0:0:0:0:0:0:0:1");
        assert_eq!(
            protocol_info("Xrootd-5.0:192.0.2.42:50131").client,
            "192.0.2.42"
        );
        let tpc = protocol_info("RemoteHttpsDataTransfer-1.1:https://xrd01.example.org:1094//f");
        assert_eq!(tpc.protocol, "https");
        assert_eq!(tpc.remote_url, "https://xrd01.example.org:1094//f");
        let gridftp = protocol_info("GFtp-2.0 192.0.2.7 33211");
        assert_eq!(
            (gridftp.protocol.as_str(), gridftp.client.as_str()),
            ("gsiftp", "192.0.2.7")
        );
    }

    #[test]
    fn offset_times_with_and_without_colon() {
        let a = parse_offset_time("2024-06-12T14:03:22.497+0200").unwrap();
        let b = parse_offset_time("2024-06-12T14:03:22.497+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2024-06-12T12:03:22.497Z");
        assert!(parse_offset_time("2024-06-12T14:03").is_none());
    }

    #[test]
    fn url_schemes_are_lower_case_known_or_not() {
        assert_eq!(url_scheme("HTTPS://door:2880/p"), "https");
        assert_eq!(url_scheme("root://door//p"), "root");
        assert_eq!(url_scheme("S3://bucket/key"), "s3");
        assert_eq!(url_scheme("/pnfs/example.org/data"), "");
        assert_eq!(url_scheme("a b://x"), "");
    }

    #[test]
    fn url_path_strips_scheme_host_and_query() {
        assert_eq!(url_path("https://se01:2880/pnfs/a?x=1"), "/pnfs/a");
        assert_eq!(url_path("https://se01:2880"), "/");
        assert_eq!(url_path("/cms/a?authz=x"), "/cms/a");
    }

    /// Every fixture line of the dCache and StoRM formats is claimed by its own format when
    /// detection is by content (the truncated/header lines excepted, checked per module).
    #[test]
    fn fixture_lines_are_detected_as_their_format() {
        use crate::stream::parse_text;
        let fixtures: [(&str, &str, &str); 6] = [
            (
                "dcache-access",
                "webdav-se01Domain.access",
                include_str!("../../../tests/fixtures/dcache-access/webdav-se01Domain.access"),
            ),
            (
                "dcache-access",
                "xrootd-se01Domain.access",
                include_str!("../../../tests/fixtures/dcache-access/xrootd-se01Domain.access"),
            ),
            (
                "dcache-billing",
                "billing-2024.06.12",
                include_str!("../../../tests/fixtures/dcache-billing/billing-2024.06.12"),
            ),
            (
                "dcache-billing-json",
                "billing-2024.06.12",
                include_str!("../../../tests/fixtures/dcache-billing-json/billing-2024.06.12"),
            ),
            (
                "storm-webdav-access",
                "storm-webdav-server-access.log",
                include_str!(
                    "../../../tests/fixtures/storm-webdav-access/storm-webdav-server-access.log"
                ),
            ),
            (
                "storm-webdav-server",
                "storm-webdav-server.log",
                include_str!("../../../tests/fixtures/storm-webdav-server/storm-webdav-server.log"),
            ),
        ];
        for (format, file_name, text) in fixtures {
            for line in text.lines() {
                let context = Context {
                    file_name: file_name.to_string(),
                    ..Context::default()
                };
                let (events, _) = parse_text(line, None, context).unwrap();
                assert_eq!(events.len(), 1, "{line}");
                assert_eq!(events[0].source, format, "{line}");
                assert_ne!(events[0].action, "", "{line}");
            }
        }
    }

    /// The pairs of a byte-by-byte reading, the splitting rules written out plainly.
    fn plain_pairs(text: &str) -> Vec<(String, String)> {
        let bytes = text.as_bytes();
        let (mut out, mut index) = (Vec::new(), 0);
        while index < bytes.len() {
            while index < bytes.len() && bytes[index] == b' ' {
                index += 1;
            }
            let key_start = index;
            while index < bytes.len() && !matches!(bytes[index], b'=' | b' ') {
                index += 1;
            }
            if index >= bytes.len() || bytes[index] != b'=' || index == key_start {
                index += 1;
                continue;
            }
            let key = text[key_start..index].to_string();
            index += 1;
            if bytes.get(index) == Some(&b'"') {
                let (start, mut cursor, mut escaped) = (index + 1, index + 1, false);
                while cursor < bytes.len() && bytes[cursor] != b'"' {
                    if bytes[cursor] == b'\\' {
                        escaped = true;
                        cursor += 1;
                    }
                    cursor += 1;
                }
                let end = cursor.min(bytes.len());
                let inner = &text[start..end];
                let value = if escaped {
                    crate::kv::unescape(inner)
                } else {
                    inner.to_string()
                };
                out.push((key, value));
                index = end + 1;
            } else {
                let start = index;
                while index < bytes.len() && bytes[index] != b' ' {
                    index += 1;
                }
                out.push((key, text[start..index].to_string()));
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn netlogger_pairs_split_as_the_plain_reading(
            text in "([a-z.]{0,6}(=|==| =)?(\"[a-z =\\\\\"]{0,8}\"?|[a-z=,:]{0,8}|\u{e9}) {0,2}){0,8}",
        ) {
            let pairs: Vec<(String, String)> = netlogger_pairs(&text)
                .map(|(key, value)| (key.to_string(), value.into_owned()))
                .collect();
            proptest::prop_assert_eq!(pairs, plain_pairs(&text));
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(
            prefix in proptest::sample::select(vec![
                "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.webdav.request ",
                "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.xrootd.request ",
                "06.12 14:03:24 [",
                "{\"msgType\":",
                "192.0.2.42 8443 \"",
                "2024-06-12T12:12:05.884Z [",
            ]),
            tail in "\\PC{0,120}",
        ) {
            let line = format!("{prefix}{tail}");
            for format in ["dcache-access", "dcache-billing", "dcache-billing-json",
                           "storm-webdav-access", "storm-webdav-server"] {
                let _ = crate::stream::parse_text(&line, Some(format), Context::default());
            }
        }
    }
}
