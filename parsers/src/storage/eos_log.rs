//! `eos-log`: EOS MGM/FST daemon logs, `/var/log/eos/mgm/xrdlog.mgm`, `/var/log/eos/fst/xrdlog.fst`
//! (rotated `xrdlog.mgm-YYYYMMDD.gz`).
//!
//! Grammar (storage.md §4.1, `common/Logging.cc`): `YYMMDD HH:MM:SS time=<epoch.usec>
//! func=<f> level=<L> logid=<id> unit=<u> tid=<t> source=<file:line> tident=<tident>
//! sec=<prot> uid=<n> gid=<n> name=<mapped> geo="…" [xt="…" ob="…"] MESSAGE`. The header is read
//! as `key=value` pairs in any order (older releases lack `xt`/`ob`; the short form uses `t= f=
//! l= s=`), the message starts at the first key that is not a header key.
//!
//! Fields: `time` from the epoch `time=` (the local stamp only without it), `session_id` = logid
//! (not the `static…` id of un-attributed messages), `client_host`/`client_ip` from the tident's
//! host, `local_user` = mapped `name`, `protocol` = `sec`. Messages read:
//! - `op=read|write|… path=<p> info=<cgi>` → `file.read`/`file.write`/… (no outcome: the line
//!   is written while the open is processed).
//! - `msg="failed token authz" path="…" … jwt={issuer:…,subject:…,audience:[…],claims:[k:v,…]}
//!   [<raw token>]` → `authz.deny` with every claim harvested (`iss`, `sub`, `jti`, `scopes`,
//!   `aud`, `groups`, `token_iat`, `token_exp`). These lines hold the whole bearer token: the
//!   pipeline redacts JWT signatures and `authz=` values, and this parser also replaces the
//!   bracketed raw token after `jwt={…}` when it is not a JWT (a macaroon, say).
//!
//! Other messages are kept as events of this format without an action.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::jwt::{self, Claims};
use crate::kv;
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::xrootd_stamp::stamp;
use crate::storage::xrootd_tident;
use crate::time::TimeContext;

/// The `eos-log` format.
pub static FORMAT: Format = Format {
    id: "eos-log",
    service: Service::Storage,
    summary: "EOS MGM/FST xrdlog",
    programs: &["eos-mgm", "eos-fst"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
        })
    },
};

/// Header keys, long and short form: the header ends at the first key not among them.
fn is_header_key(key: &str) -> bool {
    matches!(
        key,
        "time"
            | "func"
            | "level"
            | "logid"
            | "unit"
            | "tid"
            | "source"
            | "tident"
            | "sec"
            | "uid"
            | "gid"
            | "name"
            | "geo"
            | "xt"
            | "ob"
            | "t"
            | "f"
            | "l"
            | "s"
    )
}

fn sniff(text: &str, _file_name: &str) -> bool {
    let Ok((rest, _)) = stamp(text) else {
        return false;
    };
    let head = rest.get(..rest.len().min(200)).unwrap_or(rest);
    (rest.starts_with("time=") && head.contains(" func="))
        || (rest.starts_with("t=") && head.contains(" f="))
}

// The header keys the parser reads, each with its first value, in one pass over the header
// (it was a vector of pairs per line searched once per key).
kv::known_keys!(HeaderKeys<'a, Cow<'a, str>>, keep first, {
    time = "time",
    t = "t",
    func = "func",
    f = "f",
    level = "level",
    l = "l",
    logid = "logid",
    tident = "tident",
    name = "name",
    sec = "sec",
});

/// The header keys read, and the message after the header.
struct Header<'a> {
    keys: HeaderKeys<'a>,
    message: &'a str,
}

/// The value of a header key, or "" when absent.
fn value<'v>(value: &'v Option<Cow<'_, str>>) -> &'v str {
    value.as_deref().unwrap_or("")
}

/// `long`, or `short` when `long` is absent or empty.
fn either<'v>(long: &'v Option<Cow<'_, str>>, short: &'v Option<Cow<'_, str>>) -> &'v str {
    match value(long) {
        "" => value(short),
        found => found,
    }
}

/// The header's `key=value` pairs in order; where the message starts once exhausted.
struct HeaderPairs<'a> {
    text: &'a str,
    index: usize,
}

impl<'a> Iterator for HeaderPairs<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        while bytes.get(self.index) == Some(&b' ') {
            self.index += 1;
        }
        let rest = bytes.get(self.index..)?;
        // A key runs to `=`; a space first means a word of the message.
        let equals = memchr::memchr2(b'=', b' ', rest).filter(|&at| rest[at] == b'=')?;
        let key = &self.text[self.index..self.index + equals];
        if !is_header_key(key) {
            return None;
        }
        let (value, next) = kv::value_at(self.text, self.index + equals + 1);
        self.index = next;
        Some((key, value))
    }
}

fn header(text: &str) -> Header<'_> {
    let mut pairs = HeaderPairs { text, index: 0 };
    let keys = HeaderKeys::read(&mut pairs);
    Header {
        keys,
        message: text.get(pairs.index..).unwrap_or("").trim(),
    }
}

/// EOS `op=` names to actions.
fn action_for_op(op: &str) -> &'static str {
    match op {
        "read" => action::FILE_READ,
        "write" | "create" | "update" | "truncate" => action::FILE_WRITE,
        "delete" | "rm" | "rmdir" | "unlink" => action::FILE_DELETE,
        "mkdir" => action::FILE_MKDIR,
        "rename" | "mv" => action::FILE_MOVE,
        "ls" | "readdir" | "list" | "stat" => action::FILE_LIST,
        "prepare" | "stage" => action::FILE_STAGE,
        _ => action::OTHER,
    }
}

/// The text of a balanced `{…}` starting at `open` (an index of `{`): (inner, index after `}`).
fn balanced(text: &str, open: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_quote = false;
    for (offset, &byte) in bytes.get(open..)?.iter().enumerate() {
        let at = open + offset;
        match byte {
            b'"' => in_quote = !in_quote,
            b'{' | b'[' if !in_quote => depth += 1,
            b'}' | b']' if !in_quote => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some((&text[open + 1..at], at + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits at commas outside quotes and brackets.
fn split_top(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut start = 0;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'"' => in_quote = !in_quote,
            b'[' | b'{' if !in_quote => depth += 1,
            b']' | b'}' if !in_quote => depth = depth.saturating_sub(1),
            b',' if !in_quote && depth == 0 => {
                push_item(&mut out, &text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    push_item(&mut out, &text[start..]);
    out
}

/// Keeps an item of [`split_top`] that holds more than blanks.
fn push_item<'a>(items: &mut Vec<&'a str>, item: &'a str) {
    if !item.trim().is_empty() {
        items.push(item);
    }
}

/// One claim value as printed by EOS: `"quoted"`, a number, `[a,b]`, or bare text.
fn claim_value(text: &str) -> Value {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Value::Array(split_top(inner).into_iter().map(claim_value).collect());
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Value::String(inner.to_string());
    }
    if let Ok(number) = text.parse::<i64>() {
        return Value::from(number);
    }
    Value::String(text.to_string())
}

/// The claims of `jwt={issuer:…,subject:…,audience:[…],claims:[k:v,…]}`.
fn jwt_claims(inner: &str) -> Claims {
    let mut object = Map::new();
    let mut top = Map::new();
    for item in split_top(inner) {
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if key == "claims" {
            let list = value.trim();
            let list = list
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .unwrap_or(list);
            for claim in split_top(list) {
                if let Some((name, value)) = claim.split_once(':') {
                    object.insert(name.trim().to_string(), claim_value(value));
                }
            }
        } else {
            top.insert(key.to_string(), claim_value(value));
        }
    }
    // The summary fields stand in for claims the list lacks.
    for (summary, claim) in [("issuer", "iss"), ("subject", "sub"), ("audience", "aud")] {
        if let Some(value) = top.get(summary) {
            object.entry(claim).or_insert_with(|| value.clone());
        }
    }
    Claims::from_json(&Value::Object(object))
}

/// Replaces a non-JWT raw token in `[…]` right after the `jwt={…}` summary.
fn redact_bracketed_token(raw: &str) -> String {
    let Some(start) = raw.find("jwt={") else {
        return raw.to_string();
    };
    let Some((_, after)) = balanced(raw, start + 4) else {
        return raw.to_string();
    };
    let Some(rest) = raw.get(after..) else {
        return raw.to_string();
    };
    let Some(inner_end) = rest.strip_prefix('[').and_then(|r| r.find(']')) else {
        return raw.to_string();
    };
    let token = &rest[1..1 + inner_end];
    if token.is_empty() || token.contains(jwt::REDACTED) || token.starts_with('<') {
        return raw.to_string();
    }
    format!(
        "{}[{}]{}",
        &raw[..after],
        jwt::fingerprint(token),
        &rest[inner_end + 2..]
    )
}

struct Parser {
    time: TimeContext,
}

impl Parser {
    fn base_event(
        &self,
        line: &Line<'_>,
        header: &Header<'_>,
        stamp_time: Option<Timestamp>,
    ) -> Event {
        let mut event = line.event(FORMAT.id, FORMAT.service);
        let keys = &header.keys;
        let epoch = crate::time::parse_epoch(either(&keys.time, &keys.t));
        if let Some(time) = epoch.or(stamp_time) {
            event.time = Some(time);
        }
        let logid = value(&keys.logid);
        if !logid.is_empty() && !logid.starts_with("static") {
            event.session_id = logid.to_string();
        }
        let tident = value(&keys.tident);
        if let Some(parsed) = xrootd_tident::parse(tident) {
            xrootd_tident::fill_client(&mut event, parsed.host);
        }
        let name = value(&keys.name);
        if !name.is_empty() && name != "-" {
            event.local_user = name.to_string();
        }
        event.protocol = value(&keys.sec).to_string().into();
        event
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Ok((rest, parts)) = stamp(line.text) else {
            return Feed::NotMine;
        };
        if !(rest.starts_with("time=") || rest.starts_with("t=")) {
            return Feed::NotMine;
        }
        let header = header(rest);
        let keys = &header.keys;
        if either(&keys.func, &keys.f).is_empty() && either(&keys.level, &keys.l).is_empty() {
            return Feed::Malformed;
        }
        let stamp_time = parts.to_utc(&self.time);
        let message = header.message;
        if crate::parser::finder!("failed token authz")
            .find(message.as_bytes())
            .is_some()
        {
            let mut event = self.base_event(line, &header, stamp_time);
            event.action = action::AUTHZ_DENY.into();
            event.outcome = outcome::FAIL.into();
            event.status = "failed token authz".to_string();
            let pairs = kv::pairs(message.split(" jwt={").next().unwrap_or(message));
            if let Some(path) = kv::get(&pairs, "path") {
                event.path = path.to_string();
            }
            if let Some(start) = message.find("jwt={") {
                if let Some((inner, _)) = balanced(message, start + 4) {
                    jwt_claims(inner).fill(&mut event);
                }
            }
            event.raw = redact_bracketed_token(&event.raw);
            out.push(event);
            return Feed::Parsed;
        }
        let pairs = kv::pairs(message);
        if let Some(op) = kv::get(&pairs, "op") {
            let Some(path) = kv::get(&pairs, "path").filter(|p| !p.is_empty()) else {
                return Feed::Malformed;
            };
            let mut event = self.base_event(line, &header, stamp_time);
            event.action = action_for_op(op).into();
            event.path = path.to_string();
            out.push(event);
            return Feed::Parsed;
        }
        Feed::Ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    const REFERENCE: &str = include_str!("../../../tests/fixtures/eos-log/xrdlog.mgm");

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: None,
            },
            path: "/var/log/eos/mgm/xrdlog.mgm".into(),
            file_name: "xrdlog.mgm".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, Some("eos-log"), context()).unwrap().0
    }

    fn line(number: usize) -> &'static str {
        REFERENCE.lines().nth(number - 1).unwrap()
    }

    #[test]
    fn reference_fixture_is_detected() {
        let (events, stats) = parse_text(REFERENCE, None, context()).unwrap();
        assert!(events.iter().all(|e| e.source == "eos-log"), "{events:#?}");
        assert_eq!(stats.formats["eos-log"].errors, 0);
    }

    #[test]
    fn https_open_for_read_fills_session_user_and_client() {
        let events = parse(line(1));
        let event = &events[0];
        assert_eq!(event.action, action::FILE_READ);
        assert_eq!(event.path, "/eos/cms/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.session_id, "f08e4281-08d2-4667-aa77-4688e8573b66");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.protocol, "https");
        assert_eq!(event.client_host, "wn042.example.org");
        assert_eq!(event.outcome, "");
        // From the epoch `time=`, which keeps the microseconds' milliseconds.
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:22.123Z");
    }

    #[test]
    fn ztn_open_for_write_with_padded_sec() {
        let events = parse(line(2));
        let event = &events[0];
        assert_eq!(event.action, action::FILE_WRITE);
        assert_eq!(event.path, "/eos/cms/store/user/cmsprd/out_17.root");
        assert_eq!(event.protocol, "ztn");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.session_id, "0b7d4c62-2890-11ef-8f6a-02163e01aa42");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:23.004Z");
    }

    #[test]
    fn failed_token_authz_harvests_every_claim() {
        let events = parse(line(3));
        let event = &events[0];
        assert_eq!(event.action, action::AUTHZ_DENY);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.path, "/eos/cms/store/user/other/secret.root");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.jti, "711e3232-4ea8-4cd8-b857-c15ee2f94624");
        assert_eq!(event.aud, vec!["https://eos01.example.org"]);
        assert_eq!(
            event.scopes,
            vec!["storage.read:/", "storage.create:/store/user/cmsprd"]
        );
        assert_eq!(event.token_exp, Some(Timestamp::from_secs(1_718_197_402)));
        assert_eq!(event.token_iat, Some(Timestamp::from_secs(1_718_193_802)));
        // The static logid and the zero identity are not a session or a user.
        assert_eq!(event.session_id, "");
        assert_eq!(event.local_user, "");
        assert_eq!(event.protocol, "");
    }

    #[test]
    fn header_without_xt_and_ob_is_read() {
        let text = "240612 14:03:22 time=1718193802.123456 func=open                     level=INFO  logid=f08e4281-08d2-4667-aa77-4688e8573b66 unit=mgm@eos01.example.org:1094 tid=00007f3a2cbff640 source=XrdMgmOfsFile:701              tident=unknown.1034:58@[::ffff:192.0.2.42] sec=https uid=103031 gid=1399 name=cmsprd geo=\"\" op=read path=/eos/a info=eos.app=fts";
        let events = parse(text);
        assert_eq!(events[0].action, action::FILE_READ);
        assert_eq!(events[0].path, "/eos/a");
        assert_eq!(events[0].client_ip, "192.0.2.42");
    }

    #[test]
    fn reordered_header_keys_are_read() {
        let text = "240612 14:03:22 time=1718193802.000000 level=INFO func=open logid=abc name=cmsprd sec=krb5 tident=u.1:2@[2001:db8::5] op=delete path=/eos/x";
        let events = parse(text);
        assert_eq!(events[0].action, action::FILE_DELETE);
        assert_eq!(events[0].client_ip, "2001:db8::5");
        assert_eq!(events[0].protocol, "krb5");
    }

    #[test]
    fn a_repeated_header_key_keeps_its_first_value_and_a_word_ends_the_header() {
        // `name=` twice: the first is the header's. "open" is a word of the message, so the
        // `name=` and `sec=` after it are the message's, not the header's.
        let text = "240612 14:03:22 time=1718193802.000000 func=open level=INFO name=cmsprd name=other sec=krb5 open name=intruder sec=gsi op=read path=/eos/x";
        let events = parse(text);
        assert_eq!(events[0].local_user, "cmsprd");
        assert_eq!(events[0].protocol, "krb5");
        assert_eq!(events[0].path, "/eos/x");
        // A message whose first word is `key=value` with an unknown key ends the header too.
        let text = "240612 14:03:22 time=1718193802.000000 func=open level=INFO op=read path=/eos/y name=late";
        let events = parse(text);
        assert_eq!(events[0].local_user, "");
        assert_eq!(events[0].path, "/eos/y");
    }

    #[test]
    fn no_token_survives_a_failed_authz_line() {
        let signature = "c2lnbmF0dXJlLXNlY3JldC12YWx1ZS0xMjM0NTY3ODkw";
        let token = jwt::encode_test_jwt(
            &serde_json::json!({"iss":"https://cms-auth.cern.ch/","sub":"s-1","jti":"j-1","scope":"storage.read:/"}),
            signature,
        );
        let ztn = format!(
            "240612 14:05:10 time=1718193910.771002 func=IdMap level=ERROR logid=static.... unit=mgm@eos01.example.org:1094 tid=00007f3a2a7fb640 source=Mapping:391 tident= sec=      uid=99 gid=99 name=- geo=\"\" xt=\"\" ob=\"\" msg=\"failed token authz\" path=\"/eos/x\" opaque=\"eos.app=xrdcp\" authz=\"&authz={token}\" jwt={{issuer:https://cms-auth.cern.ch/,subject:s-1,audience:[],claims:[jti:\"j-1\",sub:\"s-1\"]}}"
        );
        let https = format!(
            "240612 14:05:10 time=1718193910.771002 func=IdMap level=ERROR logid=static.... unit=mgm@eos01.example.org:1094 tid=00007f3a2a7fb640 source=Mapping:391 tident= sec=      uid=99 gid=99 name=- geo=\"\" xt=\"\" ob=\"\" msg=\"failed token authz\" path=\"/eos/x\" opaque=\"authz=Bearer%20{token}\" jwt={{issuer:https://cms-auth.cern.ch/,subject:s-1,audience:[],claims:[jti:\"j-1\",sub:\"s-1\"]}}[{token}]"
        );
        let macaroon = "240612 14:05:10 time=1718193910.771002 func=IdMap level=ERROR logid=static.... tident= sec=https uid=99 gid=99 name=- geo=\"\" msg=\"failed token authz\" path=\"/eos/x\" opaque=\"\" jwt={issuer:,subject:,audience:[],claims:[]}[MDAxY2xvY2F0aW9uIHNlY3JldG1hY2Fyb29u]";
        for text in [ztn.as_str(), https.as_str(), macaroon] {
            let events = parse(text);
            assert_eq!(events.len(), 1);
            let event = &events[0];
            assert_eq!(event.action, action::AUTHZ_DENY);
            assert!(!event.raw.contains(signature), "{}", event.raw);
            assert!(!event.raw.contains("MDAxY2xvY2F0aW9u"), "{}", event.raw);
            if text != macaroon {
                assert_eq!(event.jti, "j-1");
                assert_eq!(event.sub, "s-1");
            }
        }
    }

    #[test]
    fn other_messages_are_kept_without_action() {
        let text = "240612 14:03:22 time=1718193802.123456 func=Stat level=INFO  logid=abc unit=mgm@eos01.example.org:1094 tid=00007f tident=u.1:2@h sec=sss uid=0 gid=0 name=daemon geo=\"\" msg=\"stat\" path=/eos/x";
        let events = parse(text);
        assert_eq!(events[0].action, "");
        assert_eq!(events[0].source, "eos-log");
    }

    #[test]
    fn truncated_and_foreign_lines() {
        let (events, stats) = parse_text(
            "240612 14:03:22 time=1718193802.1",
            Some("eos-log"),
            context(),
        )
        .unwrap();
        assert_eq!(stats.formats["eos-log"].errors, 1);
        assert_eq!(events[0].status, "unparsed");
        let (_, stats) = parse_text(
            "240612 14:03:22 time=1718193802.123456 func=open level=INFO logid=x tident=u.1:2@h op=read",
            Some("eos-log"),
            context(),
        )
        .unwrap();
        assert_eq!(stats.formats["eos-log"].errors, 1);
        for other in [
            "240612 14:03:22 4711 XrootdXeq: cms0042.5821:31@wn042.example.org disc 0:01:48",
            "06/12/24 14:03:22 (pid:4711) Submitting job 123.0",
            "log=f08e&path=/eos/x&td=u.1:2@h",
        ] {
            assert!(!sniff(other, ""), "{other}");
        }
        assert!(sniff(line(1), ""));
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "240612 14:03:22 time=\u{e9}",
            "240612 14:03:22 time=1 func=x msg=\"failed token authz\" jwt={",
            "240612 14:03:22 time=1 func=x msg=\"failed token authz\" jwt={claims:[a:\"]}[\u{e9}",
            "240612 14:03:22 time=1 func=x msg=\"failed token authz\" jwt={}[]",
        ] {
            let _ = parse(text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "240612 14:03:22 (time|t)=[0-9.]{0,20} (func|f)=[a-z]{0,5} \\PC{0,40}( op=\\PC{0,10}| msg=\"failed token authz\" path=\\PC{0,10} jwt=\\{\\PC{0,40}\\}\\[\\PC{0,10}\\]?)?") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("eos-log"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}
