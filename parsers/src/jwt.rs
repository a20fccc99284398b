//! Bearer tokens inside log lines: finds JWTs anywhere in a line, decodes their claims (no
//! signature check), and replaces every signature — and every opaque bearer secret after
//! `Bearer`, `access_token=`, `"client_token":` and the like — by a short fingerprint, so that
//! nothing stored can be replayed. The fingerprint (`REDACTED-sha256:<12 hex>`) is stable, so
//! the same token can still be followed across logs.

use std::borrow::Cow;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::{Event, Timestamp};
use crate::json::{self, Object};

/// Marker written in place of a secret.
pub const REDACTED: &str = "REDACTED-sha256:";

/// Largest JWT payload segment decoded for claims (bytes of base64); larger ones are still
/// redacted but not decoded.
const MAX_DECODED_PAYLOAD: usize = 1 << 20;

/// The claims tokentrail reads from a token (JWT payload or an issuer's decoded payload).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub aud: Vec<String>,
    pub groups: Vec<String>,
    pub iat: Option<Timestamp>,
    pub exp: Option<Timestamp>,
    /// `act.sub`: the client that exchanged the token (RFC 8693).
    pub act_sub: String,
    pub username: String,
}

/// A list claim as written: one string (split by the claim's rule) or an array's string and
/// number items.
enum ListClaim<'s> {
    Text(Cow<'s, str>),
    Items(Vec<Cow<'s, str>>),
}

/// What the claim rules of [`Claims`] read from a claim set: a built `serde_json::Value` (ARC's
/// and EOS's claims written as key=value) or an [`Object`] read lazily from text (JWTs, IAM).
trait ClaimSet {
    /// The string or number at `key` as text (a number as serde_json prints it).
    fn scalar(&self, key: &str) -> Option<Cow<'_, str>>;
    /// The first of `keys` present decides, even when its value is `null` or of another type
    /// (then `None`).
    fn list(&self, keys: &[&str]) -> Option<ListClaim<'_>>;
    fn time(&self, key: &str) -> Option<Timestamp>;
    /// `act.sub`, when a string.
    fn act_sub(&self) -> String;
}

impl ClaimSet for Value {
    fn scalar(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.get(key)? {
            Value::String(text) => Some(Cow::Borrowed(text)),
            Value::Number(number) => Some(Cow::Owned(number.to_string())),
            _ => None,
        }
    }

    fn list(&self, keys: &[&str]) -> Option<ListClaim<'_>> {
        match keys.iter().find_map(|key| self.get(key))? {
            Value::String(text) => Some(ListClaim::Text(Cow::Borrowed(text))),
            Value::Array(items) => Some(ListClaim::Items(
                items
                    .iter()
                    .filter_map(|item| match item {
                        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
                        Value::Number(number) => Some(Cow::Owned(number.to_string())),
                        _ => None,
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    fn time(&self, key: &str) -> Option<Timestamp> {
        self.get(key).and_then(claim_time)
    }

    fn act_sub(&self) -> String {
        self.get("act")
            .and_then(|act| act.get("sub"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

impl ClaimSet for Object<'_> {
    fn scalar(&self, key: &str) -> Option<Cow<'_, str>> {
        json::scalar(self.raw(key)?)
    }

    fn list(&self, keys: &[&str]) -> Option<ListClaim<'_>> {
        let raw = keys.iter().find_map(|key| self.raw(key))?;
        if raw.starts_with('"') {
            return json::scalar(raw).map(ListClaim::Text);
        }
        let items = json::items(raw)?;
        Some(ListClaim::Items(
            items.into_iter().filter_map(json::scalar).collect(),
        ))
    }

    fn time(&self, key: &str) -> Option<Timestamp> {
        claim_time_at(self, key)
    }

    fn act_sub(&self) -> String {
        self.object("act")
            .and_then(|act| act.string("sub"))
            .unwrap_or_default()
            .into_owned()
    }
}

impl Claims {
    /// Reads the claims of a JSON claim set. Times in seconds or milliseconds (IAM's audit
    /// payload uses milliseconds) are both accepted.
    pub fn from_json(value: &Value) -> Claims {
        Claims::read(value)
    }

    /// Reads the claims of a JSON claim set given as text; `None` when it is not an object.
    pub fn from_json_text(text: &str) -> Option<Claims> {
        Object::parse(text).map(|object| Claims::from_object(&object))
    }

    /// Reads the claims of a JSON claim set read lazily (see [`Object`]).
    pub fn from_object(object: &Object<'_>) -> Claims {
        Claims::read(object)
    }

    /// The claim rules, whatever holds the claim set.
    fn read(set: &impl ClaimSet) -> Claims {
        let text = |key: &str| set.scalar(key).unwrap_or_default().into_owned();
        let list = |keys: &[&str], split: fn(&str) -> Vec<String>| match set.list(keys) {
            Some(ListClaim::Text(text)) => split(&text),
            Some(ListClaim::Items(items)) => items.into_iter().map(Cow::into_owned).collect(),
            None => Vec::new(),
        };
        fn words(text: &str) -> Vec<String> {
            text.split_whitespace().map(str::to_string).collect()
        }
        fn group_names(text: &str) -> Vec<String> {
            text.split([',', ' '])
                .filter(|group| !group.is_empty())
                .map(str::to_string)
                .collect()
        }
        let mut client_id = text("client_id");
        if client_id.is_empty() {
            client_id = text("azp");
        }
        Claims {
            iss: text("iss"),
            sub: text("sub"),
            jti: text("jti"),
            client_id,
            scopes: list(&["scope", "scp"], words),
            aud: list(&["aud"], words),
            groups: list(&["wlcg.groups", "groups"], group_names),
            iat: set.time("iat"),
            exp: set.time("exp"),
            act_sub: set.act_sub(),
            username: text("preferred_username"),
        }
    }

    /// Fills the event's empty token fields from these claims (never overwrites what the
    /// parser read from the line itself).
    pub fn fill(&self, event: &mut Event) {
        fn set(slot: &mut String, value: &str) {
            if slot.is_empty() && !value.is_empty() {
                *slot = value.to_string();
            }
        }
        fn set_list(slot: &mut Vec<String>, value: &[String]) {
            if slot.is_empty() && !value.is_empty() {
                *slot = value.to_vec();
            }
        }
        set(&mut event.iss, &self.iss);
        set(&mut event.sub, &self.sub);
        set(&mut event.jti, &self.jti);
        set(&mut event.client_id, &self.client_id);
        set(&mut event.username, &self.username);
        set_list(&mut event.scopes, &self.scopes);
        set_list(&mut event.aud, &self.aud);
        set_list(&mut event.groups, &self.groups);
        if event.token_iat.is_none() {
            event.token_iat = self.iat;
        }
        if event.token_exp.is_none() {
            event.token_exp = self.exp;
        }
    }
}

/// The [`claim_time`] of the member `key` of an object read lazily.
pub fn claim_time_at(object: &Object<'_>, key: &str) -> Option<Timestamp> {
    claim_time(&object.value(key)?)
}

/// A claim time: epoch seconds, epoch milliseconds (values past year 5138 in seconds are read as
/// milliseconds), or a date string.
pub fn claim_time(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(number) => {
            let raw = number.as_f64()?;
            if !raw.is_finite() || raw < 0.0 {
                return None;
            }
            if raw >= 100_000_000_000.0 {
                Some(Timestamp(raw as i64))
            } else {
                Some(Timestamp((raw * 1000.0) as i64))
            }
        }
        Value::String(text) => Timestamp::parse(text).or_else(|| {
            // Java `Date.toString()`: "Fri Mar 14 10:12:03 UTC 2025".
            chrono::DateTime::parse_from_str(text, "%a %b %d %H:%M:%S %Z %Y")
                .ok()
                .map(Timestamp::from)
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(
                        &text.replace(" UTC ", " ").replace(" GMT ", " "),
                        "%a %b %d %H:%M:%S %Y",
                    )
                    .ok()
                    .map(|naive| Timestamp(naive.and_utc().timestamp_millis()))
                })
        }),
        _ => None,
    }
}

/// A token found in a line.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundToken {
    /// `REDACTED-sha256:<12 hex>` of the whole token.
    pub fingerprint: String,
    /// The decoded claims, when the token was a JWT with a readable payload.
    pub claims: Option<Claims>,
}

/// A line with its secrets replaced, and what was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Redacted<'a> {
    pub text: Cow<'a, str>,
    pub tokens: Vec<FoundToken>,
}

/// The fingerprint of a secret.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(REDACTED.len() + 12);
    out.push_str(REDACTED);
    for byte in &digest[..6] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn is_b64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

fn is_secret_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Key names whose values are secrets, in `key=value`, `key: value` and `"key":"value"` forms.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_token",
    "client_secret",
    "subject_token",
    "bearer_token",
    "authz",
    "password",
    "token_value",
    "accessor",
    "client_token_accessor",
];

/// Cheap test: could this line hold a secret at all? Looks for the markers the passes below
/// look for, in a lower-cased copy of the line, since those passes ignore ASCII case for the
/// key names and `Bearer` (the JWT and Vault prefixes, matched exactly below, then only let a
/// few more lines through). One multi-pattern (SIMD) search over the copy. A key name counts
/// only where the key pass would read it — not inside a longer word (IAM's
/// `UsernamePasswordAuthenticationToken`, on most of its lines, is no `password` key).
pub fn may_hold_secret(line: &str) -> bool {
    // Every line passes here: the searcher is built once, not once per line.
    static MARKERS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    thread_local! {
        static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// Markers whose every occurrence counts; the key names of [`SECRET_KEYS`] follow them.
    const ANYWHERE: [&str; 5] = ["eyj", "bearer", "hvs.", "hvb.", "hvr."];
    let markers = MARKERS.get_or_init(|| {
        // Leftmost matching: the packed (Teddy) searcher serves that kind only. A key
        // match inside a longer word hides no other match that could count (the module
        // test `a_key_inside_a_word_hides_no_marker` says why).
        aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(ANYWHERE.iter().chain(SECRET_KEYS))
            .expect("fixed, valid needles")
    });
    LOWER.with_borrow_mut(|lower| {
        lower.clear();
        lower.extend_from_slice(line.as_bytes());
        lower.make_ascii_lowercase();
        let found = markers.find_iter(lower.as_slice()).any(|found| {
            let at = found.start();
            // The key pass's own rule: a key preceded by a word byte is part of that word.
            found.pattern().as_usize() < ANYWHERE.len()
                || at == 0
                || !(lower[at - 1].is_ascii_alphanumeric() || lower[at - 1] == b'_')
        });
        if lower.capacity() > 1 << 20 {
            // A huge line: do not keep its buffer for the rest of the thread's life.
            *lower = Vec::new();
        }
        found
    })
}

/// Redacts every JWT signature and bearer secret in `line`, decoding JWT claims on the way.
pub fn redact(line: &str) -> Redacted<'_> {
    if !may_hold_secret(line) {
        return Redacted {
            text: Cow::Borrowed(line),
            tokens: Vec::new(),
        };
    }
    redact_unfiltered(line)
}

/// [`redact`] without the pre-filter.
fn redact_unfiltered(line: &str) -> Redacted<'_> {
    let mut tokens = Vec::new();
    let after_jwts = redact_jwts(line, &mut tokens);
    let text = match redact_after_markers(&after_jwts, &mut tokens) {
        Some(redacted) => Cow::Owned(redacted),
        None => after_jwts,
    };
    Redacted { text, tokens }
}

/// Searchers for the key names of [`SECRET_KEYS`], in its order, built once (see
/// [`crate::parser::finder!`], which serves the fixed markers).
fn key_finders() -> &'static [memchr::memmem::Finder<'static>] {
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    FINDERS.get_or_init(|| {
        SECRET_KEYS
            .iter()
            .map(|key| memchr::memmem::Finder::new(key.as_bytes()))
            .collect()
    })
}

/// Pass 1: `eyJ<header>.<payload>.<signature>` anywhere.
fn redact_jwts<'a>(line: &'a str, tokens: &mut Vec<FoundToken>) -> Cow<'a, str> {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(found) = crate::parser::finder!(b"eyJ").find(&bytes[search_from..]) {
        let start = search_from + found;
        search_from = start + 3;
        // Inside a longer word, unless that word ends in a percent escape (`Bearer%20eyJ…`).
        let after_escape = start >= 3 && bytes[start - 3] == b'%';
        if start > 0 && is_b64url(bytes[start - 1]) && !after_escape {
            continue;
        }
        let header_end = start + bytes[start..].iter().take_while(|b| is_b64url(**b)).count();
        if bytes.get(header_end) != Some(&b'.') {
            continue;
        }
        let payload_start = header_end + 1;
        let payload_end = payload_start
            + bytes[payload_start..]
                .iter()
                .take_while(|b| is_b64url(**b))
                .count();
        if bytes.get(payload_end) != Some(&b'.') || payload_end == payload_start {
            continue;
        }
        let signature_start = payload_end + 1;
        let signature_end = signature_start
            + bytes[signature_start..]
                .iter()
                .take_while(|b| is_b64url(**b))
                .count();
        let token = &line[start..signature_end];
        let claims = decode_payload(&line[payload_start..payload_end]);
        let fingerprint = fingerprint(token);
        out.reserve(line.len());
        out.push_str(&line[copied..signature_start]);
        if signature_end > signature_start {
            out.push_str(&fingerprint);
        }
        copied = signature_end;
        search_from = signature_end;
        tokens.push(FoundToken {
            fingerprint,
            claims,
        });
    }
    if copied == 0 {
        return Cow::Borrowed(line);
    }
    out.push_str(&line[copied..]);
    Cow::Owned(out)
}

/// The claims of a JWT's payload segment (base64url, padding allowed); `None` when it does
/// not decode to a JSON object.
pub(crate) fn decode_payload(segment: &str) -> Option<Claims> {
    if segment.len() > MAX_DECODED_PAYLOAD {
        return None;
    }
    let trimmed = segment.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()?;
    Claims::from_json_text(std::str::from_utf8(&decoded).ok()?)
}

/// Pass 2: opaque secrets after `Bearer ` / `Bearer%20` and after secret keys. `None` when
/// there was nothing to replace.
fn redact_after_markers(line: &str, tokens: &mut Vec<FoundToken>) -> Option<String> {
    let bytes = line.as_bytes();
    let lower = line.to_ascii_lowercase();
    let lower_bytes = lower.as_bytes();
    // (value start, value end) ranges to replace.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut push_value = |value_start: usize| {
        let mut start = value_start;
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| is_secret_char(**b) || **b == b'%')
                .count();
        if end > start {
            ranges.push((start, end));
        }
    };
    let mut from = 0;
    while let Some(found) = crate::parser::finder!(b"bearer").find(&lower_bytes[from..]) {
        let at = from + found;
        from = at + 6;
        let rest = &bytes[at + 6..];
        if rest.starts_with(b"%20") {
            push_value(at + 9);
        } else if rest.starts_with(b" ")
            || rest.starts_with(b"+")
            || rest.starts_with(b"=")
            || rest.starts_with(b":")
        {
            push_value(at + 7);
        }
    }
    // Vault/OpenBao service, batch and recovery tokens wherever they stand.
    for prefix in [
        crate::parser::finder!(b"hvs."),
        crate::parser::finder!(b"hvb."),
        crate::parser::finder!(b"hvr."),
    ] {
        let mut from = 0;
        while let Some(found) = prefix.find(&bytes[from..]) {
            let at = from + found;
            from = at + prefix.needle().len();
            if at == 0 || !is_secret_char(bytes[at - 1]) {
                push_value(at);
            }
        }
    }
    for (key, finder) in SECRET_KEYS.iter().zip(key_finders()) {
        let mut from = 0;
        while let Some(found) = finder.find(&lower_bytes[from..]) {
            let at = from + found;
            from = at + key.len();
            if at > 0
                && (lower_bytes[at - 1].is_ascii_alphanumeric() || lower_bytes[at - 1] == b'_')
            {
                continue;
            }
            let mut cursor = at + key.len();
            if bytes.get(cursor) == Some(&b'"') {
                cursor += 1;
            }
            while bytes.get(cursor) == Some(&b' ') {
                cursor += 1;
            }
            match bytes.get(cursor) {
                Some(b'=') | Some(b':') => cursor += 1,
                _ => continue,
            }
            while bytes.get(cursor) == Some(&b' ') {
                cursor += 1;
            }
            if bytes.get(cursor) == Some(&b'"') || bytes.get(cursor) == Some(&b'\'') {
                cursor += 1;
            }
            push_value(cursor);
        }
    }
    if ranges.is_empty() {
        return None;
    }
    ranges.sort();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    for (start, end) in ranges {
        if start < copied {
            continue;
        }
        let value = &line[start..end];
        // Already handled: a redacted JWT, a fingerprint, or the start of a (shortened) JWT
        // whose header and payload carry no secret.
        // (`REDACTED-sha256` without its colon: the colon ends the value, see `is_secret_char`.)
        let keep = value.contains(REDACTED.trim_end_matches(':'))
            || value.starts_with("REDACTED")
            || value.starts_with("eyJ")
            || value.eq_ignore_ascii_case("bearer")
            || value.len() < 8;
        if keep {
            continue;
        }
        let fingerprint = fingerprint(value);
        out.push_str(&line[copied..start]);
        out.push_str(&fingerprint);
        copied = end;
        tokens.push(FoundToken {
            fingerprint,
            claims: None,
        });
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

/// Builds an unsigned-looking test JWT (`header.payload.signature`) from a claims JSON.
/// Used by tests and by `simulate`.
pub fn encode_test_jwt(claims: &Value, signature: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(br#"{"kid":"rsa1","alg":"RS256"}"#);
    let payload = engine.encode(claims.to_string().as_bytes());
    format!("{header}.{payload}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_token() -> String {
        encode_test_jwt(
            &json!({"iss":"https://cms-auth.cern.ch/","sub":"46889569-dbbb","jti":"e9b4a053","scope":"storage.read:/ openid","aud":["https://xrootd.example.org"],"wlcg.groups":["/cms"],"iat":1741943523,"exp":1741947123,"client_id":"cms-vault-prod"}),
            "c2lnbmF0dXJlLXNlY3JldC12YWx1ZS0xMjM0NTY3ODkw",
        )
    }

    /// Key names count only at the start of a word, as the key pass reads them. A key
    /// found inside a word is all letters and `_`, so any other key starting inside it is
    /// inside a word too, and the other markers cannot start inside one where a pass would
    /// act: no key name ends in `b` or `h`, and an `eyJ` after a key's letters is inside a
    /// word for the JWT pass. Lines of each case: the pre-filter's verdict, and the
    /// redaction it leads to is the unfiltered one.
    #[test]
    fn a_key_inside_a_word_hides_no_marker() {
        for (line, may_hold) in [
            ("[\"UsernamePasswordAuthenticationToken\"]", false),
            ("xpassword=hunter2", false),
            ("password=hunter2", true),
            ("Password: hunter2", true),
            ("xaccess_token=1 refresh_token=2", true),
            ("my_client_secret=1", false),
            ("xtoken_valueyJhbGciOiJSUzI1NiJ9", false),
            ("xbearer abc", true),
            ("id=hvs.CAESIJ", true),
        ] {
            assert_eq!(may_hold_secret(line), may_hold, "{line}");
            assert_eq!(redact(line).text, redact_unfiltered(line).text, "{line}");
        }
    }

    #[test]
    fn redacts_jwt_signature_and_decodes_claims() {
        let token = sample_token();
        let line = format!("GET /store?authz=Bearer%20{token}&x=1 HTTP/1.1");
        let redacted = redact(&line);
        assert!(!redacted.text.contains("c2lnbmF0dXJl"));
        assert!(redacted.text.contains(REDACTED));
        assert!(redacted.text.contains("&x=1 HTTP/1.1"));
        let claims = redacted.tokens[0].claims.as_ref().unwrap();
        assert_eq!(claims.jti, "e9b4a053");
        assert_eq!(claims.scopes, vec!["storage.read:/", "openid"]);
        assert_eq!(claims.groups, vec!["/cms"]);
        assert_eq!(claims.exp, Some(Timestamp(1_741_947_123_000)));
    }

    #[test]
    fn a_jwt_after_a_secret_key_and_bearer_keeps_header_and_payload() {
        // Regression (proptest): `authz=Bearer%20<jwt>` was fingerprinted whole by the key pass,
        // losing the claims the raw line is kept for.
        let token = sample_token();
        let line = format!("GET /f?authz=Bearer%20{token} HTTP/1.1");
        let redacted = redact(&line);
        let (header_and_payload, _) = token.rsplit_once('.').unwrap();
        assert!(redacted.text.contains(header_and_payload));
        assert!(!redacted.text.contains("c2lnbmF0dXJl"));
        assert_eq!(redacted.tokens.len(), 1);
    }

    #[test]
    fn fingerprint_is_stable_for_the_same_token() {
        let token = sample_token();
        let first = redact(&format!("Authorization: Bearer {token}"))
            .text
            .into_owned();
        let second = redact(&format!("token={token}")).text.into_owned();
        let marker = |text: &str| text[text.find(REDACTED).unwrap()..].to_string();
        assert_eq!(marker(&first), marker(&second));
    }

    #[test]
    fn redacts_opaque_bearer_and_secret_keys() {
        let line = r#"Authorization: Bearer MDAxY2xvY2F0aW9uIE9wdGlvbmFsLmVtcHR5 and {"client_token":"hvs.CAESIJ3abcdefgh","access_token":"s.abcdefghijkl"} password=hunter2hunter2"#;
        let redacted = redact(line);
        for secret in [
            "MDAxY2xvY2F0",
            "hvs.CAESIJ3",
            "s.abcdefghijkl",
            "hunter2hunter2",
        ] {
            assert!(
                !redacted.text.contains(secret),
                "{secret} survived: {}",
                redacted.text
            );
        }
        assert_eq!(redacted.tokens.len(), 4);
    }

    #[test]
    fn redacts_vault_tokens_and_accessors_under_any_key() {
        let line = r#"{"accessor":"Lk3abcdefghij","data":{"id":"hvs.CAESIabcdefghijkl"},"x":"bearer: opaquetoken12345"}"#;
        let redacted = redact(line);
        for secret in ["Lk3abcdefghij", "hvs.CAESI", "opaquetoken12345"] {
            assert!(
                !redacted.text.contains(secret),
                "{secret} survived: {}",
                redacted.text
            );
        }
    }

    #[test]
    fn redacts_secret_keys_and_bearer_in_any_case() {
        // The pre-filter once looked for the key names in lower case only, and let these
        // lines through unredacted although the redaction itself ignores case.
        let line = "Password: hunter2hunter2 ACCESS_TOKEN=opaquesecret1 Client_Secret=abcdef123456 bEaReR tokenvalue99";
        let redacted = redact(line);
        for secret in [
            "hunter2hunter2",
            "opaquesecret1",
            "abcdef123456",
            "tokenvalue99",
        ] {
            assert!(
                !redacted.text.contains(secret),
                "{secret} survived: {}",
                redacted.text
            );
        }
        assert_eq!(redacted.tokens.len(), 4);
    }

    #[test]
    fn leaves_lines_without_secrets_borrowed() {
        let redacted = redact("03/14/25 09:12:03 Submitting new job 123.0");
        assert!(matches!(redacted.text, Cow::Borrowed(_)));
        assert!(redacted.tokens.is_empty());
    }

    #[test]
    fn keeps_shortened_jwts_that_have_no_signature() {
        let line = r#"{"access_token":"eyJraWQiOiJyc2ExIiwiYWxnIjoiUlMyNTYifQ.eyJ..."}"#;
        let redacted = redact(line);
        assert_eq!(redacted.text, line);
    }

    #[test]
    fn iam_millisecond_claims_are_read_as_millis() {
        let claims = Claims::from_json(&json!({"iat":1741943523402i64,"exp":1741947123391i64}));
        assert_eq!(claims.iat, Some(Timestamp(1_741_943_523_402)));
        assert_eq!(claims.exp, Some(Timestamp(1_741_947_123_391)));
    }

    #[test]
    fn java_date_strings_are_read() {
        assert_eq!(
            claim_time(&json!("Fri Mar 14 10:12:03 UTC 2025")),
            Some(Timestamp(1_741_947_123_000))
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for line in [
            "eyJ",
            "eyJ.",
            "eyJ..",
            "eyJ.eyJ.",
            "Bearer",
            "Bearer%20",
            "authz=",
            "\"access_token\":",
            "xeyJabc.def.ghi",
            "eyJ\u{e9}.a.b",
        ] {
            let _ = redact(line);
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text a JWT may follow without becoming part of a longer word.
    const BEFORE: &[&str] = &[
        " ",
        "Bearer ",
        "Authorization: Bearer ",
        "authz=Bearer%20",
        "access_token=",
        "{\"access_token\":\"",
        "token=",
        "(",
        "'",
        "\t",
        "?",
    ];

    fn b64url(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{{},{}}}", len.start, len.end))
            .unwrap()
    }

    /// A JWT: a real header, a JSON or arbitrary payload, a signature of 16+ characters.
    fn jwt() -> impl Strategy<Value = (String, String)> {
        let payload = prop_oneof![
            ("[a-z0-9-]{1,40}", "[a-f0-9]{1,36}").prop_map(|(sub, jti)| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                    serde_json::json!({"sub": sub, "jti": jti, "iss": "https://iam.example.org/"})
                        .to_string(),
                )
            }),
            b64url(1..400),
        ];
        (payload, b64url(16..120)).prop_map(|(payload, signature)| {
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"kid":"rsa1","alg":"RS256"}"#);
            (format!("{header}.{payload}.{signature}"), signature)
        })
    }

    /// A claim value of any JSON type, small numbers and times included.
    fn claim_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0.0f64..2e12).prop_map(Value::from),
            "[a-z/:.,é\\\" -]{0,12}".prop_map(Value::from),
            Just(Value::from("Fri Mar 14 10:12:03 UTC 2025")),
        ];
        leaf.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("(sub|x)", inner), 0..3)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The claim rules read a built `Value` and an `Object` read from its text alike.
        #[test]
        fn claims_of_a_value_and_of_its_text_agree(
            members in prop::collection::vec((
                "(iss|sub|jti|client_id|azp|scope|scp|aud|wlcg\\.groups|groups|iat|exp|act|preferred_username)",
                claim_value(),
            ), 0..10)
        ) {
            let built = Value::Object(members.into_iter().collect());
            // What a reader of the text sees (a float need not survive the round trip).
            let text = built.to_string();
            let value: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(Claims::from_json_text(&text), Some(Claims::from_json(&value)));
        }

        #[test]
        fn redact_never_panics_on_arbitrary_text(line in any::<String>()) {
            let redacted = redact(&line);
            for token in &redacted.tokens {
                prop_assert!(token.fingerprint.starts_with(REDACTED));
            }
        }

        #[test]
        fn redact_never_panics_on_token_like_text(
            line in "(eyJ|[A-Za-z0-9_-]|\\.|Bearer|bearer|%20| |=|:|\"|access_token|hvs\\.){0,60}"
        ) {
            let _ = redact(&line);
        }

        #[test]
        fn the_pre_filter_lets_through_every_line_the_passes_would_change(
            line in "(eyJ|EYJ|[A-Za-z0-9_-]{1,12}|\\.|[Bb][Ee][Aa][Rr][Ee][Rr]|%20| |=|:|\"|[Aa]ccess_[Tt]oken|ACCESS_TOKEN|(refresh|id|client|subject|bearer|Refresh|ID)_(token|TOKEN)|client_token_accessor|[Pp]ass[Ww]ord|PASSWORD|[Cc]lient_[Ss]ecret|[Tt]oken_[Vv]alue|[Aa]uthz|AUTHZ|[Aa]ccessor|hv[sbr]\\.|HVS\\.){0,40}"
        ) {
            let filtered = redact(&line);
            let unfiltered = redact_unfiltered(&line);
            prop_assert_eq!(&filtered.text, &unfiltered.text);
            prop_assert_eq!(filtered.tokens.len(), unfiltered.tokens.len());
        }

        #[test]
        fn the_pre_filter_lets_through_every_line_a_key_pass_would_change(
            before in "[ -~]{0,3}",
            key in proptest::sample::select(SECRET_KEYS),
            upper in any::<bool>(),
            separator in proptest::sample::select(vec!["=", ": ", "\":\"", " = ", "='"]),
            value in "[A-Za-z0-9._~+/=-]{0,16}",
            after in "[ -~]{0,4}",
        ) {
            // Only the key names decide when no JWT, `Bearer` or Vault marker is near.
            let key = if upper { key.to_ascii_uppercase() } else { key.to_string() };
            let line = format!("{before}{key}{separator}{value}{after}");
            let filtered = redact(&line);
            let unfiltered = redact_unfiltered(&line);
            prop_assert_eq!(&filtered.text, &unfiltered.text, "{}", line);
        }

        #[test]
        fn no_signature_of_a_found_jwt_survives(
            before_text in "[ -~]{0,40}",
            before in proptest::sample::select(BEFORE),
            (token, signature) in jwt(),
            after in "([ &\",;)'\\].]{1}[ -~]{0,40})?",
            repeat in 1usize..3,
        ) {
            let once = format!("{before}{token}{after}");
            let line = format!("{before_text} {}", once.repeat(repeat));
            prop_assume!(!before_text.contains(&signature) && !after.contains(&signature));
            let redacted = redact(&line);
            prop_assert!(
                !redacted.text.contains(&signature),
                "signature survived in {:?}", redacted.text
            );
            prop_assert!(redacted.tokens.len() >= repeat);
            // Header and payload stay readable: claims are evidence, the signature is the secret.
            let (header_and_payload, _) = token.rsplit_once('.').unwrap();
            prop_assert!(redacted.text.contains(header_and_payload));
        }

        #[test]
        fn redacted_claims_match_the_payload(
            sub in "[a-z0-9-]{1,40}",
            jti in "[a-f0-9]{1,36}",
            signature in b64url(16..80),
        ) {
            let token = encode_test_jwt(&serde_json::json!({"sub": sub, "jti": jti}), &signature);
            let line = format!("Authorization: Bearer {token}");
            let redacted = redact(&line);
            let claims = redacted.tokens[0].claims.as_ref().unwrap();
            prop_assert_eq!(&claims.sub, &sub);
            prop_assert_eq!(&claims.jti, &jti);
        }
    }
}
