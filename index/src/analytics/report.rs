//! `tokentrail report`: what the tokens seen at the site carry, measured against the WLCG
//! token profile (issuer.md §3.1), and how they were used.
//!
//! Four bounded passes over the store, oldest first ([`super::scan`]): issuer and client
//! status changes (from the beginning, since a disable before the range still matters), token
//! issuance in the range (the inventory, keyed by `jti`), token presentations at services (uses),
//! refusals, and job starts and ends (worker-node concurrency). Memory grows with the number of
//! tokens, identities and running jobs of the range, never with the number of events.
//!
//! A token is *flagged* when it breaks the profile — an access token living longer than 6 h,
//! `aud` = `https://wlcg.cern.ch/jwt/v1/any` or no `aud`, write access at the VO root
//! (`storage.modify:/`, `storage.create:/`) — or when an anomaly names it. Read access at the VO
//! root (`storage.read:/`, `storage.stage:/`) is normal for reading a VO's datasets and is only
//! counted, as is how much narrower the paths actually used were.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{EventStore, Query, Seed};
use serde::{Deserialize, Serialize};
use tokentrail_parsers::{action, outcome, Event, Timestamp};

use super::anomalies::{Anomaly, AnomalyKind, EvidenceRef, MAX_EVIDENCE};
use super::config::ReportConfig;
use super::scan::scan;

/// The audience that means "any relying party".
pub const ANY_AUDIENCE: &str = "https://wlcg.cern.ch/jwt/v1/any";

/// Most addresses remembered per token.
const MAX_ADDRESSES: usize = 64;

/// The report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub generated: Option<Timestamp>,
    pub config: ReportConfig,
    pub tokens: TokenSummary,
    /// Access-token lifetimes (from `iat` to `exp`).
    pub lifetimes: Vec<Bucket>,
    pub audiences: AudienceSummary,
    pub scopes: ScopeSummary,
    /// Issuance events without a `jti`, per issuer instance.
    pub missing_jti: Vec<Count>,
    /// How long before `exp` tokens were presented, per service.
    pub use_before_expiry: Vec<ServiceLead>,
    /// Issuance rate and gaps, per issuer instance (`format@host`).
    pub issuance: Vec<IssuerActivity>,
    /// Refused requests at services by reason.
    pub refused: Vec<Refusal>,
    /// Tokens that break the profile or are named by an anomaly.
    pub flagged: Vec<FlaggedToken>,
    pub anomalies: Vec<Anomaly>,
    /// A list was cut at `max_listed`.
    pub truncated: bool,
}

/// Token counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenSummary {
    /// Distinct `jti`s issued in the range or presented with their claims.
    pub total: u64,
    pub access: u64,
    pub refresh: u64,
    /// Tokens whose claims the logs do not show (e.g. Keycloak events): not checked.
    pub claims_not_logged: u64,
    /// Tokens seen only at a service (issued elsewhere or before the range).
    pub seen_only_at_services: u64,
    /// Per issuer and client.
    pub by_issuer_client: Vec<IssuerClient>,
}

/// Tokens of one issuer and client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IssuerClient {
    pub issuer: String,
    pub client_id: String,
    pub access: u64,
    pub refresh: u64,
}

/// A histogram bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub label: String,
    pub count: u64,
}

/// A labelled count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub label: String,
    pub count: u64,
}

/// Audiences of access tokens whose claims are known.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AudienceSummary {
    pub any: u64,
    pub none: u64,
    pub specific: u64,
}

/// Scope breadth of access tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeSummary {
    /// `storage.modify:/` or `storage.create:/` (flagged).
    pub write_at_vo_root: u64,
    /// Any `storage.*:/` scope.
    pub storage_at_vo_root: u64,
    /// Of those with a `storage.*:/` scope and at least one file use, the tokens whose uses all
    /// stayed below one narrower directory than the VO root.
    pub vo_root_used_narrowly: u64,
}

/// Lead times before expiry at one service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceLead {
    pub service: String,
    pub uses: u64,
    pub min_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
    pub mean_seconds: Option<i64>,
    pub buckets: Vec<Bucket>,
}

/// One issuer instance's issuance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IssuerActivity {
    /// `format@host`.
    pub issuer: String,
    /// The `iss` values its tokens carry.
    pub iss: Vec<String>,
    pub events: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub peak_per_second: u64,
    pub peak_at: Option<Timestamp>,
    /// Gaps that look like outages (longer than the configured minimum and many times the mean
    /// interval), longest first.
    pub gaps: Vec<Gap>,
}

/// A gap in issuance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub from: Timestamp,
    pub to: Timestamp,
    pub seconds: i64,
}

/// Refused requests of one reason at one service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub service: String,
    /// `expired`, `wrong-audience`, `insufficient-scope`, `unauthenticated`, `other`.
    pub reason: String,
    pub count: u64,
}

/// A flagged token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlaggedToken {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub issued: Option<Timestamp>,
    pub lifetime_seconds: Option<i64>,
    pub aud: Vec<String>,
    pub scopes: Vec<String>,
    /// `lifetime>6h`, `aud=any`, `aud=none`, `storage.modify:/`, `storage.create:/`, or an
    /// anomaly kind (`outside-network`, …).
    pub reasons: Vec<String>,
    pub trace: Seed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

#[derive(Debug, Default)]
struct Token {
    iss: String,
    sub: String,
    client_id: String,
    issuer: String,
    scopes: Vec<String>,
    aud: Vec<String>,
    iat: Option<Timestamp>,
    exp: Option<Timestamp>,
    first_seen: Option<Timestamp>,
    refresh_marker: bool,
    at_issuer: bool,
    /// The refresh token it is bound to.
    parent: String,
    /// Addresses it was presented from.
    addresses: Vec<String>,
    /// Worker nodes' addresses of its own jobs.
    job_addresses: HashSet<String>,
    /// Common directory of the paths it touched (`None`: no file use yet).
    used_prefix: Option<String>,
}

impl Token {
    fn claims_known(&self) -> bool {
        self.exp.is_some() || !self.iss.is_empty() || !self.aud.is_empty()
    }

    fn lifetime_seconds(&self) -> Option<i64> {
        let exp = self.exp?;
        let start = self.iat.or(self.first_seen)?;
        Some((exp.millis() - start.millis()) / 1000)
    }

    fn merge_claims(&mut self, event: &Event) {
        fill(&mut self.iss, &normalise_iss(&event.iss));
        fill(&mut self.sub, &event.sub);
        fill(&mut self.client_id, &event.client_id);
        if self.scopes.is_empty() {
            self.scopes = event.scopes.clone();
        }
        if self.aud.is_empty() {
            self.aud = event.aud.clone();
        }
        self.iat = self.iat.or(event.token_iat);
        self.exp = self.exp.or(event.token_exp);
        self.first_seen = self.first_seen.or(event.time);
    }
}

fn fill(target: &mut String, value: &str) {
    if target.is_empty() && !value.is_empty() {
        *target = value.to_string();
    }
}

fn normalise_iss(iss: &str) -> String {
    iss.trim_end_matches('/').to_string()
}

/// An anomaly being collected.
#[derive(Debug)]
struct Pending {
    anomaly: Anomaly,
}

impl Pending {
    fn record(&mut self, event: &Event) {
        self.anomaly.events += 1;
        if self.anomaly.evidence.len() < MAX_EVIDENCE {
            self.anomaly.evidence.push(EvidenceRef::of(event));
        }
        if !event.client_ip.is_empty()
            && !self.anomaly.addresses.contains(&event.client_ip)
            && self.anomaly.addresses.len() < MAX_ADDRESSES
        {
            self.anomaly.addresses.push(event.client_ip.clone());
        }
    }
}

#[derive(Debug, Default)]
struct IssuerState {
    iss: Vec<String>,
    events: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    second: i64,
    in_second: u64,
    peak: u64,
    peak_at: Option<Timestamp>,
    gaps: Vec<Gap>,
}

#[derive(Debug, Default)]
struct LeadState {
    uses: u64,
    min: Option<i64>,
    max: Option<i64>,
    sum: i128,
    buckets: [u64; LEAD_LABELS.len()],
}

const LEAD_LABELS: [&str; 9] = [
    "after exp+grace",
    "within grace",
    "<1m",
    "1-5m",
    "5-15m",
    "15-30m",
    "30-60m",
    "1-6h",
    ">6h",
];

fn lead_bucket(seconds: i64, grace: i64) -> usize {
    match seconds {
        s if s < -grace => 0,
        s if s < 0 => 1,
        s if s < 60 => 2,
        s if s < 300 => 3,
        s if s < 900 => 4,
        s if s < 1800 => 5,
        s if s < 3600 => 6,
        s if s < 6 * 3600 => 7,
        _ => 8,
    }
}

const LIFETIME_LABELS: [&str; 7] = ["<15m", "15m-1h", "1h", "1-2h", "2-6h", "6h", ">6h"];

fn lifetime_bucket(seconds: i64, max: i64) -> usize {
    match seconds {
        s if s < 900 => 0,
        s if s < 3600 => 1,
        3600 => 2,
        s if s <= 7200 => 3,
        s if s < max => 4,
        s if s == max => 5,
        _ => 6,
    }
}

/// A status change of an account or client at the issuer.
#[derive(Debug, Clone)]
struct StatusChange {
    time: Timestamp,
    disabled: bool,
    event: Event,
}

/// Whether the status at `time` is disabled, and the disable that made it so.
fn disabled_at(changes: &[StatusChange], time: Timestamp) -> Option<&StatusChange> {
    let mut current = None;
    for change in changes {
        if change.time > time {
            break;
        }
        current = change.disabled.then_some(change);
    }
    current
}

/// Status of HTCondor audit events on a resumed security session: the claims are those of
/// the token that opened the session, which HTCondor does not check again (so such a use after
/// that token's `exp` is normal, and the client may hold another token by then).
const CACHED_SESSION: &str = "cached-session";

/// Actions by which a service is presented a token (from a known address, with the token's own
/// claims).
fn is_presentation(event: &Event) -> bool {
    if event.client_ip.is_empty() || event.service == "issuer" || event.status == CACHED_SESSION {
        return false;
    }
    matches!(
        event.action.as_str(),
        action::AUTH_LOGIN
            | action::JOB_SUBMIT
            | action::TRANSFER_SUBMIT
            | action::TRANSFER_DONE
            | action::AUTHZ_DENY
    ) || event.action.starts_with("file.")
}

/// The refusal reason of a failed request.
fn refusal_reason(event: &Event, grace_seconds: i64) -> &'static str {
    let text = format!("{} {}", event.status, event.raw).to_ascii_lowercase();
    if text.contains("expired") {
        return "expired";
    }
    if text.contains("audience") {
        return "wrong-audience";
    }
    if text.contains("scope") || text.contains("insufficient") {
        return "insufficient-scope";
    }
    if let (Some(exp), Some(time)) = (event.token_exp, event.time) {
        if time.millis() > exp.millis() + grace_seconds * 1000 {
            return "expired";
        }
    }
    if event.status == "403" && !event.jti.is_empty() {
        // A token was accepted as authentic but did not allow the operation.
        return "insufficient-scope";
    }
    if event.status == "401" || text.contains("authentication failed") {
        return "unauthenticated";
    }
    "other"
}

/// The longest common directory of two paths (`/store/user/a/x`, `/store/user/b/y` →
/// `/store/user/`).
fn common_directory(a: &str, b: &str) -> String {
    let mut end = 0;
    for ((index, x), y) in a.char_indices().zip(b.chars()) {
        if x != y {
            break;
        }
        if x == '/' {
            end = index + 1;
        }
    }
    if a == b {
        return match a.rfind('/') {
            Some(slash) => a[..=slash].to_string(),
            None => String::new(),
        };
    }
    a[..end].to_string()
}

fn issuance_query() -> Query {
    Query::Or(vec![
        Query::term("action", action::TOKEN_ISSUE),
        Query::term("action", action::TOKEN_REFRESH),
        Query::term("action", action::TOKEN_EXCHANGE),
    ])
}

fn issuer_instance(event: &Event) -> String {
    format!("{}@{}", event.source, event.host)
}

/// The policy report of `[from, to)` (either bound open).
pub fn policy_report(
    store: &dyn EventStore,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    config: &ReportConfig,
) -> Result<PolicyReport, crate::Error> {
    let grace_ms = config.grace_seconds * 1000;

    // Account and client status, from the beginning of the store: a ban before the range
    // still applies to uses within it.
    let mut accounts: HashMap<String, Vec<StatusChange>> = HashMap::new();
    let mut clients: HashMap<String, Vec<StatusChange>> = HashMap::new();
    let status_query = Query::Or(vec![
        Query::term("action", action::ACCOUNT_DISABLE),
        Query::term("action", action::ACCOUNT_RESTORE),
        Query::term("action", action::CLIENT_DISABLE),
    ]);
    scan(store, &status_query, None, to, |event| {
        let Some(time) = event.time else { return };
        let disabled = event.action != action::ACCOUNT_RESTORE;
        if event.action == action::CLIENT_DISABLE {
            if !event.client_id.is_empty() {
                clients
                    .entry(event.client_id.clone())
                    .or_default()
                    .push(StatusChange {
                        time,
                        disabled,
                        event,
                    });
            }
        } else if !event.sub.is_empty() {
            accounts
                .entry(event.sub.clone())
                .or_default()
                .push(StatusChange {
                    time,
                    disabled,
                    event,
                });
        }
    })?;

    // Pass 1: the inventory and the issuers' activity.
    let mut tokens: HashMap<String, Token> = HashMap::new();
    let mut parents: HashSet<String> = HashSet::new();
    let mut issuers: BTreeMap<String, IssuerState> = BTreeMap::new();
    let mut missing_jti: BTreeMap<String, u64> = BTreeMap::new();
    scan(store, &issuance_query(), from, to, |event| {
        let Some(time) = event.time else { return };
        let instance = issuer_instance(&event);
        let state = issuers.entry(instance.clone()).or_default();
        state.events += 1;
        state.first = state.first.or(Some(time));
        if let Some(last) = state.last {
            let gap = time.millis() - last.millis();
            if gap >= config.outage_min_gap_seconds * 1000 {
                state.gaps.push(Gap {
                    from: last,
                    to: time,
                    seconds: gap / 1000,
                });
            }
        }
        state.last = Some(time);
        let second = time.millis().div_euclid(1000);
        if second == state.second && state.in_second > 0 {
            state.in_second += 1;
        } else {
            state.second = second;
            state.in_second = 1;
        }
        if state.in_second > state.peak {
            state.peak = state.in_second;
            state.peak_at = Some(Timestamp::from_secs(second));
        }
        let iss = normalise_iss(&event.iss);
        if !iss.is_empty() && !state.iss.contains(&iss) {
            state.iss.push(iss);
        }
        if event.jti.is_empty() {
            *missing_jti.entry(instance).or_default() += 1;
            return;
        }
        if !event.parent_jti.is_empty() {
            parents.insert(event.parent_jti.clone());
        }
        let token = tokens.entry(event.jti.clone()).or_default();
        fill(&mut token.parent, &event.parent_jti);
        token.at_issuer = true;
        fill(&mut token.issuer, &instance);
        token.refresh_marker |= event.raw.contains("RefreshTokenIssuedEvent");
        token.merge_claims(&event);
    })?;
    // A refresh token's own event names no issuer or subject: take them from the access
    // tokens bound to it.
    let mut bound: HashMap<String, (String, String)> = HashMap::new();
    for token in tokens.values() {
        if !token.parent.is_empty() && !token.iss.is_empty() {
            bound
                .entry(token.parent.clone())
                .or_insert_with(|| (token.iss.clone(), token.sub.clone()));
        }
    }
    for (jti, (iss, sub)) in bound {
        if let Some(token) = tokens.get_mut(&jti) {
            fill(&mut token.iss, &iss);
            fill(&mut token.sub, &sub);
        }
    }

    // Pass 2: presentations at services.
    let mut leads: BTreeMap<String, LeadState> = BTreeMap::new();
    let mut pending: BTreeMap<(String, AnomalyKind), Pending> = BTreeMap::new();
    let uses_query = Query::And(vec![
        Query::Prefix {
            field: "jti".into(),
            value: String::new(),
        },
        Query::Not(Box::new(Query::term("service", "issuer"))),
    ]);
    scan(store, &uses_query, from, to, |event| {
        if event.jti.is_empty() {
            return;
        }
        let Some(time) = event.time else { return };
        let token = tokens.entry(event.jti.clone()).or_default();
        if !token.at_issuer {
            token.merge_claims(&event);
        }
        if event.action == action::JOB_START && !event.client_ip.is_empty() {
            token.job_addresses.insert(event.client_ip.clone());
        }
        if !is_presentation(&event) {
            return;
        }
        if !token.addresses.contains(&event.client_ip) && token.addresses.len() < MAX_ADDRESSES {
            token.addresses.push(event.client_ip.clone());
        }
        if event.action.starts_with("file.") && !event.path.is_empty() {
            token.used_prefix = Some(match &token.used_prefix {
                None => match event.path.rfind('/') {
                    Some(slash) => event.path[..=slash].to_string(),
                    None => event.path.clone(),
                },
                Some(prefix) => common_directory(prefix, &event.path),
            });
        }
        let sub = if token.sub.is_empty() {
            event.sub.clone()
        } else {
            token.sub.clone()
        };
        let iss = if token.iss.is_empty() {
            normalise_iss(&event.iss)
        } else {
            token.iss.clone()
        };
        let client_id = token.client_id.clone();
        let mut raise = |kind: AnomalyKind, summary: String| {
            pending
                .entry((event.jti.clone(), kind))
                .or_insert_with(|| Pending {
                    anomaly: Anomaly {
                        kind,
                        summary,
                        first_seen: Some(time),
                        jti: event.jti.clone(),
                        iss: iss.clone(),
                        sub: sub.clone(),
                        client_id: client_id.clone(),
                        addresses: Vec::new(),
                        events: 0,
                        evidence: Vec::new(),
                        trace: Seed::Jti {
                            jti: event.jti.clone(),
                        },
                    },
                })
                .record(&event);
        };
        if config.is_outside(&event.client_ip) {
            raise(
                AnomalyKind::OutsideNetwork,
                format!(
                    "token used from {} outside the site networks",
                    event.client_ip
                ),
            );
        }
        let accepted = event.outcome == outcome::OK;
        if !accepted {
            return;
        }
        let exp = token.exp.or(event.token_exp);
        if let Some(exp) = exp {
            let lead_ms = exp.millis() - time.millis();
            let state = leads.entry(event.service.to_string()).or_default();
            let seconds = lead_ms.div_euclid(1000);
            state.uses += 1;
            state.min = Some(state.min.map_or(seconds, |min| min.min(seconds)));
            state.max = Some(state.max.map_or(seconds, |max| max.max(seconds)));
            state.sum += i128::from(seconds);
            state.buckets[lead_bucket(seconds, config.grace_seconds)] += 1;
            if lead_ms < -grace_ms {
                raise(
                    AnomalyKind::UseAfterExpiry,
                    format!("token accepted after exp {exp} plus the grace period"),
                );
            }
        }
        if !sub.is_empty() {
            if let Some(change) = accounts.get(&sub).and_then(|c| disabled_at(c, time)) {
                let same_issuer = change.event.iss.is_empty()
                    || iss.is_empty()
                    || normalise_iss(&change.event.iss) == iss;
                if same_issuer {
                    raise(
                        AnomalyKind::UseAfterAccountDisabled,
                        format!(
                            "token accepted after its account was disabled at {}",
                            change.time
                        ),
                    );
                }
            }
        }
        if !client_id.is_empty() {
            if let Some(change) = clients.get(&client_id).and_then(|c| disabled_at(c, time)) {
                raise(
                    AnomalyKind::UseAfterClientDisabled,
                    format!(
                        "token of client {client_id} accepted after the client was disabled at {}",
                        change.time
                    ),
                );
            }
        }
    })?;

    // Many addresses: decided once all uses are known.
    for (jti, token) in &tokens {
        let unexplained: Vec<&String> = token
            .addresses
            .iter()
            .filter(|address| !token.job_addresses.contains(*address))
            .collect();
        if unexplained.len() > config.max_addresses_per_jti {
            pending.insert(
                (jti.clone(), AnomalyKind::ManyAddresses),
                Pending {
                    anomaly: Anomaly {
                        kind: AnomalyKind::ManyAddresses,
                        summary: format!(
                            "token used from {} addresses besides its jobs' worker nodes",
                            unexplained.len()
                        ),
                        first_seen: token.first_seen,
                        jti: jti.clone(),
                        iss: token.iss.clone(),
                        sub: token.sub.clone(),
                        client_id: token.client_id.clone(),
                        addresses: unexplained.into_iter().cloned().collect(),
                        events: 0,
                        evidence: Vec::new(),
                        trace: Seed::Jti { jti: jti.clone() },
                    },
                },
            );
        }
    }

    // Pass 3: refusals.
    let mut refused: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let refused_query = Query::And(vec![
        Query::term("outcome", outcome::FAIL),
        Query::Not(Box::new(Query::term("service", "issuer"))),
    ]);
    scan(store, &refused_query, from, to, |event| {
        if event.action.starts_with("job.") {
            return;
        }
        let reason = refusal_reason(&event, config.grace_seconds);
        *refused
            .entry((event.service.to_string(), reason))
            .or_default() += 1;
    })?;

    // Pass 4: worker nodes per identity at once.
    let mut worker_anomalies = worker_node_concurrency(store, from, to, config, &tokens)?;

    // Assemble.
    let mut report = PolicyReport {
        from,
        to,
        generated: Some(Timestamp::from(chrono::Utc::now())),
        config: config.clone(),
        ..PolicyReport::default()
    };
    let mut anomalies: Vec<Anomaly> = pending.into_values().map(|p| p.anomaly).collect();
    anomalies.append(&mut worker_anomalies);
    anomalies.sort_by_key(|a| (a.first_seen, a.kind));
    let mut anomaly_reasons: HashMap<&str, Vec<&'static str>> = HashMap::new();
    for anomaly in &anomalies {
        if !anomaly.jti.is_empty() {
            let reasons = anomaly_reasons.entry(anomaly.jti.as_str()).or_default();
            if !reasons.contains(&anomaly.kind.as_str()) {
                reasons.push(anomaly.kind.as_str());
            }
        }
    }

    let mut by_issuer_client: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut lifetimes = [0u64; LIFETIME_LABELS.len()];
    let mut flagged = Vec::new();
    let mut jtis: Vec<&String> = tokens.keys().collect();
    jtis.sort_by_key(|jti| (tokens[*jti].first_seen, jti.as_str()));
    for jti in jtis {
        let token = &tokens[jti];
        if !token.at_issuer && !token.claims_known() {
            // Only a use at a service, claims unknown: nothing to measure.
            if !anomaly_reasons.contains_key(jti.as_str()) {
                continue;
            }
        }
        report.tokens.total += 1;
        if !token.at_issuer {
            report.tokens.seen_only_at_services += 1;
        }
        let kind = if token.refresh_marker || parents.contains(jti) {
            Kind::Refresh
        } else {
            Kind::Access
        };
        let issuer = if token.iss.is_empty() {
            token.issuer.clone()
        } else {
            token.iss.clone()
        };
        let counts = by_issuer_client
            .entry((issuer, token.client_id.clone()))
            .or_default();
        let mut reasons: Vec<String> = Vec::new();
        match kind {
            Kind::Refresh => {
                report.tokens.refresh += 1;
                counts.1 += 1;
            }
            Kind::Access => {
                report.tokens.access += 1;
                counts.0 += 1;
                if !token.claims_known() {
                    report.tokens.claims_not_logged += 1;
                } else {
                    if let Some(lifetime) = token.lifetime_seconds() {
                        lifetimes[lifetime_bucket(lifetime, config.max_access_lifetime_seconds)] +=
                            1;
                        if lifetime > config.max_access_lifetime_seconds {
                            reasons.push(format!(
                                "lifetime>{}h",
                                config.max_access_lifetime_seconds / 3600
                            ));
                        }
                    }
                    if token.aud.iter().any(|aud| aud == ANY_AUDIENCE) {
                        report.audiences.any += 1;
                        reasons.push("aud=any".into());
                    } else if token.aud.is_empty() {
                        report.audiences.none += 1;
                        reasons.push("aud=none".into());
                    } else {
                        report.audiences.specific += 1;
                    }
                    let mut at_root = false;
                    for scope in &token.scopes {
                        if let Some((authz, path)) = scope.split_once(':') {
                            if authz.starts_with("storage.") && path == "/" {
                                at_root = true;
                                if authz == "storage.modify" || authz == "storage.create" {
                                    reasons.push(scope.clone());
                                }
                            }
                        }
                    }
                    if at_root {
                        report.scopes.storage_at_vo_root += 1;
                        if token
                            .used_prefix
                            .as_deref()
                            .is_some_and(|prefix| prefix.len() > 1)
                        {
                            report.scopes.vo_root_used_narrowly += 1;
                        }
                    }
                    if reasons
                        .iter()
                        .any(|r| r.starts_with("storage.modify") || r.starts_with("storage.create"))
                    {
                        report.scopes.write_at_vo_root += 1;
                    }
                }
            }
        }
        if let Some(kinds) = anomaly_reasons.get(jti.as_str()) {
            reasons.extend(kinds.iter().map(|kind| kind.to_string()));
        }
        if !reasons.is_empty() {
            flagged.push(FlaggedToken {
                jti: jti.clone(),
                iss: token.iss.clone(),
                sub: token.sub.clone(),
                client_id: token.client_id.clone(),
                issued: token.iat.or(token.first_seen),
                lifetime_seconds: token.lifetime_seconds(),
                aud: token.aud.clone(),
                scopes: token.scopes.clone(),
                reasons,
                trace: Seed::Jti { jti: jti.clone() },
            });
        }
    }
    report.tokens.by_issuer_client = by_issuer_client
        .into_iter()
        .map(|((issuer, client_id), (access, refresh))| IssuerClient {
            issuer,
            client_id,
            access,
            refresh,
        })
        .collect();
    report.lifetimes = LIFETIME_LABELS
        .iter()
        .zip(lifetimes)
        .map(|(label, count)| Bucket {
            label: label.to_string(),
            count,
        })
        .collect();
    report.missing_jti = missing_jti
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    report.use_before_expiry = leads
        .into_iter()
        .map(|(service, state)| ServiceLead {
            service,
            uses: state.uses,
            min_seconds: state.min,
            max_seconds: state.max,
            mean_seconds: (state.uses > 0).then(|| (state.sum / i128::from(state.uses)) as i64),
            buckets: LEAD_LABELS
                .iter()
                .zip(state.buckets)
                .map(|(label, count)| Bucket {
                    label: label.to_string(),
                    count,
                })
                .collect(),
        })
        .collect();
    report.issuance = issuers
        .into_iter()
        .map(|(issuer, state)| {
            let span = match (state.first, state.last) {
                (Some(first), Some(last)) => last.millis() - first.millis(),
                _ => 0,
            };
            let mean_interval_ms = if state.events > 1 {
                span as f64 / (state.events - 1) as f64
            } else {
                f64::INFINITY
            };
            let mut gaps: Vec<Gap> = state
                .gaps
                .into_iter()
                .filter(|gap| {
                    (gap.seconds * 1000) as f64 >= config.outage_gap_factor * mean_interval_ms
                })
                .collect();
            gaps.sort_by_key(|gap| std::cmp::Reverse(gap.seconds));
            gaps.truncate(20);
            IssuerActivity {
                issuer,
                iss: state.iss,
                events: state.events,
                first: state.first,
                last: state.last,
                peak_per_second: state.peak,
                peak_at: state.peak_at,
                gaps,
            }
        })
        .collect();
    report.refused = refused
        .into_iter()
        .map(|((service, reason), count)| Refusal {
            service,
            reason: reason.to_string(),
            count,
        })
        .collect();
    if flagged.len() > config.max_listed {
        flagged.truncate(config.max_listed);
        report.truncated = true;
    }
    if anomalies.len() > config.max_listed {
        anomalies.truncate(config.max_listed);
        report.truncated = true;
    }
    report.flagged = flagged;
    report.anomalies = anomalies;
    Ok(report)
}

/// Identities with jobs on more than `max_concurrent_worker_nodes` worker nodes at once,
/// from job starts and ends in time order.
fn worker_node_concurrency(
    store: &dyn EventStore,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    config: &ReportConfig,
    tokens: &HashMap<String, Token>,
) -> Result<Vec<Anomaly>, crate::Error> {
    /// A job without an end is forgotten after this long (bounds memory).
    const FORGET_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;
    let query = Query::Or(vec![
        Query::term("action", action::JOB_START),
        Query::term("action", action::JOB_END),
    ]);
    // job key → (identity, worker node, start)
    let mut running: HashMap<String, ((String, String), String, Timestamp)> = HashMap::new();
    let mut per_identity: HashMap<(String, String), HashMap<String, u32>> = HashMap::new();
    let mut found: BTreeMap<(String, String), Pending> = BTreeMap::new();
    let mut last_sweep = i64::MIN;
    scan(store, &query, from, to, |event| {
        let Some(time) = event.time else { return };
        let key = if event.batch_job_id.is_empty() {
            event.job_id.clone()
        } else {
            event.batch_job_id.clone()
        };
        if key.is_empty() {
            return;
        }
        let leave = |running: &mut HashMap<_, ((String, String), String, Timestamp)>,
                     per_identity: &mut HashMap<(String, String), HashMap<String, u32>>,
                     key: &str| {
            if let Some((identity, node, _)) = running.remove(key) {
                if let Some(nodes) = per_identity.get_mut(&identity) {
                    if let Some(count) = nodes.get_mut(&node) {
                        *count -= 1;
                        if *count == 0 {
                            nodes.remove(&node);
                        }
                    }
                }
            }
        };
        if event.action == action::JOB_END {
            leave(&mut running, &mut per_identity, &key);
            return;
        }
        if running.contains_key(&key) || event.worker_node.is_empty() {
            return;
        }
        let token = tokens.get(&event.jti);
        let sub = if event.sub.is_empty() {
            token.map(|t| t.sub.clone()).unwrap_or_default()
        } else {
            event.sub.clone()
        };
        if sub.is_empty() {
            return;
        }
        let client = token.map(|t| t.client_id.as_str()).unwrap_or("");
        if sub == client || token.is_none() && event.local_user.contains("pilot") {
            // Client-credentials identities (pilots, services) run everywhere by design.
            return;
        }
        let iss = if event.iss.is_empty() {
            token.map(|t| t.iss.clone()).unwrap_or_default()
        } else {
            normalise_iss(&event.iss)
        };
        let identity = (iss, sub);
        running.insert(key, (identity.clone(), event.worker_node.clone(), time));
        let nodes = per_identity.entry(identity.clone()).or_default();
        *nodes.entry(event.worker_node.clone()).or_default() += 1;
        if nodes.len() > config.max_concurrent_worker_nodes {
            let count = nodes.len();
            found
                .entry(identity.clone())
                .or_insert_with(|| Pending {
                    anomaly: Anomaly {
                        kind: AnomalyKind::ManyWorkerNodes,
                        summary: format!("identity ran jobs on {count} worker nodes at once"),
                        first_seen: Some(time),
                        jti: String::new(),
                        iss: identity.0.clone(),
                        sub: identity.1.clone(),
                        client_id: String::new(),
                        addresses: Vec::new(),
                        events: 0,
                        evidence: Vec::new(),
                        trace: Seed::Identity {
                            sub: identity.1.clone(),
                            iss: (!identity.0.is_empty()).then(|| identity.0.clone()),
                        },
                    },
                })
                .record(&event);
        }
        if time.millis().saturating_sub(last_sweep) > FORGET_AFTER_MS / 7 {
            last_sweep = time.millis();
            let stale: Vec<String> = running
                .iter()
                .filter(|(_, (_, _, start))| time.millis() - start.millis() > FORGET_AFTER_MS)
                .map(|(key, _)| key.clone())
                .collect();
            for key in stale {
                leave(&mut running, &mut per_identity, &key);
            }
        }
    })?;
    Ok(found.into_values().map(|p| p.anomaly).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_directory_of_paths() {
        assert_eq!(
            common_directory("/store/user/a/x.root", "/store/user/b/y.root"),
            "/store/user/"
        );
        assert_eq!(common_directory("/store/a/x", "/store/a/x"), "/store/a/");
        assert_eq!(common_directory("/a/x", "/b/y"), "/");
    }

    #[test]
    fn refusals_are_classified_by_text_then_claims_then_status() {
        let mut event = Event {
            status: "Token already expired.".into(),
            ..Event::default()
        };
        assert_eq!(refusal_reason(&event, 60), "expired");
        event.status = "403".into();
        event.jti = "j".into();
        assert_eq!(refusal_reason(&event, 60), "insufficient-scope");
        event.jti.clear();
        event.status = "401".into();
        assert_eq!(refusal_reason(&event, 60), "unauthenticated");
        event.status = "invalid audience".into();
        assert_eq!(refusal_reason(&event, 60), "wrong-audience");
    }

    #[test]
    fn status_changes_decide_disabled_windows() {
        let change = |ms, disabled| StatusChange {
            time: Timestamp(ms),
            disabled,
            event: Event::default(),
        };
        let changes = vec![change(10, true), change(20, false)];
        assert!(disabled_at(&changes, Timestamp(5)).is_none());
        assert!(disabled_at(&changes, Timestamp(15)).is_some());
        assert!(disabled_at(&changes, Timestamp(25)).is_none());
    }
}
