//! HTTP push: `POST /api/v1/ingest` takes raw lines (`text/plain`, the default) or NDJSON
//! (`application/x-ndjson`, one `{"line": "...", "host": "..."}` object a line), parses
//! them and answers once they are committed. The whole request is one batch: it is stored
//! completely or, on any bad input, not at all (4xx naming the line). A request sent again
//! unchanged is not stored twice (its event ids derive from its content).
//!
//! Authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`, one of the config's
//! `api_keys`; without configured keys the endpoint refuses everything. `GET /metrics`
//! serves the collectors' counters (Prometheus text format).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokentrail_parsers::stream::{RawLine, StreamParser};
use tokentrail_parsers::time::TimeContext;
use tokentrail_parsers::{Context, Event};

use super::metrics::{CollectorMetrics, Metrics};
use super::writer::Batch;
use super::{BatchSender, Settings};
use crate::ingest::fingerprint_of;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// Shared state of the push endpoint (cheap to clone).
#[derive(Clone)]
pub struct PushState {
    pub(crate) inner: Arc<PushInner>,
}

pub(crate) struct PushInner {
    pub api_keys: Vec<String>,
    pub sender: Mutex<Option<BatchSender>>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub collector: Arc<CollectorMetrics>,
}

impl PushState {
    /// Stops accepting pushes (the writer can then finish).
    pub(crate) fn close(&self) {
        if let Ok(mut sender) = self.inner.sender.lock() {
            sender.take();
        }
    }

    fn sender(&self) -> Option<BatchSender> {
        self.inner.sender.lock().ok().and_then(|s| s.clone())
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        let Some(presented) = presented else {
            return false;
        };
        self.inner
            .api_keys
            .iter()
            .any(|key| constant_time_eq(key.as_bytes(), presented.trim().as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The router of `tokentrail collect`: `POST /api/v1/ingest` and `GET /metrics`.
pub fn http_push_router(state: PushState) -> Router {
    push_ingest_router(state.clone()).merge(
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(state),
    )
}

/// `POST /api/v1/ingest` alone, for a server that has its own `/metrics` (`tokentrail serve
/// --config` adds the collectors' counters to the web server's).
pub fn push_ingest_router(state: PushState) -> Router {
    Router::new()
        .route("/api/v1/ingest", post(ingest))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn metrics(State(state): State<PushState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.inner.metrics.render(),
    )
        .into_response()
}

/// Query parameters of a push.
#[derive(Debug, Default, Deserialize)]
pub struct PushParams {
    /// Read every line as this format.
    pub format: Option<String>,
    /// Host that wrote the lines (NDJSON objects may name their own).
    pub host: Option<String>,
    /// Name shown in `origin.file` (`push://<stream>`).
    pub stream: Option<String>,
}

#[derive(Deserialize)]
struct PushedLine {
    #[serde(alias = "message")]
    line: String,
    #[serde(default)]
    host: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

// Refusals are whole responses (status and message), built once, where the input is read.
#[allow(clippy::result_large_err)]
async fn ingest(
    State(state): State<PushState>,
    Query(params): Query<PushParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.inner.api_keys.is_empty() {
        return error(
            StatusCode::FORBIDDEN,
            "push is disabled: the collector config has no api_keys",
        );
    }
    if !state.authorised(&headers) {
        state.inner.collector.add(&state.inner.collector.errors, 1);
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (Authorization: Bearer <key> or X-API-Key)",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        return response;
    }
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|v| {
            v == "application/x-ndjson" || v == "application/json" || v == "application/jsonl"
        });
    let Some(sender) = state.sender() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the collector is stopping");
    };
    let worker_state = state.clone();
    // Parsing and the (blocking, backpressured) hand-over run off the async threads.
    let parsed = tokio::task::spawn_blocking(move || {
        let parsed = parse_body(&worker_state.inner.settings, &params, &body, ndjson)?;
        let (sender_ack, receive_ack) = tokio::sync::oneshot::channel();
        let (lines, events) = parsed;
        let count = events.len();
        let collector = &worker_state.inner.collector;
        collector.add(&collector.lines, lines);
        collector.add(&collector.bytes, body.len() as u64);
        collector.add(&collector.events, count as u64);
        sender
            .send(Batch {
                collector: "http:push".into(),
                metrics: Arc::clone(collector),
                events,
                check_below: u64::MAX,
                stream: None,
                lines,
                bytes: body.len() as u64,
                errors: 0,
                ack: Some(sender_ack),
            })
            .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "the store writer stopped"))?;
        Ok::<_, Response>((lines, count, receive_ack))
    })
    .await;
    let (lines, count, ack) = match parsed {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(response)) => {
            state.inner.collector.add(&state.inner.collector.errors, 1);
            return response;
        }
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "parsing failed"),
    };
    match ack.await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(serde_json::json!({"lines": lines, "events": count})),
        )
            .into_response(),
        Ok(Err(message)) => error(StatusCode::SERVICE_UNAVAILABLE, message),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the store writer stopped"),
    }
}

/// Parses a whole body, or refuses it whole: (lines, events).
#[allow(clippy::result_large_err)]
fn parse_body(
    settings: &Settings,
    params: &PushParams,
    body: &[u8],
    ndjson: bool,
) -> Result<(u64, Vec<Event>), Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "empty body: no lines to ingest",
        ));
    }
    if let Some(format) = &params.format {
        if tokentrail_parsers::registry::find(format).is_none() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown format {format:?}; known formats: {}",
                    tokentrail_parsers::registry::ids().join(", ")
                ),
            ));
        }
    }
    // Validate everything before parsing anything: nothing is half-ingested.
    let mut lines: Vec<(Option<String>, std::borrow::Cow<'_, [u8]>, u64)> = Vec::new();
    let mut offset = 0u64;
    for (index, piece) in body.split_inclusive(|b| *b == b'\n').enumerate() {
        let line = piece.strip_suffix(b"\n").unwrap_or(piece);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let at = offset;
        offset += piece.len() as u64;
        if !ndjson {
            lines.push((None, std::borrow::Cow::Borrowed(line), at));
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let object: PushedLine = serde_json::from_slice(line).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "line {}: not an NDJSON object with a \"line\" string: {e}; nothing was ingested",
                    index + 1
                ),
            )
        })?;
        if object.line.contains('\n') {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "line {}: \"line\" holds a newline; send one log line per object; nothing was ingested",
                    index + 1
                ),
            ));
        }
        lines.push((
            object.host,
            std::borrow::Cow::Owned(object.line.into_bytes()),
            at,
        ));
    }
    let stream_name = params.stream.clone().unwrap_or_else(|| "push".into());
    let time = TimeContext {
        zone: settings.zone.clone(),
        year_override: None,
        reference_date: None,
    };
    let fingerprint_base = {
        let mut seed = Vec::with_capacity(body.len() + 64);
        seed.extend_from_slice(body);
        seed.extend_from_slice(format!("\0{params:?}").as_bytes());
        fingerprint_of(&seed)
    };
    let mut parsers: BTreeMap<String, StreamParser> = BTreeMap::new();
    let mut events = Vec::new();
    let default_host = params.host.clone().unwrap_or_default();
    let count = lines.len() as u64;
    for (number, (host, bytes, offset)) in lines.into_iter().enumerate() {
        let host = host.unwrap_or_else(|| default_host.clone());
        if !parsers.contains_key(&host) {
            let context = Context {
                time: time.clone(),
                host: host.clone(),
                path: format!("push://{stream_name}"),
                file_name: String::new(),
                issuer_aliases: Arc::clone(&settings.issuer_aliases),
            };
            let parser = StreamParser::new(
                context,
                params.format.as_deref(),
                fingerprint_of(format!("{fingerprint_base}\0{host}").as_bytes()),
            )
            .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
            parsers.insert(host.clone(), parser);
        }
        if let Some(parser) = parsers.get_mut(&host) {
            parser.feed(
                RawLine {
                    bytes: &bytes,
                    number: number as u64 + 1,
                    offset,
                    truncated: false,
                },
                &mut events,
            );
        }
    }
    for parser in parsers.values_mut() {
        parser.finish(&mut events);
    }
    Ok((count, events))
}
