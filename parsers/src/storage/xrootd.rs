//! `xrootd`: the XRootD server log, `/var/log/xrootd[/<instance>]/xrootd.log` (rotated as
//! `xrootd.log.YYYYMMDD` or `xrootd.log-YYYYMMDD.gz`; the pipeline turns those names into the
//! reference date of `context.time`).
//!
//! Grammar (storage.md §1.2): `YYMMDD HH:MM:SS[.uuuuuu] TID [TIDENT] COMPONENT: MESSAGE`, local
//! time with a two-digit year, TID the thread number (three digits or more), TIDENT
//! `user.pid:fd@host` on trace lines. What is read:
//! - `XrootdXeq: <tident> pub IPv4 … login [as <name>]` → `auth.login` (`sub` = name for ztn,
//!   where XRootD sets the entity name from the token's `sub`; a DN-like name is not a `sub`);
//!   `XrootdXeq: <tident> disc H:MM:SS [(reason)]` → `other` with `duration_ms`, and the end of
//!   the session.
//! - `scitokens_Access: New valid token|Cached token mapped_username=…, subject=…, issuer=…,
//!   groups=…, authorizations=…` → `auth.login` with `sub`, `iss`, `groups`, `local_user`, and
//!   `scopes` = the authorization path groups as printed (`/store:read,dir,stat`, sorted);
//!   `Grant authorization based on scopes for operation=<op>, path=<p>` → the `file.*` action of
//!   the operation; failures of `Validate` → `auth.fail`, of `Access`/`GenerateAcls` →
//!   `authz.deny` (a request refused because its token was unusable).
//! - `<tident> Xrootd_Protocol: open <opts> <path>` (`file.write` when the options hold u/o/n/d,
//!   else `file.read`; no outcome — the trace precedes the open), `fh=<n> close rc=<rc>` (the
//!   action of the open handle, `bytes` summed from `fsio` read/write traces, `duration_ms` since
//!   the open), `rc=<rc> rm|rmdir|mv|mkdir|stat|dirlist …`; `ofs_open`/`ofs_close` (only when
//!   they do not repeat the `Xrootd_Protocol` line just before).
//! - `acc_Audit: <tident> grant|deny <prot> <id>@<host> <op> <path>` → the `file.*` action
//!   (grant) or `authz.deny`, `local_user` = id, `protocol` = prot.
//! - `TPC_PullRequest|TPC_PushRequest: event=…, local=…, remote=…, user=…[, bytes_transferred=…]
//!   [, status=…]` → `transfer.submit` (PULL_START/PUSH_START) and `transfer.done`.
//!
//! Sessions: `session_id` = the tident; `client_ip`/`client_host` from its host. Each tident has
//! an identity (`sub`, `iss`, `groups`, `scopes`, `local_user`) from its login and from the
//! scitokens lines tied to it, put on every event of the session until its disconnect.
//! scitokens lines carry no tident (§1.4): they are tied by thread id and time — a token
//! validated on thread T is bound to the first tident line on thread T no more than
//! [`TIE_WINDOW_MS`] later, then forgotten; a scitokens failure on T forgets it as well. Grant
//! and TPC events take the identity of their thread's token directly.

use std::collections::HashMap;

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::xrootd_stamp::stamp;
use crate::storage::xrootd_tident::{self, Tident};
use crate::time::TimeContext;

/// The `xrootd` format.
pub static FORMAT: Format = Format {
    id: "xrootd",
    service: Service::Storage,
    summary: "XRootD xrootd.log (XrootdXeq, scitokens, ofs traces, TPC)",
    programs: &["xrootd"],
    sniff,
    new_parser: |context: &Context| Box::new(Parser::new(context)),
};

/// How long after a scitokens line on one thread a tident line of that thread may take its
/// identity: the token is validated while the request is handled, in the same second or so.
pub const TIE_WINDOW_MS: i64 = 2_000;

/// Sessions kept at most; beyond it, sessions silent for a day are dropped (their disconnect
/// was lost, e.g. the log started after the login), so that a long stream stays bounded.
const MAX_SESSIONS: usize = 100_000;
const SESSION_IDLE_MS: i64 = 24 * 3600 * 1000;

/// Component tags (the PREFIX of §1.2) whose lines are XRootD's.
const COMPONENTS: &[&str] = &[
    "Xrootd",
    "scitokens_",
    "acc_",
    "TPC_",
    "ofs_",
    "http_",
    "Xrd",
    "sec_",
    "oss_",
    "cms_",
    "pss_",
    "pfc_",
    "sss_",
    "ztn_",
    "frm_",
    "bwm_",
    "Config",
    "Acc",
    "Ofs",
    "cmsd",
];

fn sniff(text: &str, _file_name: &str) -> bool {
    let Some(line) = split_line(text) else {
        return false;
    };
    COMPONENTS
        .iter()
        .any(|prefix| line.component.starts_with(prefix))
}

/// One line split into its parts.
struct Split<'a> {
    thread: &'a str,
    stamp: crate::storage::xrootd_stamp::LocalStamp,
    tident: Option<Tident<'a>>,
    component: &'a str,
    message: &'a str,
}

/// `TS TID [TIDENT] COMPONENT: MESSAGE`; `None` when the line is not of this grammar.
fn split_line(text: &str) -> Option<Split<'_>> {
    let (rest, parts) = stamp(text).ok()?;
    let (thread, rest) = rest.split_once(' ')?;
    if thread.len() < 3 || !thread.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (first, after_first) = rest.split_once(' ').unwrap_or((rest, ""));
    let (tident, word, after_word) = match xrootd_tident::parse(first) {
        Some(tident) => {
            let (word, after) = after_first.split_once(' ').unwrap_or((after_first, ""));
            (Some(tident), word, after)
        }
        None => (None, first, after_first),
    };
    let component = word.strip_suffix(':')?;
    if component.is_empty()
        || !component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return None;
    }
    Some(Split {
        thread,
        stamp: parts,
        tident,
        component,
        message: after_word.trim(),
    })
}

/// Who a session or a token is.
#[derive(Clone, Debug, Default, PartialEq)]
struct Identity {
    sub: String,
    iss: String,
    groups: Vec<String>,
    scopes: Vec<String>,
    local_user: String,
}

impl Identity {
    fn apply(&self, event: &mut Event) {
        fn set(slot: &mut String, value: &str) {
            if slot.is_empty() {
                *slot = value.to_string();
            }
        }
        set(&mut event.sub, &self.sub);
        set(&mut event.iss, &self.iss);
        set(&mut event.local_user, &self.local_user);
        if event.groups.is_empty() {
            event.groups = self.groups.clone();
        }
        if event.scopes.is_empty() {
            event.scopes = self.scopes.clone();
        }
    }

    /// Takes a token's identity: a different subject replaces everything, the same one only
    /// fills what was missing (a ztn login knows `sub` but not `iss`).
    fn merge_token(&mut self, token: &Identity) {
        if !self.sub.is_empty() && !token.sub.is_empty() && self.sub != token.sub {
            *self = token.clone();
            return;
        }
        if self.sub.is_empty() {
            self.sub = token.sub.clone();
        }
        if !token.iss.is_empty() {
            self.iss = token.iss.clone();
        }
        if !token.groups.is_empty() {
            self.groups = token.groups.clone();
        }
        if !token.scopes.is_empty() {
            self.scopes = token.scopes.clone();
        }
        if !token.local_user.is_empty() {
            self.local_user = token.local_user.clone();
        }
    }
}

#[derive(Clone, Debug)]
struct OpenFile {
    path: String,
    write: bool,
    opened: Option<Timestamp>,
    bytes: Option<u64>,
}

#[derive(Debug, Default)]
struct Session {
    identity: Identity,
    /// Time of the session's last line (for evicting sessions whose disconnect never came).
    last_seen: Option<Timestamp>,
    /// Open files by handle number (XRootD hands out the lowest free handle).
    handles: Vec<Option<OpenFile>>,
    /// `ofs_open` seen per path: (write, time).
    ofs_opens: HashMap<String, (bool, Option<Timestamp>)>,
    /// The last `Xrootd_Protocol` open / close (path, time), so that the `ofs_` line that
    /// repeats it yields no second event.
    last_protocol_open: Option<(String, Option<Timestamp>)>,
    last_protocol_close: Option<(String, Option<Timestamp>)>,
}

#[derive(Clone, Debug)]
struct ThreadToken {
    identity: Identity,
    time: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct TpcStart {
    identity: Identity,
    local: String,
    time: Option<Timestamp>,
}

struct Parser {
    time: TimeContext,
    sessions: HashMap<String, Session>,
    thread_tokens: HashMap<String, ThreadToken>,
    tpc_starts: HashMap<String, TpcStart>,
}

fn within(earlier: Option<Timestamp>, later: Option<Timestamp>, window: i64) -> bool {
    match (earlier, later) {
        (Some(earlier), Some(later)) => {
            let gap = later.millis() - earlier.millis();
            (0..=window).contains(&gap)
        }
        _ => false,
    }
}

fn gap_ms(earlier: Option<Timestamp>, later: Option<Timestamp>) -> Option<u64> {
    let gap = later?.millis() - earlier?.millis();
    u64::try_from(gap).ok()
}

/// SFS return code: 0 ok, -1 (SFS_ERROR) fail; redirects, stalls and the like give no outcome.
fn set_rc(event: &mut Event, rc: &str) {
    event.status = format!("rc={rc}");
    match rc {
        "0" => event.outcome = outcome::OK.into(),
        "-1" => event.outcome = outcome::FAIL.into(),
        _ => {}
    }
}

/// XrdAcc / XrdSciTokens operation names (`OpToName`, `XrdAccAccess`) to actions.
fn action_for_operation(operation: &str) -> &'static str {
    match operation {
        "read" => action::FILE_READ,
        "create" | "excl_create" | "update" | "insert" | "excl_insert" | "write" => {
            action::FILE_WRITE
        }
        "del" | "delete" | "rm" | "rmdir" => action::FILE_DELETE,
        "mkdir" => action::FILE_MKDIR,
        "mv" | "rename" => action::FILE_MOVE,
        "dir" | "readdir" | "stat" | "dirlist" => action::FILE_LIST,
        "stage" | "poll" | "prepare" => action::FILE_STAGE,
        _ => action::OTHER,
    }
}

/// Open options of `Xrootd_Protocol: open` (`r`, `u`, `o`, `n`, `d`, …): write when the file
/// is opened for update, write-only, creation or truncation.
fn open_options_write(options: &str) -> bool {
    options.contains(['u', 'o', 'n', 'd'])
}

/// `ofs_open` flags are SFS flags in hex: write access (1, 2) or create/truncate (0x100, 0x200).
fn ofs_flags_write(flags: &str) -> Option<bool> {
    let value = u64::from_str_radix(flags, 16).ok()?;
    Some(value & 0x3 != 0 || value & 0x300 != 0)
}

/// `H:MM:SS` (the session length of a disconnect) in milliseconds.
fn hms_duration(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || minutes > 59 || seconds > 59 {
        return None;
    }
    Some((hours * 3600 + minutes * 60 + seconds) * 1000)
}

/// A login name that is an X.509 DN (GSI) rather than a token subject.
fn looks_like_dn(name: &str) -> bool {
    name.starts_with('/') || name.contains("CN=") || name.contains("DC=")
}

/// The RULES of `New valid token …` (§1.4): `key=value` separated by `, `, where group and
/// authorization values hold commas themselves.
fn parse_rules(text: &str) -> Identity {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for piece in text.split(", ") {
        match piece.split_once('=') {
            Some((key, value))
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                fields.push((key, value.to_string()))
            }
            _ => {
                // A value with ", " inside: part of the previous field.
                if let Some((_, value)) = fields.last_mut() {
                    value.push_str(", ");
                    value.push_str(piece);
                }
            }
        }
    }
    let get = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim().to_string())
            .unwrap_or_default()
    };
    let groups = get("groups")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    let mut scopes: Vec<String> = get("authorizations")
        .split(';')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    // The path groups come from an unordered map: sort so that one token prints one list.
    scopes.sort();
    Identity {
        sub: get("subject"),
        iss: get("issuer"),
        groups,
        scopes,
        local_user: get("mapped_username"),
    }
}

fn looks_like_failure(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "fail",
        "error",
        "expired",
        "reject",
        "without a config",
        "invalid",
        "unable",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

impl Parser {
    fn new(context: &Context) -> Self {
        Parser {
            time: context.time.clone(),
            sessions: HashMap::new(),
            thread_tokens: HashMap::new(),
            tpc_starts: HashMap::new(),
        }
    }

    fn event(&self, line: &Line<'_>, time: Option<Timestamp>, name: &'static str) -> Event {
        let mut event = line.event(FORMAT.id, FORMAT.service);
        if time.is_some() {
            event.time = time;
        }
        event.action = name.into();
        event
    }

    /// Binds the thread's recent token (if any) to the tident's session, and returns it.
    fn session(
        &mut self,
        tident: &Tident<'_>,
        thread: &str,
        time: Option<Timestamp>,
    ) -> &mut Session {
        let token = match self.thread_tokens.get(thread) {
            Some(token) if within(token.time, time, TIE_WINDOW_MS) => {
                self.thread_tokens.remove(thread)
            }
            _ => None,
        };
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(tident.text) {
            self.evict_idle(time);
        }
        let session = self.sessions.entry(tident.text.to_string()).or_default();
        if time.is_some() {
            session.last_seen = time;
        }
        if let Some(token) = token {
            session.identity.merge_token(&token.identity);
        }
        session
    }

    fn evict_idle(&mut self, now: Option<Timestamp>) {
        if let Some(now) = now {
            self.sessions.retain(|_, session| {
                session
                    .last_seen
                    .is_some_and(|seen| now.millis() - seen.millis() < SESSION_IDLE_MS)
            });
        }
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.clear();
        }
    }

    fn thread_identity(&self, thread: &str, time: Option<Timestamp>) -> Option<Identity> {
        self.thread_tokens
            .get(thread)
            .filter(|token| within(token.time, time, TIE_WINDOW_MS))
            .map(|token| token.identity.clone())
    }

    fn session_event(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        tident: &Tident<'_>,
        time: Option<Timestamp>,
        name: &'static str,
    ) -> Event {
        let mut event = self.event(line, time, name);
        event.session_id = tident.text.to_string();
        xrootd_tident::fill_client(&mut event, tident.host);
        let session = self.session(tident, split.thread, time);
        session.identity.apply(&mut event);
        event
    }

    fn xeq(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        let (first, rest) = split.message.split_once(' ').unwrap_or((split.message, ""));
        let Some(tident) = xrootd_tident::parse(first) else {
            return Feed::Ignored;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if let Some(position) = words.iter().position(|w| *w == "login") {
            // A new login on this tident starts a new session (fds are reused).
            self.sessions.remove(tident.text);
            let mut event = self.session_event(line, split, &tident, time, action::AUTH_LOGIN);
            event.outcome = outcome::OK.into();
            if words.get(position + 1) == Some(&"as") {
                let after_as = rest
                    .split_once(" login as ")
                    .map(|(_, name)| name)
                    .unwrap_or("");
                let name = after_as
                    .split_once(" via ")
                    .map(|(name, _)| name)
                    .unwrap_or(after_as)
                    .trim();
                if !name.is_empty() && !looks_like_dn(name) {
                    event.sub = name.to_string();
                    if let Some(session) = self.sessions.get_mut(tident.text) {
                        if session.identity.sub.is_empty() {
                            session.identity.sub = name.to_string();
                        }
                    }
                }
            }
            out.push(event);
            return Feed::Parsed;
        }
        let Some(position) = words.iter().position(|w| *w == "disc" || *w == "unbind") else {
            return Feed::Ignored;
        };
        let Some(duration) = words.get(position + 1).and_then(|d| hms_duration(d)) else {
            return Feed::Malformed;
        };
        let mut event = self.session_event(line, split, &tident, time, action::OTHER);
        event.duration_ms = Some(duration);
        event.status = words[position].to_string();
        match rest.split_once(" (") {
            Some((_, reason)) => {
                event.status = reason.trim_end_matches(')').to_string();
                event.outcome = outcome::FAIL.into();
            }
            None => event.outcome = outcome::OK.into(),
        }
        self.sessions.remove(tident.text);
        out.push(event);
        Feed::Parsed
    }

    fn scitokens(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        let suffix = split.component.trim_start_matches("scitokens_");
        let message = split.message;
        for (prefix, status) in [
            ("New valid token ", "new token"),
            ("Cached token ", "cached token"),
        ] {
            if let Some(rules) = message.strip_prefix(prefix) {
                let identity = parse_rules(rules);
                if identity.sub.is_empty() && identity.iss.is_empty() {
                    return Feed::Malformed;
                }
                let mut event = self.event(line, time, action::AUTH_LOGIN);
                event.outcome = outcome::OK.into();
                event.status = status.to_string();
                identity.apply(&mut event);
                self.thread_tokens
                    .insert(split.thread.to_string(), ThreadToken { identity, time });
                out.push(event);
                return Feed::Parsed;
            }
        }
        if let Some(rest) = message.strip_prefix("Grant authorization based on scopes for ") {
            let pairs = crate::kv::pairs(rest);
            let (Some(operation), Some(path)) = (
                crate::kv::get(&pairs, "operation"),
                crate::kv::get(&pairs, "path"),
            ) else {
                return Feed::Malformed;
            };
            let mut event = self.event(line, time, action_for_operation(operation));
            event.path = path.to_string();
            event.outcome = outcome::OK.into();
            event.status = format!("granted {operation}");
            if let Some(identity) = self.thread_identity(split.thread, time) {
                identity.apply(&mut event);
            }
            out.push(event);
            return Feed::Parsed;
        }
        if let Some(name) = message.strip_prefix("Request username ") {
            if let Some(token) = self.thread_tokens.get_mut(split.thread) {
                if token.identity.local_user.is_empty() {
                    token.identity.local_user = name.trim().to_string();
                }
            }
            return Feed::Ignored;
        }
        if !looks_like_failure(message) {
            return Feed::Ignored;
        }
        // The token of this request is unusable: it must not lend its thread an identity.
        self.thread_tokens.remove(split.thread);
        let name = if suffix == "Validate" {
            action::AUTH_FAIL
        } else {
            action::AUTHZ_DENY
        };
        let mut event = self.event(line, time, name);
        event.outcome = outcome::FAIL.into();
        event.status = message.to_string();
        out.push(event);
        Feed::Parsed
    }

    fn protocol_trace(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        tident: &Tident<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        let mut words: Vec<&str> = split.message.split_whitespace().collect();
        // `xrootd.trace request` puts a 4-hex stream id first.
        if words.len() > 1
            && words[0].len() == 4
            && words[0].bytes().all(|b| b.is_ascii_hexdigit())
            && !words[0].contains('=')
        {
            words.remove(0);
        }
        let Some(&verb) = words.first() else {
            return Feed::Malformed;
        };
        if verb == "open" {
            let (Some(options), true) = (words.get(1), words.len() >= 3) else {
                return Feed::Malformed;
            };
            let path = words[2..].join(" ");
            let write = open_options_write(options);
            let name = if write {
                action::FILE_WRITE
            } else {
                action::FILE_READ
            };
            let mut event = self.session_event(line, split, tident, time, name);
            event.path = path.clone();
            event.status = format!("open {options}");
            let session = self.session(tident, split.thread, time);
            let file = OpenFile {
                path: path.clone(),
                write,
                opened: time,
                bytes: None,
            };
            match session.handles.iter().position(Option::is_none) {
                Some(free) => session.handles[free] = Some(file),
                None => session.handles.push(Some(file)),
            }
            session.last_protocol_open = Some((path, time));
            out.push(event);
            return Feed::Parsed;
        }
        if let Some(handle) = verb.strip_prefix("fh=") {
            let Ok(handle) = handle.parse::<usize>() else {
                return Feed::Malformed;
            };
            match words.get(1).copied() {
                Some("close") => {
                    let session = self.session(tident, split.thread, time);
                    let file = session.handles.get_mut(handle).and_then(Option::take);
                    let name = match &file {
                        Some(file) if file.write => action::FILE_WRITE,
                        Some(_) => action::FILE_READ,
                        None => action::OTHER,
                    };
                    let mut event = self.session_event(line, split, tident, time, name);
                    if let Some(rc) = words.get(2).and_then(|w| w.strip_prefix("rc=")) {
                        set_rc(&mut event, rc);
                    }
                    event.status = format!("close {}", event.status).trim_end().to_string();
                    if let Some(file) = file {
                        event.path = file.path.clone();
                        event.bytes = file.bytes;
                        event.duration_ms = gap_ms(file.opened, time);
                        let session = self.session(tident, split.thread, time);
                        session.last_protocol_close = Some((file.path, time));
                    }
                    out.push(event);
                    Feed::Parsed
                }
                Some("read" | "write" | "readv" | "pgread" | "pgwrite") => {
                    let length = words
                        .get(2)
                        .and_then(|w| w.split('@').next())
                        .and_then(|l| l.parse::<u64>().ok());
                    let session = self.session(tident, split.thread, time);
                    if let (Some(Some(file)), Some(length)) =
                        (session.handles.get_mut(handle), length)
                    {
                        file.bytes = Some(file.bytes.unwrap_or(0).saturating_add(length));
                    }
                    Feed::Ignored
                }
                _ => Feed::Ignored,
            }
        } else if let Some(rc) = verb.strip_prefix("rc=") {
            let Some(&operation) = words.get(1) else {
                return Feed::Malformed;
            };
            let (name, path) = match operation {
                "rm" | "rmdir" | "mv" | "stat" | "dirlist" | "prepare" | "truncate" => {
                    (action_for_operation(operation), words.get(2).copied())
                }
                // `rc=<rc> mkdir <mode> <path>`
                "mkdir" => (action::FILE_MKDIR, words.get(3).or(words.get(2)).copied()),
                _ => return Feed::Ignored,
            };
            let name = if operation == "truncate" {
                action::FILE_WRITE
            } else {
                name
            };
            let Some(path) = path else {
                return Feed::Malformed;
            };
            let mut event = self.session_event(line, split, tident, time, name);
            event.path = path.to_string();
            set_rc(&mut event, rc);
            event.status = format!("{operation} {}", event.status);
            out.push(event);
            Feed::Parsed
        } else {
            Feed::Ignored
        }
    }

    fn ofs_trace(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        tident: &Tident<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        let operation = split.component.trim_start_matches("ofs_");
        let Some((head, path)) = split.message.split_once("fn=") else {
            return if operation == "open" || operation == "close" {
                Feed::Malformed
            } else {
                Feed::Ignored
            };
        };
        let path = path.trim().to_string();
        if path.is_empty() {
            return Feed::Malformed;
        }
        match operation {
            "open" => {
                let flags = head.split('-').next().unwrap_or("").trim();
                let Some(write) = ofs_flags_write(flags) else {
                    return Feed::Malformed;
                };
                let session = self.session(tident, split.thread, time);
                session.ofs_opens.insert(path.clone(), (write, time));
                let repeats = matches!(&session.last_protocol_open,
                    Some((last, at)) if *last == path && within(*at, time, TIE_WINDOW_MS));
                if repeats {
                    return Feed::Ignored;
                }
                let name = if write {
                    action::FILE_WRITE
                } else {
                    action::FILE_READ
                };
                let mut event = self.session_event(line, split, tident, time, name);
                event.path = path;
                event.status = "open".to_string();
                out.push(event);
                Feed::Parsed
            }
            "close" => {
                let session = self.session(tident, split.thread, time);
                let opened = session.ofs_opens.remove(&path);
                let repeats = matches!(&session.last_protocol_close,
                    Some((last, at)) if *last == path && within(*at, time, TIE_WINDOW_MS));
                if repeats {
                    return Feed::Ignored;
                }
                let name = match opened {
                    Some((true, _)) => action::FILE_WRITE,
                    Some((false, _)) => action::FILE_READ,
                    None => action::OTHER,
                };
                let mut event = self.session_event(line, split, tident, time, name);
                event.path = path;
                event.status = "close".to_string();
                event.duration_ms = opened.and_then(|(_, at)| gap_ms(at, time));
                out.push(event);
                Feed::Parsed
            }
            _ => Feed::Ignored,
        }
    }

    fn audit(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        // `<tident> grant|deny <prot> <id>@<host> <op> <path>`
        let mut words = split.message.splitn(6, ' ');
        let (Some(tident), Some(decision), Some(protocol), Some(who), Some(operation), Some(path)) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Feed::Malformed;
        };
        let Some(tident) = xrootd_tident::parse(tident) else {
            return Feed::Malformed;
        };
        let granted = match decision {
            "grant" => true,
            "deny" => false,
            _ => return Feed::Malformed,
        };
        let name = if granted {
            action_for_operation(operation)
        } else {
            action::AUTHZ_DENY
        };
        let mut event = self.session_event(line, split, &tident, time, name);
        event.path = path.trim().to_string();
        event.protocol = protocol.to_string().into();
        event.status = format!("{decision} {operation}");
        event.outcome = if granted { outcome::OK } else { outcome::FAIL }.into();
        if let Some((id, _host)) = who.rsplit_once('@') {
            if !id.is_empty() {
                event.local_user = id.to_string();
            }
        }
        out.push(event);
        Feed::Parsed
    }

    fn tpc(
        &mut self,
        line: &Line<'_>,
        split: &Split<'_>,
        time: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) -> Feed {
        let (fields, message) = match split.message.split_once("; ") {
            Some((fields, message)) => (fields, message.trim()),
            None => (split.message, ""),
        };
        let mut values: HashMap<&str, &str> = HashMap::new();
        for piece in fields.split(", ") {
            if let Some((key, value)) = piece.split_once('=') {
                values.insert(key.trim(), value.trim());
            }
        }
        let Some(&tpc_event) = values.get("event") else {
            return Feed::Malformed;
        };
        let local = values
            .get("local")
            .map(|l| l.split('?').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let name = match tpc_event {
            "PULL_START" | "PUSH_START" => action::TRANSFER_SUBMIT,
            "TRANSFER_SUCCESS" => action::TRANSFER_DONE,
            other if other.ends_with("_FAIL") || other.ends_with("_ERROR") => action::TRANSFER_DONE,
            _ => return Feed::Ignored,
        };
        let mut event = self.event(line, time, name);
        event.path = local.clone();
        event.protocol = "https".into();
        event.status = tpc_event.to_string();
        if let Some(user) = values
            .get("user")
            .filter(|u| !u.is_empty() && **u != "(anonymous)")
        {
            event.local_user = user.to_string();
        }
        if let Some(bytes) = values.get("bytes_transferred").and_then(|b| b.parse().ok()) {
            event.bytes = Some(bytes);
        }
        if name == action::TRANSFER_SUBMIT {
            let identity = self.thread_identity(split.thread, time).unwrap_or_default();
            identity.apply(&mut event);
            self.tpc_starts.insert(
                split.thread.to_string(),
                TpcStart {
                    identity,
                    local,
                    time,
                },
            );
        } else {
            let start = self
                .tpc_starts
                .remove(split.thread)
                .filter(|start| start.local == local);
            match start {
                Some(start) => {
                    start.identity.apply(&mut event);
                    event.duration_ms = gap_ms(start.time, time);
                }
                None => {
                    if let Some(identity) = self.thread_identity(split.thread, time) {
                        identity.apply(&mut event);
                    }
                }
            }
            let success = tpc_event == "TRANSFER_SUCCESS";
            event.outcome = if success { outcome::OK } else { outcome::FAIL }.into();
            if let Some(status) = values.get("status") {
                event.status = format!("{tpc_event} {status}");
            }
            if !success && !message.is_empty() {
                event.status = format!("{} {message}", event.status);
            }
        }
        out.push(event);
        Feed::Parsed
    }
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Some(split) = split_line(line.text) else {
            // The time stamp and thread are there but no `component:` follows: a line of
            // this log (a banner, a continuation) that carries nothing.
            return match stamp(line.text) {
                Ok((rest, _))
                    if rest
                        .split(' ')
                        .next()
                        .is_some_and(|t| t.len() >= 3 && t.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    Feed::Ignored
                }
                _ => Feed::NotMine,
            };
        };
        let time = split.stamp.to_utc(&self.time);
        let component = split.component;
        match (component, split.tident) {
            ("XrootdXeq", _) => self.xeq(line, &split, time, out),
            (c, _) if c.starts_with("scitokens_") => self.scitokens(line, &split, time, out),
            ("acc_Audit", _) => self.audit(line, &split, time, out),
            (c, _) if c.starts_with("TPC_") => self.tpc(line, &split, time, out),
            ("Xrootd_Protocol", Some(tident)) => {
                self.protocol_trace(line, &split, &tident, time, out)
            }
            (c, Some(tident)) if c.starts_with("ofs_") => {
                self.ofs_trace(line, &split, &tident, time, out)
            }
            (_, Some(tident)) => {
                // Any other traced line of a session still ties its thread's token to it.
                self.session(&tident, split.thread, time);
                Feed::Ignored
            }
            _ => Feed::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    const REFERENCE: &str = include_str!("../../../tests/fixtures/xrootd/xrootd.log");
    const SESSIONS: &str =
        include_str!("../../../tests/fixtures/xrootd/sessions/xrootd.log.20240613");
    const CMS_SUB: &str = "6ac17538-6c67-49f7-8693-4d6e43ed192e";
    const ATLAS_SUB: &str = "eee0331a-a899-46b3-bb0d-8a89bc4041d1";

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: None,
            },
            path: "/var/log/xrootd/xrootd.log".into(),
            file_name: "xrootd.log".into(),
            ..Context::default()
        }
    }

    fn parse(text: &str) -> Vec<Event> {
        parse_text(text, Some("xrootd"), context()).unwrap().0
    }

    fn parse_detected(text: &str) -> Vec<Event> {
        parse_text(text, None, context()).unwrap().0
    }

    /// The events of the reference fixture that come from line `number`.
    fn at_line(events: &[Event], number: u64) -> Vec<&Event> {
        events.iter().filter(|e| e.origin.line == number).collect()
    }

    fn one(events: &[Event], number: u64) -> &Event {
        let found = at_line(events, number);
        assert_eq!(found.len(), 1, "line {number}: {found:?}");
        found[0]
    }

    fn time(event: &Event) -> String {
        event.time.unwrap().to_rfc3339()
    }

    #[test]
    fn reference_fixture_is_detected_and_fully_parsed() {
        let (events, stats) = parse_text(REFERENCE, None, context()).unwrap();
        assert!(events.iter().all(|e| e.source == "xrootd"), "{events:#?}");
        let counts = &stats.formats["xrootd"];
        assert_eq!(counts.lines, 17);
        assert_eq!(counts.errors, 0);
    }

    #[test]
    fn tpc_pull_start_is_a_transfer_submit_in_local_time() {
        let events = parse(REFERENCE);
        let event = one(&events, 1);
        assert_eq!(event.action, action::TRANSFER_SUBMIT);
        assert_eq!(
            event.path,
            "/atlas/rucio/mc23_13p6TeV/aa/bb/EVNT.12345._000001.pool.root.1"
        );
        assert_eq!(event.protocol, "https");
        assert_eq!(event.local_user, "");
        assert_eq!(event.status, "PULL_START");
        // 14:03:21 in Zurich (CEST) is 12:03:21 UTC.
        assert_eq!(time(event), "2024-06-12T12:03:21.000Z");
    }

    #[test]
    fn scitokens_progress_lines_are_kept_but_yield_no_event() {
        let events = parse(REFERENCE);
        for number in [2, 3, 6] {
            let event = one(&events, number);
            assert_eq!(event.action, "", "line {number}");
            assert_eq!(event.source, "xrootd");
        }
    }

    #[test]
    fn new_valid_token_gives_identity_groups_and_authorizations() {
        let events = parse(REFERENCE);
        let event = one(&events, 4);
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.groups, vec!["/cms", "/cms/production"]);
        assert_eq!(
            event.scopes,
            vec![
                "/store/user/cmsprd:create,mkdir,update",
                "/store:read,dir,stat"
            ]
        );
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.jti, "");
        assert_eq!(time(event), "2024-06-12T12:03:22.000Z");
    }

    #[test]
    fn scope_grant_is_a_file_read_of_the_thread_token() {
        let events = parse(REFERENCE);
        let event = one(&events, 5);
        assert_eq!(event.action, action::FILE_READ);
        assert_eq!(event.path, "/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
    }

    #[test]
    fn ztn_login_gives_sub_session_and_client_host() {
        let events = parse(REFERENCE);
        let event = one(&events, 7);
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.sub, CMS_SUB);
        // Tied to the scitokens lines of thread 4711 in the same second.
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.session_id, "cms0042.5821:31@wn042.example.org");
        assert_eq!(event.client_host, "wn042.example.org");
        assert_eq!(event.client_ip, "");
    }

    #[test]
    fn protocol_open_is_a_read_of_the_session_identity() {
        let events = parse(REFERENCE);
        let event = one(&events, 8);
        assert_eq!(event.action, action::FILE_READ);
        assert_eq!(event.path, "/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.local_user, "cmsprd");
        assert_eq!(event.groups, vec!["/cms", "/cms/production"]);
        assert_eq!(event.session_id, "cms0042.5821:31@wn042.example.org");
        assert_eq!(event.outcome, "");
    }

    #[test]
    fn ofs_open_repeating_the_protocol_open_yields_no_second_event() {
        let events = parse(REFERENCE);
        let event = one(&events, 9);
        assert_eq!(event.action, "");
        assert_eq!(event.source, "xrootd");
    }

    #[test]
    fn tpc_success_is_a_transfer_done_with_bytes_and_duration() {
        let events = parse(REFERENCE);
        let event = one(&events, 10);
        assert_eq!(event.action, action::TRANSFER_DONE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.bytes, Some(1_073_741_824));
        assert_eq!(event.duration_ms, Some(41_000));
        assert_eq!(event.status, "TRANSFER_SUCCESS 200");
        assert_eq!(
            event.path,
            "/atlas/rucio/mc23_13p6TeV/aa/bb/EVNT.12345._000001.pool.root.1"
        );
    }

    #[test]
    fn protocol_close_carries_path_duration_and_rc() {
        let events = parse(REFERENCE);
        let event = one(&events, 11);
        assert_eq!(event.action, action::FILE_READ);
        assert_eq!(event.path, "/store/mc/RunIII/AODSIM/file_0042.root");
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.status, "close rc=0");
        assert_eq!(event.duration_ms, Some(108_000));
        assert_eq!(event.sub, CMS_SUB);
        // No fsio traces in this log: the byte count is unknown, not zero.
        assert_eq!(event.bytes, None);
        assert_eq!(one(&events, 12).action, "");
    }

    #[test]
    fn disconnect_carries_session_length_and_identity() {
        let events = parse(REFERENCE);
        let event = one(&events, 13);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.duration_ms, Some(108_000));
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.sub, CMS_SUB);
        assert_eq!(event.session_id, "cms0042.5821:31@wn042.example.org");
    }

    #[test]
    fn ipv6_login_fills_client_ip_without_brackets() {
        let events = parse(REFERENCE);
        let event = one(&events, 14);
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.sub, ATLAS_SUB);
        assert_eq!(event.client_ip, "2001:db8:42::77");
        assert_eq!(event.client_host, "");
        assert_eq!(event.session_id, "atlprd.3190:44@[2001:db8:42::77]");
    }

    #[test]
    fn disconnect_with_reason_is_a_failure() {
        let events = parse(REFERENCE);
        let event = one(&events, 15);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.duration_ms, Some(1_000));
        assert_eq!(event.status, "send failure");
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.sub, ATLAS_SUB);
    }

    #[test]
    fn acc_audit_grant_is_a_write_by_the_mapped_user() {
        let events = parse(REFERENCE);
        let event = one(&events, 16);
        assert_eq!(event.action, action::FILE_WRITE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.path, "/atlas/rucio/user/x/out.root");
        assert_eq!(event.local_user, "atlprd");
        assert_eq!(event.protocol, "ztn");
        assert_eq!(event.client_ip, "2001:db8:42::77");
        assert_eq!(event.session_id, "atlprd.3190:44@[2001:db8:42::77]");
    }

    #[test]
    fn expired_token_is_an_authz_deny() {
        let events = parse(REFERENCE);
        let event = one(&events, 17);
        assert_eq!(event.action, action::AUTHZ_DENY);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "Token already expired.");
        assert_eq!(time(event), "2024-06-12T12:09:51.000Z");
    }

    #[test]
    fn every_operation_of_two_interleaved_sessions_carries_its_own_sub() {
        let events = parse_detected(SESSIONS);
        let cms = "cms0042.5821:31@wn042.example.org";
        let atlas = "unknown.1034:58@[2001:db8::5]";
        let operations: Vec<&Event> = events
            .iter()
            .filter(|e| e.action.starts_with("file.") && !e.session_id.is_empty())
            .collect();
        assert_eq!(operations.len(), 8, "{operations:#?}");
        // The scope grant has no tident but takes its thread's token.
        let grant = one(&events, 5);
        assert_eq!(grant.action, action::FILE_WRITE);
        assert_eq!(grant.sub, ATLAS_SUB);
        for event in &operations {
            if event.origin.line == 18 {
                // After the disconnect, the tident is no longer that user's.
                assert_eq!(event.sub, "", "{event:?}");
                continue;
            }
            let expected = match event.session_id.as_str() {
                id if id == cms => CMS_SUB,
                id if id == atlas => ATLAS_SUB,
                other => panic!("unexpected session {other}"),
            };
            assert_eq!(event.sub, expected, "line {}", event.origin.line);
        }
        let atlas_open = one(&events, 6);
        assert_eq!(atlas_open.action, action::FILE_WRITE);
        assert_eq!(atlas_open.iss, "https://atlas-auth.cern.ch");
        assert_eq!(atlas_open.client_ip, "2001:db8::5");
        assert_eq!(
            atlas_open.time.unwrap().to_rfc3339(),
            "2024-06-13T07:00:01.000Z"
        );
        // The close of the atlas session runs on another thread and still has the identity.
        let atlas_close = one(&events, 11);
        assert_eq!(atlas_close.action, action::FILE_WRITE);
        assert_eq!(atlas_close.bytes, Some(4096));
        assert_eq!(atlas_close.duration_ms, Some(2_000));
        assert_eq!(atlas_close.local_user, "atlprd");
        let cms_close = one(&events, 12);
        assert_eq!(cms_close.action, action::FILE_READ);
        assert_eq!(cms_close.bytes, Some(2_097_152));
        assert_eq!(cms_close.path, "/store/mc/RunIII/AODSIM/file_0042.root");
        let moved = one(&events, 13);
        assert_eq!(moved.action, action::FILE_MOVE);
        assert_eq!(moved.path, "/atlas/rucio/user/x/out.root");
        assert!(moved.raw.contains("/atlas/rucio/user/x/final.root"));
        let removed = one(&events, 14);
        assert_eq!(removed.action, action::FILE_DELETE);
        assert_eq!(removed.outcome, outcome::FAIL);
        assert_eq!(removed.sub, CMS_SUB);
        // The ztn login had no iss; the cms session never saw a token line of its own.
        assert_eq!(removed.iss, "");
    }

    #[test]
    fn seven_digit_threads_and_hi_res_times_are_read() {
        let events = parse("240613 09:00:00.210004 1234567 XrootdXeq: unknown.1034:58@[2001:db8::5] pub IPv6 login\n");
        assert_eq!(events[0].action, action::AUTH_LOGIN);
        assert_eq!(events[0].sub, "");
        assert_eq!(
            events[0].time.unwrap().to_rfc3339(),
            "2024-06-13T07:00:00.210Z"
        );
    }

    #[test]
    fn mapped_ipv4_tident_host_gives_plain_ipv4() {
        let events = parse("240612 14:03:22 4711 XrootdXeq: cms0042.5821:31@[::ffff:192.0.2.42] pub IP64 login as abc\n");
        assert_eq!(events[0].client_ip, "192.0.2.42");
        assert_eq!(events[0].sub, "abc");
    }

    #[test]
    fn gsi_dn_login_is_not_a_sub() {
        let events = parse("240612 14:03:22 4711 XrootdXeq: cms0042.5821:31@wn042.example.org pub IPv4 login as /DC=ch/DC=cern/OU=Organic Units/CN=someone\n");
        assert_eq!(events[0].action, action::AUTH_LOGIN);
        assert_eq!(events[0].sub, "");
    }

    #[test]
    fn tpc_remote_query_with_tokens_is_redacted() {
        let token = crate::jwt::encode_test_jwt(
            &serde_json::json!({"sub": "abc", "iss": "https://cms-auth.cern.ch/", "jti": "j-1"}),
            "U2lnbmF0dXJlU2VjcmV0VmFsdWUxMjM0NTY3ODkw",
        );
        let line = format!(
            "240612 14:03:21 5120 TPC_PullRequest: event=PULL_START, local=/a/b.root, remote=https://se01.example.org:2880/a/b.root?authz=Bearer%20{token}&access_token=MDAxY2xvY2F0aW9uIHNlY3JldA, user=(anonymous); Starting a pull request\n"
        );
        let events = parse(&line);
        assert_eq!(events[0].action, action::TRANSFER_SUBMIT);
        assert_eq!(events[0].path, "/a/b.root");
        assert!(!events[0].raw.contains("U2lnbmF0dXJl"), "{}", events[0].raw);
        assert!(
            !events[0].raw.contains("MDAxY2xvY2F0aW9u"),
            "{}",
            events[0].raw
        );
        assert!(events[0].raw.contains(crate::jwt::REDACTED));
        // The pipeline read the token's claims from the line.
        assert_eq!(events[0].jti, "j-1");
    }

    #[test]
    fn tpc_failure_is_a_failed_transfer_done() {
        let events = parse("240612 14:04:02 5120 TPC_PullRequest: event=TRANSFER_FAIL, local=/a/b.root, remote=https://se01.example.org:2880/a/b.root, user=(anonymous), status=500; Remote side failed with status code 403\n");
        assert_eq!(events[0].action, action::TRANSFER_DONE);
        assert_eq!(events[0].outcome, outcome::FAIL);
        assert!(events[0].status.contains("403"));
    }

    #[test]
    fn ofs_only_tracing_still_gives_open_and_close() {
        let text = "240612 14:03:22 4711 cms0042.5821:31@wn042.example.org ofs_open: 102-644 (644) fn=/store/user/cmsprd/out.root\n240612 14:03:25 4711 cms0042.5821:31@wn042.example.org ofs_close: use=1 fn=/store/user/cmsprd/out.root\n";
        let events = parse(text);
        assert_eq!(events[0].action, action::FILE_WRITE);
        assert_eq!(events[1].action, action::FILE_WRITE);
        assert_eq!(events[1].duration_ms, Some(3_000));
    }

    #[test]
    fn validate_failure_is_an_auth_fail_and_forgets_the_thread_token() {
        let text = "240612 14:03:22 4711 scitokens_Access: New valid token mapped_username=a, subject=s1, issuer=https://i.example.org\n240612 14:03:22 4711 scitokens_Validate: Failed to deserialize SciToken: bad\n240612 14:03:22 4711 XrootdXeq: u.1:2@h.example.org pub IPv4 login\n";
        let events = parse(text);
        assert_eq!(events[1].action, action::AUTH_FAIL);
        assert_eq!(events[1].outcome, outcome::FAIL);
        assert_eq!(events[2].sub, "");
    }

    #[test]
    fn thread_token_does_not_bind_after_the_window() {
        let text = "240612 14:03:22 4711 scitokens_Access: New valid token mapped_username=a, subject=s1, issuer=https://i.example.org\n240612 14:03:30 4711 XrootdXeq: u.1:2@h.example.org pub IPv4 login\n";
        let events = parse(text);
        assert_eq!(events[1].sub, "");
    }

    #[test]
    fn truncated_lines_are_malformed_not_panics() {
        for text in [
            "240612 14:05:10 4711 XrootdXeq: cms0042.5821:31@wn042.example.org disc",
            "240612 14:03:22 4711 cms0042.5821:31@wn042.example.org Xrootd_Protocol: open r",
            "240612 14:03:21 5120 TPC_PullRequest: local=/a",
            "240612 14:07:40 3377 acc_Audit: atlprd.3190:44@[2001:db8:42::77] grant ztn",
            "240612 14:03:22 4711 scitokens_Access: Grant authorization based on scopes for operation=read",
        ] {
            let (events, stats) = parse_text(text, Some("xrootd"), context()).unwrap();
            assert_eq!(stats.formats["xrootd"].errors, 1, "{text}");
            assert_eq!(events[0].status, "unparsed");
        }
    }

    #[test]
    fn garbage_after_a_valid_prefix_is_kept_and_does_not_panic() {
        for text in [
            "240612 14:03:22 4711 \u{e9}\u{e9}\u{e9}: \u{1f600}",
            "240612 14:03:22 4711 XrootdXeq: \u{e9}.1:2@h pub login as \u{e9}",
            "240612 14:03:22 4711 u.1:2@h Xrootd_Protocol: fh=\u{e9} close",
            "240612 14:03:22 4711 u.1:2@h Xrootd_Protocol: fh=99999999999999999999 close rc=0",
            "240612 14:03:22 4711 u.1:2@h ofs_open: zz-600 (600) fn=/x",
            "240612 14:03:22 4711 scitokens_Access: New valid token ,,,, =, ",
            "240612 99:99:99 4711 XrootdXeq: u.1:2@h pub IPv4 login",
        ] {
            let events = parse(text);
            assert_eq!(events.len(), 1, "{text}");
        }
    }

    #[test]
    fn sniffer_is_specific() {
        assert!(sniff(
            "240612 14:03:22 4711 XrootdXeq: cms0042.5821:31@wn042.example.org disc 0:01:48",
            ""
        ));
        assert!(sniff(
            "240612 14:03:22.123456 1234567 u.1:2@h Xrootd_Protocol: open r /x",
            ""
        ));
        for other in [
            "06/12/24 14:03:22 (pid:4711) (D_ALWAYS) Submitting job 123.0",
            "06.12 14:03:24 [door:WebDAV-se01@webdav-se01Domain:request] [\"cmsprd\":50123:5030:192.0.2.42]",
            "240612 14:03:22 time=1718193802.123456 func=open                     level=INFO  logid=f08e",
            "240612 14:03:22 4711 something without a component",
            "level=INFO ts=2024-06-12T14:03:22.497+0200 event=org.dcache.webdav.request",
        ] {
            assert!(!sniff(other, ""), "{other}");
        }
        let events = parse_detected("06/12/24 14:03:22 (pid:4711) Submitting job 123.0\n");
        assert_ne!(events[0].source, "xrootd");
    }

    #[test]
    fn another_format_line_is_not_mine() {
        let mut parser = Parser::new(&context());
        let mut out = Vec::new();
        let line = Line::plain(
            "240612 14:03:22 time=1718193802.123456 func=open level=INFO",
            1,
            0,
        );
        assert_eq!(parser.feed(&line, &mut out), Feed::NotMine);
        assert!(out.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "(240612 14:03:22(\\.[0-9]{0,7})? [0-9]{3,8} )?([a-z0-9]{1,6}\\.[0-9]{1,5}:[0-9]{1,3}@[a-z0-9.:\\[\\]]{1,12} )?(XrootdXeq|scitokens_Access|acc_Audit|TPC_PullRequest|Xrootd_Protocol|ofs_open|ofs_close)?:? ?(login as |disc |open r |fh=0 close rc=|rc=0 mv |New valid token |Grant authorization based on scopes for |event=)?\\PC{0,60}") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("xrootd"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}
