//! Helpers for the parsers' unit tests.

use crate::parser::Context;
use crate::time::{TimeContext, Zone};

/// A stream context in UTC with no year hint, written by `host`, read from `logs/<file_name>`.
pub fn utc_context(host: &str, file_name: &str) -> Context {
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
