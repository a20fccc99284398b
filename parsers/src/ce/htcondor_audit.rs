//! `htcondor-ce-audit`: the HTCondor-CE / schedd AuditLog (`/var/log/condor-ce/AuditLog`,
//! `SchedAuditLog`, rotated `AuditLog.20250304T010000` / `.old`), formats/ce.md §2. The same
//! `D_AUDIT` messages in a SchedLog are handled by `htcondor-schedlog` with this module's
//! [`AuditState`], and still carry this format's id as their source.
//!
//! Header as in §1 ([`super::htcondor_log`]), then one of (A1–A15):
//! ```text
//! Examining SciToken with payload {JSON}.          → other, status token-examined, all claims
//! Failed to decode a SciToken … - rejecting.       → auth.fail
//! Command=QMGMT_WRITE_CMD, peer=<192.0.2.77:41234> → other, status = command, client_ip
//! AuthMethod=M, AuthId=<iss>,<sub>, CondorId=u@d   → auth.login, iss/sub, local_user = u
//! Authentication Failed, MethodsTried=LIST         → auth.fail, with the examined token's claims
//! Authorization Denied                             → authz.deny
//! Submitting new job C.P                           → job.submit
//! Set Attribute … / Set Timer Attribute …          → other, job_id
//! Remove|Hold|… jobs C.P[,C.P] / … by constraint E → job.remove / job.hold / other; "Finished …" → other
//! Transferring files for jobs … / spoolJobFiles… / Transfer completed → other
//! GET_JOB_CONNECT_INFO for job C.P                 → other, job_id
//! Received proxy for job C.P / proxy …:            → other
//! Remote entity presented valid token with payload {JSON}. → other, status idtoken-examined
//! Token Issued: {JSON}                             → token.issue (token.exchange on DC_EXCHANGE_SCITOKEN, parent_jti)
//! ```
//! Lines of one connection share `(cid:N)`; every event of a connection gets the claims of the
//! token examined on it (`jti`, `iss`, `sub`, `scopes`, `aud`, `groups`, `client_id`,
//! `token_iat`, `token_exp`), `client_ip` from `peer=`, `local_user` from `CondorId`, and
//! `session_id` = `<host>:cid:<n>@<daemon start>` (docs/conventions.md). `job_id` is
//! `<host>#C.P`, or `C.P` alone when the stream's host is unknown.
//!
//! A cid is unique only within one daemon run. A new run is assumed at the schedd's startup
//! banner (`** … STARTING UP`, SchedLog only), when a cid already seen opens a connection again
//! (a second `Command=` or payload on it), or when a new connection's cid is more than
//! [`CID_REORDER_WINDOW`] below the highest seen; then all connection state is dropped. The
//! daemon start in `session_id` is the banner's time, else the time of the run's first line in
//! this stream (a connection that spans a rotation thus gets two session ids).
//!
//! A connection that resumes a cached security session has no payload line: its SCITOKENS
//! `AuthId` is looked up among the tokens that authenticated successfully in this run of this
//! stream (most recent first, same iss + sub), and its `auth.login`/`job.submit`/… events get
//! `status` = `cached-session` — the claims then describe the session's token, not necessarily
//! the one the client held. In a SchedLog the payload line has no cid; it is tied to the next
//! `AuthMethod=` line whose iss + sub match it.

use std::collections::{BTreeMap, HashMap};

use super::htcondor_log::{
    banner, file_hint, job_number, line_host, qualified_job_id, sinful_ip, sniff_message, Banner,
    DaemonLogParser, Handler, Header,
};
use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::jwt::Claims;
use crate::parser::{Context, Feed, Format, Line};

/// The `htcondor-ce-audit` format.
pub static FORMAT: Format = Format {
    id: "htcondor-ce-audit",
    service: Service::Ce,
    summary: "HTCondor-CE / schedd AuditLog (and D_AUDIT lines in SchedLog)",
    programs: &["condor_schedd"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(DaemonLogParser::new(
            AuditHandler {
                state: AuditState::default(),
            },
            context,
        ))
    },
};

/// How far below the highest cid a new connection's cid may be before a restart is assumed:
/// authentications complete out of order, so a few cids arrive late.
pub const CID_REORDER_WINDOW: u64 = 1000;

/// Connections kept per run; the oldest are forgotten beyond this.
const MAX_CONNECTIONS: usize = 20_000;

/// `status` of events whose token comes from a cached security session.
pub const CACHED_SESSION: &str = "cached-session";

/// Message prefixes of the audit messages A1–A15.
const AUDIT_PREFIXES: &[&str] = &[
    "Examining SciToken with payload ",
    "Failed to decode a SciToken",
    "Command=",
    "AuthMethod=",
    "Authentication Failed",
    "Authorization Denied",
    "Submitting new job ",
    "Set Attribute ",
    "Set Timer Attribute ",
    "Transferring files for jobs ",
    "spoolJobFiles(): started worker process",
    "Transfer completed",
    "GET_JOB_CONNECT_INFO for job ",
    "Received proxy for job ",
    "proxy path:",
    "proxy expiration:",
    "proxy identity:",
    "proxy subject:",
    "proxy vo name:",
    "proxy first fqan:",
    "proxy full fqan:",
    "Remote entity presented valid token with payload ",
    "Token Issued: ",
];

/// The job actions of A10 (HTC `enum_utils.cpp`).
const JOB_ACTIONS: &[&str] = &[
    "Hold",
    "Release",
    "Remove",
    "Remove-Force",
    "Vacate",
    "Vacate-Fast",
    "Suspend",
    "Continue",
    "TransferAndRemove",
    "ClearDirtyAttrs",
];

/// Is this message one of the audit messages A1–A15?
pub fn is_audit_message(message: &str) -> bool {
    AUDIT_PREFIXES.iter().any(|p| message.starts_with(p)) || job_action(message).is_some()
}

fn hinted(file_name: &str) -> bool {
    file_hint(file_name, "AuditLog") || file_hint(file_name, "SchedAuditLog")
}

fn sniff(text: &str, file_name: &str) -> bool {
    // A SchedLog's audit lines go to htcondor-schedlog, which keeps them in one state.
    if file_hint(file_name, "SchedLog") {
        return false;
    }
    match sniff_message(text) {
        Some(message) => hinted(file_name) || is_audit_message(message),
        None => false,
    }
}

/// `Remove jobs 1.0,1.1` / `Finished Hold by constraint …` → (finished, action, rest).
fn job_action(message: &str) -> Option<(bool, &str, &str)> {
    let (finished, body) = match message.strip_prefix("Finished ") {
        Some(body) => (true, body),
        None => (false, message),
    };
    let (word, rest) = body.split_once(' ')?;
    if !JOB_ACTIONS.contains(&word) {
        return None;
    }
    if rest.starts_with("jobs ") || rest.starts_with("by constraint ") {
        Some((finished, word, rest))
    } else {
        None
    }
}

/// One connection (cid) of the current daemon run.
#[derive(Clone, Debug, Default)]
struct Connection {
    token: Option<Claims>,
    cached: bool,
    command: String,
    peer_ip: String,
    local_user: String,
    auth_method: String,
    /// `(iss, sub)` of a SCITOKENS `AuthId`, for events of a session whose token is unknown.
    identity: Option<(String, String)>,
}

/// The audit state of one stream: connections of the current daemon run, the tokens that
/// authenticated in it, restart detection.
#[derive(Debug, Default)]
pub struct AuditState {
    /// The run's start as RFC 3339 (empty until a line with a time), the last part of every
    /// session id of the run: formatted once per run (per event it was nearly a tenth of
    /// this parser's time).
    run_start: String,
    max_cid: u64,
    connections: BTreeMap<u64, Connection>,
    /// A payload line without a cid (SchedLog), waiting for its connection's `AuthMethod=`.
    unbound: Option<Claims>,
    /// Tokens that authenticated in this run, by (iss without trailing `/`, sub).
    recent: HashMap<(String, String), Claims>,
}

fn issuer_key(iss: &str) -> String {
    iss.trim_end_matches('/').to_string()
}

fn local_account(condor_id: &str) -> &str {
    match condor_id.rsplit_once('@') {
        Some((user, _)) => user,
        None => condor_id,
    }
}

fn payload(message: &str, prefix: &str) -> Option<Result<Claims, ()>> {
    let body = message.strip_prefix(prefix)?.trim_end();
    let body = body.strip_suffix('.').unwrap_or(body);
    Some(Claims::from_json_text(body).ok_or(()))
}

impl AuditState {
    /// Every header line of the stream passes here first: startup banners start a new run.
    pub fn observe(&mut self, header: &Header<'_>) {
        if self.run_start.is_empty() {
            self.start_run_at(header.time);
        }
        if banner(header.message) == Some(Banner::Starting) {
            self.restart(header.time);
        }
    }

    fn start_run_at(&mut self, time: Option<Timestamp>) {
        self.run_start = time.map(|time| time.to_rfc3339()).unwrap_or_default();
    }

    fn restart(&mut self, time: Option<Timestamp>) {
        self.start_run_at(time);
        self.max_cid = 0;
        self.connections.clear();
        self.unbound = None;
        self.recent.clear();
    }

    /// A connection's first line: checks that the cid really opens a new connection of this
    /// run, else starts a new run.
    fn open(&mut self, cid: u64, time: Option<Timestamp>, reused: impl Fn(&Connection) -> bool) {
        let restarted = match self.connections.get(&cid) {
            Some(connection) => reused(connection),
            None => cid.saturating_add(CID_REORDER_WINDOW) < self.max_cid,
        };
        if restarted {
            self.restart(time);
        }
        self.max_cid = self.max_cid.max(cid);
        self.connections.entry(cid).or_default();
        while self.connections.len() > MAX_CONNECTIONS {
            self.connections.pop_first();
        }
    }

    fn session_id(&self, host: &str, cid: u64) -> String {
        format!("{host}:cid:{cid}@{}", self.run_start)
    }

    /// An event of this format for `line`, with what the connection knows.
    fn event(&self, line: &Line<'_>, host: &str, cid: Option<u64>, name: &'static str) -> Event {
        let mut event = line.event(FORMAT.id, Service::Ce);
        event.action = name.into();
        if let Some(cid) = cid {
            event.session_id = self.session_id(host, cid);
            if let Some(connection) = self.connections.get(&cid) {
                event.client_ip.clone_from(&connection.peer_ip);
                event.local_user.clone_from(&connection.local_user);
                if let Some(token) = &connection.token {
                    token.fill(&mut event);
                } else if let Some((iss, sub)) = &connection.identity {
                    event.iss.clone_from(iss);
                    event.sub.clone_from(sub);
                }
                if connection.cached {
                    event.status = CACHED_SESSION.to_string();
                }
            }
        }
        event
    }

    /// Handles an audit message; `None` when the message is not one.
    pub fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Option<Feed> {
        let message = header.message.trim_end();
        let host = line_host(line, context).to_string();
        // Plain dprintf lines of an audit file print `(cid:0)`: no connection.
        let cid = header.cid.filter(|cid| *cid != 0);

        if let Some(parsed) = payload(message, "Examining SciToken with payload ")
            .map(|p| (p, "token-examined"))
            .or_else(|| {
                payload(message, "Remote entity presented valid token with payload ")
                    .map(|p| (p, "idtoken-examined"))
            })
        {
            let (claims, status) = parsed;
            let Ok(claims) = claims else {
                return Some(Feed::Malformed);
            };
            match cid {
                Some(cid) => {
                    self.open(cid, header.time, |c| c.token.is_some());
                    if let Some(connection) = self.connections.get_mut(&cid) {
                        connection.token = Some(claims.clone());
                        connection.cached = false;
                    }
                }
                None => self.unbound = Some(claims.clone()),
            }
            let mut event = self.event(line, &host, cid, action::OTHER);
            event.status = status.to_string();
            claims.fill(&mut event);
            out.push(event);
            return Some(Feed::Parsed);
        }

        if let Some(parsed) = payload(message, "Token Issued: ") {
            let Ok(issued) = parsed else {
                return Some(Feed::Malformed);
            };
            let (exchange, parent) = cid
                .and_then(|cid| self.connections.get(&cid))
                .map(|c| {
                    (
                        c.command.contains("EXCHANGE"),
                        c.token.as_ref().map(|t| t.jti.clone()).unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let mut event = line.event(FORMAT.id, Service::Ce);
            event.action = if exchange {
                action::TOKEN_EXCHANGE
            } else {
                action::TOKEN_ISSUE
            }
            .into();
            event.outcome = outcome::OK.into();
            if let Some(cid) = cid {
                event.session_id = self.session_id(&host, cid);
                if let Some(connection) = self.connections.get(&cid) {
                    event.client_ip.clone_from(&connection.peer_ip);
                    event.local_user.clone_from(&connection.local_user);
                }
            }
            if exchange {
                event.parent_jti = parent;
            }
            issued.fill(&mut event);
            out.push(event);
            return Some(Feed::Parsed);
        }

        if message.starts_with("Failed to decode a SciToken") {
            let mut event = self.event(line, &host, cid, action::AUTH_FAIL);
            event.outcome = outcome::FAIL.into();
            event.status = "failed to decode a scitoken".to_string();
            out.push(event);
            return Some(Feed::Parsed);
        }

        if let Some(rest) = message.strip_prefix("Command=") {
            let (command, peer) = match rest.split_once(", peer=") {
                Some((command, peer)) => (command, Some(peer)),
                None => (rest, None),
            };
            if let Some(cid) = cid {
                self.open(cid, header.time, |c| !c.command.is_empty());
                if let Some(connection) = self.connections.get_mut(&cid) {
                    connection.command = command.to_string();
                    connection.peer_ip = peer.and_then(sinful_ip).unwrap_or_default().to_string();
                }
            }
            let mut event = self.event(line, &host, cid, action::OTHER);
            event.status = command.to_string();
            if event.client_ip.is_empty() {
                if let Some(ip) = peer.and_then(sinful_ip) {
                    event.client_ip = ip.to_string();
                }
            }
            out.push(event);
            return Some(Feed::Parsed);
        }

        if message.starts_with("AuthMethod=") {
            return Some(self.auth_method(message, cid, header, line, &host, out));
        }

        if let Some(methods) = message.strip_prefix("Authentication Failed") {
            self.bind_unbound(cid, None);
            let mut event = self.event(line, &host, cid, action::AUTH_FAIL);
            event.outcome = outcome::FAIL.into();
            let methods = methods.trim_start_matches(',').trim();
            event.status = format!("authentication failed {methods}")
                .trim_end()
                .to_string();
            out.push(event);
            return Some(Feed::Parsed);
        }

        if message.starts_with("Authorization Denied") {
            let mut event = self.event(line, &host, cid, action::AUTHZ_DENY);
            event.outcome = outcome::FAIL.into();
            event.status = "authorization denied".to_string();
            out.push(event);
            return Some(Feed::Parsed);
        }

        if let Some(job) = message.strip_prefix("Submitting new job ") {
            let Some(job) = job_number(job) else {
                return Some(Feed::Malformed);
            };
            let mut event = self.event(line, &host, cid, action::JOB_SUBMIT);
            event.outcome = outcome::OK.into();
            event.job_id = qualified_job_id(&host, job);
            out.push(event);
            return Some(Feed::Parsed);
        }

        if let Some((finished, verb, rest)) = job_action(message) {
            let name = match (finished, verb) {
                (true, _) => action::OTHER,
                (false, "Remove" | "Remove-Force" | "TransferAndRemove") => action::JOB_REMOVE,
                (false, "Hold") => action::JOB_HOLD,
                _ => action::OTHER,
            };
            let status = if finished {
                format!("finished {verb}")
            } else {
                verb.to_string()
            };
            if let Some(constraint) = rest.strip_prefix("by constraint ") {
                let mut event = self.event(line, &host, cid, name);
                event.outcome = outcome::OK.into();
                event.status = format!("{status} by constraint {constraint}");
                out.push(event);
                return Some(Feed::Parsed);
            }
            let jobs = rest.strip_prefix("jobs ").unwrap_or(rest);
            return Some(self.per_job(jobs, line, &host, cid, name, &status, out));
        }

        if let Some(jobs) = message.strip_prefix("Transferring files for jobs ") {
            return Some(self.per_job(
                jobs,
                line,
                &host,
                cid,
                action::OTHER,
                "transferring input files",
                out,
            ));
        }

        for (prefix, status) in [
            ("Set Attribute for job ", "set attribute"),
            ("Set Timer Attribute for job ", "set timer attribute"),
            ("GET_JOB_CONNECT_INFO for job ", "GET_JOB_CONNECT_INFO"),
            ("Received proxy for job ", "received proxy"),
        ] {
            if let Some(rest) = message.strip_prefix(prefix) {
                let job = rest.split([',', ' ']).next().unwrap_or_default();
                let mut event = self.event(line, &host, cid, action::OTHER);
                if let Some(job) = job_number(job) {
                    event.job_id = qualified_job_id(&host, job);
                }
                let attribute = rest
                    .split_once(", ")
                    .and_then(|(_, assignment)| assignment.split(" = ").next())
                    .filter(|_| status.starts_with("set"));
                event.status = match attribute {
                    Some(attribute) => format!("{status} {attribute}"),
                    None => status.to_string(),
                };
                out.push(event);
                return Some(Feed::Parsed);
            }
        }

        if is_audit_message(message) {
            // Set Attribute By Constraint, proxy details, spool worker, transfer completed.
            let mut event = self.event(line, &host, cid, action::OTHER);
            if message.starts_with("Transfer completed") {
                event.status = "transfer completed".to_string();
            }
            out.push(event);
            return Some(Feed::Parsed);
        }
        None
    }

    /// Ties a cid-less payload (SchedLog) to the connection that authenticates next, when its
    /// identity matches (or when none is given).
    fn bind_unbound(&mut self, cid: Option<u64>, identity: Option<(&str, &str)>) {
        let Some(cid) = cid else { return };
        let has_token = self
            .connections
            .get(&cid)
            .is_some_and(|c| c.token.is_some());
        if has_token {
            return;
        }
        let Some(unbound) = self.unbound.take() else {
            return;
        };
        let matches = identity.is_none_or(|(iss, sub)| {
            issuer_key(&unbound.iss) == issuer_key(iss) && unbound.sub == sub
        });
        if matches {
            self.connections.entry(cid).or_default().token = Some(unbound);
        } else {
            self.unbound = Some(unbound);
        }
    }

    fn auth_method(
        &mut self,
        message: &str,
        cid: Option<u64>,
        header: &Header<'_>,
        line: &Line<'_>,
        host: &str,
        out: &mut Vec<Event>,
    ) -> Feed {
        // A VOMS/SSL AuthId may itself hold ", ": split CondorId off from the right.
        let (left, condor_id) = match message.rsplit_once(", CondorId=") {
            Some((left, condor_id)) => (left, condor_id),
            None => (message, ""),
        };
        let left = left.strip_prefix("AuthMethod=").unwrap_or(left);
        let (method, auth_id) = match left.split_once(", AuthId=") {
            Some((method, auth_id)) => (method, auth_id),
            None => (left, ""),
        };
        // The iss is a URL without commas; the sub could have one: split at the first comma.
        let identity = if method == "SCITOKENS" {
            auth_id.split_once(',')
        } else {
            None
        };
        if let Some(cid) = cid {
            // Normally `Command=` opened the connection already; if not, this line does.
            self.open(cid, header.time, |_| false);
        }
        self.bind_unbound(cid, identity);
        let local_user = local_account(condor_id).to_string();
        if let Some(connection) = cid.and_then(|cid| self.connections.get_mut(&cid)) {
            connection.local_user.clone_from(&local_user);
            connection.auth_method = method.to_string();
            connection.identity = identity.map(|(iss, sub)| (iss.to_string(), sub.to_string()));
            if let Some((iss, sub)) = identity {
                let token_matches = connection
                    .token
                    .as_ref()
                    .map(|token| issuer_key(&token.iss) == issuer_key(iss) && token.sub == sub);
                match token_matches {
                    Some(true) => {
                        if let Some(token) = &connection.token {
                            self.recent
                                .insert((issuer_key(iss), sub.to_string()), token.clone());
                        }
                    }
                    // A payload of another identity cannot be this session's token.
                    Some(false) => connection.token = None,
                    None => {}
                }
                if connection.token.is_none() {
                    connection.cached = true;
                    connection.token = self
                        .recent
                        .get(&(issuer_key(iss), sub.to_string()))
                        .cloned();
                }
            }
        }
        let mut event = self.event(line, host, cid, action::AUTH_LOGIN);
        event.outcome = outcome::OK.into();
        if let Some((iss, sub)) = identity {
            event.iss = iss.to_string();
            event.sub = sub.to_string();
        }
        if event.local_user.is_empty() {
            event.local_user = local_user;
        }
        if event.status.is_empty() {
            event.status = method.to_string();
        }
        out.push(event);
        Feed::Parsed
    }

    #[allow(clippy::too_many_arguments)]
    fn per_job(
        &self,
        jobs: &str,
        line: &Line<'_>,
        host: &str,
        cid: Option<u64>,
        name: &'static str,
        status: &str,
        out: &mut Vec<Event>,
    ) -> Feed {
        let jobs: Vec<&str> = jobs.split(',').filter_map(job_number).collect();
        if jobs.is_empty() {
            return Feed::Malformed;
        }
        for job in jobs {
            let mut event = self.event(line, host, cid, name);
            event.job_id = qualified_job_id(host, job);
            if name != action::OTHER {
                event.outcome = outcome::OK.into();
            }
            if event.status != CACHED_SESSION {
                event.status = status.to_string();
            }
            out.push(event);
        }
        Feed::Parsed
    }
}

struct AuditHandler {
    state: AuditState,
}

impl Handler for AuditHandler {
    fn handle(
        &mut self,
        header: &Header<'_>,
        line: &Line<'_>,
        context: &Context,
        out: &mut Vec<Event>,
    ) -> Feed {
        self.state.observe(header);
        match self.state.handle(header, line, context, out) {
            Some(feed) => feed,
            None if self.hinted(context) => Feed::Ignored,
            None => Feed::NotMine,
        }
    }

    fn hinted(&self, context: &Context) -> bool {
        hinted(&context.file_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    const A1_CMS: &str = r#"03/04/25 10:15:02 (cid:48213) Examining SciToken with payload {"wlcg.ver":"1.0","sub":"95851aad-083d-49e5-8c3a-61d0438d201e","aud":"https:\/\/wlcg.cern.ch\/jwt\/v1\/any","nbf":1741083000,"scope":"compute.cancel compute.create compute.modify compute.read","iss":"https:\/\/cms-auth.cern.ch\/","exp":1741086600,"iat":1741083000,"jti":"034a2f47-eaad-4f5d-bb98-abf569609366","client_id":"cf36cdcd-b905-422b-a906-065d1ae8fbd6"}."#;
    const CMS_JTI: &str = "034a2f47-eaad-4f5d-bb98-abf569609366";
    const CMS_SUB: &str = "95851aad-083d-49e5-8c3a-61d0438d201e";
    const CMS_ISS: &str = "https://cms-auth.cern.ch";
    const WLCG_JTI: &str = "f2f487bc-1a3f-49e6-bd6b-ff1a8f4ec777";

    fn context(file_name: &str, host: &str) -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            host: host.into(),
            path: format!("logs/{file_name}"),
            file_name: file_name.into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, None, context("AuditLog", "ce01.example.org"))
            .unwrap()
            .0
    }

    fn reference() -> String {
        include_str!("../../../tests/fixtures/htcondor-ce-audit/AuditLog.20250304T000000")
            .to_string()
    }

    #[test]
    fn examined_scitoken_gives_every_claim_with_escaped_slashes() {
        let events = parse(A1_CMS);
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.source, "htcondor-ce-audit");
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.status, "token-examined");
        assert_eq!(event.jti, CMS_JTI);
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.iss, CMS_ISS);
        assert_eq!(event.aud, vec!["https://wlcg.cern.ch/jwt/v1/any"]);
        assert_eq!(event.client_id, "cf36cdcd-b905-422b-a906-065d1ae8fbd6");
        assert_eq!(event.scopes.len(), 4);
        assert_eq!(event.scopes[0], "compute.cancel");
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-04T11:10:00.000Z"
        );
        assert_eq!(
            event.token_iat.unwrap().to_rfc3339(),
            "2025-03-04T10:10:00.000Z"
        );
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:15:02.000Z");
        assert_eq!(event.host, "ce01.example.org");
        assert_eq!(
            event.session_id,
            "ce01.example.org:cid:48213@2025-03-04T10:15:02.000Z"
        );
    }

    #[test]
    fn reference_example_1_payload_line() {
        let events = parse(&reference());
        assert_eq!(events[0].origin.line, 1);
        assert_eq!(events[0].jti, CMS_JTI);
    }

    #[test]
    fn reference_example_2_command_line_gives_peer_ip() {
        let events = parse(&reference());
        let event = &events[1];
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.status, "QMGMT_WRITE_CMD");
        assert_eq!(event.client_ip, "192.0.2.77");
        assert_eq!(event.jti, CMS_JTI);
    }

    #[test]
    fn reference_example_3_auth_method_gives_login_and_local_user() {
        let events = parse(&reference());
        let event = &events[2];
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.iss, CMS_ISS);
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.local_user, "cmspilot");
        assert_eq!(event.jti, CMS_JTI);
        assert_eq!(event.status, "SCITOKENS");
    }

    #[test]
    fn reference_examples_4_and_5_submissions_carry_the_token() {
        let events = parse(&reference());
        for (index, job) in [
            (3, "ce01.example.org#1523.0"),
            (4, "ce01.example.org#1523.1"),
        ] {
            let event = &events[index];
            assert_eq!(event.action, action::JOB_SUBMIT);
            assert_eq!(event.outcome, outcome::OK);
            assert_eq!(event.job_id, job);
            assert_eq!(event.jti, CMS_JTI);
            assert_eq!(event.sub, CMS_SUB);
            assert_eq!(event.iss, CMS_ISS);
            assert_eq!(event.client_id, "cf36cdcd-b905-422b-a906-065d1ae8fbd6");
            assert_eq!(event.groups, Vec::<String>::new());
            assert_eq!(event.aud, vec!["https://wlcg.cern.ch/jwt/v1/any"]);
            assert_eq!(event.client_ip, "192.0.2.77");
            assert_eq!(event.local_user, "cmspilot");
            assert_eq!(
                event.session_id,
                "ce01.example.org:cid:48213@2025-03-04T10:15:02.000Z"
            );
            assert_eq!(event.status, "");
        }
    }

    #[test]
    fn reference_examples_6_to_8_cached_session_spool_is_linked_to_the_recent_token() {
        let events = parse(&reference());
        assert_eq!(events[5].status, "SPOOL_JOB_FILES_WITH_PERMS");
        assert_eq!(events[5].client_ip, "192.0.2.77");
        let login = &events[6];
        assert_eq!(login.action, action::AUTH_LOGIN);
        assert_eq!(login.status, CACHED_SESSION);
        assert_eq!(login.jti, CMS_JTI);
        let transfers: Vec<_> = events[7..9].iter().collect();
        assert_eq!(transfers[0].job_id, "ce01.example.org#1523.0");
        assert_eq!(transfers[1].job_id, "ce01.example.org#1523.1");
        assert!(transfers.iter().all(|e| e.jti == CMS_JTI));
        assert!(transfers
            .iter()
            .all(|e| e.session_id.starts_with("ce01.example.org:cid:48219@")));
    }

    #[test]
    fn reference_examples_9_and_10_remove_and_finished() {
        let events = parse(&reference());
        let remove = &events[9];
        assert_eq!(remove.action, action::JOB_REMOVE);
        assert_eq!(remove.job_id, "ce01.example.org#1523.1");
        assert_eq!(remove.status, "Remove");
        assert_eq!(
            remove.time.unwrap().to_rfc3339(),
            "2025-03-04T13:02:44.000Z"
        );
        let finished = &events[10];
        assert_eq!(finished.action, action::OTHER);
        assert_eq!(finished.status, "finished Remove");
        assert_eq!(finished.job_id, "ce01.example.org#1523.1");
    }

    #[test]
    fn reference_examples_11_to_13_failed_authentication_keeps_the_payload() {
        let events = parse(&reference());
        let examined = &events[11];
        assert_eq!(examined.jti, WLCG_JTI);
        assert_eq!(examined.groups, vec!["/wlcg", "/wlcg/pilots"]);
        assert_eq!(examined.aud, vec!["ce01.example.org:9619"]);
        assert_eq!(events[12].client_ip, "198.51.100.23");
        let failed = &events[13];
        assert_eq!(failed.action, action::AUTH_FAIL);
        assert_eq!(failed.outcome, outcome::FAIL);
        assert_eq!(failed.jti, WLCG_JTI);
        assert_eq!(failed.sub, "8f67ea7b-71e7-4394-bbcf-8963ab1a175e");
        assert_eq!(failed.iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(failed.client_ip, "198.51.100.23");
        assert!(failed.status.contains("SCITOKENS,SSL"));
    }

    #[test]
    fn reference_example_14_pid_sub_second_category_variant() {
        let events = parse(&reference());
        let event = &events[14];
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T15:01:12.417Z");
        assert_eq!(event.iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(event.sub, "c27a26b3-8f45-4cff-bd19-c0c09ca9dc13");
        assert_eq!(event.local_user, "wlcgpilot");
        // A cached session of an identity whose token this stream never saw.
        assert_eq!(event.status, CACHED_SESSION);
        assert_eq!(event.jti, "");
        assert_eq!(events.len(), 15);
    }

    #[test]
    fn interleaved_connections_restart_and_cached_session_get_the_right_tokens() {
        let text = include_str!("../../../tests/fixtures/htcondor-ce-audit/AuditLog.interleaved");
        let (events, stats) =
            parse_text(text, None, context("AuditLog", "ce01.example.org")).unwrap();
        assert_eq!(stats.formats["htcondor-ce-audit"].errors, 0);
        let submits: Vec<(&str, &str, &str, &str, &str)> = events
            .iter()
            .filter(|e| e.action == action::JOB_SUBMIT)
            .map(|e| {
                (
                    e.job_id.as_str(),
                    e.jti.as_str(),
                    e.sub.as_str(),
                    e.iss.as_str(),
                    e.status.as_str(),
                )
            })
            .collect();
        assert_eq!(
            submits,
            vec![
                (
                    "ce01.example.org#100.0",
                    "jti-alice-1",
                    "alice",
                    "https://iss-a.example.org",
                    ""
                ),
                (
                    "ce01.example.org#101.0",
                    "jti-bob-1",
                    "bob",
                    "https://iss-b.example.org",
                    ""
                ),
                (
                    "ce01.example.org#100.1",
                    "jti-alice-1",
                    "alice",
                    "https://iss-a.example.org",
                    ""
                ),
                // Cached session of alice: the most recent alice token.
                (
                    "ce01.example.org#102.0",
                    "jti-alice-1",
                    "alice",
                    "https://iss-a.example.org",
                    CACHED_SESSION
                ),
                // After the restart cid 11 is reused by carol: never bob's or alice's token.
                (
                    "ce01.example.org#1.0",
                    "jti-carol-1",
                    "carol",
                    "https://iss-a.example.org",
                    ""
                ),
                // A cached session right after the restart finds no token of this run.
                (
                    "ce01.example.org#2.0",
                    "",
                    "bob",
                    "https://iss-b.example.org",
                    CACHED_SESSION
                ),
                (
                    "ce01.example.org#3.0",
                    "jti-alice-2",
                    "alice",
                    "https://iss-a.example.org",
                    ""
                ),
            ]
        );
        let sessions: Vec<&str> = events
            .iter()
            .filter(|e| e.action == action::JOB_SUBMIT)
            .map(|e| e.session_id.as_str())
            .collect();
        assert_eq!(
            sessions[1],
            "ce01.example.org:cid:11@2025-03-04T10:00:00.000Z"
        );
        assert_eq!(
            sessions[4],
            "ce01.example.org:cid:11@2025-03-04T12:00:00.000Z"
        );
        // The failed bob authentication in the new run keeps its payload with outcome fail.
        let failed = events
            .iter()
            .find(|e| e.action == action::AUTH_FAIL)
            .unwrap();
        assert_eq!(failed.jti, "jti-bob-2");
        assert_eq!(failed.outcome, outcome::FAIL);
    }

    #[test]
    fn cid_going_far_backwards_starts_a_new_run() {
        let text = "03/04/25 10:00:00 (cid:5000) Examining SciToken with payload {\"iss\":\"https://i\",\"sub\":\"s\",\"jti\":\"j1\"}.\n\
03/04/25 10:00:00 (cid:5000) AuthMethod=SCITOKENS, AuthId=https://i,s, CondorId=u@d\n\
03/04/25 10:05:00 (cid:3) AuthMethod=SCITOKENS, AuthId=https://i,s, CondorId=u@d\n\
03/04/25 10:05:00 (cid:3) Command=QMGMT_WRITE_CMD, peer=<192.0.2.1:1>\n\
03/04/25 10:05:00 (cid:3) Submitting new job 9.0\n";
        let events = parse(text);
        let submit = events.last().unwrap();
        assert_eq!(submit.action, action::JOB_SUBMIT);
        assert_eq!(submit.jti, "");
        assert_eq!(submit.status, CACHED_SESSION);
        assert_eq!(
            submit.session_id,
            "ce01.example.org:cid:3@2025-03-04T10:05:00.000Z"
        );
    }

    #[test]
    fn unknown_host_gives_bare_job_ids() {
        let (events, _) = parse_text(
            "03/04/25 10:15:02 (cid:7) Submitting new job 1523.0",
            None,
            context("AuditLog", ""),
        )
        .unwrap();
        assert_eq!(events[0].job_id, "1523.0");
        assert_eq!(events[0].session_id, ":cid:7@2025-03-04T10:15:02.000Z");
    }

    #[test]
    fn hold_by_constraint_and_multi_job_lists() {
        let text = "03/04/25 10:00:00 (cid:8) Hold by constraint Owner == \"x\"\n\
03/04/25 10:00:01 (cid:8) Hold jobs 1.0,1.1, 2.0\n\
03/04/25 10:00:02 (cid:8) Vacate jobs 3.0\n";
        let events = parse(text);
        assert_eq!(events[0].action, action::JOB_HOLD);
        assert_eq!(events[0].job_id, "");
        assert!(events[0].status.contains("by constraint Owner"));
        let holds: Vec<_> = events[1..4].iter().map(|e| e.job_id.as_str()).collect();
        assert_eq!(
            holds,
            vec![
                "ce01.example.org#1.0",
                "ce01.example.org#1.1",
                "ce01.example.org#2.0"
            ]
        );
        assert_eq!(events[4].action, action::OTHER);
        assert_eq!(events[4].status, "Vacate");
    }

    #[test]
    fn token_exchange_links_the_minted_token_to_the_examined_one() {
        let text = "03/04/25 10:00:00 (cid:3) Command=DC_EXCHANGE_SCITOKEN, peer=<[2001:db8::1]:40000>\n\
03/04/25 10:00:00 (cid:3) AuthMethod=FS, AuthId=cmspilot, CondorId=cmspilot@users.htcondor.org\n\
03/04/25 10:00:00 (cid:3) Examining SciToken with payload {\"iss\":\"https:\\/\\/i.example\",\"sub\":\"s1\",\"jti\":\"outer\"}.\n\
03/04/25 10:00:00 (cid:3) Token Issued: {\"iat\":1741082400,\"iss\":\"ce01.example.org\",\"jti\":\"minted\",\"sub\":\"cmspilot@users.htcondor.org\",\"scope\":\"condor:/READ\"}\n";
        let events = parse(text);
        assert_eq!(events[0].client_ip, "2001:db8::1");
        assert_eq!(events[1].status, "FS");
        assert_eq!(events[1].iss, "");
        assert_eq!(events[2].jti, "outer");
        let issued = &events[3];
        assert_eq!(issued.action, action::TOKEN_EXCHANGE);
        assert_eq!(issued.jti, "minted");
        assert_eq!(issued.parent_jti, "outer");
        assert_eq!(issued.sub, "cmspilot@users.htcondor.org");
        assert_eq!(issued.scopes, vec!["condor:/READ"]);
        assert_eq!(issued.client_ip, "2001:db8::1");
    }

    #[test]
    fn truncated_or_garbage_payload_is_malformed() {
        let text = "03/04/25 10:00:00 (cid:3) Examining SciToken with payload {\"iss\":\"https://i\",\"sub\n\
03/04/25 10:00:00 (cid:4) Examining SciToken with payload {\"iss\":\"x\"} trailing garbage\n\
03/04/25 10:00:00 (cid:5) Submitting new job banana\n";
        let (events, stats) =
            parse_text(text, None, context("AuditLog", "ce01.example.org")).unwrap();
        assert_eq!(stats.formats["htcondor-ce-audit"].errors, 3);
        assert!(events.iter().all(|e| e.status == "unparsed"));
    }

    #[test]
    fn reordered_and_unknown_messages_in_an_audit_log_are_kept() {
        let text = "03/04/25 10:00:00 (cid:0) Some future audit message\n\
MaxLog = 10000000, length = 10000123\n\
03/04/25 10:00:01 Saving log file to \"/var/log/condor-ce/AuditLog.20250304T100001\"\n";
        let (events, stats) =
            parse_text(text, None, context("AuditLog", "ce01.example.org")).unwrap();
        let counts = &stats.formats["htcondor-ce-audit"];
        assert_eq!(counts.lines, 3);
        assert_eq!(counts.parsed, 3);
        assert_eq!(counts.raw, 3);
        assert!(events.iter().all(|e| e.source == "htcondor-ce-audit"));
    }

    #[test]
    fn two_digit_years_across_a_rotated_file_name() {
        let text = "12/31/25 23:59:59 (cid:1) Submitting new job 1.0\n\
01/01/26 00:00:01 (cid:2) Submitting new job 2.0\n";
        let (events, _) = parse_text(
            text,
            None,
            context("AuditLog.20260101T000000", "ce01.example.org"),
        )
        .unwrap();
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2025-12-31T23:59:59.000Z"
        );
        assert_eq!(
            events[1].time.unwrap().to_rfc3339(),
            "2026-01-01T00:00:01.000Z"
        );
    }

    #[test]
    fn epoch_time_and_zone_conversion() {
        let mut zurich = context("AuditLog.old", "ce01.example.org");
        zurich.time.zone = "Europe/Zurich".parse().unwrap();
        let text =
            "03/04/25 11:15:02 (pid:2245) (cid:9) (D_AUDIT|D_FAILURE) Authorization Denied\n\
1741083302.500 (cid:9) Submitting new job 7.0\n";
        let (events, _) = parse_text(text, None, zurich).unwrap();
        assert_eq!(events[0].action, action::AUTHZ_DENY);
        assert_eq!(events[0].outcome, outcome::FAIL);
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2025-03-04T10:15:02.000Z"
        );
        assert_eq!(
            events[1].time.unwrap().to_rfc3339(),
            "2025-03-04T10:15:02.500Z"
        );
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(A1_CMS, "messages"));
        assert!(sniff("03/04/25 10:15:02 (cid:1) anything", "AuditLog.old"));
        assert!(!sniff("03/04/25 10:15:02 (cid:1) anything", "messages"));
        assert!(!sniff(A1_CMS, "SchedLog"));
        assert!(!sniff(
            "03/04/25 10:15:02 (cid:0) Job start: {'Name': 'x'}",
            "AuditPayloadLog"
        ));
        assert!(!sniff(
            "2025-03-04 10:15:02 Submitting new job 1.0",
            "AuditLog"
        ));
        assert!(!sniff(
            "[2025-03-04 10:15:08] [Arc] [INFO] [2143/4] x: Job finished",
            "AuditLog"
        ));
    }

    #[test]
    fn a_line_of_another_format_is_not_mine_without_a_hint() {
        let (events, _) = parse_text(
            "2025-03-04 10:15:10 Started - job id: 7afe2ff94787, unix user: 1:1",
            Some("htcondor-ce-audit"),
            context("arex-jobs.log", "x"),
        )
        .unwrap();
        assert_eq!(events[0].source, "raw");
    }

    #[test]
    fn no_bearer_token_survives_in_raw() {
        let jwt = crate::jwt::encode_test_jwt(
            &serde_json::json!({"iss": "https://i", "sub": "s", "jti": "j"}),
            "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl",
        );
        let text = format!("03/04/25 10:00:00 (cid:3) proxy identity: {jwt}\n");
        let events = parse(&text);
        assert_eq!(events.len(), 1);
        assert!(!events[0]
            .raw
            .contains("c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "03/04/25 10:00:00 (cid:",
            "03/04/25 10:00:00 (cid:99999999999999999999999) Command=",
            "03/04/25 10:00:00 AuthMethod=",
            "03/04/25 10:00:00 AuthMethod=SCITOKENS, AuthId=, CondorId=",
            "03/04/25 10:00:00 Command=X, peer=<é:1>",
            "03/04/25 10:00:00 Remove jobs ",
            "03/04/25 10:00:00 Token Issued: [1]",
            "03/04/25 10:00:00 Submitting new job 1.",
        ] {
            let _ = parse(text);
        }
    }
}
