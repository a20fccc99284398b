//! The syslog receiver: RFC 3164 and RFC 5424 messages over UDP (one per datagram) and TCP
//! (octet counting, `LEN SP MSG`, or newline framing, detected per connection from its first
//! byte, RFC 6587). Sockets are tokio tasks; messages go through a bounded queue to one
//! blocking thread that parses them — one stream parser per (sending host, program), so
//! dispatch is by program name first, then by content — and sends batches to the writer.
//!
//! Backpressure: when the queue is full, TCP connections stop being read (the sender slows
//! down); UDP datagrams wait in the kernel's socket buffer and, beyond it, are dropped by the
//! kernel — UDP syslog has no way to slow a sender.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokentrail_parsers::stream::{RawLine, StreamParser};
use tokentrail_parsers::time::TimeContext;
use tokentrail_parsers::{Context, Event};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use super::config::SyslogConfig;
use super::metrics::CollectorMetrics;
use super::writer::Batch;
use super::{BatchSender, Settings};
use crate::ingest::fingerprint_of;

/// Messages queued between the sockets and the parser thread.
const QUEUE_MESSAGES: usize = 4096;
/// Events per batch to the writer.
const BATCH_EVENTS: usize = 2048;
/// Stream parsers kept (one per sending host and program).
const MAX_STREAMS: usize = 1024;

struct Message {
    peer: IpAddr,
    bytes: Vec<u8>,
    truncated: bool,
}

/// Binds the sockets and starts the tasks and the parser thread.
pub(crate) fn spawn(
    config: &SyslogConfig,
    settings: Arc<Settings>,
    sender: BatchSender,
    stop: Arc<AtomicBool>,
    metrics: Arc<CollectorMetrics>,
) -> Result<(JoinHandle<()>, Vec<tokio::task::JoinHandle<()>>)> {
    let (queue, receiver) = mpsc::channel::<Message>(QUEUE_MESSAGES);
    let max = settings.max_line_bytes;
    let mut tasks = Vec::new();
    if let Some(address) = config.udp {
        let socket = std::net::UdpSocket::bind(address)
            .with_context(|| format!("while binding syslog UDP {address}"))?;
        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let queue = queue.clone();
        let metrics = Arc::clone(&metrics);
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    metrics.add(&metrics.errors, 1);
                    continue;
                };
                let truncated = length > max;
                let bytes = buffer[..length.min(max)].to_vec();
                let message = Message {
                    peer: peer.ip(),
                    bytes,
                    truncated,
                };
                if queue.send(message).await.is_err() {
                    return;
                }
            }
        }));
    }
    if let Some(address) = config.tcp {
        let listener = std::net::TcpListener::bind(address)
            .with_context(|| format!("while binding syslog TCP {address}"))?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let queue = queue.clone();
        let metrics = Arc::clone(&metrics);
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let queue = queue.clone();
                let metrics = Arc::clone(&metrics);
                tokio::spawn(async move {
                    if let Err(error) = read_connection(stream, peer.ip(), queue, max).await {
                        tracing::debug!(%peer, %error, "syslog connection ended");
                        metrics.add(&metrics.errors, 1);
                    }
                });
            }
        }));
    }
    drop(queue);
    let name = config.name.clone();
    let format = config.format.clone();
    let runtime = tokio::runtime::Handle::current();
    let thread = std::thread::Builder::new()
        .name(format!("syslog-{name}"))
        .spawn(move || {
            parse_loop(
                name, format, settings, receiver, sender, stop, metrics, runtime,
            )
        })
        .context("while starting the syslog thread")?;
    Ok((thread, tasks))
}

/// Reads framed messages from one TCP connection.
async fn read_connection(
    stream: tokio::net::TcpStream,
    peer: IpAddr,
    queue: mpsc::Sender<Message>,
    max: usize,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    loop {
        let first = match reader.fill_buf().await? {
            [] => return Ok(()),
            available => available[0],
        };
        let message = if first.is_ascii_digit() {
            // Octet counting: `123 <34>1 …` (RFC 6587 3.4.1).
            let mut digits = Vec::new();
            reader.read_until(b' ', &mut digits).await?;
            let length: usize = std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.trim().parse().ok())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "bad octet count")
                })?;
            let keep = length.min(max);
            let mut bytes = vec![0u8; keep];
            reader.read_exact(&mut bytes).await?;
            if length > keep {
                let skipped = tokio::io::copy(
                    &mut (&mut reader).take((length - keep) as u64),
                    &mut tokio::io::sink(),
                )
                .await?;
                if skipped < (length - keep) as u64 {
                    return Ok(());
                }
            }
            Message {
                peer,
                bytes,
                truncated: length > keep,
            }
        } else {
            // Newline framing (RFC 6587 3.4.2), lines capped at `max`.
            let mut bytes = Vec::new();
            (&mut reader)
                .take(max as u64 + 1)
                .read_until(b'\n', &mut bytes)
                .await?;
            let mut truncated = false;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            } else if bytes.len() > max {
                truncated = true;
                bytes.truncate(max);
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let read = (&mut reader)
                        .take(64 << 10)
                        .read_until(b'\n', &mut rest)
                        .await?;
                    if read == 0 || rest.last() == Some(&b'\n') {
                        break;
                    }
                }
            }
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            if bytes.is_empty() {
                continue;
            }
            Message {
                peer,
                bytes,
                truncated,
            }
        };
        if queue.send(message).await.is_err() {
            return Ok(());
        }
    }
}

struct SyslogStream {
    parser: StreamParser,
    offset: u64,
    lines: u64,
}

#[allow(clippy::too_many_arguments)]
fn parse_loop(
    name: String,
    format: Option<String>,
    settings: Arc<Settings>,
    mut receiver: mpsc::Receiver<Message>,
    sender: BatchSender,
    stop: Arc<AtomicBool>,
    metrics: Arc<CollectorMetrics>,
    runtime: tokio::runtime::Handle,
) {
    let started = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let time_context = TimeContext {
        zone: settings.zone.clone(),
        year_override: None,
        reference_date: None,
    };
    let mut streams: HashMap<(String, String), SyslogStream> = HashMap::new();
    let mut events: Vec<Event> = Vec::new();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut last_send = Instant::now();
    let flush_every = Duration::from_millis(200);
    loop {
        let next = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), receiver.recv()).await
        });
        let closed = matches!(next, Ok(None)) || stop.load(Ordering::Relaxed);
        if let Ok(Some(message)) = next {
            let text = String::from_utf8_lossy(&message.bytes);
            let peer = message.peer.to_string();
            let unwrapped = tokentrail_parsers::unwrap::unwrap(&text, &time_context);
            let host = unwrapped
                .host
                .map(str::to_ascii_lowercase)
                .unwrap_or_else(|| peer.clone());
            let program = unwrapped.program.unwrap_or("").to_string();
            let key = (host.clone(), program.clone());
            if !streams.contains_key(&key) {
                if streams.len() >= MAX_STREAMS {
                    for (_, mut stream) in streams.drain() {
                        stream.parser.finish(&mut events);
                    }
                }
                let context = Context {
                    time: time_context.clone(),
                    host: host.clone(),
                    path: format!("syslog://{name}/{host}/{program}"),
                    file_name: program.clone(),
                    issuer_aliases: Arc::clone(&settings.issuer_aliases),
                };
                let fingerprint = fingerprint_of(
                    format!("syslog\0{name}\0{started}\0{host}\0{program}").as_bytes(),
                );
                match StreamParser::new(context, format.as_deref(), fingerprint) {
                    Ok(parser) => {
                        streams.insert(
                            key.clone(),
                            SyslogStream {
                                parser,
                                offset: 0,
                                lines: 0,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::error!(%error, "syslog format");
                        return;
                    }
                }
            }
            if let Some(stream) = streams.get_mut(&key) {
                for line in text.split('\n') {
                    stream.lines += 1;
                    stream.parser.feed(
                        RawLine {
                            bytes: line.as_bytes(),
                            number: stream.lines,
                            offset: stream.offset,
                            truncated: message.truncated,
                        },
                        &mut events,
                    );
                    stream.offset += line.len() as u64 + 1;
                }
            }
            lines += 1;
            bytes += message.bytes.len() as u64;
        }
        if closed {
            for stream in streams.values_mut() {
                stream.parser.finish(&mut events);
            }
        }
        let due = events.len() >= BATCH_EVENTS
            || (last_send.elapsed() >= flush_every && (lines > 0 || !events.is_empty()))
            || closed;
        if due && (lines > 0 || !events.is_empty()) {
            metrics.add(&metrics.lines, lines);
            metrics.add(&metrics.bytes, bytes);
            metrics.add(&metrics.events, events.len() as u64);
            let batch = Batch {
                collector: format!("syslog:{name}"),
                metrics: Arc::clone(&metrics),
                events: std::mem::take(&mut events),
                check_below: 0,
                stream: None,
                lines,
                bytes,
                errors: 0,
                ack: None,
            };
            (lines, bytes) = (0, 0);
            last_send = Instant::now();
            if sender.send(batch).is_err() {
                return;
            }
        }
        if closed {
            return;
        }
    }
}
