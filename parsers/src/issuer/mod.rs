//! issuer family parsers: the logs a token issuer (INDIGO IAM, Keycloak, Vault/OpenBao behind
//! htgettoken) writes when it issues, refreshes, exchanges or revokes a token, or disables an
//! account or client. Small helpers the three parsers share live here.

pub mod iam_audit;
pub mod keycloak_event;
pub mod vault_audit;

use std::net::IpAddr;

use crate::parser::Format;

/// Every format of the issuer family, most specific first.
pub fn formats() -> Vec<&'static Format> {
    vec![
        &iam_audit::FORMAT,
        &keycloak_event::FORMAT,
        &vault_audit::FORMAT,
    ]
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
}
