//! The trace: everything an identity, token, job, address, host, file, user name or client
//! was part of, found by expanding over the link rules of DESIGN.md section 4, with the rule
//! and confidence of every link. It only needs term lookups within a time range, so it runs on
//! any [`EventStore`]. (It lives beside the store trait so that the CLI and the web crate share
//! one engine.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokentrail_parsers::{action, Event, Timestamp};

use crate::query::Query;
use crate::store::{EventStore, Order};
use crate::Error;

/// The trace's hash tables, with a fast hash seeded per process (foldhash): std's SipHash of
/// event ids and keys was a tenth of a warm address trace at 10 M events.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

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

/// An event of the answer with its link. The event is shared with the store's cache of
/// decoded events (and with other answers holding it), not copied into each answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedEvent {
    #[serde(flatten)]
    pub event: Arc<Event>,
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

/// Link rule names.
pub mod rule {
    pub const SEED: &str = "seed";
    pub const SAME_JTI: &str = "same-jti";
    pub const SAME_IDENTITY: &str = "same-identity";
    pub const ISSUER_USERNAME: &str = "issuer-username";
    pub const ISSUER_CLIENT: &str = "issuer-client";
    pub const JOB: &str = "job";
    pub const SESSION: &str = "session";
    pub const TOKEN_CHAIN: &str = "token-chain";
    pub const WORKER_NODE_WINDOW: &str = "worker-node-window";
}

/// `certain` / `probable`.
pub mod confidence {
    pub const CERTAIN: &str = "certain";
    pub const PROBABLE: &str = "probable";
}

/// A session id links events only within this distance of an event already in the answer
/// (XRootD tidents are reused over days).
const SESSION_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// A job without an end is taken to run at most this long.
const MAX_JOB_MS: i64 = 7 * 24 * 3600 * 1000;

/// A worker node and the time one of the answer's jobs ran on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Window {
    node: String,
    ip: String,
    start: i64,
    end: i64,
}

/// Everything known so far.
struct Expansion<'a> {
    store: &'a dyn EventStore,
    request: &'a TraceRequest,
    /// Identity filter for events found by `sub` (`None` = any issuer).
    identity_iss: Option<String>,
    events: HashMap<String, LinkedEvent>,
    truncated: bool,
    seen_subs: HashSet<String>,
    seen_jtis: HashSet<String>,
    /// Job ids by the field they stand in: a CE job id and a batch job id are different
    /// namespaces (two schedds on one host both count clusters from 1).
    seen_jobs: HashSet<(&'static str, String)>,
    seen_sessions: HashSet<String>,
    seen_windows: HashSet<Window>,
    /// Keys to expand in the next round.
    next_subs: Vec<String>,
    next_jtis: Vec<String>,
    next_jobs: Vec<(&'static str, String)>,
    next_sessions: Vec<(String, i64)>,
    /// Identities in the answer ("whose evidence is certain"), for the probable filter.
    follow_identity: bool,
    follow_tokens: bool,
    /// Parent tokens (refresh / subject tokens) of tokens in the answer.
    parents: BTreeSet<String>,
    /// Expansion rounds this seed calls for (at most the request's depth).
    rounds: usize,
}

fn normalise_iss(iss: &str) -> String {
    let mut iss = iss.to_string();
    tokentrail_parsers::stream::normalise_issuer(&mut iss);
    iss
}

impl<'a> Expansion<'a> {
    fn new(store: &'a dyn EventStore, request: &'a TraceRequest) -> Self {
        Expansion {
            store,
            request,
            identity_iss: None,
            events: HashMap::default(),
            truncated: false,
            seen_subs: HashSet::default(),
            seen_jtis: HashSet::default(),
            seen_jobs: HashSet::default(),
            seen_sessions: HashSet::default(),
            seen_windows: HashSet::default(),
            next_subs: Vec::new(),
            next_jtis: Vec::new(),
            next_jobs: Vec::new(),
            next_sessions: Vec::new(),
            follow_identity: true,
            follow_tokens: true,
            parents: BTreeSet::new(),
            rounds: usize::MAX,
        }
    }

    fn limit(&self) -> usize {
        self.request.max_events.saturating_add(1)
    }

    /// Runs one query in the request's time range.
    fn find(&mut self, query: Query) -> Result<Vec<Arc<Event>>, Error> {
        self.find_within(query, self.request.from, self.request.to)
    }

    fn find_within(
        &mut self,
        query: Query,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<Arc<Event>>, Error> {
        let (events, capped) = self.lookup(query, from, to)?;
        if capped {
            self.truncated = true;
        }
        Ok(events)
    }

    /// The request's time range narrowed to `from`..`to` (`to` excluded).
    fn clamp(&self, from: Option<Timestamp>, to: Option<Timestamp>) -> TimeBounds {
        let from = match (from, self.request.from) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let to = match (to, self.request.to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        TimeBounds { from, to }
    }

    /// One query within `from`..`to` and the request's range; says whether it hit the cap
    /// (more events matched than were returned).
    fn lookup(
        &self,
        query: Query,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<(Vec<Arc<Event>>, bool), Error> {
        self.lookup_at_most(query, from, to, self.limit())
    }

    /// [`Expansion::lookup`] keeping at most `limit` events.
    fn lookup_at_most(
        &self,
        query: Query,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: usize,
    ) -> Result<(Vec<Arc<Event>>, bool), Error> {
        if self.events.len() >= self.request.max_events {
            // The answer is full: every event a lookup could add now would be refused, and
            // none could change a link (only window events are probable, and they come
            // last and never replace a link). Stop looking; the answer is truncated.
            return Ok((Vec::new(), true));
        }
        let bounds = self.clamp(from, to);
        let query = query.within(bounds.from, bounds.to);
        let hits = self
            .store
            .search_shared(&query, limit, Order::OldestFirst)?;
        let capped = hits.total > hits.events.len() as u64;
        tracing::trace!(
            found = hits.events.len(),
            query = %format!("{query:?}").chars().take(120).collect::<String>(),
            "trace lookup"
        );
        if capped {
            tracing::debug!(
                total = hits.total,
                kept = hits.events.len(),
                ?query,
                "trace lookup hit its cap"
            );
        }
        Ok((hits.events, capped))
    }

    /// Looks up many values of one field, in chunks.
    fn find_terms(&mut self, field: &str, values: &[String]) -> Result<Vec<Arc<Event>>, Error> {
        let mut found = Vec::new();
        for chunk in values.chunks(self.store.terms_per_query()) {
            let query = Query::Or(chunk.iter().map(|v| Query::term(field, v)).collect());
            found.extend(self.find(query)?);
        }
        Ok(found)
    }

    fn matches_identity(&self, event: &Event) -> bool {
        match &self.identity_iss {
            None => true,
            Some(iss) => {
                event.iss.is_empty() || event.iss == *iss || event.iss.starts_with("alias:")
            }
        }
    }

    /// Adds an event with a link (a certain link replaces a probable one), and queues the keys
    /// it carries for expansion.
    fn add(&mut self, event: Arc<Event>, rule: &str, confidence: &str) {
        if self.events.len() >= self.request.max_events && !self.events.contains_key(&event.id) {
            tracing::debug!(max_events = self.request.max_events, "trace answer full");
            self.truncated = true;
            return;
        }
        let certain = confidence == confidence::CERTAIN;
        if let Some(existing) = self.events.get(&event.id) {
            if existing.link.confidence == confidence::CERTAIN || !certain {
                return;
            }
        }
        if certain {
            self.queue_keys(&event);
        }
        self.events
            .insert(event.id.clone(), linked(event, rule, confidence));
    }

    fn queue_keys(&mut self, event: &Event) {
        if self.follow_tokens && !event.jti.is_empty() && self.seen_jtis.insert(event.jti.clone()) {
            self.next_jtis.push(event.jti.clone());
        }
        if self.follow_tokens && !event.parent_jti.is_empty() {
            // The parent is shown (which refresh token to revoke) but not followed: its other
            // children are siblings, not uses of this token.
            self.parents.insert(event.parent_jti.clone());
        }
        for (field, job) in [
            ("job_id", &event.job_id),
            ("batch_job_id", &event.batch_job_id),
        ] {
            if is_joinable_job(job) && self.seen_jobs.insert((field, job.clone())) {
                self.next_jobs.push((field, job.clone()));
            }
        }
        if !event.session_id.is_empty() && self.seen_sessions.insert(event.session_id.clone()) {
            let at = event.time.map_or(0, |t| t.millis());
            self.next_sessions.push((event.session_id.clone(), at));
        }
        if self.follow_identity && !event.sub.is_empty() && self.seen_subs.insert(event.sub.clone())
        {
            self.next_subs.push(event.sub.clone());
        }
    }

    fn expand_subs(&mut self, subs: Vec<String>) -> Result<(), Error> {
        for event in self.find_terms("sub", &subs)? {
            if self.matches_identity(&event) {
                self.add(event, rule::SAME_IDENTITY, confidence::CERTAIN);
            }
        }
        // An X.509 identity is its DN, which services log as the user name.
        let dns: Vec<String> = subs.into_iter().filter(|sub| is_dn(sub)).collect();
        if !dns.is_empty() {
            for event in self.find_terms("username", &dns)? {
                self.add(event, rule::SAME_IDENTITY, confidence::CERTAIN);
            }
        }
        Ok(())
    }

    fn expand_jtis(&mut self, jtis: Vec<String>) -> Result<(), Error> {
        for event in self.find_terms("jti", &jtis)? {
            self.add(event, rule::SAME_JTI, confidence::CERTAIN);
        }
        // Tokens derived from these (refresh / exchange children).
        for event in self.find_terms("parent_jti", &jtis)? {
            self.add(event, rule::TOKEN_CHAIN, confidence::CERTAIN);
        }
        Ok(())
    }

    fn expand_jobs(&mut self, jobs: Vec<(&'static str, String)>) -> Result<(), Error> {
        let mut found = Vec::new();
        for field in ["job_id", "batch_job_id"] {
            let ids: Vec<String> = jobs
                .iter()
                .filter(|(in_field, _)| *in_field == field)
                .map(|(_, id)| id.clone())
                .collect();
            if !ids.is_empty() {
                found.extend(self.find_terms(field, &ids)?);
            }
        }
        for event in found {
            self.add(event, rule::JOB, confidence::CERTAIN);
        }
        Ok(())
    }

    fn expand_sessions(&mut self, sessions: Vec<(String, i64)>) -> Result<(), Error> {
        // Looked up in batches (one query per chunk, not per session); each session then
        // keeps only its events within a day of where the answer met it.
        let mut sessions = sessions;
        sessions.sort_by_key(|(_, at)| *at);
        for chunk in sessions.chunks(self.store.terms_per_query()) {
            let earliest = chunk.iter().map(|(_, at)| *at).min().unwrap_or(0);
            let latest = chunk.iter().map(|(_, at)| *at).max().unwrap_or(0);
            let query = Query::Or(
                chunk
                    .iter()
                    .map(|(session, _)| Query::term("session_id", session))
                    .collect(),
            );
            let found = self.find_within(
                query,
                Some(Timestamp(earliest.saturating_sub(SESSION_WINDOW_MS))),
                Some(Timestamp(latest.saturating_add(SESSION_WINDOW_MS))),
            )?;
            // By session id, not in a hash map's order: with a cap on the answer, the order of
            // the adds decides which events it keeps.
            let mut by_session: BTreeMap<&str, Vec<Arc<Event>>> = BTreeMap::new();
            let at_of: HashMap<&str, i64> = chunk
                .iter()
                .map(|(session, at)| (session.as_str(), *at))
                .collect();
            for event in found {
                let Some((session, at)) = at_of.get_key_value(event.session_id.as_str()) else {
                    continue;
                };
                let time = event.time.map_or(*at, |t| t.millis());
                if (time - *at).abs() <= SESSION_WINDOW_MS {
                    by_session.entry(*session).or_default().push(event);
                }
            }
            for (_, events) in by_session {
                // A session shared by two identities is not a session of one: do not follow it.
                let subs: BTreeSet<String> = events
                    .iter()
                    .filter(|e| !e.sub.is_empty())
                    .map(|e| e.sub.clone())
                    .collect();
                if subs.len() > 1 {
                    continue;
                }
                if let Some(sub) = subs.iter().next() {
                    if !self.seen_subs.contains(sub) && self.follow_identity {
                        // The session belongs to an identity this trace does not follow.
                        continue;
                    }
                }
                for event in events {
                    self.add(event, rule::SESSION, confidence::CERTAIN);
                }
            }
        }
        Ok(())
    }

    /// Worker-node windows of the jobs found so far.
    fn windows(&self) -> Vec<Window> {
        // In the answer's order, not the map's: which node a job ran on and which address a
        // node has can depend on which event comes first, and the same question must give
        // the same windows (with a cap on the answer, the same events).
        let events = in_answer_order(self.events.values().map(|linked| &*linked.event), |e| e);
        let jobs = build_jobs(events.iter().copied());
        // The address a worker node's job events carry, found in one pass (the first in
        // the answer's order).
        let mut node_ips: HashMap<&str, &str> = HashMap::default();
        for event in events {
            if !event.worker_node.is_empty()
                && !event.client_ip.is_empty()
                && event.action.starts_with("job.")
            {
                node_ips
                    .entry(event.worker_node.as_str())
                    .or_insert(event.client_ip.as_str());
            }
        }
        let mut windows = Vec::new();
        for job in jobs {
            let (Some(start), node) = (job.started, job.worker_node.clone()) else {
                continue;
            };
            if node.is_empty() {
                continue;
            }
            let end = job
                .ended
                .map_or(start.millis() + MAX_JOB_MS, |end| end.millis());
            let ip = node_ips
                .get(node.as_str())
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            windows.push(Window {
                node,
                ip,
                start: start.millis(),
                end: end.max(start.millis()),
            });
        }
        windows
    }

    /// The issuance records of parent tokens, without following them further.
    fn add_parents(&mut self) -> Result<(), Error> {
        let parents: Vec<String> = self
            .parents
            .iter()
            .filter(|jti| !self.seen_jtis.contains(*jti))
            .cloned()
            .collect();
        for event in self.find_terms("jti", &parents)? {
            if event.service != "issuer" || self.events.contains_key(&event.id) {
                continue;
            }
            self.events.insert(
                event.id.clone(),
                linked(event, rule::TOKEN_CHAIN, confidence::CERTAIN),
            );
        }
        Ok(())
    }

    /// The probable rule: file operations from a worker node's address while a job of the
    /// answer ran there, unless they carry another identity or token.
    ///
    /// A busy identity has hundreds of jobs on a few nodes, with overlapping windows: the
    /// windows of one node and address that overlap are looked up together (one query for
    /// their events), then each window takes its own events from that result exactly as its
    /// own query would have found them, and asks which of their sessions name another
    /// identity. A cluster whose lookup hits the cap falls back to one query per window, so
    /// the answer is the same either way.
    fn expand_windows(&mut self) -> Result<(), Error> {
        let subs = self.seen_subs.clone();
        let jtis = self.seen_jtis.clone();
        let mut windows = Vec::new();
        for window in self.windows() {
            if self.seen_windows.insert(window.clone()) {
                windows.push(window);
            }
        }
        let clusters = window_clusters(&windows);
        let cluster_of = window_cluster_of(&windows, &clusters);
        // Each cluster is looked up at its first window and let go after its last, so that
        // only the clusters in use hold their events.
        let mut last_use = vec![0; clusters.len()];
        for (position, cluster_index) in cluster_of.iter().enumerate() {
            last_use[*cluster_index] = position;
        }
        let mut looked_up: Vec<Option<Option<Vec<Arc<Event>>>>> = Vec::new();
        looked_up.resize_with(clusters.len(), || None);
        for (position, (window, &cluster_index)) in windows.iter().zip(&cluster_of).enumerate() {
            if looked_up[cluster_index].is_none() {
                let found = self.lookup_cluster(&clusters[cluster_index], &subs, &jtis)?;
                looked_up[cluster_index] = Some(found);
            }
            match &looked_up[cluster_index] {
                Some(Some(cluster)) => self.expand_window_from(window, cluster, &subs, &jtis)?,
                _ => self.expand_window(window, &subs, &jtis)?,
            }
            if last_use[cluster_index] == position {
                // Done with it (`Some(None)`: not looked up again).
                looked_up[cluster_index] = Some(None);
            }
        }
        Ok(())
    }

    /// The events of a cluster of windows, or `None` when the lookup hit its cap (then each
    /// window is looked up alone).
    fn lookup_cluster(
        &self,
        cluster: &Cluster,
        subs: &HashSet<String>,
        jtis: &HashSet<String>,
    ) -> Result<Option<Vec<Arc<Event>>>, Error> {
        // Only file operations of no other identity or token are fetched (the store drops
        // the others before fetching them, from its columns where it can).
        let [own_subs, own_jtis] = own_keys(subs, jtis);
        let query = Query::And(vec![
            window_query(&cluster.node, &cluster.ip),
            file_operations(),
            own_subs,
            own_jtis,
        ]);
        let (events, capped) = self.lookup(
            query,
            Some(Timestamp(cluster.start)),
            Some(Timestamp(cluster.end + 1)),
        )?;
        Ok((!capped).then_some(events))
    }

    /// One window, from its cluster's events: what its own lookup would have found.
    fn expand_window_from(
        &mut self,
        window: &Window,
        cluster: &[Arc<Event>],
        subs: &HashSet<String>,
        jtis: &HashSet<String>,
    ) -> Result<(), Error> {
        let bounds = self.clamp(
            Some(Timestamp(window.start)),
            Some(Timestamp(window.end + 1)),
        );
        let candidates: Vec<Arc<Event>> = cluster
            .iter()
            .filter(|event| bounds.holds(event.time))
            .filter(|event| {
                is_window_candidate(event, subs, jtis) && !self.events.contains_key(&event.id)
            })
            .cloned()
            .collect();
        self.add_window_candidates(window, candidates, subs)
    }

    /// One window, looked up alone.
    fn expand_window(
        &mut self,
        window: &Window,
        subs: &HashSet<String>,
        jtis: &HashSet<String>,
    ) -> Result<(), Error> {
        let [own_subs, own_jtis] = own_keys(subs, jtis);
        let found = self.find_within(
            Query::And(vec![
                window_query(&window.node, &window.ip),
                file_operations(),
                own_subs,
                own_jtis,
            ]),
            Some(Timestamp(window.start)),
            Some(Timestamp(window.end + 1)),
        )?;
        let candidates: Vec<Arc<Event>> = found
            .into_iter()
            .filter(|event| {
                is_window_candidate(event, subs, jtis) && !self.events.contains_key(&event.id)
            })
            .collect();
        self.add_window_candidates(window, candidates, subs)
    }

    /// Adds a window's candidates, but not those whose in-service session names another
    /// identity than `subs` within a day of the window: such an operation is that
    /// identity's. Which sessions do is a question of presence, answered by the store
    /// without fetching the other identities' events.
    fn add_window_candidates(
        &mut self,
        window: &Window,
        candidates: Vec<Arc<Event>>,
        subs: &HashSet<String>,
    ) -> Result<(), Error> {
        let sessions: Vec<String> = candidates
            .iter()
            .map(|event| event.session_id.clone())
            .filter(|session| !session.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let foreign_sessions = if sessions.is_empty() {
            std::collections::HashSet::new()
        } else {
            let bounds = self.clamp(
                Some(Timestamp(window.start.saturating_sub(SESSION_WINDOW_MS))),
                Some(Timestamp(window.end.saturating_add(SESSION_WINDOW_MS))),
            );
            let [own_subs, _] = own_keys(subs, &HashSet::default());
            let foreign = Query::Not(Box::new(own_subs)).within(bounds.from, bounds.to);
            self.store
                .values_present("session_id", &sessions, &foreign)?
        };
        for event in candidates {
            if foreign_sessions.contains(&event.session_id) {
                continue;
            }
            self.add(event, rule::WORKER_NODE_WINDOW, confidence::PROBABLE);
        }
        Ok(())
    }

    /// Expands queued keys for up to `max_depth` rounds.
    fn run(&mut self) -> Result<(), Error> {
        let rounds = self.request.max_depth.min(self.rounds);
        for _ in 0..rounds {
            let subs = std::mem::take(&mut self.next_subs);
            let jtis = std::mem::take(&mut self.next_jtis);
            let jobs = std::mem::take(&mut self.next_jobs);
            let sessions = std::mem::take(&mut self.next_sessions);
            if subs.is_empty() && jtis.is_empty() && jobs.is_empty() && sessions.is_empty() {
                break;
            }
            if !subs.is_empty() {
                self.expand_subs(subs)?;
            }
            if !jtis.is_empty() {
                self.expand_jtis(jtis)?;
            }
            if !jobs.is_empty() {
                self.expand_jobs(jobs)?;
            }
            if !sessions.is_empty() {
                self.expand_sessions(sessions)?;
            }
        }
        let keys_left = !(self.next_subs.is_empty()
            && self.next_jtis.is_empty()
            && self.next_jobs.is_empty()
            && self.next_sessions.is_empty());
        if keys_left && rounds == self.request.max_depth {
            tracing::debug!(depth = rounds, "trace stopped at its depth with keys left");
            // Keys were left unexpanded: the depth limit cut the answer.
            self.truncated = true;
        }
        self.add_parents()?;
        self.expand_windows()
    }
}

/// A time range of a lookup, `to` excluded, as the store applies it.
#[derive(Clone, Copy, Debug)]
struct TimeBounds {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl TimeBounds {
    /// Whether a lookup in this range finds an event with this time (an event without a
    /// time is never in a time range).
    fn holds(&self, time: Option<Timestamp>) -> bool {
        let Some(time) = time else {
            return self.from.is_none() && self.to.is_none();
        };
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time < to)
    }
}

/// Windows of one node and address whose run times overlap, looked up together.
#[derive(Clone, Debug)]
struct Cluster {
    node: String,
    ip: String,
    start: i64,
    end: i64,
}

/// Events from a worker node (by host name or address).
fn window_query(node: &str, ip: &str) -> Query {
    let mut alternatives = vec![Query::term("client_host", node)];
    if !ip.is_empty() {
        alternatives.push(Query::term("client_ip", ip));
    }
    Query::Or(alternatives)
}

/// The file operations [`is_window_candidate`] takes, as a condition the store can check on
/// the hits of a window's address before fetching events.
fn file_operations() -> Query {
    Query::OnHits(Box::new(Query::Or(vec![
        Query::Prefix {
            field: "action".into(),
            value: "file.".into(),
        },
        Query::Prefix {
            field: "action".into(),
            value: "transfer.".into(),
        },
        Query::term("action", action::AUTHZ_DENY),
    ])))
}

/// Conditions that keep events naming no other identity (`sub`) or token (`jti`) than
/// these; the store applies them before fetching events.
fn own_keys(subs: &HashSet<String>, jtis: &HashSet<String>) -> [Query; 2] {
    let sorted = |values: &HashSet<String>| {
        let mut values: Vec<String> = values.iter().cloned().collect();
        values.sort_unstable();
        values
    };
    [
        Query::EmptyOrOneOf {
            field: "sub".into(),
            values: sorted(subs),
        },
        Query::EmptyOrOneOf {
            field: "jti".into(),
            values: sorted(jtis),
        },
    ]
}

/// A file operation that names no other identity or token than those of the answer.
fn is_window_candidate(event: &Event, subs: &HashSet<String>, jtis: &HashSet<String>) -> bool {
    let is_file_operation = event.action.starts_with("file.")
        || event.action.starts_with("transfer.")
        || event.action == action::AUTHZ_DENY;
    let foreign_sub = !event.sub.is_empty() && !subs.contains(&event.sub);
    let foreign_jti = !event.jti.is_empty() && !jtis.contains(&event.jti);
    is_file_operation && !foreign_sub && !foreign_jti
}

/// Merges the windows of each (node, address) whose intervals overlap or touch.
fn window_clusters(windows: &[Window]) -> Vec<Cluster> {
    let mut by_place: BTreeMap<(&str, &str), Vec<(i64, i64)>> = BTreeMap::new();
    for window in windows {
        by_place
            .entry((window.node.as_str(), window.ip.as_str()))
            .or_default()
            .push((window.start, window.end));
    }
    let mut clusters = Vec::new();
    for ((node, ip), mut intervals) in by_place {
        intervals.sort_unstable();
        let mut current: Option<(i64, i64)> = None;
        for (start, end) in intervals {
            current = match current {
                Some((from, to)) if start <= to.saturating_add(1) => Some((from, to.max(end))),
                Some((from, to)) => {
                    clusters.push(Cluster {
                        node: node.to_string(),
                        ip: ip.to_string(),
                        start: from,
                        end: to,
                    });
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((from, to)) = current {
            clusters.push(Cluster {
                node: node.to_string(),
                ip: ip.to_string(),
                start: from,
                end: to,
            });
        }
    }
    clusters
}

/// For each window, the index of the cluster that holds it.
fn window_cluster_of(windows: &[Window], clusters: &[Cluster]) -> Vec<usize> {
    windows
        .iter()
        .map(|window| {
            clusters
                .iter()
                .position(|cluster| {
                    cluster.node == window.node
                        && cluster.ip == window.ip
                        && cluster.start <= window.start
                        && window.end <= cluster.end
                })
                .expect("every window is in one cluster")
        })
        .collect()
}

/// An X.509 distinguished name (`/DC=org/.../CN=Jane Roe`).
fn is_dn(text: &str) -> bool {
    text.starts_with('/') && text.contains("CN=")
}

/// A job id the trace may join on: qualified by a host (`host#C.P`) or an LRMS (`slurm:42`).
fn is_joinable_job(job: &str) -> bool {
    !job.is_empty() && (job.contains('#') || job.contains(':')) && !job.starts_with('#')
}

/// Runs a trace.
pub fn trace(store: &dyn EventStore, request: &TraceRequest) -> Result<TraceAnswer, Error> {
    trace_with(store, request, ADMINISTRATIVE_AT_ONCE)
}

/// [`trace`], fetching at most `administrative_at_once` administrative events at once (a
/// test sets it low to take the other way).
fn trace_with(
    store: &dyn EventStore,
    request: &TraceRequest,
    administrative_at_once: usize,
) -> Result<TraceAnswer, Error> {
    let mut expansion = Expansion::new(store, request);
    match &request.seed {
        Seed::Identity { sub, iss } => {
            expansion.identity_iss = iss.as_deref().map(normalise_iss);
            expansion.seen_subs.insert(sub.clone());
            expansion.next_subs.push(sub.clone());
        }
        Seed::User { user } => {
            // Resolved to `sub` through the issuer's own events for that user name.
            let found = expansion.find(Query::term("username", user))?;
            for event in found {
                let from_issuer = event.service == "issuer";
                if from_issuer
                    && !event.sub.is_empty()
                    && expansion.seen_subs.insert(event.sub.clone())
                {
                    expansion.next_subs.push(event.sub.clone());
                }
                expansion.add(event, rule::ISSUER_USERNAME, confidence::CERTAIN);
            }
        }
        Seed::Jti { jti } => {
            // A token's trace: its uses, its jobs and sessions, its chain, and the issuer's
            // account events of its owner — not everything else its owner did.
            expansion.follow_identity = false;
            expansion.seen_jtis.insert(jti.clone());
            expansion.next_jtis.push(jti.clone());
        }
        Seed::Client { client } => {
            // A client's trace: the tokens issued to it and their uses.
            expansion.follow_identity = false;
            for event in expansion.find(Query::term("client_id", client))? {
                expansion.add(event, rule::ISSUER_CLIENT, confidence::CERTAIN);
            }
        }
        Seed::Job { job } => {
            expansion.follow_identity = false;
            let found = find_job(&mut expansion, job)?;
            for event in found {
                expansion.add(event, rule::SEED, confidence::CERTAIN);
            }
        }
        Seed::Ip { ip } | Seed::Host { host: ip } | Seed::Path { path: ip } => {
            // Who did what at this address / host / path: the matching events, their
            // sessions (for the identity of session operations), listed identities — without
            // following those identities everywhere else.
            expansion.follow_identity = false;
            expansion.follow_tokens = false;
            let query = match &request.seed {
                Seed::Ip { .. } => Query::term("client_ip", ip),
                Seed::Host { .. } => Query::Or(vec![
                    Query::term("worker_node", ip),
                    Query::term("client_host", ip),
                    Query::term("host", ip),
                ]),
                _ => Query::term("path", ip),
            };
            for event in expansion.find(query)? {
                expansion.add(event, rule::SEED, confidence::CERTAIN);
            }
            // From a place, one round: the sessions and jobs of what happened there, not
            // everything those go on to touch.
            expansion.rounds = 1;
        }
    }
    expansion.run()?;
    if !expansion.follow_identity {
        add_account_events(&mut expansion, administrative_at_once)?;
    }
    Ok(answer(expansion))
}

/// Administrative events fetched in one lookup and matched to the answer's identities and
/// clients in memory: a site disables few accounts, while an address's answer names hundreds
/// of identities, each a term to look up in every segment (an eighth of a worker node's
/// address trace at 10 M events). Beyond this many in the trace's time range, the events are
/// looked up by identity and client instead.
const ADMINISTRATIVE_AT_ONCE: usize = 4096;

/// Issuer account and client events (disable, restore) of the identities in a narrower trace,
/// so that "used after the account was disabled" is visible in a token's trace.
/// At most `at_once` of them are fetched in one lookup (see [`ADMINISTRATIVE_AT_ONCE`]).
fn add_account_events(expansion: &mut Expansion<'_>, at_once: usize) -> Result<(), Error> {
    let subs: Vec<String> = expansion
        .events
        .values()
        .filter(|linked| linked.link.confidence == confidence::CERTAIN)
        .map(|linked| linked.event.sub.clone())
        .filter(|sub| !sub.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let clients: Vec<String> = expansion
        .events
        .values()
        .map(|linked| linked.event.client_id.clone())
        .filter(|client| !client.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if subs.is_empty() && clients.is_empty() {
        return Ok(());
    }
    let administrative = Query::Or(
        [
            action::ACCOUNT_DISABLE,
            action::ACCOUNT_RESTORE,
            action::CLIENT_DISABLE,
        ]
        .iter()
        .map(|name| Query::term("action", name))
        .collect(),
    );
    let (all, capped) = expansion.lookup_at_most(
        administrative.clone(),
        expansion.request.from,
        expansion.request.to,
        at_once,
    )?;
    let mut found = Vec::new();
    if capped {
        for (field, values) in [("sub", &subs), ("client_id", &clients)] {
            for chunk in values.chunks(expansion.store.terms_per_query()) {
                let keys = Query::Or(chunk.iter().map(|v| Query::term(field, v)).collect());
                found.extend(expansion.find(Query::And(vec![keys, administrative.clone()]))?);
            }
        }
    } else {
        let named = |values: &[String], value: &str| {
            !value.is_empty() && values.binary_search_by(|v| v.as_str().cmp(value)).is_ok()
        };
        found.extend(
            all.into_iter()
                .filter(|event| named(&subs, &event.sub) || named(&clients, &event.client_id)),
        );
    }
    for event in found {
        let administrative = matches!(
            event.action.as_str(),
            action::ACCOUNT_DISABLE | action::ACCOUNT_RESTORE | action::CLIENT_DISABLE
        );
        if administrative {
            let rule = if event.sub.is_empty() {
                rule::ISSUER_CLIENT
            } else {
                rule::SAME_IDENTITY
            };
            expansion.add(event, rule, confidence::CERTAIN);
        }
    }
    Ok(())
}

/// Events of a job given by any of its ids (`host#C.P`, a batch id, or a bare `C.P`).
fn find_job(expansion: &mut Expansion<'_>, job: &str) -> Result<Vec<Arc<Event>>, Error> {
    let exact = Query::Or(vec![
        Query::term("job_id", job),
        Query::term("batch_job_id", job),
    ]);
    let found = expansion.find(exact)?;
    if !found.is_empty() || is_joinable_job(job) {
        return Ok(found);
    }
    // A bare id: any job whose id ends with it.
    let candidates = expansion.find(Query::Text(job.to_string()))?;
    let suffixes = [format!("#{job}"), format!(":{job}")];
    Ok(candidates
        .into_iter()
        .filter(|event| {
            [&event.job_id, &event.batch_job_id]
                .iter()
                .any(|id| *id == job || suffixes.iter().any(|s| id.ends_with(s.as_str())))
        })
        .collect())
}

/// An event of the answer with its link.
fn linked(event: Arc<Event>, rule: &str, confidence: &str) -> LinkedEvent {
    LinkedEvent {
        event,
        link: Link {
            rule: rule.to_string(),
            confidence: confidence.to_string(),
        },
    }
}

/// The order of the answer's events: by time, file and line, and the id last: one line may
/// hold several events (same time, file and line), and the map gives them in no fixed order;
/// the same question must give the same answer.
fn answer_order(event: &Event) -> (Option<Timestamp>, &str, u64, &str) {
    (event.time, &event.origin.file, event.origin.line, &event.id)
}

/// `items` in the answer's order ([`answer_order`]: a total order, as no two events of an
/// answer share an id). Each item's time, which decides most comparisons, is kept beside it
/// rather than read through the event's pointer at every comparison.
fn in_answer_order<T>(items: impl Iterator<Item = T>, event: impl Fn(&T) -> &Event) -> Vec<T> {
    let mut keyed: Vec<(Option<Timestamp>, T)> =
        items.map(|item| (event(&item).time, item)).collect();
    keyed.sort_unstable_by(|(time_a, a), (time_b, b)| {
        time_a
            .cmp(time_b)
            .then_with(|| answer_order(event(a)).cmp(&answer_order(event(b))))
    });
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// Builds the answer's entity lists from its events.
fn answer(expansion: Expansion<'_>) -> TraceAnswer {
    let events = in_answer_order(expansion.events.into_values(), |linked| &linked.event);
    let certain = || {
        events
            .iter()
            .filter(|linked| linked.link.confidence == confidence::CERTAIN)
            .map(|linked| &*linked.event)
    };
    TraceAnswer {
        query: serde_json::to_value(expansion.request).unwrap_or_default(),
        truncated: expansion.truncated,
        identities: build_identities(certain()),
        tokens: build_tokens(certain()),
        jobs: build_jobs(certain()),
        events,
    }
}

fn build_identities<'e>(events: impl Iterator<Item = &'e Event>) -> Vec<IdentityOut> {
    // sub → (issuers seen, usernames from issuer events)
    let mut by_sub: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for event in events {
        if event.sub.is_empty() {
            continue;
        }
        let entry = by_sub.entry(event.sub.clone()).or_default();
        if !event.iss.is_empty() {
            entry.0.insert(event.iss.clone());
        }
        if event.service == "issuer" && !event.username.is_empty() {
            entry.1.insert(event.username.clone());
        }
    }
    let mut identities = Vec::new();
    for (sub, (issuers, usernames)) in by_sub {
        let real: Vec<&String> = issuers
            .iter()
            .filter(|iss| !iss.starts_with("alias:"))
            .collect();
        let chosen: Vec<String> = if real.is_empty() {
            if issuers.is_empty() {
                vec![String::new()]
            } else {
                issuers.iter().cloned().collect()
            }
        } else {
            real.into_iter().cloned().collect()
        };
        for iss in chosen {
            identities.push(IdentityOut {
                iss,
                sub: sub.clone(),
                usernames: usernames.iter().cloned().collect(),
            });
        }
    }
    identities
}

fn build_tokens<'e>(events: impl Iterator<Item = &'e Event>) -> Vec<TokenOut> {
    let mut tokens: BTreeMap<String, TokenOut> = BTreeMap::new();
    for event in events {
        if event.jti.is_empty() {
            continue;
        }
        let token = tokens.entry(event.jti.clone()).or_insert_with(|| TokenOut {
            jti: event.jti.clone(),
            ..TokenOut::default()
        });
        let from_issuer = event.service == "issuer" && event.action.starts_with("token.");
        let fill = |slot: &mut String, value: &str| {
            if (slot.is_empty() || (from_issuer && !value.is_empty())) && !value.is_empty() {
                *slot = value.to_string();
            }
        };
        fill(&mut token.iss, &event.iss);
        fill(&mut token.sub, &event.sub);
        fill(&mut token.client_id, &event.client_id);
        fill(&mut token.grant_type, &event.grant_type);
        fill(&mut token.parent_jti, &event.parent_jti);
        if (token.scopes.is_empty() || from_issuer) && !event.scopes.is_empty() {
            token.scopes = event.scopes.clone();
        }
        if (token.aud.is_empty() || from_issuer) && !event.aud.is_empty() {
            token.aud = event.aud.clone();
        }
        if token.iat.is_none() || (from_issuer && event.token_iat.is_some()) {
            token.iat = event.token_iat.or(token.iat);
        }
        if token.exp.is_none() || (from_issuer && event.token_exp.is_some()) {
            token.exp = event.token_exp.or(token.exp);
        }
    }
    tokens.into_values().collect()
}

/// Groups job events into jobs: CE and batch ids seen on one event are one job.
fn build_jobs<'e>(events: impl Iterator<Item = &'e Event>) -> Vec<JobOut> {
    let events: Vec<&Event> = events
        .filter(|e| is_joinable_job(&e.job_id) || is_joinable_job(&e.batch_job_id))
        .collect();
    // Union-find over ids, numbered as first seen; a CE job id and a batch job id are
    // different namespaces.
    let mut number_of: HashMap<(bool, &str), usize> = HashMap::default();
    let mut name_of: Vec<(bool, &str)> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    fn root(parent: &mut [usize], mut id: usize) -> usize {
        while parent[id] != id {
            parent[id] = parent[parent[id]];
            id = parent[id];
        }
        id
    }
    // Each event's job: by its CE job id when it has one, else by its batch job id.
    let mut id_of_event: Vec<usize> = Vec::with_capacity(events.len());
    for event in &events {
        let mut ids = [None, None];
        for (slot, key) in [(false, &event.job_id), (true, &event.batch_job_id)]
            .into_iter()
            .enumerate()
        {
            if is_joinable_job(key.1) {
                let next = parent.len();
                let id = *number_of.entry((key.0, key.1.as_str())).or_insert(next);
                if id == next {
                    parent.push(next);
                    name_of.push((key.0, key.1.as_str()));
                }
                ids[slot] = Some(id);
            }
        }
        if let [Some(job), Some(batch)] = ids {
            let (a, b) = (root(&mut parent, job), root(&mut parent, batch));
            if a != b {
                parent[b] = a;
            }
        }
        id_of_event.extend(ids[0].or(ids[1]));
    }
    // One job per set of ids, in the order first met.
    let mut job_of_root: Vec<Option<usize>> = vec![None; parent.len()];
    let mut jobs: Vec<JobOut> = Vec::new();
    // The id naming each job's set: its root, as the answer's order breaks ties by it.
    let mut set_names: Vec<(bool, &str)> = Vec::new();
    // The end reported with the worker node (batch system, LRMS) bounds the run window more
    // exactly than a CE's later bookkeeping of it.
    let mut ended_on_node: Vec<Option<Timestamp>> = Vec::new();
    for (event, id) in events.iter().zip(id_of_event) {
        let set = root(&mut parent, id);
        let index = *job_of_root[set].get_or_insert_with(|| {
            jobs.push(JobOut::default());
            set_names.push(name_of[set]);
            ended_on_node.push(None);
            jobs.len() - 1
        });
        if event.action == action::JOB_END && !event.worker_node.is_empty() {
            if let Some(time) = event.time {
                let slot = &mut ended_on_node[index];
                *slot = Some(slot.map_or(time, |ended| ended.max(time)));
            }
        }
        let job = &mut jobs[index];
        if job.job_id.is_empty() && is_joinable_job(&event.job_id) {
            job.job_id = event.job_id.clone();
            job.ce = event
                .job_id
                .split('#')
                .next()
                .unwrap_or_default()
                .to_string();
        }
        if job.batch_job_id.is_empty() && is_joinable_job(&event.batch_job_id) {
            job.batch_job_id = event.batch_job_id.clone();
        }
        if !event.worker_node.is_empty() {
            job.worker_node = event.worker_node.clone();
        }
        let time = event.time;
        match event.action.as_str() {
            action::JOB_SUBMIT => {
                if job.submitted.is_none() || time < job.submitted {
                    job.submitted = time.or(job.submitted);
                }
                if job.jti.is_empty() {
                    job.jti = event.jti.clone();
                }
                if job.sub.is_empty() {
                    job.sub = event.sub.clone();
                }
            }
            action::JOB_START
                if job.started.is_none() || (time.is_some() && time > job.started) =>
            {
                job.started = time.or(job.started);
            }
            action::JOB_END | action::JOB_REMOVE
                if job.ended.is_none() || (time.is_some() && time > job.ended) =>
            {
                job.ended = time.or(job.ended);
            }
            _ => {}
        }
        if job.sub.is_empty() && !event.sub.is_empty() {
            job.sub = event.sub.clone();
        }
        if job.jti.is_empty() && !event.jti.is_empty() {
            job.jti = event.jti.clone();
        }
    }
    for (job, ended) in jobs.iter_mut().zip(ended_on_node) {
        if ended.is_some() {
            job.ended = ended;
        }
    }
    // A job restarted after its end: its window is the last start to its end.
    for job in jobs.iter_mut() {
        if let (Some(started), Some(ended)) = (job.started, job.ended) {
            if ended < started {
                job.ended = None;
            }
        }
        if job.job_id.is_empty() {
            job.job_id = job.batch_job_id.clone();
        }
    }
    // By submission and job id; two sets can show the same id (one's CE job id, the other's
    // batch job id): then by the set's root id, batch job ids first.
    let mut list: Vec<(JobOut, (bool, &str))> = jobs.into_iter().zip(set_names).collect();
    list.sort_by(|(a, (batch_a, id_a)), (b, (batch_b, id_b))| {
        (a.submitted, &a.job_id, !batch_a, id_a).cmp(&(b.submitted, &b.job_id, !batch_b, id_b))
    });
    list.into_iter().map(|(job, _)| job).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checkpoints, EventSink, TantivyStore};
    use tokentrail_parsers::Service;

    /// A store on disk holding `events`, committed and visible.
    fn store_of(events: impl IntoIterator<Item = Event>) -> (tempfile::TempDir, TantivyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        for event in events {
            sink.add(&event, false).unwrap();
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        (dir, store)
    }

    fn alice() -> TraceRequest {
        TraceRequest::new(Seed::Identity {
            sub: "alice".into(),
            iss: None,
        })
    }

    fn job_event(id: &str, action: &str, job: &str, batch: &str, sub: &str, at: i64) -> Event {
        let mut event = Event::new("test", Service::Ce);
        event.id = id.into();
        event.action = action.to_string().into();
        event.job_id = job.into();
        event.batch_job_id = batch.into();
        event.sub = sub.into();
        event.time = Some(Timestamp(at));
        event
    }

    #[test]
    fn a_ce_job_and_a_batch_job_with_the_same_number_stay_apart() {
        // Alice's CE job 7.0 is routed to batch job 99.0; Bob's CE job 99.0 is routed to 7.0.
        let (_dir, store) = store_of([
            job_event("a1", action::JOB_SUBMIT, "ce#7.0", "", "alice", 1_000),
            job_event("a2", action::JOB_ROUTE, "ce#7.0", "ce#99.0", "", 2_000),
            job_event("a3", action::JOB_START, "", "ce#99.0", "", 3_000),
            job_event("b1", action::JOB_SUBMIT, "ce#99.0", "", "bob", 1_500),
            job_event("b2", action::JOB_ROUTE, "ce#99.0", "ce#7.0", "", 2_500),
            job_event("b3", action::JOB_START, "", "ce#7.0", "", 3_500),
        ]);
        let answer = trace(&store, &alice()).unwrap();
        let ids: BTreeSet<&str> = answer.events.iter().map(|e| e.event.id.as_str()).collect();
        assert_eq!(ids, ["a1", "a2", "a3"].into_iter().collect());
        assert_eq!(answer.jobs.len(), 1);
        assert_eq!(answer.jobs[0].job_id, "ce#7.0");
        assert_eq!(answer.jobs[0].batch_job_id, "ce#99.0");
        assert_eq!(answer.jobs[0].started, Some(Timestamp(3_000)));
    }

    #[test]
    fn account_events_are_the_same_whether_fetched_at_once_or_by_identity() {
        // A token of alice's used through client c1; alice's account disabled and restored,
        // bob's disabled, c1 and c2 disabled. A token's trace shows alice's account events
        // and c1's, however many administrative events there are in the store.
        let use_of = |id: &str, at: i64| {
            let mut event = job_event(id, action::FILE_READ, "", "", "alice", at);
            event.jti = "t1".into();
            event.client_id = "c1".into();
            event
        };
        let administrative = |id: &str, name: &str, sub: &str, client: &str, at: i64| {
            let mut event = Event::new("test", Service::Issuer);
            event.id = id.into();
            event.action = name.to_string().into();
            event.sub = sub.into();
            event.client_id = client.into();
            event.time = Some(Timestamp(at));
            event
        };
        let (_dir, store) = store_of([
            use_of("u1", 1_000),
            use_of("u2", 5_000),
            administrative("d1", action::ACCOUNT_DISABLE, "alice", "", 2_000),
            administrative("r1", action::ACCOUNT_RESTORE, "alice", "", 3_000),
            administrative("d2", action::ACCOUNT_DISABLE, "bob", "", 2_500),
            administrative("c1", action::CLIENT_DISABLE, "", "c1", 4_000),
            administrative("c2", action::CLIENT_DISABLE, "", "c2", 4_500),
            job_event("j1", action::JOB_SUBMIT, "", "", "alice", 6_000),
        ]);
        let request = TraceRequest::new(Seed::Jti { jti: "t1".into() });
        let ids = |answer: &TraceAnswer| -> Vec<(String, String)> {
            answer
                .events
                .iter()
                .map(|e| (e.event.id.to_string(), e.link.rule.clone()))
                .collect()
        };
        let expected: Vec<(String, String)> = [
            ("u1", rule::SAME_JTI),
            ("d1", rule::SAME_IDENTITY),
            ("r1", rule::SAME_IDENTITY),
            ("c1", rule::ISSUER_CLIENT),
            ("u2", rule::SAME_JTI),
        ]
        .iter()
        .map(|(id, rule)| (id.to_string(), rule.to_string()))
        .collect();
        // All five administrative events in one lookup; then at most one, two or four at
        // once, which is too few: looked up by identity and client instead.
        for at_once in [ADMINISTRATIVE_AT_ONCE, 1, 2, 4] {
            let answer = trace_with(&store, &request, at_once).unwrap();
            assert_eq!(ids(&answer), expected, "at most {at_once} at once");
            assert!(!answer.truncated);
        }
    }

    #[test]
    fn events_of_one_line_come_in_the_same_order_every_time() {
        // Several events of one line share time, file and line; the answer orders them by
        // id, not by the order a hash map happens to give (which changes between runs).
        let ids = ["e9", "e1", "e5", "e3", "e7", "e2", "e8", "e4", "e6", "e0"];
        let (_dir, store) = store_of(ids.map(|id| {
            let mut event = job_event(id, action::JOB_SUBMIT, "", "", "alice", 1_000);
            event.origin.file = "/var/log/x".into();
            event.origin.line = 7;
            event
        }));
        let request = alice();
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        for _ in 0..8 {
            let answer = trace(&store, &request).unwrap();
            let got: Vec<&str> = answer.events.iter().map(|e| e.event.id.as_str()).collect();
            assert_eq!(got, sorted);
        }
    }

    #[test]
    fn a_job_restarted_on_another_node_has_one_window_every_time() {
        // Alice's job starts on wn1, starts again on wn2 and ends there. Its window is on
        // wn2, whatever order the answer's map gives its events in: a file operation from
        // wn2's address in that time is probable evidence, one from wn1's is not.
        let on_node = |mut event: Event, node: &str, ip: &str| {
            event.worker_node = node.into();
            event.client_ip = ip.into();
            event
        };
        let file_read = |id: &str, ip: &str| {
            let mut event = Event::new("test", Service::Storage);
            event.id = id.into();
            event.action = action::FILE_READ.into();
            event.client_ip = ip.into();
            event.time = Some(Timestamp(6_000));
            event
        };
        let (_dir, store) = store_of([
            job_event("submit", action::JOB_SUBMIT, "ce#1.0", "", "alice", 1_000),
            on_node(
                job_event("start-wn1", action::JOB_START, "ce#1.0", "", "", 2_000),
                "wn1",
                "10.0.0.1",
            ),
            on_node(
                job_event("start-wn2", action::JOB_START, "ce#1.0", "", "", 5_000),
                "wn2",
                "10.0.0.2",
            ),
            on_node(
                job_event("end-wn2", action::JOB_END, "ce#1.0", "", "", 9_000),
                "wn2",
                "10.0.0.2",
            ),
            file_read("read-wn1", "10.0.0.1"),
            file_read("read-wn2", "10.0.0.2"),
        ]);
        for _ in 0..16 {
            let answer = trace(&store, &alice()).unwrap();
            let ids: Vec<(&str, &str)> = answer
                .events
                .iter()
                .map(|e| (e.event.id.as_str(), e.link.confidence.as_str()))
                .collect();
            assert_eq!(
                ids,
                [
                    ("submit", confidence::CERTAIN),
                    ("start-wn1", confidence::CERTAIN),
                    ("start-wn2", confidence::CERTAIN),
                    ("read-wn2", confidence::PROBABLE),
                    ("end-wn2", confidence::CERTAIN),
                ][..]
            );
        }
    }
}
