//! The normalised event: one record per log line (or per multi-line record), with the field
//! names of DESIGN.md section 3. Those names are a contract with the JSON API, the store and
//! tests outside this repository: never rename a field here.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision, serialised as RFC 3339 (`2025-03-14T09:12:03.396Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }
    /// From whole seconds since the Unix epoch.
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
    /// As a chrono UTC date-time (clamped to chrono's range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
    /// RFC 3339 UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
    /// Parses RFC 3339 (any offset), or bare epoch seconds/milliseconds.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some(time) = crate::time::parse_iso_zoned(text) {
            return Some(time);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(dt.timestamp_millis()));
        }
        crate::time::parse_loose_utc(text)
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Timestamp {
    fn from(value: DateTime<Tz>) -> Self {
        Timestamp(value.timestamp_millis())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// Where an event came from: the file as given, its 1-based line and the byte offset of that
/// line's first byte in the (decompressed) stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: u64,
    pub offset: u64,
}

/// Which kind of service wrote the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Issuer,
    Ce,
    Batch,
    Storage,
    Transfer,
    /// Not known (a raw event of an unknown format).
    Unknown,
}

impl Service {
    /// The contract string (`issuer`, `ce`, …; empty when unknown).
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Issuer => "issuer",
            Service::Ce => "ce",
            Service::Batch => "batch",
            Service::Storage => "storage",
            Service::Transfer => "transfer",
            Service::Unknown => "",
        }
    }
}

/// The normalised actions of DESIGN.md section 3.
pub mod action {
    pub const TOKEN_ISSUE: &str = "token.issue";
    pub const TOKEN_REFRESH: &str = "token.refresh";
    pub const TOKEN_EXCHANGE: &str = "token.exchange";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const TOKEN_INTROSPECT: &str = "token.introspect";
    pub const AUTH_LOGIN: &str = "auth.login";
    pub const AUTH_FAIL: &str = "auth.fail";
    pub const ACCOUNT_DISABLE: &str = "account.disable";
    pub const ACCOUNT_RESTORE: &str = "account.restore";
    pub const CLIENT_DISABLE: &str = "client.disable";
    pub const JOB_SUBMIT: &str = "job.submit";
    pub const JOB_ROUTE: &str = "job.route";
    pub const JOB_START: &str = "job.start";
    pub const JOB_END: &str = "job.end";
    pub const JOB_REMOVE: &str = "job.remove";
    pub const JOB_HOLD: &str = "job.hold";
    pub const FILE_READ: &str = "file.read";
    pub const FILE_WRITE: &str = "file.write";
    pub const FILE_DELETE: &str = "file.delete";
    pub const FILE_LIST: &str = "file.list";
    pub const FILE_STAGE: &str = "file.stage";
    pub const FILE_MKDIR: &str = "file.mkdir";
    pub const FILE_MOVE: &str = "file.move";
    pub const TRANSFER_SUBMIT: &str = "transfer.submit";
    pub const TRANSFER_DONE: &str = "transfer.done";
    pub const AUTHZ_DENY: &str = "authz.deny";
    pub const OTHER: &str = "other";

    /// Every action, for validation and documentation.
    pub const ALL: &[&str] = &[
        TOKEN_ISSUE,
        TOKEN_REFRESH,
        TOKEN_EXCHANGE,
        TOKEN_REVOKE,
        TOKEN_INTROSPECT,
        AUTH_LOGIN,
        AUTH_FAIL,
        ACCOUNT_DISABLE,
        ACCOUNT_RESTORE,
        CLIENT_DISABLE,
        JOB_SUBMIT,
        JOB_ROUTE,
        JOB_START,
        JOB_END,
        JOB_REMOVE,
        JOB_HOLD,
        FILE_READ,
        FILE_WRITE,
        FILE_DELETE,
        FILE_LIST,
        FILE_STAGE,
        FILE_MKDIR,
        FILE_MOVE,
        TRANSFER_SUBMIT,
        TRANSFER_DONE,
        AUTHZ_DENY,
        OTHER,
    ];
}

/// `ok` or `fail`.
pub mod outcome {
    pub const OK: &str = "ok";
    pub const FAIL: &str = "fail";
}

/// A text field whose value is most often one of a fixed set — format ids, service kinds,
/// actions, outcomes, protocols: a constant is kept as a reference, not copied into an
/// allocation of its own for every event. Reads as a `&str` (`Deref`, `as_str`) and
/// compares with strings; JSON sees a plain string.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Label(std::borrow::Cow<'static, str>);

impl Label {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Empties the field.
    pub fn clear(&mut self) {
        self.0 = std::borrow::Cow::Borrowed("");
    }
}

impl std::ops::Deref for Label {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Label {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Label {
    fn from(text: &'static str) -> Self {
        Label(std::borrow::Cow::Borrowed(text))
    }
}

impl From<String> for Label {
    fn from(text: String) -> Self {
        Label(std::borrow::Cow::Owned(text))
    }
}

impl From<Label> for String {
    fn from(label: Label) -> Self {
        label.0.into_owned()
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Label {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Label> for str {
    fn eq(&self, other: &Label) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Label> for &str {
    fn eq(&self, other: &Label) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Label> for String {
    fn eq(&self, other: &Label) -> bool {
        **self == *other.0
    }
}

/// One normalised event. Absent text fields are empty strings, absent lists empty, absent
/// numbers and times `null`; every field is always present in JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: String,
    pub time: Option<Timestamp>,
    pub source: Label,
    pub service: Label,
    pub host: String,
    pub action: Label,
    pub outcome: Label,
    pub status: String,
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub client_id: String,
    pub username: String,
    pub local_user: String,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub aud: Vec<String>,
    pub token_iat: Option<Timestamp>,
    pub token_exp: Option<Timestamp>,
    pub grant_type: String,
    pub parent_jti: String,
    pub job_id: String,
    pub batch_job_id: String,
    pub worker_node: String,
    pub path: String,
    pub bytes: Option<u64>,
    pub duration_ms: Option<u64>,
    pub protocol: Label,
    pub client_ip: String,
    pub client_host: String,
    pub transfer_id: String,
    pub session_id: String,
    pub origin: Origin,
    pub raw: String,
    /// How the stream parser made `id` (ingest only: never serialised, never stored).
    #[serde(skip)]
    pub id_source: IdSource,
}

/// The inputs of an event's id as the stream parser computed it
/// ([`crate::stream::event_id`]): the content fingerprint of its stream and the event's index
/// among the events of its line. A store that keeps the fingerprint once per stream can then
/// leave the id — 16 random bytes, a third of a compressed stored event — out of each stored
/// event and compute it again when it reads the event back.
///
/// A hint known only while ingesting: events read back from a store or built elsewhere have
/// none, and equality ignores it (two events are equal whatever hint they carry).
#[derive(Clone, Debug, Default)]
pub struct IdSource(pub Option<(Arc<str>, usize)>);

impl PartialEq for IdSource {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Event {
    /// A new event of `source` (format id) written by a service of kind `service`.
    pub fn new(source: &'static str, service: Service) -> Self {
        Event {
            source: source.into(),
            service: service.as_str().into(),
            ..Event::default()
        }
    }

    /// The key fields a trace or a term search may look up, with their values.
    /// Multi-valued fields yield one pair per value.
    pub fn key_values(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        let singles = [
            ("source", self.source.as_str()),
            ("service", self.service.as_str()),
            ("host", self.host.as_str()),
            ("action", self.action.as_str()),
            ("outcome", self.outcome.as_str()),
            ("status", self.status.as_str()),
            ("iss", self.iss.as_str()),
            ("sub", self.sub.as_str()),
            ("jti", self.jti.as_str()),
            ("client_id", self.client_id.as_str()),
            ("username", self.username.as_str()),
            ("local_user", self.local_user.as_str()),
            ("grant_type", self.grant_type.as_str()),
            ("parent_jti", self.parent_jti.as_str()),
            ("job_id", self.job_id.as_str()),
            ("batch_job_id", self.batch_job_id.as_str()),
            ("worker_node", self.worker_node.as_str()),
            ("path", self.path.as_str()),
            ("protocol", self.protocol.as_str()),
            ("client_ip", self.client_ip.as_str()),
            ("client_host", self.client_host.as_str()),
            ("transfer_id", self.transfer_id.as_str()),
            ("session_id", self.session_id.as_str()),
        ];
        let lists = self
            .groups
            .iter()
            .map(|value| ("groups", value.as_str()))
            .chain(self.scopes.iter().map(|value| ("scopes", value.as_str())))
            .chain(self.aud.iter().map(|value| ("aud", value.as_str())));
        singles
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .chain(lists)
    }

    /// Sets `outcome` from an HTTP-like status code: 2xx/3xx ok, anything else fail.
    pub fn set_http_status(&mut self, code: u16) {
        self.status = code.to_string();
        self.outcome = if (200..400).contains(&code) {
            outcome::OK
        } else {
            outcome::FAIL
        }
        .into();
    }
}

/// The names of the single-valued key fields, in the order of DESIGN.md section 3.
pub const KEY_FIELDS: &[&str] = &[
    "source",
    "service",
    "host",
    "action",
    "outcome",
    "status",
    "iss",
    "sub",
    "jti",
    "client_id",
    "username",
    "local_user",
    "grant_type",
    "parent_jti",
    "job_id",
    "batch_job_id",
    "worker_node",
    "path",
    "protocol",
    "client_ip",
    "client_host",
    "transfer_id",
    "session_id",
];

/// The names of the multi-valued key fields.
pub const LIST_FIELDS: &[&str] = &["groups", "scopes", "aud"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_kept_or_copied_read_compare_hash_and_serialise_alike() {
        let kept = Label::from(action::FILE_READ);
        let copied = Label::from(action::FILE_READ.to_string());
        assert_eq!(kept, copied);
        assert_eq!(kept, "file.read");
        assert_eq!("file.read", kept);
        assert_eq!(kept, *"file.read");
        assert_eq!(copied.as_str(), "file.read");
        let set: std::collections::HashSet<Label> = [kept.clone(), copied.clone()].into();
        assert_eq!(set.len(), 1);
        assert!(set.contains("file.read"));
        assert_eq!(serde_json::to_string(&kept).unwrap(), r#""file.read""#);
        let read: Label = serde_json::from_str(r#""file.read""#).unwrap();
        assert_eq!(read, kept);
        let (first, second) = (Label::from("a"), Label::from("b".to_string()));
        assert!(first < second);
        assert_eq!(format!("{kept} {kept:?}"), r#"file.read "file.read""#);
        let mut cleared = copied;
        cleared.clear();
        assert!(cleared.is_empty() && cleared == Label::default());
    }

    #[test]
    fn serialises_every_contract_field_even_when_empty() {
        let event = Event::new("iam-audit", Service::Issuer);
        let json = serde_json::to_value(&event).unwrap();
        let object = json.as_object().unwrap();
        for name in [
            "id",
            "time",
            "source",
            "service",
            "host",
            "action",
            "outcome",
            "status",
            "iss",
            "sub",
            "jti",
            "client_id",
            "username",
            "local_user",
            "groups",
            "scopes",
            "aud",
            "token_iat",
            "token_exp",
            "grant_type",
            "parent_jti",
            "job_id",
            "batch_job_id",
            "worker_node",
            "path",
            "bytes",
            "duration_ms",
            "protocol",
            "client_ip",
            "client_host",
            "transfer_id",
            "session_id",
            "origin",
            "raw",
        ] {
            assert!(object.contains_key(name), "missing {name}");
        }
        assert_eq!(object.len(), 34);
        assert_eq!(json["service"], "issuer");
        assert_eq!(json["origin"]["line"], 0);
    }

    #[test]
    fn timestamps_round_trip_as_rfc3339_utc_millis() {
        let stamp = Timestamp::from_millis(1_741_943_523_396);
        assert_eq!(stamp.to_rfc3339(), "2025-03-14T09:12:03.396Z");
        let json = serde_json::to_string(&stamp).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stamp);
    }

    #[test]
    fn key_values_skip_empty_fields_and_expand_lists() {
        let mut event = Event::new("x", Service::Storage);
        event.sub = "abc".into();
        event.scopes = vec!["storage.read:/".into(), "openid".into()];
        let pairs: Vec<_> = event.key_values().collect();
        assert!(pairs.contains(&("sub", "abc")));
        assert!(pairs.contains(&("scopes", "openid")));
        assert!(!pairs.iter().any(|(name, _)| *name == "jti"));
    }
}
