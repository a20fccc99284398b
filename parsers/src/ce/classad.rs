//! Shared helpers for HTCondor job records: ClassAd `Attr = value` lines (history files,
//! `condor_history -l`, the attribute lines of event-log 028 records), sinful strings
//! (`<10.20.4.42:9618?addrs=…&alias=wn042.example.org>`), slot names (`slot1_7@wn042…`),
//! `GlobalJobId` (`ce01.example.org#1523.0#1741083302`), and the job fields of
//! docs/conventions.md that follow from an ad (ids, token identity, worker node).
//!
//! Attribute names are case-insensitive in ClassAds, so lookups are too.

use std::collections::BTreeMap;

use crate::event::Event;

/// One `Attr = value` line: (attribute name, unparsed value text). The name is a ClassAd
/// identifier; `==` is not an assignment. Example: `JobStatus = 4`.
pub fn attribute_line(text: &str) -> Option<(&str, &str)> {
    let name_len = identifier_len(text);
    if name_len == 0 {
        return None;
    }
    let rest = text[name_len..].trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix('=')?;
    if value.starts_with('=') {
        return None;
    }
    Some((&text[..name_len], value.trim()))
}

/// Length in bytes of the ClassAd identifier at the start of `text` (0 if none).
fn identifier_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphabetic() || *first == b'_' => {}
        _ => return 0,
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'.')
        .count()
}

/// A ClassAd string literal `"…"` with its escapes (`\"`, `\\`, `\n`, `\t`) undone; `None` for a
/// value that is not a complete string literal (a number, an expression, a truncated string).
pub fn string_value(value: &str) -> Option<String> {
    let inner = value.strip_prefix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            other => out.push(other),
        }
    }
    None
}

/// An integer value (`4`, `-1`); `None` for anything else.
pub fn integer_value(value: &str) -> Option<i64> {
    value.trim().parse().ok()
}

/// A boolean value (`true`, `FALSE`); `None` for anything else.
pub fn boolean_value(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One job ad: attribute → unparsed value, looked up without regard to case. A repeated
/// attribute keeps its last value, as the ClassAd library does.
#[derive(Clone, Debug, Default)]
pub struct Ad {
    attributes: BTreeMap<String, String>,
}

impl Ad {
    /// Adds (or replaces) an attribute; returns whether it was already there.
    pub fn insert(&mut self, name: &str, value: &str) -> bool {
        self.attributes
            .insert(name.to_ascii_lowercase(), value.to_string())
            .is_some()
    }

    /// Adds an attribute only if the ad has none of that name.
    pub fn insert_missing(&mut self, name: &str, value: &str) {
        self.attributes
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| value.to_string());
    }

    /// Whether the ad has the attribute.
    pub fn contains(&self, name: &str) -> bool {
        self.attributes.contains_key(&name.to_ascii_lowercase())
    }

    /// Whether the ad has no attribute.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// The unparsed value.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A string attribute, unquoted; empty strings count as absent.
    pub fn string(&self, name: &str) -> Option<String> {
        self.raw(name)
            .and_then(string_value)
            .filter(|value| !value.is_empty())
    }

    /// An integer attribute.
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.raw(name).and_then(integer_value)
    }

    /// A positive epoch-seconds attribute (HTCondor writes 0 for "never").
    pub fn epoch(&self, name: &str) -> Option<crate::event::Timestamp> {
        self.integer(name)
            .filter(|seconds| *seconds > 0)
            .map(crate::event::Timestamp::from_secs)
    }

    /// A boolean attribute.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.raw(name).and_then(boolean_value)
    }

    /// `ClusterId.ProcId`, from those attributes or else from `GlobalJobId`.
    pub fn job_number(&self) -> Option<String> {
        match (self.integer("ClusterId"), self.integer("ProcId")) {
            (Some(cluster), Some(proc)) if cluster >= 0 && proc >= 0 => {
                Some(format!("{cluster}.{proc}"))
            }
            _ => self
                .string("GlobalJobId")
                .and_then(|global| global_job_id(&global).map(|(_, number)| number.to_string())),
        }
    }

    /// The schedd's host, from `GlobalJobId`.
    pub fn schedd_host(&self) -> Option<String> {
        let global = self.string("GlobalJobId")?;
        global_job_id(&global).map(|(host, _)| host.to_string())
    }
}

/// `<schedd name>#<C>.<P>#<QDate>` → (schedd host, `C.P`). A schedd name of the form
/// `name@host` (several schedds on one machine) gives its host part, so that the CE schedd
/// and a batch schedd on one machine name jobs with the same host (docs/conventions.md).
pub fn global_job_id(global: &str) -> Option<(&str, &str)> {
    let mut parts = global.split('#');
    let schedd = parts.next()?;
    let number = parts.next()?;
    if schedd.is_empty() || !is_job_number(number) {
        return None;
    }
    let host = schedd.rsplit('@').next().unwrap_or(schedd);
    Some((host, number))
}

/// `C.P` with decimal cluster and proc.
pub fn is_job_number(text: &str) -> bool {
    match text.split_once('.') {
        Some((cluster, proc)) => {
            !cluster.is_empty()
                && !proc.is_empty()
                && cluster.bytes().all(|b| b.is_ascii_digit())
                && proc.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// `<host>#<C.P>`, or `C.P` alone when the host is unknown.
pub fn qualified(host: &str, number: &str) -> String {
    if host.is_empty() {
        number.to_string()
    } else {
        format!("{host}#{number}")
    }
}

/// What a sinful string says: the address without port or brackets, and the `alias=` name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sinful {
    pub ip: String,
    pub alias: String,
}

/// Reads `<10.20.4.42:9618?addrs=…&alias=wn042.example.org&noUDP>` or
/// `<[2001:db8::1]:9618?…>`; `None` when `text` holds no sinful string.
pub fn sinful(text: &str) -> Option<Sinful> {
    let start = text.find('<')?;
    let rest = &text[start + 1..];
    let end = rest.find('>').unwrap_or(rest.len());
    let inside = &rest[..end];
    let (address, query) = match inside.split_once('?') {
        Some((address, query)) => (address, query),
        None => (inside, ""),
    };
    let ip = if let Some(bracketed) = address.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => address,
        }
    };
    if ip.is_empty() || ip.contains(char::is_whitespace) {
        return None;
    }
    let alias = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("alias="))
        .unwrap_or_default();
    Some(Sinful {
        ip: ip.to_string(),
        alias: alias.to_ascii_lowercase(),
    })
}

/// The execution host of a slot name, lower case: `slot1_7@wn042.example.org` →
/// `wn042.example.org` (a glidein's `slot1_1@glidein_1_2@wn042…` gives the last part).
pub fn worker_from_slot(slot: &str) -> String {
    let host = slot.rsplit('@').next().unwrap_or(slot).trim();
    host.to_ascii_lowercase()
}

/// Which attribute names hold the user's token identity in an ad: the routed (batch) job
/// carries the CE job's as `orig_AuthToken*` (HTCondor-CE `RENAME /^AuthToken.*$/ orig_\0`);
/// its own `AuthToken*` then describe the JobRouter's credential and are ignored.
pub fn fill_identity(ad: &Ad, event: &mut Event) {
    let routed = ad.contains("RoutedFromJobId") || ad.boolean("RoutedJob") == Some(true);
    let has_orig = ad.contains("orig_AuthTokenSubject") || ad.contains("orig_AuthTokenId");
    let prefix = if has_orig || routed {
        "orig_AuthToken"
    } else {
        "AuthToken"
    };
    let get = |suffix: &str| ad.string(&format!("{prefix}{suffix}"));
    if let Some(iss) = get("Issuer") {
        event.iss = iss;
    }
    if let Some(sub) = get("Subject") {
        event.sub = sub;
    }
    if let Some(jti) = get("Id") {
        event.jti = jti;
    }
    if let Some(scopes) = get("Scopes") {
        event.scopes = split_list(&scopes);
    }
    if let Some(groups) = get("Groups") {
        event.groups = split_list(&groups);
    }
}

/// A ClassAd list string `a,b, c` as its elements.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attribute_lines_and_rejects_comparisons() {
        assert_eq!(attribute_line("JobStatus = 4"), Some(("JobStatus", "4")));
        assert_eq!(
            attribute_line("orig_AuthTokenId=\"x\""),
            Some(("orig_AuthTokenId", "\"x\""))
        );
        assert_eq!(attribute_line("A == 4"), None);
        assert_eq!(attribute_line("= 4"), None);
        assert_eq!(attribute_line("*** Offset = 0"), None);
    }

    #[test]
    fn unescapes_strings_and_rejects_truncated_ones() {
        assert_eq!(
            string_value(r#""say \"hi\" \\ there""#).as_deref(),
            Some(r#"say "hi" \ there"#)
        );
        assert_eq!(string_value(r#""unterminated"#), None);
        assert_eq!(string_value("42"), None);
    }

    #[test]
    fn reads_sinful_strings_with_ipv4_ipv6_and_alias() {
        let wn = sinful("<10.20.4.42:9618?addrs=10.20.4.42-9618&alias=WN042.example.org&noUDP>")
            .unwrap();
        assert_eq!(wn.ip, "10.20.4.42");
        assert_eq!(wn.alias, "wn042.example.org");
        let v6 = sinful("<[2001:db8::1]:9618?alias=wn1>").unwrap();
        assert_eq!(v6.ip, "2001:db8::1");
        assert_eq!(sinful("no address here"), None);
        assert_eq!(sinful("<>"), None);
    }

    #[test]
    fn global_job_id_gives_host_and_number() {
        assert_eq!(
            global_job_id("ce01.example.org#1523.0#1741083302"),
            Some(("ce01.example.org", "1523.0"))
        );
        assert_eq!(
            global_job_id("batch@ce01.example.org#88712.0#1"),
            Some(("ce01.example.org", "88712.0"))
        );
        assert_eq!(global_job_id("ce01#x#1"), None);
    }

    #[test]
    fn slot_prefix_is_removed_from_worker_nodes() {
        assert_eq!(
            worker_from_slot("slot1_7@WN042.example.org"),
            "wn042.example.org"
        );
        assert_eq!(worker_from_slot("wn042"), "wn042");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// No job-record parser panics, whatever the lines and file name.
        #[test]
        fn job_record_parsers_never_panic(
            text in r#"((000 \(1\.0\.0\) 2025-03-04 10:00:00 |\[2025-03-04 10:00:00\] \[Arc\] \[INFO\] \[1/2\] |ClusterId = |2025-03-04 10:00:00 Finished - job id: |\.\.\.|\*\*\* )?[0-9a-zA-Z_ .#:="<>/*()@\t\[\]\\-]{0,60}\n){0,8}"#,
            name in "(history|EventLog|job\\.ab12\\.local|job\\.ab12\\.diag|local|diag|arex\\.log)",
        ) {
            for format in [
                "htcondor-history",
                "htcondor-eventlog",
                "arc-jobs",
                "arc-local",
                "arc-diag",
                "arc-arex",
            ] {
                let context = crate::parser::Context {
                    file_name: name.clone(),
                    path: format!("x/jobs/abc/def/012/345/{name}"),
                    host: "h".into(),
                    ..Default::default()
                };
                let _ = crate::stream::parse_text(&text, Some(format), context.clone());
                let _ = crate::stream::parse_text(&text, None, context);
            }
        }
    }
}
