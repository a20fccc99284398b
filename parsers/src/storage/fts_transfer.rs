//! `fts-transfer`: the FTS3 per-transfer log written by `fts_url_copy`, one file per attempt:
//! `/var/log/fts3/transfers/<YYYY-MM-DD>/<src>__<dst>/<YYYY-MM-DD-HHMM>__<srchost>__<dsthost>__<fileId>__<jobId>`
//! (plus a `.debug` companion). The file name gives the file id and job id (the last two
//! `__`-separated parts) before any line does; `Job id:` / `File id:` lines override them.
//!
//! Line grammar: see [`fts_line`](crate::storage::fts_line). Messages read (storage.md §5.2,
//! `UrlCopyProcess.cpp`): `Transfer accepted`, `Source token: <payload JSON>` /
//! `Destination token: <payload JSON>` (only `aud, iat, nbf, exp, iss, scope, wlcg.ver`: no
//! `sub`, no `jti`), `Source token id: <id> (managed)` / `Destination token id: …`, `Job id:`,
//! `File id:`, `Source url:`, `Dest url:`, `bytes: <n>, avg KiB/sec:…, elapsed sec:<n>`,
//! `Transfer finished successfully`, `Recoverable error: [<code>] <msg>` /
//! `Non recoverable error: …`, and url-copy's own token refreshes (`Requesting <side> token
//! refresh: token_id=<id> (token_exp=<epoch>)`, `Successfully refreshed access token for
//! <side>: <payload JSON>`).
//!
//! Events (all with `transfer_id` = `<job id>/<file id>`):
//! - `transfer.submit` at `Transfer accepted` (or `Job id:`), completed with what the header
//!   lines that follow say and emitted once the destination URL is known (or at the first
//!   result line, or at the end of the file): `path` = the destination path, `protocol` from
//!   its scheme, the destination token's claims (the source token's when there is none).
//! - one `other` event per token payload line (`status` = `source token` / `destination
//!   token`), with that token's claims, `path` = the source or destination path, and
//!   `session_id` = FTS's `token_id` from the matching `… token id:` line. FTS's token_id is
//!   the first 16 hex digits of SHA-1 over the raw token, FTS's own key for a managed token —
//!   not the `jti`, which FTS never logs. docs/conventions.md names no field for it; it is put
//!   in `session_id` because it ties the in-service life of one token (exchange and refreshes
//!   in `fts3token.log`, use by transfers) exactly as a session id ties one session.
//! - `transfer.done` at the result line: `outcome`, `status` (`finished` or the error), `bytes`
//!   and `duration_ms` (from `elapsed sec`), path/protocol/claims as for the submit.
//! - `token.refresh` for url-copy's token refreshes (`token_exp`, `session_id` = token_id; the
//!   refreshed payload's claims on success).
//!
//! The source URL stays findable through the source-token event's `path` and the raw lines.

use serde_json::Value;

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::jwt::Claims;
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::fts_line::{self, url_path, url_protocol};

/// The `fts-transfer` format.
pub static FORMAT: Format = Format {
    id: "fts-transfer",
    service: Service::Transfer,
    summary: "FTS3 per-transfer log",
    programs: &["fts_url_copy"],
    sniff,
    new_parser: |context: &Context| Box::new(Parser::new(context)),
};

/// Messages only the per-transfer log writes.
const TRANSFER_MESSAGES: &[&str] = &[
    "Transfer accepted",
    "Source token: ",
    "Destination token: ",
    "Source token id: ",
    "Destination token id: ",
    "Job id: ",
    "File id: ",
    "Source url: ",
    "Dest url: ",
    "bytes: ",
    "Transfer finished successfully",
    "Recoverable error: ",
    "Non recoverable error: ",
];

fn sniff(text: &str, file_name: &str) -> bool {
    if file_name.starts_with("fts3") {
        // fts3server.log, fts3token.log, …: daemon logs, not transfer logs.
        return false;
    }
    let Some(line) = fts_line::parse(text) else {
        return false;
    };
    ids_from_file_name(file_name).is_some()
        || TRANSFER_MESSAGES
            .iter()
            .any(|prefix| line.message.starts_with(prefix))
}

/// `<YYYY-MM-DD-HHMM>__<srchost>__<dsthost>__<fileId>__<jobId>[.debug]` → (job id, file id).
pub fn ids_from_file_name(name: &str) -> Option<(String, String)> {
    let name = name.strip_suffix(".debug").unwrap_or(name);
    let parts: Vec<&str> = name.split("__").collect();
    if parts.len() < 5 {
        return None;
    }
    let job = parts[parts.len() - 1];
    let file = parts[parts.len() - 2];
    let job_ok = !job.is_empty() && job.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let file_ok = !file.is_empty() && file.bytes().all(|b| b.is_ascii_digit());
    (job_ok && file_ok).then(|| (job.to_string(), file.to_string()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

/// What this transfer's lines have said so far.
#[derive(Default)]
struct Transfer {
    job_id: String,
    file_id: String,
    source_url: String,
    dest_url: String,
    source_claims: Option<Claims>,
    dest_claims: Option<Claims>,
    source_token_id: String,
    dest_token_id: String,
    bytes: Option<u64>,
    elapsed_ms: Option<u64>,
    started: Option<Timestamp>,
}

impl Transfer {
    fn transfer_id(&self) -> String {
        if self.job_id.is_empty() || self.file_id.is_empty() {
            return String::new();
        }
        format!("{}/{}", self.job_id, self.file_id)
    }

    fn url(&self, side: Side) -> &str {
        match side {
            Side::Source => &self.source_url,
            Side::Destination => &self.dest_url,
        }
    }

    fn token_id(&self, side: Side) -> &str {
        match side {
            Side::Source => &self.source_token_id,
            Side::Destination => &self.dest_token_id,
        }
    }

    fn claims(&self, side: Side) -> Option<&Claims> {
        match side {
            Side::Source => self.source_claims.as_ref(),
            Side::Destination => self.dest_claims.as_ref(),
        }
    }

    /// Fills what a transfer event shows: id, destination path and protocol, and the token
    /// that wrote there.
    fn fill_transfer_event(&self, event: &mut Event) {
        event.transfer_id = self.transfer_id();
        if event.path.is_empty() {
            event.path = url_path(&self.dest_url);
        }
        if event.protocol.is_empty() {
            event.protocol = url_protocol(&self.dest_url).into();
        }
        if let Some(claims) = self.dest_claims.as_ref().or(self.source_claims.as_ref()) {
            claims.fill(event);
        }
    }
}

/// An event waiting for lines that complete it.
enum Pending {
    Submit(Event),
    Token(Side, Event),
}

struct Parser {
    transfer: Transfer,
    pending: Vec<Pending>,
    submitted: bool,
    file_ids: Option<(String, String)>,
}

fn payload_claims(json: &str) -> Option<Claims> {
    let value: Value = serde_json::from_str(json.trim()).ok()?;
    value.is_object().then(|| Claims::from_json(&value))
}

fn side_of(word: &str) -> Option<Side> {
    match word {
        "source" | "Source" => Some(Side::Source),
        "destination" | "Destination" | "dest" | "Dest" => Some(Side::Destination),
        _ => None,
    }
}

impl Parser {
    fn new(context: &Context) -> Self {
        let file_ids = ids_from_file_name(&context.file_name);
        let mut parser = Parser {
            transfer: Transfer::default(),
            pending: Vec::new(),
            submitted: false,
            file_ids,
        };
        parser.reset();
        parser
    }

    fn reset(&mut self) {
        self.transfer = Transfer::default();
        if let Some((job, file)) = &self.file_ids {
            self.transfer.job_id = job.clone();
            self.transfer.file_id = file.clone();
        }
        self.pending.clear();
        self.submitted = false;
    }

    fn event(&self, line: &Line<'_>, time: Option<Timestamp>, name: &'static str) -> Event {
        let mut event = line.event(FORMAT.id, FORMAT.service);
        if time.is_some() {
            event.time = time;
        }
        event.action = name.into();
        event
    }

    /// Completes and emits every waiting event.
    fn flush(&mut self, out: &mut Vec<Event>) {
        for pending in std::mem::take(&mut self.pending) {
            match pending {
                Pending::Submit(mut event) => {
                    self.transfer.fill_transfer_event(&mut event);
                    out.push(event);
                }
                Pending::Token(side, mut event) => {
                    event.transfer_id = self.transfer.transfer_id();
                    event.path = url_path(self.transfer.url(side));
                    event.protocol = url_protocol(self.transfer.url(side)).into();
                    event.session_id = self.transfer.token_id(side).to_string();
                    if let Some(claims) = self.transfer.claims(side) {
                        claims.fill(&mut event);
                    }
                    out.push(event);
                }
            }
        }
    }

    fn start_submit(&mut self, line: &Line<'_>, time: Option<Timestamp>) {
        if self.submitted {
            return;
        }
        self.submitted = true;
        self.transfer.started = time;
        let event = self.event(line, time, action::TRANSFER_SUBMIT);
        self.pending.push(Pending::Submit(event));
    }

    fn done(&mut self, line: &Line<'_>, time: Option<Timestamp>, ok: bool, status: &str) -> Event {
        let mut event = self.event(line, time, action::TRANSFER_DONE);
        event.outcome = if ok { outcome::OK } else { outcome::FAIL }.into();
        event.status = status.to_string();
        event.bytes = self.transfer.bytes;
        event.duration_ms = self.transfer.elapsed_ms.or_else(|| {
            let start = self.transfer.started?.millis();
            u64::try_from(time?.millis() - start).ok()
        });
        self.transfer.fill_transfer_event(&mut event);
        event
    }

    fn token_refresh(
        &mut self,
        line: &Line<'_>,
        time: Option<Timestamp>,
        message: &str,
        out: &mut Vec<Event>,
    ) -> Option<Feed> {
        if let Some(rest) = message.strip_prefix("Requesting ") {
            // `Requesting <side> token refresh: token_id=<id> (token_exp=<epoch>)`
            let (side, rest) = rest.split_once(" token refresh: ")?;
            side_of(side)?;
            let mut event = self.event(line, time, action::TOKEN_REFRESH);
            let unbracketed = rest.replace(['(', ')'], " ");
            let pairs = crate::kv::pairs(&unbracketed);
            event.session_id = crate::kv::get(&pairs, "token_id").unwrap_or("").to_string();
            event.token_exp = crate::kv::get(&pairs, "token_exp")
                .and_then(|epoch| epoch.parse::<i64>().ok())
                .map(Timestamp::from_secs);
            event.status = "requested".to_string();
            event.transfer_id = self.transfer.transfer_id();
            out.push(event);
            return Some(Feed::Parsed);
        }
        let rest = message.strip_prefix("Successfully refreshed access token for ")?;
        let (side, payload) = rest.split_once(": ")?;
        let side = side_of(side.trim())?;
        let mut event = self.event(line, time, action::TOKEN_REFRESH);
        event.outcome = outcome::OK.into();
        event.transfer_id = self.transfer.transfer_id();
        event.session_id = self.transfer.token_id(side).to_string();
        event.path = url_path(self.transfer.url(side));
        if let Some(claims) = payload_claims(payload) {
            claims.fill(&mut event);
            // The transfer goes on with the refreshed token.
            match side {
                Side::Source => self.transfer.source_claims = Some(claims),
                Side::Destination => self.transfer.dest_claims = Some(claims),
            }
        }
        out.push(event);
        Some(Feed::Parsed)
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Some(parsed) = fts_line::parse(line.text) else {
            return Feed::NotMine;
        };
        let time = parsed.time;
        let message = parsed.message.trim_end();

        if message == "Transfer accepted" {
            if self.submitted {
                // A second transfer in one stream: finish the first.
                self.flush(out);
                self.reset();
            }
            self.start_submit(line, time);
            return Feed::Pending;
        }
        for (prefix, side) in [
            ("Source token: ", Side::Source),
            ("Destination token: ", Side::Destination),
        ] {
            if let Some(payload) = message.strip_prefix(prefix) {
                let Some(claims) = payload_claims(payload) else {
                    return Feed::Malformed;
                };
                match side {
                    Side::Source => self.transfer.source_claims = Some(claims),
                    Side::Destination => self.transfer.dest_claims = Some(claims),
                }
                let mut event = self.event(line, time, action::OTHER);
                event.status = match side {
                    Side::Source => "source token",
                    Side::Destination => "destination token",
                }
                .to_string();
                self.pending.push(Pending::Token(side, event));
                return Feed::Pending;
            }
        }
        for (prefix, side) in [
            ("Source token id: ", Side::Source),
            ("Destination token id: ", Side::Destination),
        ] {
            if let Some(rest) = message.strip_prefix(prefix) {
                let id = rest.split_whitespace().next().unwrap_or("").to_string();
                if id.is_empty() {
                    return Feed::Malformed;
                }
                match side {
                    Side::Source => self.transfer.source_token_id = id,
                    Side::Destination => self.transfer.dest_token_id = id,
                }
                return Feed::Ignored;
            }
        }
        if let Some(job) = message.strip_prefix("Job id: ") {
            self.transfer.job_id = job.trim().to_string();
            if !self.submitted {
                self.start_submit(line, time);
                return Feed::Pending;
            }
            return Feed::Ignored;
        }
        if let Some(file) = message.strip_prefix("File id: ") {
            self.transfer.file_id = file.trim().to_string();
            return Feed::Ignored;
        }
        if let Some(url) = message.strip_prefix("Source url: ") {
            self.transfer.source_url = url.trim().to_string();
            return Feed::Ignored;
        }
        if let Some(url) = message.strip_prefix("Dest url: ") {
            self.transfer.dest_url = url.trim().to_string();
            // The header that matters is complete.
            self.start_submit(line, time);
            self.flush(out);
            // The flushed events have their own origins: this line is kept as well.
            return Feed::Ignored;
        }
        if let Some(rest) = message.strip_prefix("bytes: ") {
            let pairs: Vec<(&str, &str)> = std::iter::once(("bytes", rest))
                .chain(rest.split(", ").skip(1).filter_map(|p| p.split_once(':')))
                .collect();
            self.transfer.bytes = rest
                .split(',')
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok());
            self.transfer.elapsed_ms = pairs
                .iter()
                .find(|(key, _)| key.trim() == "elapsed sec")
                .and_then(|(_, value)| value.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .map(|seconds| (seconds * 1000.0) as u64);
            if self.transfer.bytes.is_none() {
                return Feed::Malformed;
            }
            return Feed::Ignored;
        }
        let result = if message == "Transfer finished successfully" {
            Some((true, "finished".to_string()))
        } else {
            ["Recoverable error: ", "Non recoverable error: "]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .map(|error| (false, error.trim().to_string()))
        };
        if let Some((ok, status)) = result {
            self.start_submit(line, time);
            self.flush(out);
            let event = self.done(line, time, ok, &status);
            out.push(event);
            return Feed::Parsed;
        }
        if let Some(feed) = self.token_refresh(line, time, message, out) {
            return feed;
        }
        Feed::Ignored
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        self.flush(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    const FILE_NAME: &str = "2024-06-12-1211__xrd01.example.org__se01.example.org__3141592653__6578529a-b819-4372-8ab4-8b8b482e1314";
    const REFERENCE: &str = include_str!(
        "../../../tests/fixtures/fts-transfer/2024-06-12/xrd01.example.org__se01.example.org/2024-06-12-1211__xrd01.example.org__se01.example.org__3141592653__6578529a-b819-4372-8ab4-8b8b482e1314"
    );
    const FAILED: &str = include_str!(
        "../../../tests/fixtures/fts-transfer/2024-06-12/xrd01.example.org__se01.example.org/2024-06-12-1220__xrd01.example.org__se01.example.org__3141592654__6578529a-b819-4372-8ab4-8b8b482e1314"
    );
    const TRANSFER_ID: &str = "6578529a-b819-4372-8ab4-8b8b482e1314/3141592653";

    fn context(file_name: &str) -> Context {
        Context {
            path: format!("/var/log/fts3/transfers/2024-06-12/xrd01.example.org__se01.example.org/{file_name}"),
            file_name: file_name.into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> (Vec<Event>, crate::stream::Stats) {
        parse_text(text, None, context(FILE_NAME)).unwrap()
    }

    fn by_line(events: &[Event], number: u64) -> Vec<&Event> {
        events
            .iter()
            .filter(|e| e.origin.line == number && !e.action.is_empty())
            .collect()
    }

    #[test]
    fn file_name_gives_job_and_file_ids() {
        assert_eq!(
            ids_from_file_name(FILE_NAME),
            Some((
                "6578529a-b819-4372-8ab4-8b8b482e1314".to_string(),
                "3141592653".to_string()
            ))
        );
        assert_eq!(
            ids_from_file_name(&format!("{FILE_NAME}.debug")).unwrap().1,
            "3141592653"
        );
        assert_eq!(ids_from_file_name("fts3server.log"), None);
        assert_eq!(ids_from_file_name("a__b__c__x1__j"), None);
    }

    #[test]
    fn reference_transfer_log_is_detected_and_fully_read() {
        let (events, stats) = parse(REFERENCE);
        assert!(
            events.iter().all(|e| e.source == "fts-transfer"),
            "{events:#?}"
        );
        assert_eq!(stats.formats["fts-transfer"].errors, 0);
        assert_eq!(stats.formats["fts-transfer"].lines, 10);
    }

    #[test]
    fn source_token_line_gives_claims_path_and_token_id() {
        let (events, _) = parse(REFERENCE);
        let found = by_line(&events, 1);
        assert_eq!(found.len(), 1);
        let event = found[0];
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.status, "source token");
        assert_eq!(event.iss, "https://atlas-auth.cern.ch");
        assert_eq!(event.aud, vec!["https://xrd01.example.org"]);
        assert_eq!(event.scopes, vec!["storage.read:/atlas/rucio"]);
        assert_eq!(event.token_iat, Some(Timestamp::from_secs(1_718_194_319)));
        assert_eq!(event.token_exp, Some(Timestamp::from_secs(1_718_197_919)));
        assert_eq!(event.sub, "");
        assert_eq!(event.jti, "");
        assert_eq!(event.session_id, "4e375621a6ebbe01");
        assert_eq!(event.transfer_id, TRANSFER_ID);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:11:59.000Z");
    }

    #[test]
    fn destination_token_line_gives_its_own_claims_and_id() {
        let (events, _) = parse(REFERENCE);
        let event = by_line(&events, 2)[0];
        assert_eq!(event.status, "destination token");
        assert_eq!(event.aud, vec!["https://se01.example.org"]);
        assert_eq!(
            event.scopes,
            vec![
                "storage.create:/atlas/atlasdatadisk/rucio",
                "storage.modify:/atlas/atlasdatadisk/rucio"
            ]
        );
        assert_eq!(event.session_id, "9c1d7e3f20ab4c55");
    }

    #[test]
    fn token_id_and_header_lines_are_kept_without_events() {
        let (events, _) = parse(REFERENCE);
        for number in [3, 4, 6, 7, 8, 9] {
            let kept: Vec<&Event> = events.iter().filter(|e| e.origin.line == number).collect();
            assert_eq!(kept.len(), 1, "line {number}");
            assert_eq!(kept[0].action, "", "line {number}");
        }
    }

    #[test]
    fn job_id_line_is_the_submit_with_transfer_id_and_destination_claims() {
        let (events, _) = parse(REFERENCE);
        let event = by_line(&events, 5)[0];
        assert_eq!(event.action, action::TRANSFER_SUBMIT);
        assert_eq!(event.transfer_id, TRANSFER_ID);
        assert_eq!(event.aud, vec!["https://se01.example.org"]);
        assert_eq!(event.iss, "https://atlas-auth.cern.ch");
    }

    #[test]
    fn finished_line_is_the_done_with_bytes_and_duration() {
        let (events, _) = parse(REFERENCE);
        let event = by_line(&events, 10)[0];
        assert_eq!(event.action, action::TRANSFER_DONE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.status, "finished");
        assert_eq!(event.bytes, Some(1_073_741_824));
        assert_eq!(event.duration_ms, Some(48_000));
        assert_eq!(event.transfer_id, TRANSFER_ID);
        assert_eq!(event.scopes.len(), 2);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:12:54.000Z");
    }

    #[test]
    fn failed_transfer_with_urls_carries_paths_and_error() {
        let file_name = "2024-06-12-1220__xrd01.example.org__se01.example.org__3141592654__6578529a-b819-4372-8ab4-8b8b482e1314";
        let (events, stats) = parse_text(FAILED, None, context(file_name)).unwrap();
        assert_eq!(stats.formats["fts-transfer"].errors, 0);
        let submit = events
            .iter()
            .find(|e| e.action == action::TRANSFER_SUBMIT)
            .unwrap();
        assert_eq!(submit.origin.line, 1);
        assert_eq!(
            submit.path,
            "/pnfs/example.org/data/atlas/atlasdatadisk/rucio/f.root"
        );
        assert_eq!(submit.protocol, "webdav");
        assert_eq!(
            submit.transfer_id,
            "6578529a-b819-4372-8ab4-8b8b482e1314/3141592654"
        );
        let source = events.iter().find(|e| e.status == "source token").unwrap();
        assert_eq!(source.path, "/atlas/rucio/f.root");
        assert_eq!(source.protocol, "root");
        let refresh: Vec<&Event> = events
            .iter()
            .filter(|e| e.action == action::TOKEN_REFRESH)
            .collect();
        assert_eq!(refresh.len(), 2);
        assert_eq!(refresh[0].session_id, "9c1d7e3f20ab4c55");
        assert_eq!(
            refresh[0].token_exp,
            Some(Timestamp::from_secs(1_718_197_919))
        );
        assert_eq!(refresh[1].outcome, outcome::OK);
        assert_eq!(
            refresh[1].token_exp,
            Some(Timestamp::from_secs(1_718_201_519))
        );
        let done = events
            .iter()
            .find(|e| e.action == action::TRANSFER_DONE)
            .unwrap();
        assert_eq!(done.outcome, outcome::FAIL);
        assert!(
            done.status.starts_with("[13] DESTINATION"),
            "{}",
            done.status
        );
        // The refreshed destination token is the one the transfer ended with.
        assert_eq!(done.token_exp, Some(Timestamp::from_secs(1_718_201_519)));
        assert_eq!(done.duration_ms, Some(55_000));
    }

    #[test]
    fn unfinished_log_still_yields_its_submit_at_the_end() {
        let text = "INFO    Wed, 12 Jun 2024 14:11:59 +0200; Transfer accepted\nINFO    Wed, 12 Jun 2024 14:11:59 +0200; Source token: {\"iss\":\"https://atlas-auth.cern.ch/\"}\n";
        let (events, _) = parse(text);
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec![action::TRANSFER_SUBMIT, action::OTHER]);
        assert_eq!(events[0].transfer_id, TRANSFER_ID);
    }

    #[test]
    fn broken_token_payload_is_malformed() {
        let text =
            "INFO    Wed, 12 Jun 2024 14:11:59 +0200; Source token: {\"aud\":\"https://xrd01";
        let (events, stats) = parse(text);
        assert_eq!(stats.formats["fts-transfer"].errors, 1);
        assert_eq!(events[0].status, "unparsed");
    }

    #[test]
    fn sniffer_is_specific() {
        let line = "INFO    Wed, 12 Jun 2024 14:11:59 +0200; Job id: 6578529a";
        assert!(sniff(line, "anything.log"));
        assert!(!sniff(line, "fts3token.log"));
        assert!(!sniff(
            "INFO    Wed, 12 Jun 2024 14:10:02 +0200; Starting token-exchange: token_id=4e37",
            "fts3token.log"
        ));
        assert!(!sniff(
            "INFO    Wed, 12 Jun 2024 14:10:02 +0200; Starting token-exchange: token_id=4e37",
            ""
        ));
        assert!(sniff(
            "INFO    Wed, 12 Jun 2024 14:10:02 +0200; Gfal2: some plugin line",
            FILE_NAME
        ));
        assert!(!sniff("240612 14:03:22 4711 XrootdXeq: x", FILE_NAME));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "(INFO|ERR)     ?[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} [+-][0-9]{4}; (Source token: |Destination token id: |Job id: |Dest url: |bytes: |Transfer accepted|Transfer finished successfully|Non recoverable error: |Requesting source token refresh: |Successfully refreshed access token for destination: )?\\PC{0,40}") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("fts-transfer"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}
