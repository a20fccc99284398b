//! ce family parsers.

pub mod arc;
pub mod arc_arex;
pub mod arc_diag;
pub mod arc_jobs;
pub mod arc_local;
pub mod blahp_accounting;
pub mod classad;
pub mod htcondor_audit;
pub mod htcondor_audit_payload;
pub mod htcondor_eventlog;
pub mod htcondor_gridmanager;
pub mod htcondor_history;
pub mod htcondor_jobrouter;
pub mod htcondor_log;
pub mod htcondor_schedlog;
pub mod htcondor_shadowlog;

use crate::parser::Format;

/// Every format of the ce family, most specific first.
pub fn formats() -> Vec<&'static Format> {
    vec![
        &htcondor_audit::FORMAT,
        &htcondor_schedlog::FORMAT,
        &htcondor_jobrouter::FORMAT,
        &htcondor_gridmanager::FORMAT,
        &htcondor_shadowlog::FORMAT,
        &htcondor_audit_payload::FORMAT,
        &blahp_accounting::FORMAT,
        &htcondor_history::FORMAT,
        &htcondor_eventlog::FORMAT,
        &arc_jobs::FORMAT,
        &arc_local::FORMAT,
        &arc_diag::FORMAT,
        &arc_arex::FORMAT,
    ]
}
