//! The few HTTP/1.1 requests the ClickHouse store sends, over `std::net::TcpStream`.
//!
//! ClickHouse's HTTP interface needs only `POST /?query=…` with a body, keep-alive, and a
//! response read by `Content-Length` or chunked encoding. Writing that here (about 150 lines)
//! keeps the dependency tree as it is: no TLS stack, no async runtime, no URL crate. Cluster
//! nodes are reached over a private network or loopback; a deployment that needs TLS puts a
//! local TLS proxy in front (documented in docs/clickhouse.md).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use crate::Error;

/// Idle connections kept per server.
const POOL_SIZE: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Long scans and big inserts may take a while; a dead server is found by the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// One ClickHouse server's HTTP interface.
pub(crate) struct HttpClient {
    /// `host:port`.
    address: String,
    /// Query-string parameters sent with every request (`user`, `password`).
    auth: String,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

impl HttpClient {
    pub(crate) fn new(address: &str, user: Option<&str>, password: Option<&str>) -> Self {
        let mut auth = String::new();
        if let Some(user) = user {
            auth.push_str("&user=");
            auth.push_str(&percent_encode(user));
        }
        if let Some(password) = password {
            auth.push_str("&password=");
            auth.push_str(&percent_encode(password));
        }
        HttpClient {
            address: address.to_string(),
            auth,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `sql` (sent as the body) and returns the response body.
    pub(crate) fn query(&self, sql: &str) -> Result<Vec<u8>, Error> {
        let started = std::time::Instant::now();
        // The trace's lookups may list thousands of values (the default limit is 256 KiB).
        let result = self.post("max_query_size=67108864", sql.as_bytes());
        tracing::trace!(
            ms = started.elapsed().as_secs_f64() * 1e3,
            bytes = result.as_ref().map_or(0, Vec::len),
            sql = %sql.chars().take(160).collect::<String>(),
            "clickhouse query"
        );
        result
    }

    /// Sends `body` as the data of `sql` (`INSERT … FORMAT …`, sent in the query string), with
    /// extra `settings` (`name=value&…`).
    pub(crate) fn insert(&self, sql: &str, settings: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
        let mut parameters = format!("query={}", percent_encode(sql));
        if !settings.is_empty() {
            parameters.push('&');
            parameters.push_str(settings);
        }
        self.post(&parameters, body)
    }

    fn post(&self, parameters: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
        // `wait_end_of_query` makes the server buffer the answer, so an error that happens
        // while a result streams still arrives as an HTTP error status.
        let target = format!("/?wait_end_of_query=1{}&{}", self.auth, parameters);
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(connection) = pooled {
            match self.exchange(connection, &target, body) {
                Ok(response) => return response,
                // A kept-alive connection the server has closed meanwhile: retry on a new one
                // (inserts are idempotent by event id, queries have no side effects).
                Err(_stale) => {}
            }
        }
        let connection = self.connect()?;
        match self.exchange(connection, &target, body) {
            Ok(response) => response,
            Err(source) => Err(self.io_error(source)),
        }
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, Error> {
        let addresses = self
            .address
            .to_socket_addrs()
            .map_err(|source| self.io_error(source))?;
        let mut last_error = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(IO_TIMEOUT))
                        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
                        .and_then(|()| stream.set_nodelay(true))
                        .map_err(|source| self.io_error(source))?;
                    return Ok(BufReader::with_capacity(64 << 10, stream));
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(self
            .io_error(last_error.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
            })))
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::ClickHouseConnection {
            address: self.address.clone(),
            source,
        }
    }

    /// Sends one request and reads its response. The outer error is a transport failure; the
    /// inner result is the server's answer (an error status becomes [`Error::ClickHouse`]).
    fn exchange(
        &self,
        mut connection: BufReader<TcpStream>,
        target: &str,
        body: &[u8],
    ) -> std::io::Result<Result<Vec<u8>, Error>> {
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.address,
            body.len()
        );
        let stream = connection.get_mut();
        // One write for a small request: a request split over two segments waits for the
        // server's delayed acknowledgement (tens of milliseconds per query).
        if body.len() <= 256 << 10 {
            let mut request = Vec::with_capacity(head.len() + body.len());
            request.extend_from_slice(head.as_bytes());
            request.extend_from_slice(body);
            stream.write_all(&request)?;
        } else {
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
        }
        stream.flush()?;

        let mut line = String::new();
        if connection.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("not an HTTP status line: {line:?}")))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut keep_alive = true;
        loop {
            line.clear();
            if connection.read_line(&mut line)? == 0 {
                return Err(invalid("connection closed inside the headers".into()));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.eq_ignore_ascii_case("close");
            }
        }
        let mut response = Vec::new();
        if chunked {
            read_chunked(&mut connection, &mut response)?;
        } else if let Some(length) = content_length {
            response.resize(length, 0);
            connection.read_exact(&mut response)?;
        } else {
            keep_alive = false;
            connection.read_to_end(&mut response)?;
        }
        if keep_alive {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < POOL_SIZE {
                    idle.push(connection);
                }
            }
        }
        if status != 200 {
            return Ok(Err(Error::ClickHouse {
                address: self.address.clone(),
                status,
                message: String::from_utf8_lossy(&response).trim().to_string(),
            }));
        }
        Ok(Ok(response))
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

fn read_chunked(connection: &mut BufReader<TcpStream>, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        connection.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers (none from ClickHouse) end with an empty line.
            loop {
                line.clear();
                if connection.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        connection.read_exact(&mut out[start..])?;
        let mut crlf = [0u8; 2];
        connection.read_exact(&mut crlf)?;
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("INSERT_x.y~-"), "INSERT_x.y~-");
    }
}
