//! issuer family parsers.

pub mod iam_audit;
pub mod keycloak_event;
pub mod vault_audit;

use crate::parser::Format;

/// Every format of the issuer family, most specific first.
pub fn formats() -> Vec<&'static Format> {
    vec![
        &iam_audit::FORMAT,
        &keycloak_event::FORMAT,
        &vault_audit::FORMAT,
    ]
}
