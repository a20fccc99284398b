//! `eos-audit`: the EOS (≥ 5.4) audit log, `<logdir>/audit/audit-YYYYMMDD-HHMMSS.zst` (the
//! `audit.zstd` symlink names the current one).
//!
//! Grammar (storage.md §4.3, `proto/Audit.proto`): one protobuf `AuditRecord` rendered as JSON
//! per line, `{"timestamp":"<epoch s>","path":…,"operation":"CREATE",…,"client_ip":…,
//! "account":…,"auth":{"mechanism":…},"tid":…,"uuid":…,"target":…,"svc":…,…}`. int64 fields
//! come as strings (proto3 JSON), numbers are accepted as well; the operation may be the enum
//! name or its number.
//!
//! Fields: `action` from the operation (CREATE/WRITE/UPDATE/TRUNCATE → `file.write`, READ →
//! `file.read`, DELETE/RMDIR → `file.delete`, RENAME → `file.move` (`target` stays in `raw`),
//! LIST → `file.list`, MKDIR → `file.mkdir`, attribute/mode/owner changes and SYMLINK →
//! `other`); `outcome` = `ok` (only performed operations are audited); `path`; `client_ip` when
//! `client_ip` is an address, else `client_host` (it is `vid.host`, often a name); `local_user`
//! = `account`; `protocol` = `auth.mechanism`; `session_id` = `uuid` (the request id), else
//! `tid`; with a tident `tid`, its host fills a missing client field. No token claims are logged.

use serde_json::Value;

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::xrootd_tident;

/// The `eos-audit` format.
pub static FORMAT: Format = Format {
    id: "eos-audit",
    service: Service::Storage,
    summary: "EOS audit JSON records (EOS 5.4+)",
    programs: &[],
    sniff,
    new_parser: |_: &Context| Box::new(Parser),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('{')
        && text.contains("\"operation\":")
        && text.contains("\"path\":")
        && (text.contains("\"svc\":")
            || text.contains("\"software\":")
            || text.contains("\"tid\":")
            || text.contains("\"account\":"))
}

/// `eos.audit.Operation` (name or number) to an action.
fn action_for_operation(operation: &Value) -> Option<&'static str> {
    let name = match operation {
        Value::String(name) => name.as_str(),
        Value::Number(number) => match number.as_u64()? {
            1 => "CREATE",
            2 => "DELETE",
            3 => "RENAME",
            4 => "WRITE",
            5 => "TRUNCATE",
            10 => "READ",
            11 => "LIST",
            13 => "MKDIR",
            14 => "RMDIR",
            17 => "UPDATE",
            _ => "OTHER",
        },
        _ => return None,
    };
    Some(match name {
        "CREATE" | "WRITE" | "UPDATE" | "TRUNCATE" => action::FILE_WRITE,
        "READ" => action::FILE_READ,
        "DELETE" | "RMDIR" => action::FILE_DELETE,
        "RENAME" => action::FILE_MOVE,
        "LIST" => action::FILE_LIST,
        "MKDIR" => action::FILE_MKDIR,
        _ => action::OTHER,
    })
}

fn string_field<'a>(record: &'a Value, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Epoch seconds given as a string (proto3 JSON int64) or a number.
fn epoch_seconds(value: Option<&Value>) -> Option<Timestamp> {
    let seconds = match value? {
        Value::String(text) => text.trim().parse::<i64>().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    Some(Timestamp(seconds.checked_mul(1000)?))
}

struct Parser;

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let text = line.text.trim();
        if !text.starts_with('{') || !text.contains("\"operation\"") {
            return Feed::NotMine;
        }
        let Ok(record) = serde_json::from_str::<Value>(text) else {
            return Feed::Malformed;
        };
        let Some(name) = record.get("operation").and_then(action_for_operation) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, FORMAT.service);
        event.action = name.into();
        event.outcome = outcome::OK.into();
        event.status = match record.get("operation") {
            Some(Value::String(operation)) => operation.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if let Some(time) = epoch_seconds(record.get("timestamp")) {
            event.time = Some(time);
        }
        event.path = string_field(&record, "path").to_string();
        event.local_user = string_field(&record, "account").to_string();
        event.protocol = record
            .get("auth")
            .map(|auth| string_field(auth, "mechanism"))
            .unwrap_or("")
            .to_string()
            .into();
        xrootd_tident::fill_client(&mut event, string_field(&record, "client_ip"));
        let tid = string_field(&record, "tid");
        if let Some(tident) = xrootd_tident::parse(tid) {
            if event.client_ip.is_empty() && event.client_host.is_empty() {
                xrootd_tident::fill_client(&mut event, tident.host);
            }
        }
        event.session_id = match string_field(&record, "uuid") {
            "" => tid.to_string(),
            uuid => uuid.to_string(),
        };
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    const REFERENCE: &str = include_str!("../../../tests/fixtures/eos-audit/audit-20240612-120000");

    fn context() -> Context {
        Context {
            path: "/var/log/eos/mgm/audit/audit-20240612-120000".into(),
            file_name: "audit-20240612-120000".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, Some("eos-audit"), context()).unwrap().0
    }

    #[test]
    fn create_record_is_a_write_with_account_client_and_tid() {
        let (events, _) = parse_text(REFERENCE, None, context()).unwrap();
        let event = &events[0];
        assert_eq!(event.source, "eos-audit");
        assert_eq!(event.action, action::FILE_WRITE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.status, "CREATE");
        assert_eq!(event.path, "/eos/cms/store/user/cmsprd/out_17.root");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:07:45.000Z");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.protocol, "ztn");
        // `client_ip` is vid.host: a name here.
        assert_eq!(event.client_host, "wn042.example.org");
        assert_eq!(event.client_ip, "");
        assert_eq!(event.session_id, "cms0042.5821:31@wn042.example.org");
    }

    #[test]
    fn numeric_fields_uuid_and_address_client() {
        let events = parse(
            r#"{"timestamp":1718194065,"path":"/eos/a","operation":"RENAME","target":"/eos/b","client_ip":"2001:db8::5","account":"cmsprd","uuid":"0b7d4c62-2890-11ef-8f6a-02163e01aa42","tid":"u.1:2@h.example.org"}"#,
        );
        let event = &events[0];
        assert_eq!(event.action, action::FILE_MOVE);
        assert_eq!(event.client_ip, "2001:db8::5");
        assert_eq!(event.session_id, "0b7d4c62-2890-11ef-8f6a-02163e01aa42");
        assert!(event.raw.contains("/eos/b"));
        let events = parse(r#"{"path":"/eos/a","operation":2,"account":"x"}"#);
        assert_eq!(events[0].action, action::FILE_DELETE);
        let events = parse(r#"{"path":"/eos/a","operation":"CHMOD","account":"x"}"#);
        assert_eq!(events[0].action, action::OTHER);
    }

    #[test]
    fn broken_json_is_malformed_and_other_json_not_sniffed() {
        let (_, stats) = parse_text(
            r#"{"timestamp":"1718194065","path":"/eos/cms","operation":"CRE"#,
            Some("eos-audit"),
            context(),
        )
        .unwrap();
        assert_eq!(stats.formats["eos-audit"].errors, 1);
        assert!(!sniff(
            r#"{"version":"1.0","msgType":"transfer","date":"2024-06-12T14:03:24.310+02:00","billingPath":"/pnfs/x"}"#,
            ""
        ));
        assert!(sniff(REFERENCE.lines().next().unwrap(), ""));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "\\{\"operation\":(\"[A-Z]{0,8}\"|[0-9]{0,3})(,\"(path|timestamp|tid|uuid|client_ip)\":\\PC{0,12}){0,4}\\}?") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("eos-audit"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}
