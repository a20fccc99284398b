//! `dcache-billing-json`: dCache billing with `billing.format.json=true`, one JSON object per
//! line in the billing files (`billing-YYYY.MM.DD`), keys in any order:
//!
//! ```text
//! {"msgType":"transfer","date":"2024-06-12T14:03:24.310+02:00","cellType":"pool","status":{"code":0,"msg":""},
//!  "session":"<transaction>","initiator":"<door transaction>","subject":["OidcSubjectPrincipal[<sub>@<alias>]",…],
//!  "billingPath":…,"transferSize":…,"transferTime":…,"isWrite":"read|write","protocolInfo":{"protocol":…,"host":…},…}
//! ```
//!
//! Fills: `time` (`date`), `action` (`transfer` → `file.read`/`file.write` by `isWrite`, or
//! `other` when `isP2p`; `remove` → `file.delete`; `restore` → `file.stage`; door `request` →
//! the action of its mover record in the same stream, else `other`), `path`, `bytes`
//! (`transferSize`), `duration_ms` (`transferTime`, door: `sessionDuration`), `protocol`,
//! `client_ip` (`protocolInfo.host`, door: `client`), `outcome`/`status` (`status.code/msg`),
//! identity from the `subject` principals (`OidcSubjectPrincipal` → `sub`/`iss` via the alias
//! map, `JwtJtiPrincipal` → `jti`, `UserNamePrincipal`/`UidPrincipal` → `local_user`,
//! `GlobusPrincipal` → `username`), `owner`, `transfer_id` (the door transaction: `initiator`,
//! else a door's own `session`) and `session_id` (the door session inside it, as in the access
//! log and the text billing).

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::dcache_common as common;
use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `dcache-billing-json` format.
pub static FORMAT: Format = Format {
    id: "dcache-billing-json",
    service: Service::Storage,
    summary: "dCache billing records as JSON (billing.format.json=true)",
    programs: &[],
    sniff,
    new_parser: |context: &Context| Box::new(Parser::new(context)),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    text.starts_with('{')
        && memchr::memmem::find(bytes, b"\"msgType\"").is_some()
        && (memchr::memmem::find(bytes, b"\"cellType\"").is_some()
            || memchr::memmem::find(bytes, b"\"billingPath\"").is_some())
}

/// Mover records remembered for the door records that follow them.
const MAX_PENDING_DOORS: usize = 4096;

struct Parser {
    context: Context,
    /// Door transaction → action of its mover record.
    movers: HashMap<String, &'static str>,
    order: VecDeque<String>,
}

impl Parser {
    fn new(context: &Context) -> Self {
        Parser {
            context: context.clone(),
            movers: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn remember(&mut self, transaction: &str, file_action: &'static str) {
        if !self.movers.contains_key(transaction) {
            while self.movers.len() >= MAX_PENDING_DOORS {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.movers.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(transaction.to_string());
        }
        self.movers.insert(transaction.to_string(), file_action);
    }

    fn take(&mut self, transaction: &str) -> Option<&'static str> {
        let found = self.movers.remove(transaction)?;
        self.order.retain(|known| known != transaction);
        Some(found)
    }
}

fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

fn number(value: &Value, key: &str) -> Option<u64> {
    match value.get(key)? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn time_of(value: &Value) -> Option<Timestamp> {
    match value.get("date")? {
        Value::String(date) => common::parse_offset_time(date),
        Value::Number(millis) => millis.as_i64().map(Timestamp::from_millis),
        _ => None,
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if !line.text.starts_with('{') {
            return Feed::NotMine;
        }
        let record: Value = match serde_json::from_str(line.text) {
            Ok(record @ Value::Object(_)) => record,
            _ => {
                // Broken JSON is ours only when it looks like a billing record.
                return if sniff(line.text, "") {
                    Feed::Malformed
                } else {
                    Feed::NotMine
                };
            }
        };
        let Some(message_type) = text(&record, "msgType") else {
            return Feed::NotMine;
        };
        let mut event = line.event(FORMAT.id, Service::Storage);
        event.time = time_of(&record);
        if let Some(path) = text(&record, "billingPath").or(text(&record, "transferPath")) {
            event.path = path.to_string();
        }
        fill_status(&mut event, &record);
        fill_subject(&mut event, &record, &self.context);
        if let Some(owner) = text(&record, "owner") {
            if common::looks_like_dn(owner) {
                if event.username.is_empty() {
                    event.username = owner.to_string();
                }
            } else if !owner.eq_ignore_ascii_case("unknown") {
                event.local_user = owner.to_string();
            }
        }
        if event.local_user.is_empty() {
            if let Some(uid) = number(&record, "mappedUID") {
                event.local_user = uid.to_string();
            }
        }
        let cell_type = text(&record, "cellType").unwrap_or_default();
        // A pool's `session` is the transfer's own id; the door's transaction is `initiator`.
        // A door's `session` is its transaction.
        let transaction = text(&record, "initiator")
            .or_else(|| text(&record, "session").filter(|session| session.starts_with("door:")));
        if let Some(transaction) = transaction {
            event.transfer_id = transaction.to_string();
            if let Some(session) = common::door_session(transaction) {
                event.session_id = session.to_string();
            }
        }
        if let Some(info) = record.get("protocolInfo") {
            if let Some(protocol) = text(info, "protocol") {
                event.protocol = common::protocol_name(protocol);
            }
            if let Some(host) = text(info, "host") {
                common::set_client(&mut event, common::split_socket(host).0);
            }
        }
        if let Some(client) = text(&record, "client") {
            common::set_client(&mut event, client);
        }
        let name = match message_type {
            "transfer" => {
                event.bytes = number(&record, "transferSize");
                event.duration_ms = number(&record, "transferTime");
                let writes = match record.get("isWrite") {
                    Some(Value::String(direction)) => direction == "write",
                    Some(Value::Bool(writes)) => *writes,
                    _ => false,
                };
                let file_action = if writes {
                    action::FILE_WRITE
                } else {
                    action::FILE_READ
                };
                if let Some(transaction) = transaction {
                    self.remember(transaction, file_action);
                }
                let p2p = record.get("isP2p").and_then(Value::as_bool) == Some(true)
                    || transaction.is_some_and(|t| t.starts_with("pool:"));
                if p2p {
                    action::OTHER
                } else {
                    file_action
                }
            }
            "request" => {
                event.duration_ms = number(&record, "sessionDuration");
                transaction
                    .and_then(|transaction| self.take(transaction))
                    .unwrap_or(action::OTHER)
            }
            "remove" => action::FILE_DELETE,
            "restore" => {
                event.duration_ms = number(&record, "transferTime");
                event.bytes = number(&record, "fileSize");
                action::FILE_STAGE
            }
            _ => action::OTHER,
        };
        event.action = name.into();
        if cell_type == "door" && event.protocol.is_empty() {
            let cell = text(&record, "cellName")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if cell.starts_with("webdav") {
                event.protocol = "https".into();
            } else if cell.starts_with("xrootd") {
                event.protocol = "xrootd".into();
            }
        }
        out.push(event);
        Feed::Parsed
    }
}

fn fill_status(event: &mut Event, record: &Value) {
    let Some(status) = record.get("status") else {
        return;
    };
    let code = match status.get("code") {
        Some(Value::Number(code)) => code.to_string(),
        Some(Value::String(code)) => code.clone(),
        _ => return,
    };
    let message = text(status, "msg").unwrap_or_default();
    if code == "0" {
        event.outcome = outcome::OK.into();
        event.status = code;
    } else {
        event.outcome = outcome::FAIL.into();
        event.status = if message.is_empty() {
            code
        } else {
            format!("{code}: {message}")
        };
    }
}

/// Reads the `subject` principals (`Name[value]`, org.json's `toString()` of each principal).
fn fill_subject(event: &mut Event, record: &Value, context: &Context) {
    let Some(Value::Array(principals)) = record.get("subject") else {
        return;
    };
    let mut uid = None;
    for principal in principals.iter().filter_map(Value::as_str) {
        let Some((kind, rest)) = principal.split_once('[') else {
            continue;
        };
        let value = rest.strip_suffix(']').unwrap_or(rest);
        match kind {
            "OidcSubjectPrincipal" if event.sub.is_empty() => {
                if let Some((sub, alias)) = common::split_alias(value) {
                    event.sub = sub.to_string();
                    event.iss = common::issuer_for_alias(context, alias);
                } else {
                    event.sub = value.to_string();
                }
            }
            "JwtJtiPrincipal" if event.jti.is_empty() => match common::split_alias(value) {
                Some((jti, alias)) => {
                    event.jti = jti.to_string();
                    if event.iss.is_empty() {
                        event.iss = common::issuer_for_alias(context, alias);
                    }
                }
                None => event.jti = value.to_string(),
            },
            "UserNamePrincipal" => event.local_user = value.to_string(),
            "UidPrincipal" => uid = Some(value.to_string()),
            "GlobusPrincipal" | "X500Principal" => event.username = value.to_string(),
            _ => {}
        }
    }
    if event.local_user.is_empty() {
        if let Some(uid) = uid {
            event.local_user = uid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const BILLING: &str =
        include_str!("../../../tests/fixtures/dcache-billing-json/billing-2024.06.12");
    const EDGE: &str =
        include_str!("../../../tests/fixtures/dcache-billing-json/billing-2024.06.13");
    const ACCESS: &str =
        include_str!("../../../tests/fixtures/dcache-access/webdav-se01Domain.access");

    fn context() -> Context {
        let mut aliases = BTreeMap::new();
        aliases.insert("cms".to_string(), "https://cms-auth.cern.ch/".to_string());
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            file_name: "billing-2024.06.12".into(),
            issuer_aliases: Arc::new(aliases),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context()).unwrap().0
    }

    #[test]
    fn pool_transfer_record_harvests_oidc_principals() {
        let event = &parse(BILLING)[0];
        assert_eq!(event.source, "dcache-billing-json");
        assert_eq!(event.action, "file.read");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:24.310Z");
        assert_eq!(event.sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.jti, "711e3232-4ea8-4cd8-b857-c15ee2f94624");
        assert_eq!(event.local_user, "50123");
        assert_eq!(event.bytes, Some(2_147_483_648));
        assert_eq!(event.duration_ms, Some(1811));
        assert_eq!(event.protocol, "https");
        assert_eq!(event.client_ip, "192.0.2.42");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/store/mc/RunIII/AODSIM/file_0042.root"
        );
        assert_eq!(
            event.transfer_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A:1718193802456000"
        );
    }

    #[test]
    fn json_billing_and_access_log_share_session_and_transfer_ids() {
        let billing = parse(BILLING);
        let access = parse(ACCESS.lines().next().unwrap());
        assert_eq!(access[0].source, "dcache-access");
        assert_eq!(billing[0].session_id, access[0].session_id);
        assert_eq!(billing[0].transfer_id, access[0].transfer_id);
    }

    #[test]
    fn door_record_takes_its_mover_action_and_reads_owner_and_client() {
        let events = parse(EDGE);
        let mover = &events[0];
        assert_eq!(mover.action, "file.write");
        assert_eq!(mover.client_ip, "2001:db8:42::42");
        assert_eq!(mover.iss, "alias:atlas");
        let door = &events[1];
        assert_eq!(door.action, "file.write");
        assert_eq!(door.local_user, "atlprd");
        assert_eq!(door.client_ip, "2001:db8:42::42");
        assert_eq!(door.duration_ms, Some(3518));
        assert_eq!(door.transfer_id, mover.transfer_id);
        assert_eq!(door.session_id, mover.session_id);
        assert_eq!(door.sub, "eee0331a-a899-46b3-bb0d-8a89bc4041d1");
    }

    #[test]
    fn failed_remove_by_x509_user() {
        let events = parse(EDGE);
        let remove = &events[2];
        assert_eq!(remove.action, "file.delete");
        assert_eq!(remove.outcome, "fail");
        assert_eq!(remove.status, "10018: Permission denied");
        assert_eq!(remove.username, "/DC=org/DC=example/CN=Jane Doe");
        assert_eq!(remove.sub, "");
        assert_eq!(
            remove.time.unwrap().to_rfc3339(),
            "2024-06-13T08:00:00.000Z"
        );
    }

    #[test]
    fn broken_json_is_malformed_and_other_json_is_not_mine() {
        let (events, stats) = parse_text(
            EDGE.lines().nth(3).unwrap(),
            Some("dcache-billing-json"),
            context(),
        )
        .unwrap();
        assert_eq!(events[0].status, "unparsed");
        assert_eq!(stats.formats["dcache-billing-json"].errors, 1);
        assert!(!sniff(
            r#"{"timestamp":"1718194065","operation":"CREATE"}"#,
            ""
        ));
        let (events, _) = parse_text(
            r#"{"timestamp":"1718194065","operation":"CREATE"}"#,
            Some("dcache-billing-json"),
            context(),
        )
        .unwrap();
        assert_eq!(events[0].source, "raw");
    }

    #[test]
    fn old_op_scoped_principal_form_is_read() {
        let line = r#"{"msgType":"transfer","cellType":"pool","date":"2021-03-01T10:00:00+01:00","subject":["OidcSubjectPrincipal[cms:6ac1]"],"isWrite":"read","status":{"code":0,"msg":""}}"#;
        let event = &parse(line)[0];
        assert_eq!(event.sub, "6ac1");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2021-03-01T09:00:00.000Z");
    }
}
