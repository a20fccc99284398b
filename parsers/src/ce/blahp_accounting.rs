//! `blahp-accounting`: the BLAHP accounting log (`BLAHPD_ACCOUNTING_INFO_LOG`, one file per UTC
//! day `<path>-YYYYMMDD`), formats/ce.md §6; grammar from HTC `src/blahp/src/server.c`
//! (`logAccInfo`). One line per job submitted to the LRMS:
//! ```text
//! "timestamp=2025-03-04 10:16:01" "userDN=" "userFQAN=" "ceID=ce01.example.org:9619/ce01.example.org-slurm-grid" "jobID=" "lrmsID=7734121" "localUser=41021"[ "clientID=…"]
//! ```
//! A `job.route` event (CE → LRMS) at the UTC timestamp, `batch_job_id` = `<lrms>:<lrmsID>`
//! (the LRMS from a `…blah-<lrms>-<queue>` ceID, else bare `lrmsID`), `local_user` = the uid,
//! `job_id` = `jobID` when the grid job id is given, `username` = `userDN` (X.509 only: token
//! jobs log it empty), `groups` = the FQANs. No token identity is logged.

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `blahp-accounting` format.
pub static FORMAT: Format = Format {
    id: "blahp-accounting",
    service: Service::Ce,
    summary: "BLAHP accounting log (LRMS submissions)",
    programs: &[],
    sniff: |text, _| text.starts_with("\"timestamp=") && text.contains("\" \"lrmsID="),
    new_parser: |_: &Context| Box::new(Parser),
};

struct Parser;

/// `"key=value" "key=value" …` → pairs (values may hold spaces, never `"`).
fn quoted_pairs(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        let (key, value) = body[..end].split_once('=')?;
        pairs.push((key, value));
        rest = body[end + 1..].trim_start();
    }
    Some(pairs)
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        if !line.text.starts_with("\"timestamp=") {
            return Feed::NotMine;
        }
        let Some(pairs) = quoted_pairs(line.text) else {
            return Feed::Malformed;
        };
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .unwrap_or_default()
        };
        let lrms_id = get("lrmsID");
        let Some(time) = crate::time::parse_loose_utc(get("timestamp")) else {
            return Feed::Malformed;
        };
        if lrms_id.is_empty() {
            return Feed::Malformed;
        }
        let mut event = line.event(FORMAT.id, Service::Ce);
        event.time = Some(Timestamp(time.millis()));
        event.action = action::JOB_ROUTE.into();
        event.outcome = outcome::OK.into();
        let ce_id = get("ceID");
        let lrms = ce_id
            .split_once("blah-")
            .and_then(|(_, rest)| rest.split('-').next())
            .filter(|lrms| !lrms.is_empty() && lrms.bytes().all(|b| b.is_ascii_lowercase()));
        event.batch_job_id = match lrms {
            Some(lrms) => format!("{lrms}:{lrms_id}"),
            None => lrms_id.to_string(),
        };
        event.job_id = get("jobID").to_string();
        event.local_user = get("localUser").to_string();
        event.username = get("userDN").to_string();
        event.groups = pairs
            .iter()
            .filter(|(k, v)| *k == "userFQAN" && !v.is_empty())
            .map(|(_, v)| v.to_string())
            .collect();
        event.status = ce_id.to_string();
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    fn parse(text: &str) -> (Vec<Event>, crate::stream::Stats) {
        let context = Context {
            file_name: "blahp.log-20250304".into(),
            host: "ce01.example.org".into(),
            ..Context::default()
        };
        parse_text(text, None, context).unwrap()
    }

    #[test]
    fn reads_an_lrms_submission_at_utc() {
        let (events, _) = parse(include_str!(
            "../../../tests/fixtures/blahp-accounting/blahp.log-20250304"
        ));
        let event = &events[0];
        assert_eq!(event.source, "blahp-accounting");
        assert_eq!(event.action, action::JOB_ROUTE);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:16:01.000Z");
        assert_eq!(event.batch_job_id, "slurm:7734121");
        assert_eq!(event.local_user, "41021");
        assert_eq!(event.username, "");
        let x509 = &events[1];
        assert_eq!(x509.batch_job_id, "pbs:1234.server");
        assert_eq!(x509.username, "/DC=org/CN=Some User");
        assert_eq!(x509.groups, vec!["/cms/Role=pilot", "/cms"]);
        assert_eq!(x509.job_id, "https://wms.example.org/abc");
    }

    #[test]
    fn truncated_lines_are_malformed_and_others_not_mine() {
        let (events, stats) = parse("\"timestamp=2025-03-04 10:16:01\" \"userDN=\" \"lrmsID=7\n");
        assert_eq!(stats.formats["blahp-accounting"].errors, 1);
        assert_eq!(events[0].status, "unparsed");
        assert!(!(FORMAT.sniff)("03/04/25 10:16:02 [3301] x", "blahp.log"));
    }
}
