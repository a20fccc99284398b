//! The trace: everything an identity, token, job, address, host, file, user name or client
//! was part of, found by expanding over the link rules of DESIGN.md section 4, with the rule
//! and confidence of every link. It only needs term lookups within a time range, so it runs on
//! any [`EventStore`]. (It lives beside the store trait so that the CLI and the web crate share
//! one engine.)

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use tokentrail_parsers::{action, Event, Timestamp};

use crate::query::Query;
use crate::store::{EventStore, Order};
use crate::Error;

/// Where a trace starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Seed {
    /// An identity: `sub`, optionally qualified by its issuer.
    Identity { sub: String, iss: Option<String> },
    /// A token id.
    Jti { jti: String },
    /// A job: CE job id, batch job id, or a bare `C.P` / LRMS id.
    Job { job: String },
    /// A client address.
    Ip { ip: String },
    /// A host (worker node, client host, or the host that wrote the log).
    Host { host: String },
    /// A file path.
    Path { path: String },
    /// An issuer user name.
    User { user: String },
    /// An OAuth client id.
    Client { client: String },
}

/// A trace request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRequest {
    pub seed: Seed,
    #[serde(default)]
    pub from: Option<Timestamp>,
    #[serde(default)]
    pub to: Option<Timestamp>,
    /// How many expansion rounds (identity → tokens → jobs → worker-node windows …).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Most events in an answer.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
}

fn default_depth() -> usize {
    4
}

fn default_max_events() -> usize {
    20_000
}

impl TraceRequest {
    /// A request with default depth and caps.
    pub fn new(seed: Seed) -> Self {
        TraceRequest {
            seed,
            from: None,
            to: None,
            max_depth: default_depth(),
            max_events: default_max_events(),
        }
    }
}

/// How an event entered the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Which rule: `seed`, `same-jti`, `same-identity`, `issuer-username`, `issuer-client`,
    /// `job`, `session`, `token-chain`, `worker-node-window`.
    pub rule: String,
    /// `certain` or `probable`.
    pub confidence: String,
}

/// An event of the answer with its link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedEvent {
    #[serde(flatten)]
    pub event: Event,
    pub link: Link,
}

/// An identity in the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityOut {
    pub iss: String,
    pub sub: String,
    pub usernames: Vec<String>,
}

/// A token in the answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenOut {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub aud: Vec<String>,
    pub iat: Option<Timestamp>,
    pub exp: Option<Timestamp>,
    pub grant_type: String,
    pub parent_jti: String,
}

/// A job in the answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOut {
    pub job_id: String,
    pub batch_job_id: String,
    pub ce: String,
    pub worker_node: String,
    pub submitted: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    pub jti: String,
    pub sub: String,
}

/// The answer, as DESIGN.md section 6 fixes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceAnswer {
    pub query: serde_json::Value,
    pub truncated: bool,
    pub identities: Vec<IdentityOut>,
    pub tokens: Vec<TokenOut>,
    pub jobs: Vec<JobOut>,
    pub events: Vec<LinkedEvent>,
}

/// Runs a trace. (Expansion engine: being written; for now only the seed's direct matches.)
pub fn trace(store: &dyn EventStore, request: &TraceRequest) -> Result<TraceAnswer, Error> {
    let _ = (
        action::JOB_SUBMIT,
        BTreeMap::<u8, u8>::new(),
        BTreeSet::<u8>::new(),
        HashMap::<u8, u8>::new(),
        HashSet::<u8>::new(),
        VecDeque::<u8>::new(),
    );
    let query = match &request.seed {
        Seed::Identity { sub, .. } => Query::term("sub", sub),
        Seed::Jti { jti } => Query::term("jti", jti),
        Seed::Job { job } => Query::Or(vec![
            Query::term("job_id", job),
            Query::term("batch_job_id", job),
        ]),
        Seed::Ip { ip } => Query::term("client_ip", ip),
        Seed::Host { host } => Query::term("worker_node", host),
        Seed::Path { path } => Query::term("path", path),
        Seed::User { user } => Query::term("username", user),
        Seed::Client { client } => Query::term("client_id", client),
    };
    let hits = store.search(
        &query.within(request.from, request.to),
        request.max_events,
        Order::OldestFirst,
    )?;
    Ok(TraceAnswer {
        query: serde_json::to_value(request).unwrap_or_default(),
        truncated: hits.total > hits.events.len() as u64,
        events: hits
            .events
            .into_iter()
            .map(|event| LinkedEvent {
                event,
                link: Link {
                    rule: "seed".into(),
                    confidence: "certain".into(),
                },
            })
            .collect(),
        ..TraceAnswer::default()
    })
}
