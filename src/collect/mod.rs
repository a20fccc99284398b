//! Live collection: file tailers, syslog receivers and the HTTP push endpoint, all feeding
//! one writer that commits every second with every collector's position in the commit
//! payload (DESIGN.md section 2: exactly once on one machine). See `docs/collect.md`.
//!
//! Threads: each files collector runs on its own blocking thread (large reads, parsing);
//! syslog sockets and HTTP are tokio tasks that hand messages to blocking parser threads; the
//! writer is one more thread. Every hand-over is a bounded channel, so when the store falls
//! behind the collectors wait (read slower) instead of buffering.

pub mod config;
mod glob;
pub mod http;
pub mod metrics;
pub mod status;
mod syslog;
mod tail;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result};
use tokentrail_index::Backend;
use tokentrail_parsers::time::Zone;

pub use config::Config;
pub use http::{http_push_router, push_ingest_router, PushState};
pub use metrics::{CollectorMetrics, Metrics};
pub use writer::{CollectorState, StreamCheckpoint};

/// What every collector needs to build its parsers.
#[derive(Debug)]
pub(crate) struct Settings {
    pub zone: Zone,
    pub issuer_aliases: Arc<BTreeMap<String, String>>,
    pub max_line_bytes: usize,
    /// This machine's name: the host of files with no better hint.
    pub local_host: String,
}

/// A running set of collectors sharing one writer. Dropping it without [`Collectors::stop`]
/// leaves the threads running until the process ends.
pub struct Collectors {
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    push: PushState,
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<JoinHandle<Result<()>>>,
}

impl Collectors {
    /// The collectors' counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The state of the push endpoint, for [`http_push_router`].
    pub fn push_state(&self) -> PushState {
        self.push.clone()
    }

    /// Stops reading, lets the writer commit what it has, and waits for it.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks.drain(..) {
            task.abort();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.push.close();
        match self.writer.take() {
            Some(writer) => writer
                .join()
                .map_err(|_| anyhow::anyhow!("the store writer panicked"))?,
            None => Ok(()),
        }
    }
}

/// Starts the collectors of `config` writing into `backend`. Must be called within a tokio
/// runtime (syslog sockets are tokio tasks). Fails when the store's writer is taken (another
/// `collect` or `ingest` on the same data directory) or a socket cannot be bound.
/// `watch_dir`: the data directory whose watchlist the collected events are matched against
/// (alerts go to its `alerts.jsonl` and the config's webhook).
pub fn spawn(
    config: &Config,
    backend: Arc<dyn Backend>,
    watch_dir: Option<&std::path::Path>,
) -> Result<Collectors> {
    let zone = config.zone()?;
    let settings = Arc::new(Settings {
        zone,
        issuer_aliases: Arc::new(config.issuer_aliases.clone()),
        max_line_bytes: config.max_line_bytes.max(1024),
        local_host: local_host_name(),
    });
    let sink = backend
        .open_sink(config.memory_mib << 20)
        .context("while opening the store's writer")?;
    let checkpoints = backend
        .checkpoints()
        .context("while reading the committed checkpoints")?;
    let states = writer::collector_states(&checkpoints);
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = sync_channel(config.queue_batches.max(1));
    let mut all_metrics = Vec::new();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();

    for files in &config.files {
        let metrics = CollectorMetrics::new(&files.name, "files");
        all_metrics.push(Arc::clone(&metrics));
        let committed = states
            .get(&format!("files:{}", files.name))
            .map(|state| state.streams.clone())
            .unwrap_or_default();
        let tailer = tail::Tailer::new(
            files.clone(),
            Arc::clone(&settings),
            sender.clone(),
            Arc::clone(&stop),
            metrics,
            committed,
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("tail-{}", files.name))
                .spawn(move || tailer.run())
                .context("while starting a tailer thread")?,
        );
    }
    for receiver_config in &config.syslog {
        let metrics = CollectorMetrics::new(&receiver_config.name, "syslog");
        all_metrics.push(Arc::clone(&metrics));
        let (thread, new_tasks) = syslog::spawn(
            receiver_config,
            Arc::clone(&settings),
            sender.clone(),
            Arc::clone(&stop),
            metrics,
        )?;
        threads.push(thread);
        tasks.extend(new_tasks);
    }
    let push_metrics = CollectorMetrics::new("http", "http");
    all_metrics.push(Arc::clone(&push_metrics));
    let metrics = Arc::new(Metrics {
        collectors: all_metrics,
        ..Metrics::default()
    });
    let push = PushState {
        inner: Arc::new(http::PushInner {
            api_keys: config.api_keys.clone(),
            sender: Mutex::new(Some(sender)),
            settings: Arc::clone(&settings),
            metrics: Arc::clone(&metrics),
            collector: push_metrics,
        }),
    };
    let writer_metrics = Arc::clone(&metrics);
    let watcher = match watch_dir {
        Some(dir) => Some(
            writer::LiveWatcher::new(dir, config.webhook.as_deref())
                .context("while setting up the watchlist alerts")?,
        ),
        None => None,
    };
    let writer_settings = writer::WriterSettings {
        commit_interval: config.commit_interval(),
        commit_events: config.commit_events.max(1),
        watcher,
    };
    let writer = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let result = writer::run(
                backend,
                sink,
                receiver,
                checkpoints,
                writer_settings,
                writer_metrics,
            );
            if let Err(error) = &result {
                tracing::error!(error = %format!("{error:#}"), "the store writer stopped; collected lines are not being stored");
            }
            result
        })
        .context("while starting the writer thread")?;
    Ok(Collectors {
        stop,
        metrics,
        push,
        threads,
        tasks,
        writer: Some(writer),
    })
}

/// The collectors' end of the bounded queue to the writer.
pub(crate) type BatchSender = SyncSender<writer::Batch>;

/// This machine's host name.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `tokentrail collect --config FILE`: runs the collectors and serves the push endpoint and
/// `/metrics` on the configured address until SIGINT or SIGTERM.
pub fn run_collect(config: Config, data: &std::path::Path, store: Option<&str>) -> Result<()> {
    let choice = config.store_choice(data, store);
    let backend: Arc<dyn Backend> = choice.open()?;
    // Accounts, the watchlist and alerts live in the data directory whatever the store.
    let watch_dir = config.data.clone().unwrap_or_else(|| data.to_path_buf());
    let data = choice.describe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime.block_on(async move {
        // Signals are caught from here on: a SIGTERM during startup is a clean stop too.
        let stop_signal = shutdown_signal()?;
        let collectors = spawn(&config, Arc::clone(&backend), Some(&watch_dir))?;
        let server = match config.listen {
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("while listening on {address}"))?;
                tracing::info!(%address, "push endpoint and /metrics listening");
                let app = http_push_router(collectors.push_state());
                Some(tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::error!(%error, "http server stopped");
                    }
                }))
            }
            None => None,
        };
        eprintln!(
            "tokentrail: collecting into {} ({} file collectors, {} syslog receivers{}); Ctrl-C stops",
            data,
            config.files.len(),
            config.syslog.len(),
            config
                .listen
                .map(|a| format!(", push and /metrics on http://{a}"))
                .unwrap_or_default()
        );
        stop_signal.await;
        if let Some(server) = server {
            server.abort();
        }
        tokio::task::spawn_blocking(move || collectors.stop())
            .await
            .context("while stopping the collectors")?
    })
}

/// `tokentrail serve --config FILE`: the collectors of `config` and the web server on one
/// store. The collectors' writer is the only writer (the server reads, and sees each commit
/// at once: the writer refreshes the shared store); `POST /api/v1/ingest` is served on the
/// web server's listener and the collectors' counters join its `/metrics`. On SIGINT or
/// SIGTERM the server stops, then the collectors commit their positions and stop.
pub async fn serve_with_collectors(
    config: Config,
    web: tokentrail_web::ServerConfig,
    backend: Arc<dyn Backend>,
    described_store: String,
) -> Result<()> {
    let stop_signal = shutdown_signal()?;
    if let Some(address) = config.listen.filter(|address| *address != web.listen) {
        tracing::info!(config_listen = %address, listen = %web.listen, "--listen wins: the push endpoint is served on the web server's address");
    }
    let collectors = spawn(&config, Arc::clone(&backend), Some(&web.data_dir))?;
    let metrics = collectors.metrics();
    let extras = tokentrail_web::ServeExtras {
        routes: Some(push_ingest_router(collectors.push_state())),
        metrics: Some(Arc::new(move || metrics.render())),
        shutdown: Some(Box::pin(stop_signal)),
    };
    eprintln!(
        "tokentrail: collecting into {} ({} file collectors, {} syslog receivers, push on the web server); Ctrl-C stops",
        described_store,
        config.files.len(),
        config.syslog.len(),
    );
    let served = tokentrail_web::serve_with(web, backend, extras).await;
    let stopped = tokio::task::spawn_blocking(move || collectors.stop())
        .await
        .context("while stopping the collectors")?;
    served.context("while serving")?;
    stopped
}

/// Registers SIGINT and SIGTERM now; the future ends when either arrives.
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("while catching SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("while catching SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
