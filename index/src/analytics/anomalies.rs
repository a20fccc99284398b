//! Anomalies: token uses that suggest theft or a broken ban, each with the events that show it
//! and the trace seed the UI links to.

use crate::{EventStore, Seed};
use serde::{Deserialize, Serialize};
use tokentrail_parsers::{Event, Origin, Timestamp};

use super::config::ReportConfig;

/// Most evidence references kept per anomaly (the count stays exact).
pub(crate) const MAX_EVIDENCE: usize = 20;

/// What rule found the anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// One `jti` used from more addresses than `max_addresses_per_jti` (worker nodes of its
    /// own jobs not counted).
    ManyAddresses,
    /// A `jti` used from an address outside the site networks.
    OutsideNetwork,
    /// A token accepted after `exp` plus the grace period.
    UseAfterExpiry,
    /// A token accepted after its account was disabled at the issuer.
    UseAfterAccountDisabled,
    /// A token accepted after its OAuth client was disabled at the issuer.
    UseAfterClientDisabled,
    /// A user identity with jobs on unusually many worker nodes at once.
    ManyWorkerNodes,
}

impl AnomalyKind {
    /// The kebab-case name used in JSON and in flag reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::ManyAddresses => "many-addresses",
            AnomalyKind::OutsideNetwork => "outside-network",
            AnomalyKind::UseAfterExpiry => "use-after-expiry",
            AnomalyKind::UseAfterAccountDisabled => "use-after-account-disabled",
            AnomalyKind::UseAfterClientDisabled => "use-after-client-disabled",
            AnomalyKind::ManyWorkerNodes => "many-worker-nodes",
        }
    }
}

/// One event behind an anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRef {
    pub id: String,
    pub time: Option<Timestamp>,
    pub origin: Origin,
}

impl EvidenceRef {
    pub(crate) fn of(event: &Event) -> Self {
        EvidenceRef {
            id: event.id.clone(),
            time: event.time,
            origin: event.origin.clone(),
        }
    }
}

/// One anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// One line for a person.
    pub summary: String,
    /// The first event that showed it.
    pub first_seen: Option<Timestamp>,
    /// Empty for identity-level anomalies.
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    /// The addresses involved (outside ones for `outside-network`).
    pub addresses: Vec<String>,
    /// How many events show it.
    pub events: u64,
    /// The first of them (at most 20).
    pub evidence: Vec<EvidenceRef>,
    /// Where the UI's trace link starts.
    pub trace: Seed,
}

/// The anomalies of `[from, to)`, ordered by first occurrence.
pub fn anomalies(
    store: &dyn EventStore,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    config: &ReportConfig,
) -> Result<Vec<Anomaly>, crate::Error> {
    Ok(super::report::policy_report(store, from, to, config)?.anomalies)
}
