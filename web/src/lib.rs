//! tokentrail's HTTP front end: the JSON API under `/api/v1/`, Prometheus metrics, and the
//! HTML UI for security officers — all behind a login. Built on the same store and trace
//! engine as the CLI; the web crate never parses logs.
//!
//! Every value that came from a log is attacker-controlled: pages are built server-side with
//! [`html::escape`] around every value, the trace page's script sets text with `textContent`
//! only, and a strict Content-Security-Policy forbids inline script.

pub mod accounts;
mod alerts;
mod api;
mod audit;
mod auth;
mod export;
pub mod html;
mod incidents;
mod metrics;
mod pages;
pub mod recognise;
mod report;
mod watchlist;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokentrail_index::analytics::ReportConfig;
use tokentrail_index::{Backend, EventStore};

pub use accounts::{
    add_account, create_api_key, create_one_time_admin, default_accounts_file, list_accounts,
    remove_account, AccountSummary, Role,
};

/// Errors of the web crate.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("refusing to listen on {listen}: it is not a loopback address and no account is configured in {file} (nobody may read site logs unauthenticated); create one with `tokentrail user add NAME --role admin`, or listen on 127.0.0.1")]
    NoAccounts { listen: SocketAddr, file: PathBuf },
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: SocketAddr,
        source: std::io::Error,
    },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Accounts(String),
    #[error(transparent)]
    Store(#[from] tokentrail_index::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// The data directory (store, `audit.log`, `watchlist.json`, `alerts.jsonl`).
    pub data_dir: PathBuf,
    /// The accounts file (default `<data>/accounts.json`).
    pub accounts_file: PathBuf,
    /// Mark cookies `Secure` (set this when a TLS proxy fronts the server).
    pub secure_cookies: bool,
    /// How often to look for new commits of a concurrent ingest.
    pub reload_every: Duration,
    /// Thresholds of the policy report and anomaly rules (`/report`, `/api/v1/report`).
    pub report: ReportConfig,
}

impl ServerConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: &Path) -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.to_path_buf(),
            accounts_file: default_accounts_file(data_dir),
            secure_cookies: false,
            reload_every: Duration::from_secs(5),
            report: ReportConfig::default(),
        }
    }
}

/// Produces more Prometheus text for `/metrics` (a host program's own counters).
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// What a host program adds to the server (the web crate knows nothing of it): `tokentrail
/// serve --config` mounts the collectors' push endpoint and shows their counters this way.
#[derive(Default)]
pub struct ServeExtras {
    /// Routes merged into the app, behind the same security headers and request counters.
    /// They bring their own state and authentication, and must not reuse the app's paths
    /// (`/metrics` included): a route defined twice is a programming error (axum panics).
    pub routes: Option<Router>,
    /// Appended to the `/metrics` output; its series must not reuse the server's names.
    pub metrics: Option<MetricsSource>,
    /// Resolves when the server should stop (default: Ctrl-C).
    pub shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Everything the handlers share.
pub struct Inner {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) accounts: accounts::AccountStore,
    pub(crate) sessions: auth::Sessions,
    pub(crate) audit: audit::Audit,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) watchlist: watchlist::SharedWatchlist,
    pub(crate) alerts: alerts::Alerts,
    pub(crate) config: ServerConfig,
    /// More text for `/metrics` (see [`ServeExtras::metrics`]).
    pub(crate) extra_metrics: Option<MetricsSource>,
}

/// The shared state of the app (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over a store; opens the accounts file, the audit log and the watchlist.
    pub fn new(config: ServerConfig, store: Arc<dyn EventStore>) -> Result<Self, WebError> {
        Self::with_metrics(config, store, None)
    }

    /// Like [`AppState::new`], with more text for `/metrics`.
    pub fn with_metrics(
        config: ServerConfig,
        store: Arc<dyn EventStore>,
        extra_metrics: Option<MetricsSource>,
    ) -> Result<Self, WebError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| WebError::Io {
            path: config.data_dir.clone(),
            source,
        })?;
        Ok(AppState(Arc::new(Inner {
            store,
            accounts: accounts::AccountStore::open(config.accounts_file.clone())?,
            sessions: auth::Sessions::default(),
            audit: audit::Audit::open(&config.data_dir)?,
            metrics: metrics::Metrics::default(),
            watchlist: watchlist::SharedWatchlist::open(&config.data_dir),
            alerts: alerts::Alerts::open(&config.data_dir),
            config,
            extra_metrics,
        })))
    }

    /// Runs a store query on a blocking thread and records its latency.
    pub(crate) async fn blocking<T, F>(&self, kind: &'static str, work: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&dyn EventStore) -> Result<T, String> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|error| format!("query task failed: {error}"))?;
        self.metrics.query(kind, started.elapsed());
        result
    }
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Security headers on every response; no caching of anything but the static assets.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses state-changing requests that the browser says come from another site (defence in
/// depth: the CSRF token is the real check).
async fn same_origin_writes(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe {
        let cross_site = request
            .headers()
            .get("sec-fetch-site")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|site| site == "cross-site" || site == "same-site");
        if cross_site {
            return auth::error_response(StatusCode::FORBIDDEN, "cross-site request refused");
        }
    }
    next.run(request).await
}

/// Counts requests per matched route and status.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

/// The whole app: API, metrics, UI and assets.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The whole app with a host program's routes merged in (see [`ServeExtras::routes`]).
pub fn app_with(state: AppState, extra_routes: Router) -> Router {
    Router::new()
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/trace", get(api::trace))
        .route("/api/v1/trace.csv", get(api::trace_csv))
        .route("/api/v1/events/{id}", get(api::event))
        .route("/api/v1/stats", get(api::stats))
        .route(
            "/api/v1/watchlist",
            get(api::watchlist_list).post(api::watchlist_add),
        )
        .route("/api/v1/watchlist/export", get(api::watchlist_export))
        .route(
            "/api/v1/watchlist/{id}",
            axum::routing::delete(api::watchlist_remove),
        )
        .route("/api/v1/alerts", get(api::alerts_list))
        .route("/api/v1/alerts/ack", post(api::alerts_ack))
        .route("/api/v1/report", get(report::api_report))
        .route("/api/v1/incident-report", get(report::api_incident_report))
        .route("/api/v1/accounts", get(api::accounts_list))
        .route("/metrics", get(api::metrics))
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/search", get(pages::search))
        .route("/trace", get(pages::trace))
        .route("/event/{id}", get(pages::event))
        .route("/stats", get(pages::stats))
        .route("/keys", get(pages::keys).post(pages::keys_create))
        .route("/keys/revoke", post(pages::keys_revoke))
        .route("/admin", get(pages::admin))
        .route("/admin/accounts", post(pages::admin_add))
        .route("/admin/accounts/remove", post(pages::admin_remove))
        .route(
            "/watchlist",
            get(pages::watchlist).post(pages::watchlist_add),
        )
        .route("/watchlist/remove", post(pages::watchlist_remove))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/ack", post(pages::alerts_ack))
        .route("/report", get(report::report_page))
        .route("/assets/{name}", get(pages::asset))
        .fallback(pages::not_found)
        .with_state(state.clone())
        .merge(extra_routes)
        .layer(middleware::from_fn_with_state(state, count_requests))
        .layer(middleware::from_fn(same_origin_writes))
        .layer(middleware::from_fn(security_headers))
}

/// Serves the app until Ctrl-C or SIGTERM. Refuses a non-loopback address while no account exists.
pub async fn serve(config: ServerConfig, store: Arc<dyn Backend>) -> Result<(), WebError> {
    serve_with(config, store, ServeExtras::default()).await
}

/// Serves the app with a host program's routes and metrics until `extras.shutdown` resolves
/// (Ctrl-C or SIGTERM without one). The server only reads the store (and refreshes its view of it).
pub async fn serve_with(
    config: ServerConfig,
    store: Arc<dyn Backend>,
    extras: ServeExtras,
) -> Result<(), WebError> {
    let accounts = accounts::load(&config.accounts_file)?;
    if accounts.accounts.is_empty() {
        if !config.listen.ip().is_loopback() {
            return Err(WebError::NoAccounts {
                listen: config.listen,
                file: config.accounts_file.clone(),
            });
        }
        tracing::warn!(
            file = %config.accounts_file.display(),
            "no account is configured: nobody can sign in; create one with `tokentrail user add NAME --role admin`"
        );
    }
    let listen = config.listen;
    let reload_every = config.reload_every;
    let state =
        AppState::with_metrics(config, store.clone() as Arc<dyn EventStore>, extras.metrics)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| WebError::Bind { listen, source })?;
    let reloader = tokio::spawn(async move {
        let mut interval = tokio::time::interval(reload_every);
        loop {
            interval.tick().await;
            let store = store.clone();
            let result = tokio::task::spawn_blocking(move || store.refresh()).await;
            if let Ok(Err(error)) = result {
                tracing::warn!(%error, "cannot reload the index");
            }
        }
    });
    let local = listener.local_addr().unwrap_or(listen);
    eprintln!("tokentrail: serving on http://{local}/");
    let shutdown = extras.shutdown.unwrap_or_else(|| {
        Box::pin(async {
            // Ctrl-C, or SIGTERM from systemd / a container runtime: a graceful stop either way.
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut terminate) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        })
    });
    let app = app_with(state, extras.routes.unwrap_or_default());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(WebError::Serve);
    reloader.abort();
    result
}
