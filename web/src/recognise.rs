//! The search box: recognises what was typed without field syntax and offers the traces it
//! could start. A UUID is a `sub` or a `jti`; an address a client IP; `host#C.P` or `C.P` a
//! job; `/…` a path; a dotted name a host; any other word a user name, client id or host.
//! A pasted JWT is read for its `jti` and `sub` (and never stored: see [`redacted`]).

use std::net::IpAddr;

use tokentrail_index::Query;

/// A trace the input could start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Trace parameter name: `sub`, `jti`, `job`, `ip`, `host`, `path`, `user`, `client`.
    pub kind: &'static str,
    pub value: String,
}

/// What the search box understood.
#[derive(Clone, Debug, PartialEq)]
pub struct Recognised {
    /// Human description (`sub or jti`, `address`, …).
    pub label: &'static str,
    pub candidates: Vec<Candidate>,
    /// The event search to show under the candidates.
    pub query: Query,
}

fn candidate(kind: &'static str, value: &str) -> Candidate {
    Candidate {
        kind,
        value: value.to_string(),
    }
}

fn any_of(fields: &[&str], value: &str) -> Query {
    Query::Or(
        fields
            .iter()
            .map(|field| Query::term(field, value))
            .collect(),
    )
}

/// `8-4-4-4-12` hex digits.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `host#cluster.proc`, `cluster.proc`, or a bare number (an LRMS id).
pub fn is_job_id(text: &str) -> bool {
    let local = match text.split_once('#') {
        Some((host, local)) if !host.is_empty() => local,
        Some(_) => return false,
        None => text,
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match local.split_once('.') {
        Some((cluster, proc_)) => digits(cluster) && digits(proc_),
        None => digits(local),
    }
}

fn is_host_name(text: &str) -> bool {
    text.contains('.')
        && text.bytes().any(|b| b.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !text.starts_with('.')
        && !text.ends_with('.')
}

fn is_plain_word(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(char::is_whitespace)
        && text.len() <= 200
        && !text.contains('"')
}

/// `root://host//path`, `davs://host:443/path` → `/path`.
fn path_of_url(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if !matches!(
        scheme,
        "root" | "xroot" | "roots" | "davs" | "dav" | "https" | "http" | "srm" | "gsiftp"
    ) {
        return None;
    }
    let slash = rest.find('/')?;
    let path = &rest[slash..];
    let path = path.trim_start_matches('/');
    let path = path.split(['?', '#']).next().unwrap_or_default();
    Some(format!("/{path}"))
}

/// Replaces any bearer token in `input` by its fingerprint (for the audit log and the page).
pub fn redacted(input: &str) -> String {
    tokentrail_parsers::jwt::redact(input).text.into_owned()
}

/// Reads the search box. `None` when the input is empty.
pub fn recognise(input: &str) -> Option<Recognised> {
    let text = input.trim();
    if text.is_empty() {
        return None;
    }
    // A pasted token: trace its jti and sub, never search for the secret itself.
    let found = tokentrail_parsers::jwt::redact(text);
    if let Some(claims) = found.tokens.iter().find_map(|token| token.claims.as_ref()) {
        let mut candidates = Vec::new();
        let mut alternatives = Vec::new();
        if !claims.jti.is_empty() {
            candidates.push(candidate("jti", &claims.jti));
            alternatives.push(Query::term("jti", &claims.jti));
        }
        if !claims.sub.is_empty() {
            candidates.push(candidate("sub", &claims.sub));
            alternatives.push(Query::term("sub", &claims.sub));
        }
        if !candidates.is_empty() {
            return Some(Recognised {
                label: "token (decoded claims)",
                candidates,
                query: Query::Or(alternatives),
            });
        }
    }
    if is_uuid(text) {
        return Some(Recognised {
            label: "sub or jti",
            candidates: vec![candidate("sub", text), candidate("jti", text)],
            query: any_of(&["sub", "jti", "parent_jti"], text),
        });
    }
    let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = unbracketed.parse::<IpAddr>() {
        let address = address.to_string();
        return Some(Recognised {
            label: "address",
            candidates: vec![candidate("ip", &address)],
            query: Query::term("client_ip", &address),
        });
    }
    if is_job_id(text) {
        return Some(Recognised {
            label: "job id",
            candidates: vec![candidate("job", text)],
            query: any_of(&["job_id", "batch_job_id"], text),
        });
    }
    if let Some(path) = path_of_url(text) {
        return Some(Recognised {
            label: "path (from a URL)",
            candidates: vec![candidate("path", &path)],
            query: Query::term("path", &path),
        });
    }
    if text.starts_with('/') {
        let query = match text.strip_suffix('*') {
            Some(prefix) => Query::Prefix {
                field: "path".into(),
                value: prefix.to_string(),
            },
            None => Query::term("path", text),
        };
        return Some(Recognised {
            label: "path",
            candidates: vec![candidate("path", text.trim_end_matches('*'))],
            query,
        });
    }
    if is_host_name(text) {
        return Some(Recognised {
            label: "host",
            candidates: vec![candidate("host", text)],
            query: any_of(&["worker_node", "host", "client_host"], text),
        });
    }
    if is_plain_word(text) {
        return Some(Recognised {
            label: "user name, client id or host",
            candidates: vec![
                candidate("user", text),
                candidate("client", text),
                candidate("host", text),
            ],
            query: Query::Or(vec![
                Query::term("username", text),
                Query::term("local_user", text),
                Query::term("client_id", text),
                Query::term("worker_node", text),
                Query::term("host", text),
                Query::term("sub", text),
                Query::Text(text.to_string()),
            ]),
        });
    }
    Some(Recognised {
        label: "free text",
        candidates: Vec::new(),
        query: Query::Text(text.to_string()),
    })
}

/// Whether the input uses the field query language (`field:value`), which then wins.
pub fn uses_field_syntax(input: &str) -> bool {
    input.split_whitespace().any(|word| {
        let word = word.trim_start_matches('-');
        match word.split_once(':') {
            Some((field, value)) => {
                tokentrail_index::query::is_query_field(field) && !value.starts_with("//")
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<&'static str> {
        recognise(input)
            .unwrap()
            .candidates
            .iter()
            .map(|c| c.kind)
            .collect()
    }

    #[test]
    fn recognises_each_kind_without_field_syntax() {
        assert_eq!(
            kinds("6f1c2a4e-1b2c-4d3e-8f90-0123456789ab"),
            ["sub", "jti"]
        );
        assert_eq!(kinds("192.0.2.45"), ["ip"]);
        assert_eq!(kinds("2001:db8::1"), ["ip"]);
        assert_eq!(kinds("ce01.example.org#1234.0"), ["job"]);
        assert_eq!(kinds("1234.0"), ["job"]);
        assert_eq!(kinds("/store/user/alice/f.root"), ["path"]);
        assert_eq!(kinds("root://xrd.example.org//store/a"), ["path"]);
        assert_eq!(
            recognise("root://xrd.example.org//store/a")
                .unwrap()
                .candidates[0]
                .value,
            "/store/a"
        );
        assert_eq!(kinds("wn042.example.org"), ["host"]);
        assert_eq!(kinds("alice"), ["user", "client", "host"]);
        assert!(kinds("bad credentials here").is_empty());
    }

    #[test]
    fn field_syntax_is_detected() {
        assert!(uses_field_syntax("jti:abc"));
        assert!(uses_field_syntax("-action:file.read foo"));
        assert!(!uses_field_syntax("2001:db8::1"));
        assert!(!uses_field_syntax("root://host//x"));
    }

    #[test]
    fn a_pasted_jwt_is_traced_by_its_claims_and_redacted() {
        let token = tokentrail_parsers::jwt::encode_test_jwt(
            &serde_json::json!({"sub": "s-1", "jti": "j-1", "iss": "https://iam"}),
            "c2lnbmF0dXJlc2lnbmF0dXJl",
        );
        let recognised = recognise(&token).unwrap();
        assert_eq!(recognised.candidates[0], candidate("jti", "j-1"));
        assert!(!redacted(&token).contains("c2lnbmF0dXJlc2lnbmF0dXJl"));
    }
}
