//! The scale-out store: events in ClickHouse, one server or a cluster of shards.
//!
//! URL: `clickhouse://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT…]/DATABASE[?cluster=NAME]` (the
//! HTTP port, 8123 by default). With one host the events live in `DATABASE.events`; with
//! `cluster=NAME` every listed host gets a local `events_local` table and an `events` table of
//! engine `Distributed(NAME, DATABASE, events_local, sipHash64(id))` over the cluster's shards
//! (the cluster itself is defined in each server's `remote_servers`; see docs/clickhouse.md).
//!
//! Schema (works on 18.16 and current releases):
//! - `ReplacingMergeTree`, `PARTITION BY day` (retention drops whole partitions), `ORDER BY
//!   (sub, time, id)`: identity lookups and time ranges are primary-key ranges. 18.16 has no
//!   data-skipping indexes, so jti, job id, address and path lookups are column scans that the
//!   server runs as `PREWHERE` on the one column, pruned to the partitions of the time range;
//!   a small `index_granularity` keeps the granules read for each hit small.
//! - Idempotence: the sorting key ends with the event id and every other part of it is a
//!   function of the id, so the same event inserted twice is one row after a merge; before
//!   that, reads take one row per id (`LIMIT 1 BY id`) and count `uniqExact(id)`. (`FINAL`
//!   does the same but merges every part of the table on each query: about 8× slower on 18.16
//!   for the trace's many small lookups.) Sharding by `id` keeps both copies on one shard. The writer also skips, without a round trip per event, events that
//!   ingest marks as possibly stored: it loads the ids already stored for that file once.
//! - Checkpoints: a `ReplacingMergeTree(version)` table `checkpoints` on the first host,
//!   written after the events of each commit (a crash in between re-reads, and re-inserts
//!   collapse).
//! - The event is kept whole as JSON (`doc`, without the raw line) beside the raw line, the
//!   time in epoch milliseconds (`Int64`: 18.16 has no `DateTime64`) and one column per key.

mod http;
pub mod server;
mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokentrail_parsers::event::{KEY_FIELDS, LIST_FIELDS};
use tokentrail_parsers::{Event, Timestamp};

use crate::query::Query;
use crate::store::{Backend, Checkpoints, EventSink, EventStore, Hits, Order};
use crate::Error;
use http::HttpClient;

/// Rows per granule of the events table: lookups read whole granules of the `doc` column.
const INDEX_GRANULARITY: u32 = 1024;
/// The checkpoint row's name.
const CHECKPOINT_NAME: &str = "ingest";
/// Most bytes buffered by the writer before an insert.
const MAX_INSERT_BYTES: usize = 32 << 20;

/// Where the store lives, from a `clickhouse://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// `host:port` of each server's HTTP interface; the first takes reads, writes and the
    /// checkpoints.
    pub hosts: Vec<String>,
    pub database: String,
    /// The cluster of `remote_servers` to shard over (`None`: one server).
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ClickHouseConfig {
    /// Reads `clickhouse://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]…]/DATABASE[?cluster=NAME]`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadStoreUrl {
            url: redact_password(url),
            reason: why.to_string(),
        };
        let rest = url
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("it does not start with clickhouse://"))?;
        let (rest, parameters) = match rest.split_once('?') {
            Some((rest, parameters)) => (rest, parameters),
            None => (rest, ""),
        };
        let (authority, database) = rest
            .split_once('/')
            .ok_or_else(|| bad("no /DATABASE after the host"))?;
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (Some(user.to_string()), Some(password.to_string())),
                None => (Some(credentials.to_string()), None),
            },
        };
        let hosts: Vec<String> = hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| {
                if host.rsplit_once(':').is_some_and(|(_, port)| {
                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                }) {
                    host.to_string()
                } else {
                    format!("{host}:8123")
                }
            })
            .collect();
        if hosts.is_empty() {
            return Err(bad("no host"));
        }
        if !is_identifier(database) {
            return Err(bad("the database name must be letters, digits and _"));
        }
        let mut cluster = None;
        for parameter in parameters.split('&').filter(|p| !p.is_empty()) {
            match parameter.split_once('=') {
                Some(("cluster", name)) if is_identifier(name) => cluster = Some(name.to_string()),
                _ => return Err(bad(&format!("unknown parameter {parameter:?}"))),
            }
        }
        if hosts.len() > 1 && cluster.is_none() {
            return Err(bad(
                "several hosts need ?cluster=NAME (their remote_servers cluster)",
            ));
        }
        Ok(ClickHouseConfig {
            hosts,
            database: database.to_string(),
            cluster,
            user,
            password,
        })
    }
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// The URL with its password (if any) replaced by `***`, fit for messages and logs.
pub fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The event store in ClickHouse. Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct ClickHouseStore {
    config: Arc<ClickHouseConfig>,
    /// One client per host; `clients[0]` takes reads, writes and checkpoints.
    clients: Arc<Vec<HttpClient>>,
}

impl ClickHouseStore {
    /// Connects and creates the database and tables when absent.
    pub fn open(url: &str) -> Result<Self, Error> {
        let config = ClickHouseConfig::parse(url)?;
        let clients = config
            .hosts
            .iter()
            .map(|host| HttpClient::new(host, config.user.as_deref(), config.password.as_deref()))
            .collect();
        let store = ClickHouseStore {
            config: Arc::new(config),
            clients: Arc::new(clients),
        };
        store.create_schema()?;
        Ok(store)
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    fn primary(&self) -> &HttpClient {
        &self.clients[0]
    }

    fn table(&self, name: &str) -> String {
        format!("`{}`.`{name}`", self.config.database)
    }

    /// The table that holds the events on each host (the shard-local table in a cluster).
    fn local_table(&self) -> String {
        match self.config.cluster {
            Some(_) => self.table("events_local"),
            None => self.table("events"),
        }
    }

    fn create_schema(&self) -> Result<(), Error> {
        let mut columns = vec![
            "id String".to_string(),
            "day Date".to_string(),
            "time Int64".to_string(),
            "file String".to_string(),
        ];
        columns.extend(KEY_FIELDS.iter().map(|name| format!("{name} String")));
        columns.extend(
            LIST_FIELDS
                .iter()
                .map(|name| format!("{name} Array(String)")),
        );
        columns.push("raw String".into());
        columns.push("doc String".into());
        let columns = columns.join(", ");
        let merge_tree = format!(
            "ENGINE = ReplacingMergeTree PARTITION BY day ORDER BY (sub, time, id) \
             SETTINGS index_granularity = {INDEX_GRANULARITY}"
        );
        for client in self.clients.iter() {
            client.query(&format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                self.config.database
            ))?;
            client.query(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({columns}) {merge_tree}",
                self.local_table()
            ))?;
            if let Some(cluster) = &self.config.cluster {
                client.query(&format!(
                    "CREATE TABLE IF NOT EXISTS {} ({columns}) ENGINE = Distributed({cluster}, {}, events_local, sipHash64(id))",
                    self.table("events"),
                    self.config.database,
                ))?;
            }
        }
        self.primary().query(&format!(
            "CREATE TABLE IF NOT EXISTS {} (name String, version UInt64, payload String) \
             ENGINE = ReplacingMergeTree(version) ORDER BY name",
            self.table("checkpoints")
        ))?;
        Ok(())
    }

    /// Drops every whole day before the day of `before` (retention), on every shard.
    /// Returns the number of partitions dropped.
    pub fn drop_days_before(&self, before: Timestamp) -> Result<usize, Error> {
        let cutoff = sql::day_of(before.millis());
        let table = if self.config.cluster.is_some() {
            "events_local"
        } else {
            "events"
        };
        let mut dropped = 0;
        for client in self.clients.iter() {
            let listing = client.query(&format!(
                "SELECT DISTINCT partition_id FROM system.parts WHERE database = {} AND table = {} \
                 AND active AND max_date < toDate({}) FORMAT TabSeparated",
                sql::quote(&self.config.database),
                sql::quote(table),
                sql::quote(&cutoff)
            ))?;
            for partition in String::from_utf8_lossy(&listing).lines() {
                client.query(&format!(
                    "ALTER TABLE {} DROP PARTITION ID {}",
                    self.local_table(),
                    sql::quote(partition)
                ))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Ids already stored for events of `file`.
    fn ids_of_file(&self, file: &str) -> Result<HashSet<String>, Error> {
        let body = self.primary().query(&format!(
            "SELECT id FROM {} WHERE file = {} FORMAT TabSeparated",
            self.table("events"),
            sql::quote(file)
        ))?;
        // Ids are hex: nothing in them is escaped by TabSeparated.
        Ok(String::from_utf8_lossy(&body)
            .lines()
            .map(str::to_string)
            .collect())
    }

    fn select_events(
        &self,
        clauses: &str,
        limit: usize,
        order: Order,
    ) -> Result<Vec<Event>, Error> {
        let direction = match order {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        let body = self.primary().query(&format!(
            "SELECT doc, raw FROM {} {clauses} ORDER BY time {direction} \
             LIMIT 1 BY id LIMIT {limit} FORMAT JSONEachRow",
            self.table("events")
        ))?;
        let mut events = Vec::new();
        for line in body.split(|byte| *byte == b'\n') {
            if line.is_empty() {
                continue;
            }
            let row: StoredRow = serde_json::from_slice(line)
                .map_err(|error| Error::Corrupt(format!("clickhouse row: {error}")))?;
            let mut event: Event = serde_json::from_str(&row.doc)
                .map_err(|error| Error::Corrupt(format!("stored event: {error}")))?;
            event.raw = row.raw;
            events.push(event);
        }
        Ok(events)
    }

    fn count_where(&self, clauses: &str) -> Result<u64, Error> {
        let body = self.primary().query(&format!(
            "SELECT uniqExact(id) FROM {} {clauses} FORMAT TabSeparated",
            self.table("events")
        ))?;
        String::from_utf8_lossy(&body)
            .trim()
            .parse()
            .map_err(|_| Error::Corrupt("clickhouse count is not a number".into()))
    }

    fn read_checkpoints(&self) -> Result<Option<(u64, Checkpoints)>, Error> {
        let body = self.primary().query(&format!(
            "SELECT version, payload FROM {} WHERE name = {} ORDER BY version DESC LIMIT 1 \
             FORMAT JSONEachRow",
            self.table("checkpoints"),
            sql::quote(CHECKPOINT_NAME)
        ))?;
        let text = String::from_utf8_lossy(&body);
        let Some(line) = text.lines().find(|line| !line.trim().is_empty()) else {
            return Ok(None);
        };
        let row: CheckpointRow = serde_json::from_str(line)
            .map_err(|error| Error::Corrupt(format!("checkpoint row: {error}")))?;
        let checkpoints = serde_json::from_str(&row.payload)
            .map_err(|error| Error::Corrupt(format!("checkpoints: {error}")))?;
        Ok(Some((row.version.parse().unwrap_or(0), checkpoints)))
    }
}

#[derive(Deserialize)]
struct StoredRow {
    doc: String,
    raw: String,
}

#[derive(Deserialize)]
struct CheckpointRow {
    /// UInt64 arrives quoted in JSON formats.
    #[serde(deserialize_with = "number_or_string")]
    version: String,
    payload: String,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

impl EventStore for ClickHouseStore {
    fn search(&self, query: &Query, limit: usize, order: Order) -> Result<Hits, Error> {
        let condition = sql::clauses(query)?;
        if limit == 0 {
            return Ok(Hits {
                events: Vec::new(),
                total: self.count_where(&condition)?,
            });
        }
        let events = self.select_events(&condition, limit, order)?;
        // Fewer than asked for: that is all of them, no second scan to count.
        let total = if events.len() < limit {
            events.len() as u64
        } else {
            self.count_where(&condition)?
        };
        Ok(Hits { events, total })
    }

    fn terms_per_query(&self) -> usize {
        // One scan of the column answers the whole IN list.
        512
    }

    fn checkpoints(&self) -> Result<Checkpoints, Error> {
        Ok(self
            .read_checkpoints()?
            .map(|(_, checkpoints)| checkpoints)
            .unwrap_or_default())
    }
}

impl Backend for ClickHouseStore {
    fn open_sink(&self, memory_budget: usize) -> Result<Box<dyn EventSink>, Error> {
        Ok(Box::new(self.writer(memory_budget)?))
    }

    fn refresh(&self) -> Result<(), Error> {
        // Inserts are visible when they return (distributed ones are sent synchronously).
        Ok(())
    }

    fn remove_before(&self, cutoff: Timestamp) -> Result<(), Error> {
        self.drop_days_before(cutoff).map(|_| ())
    }
}

impl ClickHouseStore {
    /// A writer that buffers up to about `memory_budget / 4` bytes of rows per insert.
    pub fn writer(&self, memory_budget: usize) -> Result<ClickHouseSink, Error> {
        Ok(ClickHouseSink {
            store: self.clone(),
            buffer: Vec::new(),
            rows: 0,
            flush_bytes: (memory_budget / 4).clamp(1 << 20, MAX_INSERT_BYTES),
            stored_ids: HashMap::new(),
            last_version: 0,
        })
    }

    fn insert_rows(&self, body: &[u8]) -> Result<(), Error> {
        let settings = if self.config.cluster.is_some() {
            // Sent to the shards before the insert returns, so a commit is visible at once.
            "insert_distributed_sync=1"
        } else {
            ""
        };
        self.primary().insert(
            &format!("INSERT INTO {} FORMAT JSONEachRow", self.table("events")),
            settings,
            body,
        )?;
        Ok(())
    }
}

/// One row of the events table, as JSONEachRow.
#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    day: String,
    time: i64,
    file: &'a str,
    #[serde(flatten)]
    keys: HashMap<&'static str, &'a str>,
    groups: &'a [String],
    scopes: &'a [String],
    aud: &'a [String],
    raw: &'a str,
    doc: String,
}

/// The writer of a [`ClickHouseStore`]: batches rows into one insert over HTTP.
pub struct ClickHouseSink {
    store: ClickHouseStore,
    buffer: Vec<u8>,
    rows: u64,
    flush_bytes: usize,
    /// Ids stored before this writer started, per file, loaded when ingest first asks.
    stored_ids: HashMap<String, HashSet<String>>,
    last_version: u64,
}

impl ClickHouseSink {
    fn row_json(&mut self, event: &Event) -> Result<(), Error> {
        let without_raw = Event {
            raw: String::new(),
            ..event.clone()
        };
        let doc = serde_json::to_string(&without_raw).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut keys: HashMap<&'static str, &str> =
            KEY_FIELDS.iter().map(|name| (*name, "")).collect();
        for (name, value) in event.key_values() {
            if KEY_FIELDS.contains(&name) {
                keys.insert(name, value);
            }
        }
        let time = event.time.map_or(sql::NO_TIME, |t| t.millis());
        let row = Row {
            id: &event.id,
            day: sql::day_of(time),
            time,
            file: &event.origin.file,
            keys,
            groups: &event.groups,
            scopes: &event.scopes,
            aud: &event.aud,
            raw: &event.raw,
            doc,
        };
        serde_json::to_writer(&mut self.buffer, &row).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.buffer.push(b'\n');
        self.rows += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        tracing::debug!(
            rows = self.rows,
            bytes = self.buffer.len(),
            "clickhouse insert"
        );
        self.store.insert_rows(&self.buffer)?;
        self.buffer.clear();
        self.rows = 0;
        Ok(())
    }
}

impl EventSink for ClickHouseSink {
    fn add(&mut self, event: &Event, check_existing: bool) -> Result<bool, Error> {
        if check_existing {
            if !self.stored_ids.contains_key(&event.origin.file) {
                let ids = self.store.ids_of_file(&event.origin.file)?;
                self.stored_ids.insert(event.origin.file.clone(), ids);
            }
            if self
                .stored_ids
                .get(&event.origin.file)
                .is_some_and(|ids| ids.contains(&event.id))
            {
                return Ok(false);
            }
        }
        self.row_json(event)?;
        if self.buffer.len() >= self.flush_bytes {
            self.flush()?;
        }
        Ok(true)
    }

    fn commit(&mut self, checkpoints: &Checkpoints) -> Result<(), Error> {
        self.flush()?;
        // Another writer may have committed meanwhile: keep its streams, ours win.
        let (previous_version, mut merged) = self.store.read_checkpoints()?.unwrap_or_default();
        merged.sources.extend(
            checkpoints
                .sources
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        merged.collectors.extend(
            checkpoints
                .collectors
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let version = now.max(previous_version + 1).max(self.last_version + 1);
        self.last_version = version;
        let payload = serde_json::to_string(&merged).map_err(|e| Error::Corrupt(e.to_string()))?;
        let row = serde_json::json!({
            "name": CHECKPOINT_NAME,
            "version": version,
            "payload": payload,
        });
        self.store.primary().insert(
            &format!(
                "INSERT INTO {} FORMAT JSONEachRow",
                self.store.table("checkpoints")
            ),
            "",
            format!("{row}\n").as_bytes(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
