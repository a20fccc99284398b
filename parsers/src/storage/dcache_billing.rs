//! `dcache-billing`: dCache billing text files `/var/lib/dcache/billing/YYYY/MM/billing-YYYY.MM.DD`
//! (and `billing-error-…`), default formats of `billing.properties`:
//!
//! ```text
//! mover : MM.dd HH:mm:ss [pool:<cell>:transfer] [<pnfsid>,<size>] [<path>] <sc@hsm> <bytes> <ms> <created> {<protocol>} [<initiator>] {<rc>:"<msg>"}
//! door  : MM.dd HH:mm:ss [door:<cell>@<domain>:request] ["<owner>":<uid>:<gid>:<client chain>] [<pnfsid>,<size>] [<path>] <sc@hsm> <ms> <queued> {<rc>:"<msg>"}
//! remove: MM.dd HH:mm:ss [<type>:<cell>:remove] [<owner block>] [<pnfsid>,<size>] [<path>] <sc@hsm> {<rc>:"<msg>"}
//! store/restore: … <sc@hsm> <ms> <queued> {<rc>:"<msg>"}
//! ```
//!
//! Lines carry no year (`TimeContext::year_for`, the file name sets the reference date) and
//! local time. `## …` header lines are ignored.
//!
//! Fills: `time`, `action` (`transfer` → `file.read`/`file.write` by `created`, or
//! `transfer.done` for HTTP-TPC and `other` for pool-to-pool; `remove` → `file.delete`;
//! `restore` → `file.stage`; `request` → the action of its mover line, else `other`), `path`,
//! `bytes`, `duration_ms`, `protocol`, `client_ip` (protocol block or client chain; IPv6 read from
//! the right), `outcome`/`status` (`rc`, message), `local_user` (owner account, else uid) or
//! `username` (owner DN), `transfer_id` (`[initiator]` = the access log's `transaction`) and
//! `session_id` (the door session inside it, = the access log's `session`). Door `request`
//! lines print no transaction: they take it from the mover line of the same door and file
//! seen just before in the same stream.

use std::collections::{HashMap, VecDeque};

use nom::bytes::complete::take_while_m_n;
use nom::character::complete::char;
use nom::combinator::map_res;
use nom::{IResult, Parser as _};

use super::dcache_common as common;
use crate::event::{action, outcome, Event, Service};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `dcache-billing` format.
pub static FORMAT: Format = Format {
    id: "dcache-billing",
    service: Service::Storage,
    summary: "dCache billing text files (billing-YYYY.MM.DD)",
    programs: &[],
    sniff,
    new_parser: |context: &Context| Box::new(Parser::new(context)),
};

fn sniff(text: &str, file_name: &str) -> bool {
    if text.starts_with("## ") {
        return file_name.starts_with("billing");
    }
    // `MM.dd HH:mm:ss [`
    let bytes = text.as_bytes();
    bytes.len() > 16
        && [0, 1, 3, 4, 6, 7, 9, 10, 12, 13]
            .iter()
            .all(|&index| bytes[index].is_ascii_digit())
        && bytes[2] == b'.'
        && bytes[5] == b' '
        && bytes[8] == b':'
        && bytes[11] == b':'
        && bytes[14] == b' '
        && bytes[15] == b'['
}

fn two_digits(input: &str) -> IResult<&str, u32> {
    map_res(
        take_while_m_n(2, 2, |c: char| c.is_ascii_digit()),
        str::parse,
    )
    .parse(input)
}

/// `MM.dd HH:mm:ss ` → (month, day, hour, minute, second).
fn billing_date(input: &str) -> IResult<&str, (u32, u32, u32, u32, u32)> {
    let (rest, (month, _, day, _, hour, _, minute, _, second, _)) = (
        two_digits,
        char('.'),
        two_digits,
        char(' '),
        two_digits,
        char(':'),
        two_digits,
        char(':'),
        two_digits,
        char(' '),
    )
        .parse(input)?;
    Ok((rest, (month, day, hour, minute, second)))
}

/// One billing line, split into its blocks.
#[derive(Debug, Default)]
struct Record<'a> {
    cell_type: &'a str,
    cell_name: &'a str,
    message_type: &'a str,
    owner: Option<&'a str>,
    uid: Option<&'a str>,
    client_chain: Option<&'a str>,
    pnfsid: &'a str,
    file_size: Option<u64>,
    path: &'a str,
    numbers: Vec<&'a str>,
    protocol: Option<&'a str>,
    initiator: Option<&'a str>,
    rc: &'a str,
    message: &'a str,
}

/// `[…]` at the start of `text` (after spaces): (inside, rest).
fn bracket(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let inner = text.strip_prefix('[')?;
    let close = inner.find(']')?;
    Some((&inner[..close], &inner[close + 1..]))
}

/// The `{rc:"message"}` block that ends the line: (start of the block, rc, message).
fn rc_block(text: &str) -> Option<(usize, &str, &str)> {
    let trimmed = text.trim_end();
    let mut search_end = trimmed.len();
    while let Some(open) = trimmed[..search_end].rfind('{') {
        let inside = &trimmed[open + 1..];
        let digits = inside
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'-')
            .count();
        if digits > 0 && inside[digits..].starts_with(":\"") {
            let message = &inside[digits + 2..];
            let message = message
                .strip_suffix("\"}")
                .or_else(|| message.strip_suffix('}'))
                .unwrap_or(message);
            return Some((open, &inside[..digits], message));
        }
        search_end = open;
    }
    None
}

fn parse_record(text: &str) -> Option<Record<'_>> {
    let (cell, rest) = bracket(text)?;
    let (cell_type, cell_rest) = cell.split_once(':')?;
    let (cell_name, message_type) = cell_rest.rsplit_once(':')?;
    let mut record = Record {
        cell_type,
        cell_name,
        message_type,
        ..Record::default()
    };
    let mut rest = rest.trim_start();
    if let Some(owner_block) = rest.strip_prefix("[\"") {
        // `["<owner>":<uid>:<gid>:<client chain>]`; the owner may be a DN with `:` and `]`.
        let owner_end = crate::parser::finder!("\":").find(owner_block.as_bytes())?;
        record.owner = Some(&owner_block[..owner_end]);
        let after_owner = &owner_block[owner_end + 2..];
        let close = after_owner.find(']')?;
        let mut fields = after_owner[..close].splitn(3, ':');
        record.uid = fields.next();
        let _gid = fields.next();
        record.client_chain = fields.next();
        rest = &after_owner[close + 1..];
    }
    let (file, after_file) = bracket(rest)?;
    let (pnfsid, size) = file.split_once(',').unwrap_or((file, ""));
    record.pnfsid = pnfsid;
    record.file_size = size.parse().ok();
    // The path may hold `]`; it ends at the first `] `.
    let after_file = after_file.trim_start().strip_prefix('[')?;
    let path_end = crate::parser::finder!("] ").find(after_file.as_bytes())?;
    record.path = &after_file[..path_end];
    let tail = &after_file[path_end + 2..];
    let (rc_start, rc, message) = rc_block(tail)?;
    record.rc = rc;
    record.message = message;
    let mut middle = tail[..rc_start].trim();
    // Storage info (`cms:default@osm`, `<Unknown>`), then numbers up to a `{` or `[`.
    let mut words = middle.split_whitespace();
    let _storage_info = words.next();
    let skip = middle.find(char::is_whitespace).unwrap_or(middle.len());
    middle = middle[skip..].trim_start();
    while !middle.is_empty() && !middle.starts_with(['{', '[']) {
        let end = middle.find(char::is_whitespace).unwrap_or(middle.len());
        record.numbers.push(&middle[..end]);
        middle = middle[end..].trim_start();
    }
    if let Some(protocol) = middle.strip_prefix('{') {
        let close = protocol.find('}')?;
        record.protocol = Some(&protocol[..close]);
        middle = protocol[close + 1..].trim_start();
    }
    if let Some((initiator, _)) = bracket(middle) {
        record.initiator = Some(initiator);
    }
    Some(record)
}

/// Transactions of mover lines kept for the door lines that follow them.
const MAX_PENDING_DOORS: usize = 4096;

struct Parser {
    context: Context,
    /// (door cell, pnfsid) → (transaction, action) of the last mover line for it.
    movers: HashMap<(String, String), (String, &'static str)>,
    order: VecDeque<(String, String)>,
}

impl Parser {
    fn new(context: &Context) -> Self {
        Parser {
            context: context.clone(),
            movers: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn remember(&mut self, door: &str, pnfsid: &str, transaction: &str, action: &'static str) {
        let key = (door.to_string(), pnfsid.to_string());
        if !self.movers.contains_key(&key) {
            while self.movers.len() >= MAX_PENDING_DOORS {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.movers.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(key.clone());
        }
        self.movers.insert(key, (transaction.to_string(), action));
    }

    fn take(&mut self, door: &str, pnfsid: &str) -> Option<(String, &'static str)> {
        let key = (door.to_string(), pnfsid.to_string());
        let found = self.movers.remove(&key)?;
        self.order.retain(|known| *known != key);
        Some(found)
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if line.text.starts_with("##") {
            return Feed::Ignored;
        }
        let Ok((rest, (month, day, hour, minute, second))) = billing_date(line.text) else {
            return Feed::NotMine;
        };
        if !rest.starts_with('[') {
            return Feed::NotMine;
        }
        let year = self.context.time.year_for(month, day);
        let Some(time) = self
            .context
            .time
            .local_parts(year, month, day, hour, minute, second, 0)
        else {
            return Feed::Malformed;
        };
        let Some(record) = parse_record(rest) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, Service::Storage);
        event.time = Some(time);
        event.path = record.path.to_string();
        fill_outcome(&mut event, record.rc, record.message);
        fill_owner(&mut event, &record);
        if let Some(initiator) = record.initiator {
            event.transfer_id = initiator.to_string();
            if let Some(session) = common::door_session(initiator) {
                event.session_id = session.to_string();
            }
        }
        let info = record.protocol.map(common::protocol_info);
        if let Some(info) = &info {
            event.protocol = info.protocol.clone();
            common::set_client(&mut event, &info.client);
            if !info.remote_url.is_empty() {
                if let Some((_, rest)) = info.remote_url.split_once("://") {
                    let authority = rest.split('/').next().unwrap_or_default();
                    let host = common::split_socket(authority).0;
                    event.client_host = host.to_ascii_lowercase();
                }
            }
        }
        let number = |index: usize| -> Option<u64> {
            record.numbers.get(index).and_then(|n| n.parse().ok())
        };
        let name = match record.message_type {
            "transfer" => {
                event.bytes = number(0);
                event.duration_ms = number(1);
                let created = record.numbers.get(2).copied() == Some("true");
                let file_action = if created {
                    action::FILE_WRITE
                } else {
                    action::FILE_READ
                };
                let p2p = record.initiator.is_some_and(|i| i.starts_with("pool:"));
                let tpc = info
                    .as_ref()
                    .is_some_and(|info| !info.remote_url.is_empty());
                if let Some(door) = record
                    .initiator
                    .and_then(|i| i.strip_prefix("door:"))
                    .and_then(|i| i.split(':').next())
                {
                    let transaction = record.initiator.unwrap_or_default();
                    self.remember(door, record.pnfsid, transaction, file_action);
                }
                if p2p {
                    action::OTHER
                } else if tpc {
                    action::TRANSFER_DONE
                } else {
                    file_action
                }
            }
            "request" => {
                event.duration_ms = number(0);
                match self.take(record.cell_name, record.pnfsid) {
                    Some((transaction, file_action)) => {
                        if let Some(session) = common::door_session(&transaction) {
                            event.session_id = session.to_string();
                        }
                        event.transfer_id = transaction;
                        file_action
                    }
                    None => action::OTHER,
                }
            }
            "remove" => action::FILE_DELETE,
            "restore" => {
                event.duration_ms = number(0);
                event.bytes = record.file_size;
                action::FILE_STAGE
            }
            "store" => {
                event.duration_ms = number(0);
                event.bytes = record.file_size;
                action::OTHER
            }
            _ => action::OTHER,
        };
        event.action = name.into();
        if record.cell_type == "door" && event.protocol.is_empty() {
            event.protocol = door_protocol(record.cell_name).into();
        }
        out.push(event);
        Feed::Parsed
    }
}

/// The protocol of a door from its cell name (`WebDAV-se01@…` → `https`).
fn door_protocol(cell: &str) -> String {
    let lower = cell.to_ascii_lowercase();
    if lower.starts_with("webdav") || lower.starts_with("http") {
        "https".to_string()
    } else if lower.starts_with("xrootd") {
        "xrootd".to_string()
    } else if lower.starts_with("gftp") || lower.starts_with("gridftp") {
        "gsiftp".to_string()
    } else {
        String::new()
    }
}

fn fill_outcome(event: &mut Event, rc: &str, message: &str) {
    if rc == "0" {
        event.outcome = outcome::OK.into();
        event.status = "0".to_string();
    } else {
        event.outcome = outcome::FAIL.into();
        event.status = if message.is_empty() {
            rc.to_string()
        } else {
            format!("{rc}: {}", message.replace("\\\"", "\""))
        };
    }
}

fn fill_owner(event: &mut Event, record: &Record<'_>) {
    let owner = record
        .owner
        .filter(|owner| !owner.is_empty() && *owner != "unknown" && *owner != "<unknown>");
    match owner {
        Some(dn) if common::looks_like_dn(dn) => event.username = dn.to_string(),
        Some(account) => event.local_user = account.to_string(),
        None => {}
    }
    if event.local_user.is_empty() {
        if let Some(uid) = record
            .uid
            .filter(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
        {
            event.local_user = uid.to_string();
        }
    }
    if let Some(chain) = record.client_chain {
        // The chain lists the client first, then the proxies it went through.
        if let Some(first) = chain.split(',').next() {
            common::set_client(event, first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{date_from_file_name, TimeContext, Zone};

    const BILLING: &str = include_str!("../../../tests/fixtures/dcache-billing/billing-2024.06.12");
    const EDGE: &str = include_str!("../../../tests/fixtures/dcache-billing/billing-2024.12.31");
    const ACCESS: &str =
        include_str!("../../../tests/fixtures/dcache-access/webdav-se01Domain.access");
    const XROOTD: &str =
        include_str!("../../../tests/fixtures/dcache-access/xrootd-se01Domain.access");

    fn context(file_name: &str) -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: date_from_file_name(file_name),
            },
            host: "se01.example.org".into(),
            path: file_name.into(),
            file_name: file_name.into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context("billing-2024.06.12"))
            .unwrap()
            .0
    }

    fn line(text: &str, number: usize) -> &str {
        text.lines().nth(number).unwrap()
    }

    #[test]
    fn pool_read_over_https_takes_year_from_the_file_name() {
        let event = &parse(line(BILLING, 0))[0];
        assert_eq!(event.source, "dcache-billing");
        assert_eq!(event.action, "file.read");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:24.000Z");
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
        assert_eq!(
            event.session_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasCtAK8A"
        );
    }

    #[test]
    fn door_request_line_takes_the_transaction_of_its_mover_line() {
        let events = parse(&BILLING.lines().take(2).collect::<Vec<_>>().join("\n"));
        let door = &events[1];
        assert_eq!(door.action, "file.read");
        assert_eq!(door.local_user, "cmsprd");
        assert_eq!(door.client_ip, "192.0.2.42");
        assert_eq!(door.duration_ms, Some(1834));
        assert_eq!(door.protocol, "https");
        assert_eq!(door.transfer_id, events[0].transfer_id);
        assert_eq!(door.session_id, events[0].session_id);
    }

    #[test]
    fn door_request_line_alone_is_other_with_owner() {
        let event = &parse(line(BILLING, 1))[0];
        assert_eq!(event.action, "other");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.session_id, "");
    }

    #[test]
    fn pool_write_reads_ipv6_client_inside_the_protocol_block() {
        let event = &parse(line(BILLING, 2))[0];
        assert_eq!(event.action, "file.write");
        assert_eq!(event.client_ip, "2001:db8:42::42");
        assert_eq!(event.bytes, Some(734_003_200));
        assert_eq!(event.duration_ms, Some(3402));
        assert_eq!(
            event.session_id,
            "door:WebDAV-se01@webdav-se01Domain:AAYasCuzTGg"
        );
    }

    #[test]
    fn pool_xrootd_read_joins_the_xrootd_door_session() {
        let event = &parse(line(BILLING, 3))[0];
        assert_eq!(event.action, "file.read");
        assert_eq!(event.protocol, "xrootd");
        assert_eq!(event.bytes, Some(536_870_912));
        assert_eq!(event.duration_ms, Some(106_872));
        assert_eq!(event.client_ip, "192.0.2.42");
        let access = parse_text(XROOTD, None, context("xrootd-se01Domain.access"))
            .unwrap()
            .0;
        assert_eq!(event.session_id, access[3].session_id);
        assert_eq!(access[3].sub, "6ac17538-6c67-49f7-8693-4d6e43ed192e");
    }

    #[test]
    fn door_remove_is_a_delete_with_unknown_client() {
        let event = &parse(line(BILLING, 4))[0];
        assert_eq!(event.action, "file.delete");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.client_ip, "");
        assert_eq!(
            event.path,
            "/pnfs/example.org/data/cms/store/user/cmsprd/tmp.root"
        );
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:15:31.000Z");
    }

    #[test]
    fn billing_and_access_log_share_session_and_transfer_ids() {
        let billing = parse(line(BILLING, 0));
        let access = parse_text(line(ACCESS, 0), None, context("webdav-se01Domain.access"))
            .unwrap()
            .0;
        assert_eq!(access[0].source, "dcache-access");
        assert_eq!(billing[0].session_id, access[0].session_id);
        assert_eq!(billing[0].transfer_id, access[0].transfer_id);
        assert!(!billing[0].session_id.is_empty());
        let put = parse_text(line(ACCESS, 1), None, context("webdav-se01Domain.access"))
            .unwrap()
            .0;
        assert_eq!(parse(line(BILLING, 2))[0].session_id, put[0].session_id);
    }

    #[test]
    fn december_lines_in_a_january_file_take_the_previous_year() {
        let events = parse_text(line(EDGE, 1), None, context("billing-2025.01.01"))
            .unwrap()
            .0;
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2024-12-31T22:59:59.000Z"
        );
    }

    #[test]
    fn header_lines_are_ignored_and_errors_fail_with_their_message() {
        let (events, stats) = parse_text(EDGE, None, context("billing-2024.12.31")).unwrap();
        assert_eq!(events[0].source, "dcache-billing");
        assert_eq!(stats.formats["dcache-billing"].raw, 2);
        let error = &events[2];
        assert_eq!(error.action, "file.write");
        assert_eq!(error.outcome, "fail");
        assert_eq!(
            error.status,
            "10006: No connection from client after 300 seconds. Giving up."
        );
        assert_eq!(error.protocol, "gsiftp");
        assert_eq!(error.client_ip, "192.0.2.7");
        let door = &events[8];
        assert_eq!(door.username, "/DC=org/DC=example/CN=Jane Doe");
        assert_eq!(door.local_user, "50200");
        assert_eq!(door.action, "file.write");
        assert_eq!(door.outcome, "fail");
        assert_eq!(door.transfer_id, error.transfer_id);
        assert_eq!(door.protocol, "gsiftp");
        let restore = &events[3];
        assert_eq!(restore.action, "file.stage");
        assert_eq!(restore.bytes, Some(5_000_000));
        assert_eq!(restore.duration_ms, Some(93_000));
        let tpc = &events[4];
        assert_eq!(tpc.action, "transfer.done");
        assert_eq!(tpc.client_host, "xrd01.example.org");
        assert_eq!(tpc.bytes, Some(1_073_741_824));
        let p2p = &events[5];
        assert_eq!(p2p.action, "other");
        let path_with_bracket = &events[6];
        assert_eq!(path_with_bracket.path, "/pnfs/example.org/data/a]b/c.root");
        assert_eq!(path_with_bracket.client_ip, "0:0:0:0:0:0:0:1");
    }

    #[test]
    fn truncated_line_is_malformed() {
        let (events, stats) =
            parse_text(line(EDGE, 7), None, context("billing-2024.12.31")).unwrap();
        assert_eq!(events[0].source, "dcache-billing");
        assert_eq!(events[0].status, "unparsed");
        assert_eq!(stats.formats["dcache-billing"].errors, 1);
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(line(BILLING, 0), "billing-2024.06.12"));
        assert!(sniff("## transfer $date$ …", "billing-2024.06.12"));
        assert!(!sniff("## something", "notes.md"));
        assert!(!sniff("240612 14:03:22 4711 XrootdXeq: x", ""));
        assert!(!sniff(line(ACCESS, 0), ""));
        assert!(!sniff("06.12 14:03:24 no bracket here", ""));
    }

    #[test]
    fn hostile_lines_never_panic() {
        for text in [
            "06.12 14:03:24 [",
            "06.12 14:03:24 []",
            "06.12 14:03:24 [a:b:c] [\"",
            "06.12 14:03:24 [a:b:c] [\"x\":1] [p,1] [q] s {",
            "06.12 14:03:24 [a:b:c] [p,1] [q] s 1 2 {x:\"é\"} [z] {0:\"",
            "13.45 99:99:99 [a:b:transfer] [p,1] [q] s {0:\"\"}",
        ] {
            let _ = parse(text);
        }
    }
}
