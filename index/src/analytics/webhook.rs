//! Webhook delivery: a thread POSTs alert JSON bodies to a plain `http://` URL over HTTP/1.1,
//! retrying with exponential backoff. The queue is bounded and [`WebhookSender::send`] never
//! blocks: when the queue is full the alert is dropped, counted and logged (it stays in
//! `alerts.jsonl`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bodies waiting for delivery at most.
pub const QUEUE_CAPACITY: usize = 256;
/// Attempts per body.
pub const MAX_ATTEMPTS: u32 = 6;
/// First retry delay; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivery counters.
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub delivered: AtomicU64,
    /// Given up after all attempts.
    pub failed: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    /// Parses a plain `http://` URL (TLS is not spoken here: put a local relay in front of an
    /// `https://` receiver).
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("webhook URL {url:?} must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                match port.parse::<u16>() {
                    Ok(port) => (host, port),
                    Err(_) => return Err(format!("webhook URL {url:?} has a bad port")),
                }
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("webhook URL {url:?} has no host"));
        }
        Ok(HttpUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// POSTs `body` once; Ok on a 2xx answer.
pub fn post_json(url: &HttpUrl, body: &str) -> Result<u16, String> {
    let address = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {}: {error}", url.host))?
        .next()
        .ok_or_else(|| format!("no address for {}", url.host))?;
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let host_header = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: tokentrail/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|_| stream.write_all(body.as_bytes()))
        .map_err(|error| format!("cannot send to {address}: {error}"))?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let read = stream
            .read(&mut buffer)
            .map_err(|error| format!("no answer from {address}: {error}"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("no HTTP status line from {address}"))?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("{address} answered HTTP {status}"))
    }
}

/// The sending half: cheap to call from the ingest writer.
#[derive(Debug)]
pub struct WebhookSender {
    sender: Option<SyncSender<String>>,
    stats: Arc<WebhookStats>,
    handle: Option<JoinHandle<()>>,
}

impl WebhookSender {
    /// Starts the delivery thread for `url`.
    pub fn spawn(url: &str) -> Result<WebhookSender, String> {
        let url = HttpUrl::parse(url)?;
        let (sender, receiver) = sync_channel::<String>(QUEUE_CAPACITY);
        let stats = Arc::new(WebhookStats::default());
        let thread_stats = Arc::clone(&stats);
        let handle = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || deliver_all(&url, receiver, &thread_stats))
            .map_err(|error| format!("cannot start the webhook thread: {error}"))?;
        Ok(WebhookSender {
            sender: Some(sender),
            stats,
            handle: Some(handle),
        })
    }

    /// Queues `body`; never blocks. Returns false (and counts and logs it) when dropped.
    pub fn send(&self, body: String) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        match sender.try_send(body) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(
                    dropped,
                    "webhook queue full: alert not delivered by webhook (it is in alerts.jsonl)"
                );
                false
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }

    /// Stops accepting bodies and waits up to `timeout` for the queue to drain. Returns
    /// whether the delivery thread finished.
    pub fn finish(&mut self, timeout: Duration) -> bool {
        self.sender = None;
        let Some(handle) = self.handle.take() else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if handle.is_finished() {
            let _ = handle.join();
            true
        } else {
            tracing::warn!("webhook deliveries still pending at exit");
            false
        }
    }
}

impl Drop for WebhookSender {
    fn drop(&mut self) {
        // Never wait here: ingest must not block on a slow receiver.
        self.sender = None;
    }
}

fn deliver_all(url: &HttpUrl, receiver: Receiver<String>, stats: &WebhookStats) {
    for body in receiver {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            match post_json(url, &body) {
                Ok(_) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(error) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, %error, "webhook delivery failed; retrying");
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
                Err(error) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(attempts = attempt, %error, "webhook delivery given up");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls() {
        assert_eq!(
            HttpUrl::parse("http://127.0.0.1:8099/hook").unwrap(),
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 8099,
                path: "/hook".into()
            }
        );
        assert_eq!(HttpUrl::parse("http://example.org").unwrap().port, 80);
        assert_eq!(HttpUrl::parse("http://[::1]:81/x").unwrap().host, "::1");
        assert!(HttpUrl::parse("https://example.org/").is_err());
    }
}
