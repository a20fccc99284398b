//! `eos-report`: EOS IO report records, `/var/eos/report/YYYY/MM/YYYYMMDD.eosreport` (written
//! when `io enable -r` is set on the MGM).
//!
//! Grammar (storage.md §4.2, `XrdFstOfsFile::MakeReportEnv`): one `&`-separated CGI record per
//! line, `log=<logid>&path=…&ruid=…&td=<tident>&host=<fst>&…&ots=<s>&otms=<ms>&cts=<s>&ctms=<ms>
//! &…&rb=<bytes read>&…&wb=<bytes written>&…&sec.prot=…&sec.name=…&sec.host=…&sec.app=…`, keys in
//! any order. FST deletion records: `log=…&host=…&fid=…&fsid=…[&del_ts=…&del_tns=…]&dc_ts=…&…
//! &dsize=…&sec.app=deletion`.
//!
//! Fields: `action` = `file.write` when bytes were written, else `file.read`; `file.delete` for
//! `sec.app=deletion|rm|recycle`. `bytes` = `wb` (writes) or `rb` (reads), `dsize` (deletions);
//! `time` = close (`cts`/`ctms`, UTC epoch), `duration_ms` = close − open; `session_id` = `log`,
//! the MGM logid that the `eos-log` lines of the same request carry; `client_host`/`client_ip`
//! from `sec.host`, else from the `td` tident's host; `local_user` = `sec.name` (the mapped
//! account: these records hold no token claims); `protocol` = `sec.prot`. `outcome` is `fail`
//! when `ior_err`/`iow_err` are non-zero or the file was deleted on close (an aborted write),
//! else `ok`. A deletion record's time is `del_ts` when present (older FSTs give none).
//! `sec.app`, `fid` and the TPC keys stay in `raw`.

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::xrootd_tident;

/// The `eos-report` format.
pub static FORMAT: Format = Format {
    id: "eos-report",
    service: Service::Storage,
    summary: "EOS IO report records (.eosreport)",
    programs: &[],
    sniff,
    new_parser: |_: &Context| Box::new(Parser),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    text.starts_with("log=")
        && !text.contains(' ')
        && text.contains("&host=")
        && (text.contains("&path=") || text.contains("&sec.app=") || text.contains("&fid="))
}

// The keys this parser reads; a key given twice keeps its last value.
crate::kv::known_keys!(Record<'a, &'a str>, keep last, {
    application = "sec.app",
    path = "path",
    log = "log",
    read_bytes = "rb",
    written_bytes = "wb",
    deleted_size = "dsize",
    deleted_seconds = "del_ts",
    deleted_nanos = "del_tns",
    open_seconds = "ots",
    open_millis = "otms",
    close_seconds = "cts",
    close_millis = "ctms",
    read_errors = "ior_err",
    write_errors = "iow_err",
    delete_on_close = "delete_on_close",
    host = "sec.host",
    tident = "td",
    name = "sec.name",
    protocol = "sec.prot",
});

fn record(text: &str) -> Record<'_> {
    Record::read(text.split('&').filter_map(|pair| pair.split_once('=')))
}

fn number(value: Option<&str>) -> Option<u64> {
    value.and_then(|value| value.parse().ok())
}

/// `seconds` + `millis` as an instant.
fn instant(seconds: Option<&str>, millis: Option<&str>) -> Option<Timestamp> {
    let seconds = i64::try_from(number(seconds)?).ok()?;
    let millis = number(millis).unwrap_or(0).min(999) as i64;
    Some(Timestamp(seconds.checked_mul(1000)?.checked_add(millis)?))
}

/// `seconds` + `nanos` as an instant.
fn instant_nanos(seconds: Option<&str>, nanos: Option<&str>) -> Option<Timestamp> {
    let seconds = i64::try_from(number(seconds)?).ok()?;
    let millis = (number(nanos).unwrap_or(0) / 1_000_000).min(999) as i64;
    Some(Timestamp(seconds.checked_mul(1000)?.checked_add(millis)?))
}

struct Parser;

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let text = line.text.trim();
        if !text.starts_with("log=") || !text.contains('&') {
            return Feed::NotMine;
        }
        let fields = record(text);
        let application = fields.application.unwrap_or("");
        let deletion = matches!(application, "deletion" | "rm" | "recycle");
        let path = fields.path.unwrap_or("");
        if path.is_empty() && !deletion {
            return Feed::Malformed;
        }
        let mut event = line.event(FORMAT.id, FORMAT.service);
        event.path = path.to_string();
        event.session_id = fields.log.unwrap_or("").to_string();
        let read = number(fields.read_bytes);
        let written = number(fields.written_bytes);
        if deletion {
            event.action = action::FILE_DELETE.into();
            event.bytes = number(fields.deleted_size);
            event.outcome = outcome::OK.into();
            if let Some(time) = instant_nanos(fields.deleted_seconds, fields.deleted_nanos) {
                event.time = Some(time);
            }
        } else {
            if read.is_none() && written.is_none() {
                return Feed::Malformed;
            }
            let wrote = written.unwrap_or(0) > 0;
            event.action = if wrote {
                action::FILE_WRITE
            } else {
                action::FILE_READ
            }
            .into();
            event.bytes = if wrote { written } else { read };
            let opened = instant(fields.open_seconds, fields.open_millis);
            let closed = instant(fields.close_seconds, fields.close_millis);
            if let Some(time) = closed.or(opened) {
                event.time = Some(time);
            }
            if let (Some(opened), Some(closed)) = (opened, closed) {
                event.duration_ms = u64::try_from(closed.millis() - opened.millis()).ok();
            }
            let failed = number(fields.read_errors).unwrap_or(0) > 0
                || number(fields.write_errors).unwrap_or(0) > 0
                || fields.delete_on_close == Some("1");
            event.outcome = if failed { outcome::FAIL } else { outcome::OK }.into();
        }
        let client = fields.host.filter(|host| !host.is_empty()).or_else(|| {
            fields
                .tident
                .and_then(xrootd_tident::parse)
                .map(|tident| tident.host)
        });
        if let Some(host) = client {
            xrootd_tident::fill_client(&mut event, host);
        }
        event.local_user = fields.name.unwrap_or("").to_string();
        event.protocol = fields.protocol.unwrap_or("").to_string().into();
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    const REFERENCE: &str = include_str!("../../../tests/fixtures/eos-report/20240612.eosreport");

    fn context() -> Context {
        Context {
            path: "/var/eos/report/2024/06/20240612.eosreport".into(),
            file_name: "20240612.eosreport".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, Some("eos-report"), context()).unwrap().0
    }

    #[test]
    fn fst_read_record_gives_bytes_times_session_and_client() {
        let (events, stats) = parse_text(REFERENCE, None, context()).unwrap();
        assert_eq!(stats.formats["eos-report"].errors, 0);
        let event = &events[0];
        assert_eq!(event.source, "eos-report");
        assert_eq!(event.action, action::FILE_READ);
        assert_eq!(event.path, "/eos/cms/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.bytes, Some(2_147_483_648));
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:03:24.031Z");
        assert_eq!(event.duration_ms, Some(1_851));
        // The MGM logid of the eos-log open line of this request.
        assert_eq!(event.session_id, "f08e4281-08d2-4667-aa77-4688e8573b66");
        assert_eq!(event.client_host, "wn042.example.org");
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.protocol, "https");
        assert_eq!(event.outcome, outcome::OK);
    }

    #[test]
    fn write_record_uses_written_bytes() {
        let events = parse("log=abc&path=/eos/x&td=cms0042.5821:31@[2001:db8::5]&ots=1718193802&otms=0&cts=1718193803&ctms=500&rb=10&wb=734003200&ior_err=0&iow_err=0&delete_on_close=0&sec.prot=ztn&sec.name=cmsprd&sec.host=&sec.app=");
        let event = &events[0];
        assert_eq!(event.action, action::FILE_WRITE);
        assert_eq!(event.bytes, Some(734_003_200));
        assert_eq!(event.duration_ms, Some(1_500));
        // No sec.host: the tident's host, an address.
        assert_eq!(event.client_ip, "2001:db8::5");
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_value() {
        let events =
            parse("log=abc&path=/eos/first&ots=1&otms=0&rb=5&wb=0&path=/eos/second&rb=7&odd&=x");
        assert_eq!(events[0].path, "/eos/second");
        assert_eq!(events[0].bytes, Some(7));
    }

    #[test]
    fn aborted_write_is_a_failure() {
        let events = parse("log=abc&path=/eos/x&ots=1&otms=0&cts=2&ctms=0&rb=0&wb=5&delete_on_close=1&sec.name=cmsprd");
        assert_eq!(events[0].outcome, outcome::FAIL);
    }

    #[test]
    fn fst_deletion_record_is_a_delete() {
        let events = parse("log=619d7b82-4f79-11e8-a96c-02163e009ce2&host=fst07.example.org&fid=1056316&fxid=00101e3c&fsid=1&del_ts=1525425800&del_tns=0&dc_ts=1525425793&dc_tns=968438733&dm_ts=1525425793&dm_tns=968438733&da_ts=1525425793&da_tns=968438733&dsize=2202&sec.app=deletion");
        let event = &events[0];
        assert_eq!(event.action, action::FILE_DELETE);
        assert_eq!(event.bytes, Some(2202));
        assert_eq!(event.session_id, "619d7b82-4f79-11e8-a96c-02163e009ce2");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2018-05-04T09:23:20.000Z");
    }

    #[test]
    fn truncated_record_is_malformed_and_others_are_not_mine() {
        let (_, stats) =
            parse_text("log=abc&path=/eos/x&ots=17", Some("eos-report"), context()).unwrap();
        assert_eq!(stats.formats["eos-report"].errors, 1);
        let (_, stats) = parse_text("log=abc&ruid=1", Some("eos-report"), context()).unwrap();
        assert_eq!(stats.formats["eos-report"].errors, 1);
        assert!(!sniff(
            "level=INFO ts=2024-06-12T14:03:22.497+0200 event=x",
            ""
        ));
        assert!(!sniff("log=abc and some text&host=x", ""));
        assert!(sniff(REFERENCE.lines().next().unwrap(), ""));
        for text in [
            "log=&",
            "log==&&&",
            "log=a&cts=99999999999999999999&ctms=x&path=/a&rb=1",
        ] {
            let _ = parse(text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "log=[a-z0-9-]{0,8}(&(path|td|ots|otms|cts|ctms|rb|wb|sec\\.host|sec\\.app|del_ts|dsize)=\\PC{0,12}){0,8}") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("eos-report"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}
