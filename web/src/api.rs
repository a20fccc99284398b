//! The JSON API under `/api/v1/` and `/metrics`. Every route but `health` and `openapi.json`
//! needs a signed-in user (session cookie or API key); searches and traces are audited.

use std::collections::BTreeMap;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokentrail_index::{Order, Query, Seed, TraceAnswer, TraceRequest};
use tokentrail_parsers::Timestamp;

use crate::auth::{api_error, User};
use crate::recognise::{self, Recognised};
use crate::AppState;

/// Most events one search returns.
pub const MAX_SEARCH_LIMIT: usize = 10_000;

/// Parameters of a trace (API and page): exactly one seed parameter.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TraceParams {
    pub sub: Option<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
    pub job: Option<String>,
    pub ip: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub user: Option<String>,
    pub client: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub max_depth: Option<usize>,
    pub max_events: Option<usize>,
    /// Add `incidents` to the answer (not part of the CLI's JSON).
    #[serde(default)]
    pub incidents: bool,
    /// Send as a file download.
    #[serde(default)]
    pub download: bool,
    /// Page filters (UI only).
    pub show: Option<String>,
    pub confidence: Option<String>,
    /// Incident report: `html` (default) or `json`.
    pub format: Option<String>,
    /// Incident report: its title.
    pub title: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// Reads a time parameter: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), a browser's
/// `YYYY-MM-DDTHH:MM`, or epoch seconds.
pub fn parse_time(name: &str, value: &Option<String>) -> Result<Option<Timestamp>, String> {
    let Some(text) = non_empty(value) else {
        return Ok(None);
    };
    Timestamp::parse(text)
        .or_else(|| Timestamp::parse(&format!("{text}:00Z")))
        .or_else(|| Timestamp::parse(&format!("{text}Z")))
        .map(Some)
        .ok_or_else(|| format!("{name} {text:?} is not a time: use RFC 3339 or YYYY-MM-DD HH:MM"))
}

impl TraceParams {
    /// The seed as `(kind, value)`.
    pub fn seed_pair(&self) -> Option<(&'static str, &str)> {
        [
            ("sub", &self.sub),
            ("jti", &self.jti),
            ("job", &self.job),
            ("ip", &self.ip),
            ("host", &self.host),
            ("path", &self.path),
            ("user", &self.user),
            ("client", &self.client),
        ]
        .into_iter()
        .find_map(|(kind, value)| non_empty(value).map(|value| (kind, value)))
    }

    /// The engine's request.
    pub fn request(&self) -> Result<TraceRequest, String> {
        let seeds = [
            &self.sub,
            &self.jti,
            &self.job,
            &self.ip,
            &self.host,
            &self.path,
            &self.user,
            &self.client,
        ]
        .iter()
        .filter(|value| non_empty(value).is_some())
        .count();
        if seeds != 1 {
            return Err(
                "give exactly one of sub (with optional iss), jti, job, ip, host, path, user, client"
                    .into(),
            );
        }
        let (kind, value) = self.seed_pair().expect("one seed");
        let value = value.to_string();
        let seed = match kind {
            "sub" => Seed::Identity {
                sub: value,
                iss: non_empty(&self.iss).map(str::to_string),
            },
            "jti" => Seed::Jti { jti: value },
            "job" => Seed::Job { job: value },
            "ip" => Seed::Ip { ip: value },
            "host" => Seed::Host { host: value },
            "path" => Seed::Path { path: value },
            "user" => Seed::User { user: value },
            _ => Seed::Client { client: value },
        };
        let mut request = TraceRequest::new(seed);
        request.from = parse_time("from", &self.from)?;
        request.to = parse_time("to", &self.to)?;
        if let Some(depth) = self.max_depth {
            request.max_depth = depth.min(16);
        }
        if let Some(max) = self.max_events {
            request.max_events = max.clamp(1, request.max_events.max(100_000));
        }
        Ok(request)
    }

    /// The seed and time window as URL parameters (for export and filter links).
    pub fn seed_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some((kind, value)) = self.seed_pair() {
            parts.push(format!("{kind}={}", crate::html::url_component(value)));
        }
        for (name, value) in [("iss", &self.iss), ("from", &self.from), ("to", &self.to)] {
            if let Some(value) = non_empty(value) {
                parts.push(format!("{name}={}", crate::html::url_component(value)));
            }
        }
        parts.join("&")
    }

    /// What the audit log records.
    pub fn audit_value(&self) -> Value {
        json!({
            "seed": self.seed_pair().map(|(kind, value)| json!({kind: value})),
            "iss": self.iss, "from": self.from, "to": self.to,
        })
    }
}

/// Runs a trace on a blocking thread.
/// The incidents of an answer, with worker nodes looked up in the store.
pub async fn run_incidents(
    state: &AppState,
    answer: &TraceAnswer,
) -> Vec<crate::incidents::Incident> {
    let copy = answer.clone();
    let known = state
        .blocking("incidents", move |store| {
            Ok::<_, String>(crate::incidents::known_worker_nodes(store, &copy))
        })
        .await
        .unwrap_or_default();
    crate::incidents::find(answer, &known)
}

pub async fn run_trace(state: &AppState, request: TraceRequest) -> Result<TraceAnswer, String> {
    state
        .blocking("trace", move |store| {
            tokentrail_index::trace(store, &request).map_err(|error| error.to_string())
        })
        .await
}

/// The store query for a search box input: field syntax when used, else what
/// [`recognise::recognise`] makes of it.
pub fn search_query(input: &str) -> Result<(Query, Option<Recognised>), String> {
    if recognise::uses_field_syntax(input) {
        return tokentrail_index::parse_query(input)
            .map(|query| (query, None))
            .map_err(|error| error.to_string());
    }
    match recognise::recognise(input) {
        Some(recognised) => Ok((recognised.query.clone(), Some(recognised))),
        None => Ok((Query::All, None)),
    }
}

/// `GET /api/v1/health`.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        include_str!("../assets/openapi.json"),
    )
        .into_response()
}

/// Search parameters.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /api/v1/search?q=…`: `{"events": [...], "total": N, "recognised": …}`.
pub async fn search(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<SearchParams>,
) -> Response {
    state.audit.record(
        &user.name,
        "/api/v1/search",
        json!({"q": params.q, "from": params.from, "to": params.to}),
    );
    let (query, recognised) = match search_query(&params.q) {
        Ok(found) => found,
        Err(error) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    let (from, to) = match (
        parse_time("from", &params.from),
        parse_time("to", &params.to),
    ) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(error), _) | (_, Err(error)) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    let limit = params.limit.unwrap_or(100).min(MAX_SEARCH_LIMIT);
    let query = query.within(from, to);
    match state
        .blocking("search", move |store| {
            store
                .search(&query, limit, Order::NewestFirst)
                .map_err(|error| error.to_string())
        })
        .await
    {
        Ok(hits) => Json(json!({
            "events": hits.events,
            "total": hits.total,
            "recognised": recognised.map(|r| json!({
                "as": r.label,
                "candidates": r.candidates.iter().map(|c| json!({"kind": c.kind, "value": c.value})).collect::<Vec<_>>(),
            })),
        }))
        .into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /api/v1/trace?jti=…`: the trace JSON of DESIGN.md section 6 (as `trace --format
/// json` prints it), plus `incidents` when asked.
pub async fn trace(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<TraceParams>,
) -> Response {
    state
        .audit
        .record(&user.name, "/api/v1/trace", params.audit_value());
    let request = match params.request() {
        Ok(request) => request,
        Err(error) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    let answer = match run_trace(&state, request).await {
        Ok(answer) => answer,
        Err(error) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let mut value = serde_json::to_value(&answer).unwrap_or_default();
    if params.incidents {
        value["incidents"] =
            serde_json::to_value(run_incidents(&state, &answer).await).unwrap_or_default();
    }
    let mut response = Json(value).into_response();
    if params.download {
        response.headers_mut().insert(
            CONTENT_DISPOSITION,
            "attachment; filename=\"trace.json\""
                .parse()
                .expect("static"),
        );
    }
    response
}

/// `GET /api/v1/trace.csv?jti=…`: the trace's events as CSV (a download).
pub async fn trace_csv(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<TraceParams>,
) -> Response {
    state
        .audit
        .record(&user.name, "/api/v1/trace.csv", params.audit_value());
    let request = match params.request() {
        Ok(request) => request,
        Err(error) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    match run_trace(&state, request).await {
        Ok(answer) => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8"),
                (CONTENT_DISPOSITION, "attachment; filename=\"trace.csv\""),
            ],
            crate::export::trace_csv(&answer.events),
        )
            .into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// Fetches one event.
pub async fn load_event(
    state: &AppState,
    id: String,
) -> Result<Option<tokentrail_parsers::Event>, String> {
    state
        .blocking("event", move |store| {
            store.get(&id).map_err(|error| error.to_string())
        })
        .await
}

/// `GET /api/v1/events/{id}`: one event with its raw line and origin.
pub async fn event(State(state): State<AppState>, user: User, Path(id): Path<String>) -> Response {
    state
        .audit
        .record(&user.name, "/api/v1/events", json!({"id": id}));
    match load_event(&state, id).await {
        Ok(Some(event)) => Json(event).into_response(),
        Ok(None) => api_error(StatusCode::NOT_FOUND, "no such event"),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// Stats parameters.
#[derive(Debug, Deserialize)]
pub struct StatsParams {
    pub days: Option<u32>,
}

/// Event counts per source, and per source and day for the last `days` days of data.
pub async fn compute_stats(state: &AppState, days: u32) -> Result<Value, String> {
    let days = days.clamp(1, 92);
    state
        .blocking("stats", move |store| {
            let error = |error: tokentrail_index::Error| error.to_string();
            let total = store.count(&Query::All).map_err(error)?;
            let newest = store
                .search(&Query::All, 1, Order::NewestFirst)
                .map_err(error)?
                .events
                .into_iter()
                .next()
                .and_then(|event| event.time);
            let oldest = store
                .search(&Query::All, 1, Order::OldestFirst)
                .map_err(error)?
                .events
                .into_iter()
                .next()
                .and_then(|event| event.time);
            let mut sources = BTreeMap::new();
            let mut names: Vec<&str> = tokentrail_parsers::registry::all()
                .iter()
                .map(|format| format.id)
                .collect();
            names.push("raw");
            for name in names {
                let count = store.count(&Query::term("source", name)).map_err(error)?;
                if count > 0 {
                    sources.insert(name.to_string(), count);
                }
            }
            let mut per_day = Vec::new();
            if let (Some(newest), Some(oldest)) = (newest, oldest) {
                const DAY: i64 = 86_400_000;
                let last_day = newest.millis().div_euclid(DAY);
                let first_day = oldest
                    .millis()
                    .div_euclid(DAY)
                    .max(last_day - days as i64 + 1);
                for day in first_day..=last_day {
                    let range = Query::TimeRange {
                        from: Some(Timestamp(day * DAY)),
                        to: Some(Timestamp((day + 1) * DAY)),
                    };
                    let mut counts = BTreeMap::new();
                    for name in sources.keys() {
                        let query = Query::And(vec![Query::term("source", name), range.clone()]);
                        let count = store.count(&query).map_err(error)?;
                        if count > 0 {
                            counts.insert(name.clone(), count);
                        }
                    }
                    per_day.push(json!({
                        "day": Timestamp(day * DAY).to_rfc3339()[..10].to_string(),
                        "sources": counts,
                    }));
                }
            }
            Ok(json!({
                "total": total,
                "oldest": oldest,
                "newest": newest,
                "sources": sources,
                "days": per_day,
            }))
        })
        .await
}

/// `GET /api/v1/stats?days=N`.
pub async fn stats(
    State(state): State<AppState>,
    _user: User,
    QueryParams(params): QueryParams<StatsParams>,
) -> Response {
    match compute_stats(&state, params.days.unwrap_or(14)).await {
        Ok(value) => Json(value).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /metrics`: Prometheus text exposition (needs a session or an API key).
pub async fn metrics(State(state): State<AppState>, _user: User) -> Response {
    let store_numbers = state
        .blocking("metrics", |store| {
            let mut sources = Vec::new();
            let mut names: Vec<&str> = tokentrail_parsers::registry::all()
                .iter()
                .map(|format| format.id)
                .collect();
            names.push("raw");
            for name in names {
                let count = store
                    .count(&Query::term("source", name))
                    .map_err(|error| error.to_string())?;
                sources.push((name.to_string(), count as f64));
            }
            let newest = store
                .search(&Query::All, 1, Order::NewestFirst)
                .map_err(|error| error.to_string())?
                .events
                .into_iter()
                .next()
                .and_then(|event| event.time);
            let checkpoints = store.checkpoints().map_err(|error| error.to_string())?;
            Ok((sources, newest, checkpoints))
        })
        .await;
    let mut out = String::new();
    state.metrics.render(&mut out);
    match store_numbers {
        Ok((sources, newest, checkpoints)) => {
            let total: f64 = sources.iter().map(|(_, count)| count).sum();
            crate::metrics::gauge(
                &mut out,
                "tokentrail_events",
                "Events in the store, by source format.",
                "source",
                &sources,
            );
            crate::metrics::gauge(
                &mut out,
                "tokentrail_events_total_stored",
                "Events in the store.",
                "",
                &[(String::new(), total)],
            );
            if let Some(newest) = newest {
                let now = chrono::Utc::now().timestamp_millis();
                crate::metrics::gauge(
                    &mut out,
                    "tokentrail_ingest_lag_seconds",
                    "Now minus the time of the newest stored event.",
                    "",
                    &[(String::new(), (now - newest.millis()) as f64 / 1000.0)],
                );
            }
            let committed: u64 = checkpoints.sources.values().map(|source| source.end).sum();
            crate::metrics::gauge(
                &mut out,
                "tokentrail_ingest_streams",
                "Input streams with a committed checkpoint.",
                "",
                &[(String::new(), checkpoints.sources.len() as f64)],
            );
            crate::metrics::gauge(
                &mut out,
                "tokentrail_ingest_committed_bytes",
                "Bytes of input committed to the store, over all streams.",
                "",
                &[(String::new(), committed as f64)],
            );
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the store for /metrics");
        }
    }
    if let Some(extra) = &state.extra_metrics {
        out.push_str(&extra());
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// `GET /api/v1/watchlist`: `{"version": 1, "entries": [{id, kind, value, iss, reason, added,
/// added_by}]}` — the data directory's `watchlist.json` (shared with `tokentrail watch`), each
/// entry with its id.
pub async fn watchlist_list(State(state): State<AppState>, _user: User) -> Response {
    match state.watchlist.list() {
        Ok(entries) => Json(json!({"version": 1, "entries": entries})).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// A new watchlist entry.
#[derive(Debug, Deserialize)]
pub struct WatchlistAdd {
    /// `identity` (or `sub`), `jti`, `client`, `address` (or `ip`).
    pub kind: String,
    pub value: String,
    /// For identities: the issuer (empty = any).
    #[serde(default)]
    pub iss: String,
    #[serde(default, alias = "note")]
    pub reason: String,
}

pub(crate) fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-csrf-token")
        .and_then(|value| value.to_str().ok())
}

/// `POST /api/v1/watchlist` (admin; `X-CSRF-Token` with a session cookie).
pub async fn watchlist_add(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Json(entry): Json<WatchlistAdd>,
) -> Response {
    if let Err(response) = user
        .check_csrf(csrf_header(&headers))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    state.audit.record(
        &user.name,
        "/api/v1/watchlist add",
        json!({"kind": entry.kind, "value": entry.value, "iss": entry.iss, "reason": entry.reason}),
    );
    match state.watchlist.add(
        &entry.kind,
        &entry.value,
        &entry.iss,
        &entry.reason,
        &user.name,
    ) {
        Ok(entry) => (StatusCode::CREATED, Json(entry)).into_response(),
        Err(error) => api_error(StatusCode::BAD_REQUEST, &error),
    }
}

/// `DELETE /api/v1/watchlist/{id}` (admin).
pub async fn watchlist_remove(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = user
        .check_csrf(csrf_header(&headers))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    state
        .audit
        .record(&user.name, "/api/v1/watchlist remove", json!({"id": id}));
    match state.watchlist.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => api_error(StatusCode::NOT_FOUND, "no such entry"),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// Export parameters.
#[derive(Debug, Deserialize)]
pub struct ExportParams {
    pub format: Option<String>,
}

/// `GET /api/v1/watchlist/export?format=json|csv|misp|gplazma|htcondor|nftables`: the ban list
/// as a download (what `tokentrail watch export` writes).
pub async fn watchlist_export(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<ExportParams>,
) -> Response {
    let format = params.format.unwrap_or_else(|| "json".into());
    state.audit.record(
        &user.name,
        "/api/v1/watchlist/export",
        json!({"format": format}),
    );
    match state.watchlist.export(format.trim()) {
        Ok(export) => (
            [
                (CONTENT_TYPE, export.content_type.to_string()),
                (
                    CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", export.file_name),
                ),
            ],
            export.text,
        )
            .into_response(),
        Err(crate::watchlist::ExportError::UnknownFormat(message)) => {
            api_error(StatusCode::BAD_REQUEST, &message)
        }
        Err(crate::watchlist::ExportError::Unreadable(message)) => {
            api_error(StatusCode::INTERNAL_SERVER_ERROR, &message)
        }
    }
}

/// Alert list parameters.
#[derive(Debug, Deserialize)]
pub struct AlertParams {
    pub limit: Option<usize>,
}

/// `GET /api/v1/alerts?limit=N`: `{"alerts": [...newest first], "unseen": N, "seen": T}` —
/// the alerts ingest raised (`alerts.jsonl`), and how many are newer than the caller's last
/// acknowledgement.
pub async fn alerts_list(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<AlertParams>,
) -> Response {
    let limit = params
        .limit
        .unwrap_or(100)
        .clamp(1, crate::alerts::MAX_ALERTS);
    match state.alerts.recent(limit) {
        Ok(alerts) => Json(json!({
            "alerts": alerts,
            "unseen": state.alerts.unseen(&user.name),
            "seen": state.alerts.seen_by(&user.name),
        }))
        .into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `POST /api/v1/alerts/ack` (`X-CSRF-Token` with a session cookie): marks every alert so far
/// as seen by the caller.
pub async fn alerts_ack(State(state): State<AppState>, user: User, headers: HeaderMap) -> Response {
    if let Err(response) = user.check_csrf(csrf_header(&headers)) {
        return response.into_response();
    }
    match state.alerts.acknowledge(&user.name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /api/v1/accounts` (admin): names, roles and key ids, never hashes.
pub async fn accounts_list(State(state): State<AppState>, user: User) -> Response {
    if let Err(response) = user.require_admin() {
        return response.into_response();
    }
    match crate::accounts::list_accounts(state.accounts.file()) {
        Ok(accounts) => Json(json!({"accounts": accounts})).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}
