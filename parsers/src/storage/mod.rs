//! storage family parsers.

pub mod dcache_access;
pub mod dcache_billing;
pub mod dcache_billing_json;
pub mod dcache_common;
pub mod eos_audit;
pub mod eos_log;
pub mod eos_report;
pub mod fts_line;
pub mod fts_token;
pub mod fts_transfer;
pub mod storm_access;
pub mod storm_server;
pub mod xrootd;
pub mod xrootd_stamp;
pub mod xrootd_tident;

use crate::parser::Format;

/// Every format of the storage family, most specific first.
pub fn formats() -> Vec<&'static Format> {
    vec![
        &dcache_access::FORMAT,
        &dcache_billing::FORMAT,
        &dcache_billing_json::FORMAT,
        &storm_access::FORMAT,
        &storm_server::FORMAT,
        &xrootd::FORMAT,
        &eos_log::FORMAT,
        &eos_report::FORMAT,
        &eos_audit::FORMAT,
        &fts_transfer::FORMAT,
        &fts_token::FORMAT,
    ]
}
