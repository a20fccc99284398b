//! issuer family parsers: the logs a token issuer (INDIGO IAM, Keycloak, Vault/OpenBao behind
//! htgettoken) writes when it issues, refreshes, exchanges or revokes a token, or disables an
//! account or client. Small helpers the three parsers share live here.

pub mod iam_audit;
pub mod keycloak_event;
pub mod vault_audit;

use std::net::IpAddr;

use serde_json::Value;

use crate::parser::Format;

/// Every format of the issuer family, most specific first.
pub fn formats() -> Vec<&'static Format> {
    vec![
        &iam_audit::FORMAT,
        &keycloak_event::FORMAT,
        &vault_audit::FORMAT,
    ]
}

/// The first JSON object at the start of `text`; text after it (garbage a log shipper appended)
/// is ignored. `None` for anything that is not a complete object (a truncated line).
pub(crate) fn first_json_object(text: &str) -> Option<Value> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match values.next() {
        Some(Ok(value @ Value::Object(_))) => Some(value),
        _ => None,
    }
}

/// The string at `key` of a JSON object; empty for a missing key, JSON `null`, a non-string,
/// or the literal text `null` (Keycloak and Java print absent values that way).
pub(crate) fn json_text<'v>(value: &'v Value, key: &str) -> &'v str {
    match value.get(key) {
        Some(Value::String(text)) if text != "null" => text,
        _ => "",
    }
}

/// A remote address as the field conventions want it: no brackets, no port, IPv6 in its
/// canonical compressed form (`0:0:0:0:0:0:0:1` → `::1`) so that it joins with other logs.
/// Text that is not an address is kept trimmed as given.
pub(crate) fn client_address(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return String::new();
    }
    let host = if let Some(inner) = text.strip_prefix('[') {
        inner.split(']').next().unwrap_or(inner)
    } else if text.matches(':').count() == 1 {
        // IPv4 (or a name) with a port; an IPv6 address has at least two colons.
        text.split(':').next().unwrap_or(text)
    } else {
        text
    };
    match host.parse::<IpAddr>() {
        Ok(address) => address.to_string(),
        Err(_) => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_address_drops_brackets_ports_and_expands_nothing() {
        assert_eq!(client_address("192.0.2.45"), "192.0.2.45");
        assert_eq!(client_address("192.0.2.45:40122"), "192.0.2.45");
        assert_eq!(client_address("[2001:db8::1]:8443"), "2001:db8::1");
        assert_eq!(client_address("2001:db8:0:0:0:0:0:1"), "2001:db8::1");
        assert_eq!(client_address("0:0:0:0:0:0:0:1"), "::1");
        assert_eq!(client_address("null"), "");
        assert_eq!(client_address("[unterminated"), "unterminated");
    }

    #[test]
    fn first_json_object_ignores_trailing_text_and_rejects_truncation() {
        assert!(first_json_object(r#"{"a":1} trailing junk"#).is_some());
        assert!(first_json_object(r#"{"a":1"#).is_none());
        assert!(first_json_object("[1,2]").is_none());
        assert!(first_json_object("").is_none());
    }

    #[test]
    fn json_text_treats_null_literal_as_empty() {
        let value = serde_json::json!({"a":"x","b":null,"c":"null","d":3});
        assert_eq!(json_text(&value, "a"), "x");
        assert_eq!(json_text(&value, "b"), "");
        assert_eq!(json_text(&value, "c"), "");
        assert_eq!(json_text(&value, "d"), "");
        assert_eq!(json_text(&value, "missing"), "");
    }
}
