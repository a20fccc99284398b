//! The embedded store: one tantivy index under `<data>/index`.
//!
//! Schema: every key field of the event model as an untokenised `STRING` (exact lookups),
//! the event id by a 32-bit key (see `id_key`), `time`/`token_iat`/`token_exp` as fast-only
//! `i64` milliseconds, `sub` and `jti` (and the low-cardinality keys) also as fast columns so
//! that [`Query::EmptyOrOneOf`] filters hits before their events are fetched, the raw line as full text without its opaque tokens (see
//! [`crate::words`]; document ids only, no positions: small), and the whole event as JSON in
//! a zstd doc store, in the compact form of [`crate::stored`] (empty fields and derivable ids
//! left out; the stream fingerprints those ids come from in the fast `stream` column).
//! Commits carry [`Checkpoints`] by reference in tantivy's commit payload, so the index
//! content and the positions ingest has reached are always written together: the
//! checkpoints go to `checkpoints-<hash>.json` beside the index files first, and the commit
//! names that file and its SHA-256 (see [`CheckpointFiles`]).

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::directory::error::LockError;
use tantivy::directory::MmapDirectory;
use tantivy::index::SegmentId;
use tantivy::indexer::{IndexWriterOptions, NoMergePolicy};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, Query as TantivyQuery, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    STORED,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy,
    TantivyDocument, TantivyError, Term,
};
use tantivy::{DocSet, Searcher, SegmentReader, TERMINATED};
use tokentrail_parsers::event::{KEY_FIELDS, LIST_FIELDS};
use tokentrail_parsers::stream::hex;
use tokentrail_parsers::Event;

use crate::event_cache::LruCache;
use crate::key_terms::KeyTermsQuery;
use crate::merge::{bounded_groups, tail_groups, BoundedMergePolicy, MAX_MERGED_DOCS};
use crate::query::Query;
use crate::store::{Checkpoints, EventSink, EventStore, Hits, Order, SharedHits};
use crate::stored;
use crate::words::{words_analyzer, WORDS_TOKENIZER};
use crate::Error;

/// Key values longer than this are indexed cut (the stored event keeps them whole); tantivy
/// refuses terms near 64 KiB.
const MAX_TERM_BYTES: usize = 1024;
/// Time stored for events that have none (sorts last when newest first).
const NO_TIME: i64 = i64::MIN;

/// Decompressed doc-store blocks kept per segment (tantivy's default is 100). Events are
/// fetched in storage order, so a lookup reuses the block it just read; across lookups a
/// block is rarely read again (a trace of 6 000 events at 10 M events: the same CPU with
/// 1 000 blocks as with 4). Measured with 512 KiB blocks (128 KiB now): tantivy's 100 blocks
/// per segment held up to ~600 MB of a 12-segment store; that trace's peak RSS was 1.05 GB
/// with 100 blocks, 0.72 GB with 16, and system time for fresh pages halved; 0 blocks (no
/// cache) costs 30 % more CPU and more than doubles an address trace, as neighbouring events
/// re-read their block.
const DOCSTORE_CACHE_BLOCKS: usize = 16;

/// Field handles of the schema.
#[derive(Clone)]
struct Fields {
    id: Field,
    file: Field,
    time: Field,
    token_iat: Field,
    token_exp: Field,
    text: Field,
    doc: Field,
    stream: Field,
    keys: Vec<(&'static str, Field)>,
    /// The [`HOURLY_FIELDS`] by hour (`None` in a store written before the field existed).
    hourly: Option<Field>,
}

impl Fields {
    fn key(&self, name: &str) -> Option<Field> {
        match name {
            "id" => Some(self.id),
            "file" => Some(self.file),
            _ => self
                .keys
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, field)| *field),
        }
    }
}

/// Doc store blocks: large enough for zstd to find the repetition between events' JSON
/// (the store is most of the index), small enough that fetching one event stays cheap:
/// reading one event decompresses its whole block. With one identity's events grouped
/// ([`Locality`]), 128 KiB against 512 KiB at 10 M events: store 1 548 MB against 1 490 MB
/// (+3.9 %); a busy identity's trace (6 064 events) 0.59× as a whole process, peak RSS 523 →
/// 398 MB; in-process p95 of busy identities 1.92 → 1.28 s, of addresses 3.7 → 2.1 s.
/// 64 KiB buys little more: store +4.0 % again (1 610 MB), that trace 0.96×, an address 1.04×.
/// (Before grouping, on the small corpus: 64 KiB at level 5 19.0 MB, 256 KiB at level 9
/// 15.2 MB, 512 KiB at level 9 14.2 MB; level 12: 14.1 MB, more CPU.)
const DOCSTORE_BLOCK_BYTES: usize = 128 << 10;
const DOCSTORE_ZSTD_LEVEL: i32 = 9;

/// An OR of at least this many exact key terms is one [`KeyTermsQuery`], which builds
/// nothing for the terms a segment does not hold (see [`crate::key_terms`]).
const TERM_SET_MIN: usize = 4;

/// Merges run at once, at most (tantivy's default is 4): each maps its input segments and
/// holds its own buffers, so this bounds the ingest's memory with [`MAX_MERGED_DOCS`]. Two
/// merges of 2 M events at once mapped 770 MB during a 50 M-event ingest (see
/// [`crate::merge`]); one merge thread keeps up at 2 cores (ingest CPU and time unchanged).
const MERGE_THREADS: usize = 1;

/// An exact-match key field: one untokenised term, no field norms (nothing is scored by
/// length; norms cost a byte per document and field).
fn key_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    )
}

/// Key fields whose values are indexed a second time with the hour of the event (in the
/// `hourly` field; see [`hourly_term`]): the trace's worker-node windows look up a node's
/// file operations within a job's run time (half an hour, typically, of days of logs), and
/// by the plain term read the time of every event the node ever took part in, to keep a
/// few. Each field has a one-letter tag in the term.
const HOURLY_FIELDS: [(&str, char); 2] = [("client_host", 'h'), ("client_ip", 'i')];

/// One hour, the width of the buckets of [`HOURLY_FIELDS`].
const HOUR_MS: i64 = 3_600_000;

/// A lookup whose time range spans at most this many hours reads the hourly terms of its
/// [`HOURLY_FIELDS`] conditions instead of the plain ones. Each hourly term is looked up in
/// every segment: at 50 M events (80 segments), one address (59 668 events) searched over
/// 24 hours took as long by the hourly terms as by the plain one (31 ms as a process), over
/// 6 hours 0.70× and over an hour 0.66× (21 and 20 ms, ~17 ms of which start the process).
/// A worker-node window is half an hour to an hour.
const MAX_HOURLY_SPAN: i64 = 6;

/// The hour (since the epoch) an event at `millis` is indexed under in the `hourly` field.
fn hour_of(millis: i64) -> i64 {
    millis.div_euclid(HOUR_MS)
}

/// The tag of a field of [`HOURLY_FIELDS`].
fn hourly_tag(field: &str) -> Option<char> {
    HOURLY_FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, tag)| *tag)
}

/// The text of the hourly term of a value: tag, hour (since the epoch), `:`, the value as
/// indexed.
fn hourly_term(tag: char, hour: i64, value: &str) -> String {
    format!("{tag}{hour}:{}", cut(value))
}

/// The schema, with or without the `hourly` field (stores written before it keep theirs).
fn schema(hourly: bool) -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // The id is looked up by its key (see `id_key`), not by its 32 hex digits: one unique
    // 32-character term per event was the largest part of the term dictionaries.
    // Indexed without field norms (INDEXED would add a byte per event).
    let id = builder.add_u64_field("id", NumericOptions::default().set_indexed());
    let file = builder.add_text_field("file", key_options());
    // Fast only: tantivy answers a range query over a fast field from the column, so the
    // inverted index (term dictionary, postings and field norms per event) would be unused.
    let time = builder.add_i64_field("time", FAST);
    let token_iat = builder.add_i64_field("token_iat", FAST);
    let token_exp = builder.add_i64_field("token_exp", FAST);
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS_TOKENIZER)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let text = builder.add_text_field("text", text_options);
    // Stored as text, not bytes: tantivy reads a stored string with one copy, bytes one
    // element at a time (that was a sixth of a trace's time).
    let doc = builder.add_text_field("doc", STORED);
    // The content fingerprint of the event's stream, when the stored event leaves its id out
    // to be computed from it (see `crate::stored`): a fast column only, dictionary-encoded.
    let stream = builder.add_text_field("stream", FAST);
    let mut keys = Vec::new();
    for name in KEY_FIELDS.iter().chain(LIST_FIELDS) {
        // `sub` and `jti`: the trace's filter on other identities reads them from the column
        // (`Query::EmptyOrOneOf`) instead of fetching and decoding every event.
        let fast = matches!(
            *name,
            "source" | "service" | "action" | "outcome" | "host" | "sub" | "jti"
        );
        let options = if fast {
            key_options() | FAST
        } else {
            key_options()
        };
        keys.push((*name, builder.add_text_field(name, options)));
    }
    // Last, so that the schema without it is the schema of the stores written before it.
    let hourly = hourly.then(|| builder.add_text_field("hourly", key_options()));
    (
        builder.build(),
        Fields {
            id,
            file,
            time,
            token_iat,
            token_exp,
            text,
            doc,
            stream,
            keys,
            hourly,
        },
    )
}

/// The indexed key of an event id: its first 32 bits for the usual 32-hex-digit id (a
/// SHA-256 prefix, so uniform), a 32-bit FNV-1a hash of any other id. Short keys keep the
/// term dictionary small (one term per event); ids share a key now and then (among 10^6
/// events, a lookup meets another event's key with odds of 1 in 4000), so every lookup by id
/// compares the stored id.
fn id_key(id: &str) -> u64 {
    if id.len() >= 8 && id.as_bytes()[..8].iter().all(u8::is_ascii_hexdigit) {
        if let Ok(key) = u64::from_str_radix(&id[..8], 16) {
            return key;
        }
    }
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    u64::from(hash)
}

fn cut(value: &str) -> &str {
    if value.len() <= MAX_TERM_BYTES {
        return value;
    }
    let mut end = MAX_TERM_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// The fast-field columns searches read, per segment, opened once. Opening a column decodes
/// its header: for `time`, which the grouping of one identity's events leaves in
/// blockwise-linear form, that is every block's parameters, and opening it in every segment
/// for every lookup was a fifth of a busy identity's trace. Segments are immutable, so an
/// entry never goes stale; [`TantivyStore::reload`] drops those of merged-away segments.
#[derive(Default)]
struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, SegmentColumns>>,
}

#[derive(Default)]
struct SegmentColumns {
    time: Option<Column<i64>>,
    /// By field name; `None`: no document of the segment has the field.
    strs: HashMap<String, Option<StrColumn>>,
}

impl ColumnCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, SegmentColumns>> {
        self.segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The segment's `time` column.
    fn time(&self, segment: &SegmentReader) -> tantivy::Result<Column<i64>> {
        if let Some(column) = self
            .lock()
            .get(&segment.segment_id())
            .and_then(|columns| columns.time.clone())
        {
            return Ok(column);
        }
        // Opened outside the lock: concurrent searches do not wait on each other's opening.
        let column = segment.fast_fields().i64("time")?;
        self.lock().entry(segment.segment_id()).or_default().time = Some(column.clone());
        Ok(column)
    }

    /// The segment's string column `field`.
    fn str(&self, segment: &SegmentReader, field: &str) -> tantivy::Result<Option<StrColumn>> {
        if let Some(column) = self
            .lock()
            .get(&segment.segment_id())
            .and_then(|columns| columns.strs.get(field).cloned())
        {
            return Ok(column);
        }
        let column = segment.fast_fields().str(field)?;
        self.lock()
            .entry(segment.segment_id())
            .or_default()
            .strs
            .insert(field.to_string(), column.clone());
        Ok(column)
    }

    /// Keeps the columns of `searcher`'s segments only.
    fn retain(&self, searcher: &Searcher) {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .collect();
        self.lock().retain(|segment, _| live.contains(segment));
    }
}

/// The first `limit` hits by time (newest or oldest first; ties by address, exactly as
/// tantivy's `TopDocs` ranks them), times read from the cached column, a block of hits at a
/// time.
///
/// Not `TopDocs`: it reserves room for twice its limit in every segment before the first
/// hit, and a trace asks for up to 20 001 events in each of its ~100 lookups, most of which
/// find a few hundred: 640 KB per segment and lookup (51 MB per lookup over the 80 segments
/// of a 50 M-event store). This one grows with the hits: a process tracing three
/// identities at 50 M peaked at 1.20 GB of RSS instead of 1.28 GB; trace times unchanged.
struct TopByTime {
    limit: usize,
    columns: Arc<ColumnCache>,
    order: tantivy::Order,
}

/// Times of hits as ranked: the i64 mapped monotonically onto u64 (sign bit flipped),
/// reversed for oldest first, so that the largest key ranks first either way.
fn time_key(time: i64, desc: bool) -> u64 {
    let value = (time as u64) ^ (1 << 63);
    if desc {
        value
    } else {
        u64::MAX - value
    }
}

/// The rank of a hit: key descending, address ascending.
fn rank<D: Copy>(hit: &(u64, D)) -> (std::cmp::Reverse<u64>, D) {
    (std::cmp::Reverse(hit.0), hit.1)
}

/// Keeps the first `limit` of `hits` by [`rank`], in no particular order.
fn keep_first<D: Ord + Copy>(hits: &mut Vec<(u64, D)>, limit: usize) {
    if hits.len() > limit && limit > 0 {
        hits.select_nth_unstable_by_key(limit - 1, rank);
    }
    hits.truncate(limit);
}

impl Collector for TopByTime {
    type Fruit = Vec<(u64, DocAddress)>;
    type Child = TopByTimeSegment;

    fn for_segment(
        &self,
        segment_ord: tantivy::SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<TopByTimeSegment> {
        let desc = self.order.is_desc();
        let column = self.columns.time(segment)?;
        Ok(TopByTimeSegment {
            // A document without a value in the column ranks last either way (undated
            // events hold NO_TIME: last newest first, first oldest first).
            values: column.first_or_default_col(if desc { i64::MIN } else { i64::MAX }),
            desc,
            limit: self.limit,
            segment_ord,
            hits: Vec::new(),
            times: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut hits: Vec<(u64, DocAddress)> = fruits.into_iter().flatten().collect();
        keep_first(&mut hits, self.limit);
        hits.sort_unstable_by_key(rank);
        Ok(hits)
    }
}

struct TopByTimeSegment {
    values: Arc<dyn tantivy::columnar::ColumnValues<i64>>,
    desc: bool,
    limit: usize,
    segment_ord: tantivy::SegmentOrdinal,
    /// Hits so far with their keys, unordered; cut back to the first `limit` whenever they
    /// reach twice that (ordered once, when the segments' hits are merged).
    hits: Vec<(u64, DocId)>,
    /// A block's times (kept between blocks).
    times: Vec<i64>,
}

impl TopByTimeSegment {
    fn push(&mut self, key: u64, doc: DocId) {
        self.hits.push((key, doc));
        if self.hits.len() >= self.limit.saturating_mul(2).max(1) {
            keep_first(&mut self.hits, self.limit);
        }
    }
}

impl SegmentCollector for TopByTimeSegment {
    type Fruit = Vec<(u64, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        let key = time_key(self.values.get_val(doc), self.desc);
        self.push(key, doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let mut times = std::mem::take(&mut self.times);
        times.clear();
        times.resize(docs.len(), 0);
        self.values.get_vals(docs, &mut times);
        for (&doc, &time) in docs.iter().zip(&times) {
            self.push(time_key(time, self.desc), doc);
        }
        self.times = times;
    }

    fn harvest(mut self) -> Self::Fruit {
        keep_first(&mut self.hits, self.limit);
        let segment_ord = self.segment_ord;
        self.hits
            .into_iter()
            .map(|(key, doc)| (key, DocAddress::new(segment_ord, doc)))
            .collect()
    }
}

/// Decoded events kept by [`TantivyStore`]: a trace meets the same events again and again
/// (every round, every worker-node window of a busy identity), and decoding one (doc store
/// block + JSON) costs far more than cloning it. Segments are immutable, so a
/// (segment, document) key never goes stale. Bounded: when full, a new event takes the place
/// of the one asked for longest ago (see [`crate::event_cache`]).
///
/// 65 536 events, about 2 KB each once decoded: ~130 MB at most, in a process that answers
/// many traces (`serve`, `bench trace`); one `trace` process holds only its own answer's.
/// With 32 768, four busy identities traced in turn at 10 M (~8 000 distinct events each,
/// after other questions had filled the cache) emptied it during their rounds, and every
/// round after was partly cold: `bench trace` p95 176–179 ms against 72–78 ms, addresses
/// (16 000–20 000 events each) p50 274 ms against 64–104 ms; the process's peak RSS
/// 880–893 MB against 952–957 MB. A first trace is as cold either way.
const EVENT_CACHE_CAPACITY: usize = 65_536;

/// Decoded events by where they are stored, shared with the answers that hold them: an
/// `Event` is ~800 bytes in a dozen allocations, and a trace that copied each event it
/// fetched spent a sixth of a warm address trace cloning them (and more in the allocator
/// and the kernel zeroing fresh pages for the copies).
struct EventCache {
    events: LruCache<(SegmentId, DocId), Arc<Event>>,
    hits: u64,
    misses: u64,
}

impl Default for EventCache {
    fn default() -> Self {
        EventCache {
            events: LruCache::new(EVENT_CACHE_CAPACITY),
            hits: 0,
            misses: 0,
        }
    }
}

/// The tantivy store in a data directory.
pub struct TantivyStore {
    directory: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    cache: Mutex<EventCache>,
    columns: Arc<ColumnCache>,
}

impl TantivyStore {
    /// Opens the store under `data_dir` (creating it when absent).
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let directory = data_dir.join("index");
        std::fs::create_dir_all(&directory).map_err(|source| Error::Io {
            path: directory.clone(),
            source,
        })?;
        let (current, fields) = schema(true);
        let mmap = MmapDirectory::open(&directory).map_err(|error| Error::Open {
            path: directory.clone(),
            message: error.to_string(),
        })?;
        let index = if Index::exists(&mmap).map_err(|error| Error::Open {
            path: directory.clone(),
            message: error.to_string(),
        })? {
            let index = Index::open(mmap).map_err(|error| Error::Open {
                path: directory.clone(),
                message: error.to_string(),
            })?;
            if index.schema() != current {
                let (before_hourly, older_fields) = schema(false);
                if index.schema() == before_hourly {
                    // Written before the hourly terms: written and searched without them.
                    return Self::with_index(directory, index, older_fields);
                }
                return Err(Error::Open {
                    path: directory,
                    message: "the index was written by an incompatible version of tokentrail (schema differs); re-ingest into a new data directory".into(),
                });
            }
            index
        } else {
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor {
                    compression_level: Some(DOCSTORE_ZSTD_LEVEL),
                }),
                docstore_blocksize: DOCSTORE_BLOCK_BYTES,
                ..IndexSettings::default()
            };
            Index::builder()
                .schema(current)
                .settings(settings)
                .open_or_create(mmap)
                .map_err(|error| Error::Open {
                    path: directory.clone(),
                    message: error.to_string(),
                })?
        };
        Self::with_index(directory, index, fields)
    }

    fn with_index(directory: PathBuf, index: Index, fields: Fields) -> Result<Self, Error> {
        index
            .tokenizers()
            .register(WORDS_TOKENIZER, words_analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOCSTORE_CACHE_BLOCKS)
            .try_into()
            .map_err(|error| lock_error(error, &directory))?;
        Ok(TantivyStore {
            directory,
            index,
            reader,
            fields,
            cache: Mutex::new(EventCache::default()),
            columns: Arc::default(),
        })
    }

    /// The index directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Sees the latest commit (of this or another process).
    pub fn reload(&self) -> Result<(), Error> {
        self.reader.reload()?;
        self.columns.retain(&self.reader.searcher());
        Ok(())
    }

    /// Opens the single writer of this store. A second writer (another process ingesting
    /// into the same data directory) is refused with [`Error::Busy`].
    pub fn writer(&self, memory_budget: usize) -> Result<TantivySink, Error> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let budget = memory_budget.max((threads * 16) << 20);
        let writer = open_writer(&self.index, &self.directory, threads, budget)?;
        writer.set_merge_policy(Box::new(BoundedMergePolicy::default()));
        self.reader.reload()?;
        let current = match committed_checkpoints(&self.index)? {
            Committed::File { name, .. } => Some(name),
            Committed::Inline(_) => None,
        };
        Ok(TantivySink {
            writer,
            reader: self.reader.clone(),
            fields: self.fields.clone(),
            uncommitted: 0,
            pending: Vec::new(),
            locality: Locality::default(),
            checkpoint_files: CheckpointFiles {
                directory: self.directory.clone(),
                current,
                previous: None,
                pending: None,
            },
        })
    }

    /// The terms of `parts` when every part is an exact match on a key field (not `id`,
    /// whose terms are keys to compare with the stored id).
    fn key_terms(&self, parts: &[Query]) -> Result<Option<Vec<Term>>, Error> {
        let mut terms = Vec::with_capacity(parts.len());
        for part in parts {
            let Query::Term { field, value } = part else {
                return Ok(None);
            };
            if field == "id" {
                return Ok(None);
            }
            terms.push(self.key_term(field, value)?);
        }
        Ok(Some(terms))
    }

    /// The indexed term of an exact match on a key field (cut as indexing cuts it).
    fn key_term(&self, field: &str, value: &str) -> Result<Term, Error> {
        let handle = self
            .fields
            .key(field)
            .ok_or_else(|| Error::UnknownField(field.to_string()))?;
        Ok(Term::from_field_text(handle, cut(value)))
    }

    /// The tantivy query of what is left of a search after its column filters (see
    /// [`split_column_filters`]), whose time range is `time`: within a range of at most
    /// [`MAX_HOURLY_SPAN`] hours, its exact matches on [`HOURLY_FIELDS`] read the hourly
    /// terms of the hours in range (the range itself is still checked on the hits).
    fn build_filtered_query(
        &self,
        query: &Query,
        time: Option<(Option<i64>, Option<i64>)>,
    ) -> Result<Box<dyn TantivyQuery>, Error> {
        let hours = match (self.fields.hourly, time) {
            (Some(_), Some((Some(from), Some(to))))
                if to
                    .checked_sub(from)
                    .is_some_and(|span| (1..=MAX_HOURLY_SPAN * HOUR_MS).contains(&span)) =>
            {
                Some((hour_of(from), hour_of(to - 1)))
            }
            _ => None,
        };
        match (hours, query) {
            (Some(hours), Query::And(parts)) => {
                self.and_query(parts, |part| match self.hourly_terms(part, hours) {
                    Some(terms) => Ok(Box::new(KeyTermsQuery::new(terms))),
                    None => self.build_query(part),
                })
            }
            _ => self.build_query(query),
        }
    }

    /// The hourly terms of the hours `first..=last` for an exact match on one of
    /// [`HOURLY_FIELDS`], or an `Or` of such matches; `None` for any other condition.
    fn hourly_terms(&self, part: &Query, (first, last): (i64, i64)) -> Option<Vec<Term>> {
        let field = self.fields.hourly?;
        let parts = match part {
            Query::Or(parts) => parts.as_slice(),
            Query::Term { .. } => std::slice::from_ref(part),
            _ => return None,
        };
        let mut terms = Vec::new();
        for part in parts {
            let Query::Term { field: name, value } = part else {
                return None;
            };
            // An empty value has no hourly term (nor a plain one).
            let tag = hourly_tag(name).filter(|_| !value.is_empty())?;
            terms.extend(
                (first..=last)
                    .map(|hour| Term::from_field_text(field, &hourly_term(tag, hour, value))),
            );
        }
        (!terms.is_empty()).then_some(terms)
    }

    /// All of `parts`, each built by `build` (negations excluded from what the rest selects).
    fn and_query(
        &self,
        parts: &[Query],
        build: impl Fn(&Query) -> Result<Box<dyn TantivyQuery>, Error>,
    ) -> Result<Box<dyn TantivyQuery>, Error> {
        let mut clauses = Vec::new();
        let mut positive = false;
        for part in parts {
            match part {
                Query::Not(inner) => clauses.push((Occur::MustNot, self.build_query(inner)?)),
                other => {
                    positive = true;
                    clauses.push((Occur::Must, build(other)?));
                }
            }
        }
        if !positive {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn build_query(&self, query: &Query) -> Result<Box<dyn TantivyQuery>, Error> {
        let fields = &self.fields;
        Ok(match query {
            Query::All => Box::new(AllQuery),
            Query::Term { field, value } if field.as_str() == "id" => Box::new(TermQuery::new(
                Term::from_field_u64(fields.id, id_key(value)),
                IndexRecordOption::Basic,
            )),
            Query::Prefix { field, .. } if field.as_str() == "id" => {
                return Err(Error::BadQuery(
                    "id: takes a whole event id, not a prefix".into(),
                ))
            }
            Query::Term { field, value } => Box::new(TermQuery::new(
                self.key_term(field, value)?,
                IndexRecordOption::Basic,
            )),
            Query::Prefix { field, value } => {
                let handle = fields
                    .key(field)
                    .ok_or_else(|| Error::UnknownField(field.clone()))?;
                let pattern = format!("{}.*", regex_escape(cut(value)));
                Box::new(
                    RegexQuery::from_pattern(&pattern, handle)
                        .map_err(|error| Error::BadQuery(error.to_string()))?,
                )
            }
            Query::Text(text) => {
                let mut analyzer = self.index.tokenizer_for_field(fields.text)?;
                let mut stream = analyzer.token_stream(text);
                let mut terms = Vec::new();
                while stream.advance() {
                    terms.push(stream.token().text.clone());
                }
                match terms.len() {
                    0 => Box::new(EmptyQuery),
                    1 => Box::new(TermQuery::new(
                        Term::from_field_text(fields.text, &terms[0]),
                        IndexRecordOption::Basic,
                    )),
                    _ => Box::new(BooleanQuery::new(
                        terms
                            .iter()
                            .map(|term| {
                                let query: Box<dyn TantivyQuery> = Box::new(TermQuery::new(
                                    Term::from_field_text(fields.text, term),
                                    IndexRecordOption::Basic,
                                ));
                                (Occur::Must, query)
                            })
                            .collect(),
                    )),
                }
            }
            Query::And(parts) => self.and_query(parts, |part| self.build_query(part))?,
            Query::Or(parts) => {
                let terms = if parts.len() >= TERM_SET_MIN {
                    self.key_terms(parts)?
                } else {
                    None
                };
                match terms {
                    Some(terms) => Box::new(KeyTermsQuery::new(terms)),
                    None => Box::new(BooleanQuery::new(
                        parts
                            .iter()
                            .map(|part| Ok((Occur::Should, self.build_query(part)?)))
                            .collect::<Result<Vec<_>, Error>>()?,
                    )),
                }
            }
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn TantivyQuery>),
                (Occur::MustNot, self.build_query(inner)?),
            ])),
            Query::OnHits(inner) => self.build_query(inner)?,
            Query::EmptyOrOneOf { .. } => {
                return Err(Error::BadQuery(
                    "an empty-or-one-of condition must be a part of the top-level AND".into(),
                ))
            }
            Query::TimeRange { from, to } => {
                // A time window holds dated events only: undated ones carry NO_TIME.
                let lower = match from {
                    Some(from) => Bound::Included(Term::from_field_i64(fields.time, from.millis())),
                    None => Bound::Excluded(Term::from_field_i64(fields.time, NO_TIME)),
                };
                let upper = match to {
                    Some(to) => Bound::Excluded(Term::from_field_i64(fields.time, to.millis())),
                    None => Bound::Unbounded,
                };
                Box::new(RangeQuery::new(lower, upper))
            }
        })
    }

    /// The stored events at `addresses`, in that order. Read in storage order (consecutive
    /// documents share a doc store block, which tantivy keeps decompressed in its cache) and
    /// through the decoded-event cache.
    fn fetch(
        &self,
        searcher: &Searcher,
        addresses: &[DocAddress],
    ) -> Result<Vec<Arc<Event>>, Error> {
        let mut by_storage: Vec<usize> = (0..addresses.len()).collect();
        by_storage.sort_unstable_by_key(|&index| addresses[index]);
        let mut fetched: Vec<Option<Arc<Event>>> = Vec::with_capacity(addresses.len());
        fetched.resize_with(addresses.len(), || None);
        let mut guard = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let cache = &mut *guard;
        let mut streams = StreamColumns::default();
        for index in by_storage {
            let address = addresses[index];
            let key = (
                searcher.segment_reader(address.segment_ord).segment_id(),
                address.doc_id,
            );
            if let Some(event) = cache.events.get(&key) {
                cache.hits += 1;
                fetched[index] = Some(Arc::clone(event));
                continue;
            }
            cache.misses += 1;
            let event = Arc::new(read_stored(
                searcher,
                self.fields.doc,
                address,
                &mut streams,
            )?);
            cache.events.insert(key, Arc::clone(&event));
            fetched[index] = Some(event);
        }
        tracing::trace!(hits = cache.hits, misses = cache.misses, "event cache");
        Ok(fetched.into_iter().flatten().collect())
    }
}

impl crate::store::Backend for TantivyStore {
    fn open_sink(&self, memory_budget: usize) -> Result<Box<dyn EventSink>, Error> {
        Ok(Box::new(self.writer(memory_budget)?))
    }

    fn refresh(&self) -> Result<(), Error> {
        self.reload()
    }

    fn remove_before(&self, cutoff: tokentrail_parsers::Timestamp) -> Result<(), Error> {
        let mut writer = self.writer(16 << 20)?;
        self.reload()?;
        writer.delete_before(cutoff, &EventStore::checkpoints(self)?)?;
        drop(writer);
        self.reload()
    }

    fn disk_bytes(&self) -> Option<u64> {
        Some(crate::retention::directory_size(self.directory()))
    }
}

/// The stored event at `address`, its id computed again when the stored form left it out
/// (see [`crate::stored`]).
fn read_stored(
    searcher: &Searcher,
    doc: Field,
    address: DocAddress,
    streams: &mut StreamColumns,
) -> Result<Event, Error> {
    let document: TantivyDocument = searcher.doc(address)?;
    let json = document
        .get_first(doc)
        .and_then(|value| value.as_str())
        .ok_or_else(|| Error::Corrupt("stored document without its event".into()))?;
    let mut event: Event =
        serde_json::from_str(json).map_err(|error| Error::Corrupt(error.to_string()))?;
    if event.id.is_empty() {
        let fingerprint = streams.fingerprint(searcher, address)?.ok_or_else(|| {
            Error::Corrupt("stored event with neither its id nor its stream".into())
        })?;
        event.id = stored::implicit_id(fingerprint, &event.origin);
    }
    Ok(event)
}

/// The `stream` column of each segment, opened when first needed, and the fingerprint read
/// last (events read in storage order mostly come from one stream after another).
#[derive(Default)]
struct StreamColumns {
    columns: HashMap<u32, Option<StrColumn>>,
    last: Option<(u32, u64)>,
    fingerprint: String,
}

impl StreamColumns {
    fn fingerprint(
        &mut self,
        searcher: &Searcher,
        address: DocAddress,
    ) -> Result<Option<&str>, Error> {
        let segment = address.segment_ord;
        let column = match self.columns.entry(segment) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                searcher
                    .segment_reader(segment)
                    .fast_fields()
                    .str("stream")?,
            ),
        };
        let Some(column) = column else {
            return Ok(None);
        };
        let Some(ord) = column.term_ords(address.doc_id).next() else {
            return Ok(None);
        };
        if self.last != Some((segment, ord)) {
            self.last = None;
            self.fingerprint.clear();
            let found = column
                .ord_to_str(ord, &mut self.fingerprint)
                .map_err(|error| Error::Corrupt(format!("stream column: {error}")))?;
            if !found {
                return Ok(None);
            }
            self.last = Some((segment, ord));
        }
        Ok(Some(&self.fingerprint))
    }
}

/// The checkpoint files of a writer. Checkpoints name every input file ingest has read (61 400
/// at 10 M simulated events: 9.8 MB of JSON); kept in the commit payload they made
/// `meta.json` that large, and tantivy parses `meta.json` twice to open an index and again
/// on every reload: 0.1 s of every CLI command on that store, 3/4 of a token's trace as a
/// process. The payload now holds `{"checkpoints_file": NAME, "sha256": HEX}`; the file is
/// written (and synced) before the commit that names it, so a commit never names a file
/// that is not whole. Files are named by their content hash; the writer removes those of
/// older commits, keeping the previous one for readers that loaded it a moment ago.
struct CheckpointFiles {
    directory: PathBuf,
    /// Named by the last commit.
    current: Option<String>,
    /// Named by the commit before it.
    previous: Option<String>,
    /// Written for the commit under way.
    pending: Option<String>,
}

const CHECKPOINT_PREFIX: &str = "checkpoints-";

impl CheckpointFiles {
    /// Writes `checkpoints` to their file (unless it exists) and returns the payload naming it.
    fn write(&mut self, checkpoints: &Checkpoints) -> Result<String, Error> {
        use sha2::{Digest, Sha256};
        let json =
            serde_json::to_vec(checkpoints).map_err(|error| Error::Corrupt(error.to_string()))?;
        let sha256 = hex(&Sha256::digest(&json));
        let name = format!("{CHECKPOINT_PREFIX}{}.json", &sha256[..32]);
        let path = self.directory.join(&name);
        let io = |source: std::io::Error| Error::Io {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            let partial = self.directory.join(format!("{name}.partial"));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // Readable by the owner only, as tantivy writes `meta.json` (they name the logs).
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&partial).map_err(io)?;
            std::io::Write::write_all(&mut file, &json).map_err(io)?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&partial, &path).map_err(io)?;
        }
        self.pending = Some(name.clone());
        Ok(serde_json::json!({ "checkpoints_file": name, "sha256": sha256 }).to_string())
    }

    /// The commit naming the pending file is done: files of older commits go.
    fn committed(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if self.current.as_deref() != Some(pending.as_str()) {
            self.previous = self.current.replace(pending);
        }
        let keep = [self.current.as_deref(), self.previous.as_deref()];
        let Ok(entries) = std::fs::read_dir(&self.directory) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.starts_with(CHECKPOINT_PREFIX) && !keep.contains(&Some(name)) {
                // Best effort: a file left behind costs space, never correctness.
                if let Err(error) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = name, %error, "could not remove an old checkpoint file");
                }
            }
        }
    }
}

/// What the last commit says of the checkpoints: the file that holds them, or (a store written
/// before checkpoint files, or none committed yet) the checkpoints themselves. `meta.json` is
/// read and its payload parsed once.
enum Committed {
    File { name: String, sha256: String },
    Inline(Checkpoints),
}

fn committed_checkpoints(index: &Index) -> Result<Committed, Error> {
    #[derive(serde::Deserialize)]
    struct Reference {
        checkpoints_file: String,
        sha256: String,
    }
    let payload = index.load_metas()?.payload.unwrap_or_default();
    if payload.is_empty() {
        return Ok(Committed::Inline(Checkpoints::default()));
    }
    let corrupt = |error: serde_json::Error| Error::Corrupt(format!("commit payload: {error}"));
    let value: serde_json::Value = serde_json::from_str(&payload).map_err(corrupt)?;
    if value.get("checkpoints_file").is_none() {
        return Ok(Committed::Inline(
            serde_json::from_value(value).map_err(corrupt)?,
        ));
    }
    let reference: Reference = serde_json::from_value(value).map_err(corrupt)?;
    let plain = reference.checkpoints_file.starts_with(CHECKPOINT_PREFIX)
        && !reference.checkpoints_file.contains(['/', '\\']);
    if !plain {
        return Err(Error::Corrupt(format!(
            "commit payload names {:?}, not a checkpoint file",
            reference.checkpoints_file
        )));
    }
    Ok(Committed::File {
        name: reference.checkpoints_file,
        sha256: reference.sha256,
    })
}

fn read_checkpoint_file(directory: &Path, name: &str, sha256: &str) -> Result<Checkpoints, Error> {
    use sha2::{Digest, Sha256};
    let path = directory.join(name);
    let json = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    if hex(&Sha256::digest(&json)) != sha256 {
        return Err(Error::Corrupt(format!(
            "{} does not hold the checkpoints its commit names (SHA-256 differs)",
            path.display()
        )));
    }
    serde_json::from_slice(&json)
        .map_err(|error| Error::Corrupt(format!("{}: {error}", path.display())))
}

/// The index's single writer, with `threads` indexing threads sharing `budget` bytes.
fn open_writer(
    index: &Index,
    directory: &Path,
    threads: usize,
    budget: usize,
) -> Result<IndexWriter, Error> {
    // The lock is a flock on a file: a writer this process just dropped can still hold it
    // for a moment through a child that was being spawned (fork before exec shares the
    // descriptor). A short retry keeps that from reading as "another process is writing".
    let mut attempts = 0;
    loop {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(budget / threads)
            .num_merge_threads(MERGE_THREADS)
            .build();
        match index.writer_with_options::<TantivyDocument>(options) {
            Ok(writer) => return Ok(writer),
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) if attempts < 20 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(error) => return Err(lock_error(error, directory)),
        }
    }
}

/// A lock tantivy could not take, said plainly: another writer, or a directory we cannot write.
fn lock_error(error: TantivyError, directory: &Path) -> Error {
    match error {
        TantivyError::LockFailure(LockError::LockBusy, _) => Error::Busy(directory.to_path_buf()),
        TantivyError::LockFailure(LockError::IoError(io), _)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            Error::ReadOnly(directory.to_path_buf())
        }
        other => Error::Tantivy(other),
    }
}

/// Escapes a literal for tantivy's regex syntax.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Fields a [`Query::EmptyOrOneOf`] may name (fast columns of this schema).
const COLUMN_FILTER_FIELDS: &[&str] = &["sub", "jti"];

/// Low-cardinality fast fields whose exact or prefix matches, marked [`Query::OnHits`] beside
/// a condition that selects, are checked on the hits from the column: as a query,
/// `action:file.*` would walk the postings of every file operation of the store. (Not
/// unmarked: beside a busy identity, `action:account.disable` selects far better as a query.)
const COLUMN_MATCH_FIELDS: &[&str] = &["action", "outcome", "source", "service"];

/// A [`Query::EmptyOrOneOf`] (or its negation), or matches of one field, applied to hits from
/// the field's column.
struct ColumnFilter {
    field: String,
    /// Values as indexed (cut to [`MAX_TERM_BYTES`]).
    values: HashSet<String>,
    /// Values starting with one of these pass too (as indexed).
    prefixes: Vec<String>,
    /// Whether an event without the field passes (before `negated`).
    empty: bool,
    /// `Not(EmptyOrOneOf)`: keep events holding a value outside `values`.
    negated: bool,
}

impl ColumnFilter {
    /// `part`, an [`Query::OnHits`], as a filter of `COLUMN_MATCH_FIELDS`: a term, a prefix,
    /// or an `Or` of those on one field.
    fn matching(part: &Query) -> Option<ColumnFilter> {
        let Query::OnHits(part) = part else {
            return None;
        };
        let part = &**part;
        let alternatives = match part {
            Query::Or(parts) if !parts.is_empty() => parts.as_slice(),
            Query::Term { .. } | Query::Prefix { .. } => std::slice::from_ref(part),
            _ => return None,
        };
        let mut filter = ColumnFilter {
            field: String::new(),
            values: HashSet::new(),
            prefixes: Vec::new(),
            empty: false,
            negated: false,
        };
        for alternative in alternatives {
            let (field, value, prefix) = match alternative {
                Query::Term { field, value } => (field, value, false),
                Query::Prefix { field, value } => (field, value, true),
                _ => return None,
            };
            if !COLUMN_MATCH_FIELDS.contains(&field.as_str())
                || (!filter.field.is_empty() && filter.field != *field)
            {
                return None;
            }
            filter.field.clone_from(field);
            if prefix {
                filter.prefixes.push(cut(value).to_string());
            } else {
                filter.values.insert(cut(value).to_string());
            }
        }
        Some(filter)
    }

    /// Whether a value (`None`: the event has none) passes.
    fn passes(&self, value: Option<&str>) -> bool {
        let held = match value {
            None => self.empty,
            Some(value) => {
                self.values.contains(value)
                    || self.prefixes.iter().any(|prefix| value.starts_with(prefix))
            }
        };
        held != self.negated
    }
}

/// Conditions taken out of a query and applied to its hits from fast columns, before any
/// event is fetched.
#[derive(Default)]
struct HitFilters {
    columns: Vec<ColumnFilter>,
    /// A time range (`from` included, `to` excluded; dated events only).
    time: Option<(Option<i64>, Option<i64>)>,
}

impl HitFilters {
    fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.time.is_none()
    }

    /// Refuses `EmptyOrOneOf` conditions on fields without a column (matches are taken on
    /// such fields only).
    fn check(&self) -> Result<(), Error> {
        for filter in self.columns.iter().filter(|filter| filter.empty) {
            if !COLUMN_FILTER_FIELDS.contains(&filter.field.as_str()) {
                return Err(Error::BadQuery(format!(
                    "an empty-or-one-of condition works on {} only, not {:?}",
                    COLUMN_FILTER_FIELDS.join(" and "),
                    filter.field
                )));
            }
        }
        Ok(())
    }
}

/// The top-level `EmptyOrOneOf` conditions of `query` and, when the query has other
/// conditions, its top-level time range, taken out of it (the rest is run as a tantivy
/// query; these filter its hits from the columns before any event is fetched).
///
/// Beside other conditions, a [`Query::OnHits`] term or prefix (or an `Or` of them) on one of
/// [`COLUMN_MATCH_FIELDS`] is taken out too.
///
/// A time range run as a tantivy query walks the whole `time` column of every segment for
/// each query (tantivy 0.25's fast-field range), whatever the other conditions select; a
/// lookup by key selects a few thousand events of millions, so checking the time of those
/// hits only is far cheaper. A query of a time range alone keeps it as a query.
fn split_column_filters(query: &Query) -> Result<(Query, Arc<HitFilters>), Error> {
    let filter = |part: &Query| -> Option<ColumnFilter> {
        let (inner, negated) = match part {
            Query::Not(inner) => (&**inner, true),
            other => (other, false),
        };
        match inner {
            Query::EmptyOrOneOf { field, values } => Some(ColumnFilter {
                field: field.clone(),
                values: values.iter().map(|value| cut(value).to_string()).collect(),
                prefixes: Vec::new(),
                empty: true,
                negated,
            }),
            _ => None,
        }
    };
    if let Some(only) = filter(query) {
        return Ok((
            Query::All,
            Arc::new(HitFilters {
                columns: vec![only],
                time: None,
            }),
        ));
    }
    let Query::And(parts) = query else {
        return Ok((query.clone(), Arc::new(HitFilters::default())));
    };
    let mut rest = Vec::new();
    let mut filters = HitFilters::default();
    // Every top-level time range, and their intersection (`from` included, `to` excluded).
    let mut time_parts = Vec::new();
    let (mut from, mut to) = (None, None);
    // Matches of low-cardinality fields: filters when something else selects.
    let mut matches = Vec::new();
    for part in parts {
        if let Some(found) = filter(part) {
            filters.columns.push(found);
            continue;
        }
        if let Some(found) = ColumnFilter::matching(part) {
            matches.push((part.clone(), found));
            continue;
        }
        match part {
            Query::TimeRange { from: f, to: t } => {
                from = from.max(f.map(|f| f.millis()));
                to = [to, t.map(|t| t.millis())].into_iter().flatten().min();
                time_parts.push(part.clone());
            }
            _ => rest.push(part.clone()),
        }
    }
    // A negation alone selects nothing (it would walk every event).
    let selects = rest
        .iter()
        .any(|part| !matches!(part, Query::Not(_) | Query::All));
    if !selects {
        rest.extend(matches.into_iter().map(|(part, _)| part));
    } else {
        filters
            .columns
            .extend(matches.into_iter().map(|(_, filter)| filter));
    }
    if rest.is_empty() {
        // Nothing else selects: the time ranges stay the query.
        rest = time_parts;
    } else if !time_parts.is_empty() {
        filters.time = Some((from, to));
    }
    let rest = if rest.is_empty() {
        Query::All
    } else {
        Query::And(rest)
    };
    Ok((rest, Arc::new(filters)))
}

/// Runs `inner` on the hits that pass every column filter.
struct ColumnFiltered<C> {
    inner: C,
    filters: Arc<HitFilters>,
    columns: Arc<ColumnCache>,
}

struct ColumnFilteredSegment<S> {
    inner: S,
    filters: Arc<HitFilters>,
    /// Per column filter: the segment's column (`None`: no event of the segment has the field).
    columns: Vec<Option<StrColumn>>,
    /// Per column filter: what each term ordinal of the segment's column gave, by ordinal
    /// ([`ORD_UNKNOWN`] until first met).
    passes: Vec<OrdVerdicts>,
    /// The segment's `time` column, when the filters hold a time range.
    time: Option<Column<i64>>,
    text: String,
    /// A block's times and the docs of a block that pass (buffers kept between blocks).
    block_times: Vec<Option<i64>>,
    block_kept: Vec<DocId>,
}

const ORD_UNKNOWN: u8 = 0;
const ORD_PASSES: u8 = 1;
const ORD_FAILS: u8 = 2;

/// A column filter's verdict per term ordinal of one segment's column: a byte per ordinal
/// when the dictionary is small enough (a lookup by index; every hit of a trace's lookups
/// asks), a map otherwise.
enum OrdVerdicts {
    Dense(Vec<u8>),
    Sparse(HashMap<u64, bool>),
}

/// Dictionaries up to this many terms get a byte per ordinal (at most 1 MiB per filter and
/// segment, for the span of one search).
const DENSE_ORDS: u64 = 1 << 20;

impl OrdVerdicts {
    fn for_column(column: Option<&StrColumn>) -> Self {
        match column.map(|column| column.num_terms() as u64) {
            Some(terms) if terms <= DENSE_ORDS => {
                OrdVerdicts::Dense(vec![ORD_UNKNOWN; terms as usize])
            }
            Some(_) => OrdVerdicts::Sparse(HashMap::new()),
            None => OrdVerdicts::Dense(Vec::new()),
        }
    }

    fn get(&self, ord: u64) -> Option<bool> {
        match self {
            OrdVerdicts::Dense(verdicts) => match verdicts.get(ord as usize) {
                Some(&ORD_PASSES) => Some(true),
                Some(&ORD_FAILS) => Some(false),
                _ => None,
            },
            OrdVerdicts::Sparse(verdicts) => verdicts.get(&ord).copied(),
        }
    }

    fn set(&mut self, ord: u64, pass: bool) {
        match self {
            OrdVerdicts::Dense(verdicts) => {
                if let Some(slot) = verdicts.get_mut(ord as usize) {
                    *slot = if pass { ORD_PASSES } else { ORD_FAILS };
                }
            }
            OrdVerdicts::Sparse(verdicts) => {
                verdicts.insert(ord, pass);
            }
        }
    }
}

impl<C: Collector> Collector for ColumnFiltered<C> {
    type Fruit = C::Fruit;
    type Child = ColumnFilteredSegment<C::Child>;

    fn for_segment(
        &self,
        segment_local_id: tantivy::SegmentOrdinal,
        segment: &tantivy::SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let columns = self
            .filters
            .columns
            .iter()
            .map(|filter| self.columns.str(segment, &filter.field))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let time = match self.filters.time {
            Some(_) => Some(self.columns.time(segment)?),
            None => None,
        };
        Ok(ColumnFilteredSegment {
            inner: self.inner.for_segment(segment_local_id, segment)?,
            passes: columns
                .iter()
                .map(|column| OrdVerdicts::for_column(column.as_ref()))
                .collect(),
            filters: self.filters.clone(),
            columns,
            time,
            text: String::new(),
            block_times: Vec::new(),
            block_kept: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(
        &self,
        fruits: Vec<<Self::Child as SegmentCollector>::Fruit>,
    ) -> tantivy::Result<Self::Fruit> {
        self.inner.merge_fruits(fruits)
    }
}

impl<S: SegmentCollector> ColumnFilteredSegment<S> {
    /// Whether a hit's time (`None`: the segment has no time for it) is in the filters' range.
    fn time_passes(&self, time: Option<i64>) -> bool {
        let Some((from, to)) = self.filters.time else {
            return true;
        };
        // Undated events carry NO_TIME and are in no time range.
        let Some(time) = time.filter(|&time| time != NO_TIME) else {
            return false;
        };
        !(from.is_some_and(|from| time < from) || to.is_some_and(|to| time >= to))
    }

    fn passes(&mut self, doc: DocId) -> bool {
        if let (Some(_), Some(column)) = (self.filters.time, &self.time) {
            if !self.time_passes(column.first(doc)) {
                return false;
            }
        }
        self.columns_pass(doc)
    }

    fn columns_pass(&mut self, doc: DocId) -> bool {
        for (index, filter) in self.filters.columns.iter().enumerate() {
            let ord = self.columns[index]
                .as_ref()
                .and_then(|column| column.term_ords(doc).next());
            let pass = match ord {
                None => filter.passes(None),
                Some(ord) => match self.passes[index].get(ord) {
                    Some(pass) => pass,
                    None => {
                        self.text.clear();
                        let known = self.columns[index].as_ref().is_some_and(|column| {
                            column.ord_to_str(ord, &mut self.text).unwrap_or(false)
                        });
                        let pass = known && filter.passes(Some(&self.text));
                        self.passes[index].set(ord, pass);
                        pass
                    }
                },
            };
            if !pass {
                return false;
            }
        }
        true
    }
}

impl<S: SegmentCollector> SegmentCollector for ColumnFilteredSegment<S> {
    type Fruit = S::Fruit;

    fn collect(&mut self, doc: DocId, score: tantivy::Score) {
        if self.filters.is_empty() || self.passes(doc) {
            self.inner.collect(doc, score);
        }
    }

    /// A block of hits (tantivy hands them over so when nothing is scored): their times are
    /// read in one call, then the column filters run on those in range.
    fn collect_block(&mut self, docs: &[DocId]) {
        if self.filters.is_empty() {
            self.inner.collect_block(docs);
            return;
        }
        let mut kept = std::mem::take(&mut self.block_kept);
        let mut times = std::mem::take(&mut self.block_times);
        kept.clear();
        times.clear();
        let timed = match (self.filters.time, &self.time) {
            (Some(_), Some(column)) => {
                times.resize(docs.len(), None);
                column.first_vals(docs, &mut times);
                true
            }
            _ => false,
        };
        for (index, &doc) in docs.iter().enumerate() {
            if timed && !self.time_passes(times[index]) {
                continue;
            }
            if self.columns_pass(doc) {
                kept.push(doc);
            }
        }
        self.block_times = times;
        if !kept.is_empty() {
            self.inner.collect_block(&kept);
        }
        self.block_kept = kept;
    }

    fn harvest(self) -> Self::Fruit {
        self.inner.harvest()
    }
}

impl EventStore for TantivyStore {
    fn get(&self, id: &str) -> Result<Option<Event>, Error> {
        // Ids are indexed by a 64-bit key that two ids may share: keep the one asked for.
        let hits = self.search(&Query::term("id", id), 16, Order::NewestFirst)?;
        Ok(hits.events.into_iter().find(|event| event.id == id))
    }

    fn search(&self, query: &Query, limit: usize, order: Order) -> Result<Hits, Error> {
        let hits = self.search_shared(query, limit, order)?;
        Ok(Hits {
            events: hits.events.into_iter().map(Arc::unwrap_or_clone).collect(),
            total: hits.total,
        })
    }

    fn search_shared(
        &self,
        query: &Query,
        limit: usize,
        order: Order,
    ) -> Result<SharedHits, Error> {
        let searcher = self.reader.searcher();
        let (query, filters) = split_column_filters(query)?;
        filters.check()?;
        let tantivy_query = self.build_filtered_query(&query, filters.time)?;
        if limit == 0 {
            let total = searcher.search(
                &tantivy_query,
                &ColumnFiltered {
                    inner: Count,
                    filters,
                    columns: self.columns.clone(),
                },
            )?;
            return Ok(SharedHits {
                events: Vec::new(),
                total: total as u64,
            });
        }
        let direction = match order {
            Order::NewestFirst => tantivy::Order::Desc,
            Order::OldestFirst => tantivy::Order::Asc,
        };
        let collector = ColumnFiltered {
            inner: (
                TopByTime {
                    limit,
                    columns: self.columns.clone(),
                    order: direction,
                },
                Count,
            ),
            filters,
            columns: self.columns.clone(),
        };
        let (top, total) = searcher.search(&tantivy_query, &collector)?;
        let addresses: Vec<DocAddress> = top.into_iter().map(|(_, address)| address).collect();
        let events = self.fetch(&searcher, &addresses)?;
        Ok(SharedHits {
            events,
            total: total as u64,
        })
    }

    /// From the postings of each value, checking the rest of the query on them from the
    /// columns, and stopping at the first event that passes: no event is fetched. A query
    /// with conditions the columns cannot check is answered by searching.
    fn values_present(
        &self,
        field: &str,
        values: &[String],
        query: &Query,
    ) -> Result<HashSet<String>, Error> {
        let handle = self
            .fields
            .key(field)
            .ok_or_else(|| Error::UnknownField(field.to_string()))?;
        // A stand-in for the values: whatever else the columns can check is taken out.
        let probe = Query::term(field, "");
        let mut parts = vec![probe.clone()];
        parts.extend(query.and_parts());
        let (rest, filters) = split_column_filters(&Query::And(parts))?;
        if rest != Query::And(vec![probe]) {
            return crate::store::values_present_by_search(self, field, values, query);
        }
        filters.check()?;
        let searcher = self.reader.searcher();
        let collector = ColumnFiltered {
            inner: Count,
            filters,
            columns: self.columns.clone(),
        };
        let mut left: Vec<&String> = values.iter().collect::<HashSet<_>>().into_iter().collect();
        let mut present = HashSet::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            if left.is_empty() {
                break;
            }
            let mut check = collector.for_segment(ord as u32, segment)?;
            let inverted = segment.inverted_index(handle)?;
            let alive = segment.alive_bitset();
            let mut missing = Vec::with_capacity(left.len());
            for value in left {
                let term = Term::from_field_text(handle, cut(value));
                let mut found = false;
                if let Some(mut postings) = inverted
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(TantivyError::from)?
                {
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        if alive.is_none_or(|alive| alive.is_alive(doc)) && check.passes(doc) {
                            found = true;
                            break;
                        }
                        doc = postings.advance();
                    }
                }
                if found {
                    present.insert(value.clone());
                } else {
                    missing.push(value);
                }
            }
            left = missing;
        }
        Ok(present)
    }

    fn checkpoints(&self) -> Result<Checkpoints, Error> {
        // A writer keeps the file of the commit before its last one: a reader that loaded
        // the commit before that can lose the race, and reads the latest commit again.
        let mut attempts = 0;
        loop {
            let (name, sha256) = match committed_checkpoints(&self.index)? {
                Committed::File { name, sha256 } => (name, sha256),
                Committed::Inline(checkpoints) => return Ok(checkpoints),
            };
            match read_checkpoint_file(&self.directory, &name, &sha256) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempts < 3 =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }
}

/// The writer of a [`TantivyStore`].
pub struct TantivySink {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    uncommitted: u64,
    /// Documents not yet given to the writer, with their locality group (see [`Locality`]).
    pending: Vec<(u64, TantivyDocument)>,
    locality: Locality,
    checkpoint_files: CheckpointFiles,
}

/// Documents the sink holds and sorts by locality group before the writer gets them. 16 384
/// documents (the first size measured): peak RSS of ingest +43 MiB at 1 M events, +80 MB at 10 M; ingest CPU 1.10×
/// at 1 M (5 pairs, 0.89–1.69), 0.97× at 10 M (one run each); a busy identity's trace as a
/// whole process 0.68× at 1 M and 0.59× at 10 M. A larger batch groups a little better and
/// holds more memory (simulated on 300 000 events: blocks touched by one trace 468 in
/// arrival order, 148 with 8 192, 106 with 32 768). 32 768 against 16 384 at 10 M events:
/// ingest peak RSS 1 034 → 1 058 MB, CPU 751 s (the 16 384 run shared the machine), store
/// equal (1 545 vs 1 548 MB); a busy identity's trace as a process 0.88× (7 pairs,
/// 0.71–1.01), in-process p95 462 → 375 ms, few-event identities 265 → 153 ms.
const LOCALITY_BATCH: usize = 32_768;
/// Link values remembered across batches (see [`Locality`]); forgotten all at once when full.
const LOCALITY_LINKS: usize = 1 << 20;

/// Groups the events of one identity, so that they sit side by side in the doc store.
///
/// tantivy stores documents in the order they are added, in zstd blocks of
/// `DOCSTORE_BLOCK_BYTES`, and reading one event decompresses its whole block. Log files
/// interleave the whole site's users by time, so the events of one identity, added in file
/// order, land one per block: a trace of thousands of events decompressed thousands of
/// blocks, most of its time. The sink sorts each batch of documents by a group — the event's
/// `sub`; for an event without one, the `sub` last seen with one of its link values (`jti`,
/// session, transfer, job ids), so that a dCache billing line joins the access line of its
/// session; otherwise its client address or host — keeping the order of arrival within a
/// group. Only the storage order changes: answers are sorted by their own keys.
#[derive(Default)]
struct Locality {
    identity_of_link: HashMap<u64, u64>,
}

impl Locality {
    fn group(&mut self, event: &Event) -> u64 {
        let links = [
            ("jti", event.jti.as_str()),
            ("session_id", event.session_id.as_str()),
            ("transfer_id", event.transfer_id.as_str()),
            ("job_id", event.job_id.as_str()),
            ("batch_job_id", event.batch_job_id.as_str()),
        ];
        if !event.sub.is_empty() {
            let identity = hash_of("sub", &event.sub);
            if self.identity_of_link.len() >= LOCALITY_LINKS {
                self.identity_of_link.clear();
            }
            for (name, value) in links {
                if !value.is_empty() {
                    self.identity_of_link.insert(hash_of(name, value), identity);
                }
            }
            return identity;
        }
        for (name, value) in links {
            if !value.is_empty() {
                if let Some(identity) = self.identity_of_link.get(&hash_of(name, value)) {
                    return *identity;
                }
            }
        }
        if !event.client_ip.is_empty() {
            return hash_of("client_ip", &event.client_ip);
        }
        hash_of("host", &event.host)
    }
}

/// A 64-bit FNV-1a hash of a field name and value (groups only: a collision merely puts two
/// groups side by side).
fn hash_of(name: &str, value: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in name.bytes().chain([0]).chain(value.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl TantivySink {
    /// Events added since the last commit.
    pub fn uncommitted(&self) -> u64 {
        self.uncommitted
    }

    /// Gives the pending documents to the writer, each locality group together, in order of
    /// arrival within a group (a stable sort).
    fn flush(&mut self) -> Result<(), Error> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|(group, _)| *group);
        for (_, document) in pending.drain(..) {
            if let Err(error) = self.writer.add_document(document) {
                // An indexing thread failed (a full disk, most often) and the writer only
                // says it was killed; joining the threads gives their own error, which says
                // what happened.
                if let TantivyError::ErrorInThread(_) = error {
                    if let Err(cause) = self.writer.prepare_commit() {
                        return Err(cause.into());
                    }
                }
                return Err(error.into());
            }
        }
        self.pending = pending;
        Ok(())
    }

    /// Retention: deletes every dated event older than `before` (events without a time are
    /// never deleted: nothing says they are old), commits with `checkpoints`, then rewrites the
    /// segments that hold deleted events and removes unused files, so the space is returned
    /// now rather than at some later merge. Segments left without a live event are dropped
    /// by the commit itself.
    pub fn delete_before(
        &mut self,
        before: tokentrail_parsers::Timestamp,
        checkpoints: &Checkpoints,
    ) -> Result<(), Error> {
        // Pending documents first: a delete applies to the documents added before it.
        self.flush()?;
        let query = RangeQuery::new(
            Bound::Excluded(Term::from_field_i64(self.fields.time, NO_TIME)),
            Bound::Excluded(Term::from_field_i64(self.fields.time, before.millis())),
        );
        self.writer.delete_query(Box::new(query))?;
        self.commit(checkpoints)?;
        let with_deletes: Vec<_> = self
            .writer
            .index()
            .searchable_segment_metas()?
            .into_iter()
            .filter(|meta| meta.has_deletes())
            .map(|meta| (meta.id(), meta.num_docs()))
            .collect();
        // In groups under the merge ceiling (a group of one rewrites that segment alone):
        // one merge of every such segment would build a segment as large as the store.
        for group in bounded_groups(&with_deletes, MAX_MERGED_DOCS) {
            self.writer.merge(&group).wait()?;
        }
        self.writer.garbage_collect_files().wait()?;
        self.reader.reload()?;
        Ok(())
    }

    fn exists(&self, id: &str) -> Result<bool, Error> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_u64(self.fields.id, id_key(id));
        if searcher.doc_freq(&term)? == 0 {
            return Ok(false);
        }
        // The key is known: compare the stored ids (keys of two ids may collide).
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(16))?;
        let mut streams = StreamColumns::default();
        for (_, address) in top {
            let event = read_stored(&searcher, self.fields.doc, address, &mut streams)?;
            if event.id == id {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn document(&self, event: &Event) -> Result<TantivyDocument, Error> {
        let fields = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_u64(fields.id, id_key(&event.id));
        document.add_text(fields.file, cut(&event.origin.file));
        document.add_i64(fields.time, event.time.map_or(NO_TIME, |t| t.millis()));
        if let Some(iat) = event.token_iat {
            document.add_i64(fields.token_iat, iat.millis());
        }
        if let Some(exp) = event.token_exp {
            document.add_i64(fields.token_exp, exp.millis());
        }
        let hourly = (fields.hourly)
            .zip(event.time)
            .map(|(field, time)| (field, hour_of(time.millis())));
        for (name, value) in event.key_values() {
            if let Some(field) = fields.key(name) {
                document.add_text(field, cut(value));
            }
            if let (Some((field, hour)), Some(tag)) = (hourly, hourly_tag(name)) {
                document.add_text(field, hourly_term(tag, hour, value));
            }
        }
        document.add_text(fields.text, &event.raw);
        let stream = stored::implicit_id_stream(event);
        if let Some(fingerprint) = stream {
            document.add_text(fields.stream, fingerprint);
        }
        let json = stored::to_json(event, stream.is_none())
            .map_err(|error| Error::Corrupt(error.to_string()))?;
        document.add_text(fields.doc, json);
        Ok(document)
    }
}

impl EventSink for TantivySink {
    fn add(&mut self, event: &Event, check_existing: bool) -> Result<bool, Error> {
        if check_existing && self.exists(&event.id)? {
            return Ok(false);
        }
        let document = self.document(event)?;
        let group = self.locality.group(event);
        self.pending.push((group, document));
        self.uncommitted += 1;
        if self.pending.len() >= LOCALITY_BATCH {
            self.flush()?;
        }
        Ok(true)
    }

    fn commit(&mut self, checkpoints: &Checkpoints) -> Result<(), Error> {
        let payload = self.checkpoint_files.write(checkpoints)?;
        self.flush()?;
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.checkpoint_files.committed();
        self.reader.reload()?;
        self.uncommitted = 0;
        Ok(())
    }

    /// Lets the merges tantivy's policy started end, then merges the small segments they
    /// left ([`tail_groups`]) under the ceiling, one merge at a time as during the ingest.
    /// Events added since the last commit are dropped, as when the sink is dropped.
    fn finish(self: Box<Self>) -> Result<(), Error> {
        let TantivySink {
            writer,
            checkpoint_files,
            ..
        } = *self;
        let index = writer.index().clone();
        // A merge asked for below could otherwise take a segment already being merged.
        writer.wait_merging_threads()?;
        let segments: Vec<(SegmentId, u32)> = index
            .searchable_segment_metas()?
            .iter()
            .map(|meta| (meta.id(), meta.num_docs()))
            .collect();
        let groups = tail_groups(&segments, MAX_MERGED_DOCS);
        if groups.is_empty() {
            return Ok(());
        }
        // Tantivy's smallest indexing budget: nothing is indexed, the merges hold their own.
        let mut writer = open_writer(&index, &checkpoint_files.directory, 1, 15_000_000)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        for group in &groups {
            writer.merge(group).wait()?;
        }
        writer.wait_merging_threads()?;
        tracing::debug!(merges = groups.len(), "small segments merged");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;
    use tokentrail_parsers::{Service, Timestamp};

    fn event(id: &str, sub: &str, millis: i64, raw: &str) -> Event {
        let mut event = Event::new("iam-audit", Service::Issuer);
        event.id = id.into();
        event.sub = sub.into();
        event.time = Some(Timestamp(millis));
        event.raw = raw.into();
        event.scopes = vec!["storage.read:/".into(), "openid".into()];
        event.origin.file = "iam.log".into();
        event.origin.line = 3;
        event
    }

    #[test]
    fn stores_searches_and_round_trips_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        assert!(sink
            .add(
                &event("a", "alice", 1000, "Alice logged in from 192.0.2.1"),
                true
            )
            .unwrap());
        assert!(sink
            .add(&event("b", "bob", 2000, "Bob read /store/x"), true)
            .unwrap());
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();

        let hits = store
            .search(&query::parse("sub:alice").unwrap(), 10, Order::NewestFirst)
            .unwrap();
        assert_eq!(hits.total, 1);
        assert_eq!(
            hits.events[0],
            event("a", "alice", 1000, "Alice logged in from 192.0.2.1")
        );

        let newest = store.search(&Query::All, 10, Order::NewestFirst).unwrap();
        assert_eq!(newest.events[0].id, "b");
        let oldest = store.search(&Query::All, 10, Order::OldestFirst).unwrap();
        assert_eq!(oldest.events[0].id, "a");

        let text = store
            .search(
                &query::parse("logged 192.0.2.1").unwrap(),
                10,
                Order::NewestFirst,
            )
            .unwrap();
        assert_eq!(text.total, 1);
        let scopes = store
            .search(
                &query::parse("scopes:openid").unwrap(),
                10,
                Order::NewestFirst,
            )
            .unwrap();
        assert_eq!(scopes.total, 2);
        let prefix = store
            .search(&query::parse("sub:al*").unwrap(), 10, Order::NewestFirst)
            .unwrap();
        assert_eq!(prefix.total, 1);
        let negated = store
            .search(&query::parse("-sub:alice").unwrap(), 10, Order::NewestFirst)
            .unwrap();
        assert_eq!(negated.events[0].id, "b");
        let ranged = store
            .search(
                &Query::All.within(Some(Timestamp(1500)), None),
                10,
                Order::NewestFirst,
            )
            .unwrap();
        assert_eq!(ranged.total, 1);
    }

    #[test]
    fn parsed_events_are_stored_without_their_id_and_read_back_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let context = tokentrail_parsers::Context {
            path: "/var/log/site/unknown.log".into(),
            ..Default::default()
        };
        let (parsed, _) = tokentrail_parsers::parse_text(
            "a line no parser knows\nanother one\n",
            None,
            context.clone(),
        )
        .unwrap();
        let (other_stream, _) =
            tokentrail_parsers::parse_text("a second stream\n", None, context).unwrap();
        assert_eq!(parsed.len(), 2);
        // The second event of a line keeps its id; so does an event with an id from elsewhere.
        let mut second_of_line = other_stream[0].clone();
        second_of_line.id_source.0.as_mut().unwrap().1 = 1;
        second_of_line.id = tokentrail_parsers::stream::event_id(
            &second_of_line.id_source.0.as_ref().unwrap().0,
            second_of_line.origin.offset,
            1,
        );
        let foreign = event("not-derived", "alice", 1000, "pushed");
        let all: Vec<Event> = parsed
            .iter()
            .chain(&other_stream)
            .chain([&second_of_line, &foreign])
            .cloned()
            .collect();
        for event in &all {
            assert!(sink.add(event, true).unwrap());
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();

        // What the doc store holds: no id for the first three, the id for the last two.
        let searcher = store.reader.searcher();
        let stored: Vec<String> = searcher
            .search(&AllQuery, &TopDocs::with_limit(10))
            .unwrap()
            .into_iter()
            .map(|(_, address)| {
                let document: TantivyDocument = searcher.doc(address).unwrap();
                document
                    .get_first(store.fields.doc)
                    .and_then(|value| value.as_str())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(stored.len(), 5);
        for (event, keeps_id) in all.iter().zip([false, false, false, true, true]) {
            let found = stored
                .iter()
                .filter(|json| json.contains(&event.raw))
                .count();
            assert!(found >= 1, "{} not stored", event.raw);
            let with_id = stored.iter().any(|json| json.contains(&event.id));
            assert_eq!(with_id, keeps_id, "{}", event.raw);
        }

        // Every way of reading gives the id back: search, get by id, and the re-ingest check.
        let mut read = store
            .search(&Query::All, 10, Order::OldestFirst)
            .unwrap()
            .events;
        read.sort_by(|a, b| a.id.cmp(&b.id));
        let mut expected = all.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(read, expected);
        for event in &all {
            assert_eq!(store.get(&event.id).unwrap().as_ref(), Some(event));
            assert!(!sink.add(event, true).unwrap(), "{} added twice", event.raw);
        }
    }

    #[test]
    fn events_of_one_identity_are_stored_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        // Arrival order interleaves three identities, as a log file does; the billing-like
        // line without a sub shares alice's session, the one of an unknown session falls
        // back to its client address.
        let mut added = Vec::new();
        for round in 0..40 {
            for sub in ["alice", "bob", "carol"] {
                let mut event = event(&format!("{sub}-{round}"), sub, 1000 + round, "x");
                event.session_id = format!("session-{sub}");
                added.push(event);
            }
            let mut billing = event(&format!("billing-{round}"), "", 1000 + round, "x");
            billing.session_id = "session-alice".into();
            added.push(billing);
            let mut stranger = event(&format!("stranger-{round}"), "", 1000 + round, "x");
            stranger.session_id = "unseen".into();
            stranger.client_ip = "192.0.2.9".into();
            added.push(stranger);
        }
        for event in &added {
            sink.add(event, false).unwrap();
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();

        let searcher = store.reader.searcher();
        let mut seen = 0;
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let mut streams = StreamColumns::default();
            let groups: Vec<(String, i64)> = (0..segment.max_doc())
                .map(|doc| {
                    let address = DocAddress::new(ord as u32, doc);
                    let event =
                        read_stored(&searcher, store.fields.doc, address, &mut streams).unwrap();
                    let round: i64 = event.id.rsplit('-').next().unwrap().parse().unwrap();
                    assert_eq!(event.time, Some(Timestamp(1000 + round)));
                    let group = match event.id.split('-').next().unwrap() {
                        "billing" => "alice".to_string(),
                        name => name.to_string(),
                    };
                    (group, round)
                })
                .collect();
            seen += groups.len();
            // Each group is one run of documents, in order of arrival within it.
            for pair in groups.windows(2) {
                if pair[0].0 == pair[1].0 {
                    assert!(pair[0].1 <= pair[1].1, "{groups:?}");
                }
            }
            let mut runs: Vec<&String> = groups.iter().map(|(group, _)| group).collect();
            runs.dedup();
            let mut distinct = runs.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(runs.len(), distinct.len(), "{groups:?}");
        }
        assert_eq!(seen, added.len());
        assert_eq!(
            store
                .search(&query::parse("sub:alice").unwrap(), 100, Order::OldestFirst)
                .unwrap()
                .total,
            40
        );
    }

    #[test]
    fn empty_or_one_of_filters_hits_from_the_columns_before_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let mut added = Vec::new();
        for (n, sub) in ["alice", "bob", "", "carol", "alice", "bob"]
            .iter()
            .enumerate()
        {
            let mut e = event(&format!("e{n}"), sub, 1000 * n as i64, "read /store/x");
            e.jti = if n == 4 {
                "t-foreign".into()
            } else {
                String::new()
            };
            sink.add(&e, false).unwrap();
            added.push(e);
            if n == 2 {
                // Two segments: ordinals are per segment.
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let own = |field: &str, values: &[&str]| Query::EmptyOrOneOf {
            field: field.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let ids = |query: &Query, limit: usize| {
            let hits = store.search(query, limit, Order::OldestFirst).unwrap();
            let ids: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
            (ids, hits.total)
        };
        let text = Query::Text("store".into());
        let mine = Query::And(vec![text.clone(), own("sub", &["alice", "carol"])]);
        assert_eq!(
            ids(&mine, 10),
            (vec!["e0".into(), "e2".into(), "e3".into(), "e4".into()], 4)
        );
        // The limit counts kept events only.
        assert_eq!(ids(&mine, 2), (vec!["e0".into(), "e2".into()], 4));
        assert_eq!(ids(&mine, 0).1, 4);
        // Both fields: e4 holds a token outside the list.
        let both = Query::And(vec![own("sub", &["alice"]), own("jti", &[])]);
        assert_eq!(ids(&both, 10).0, vec!["e0".to_string(), "e2".into()]);
        // Negated: a value, and none of these.
        let foreign = Query::And(vec![text, Query::Not(Box::new(own("sub", &["alice"])))]);
        assert_eq!(
            ids(&foreign, 10).0,
            vec!["e1".to_string(), "e3".into(), "e5".into()]
        );
        // Alone, it is the whole query.
        assert_eq!(
            ids(&own("sub", &["bob"]), 10).0,
            vec!["e1".to_string(), "e2".into(), "e5".into()]
        );
        // Nested, or on a field without a column: a clear error, not a wrong answer.
        let nested = Query::Or(vec![Query::All, own("sub", &["alice"])]);
        assert!(matches!(
            store.search(&nested, 10, Order::OldestFirst),
            Err(Error::BadQuery(_))
        ));
        let other = own("path", &["/x"]);
        assert!(matches!(
            store.search(&other, 10, Order::OldestFirst),
            Err(Error::BadQuery(_))
        ));
    }

    #[test]
    fn marked_matches_of_low_cardinality_fields_beside_a_selecting_condition_filter_from_the_column(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let actions = [
            "file.read",
            "auth.login",
            "file.write",
            "",
            "transfer.done",
            "authz.deny",
            "authz.denyx",
            "file.read",
            "other",
        ];
        let mut added = Vec::new();
        for (n, action) in actions.iter().enumerate() {
            let raw = if n == 7 { "elsewhere" } else { "read /store/x" };
            let sub = if n % 2 == 0 { "alice" } else { "bob" };
            let mut e = event(&format!("e{n}"), sub, 1000 * n as i64, raw);
            e.action = (*action).into();
            sink.add(&e, false).unwrap();
            added.push(e);
            if n == 4 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let prefix = |value: &str| Query::Prefix {
            field: "action".into(),
            value: value.into(),
        };
        let file_ops = Query::Or(vec![
            prefix("file."),
            prefix("transfer."),
            Query::term("action", "authz.deny"),
        ]);
        let is_file_op = |e: &Event| {
            e.action.starts_with("file.")
                || e.action.starts_with("transfer.")
                || e.action == "authz.deny"
        };
        let check = |query: &Query, keep: &dyn Fn(&Event) -> bool, column_filters: usize| {
            let (_, filters) = split_column_filters(query).unwrap();
            assert_eq!(filters.columns.len(), column_filters, "{query:?}");
            let want: Vec<String> = added
                .iter()
                .filter(|e| keep(e))
                .map(|e| e.id.clone())
                .collect();
            let hits = store.search(query, 100, Order::OldestFirst).unwrap();
            let ids: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
            assert_eq!(
                (ids, hits.total),
                (want.clone(), want.len() as u64),
                "{query:?}"
            );
            let first = store.search(query, 2, Order::OldestFirst).unwrap();
            assert_eq!(first.total, want.len() as u64);
            assert_eq!(first.events.len(), want.len().min(2));
        };
        let text = Query::Text("store".into());
        let on_hits = |query: Query| Query::OnHits(Box::new(query));
        // Marked, beside free text: checked on its hits from the `action` column.
        check(
            &Query::And(vec![text.clone(), on_hits(file_ops.clone())]),
            &|e| e.raw.contains("store") && is_file_op(e),
            1,
        );
        check(
            &Query::And(vec![
                Query::term("sub", "alice"),
                on_hits(Query::term("action", "file.read")),
            ]),
            &|e| e.sub == "alice" && e.action == "file.read",
            1,
        );
        // Unmarked, the same condition is a query (it may select best), with the same answer.
        check(
            &Query::And(vec![text.clone(), file_ops.clone()]),
            &|e| e.raw.contains("store") && is_file_op(e),
            0,
        );
        // Alone, or beside a negation only, a marked match selects: it stays a query.
        check(&on_hits(file_ops.clone()), &is_file_op, 0);
        check(
            &Query::And(vec![
                Query::Not(Box::new(Query::term("sub", "bob"))),
                on_hits(prefix("file.")),
            ]),
            &|e| e.sub != "bob" && e.action.starts_with("file."),
            0,
        );
        // Alternatives over two fields, or a field without a column, are queries.
        check(
            &Query::And(vec![
                text.clone(),
                on_hits(Query::Or(vec![
                    prefix("file."),
                    Query::term("outcome", "failure"),
                ])),
            ]),
            &|e| e.raw.contains("store") && e.action.starts_with("file."),
            0,
        );
        check(
            &Query::And(vec![text, on_hits(Query::term("path", "/nowhere"))]),
            &|_| false,
            0,
        );
    }

    #[test]
    fn values_present_are_found_from_the_postings_as_a_search_would_find_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let mut added = Vec::new();
        // 1 100 events of one session: more than one search returns.
        for n in 0..1300i64 {
            let sub = ["alice", "bob", ""][(n % 3) as usize];
            let session = if n < 1100 {
                "busy".to_string()
            } else {
                format!("s{}", n % 17)
            };
            let raw = if n % 5 == 0 { "read /store/x" } else { "login" };
            let mut e = event(&format!("e{n:04}"), sub, 1000 * n, raw);
            e.session_id = session;
            sink.add(&e, false).unwrap();
            added.push(e);
            if n == 650 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let mut asked: Vec<String> = (0..20).map(|n| format!("s{n}")).collect();
        asked.push("busy".into());
        asked.push("nowhere".into());
        let not_alice = Query::Not(Box::new(Query::EmptyOrOneOf {
            field: "sub".into(),
            values: vec!["alice".into()],
        }));
        let expect = |keep: &dyn Fn(&Event) -> bool| -> HashSet<String> {
            added
                .iter()
                .filter(|e| keep(e) && asked.contains(&e.session_id))
                .map(|e| e.session_id.clone())
                .collect()
        };
        let in_time = |e: &Event, from: i64, to: i64| {
            e.time
                .is_some_and(|t| t.millis() >= from && t.millis() < to)
        };
        let cases: Vec<(Query, HashSet<String>)> = vec![
            (Query::All, expect(&|_| true)),
            (not_alice.clone(), expect(&|e| e.sub == "bob")),
            (
                not_alice
                    .clone()
                    .within(Some(Timestamp(1_150_000)), Some(Timestamp(1_160_000))),
                expect(&|e| e.sub == "bob" && in_time(e, 1_150_000, 1_160_000)),
            ),
            (
                Query::And(vec![Query::Text("store".into()), not_alice.clone()]),
                expect(&|e| e.sub == "bob" && e.raw.contains("store")),
            ),
            (Query::term("sub", "alice"), expect(&|e| e.sub == "alice")),
        ];
        for (query, want) in cases {
            assert!(!want.is_empty());
            let fast = store.values_present("session_id", &asked, &query).unwrap();
            let searched =
                crate::store::values_present_by_search(&store, "session_id", &asked, &query)
                    .unwrap();
            assert_eq!(fast, want, "{query:?}");
            assert_eq!(searched, want, "{query:?}");
        }
        // The same questions with no values, and of a field the store does not have.
        assert!(store
            .values_present("session_id", &[], &Query::All)
            .unwrap()
            .is_empty());
        assert!(store
            .values_present("nonsense", &asked, &Query::All)
            .is_err());
    }

    #[test]
    fn ordinal_verdicts_remember_passes_and_fails_in_both_forms() {
        for mut verdicts in [
            OrdVerdicts::Dense(vec![ORD_UNKNOWN; 8]),
            OrdVerdicts::Sparse(HashMap::new()),
        ] {
            assert_eq!(verdicts.get(3), None);
            verdicts.set(3, true);
            verdicts.set(5, false);
            assert_eq!(verdicts.get(3), Some(true));
            assert_eq!(verdicts.get(5), Some(false));
            assert_eq!(verdicts.get(4), None);
            // Out of a dense table's range: not remembered, asked again.
            verdicts.set(100, true);
            assert!(matches!(verdicts.get(100), None | Some(true)));
        }
        assert!(matches!(
            OrdVerdicts::for_column(None),
            OrdVerdicts::Dense(ref table) if table.is_empty()
        ));
    }

    #[test]
    fn column_filters_give_the_same_hits_by_block_and_one_by_one() {
        // Without deletions tantivy hands the hits over in blocks (times read in one call);
        // in a segment with deleted events, one by one. Both must keep exactly the hits
        // that pass: blocks of 64 across three segments, undated events, empty fields.
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let mut all = Vec::new();
        for n in 0..300i64 {
            let sub = ["alice", "bob", "carol", ""][(n % 4) as usize];
            let mut e = event(&format!("e{n:03}"), sub, 1000 * n, "read /store/x");
            if n % 11 == 0 {
                e.time = None;
            }
            if n % 13 == 0 {
                e.jti = "t-foreign".into();
            }
            sink.add(&e, false).unwrap();
            all.push(e);
            if n % 100 == 99 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        store.reload().unwrap();
        let own = |field: &str, values: &[&str]| Query::EmptyOrOneOf {
            field: field.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let check = |live: &[&Event]| {
            for (from, to) in [
                (Some(20_000), Some(250_000)),
                (None, Some(130_000)),
                (None, None),
            ] {
                let mut query = Query::And(vec![
                    Query::Text("store".into()),
                    own("sub", &["alice", "carol"]),
                    own("jti", &[]),
                ]);
                if from.is_some() || to.is_some() {
                    query = query.within(from.map(Timestamp), to.map(Timestamp));
                }
                let windowed = from.is_some() || to.is_some();
                let mut want: Vec<String> = live
                    .iter()
                    .filter(|e| ["alice", "carol", ""].contains(&e.sub.as_str()))
                    .filter(|e| e.jti.is_empty())
                    .filter(|e| {
                        !windowed
                            || e.time.is_some_and(|t| {
                                from.is_none_or(|f| t.millis() >= f)
                                    && to.is_none_or(|u| t.millis() < u)
                            })
                    })
                    .map(|e| e.id.clone())
                    .collect();
                want.sort();
                let hits = store.search(&query, 1000, Order::OldestFirst).unwrap();
                let mut got: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
                got.sort();
                assert_eq!(got, want, "{from:?}..{to:?}");
                assert_eq!(hits.total, want.len() as u64);
                let count = store.search(&query, 0, Order::OldestFirst).unwrap();
                assert_eq!(count.total, want.len() as u64);
            }
        };
        check(&all.iter().collect::<Vec<_>>());
        // Deleted events, no merge: the segments keep them behind an alive bitset.
        for e in all.iter().filter(|e| e.id.ends_with('5')) {
            sink.writer
                .delete_term(Term::from_field_u64(sink.fields.id, id_key(&e.id)));
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        assert!(store
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .any(|segment| segment.alive_bitset().is_some()));
        check(
            &all.iter()
                .filter(|e| !e.id.ends_with('5'))
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn a_time_window_holds_dated_events_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        sink.add(&event("dated", "alice", 1000, "x"), true).unwrap();
        let mut undated = event("undated", "alice", 0, "y");
        undated.time = None;
        sink.add(&undated, true).unwrap();
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let ids = |query: Query| -> Vec<String> {
            store
                .search(&query, 10, Order::NewestFirst)
                .unwrap()
                .events
                .into_iter()
                .map(|event| event.id)
                .collect()
        };
        assert_eq!(
            ids(Query::All.within(None, Some(Timestamp(5000)))),
            ["dated"]
        );
        assert_eq!(ids(Query::All.within(Some(Timestamp(0)), None)), ["dated"]);
        assert_eq!(ids(Query::All).len(), 2);
    }

    /// Events from two worker nodes (by name, by address, or both) every 20 minutes over
    /// 30 hours, across an hour boundary at the epoch (negative times included), some
    /// undated, some at an hour's first and last millisecond; committed in three segments.
    fn node_events(sink: &mut TantivySink) -> Vec<Event> {
        let mut all = Vec::new();
        let times = (-6..84i64).map(|n| n * 20 * 60 * 1000).chain([
            HOUR_MS - 1,
            HOUR_MS,
            5 * HOUR_MS - 1,
            5 * HOUR_MS,
        ]);
        for (n, millis) in times.enumerate() {
            let mut e = event(&format!("n{n:03}"), "alice", millis, "read /store/x");
            let node = if n % 2 == 0 { "wn1" } else { "wn2" };
            match n % 3 {
                0 => e.client_host = format!("{node}.example.org"),
                1 => e.client_ip = format!("192.0.2.{}", if node == "wn1" { 1 } else { 2 }),
                _ => {
                    e.client_host = format!("{node}.example.org");
                    e.client_ip = format!("192.0.2.{}", if node == "wn1" { 1 } else { 2 });
                }
            }
            if n % 11 == 5 {
                e.time = None;
            }
            sink.add(&e, false).unwrap();
            all.push(e);
            if n % 35 == 34 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        all
    }

    /// The ids of `all` from node `wn1` (by name or address) in `[from, to)`.
    fn wn1_within(all: &[Event], from: i64, to: i64) -> Vec<String> {
        let mut ids: Vec<String> = all
            .iter()
            .filter(|e| e.client_host == "wn1.example.org" || e.client_ip == "192.0.2.1")
            .filter(|e| {
                e.time
                    .is_some_and(|t| t.millis() >= from && t.millis() < to)
            })
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn wn1_query(from: i64, to: i64) -> Query {
        Query::And(vec![
            Query::Or(vec![
                Query::term("client_host", "wn1.example.org"),
                Query::term("client_ip", "192.0.2.1"),
            ]),
            Query::TimeRange {
                from: Some(Timestamp(from)),
                to: Some(Timestamp(to)),
            },
        ])
    }

    /// Hit ids of a search, sorted.
    fn hit_ids(store: &TantivyStore, query: &Query) -> Vec<String> {
        let hits = store.search(query, 1000, Order::OldestFirst).unwrap();
        let mut ids: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
        ids.sort();
        assert_eq!(hits.total, ids.len() as u64);
        ids
    }

    /// The ranges the hourly tests ask for: short and long, on and off hour boundaries,
    /// before the epoch, and empty.
    fn hourly_ranges() -> Vec<(i64, i64)> {
        let mut ranges = vec![
            (HOUR_MS - 1, HOUR_MS),
            (HOUR_MS, HOUR_MS + 1),
            (HOUR_MS - 1, HOUR_MS + 1),
            (5 * HOUR_MS - 1, 5 * HOUR_MS + 1),
            (-2 * HOUR_MS, 1),
            (-HOUR_MS - 1, -HOUR_MS + 1),
            (i64::MIN + 1, i64::MAX),
            (i64::MAX - 1, i64::MAX),
            (0, MAX_HOURLY_SPAN * HOUR_MS),
            (0, MAX_HOURLY_SPAN * HOUR_MS + 1),
            (-2 * HOUR_MS, 30 * HOUR_MS),
            (7 * HOUR_MS, 7 * HOUR_MS),
            (8 * HOUR_MS, 7 * HOUR_MS),
        ];
        for start in (0..20).map(|n| n * 1_700_000 - 3 * HOUR_MS) {
            for length in [1, 1_200_000, 1_800_000, 3 * HOUR_MS + 7] {
                ranges.push((start, start + length));
            }
        }
        ranges
    }

    #[test]
    fn hourly_terms_find_what_the_plain_terms_find_in_a_time_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let all = node_events(&mut sink);
        store.reload().unwrap();
        assert!(store.reader.searcher().segment_readers().len() > 1);
        for (from, to) in hourly_ranges() {
            let query = wn1_query(from, to);
            assert_eq!(
                hit_ids(&store, &query),
                wn1_within(&all, from, to),
                "{from}..{to}"
            );
            // With the column filters of a trace's window lookup beside it.
            let mut parts = query.and_parts();
            parts.push(Query::EmptyOrOneOf {
                field: "sub".into(),
                values: vec!["alice".into()],
            });
            assert_eq!(
                hit_ids(&store, &Query::And(parts)),
                wn1_within(&all, from, to)
            );
        }
        // Each dated event with a node holds one hourly term per node field, of its hour.
        let searcher = store.reader.searcher();
        let hourly = store.fields.hourly.unwrap();
        let count = |text: &str| {
            searcher
                .doc_freq(&Term::from_field_text(hourly, text))
                .unwrap()
        };
        let in_hour = |hour: i64, pick: &dyn Fn(&Event) -> bool| {
            all.iter()
                .filter(|e| {
                    e.time
                        .is_some_and(|t| t.millis().div_euclid(HOUR_MS) == hour)
                })
                .filter(|e| pick(e))
                .count() as u64
        };
        for hour in [-2, -1, 0, 1, 4, 5, 27] {
            assert_eq!(
                count(&format!("h{hour}:wn1.example.org")),
                in_hour(hour, &|e| e.client_host == "wn1.example.org")
            );
            assert_eq!(
                count(&format!("i{hour}:192.0.2.2")),
                in_hour(hour, &|e| e.client_ip == "192.0.2.2")
            );
        }
        assert!(count("h0:wn1.example.org") > 0);
    }

    #[test]
    fn short_time_ranges_read_hourly_terms_and_long_ones_plain_terms() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let hourly = store.fields.hourly.unwrap();
        let fields_read = |from: i64, to: i64| {
            let (rest, filters) = split_column_filters(&wn1_query(from, to)).unwrap();
            let query = store.build_filtered_query(&rest, filters.time).unwrap();
            let mut hourly_terms = 0;
            let mut plain_terms = 0;
            query.query_terms(&mut |term, _| {
                if term.field() == hourly {
                    hourly_terms += 1;
                } else {
                    plain_terms += 1;
                }
            });
            (hourly_terms, plain_terms)
        };
        // Half an hour across an hour boundary: two hours, two fields.
        assert_eq!(fields_read(HOUR_MS - 900_000, HOUR_MS + 900_000), (4, 0));
        // A range ending on an hour boundary leaves that hour out.
        assert_eq!(fields_read(0, HOUR_MS), (2, 0));
        assert_eq!(
            fields_read(0, MAX_HOURLY_SPAN * HOUR_MS),
            (2 * MAX_HOURLY_SPAN as usize, 0)
        );
        assert_eq!(fields_read(0, MAX_HOURLY_SPAN * HOUR_MS + 1), (0, 2));
        // Other conditions than exact matches on the hourly fields stay as they are.
        let (rest, filters) = split_column_filters(&Query::And(vec![
            Query::Or(vec![
                Query::term("client_host", "wn1.example.org"),
                Query::term("sub", "alice"),
            ]),
            Query::term("client_ip", ""),
            Query::TimeRange {
                from: Some(Timestamp(0)),
                to: Some(Timestamp(HOUR_MS)),
            },
        ]))
        .unwrap();
        let query = store.build_filtered_query(&rest, filters.time).unwrap();
        query.query_terms(&mut |term, _| assert_ne!(term.field(), hourly));
    }

    #[test]
    fn a_store_written_before_the_hourly_terms_is_read_and_written_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let directory = dir.path().join("index");
        std::fs::create_dir_all(&directory).unwrap();
        let (before, _) = schema(false);
        Index::create_in_dir(&directory, before).unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        assert!(store.fields.hourly.is_none());
        let mut sink = store.writer(50 << 20).unwrap();
        let all = node_events(&mut sink);
        store.reload().unwrap();
        for (from, to) in hourly_ranges() {
            assert_eq!(
                hit_ids(&store, &wn1_query(from, to)),
                wn1_within(&all, from, to)
            );
        }
        drop(sink);
        drop(store);
        // Opened again, it is still the older schema.
        let store = TantivyStore::open(dir.path()).unwrap();
        assert!(store.fields.hourly.is_none());
        assert_eq!(
            hit_ids(&store, &wn1_query(0, HOUR_MS)),
            wn1_within(&all, 0, HOUR_MS)
        );
    }

    #[test]
    fn a_time_window_beside_other_conditions_filters_their_hits_from_the_time_column() {
        // Such a window is applied to the hits of the other conditions, not run as a range
        // query: the answer must be the same, bounds, undated events and limits included.
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let mut all = Vec::new();
        for n in 0..40i64 {
            let sub = if n % 3 == 0 { "bob" } else { "alice" };
            let mut e = event(&format!("e{n:02}"), sub, 1000 * n, "read /store/x");
            if n % 7 == 0 {
                e.time = None;
            }
            sink.add(&e, false).unwrap();
            all.push(e);
            if n == 19 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let alice = Query::term("sub", "alice");
        let expected = |from: Option<i64>, to: Option<i64>| -> Vec<String> {
            all.iter()
                .filter(|e| e.sub == "alice")
                .filter(|e| {
                    e.time.is_some_and(|t| {
                        from.is_none_or(|f| t.millis() >= f) && to.is_none_or(|u| t.millis() < u)
                    })
                })
                .map(|e| e.id.clone())
                .collect()
        };
        let found = |query: &Query, limit: usize| {
            let hits = store.search(query, limit, Order::OldestFirst).unwrap();
            let ids: Vec<String> = hits.events.into_iter().map(|e| e.id).collect();
            (ids, hits.total)
        };
        for (from, to) in [
            (Some(5000), Some(20000)),
            (Some(0), None),
            (None, Some(14000)),
            (Some(14000), Some(14001)),
            (Some(14001), Some(14001)),
        ] {
            let query = alice.clone().within(from.map(Timestamp), to.map(Timestamp));
            let want = expected(from, to);
            assert_eq!(found(&query, 100), (want.clone(), want.len() as u64));
            // The limit counts kept hits only; the total counts them all.
            let (first, total) = found(&query, 2);
            assert_eq!(first, want.iter().take(2).cloned().collect::<Vec<_>>());
            assert_eq!(total, want.len() as u64);
        }
        // Two windows in one AND: both hold.
        let both = Query::And(vec![
            alice.clone(),
            Query::TimeRange {
                from: Some(Timestamp(5000)),
                to: None,
            },
            Query::TimeRange {
                from: None,
                to: Some(Timestamp(12000)),
            },
        ]);
        assert_eq!(found(&both, 100).0, expected(Some(5000), Some(12000)));
        // With a column filter too.
        let own = Query::And(vec![
            Query::Text("store".into()),
            Query::EmptyOrOneOf {
                field: "sub".into(),
                values: vec!["bob".into()],
            },
            Query::TimeRange {
                from: Some(Timestamp(3000)),
                to: Some(Timestamp(10000)),
            },
        ]);
        // e03 e06 e09 (bob, dated; e00 and e07 are undated or alice).
        assert_eq!(found(&own, 100).0, vec!["e03", "e06", "e09"]);
    }

    #[test]
    fn merges_never_build_a_segment_above_the_ceiling() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        sink.writer
            .set_merge_policy(Box::new(BoundedMergePolicy::new(250)));
        // 30 commits of 100 events: tantivy's own policy would merge 8 at a time (800).
        for commit in 0..30 {
            for n in 0..100 {
                let id = format!("{:032x}", commit * 100 + n);
                sink.add(&event(&id, "alice", 1000 * n, "read /store/x"), false)
                    .unwrap();
            }
            sink.commit(&Checkpoints::default()).unwrap();
        }
        let TantivySink { writer, .. } = sink;
        writer.wait_merging_threads().unwrap();
        let metas = store.index.searchable_segment_metas().unwrap();
        let sizes: Vec<u32> = metas.iter().map(|meta| meta.num_docs()).collect();
        assert_eq!(sizes.iter().sum::<u32>(), 3000, "{sizes:?}");
        assert!(sizes.iter().all(|&docs| docs <= 250), "{sizes:?}");
        // A commit flushes at most 100 events (split between the indexing threads).
        assert!(sizes.iter().any(|&docs| docs > 150), "no merge: {sizes:?}");
        assert!(metas.len() < 30, "{sizes:?}");
        store.reload().unwrap();
        let hits = store
            .search(&Query::term("sub", "alice"), 1, Order::NewestFirst)
            .unwrap();
        assert_eq!(hits.total, 3000);
    }

    #[test]
    fn columns_are_opened_once_per_segment_and_let_go_after_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        // Two segments; times repeat, so ties must keep tantivy's order (by address).
        for n in 0..30i64 {
            let raw = format!("read /store/x {n}");
            sink.add(
                &event(&format!("e{n:02}"), "alice", 1000 * (n % 4), &raw),
                false,
            )
            .unwrap();
            if n == 14 {
                sink.commit(&Checkpoints::default()).unwrap();
            }
        }
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let ids = |order: Order, limit: usize| -> Vec<String> {
            let query = Query::And(vec![
                Query::Text("store".into()),
                Query::term("sub", "alice").within(Some(Timestamp(1000)), None),
            ]);
            let hits = store.search(&query, limit, order).unwrap();
            assert_eq!(hits.total, 22);
            hits.events.into_iter().map(|e| e.id).collect()
        };
        // The ranking is tantivy's own `order_by_fast_field`, ties (by address) and limits
        // included (limits below the hits' count make each segment cut its hits back).
        let searcher = store.reader.searcher();
        for (order, direction) in [
            (Order::OldestFirst, tantivy::Order::Asc),
            (Order::NewestFirst, tantivy::Order::Desc),
        ] {
            for limit in [1, 2, 3, 5, 22, 100] {
                let tantivys: Vec<DocAddress> = searcher
                    .search(
                        &AllQuery,
                        &TopDocs::with_limit(limit)
                            .order_by_fast_field::<i64>("time", direction.clone()),
                    )
                    .unwrap()
                    .into_iter()
                    .map(|(_, address)| address)
                    .collect();
                let ours: Vec<DocAddress> = searcher
                    .search(
                        &AllQuery,
                        &TopByTime {
                            limit,
                            columns: store.columns.clone(),
                            order: direction.clone(),
                        },
                    )
                    .unwrap()
                    .into_iter()
                    .map(|(_, address)| address)
                    .collect();
                assert_eq!(ours, tantivys, "{order:?} limit {limit}");
            }
            let found = ids(order, 100);
            let mut times: Vec<i64> = found
                .iter()
                .map(|id| 1000 * (id[1..].parse::<i64>().unwrap() % 4))
                .collect();
            if order == Order::NewestFirst {
                times.reverse();
            }
            assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{found:?}");
            assert_eq!(ids(order, 5), found[..5].to_vec());
        }
        let segments = store.index.searchable_segment_ids().unwrap();
        assert!(segments.len() >= 2);
        assert_eq!(store.columns.lock().len(), segments.len());
        // Opened once: the same column is handed out again.
        let first = &searcher.segment_readers()[0];
        assert!(store.columns.lock()[&first.segment_id()].time.is_some());
        for _ in 0..2 {
            store.columns.str(first, "sub").unwrap().unwrap();
            store.columns.time(first).unwrap();
            assert_eq!(store.columns.lock()[&first.segment_id()].strs.len(), 1);
        }

        sink.writer.merge(&segments).wait().unwrap();
        store.reload().unwrap();
        assert!(
            store.columns.lock().is_empty(),
            "merged-away segments let go"
        );
        assert_eq!(ids(Order::OldestFirst, 100).len(), 22);
        assert_eq!(store.columns.lock().len(), 1);
    }

    #[test]
    fn adding_a_committed_id_again_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        sink.add(&event("a", "alice", 1, "x"), true).unwrap();
        sink.commit(&Checkpoints::default()).unwrap();
        assert!(!sink.add(&event("a", "alice", 1, "x"), true).unwrap());
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        assert_eq!(store.count(&Query::All).unwrap(), 1);
    }

    #[test]
    fn finishing_an_ingest_merges_its_small_segments_and_keeps_its_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        // No merges during the commits: each leaves its own segments, as an ingest's last
        // levels do.
        sink.writer.set_merge_policy(Box::new(NoMergePolicy));
        let mut checkpoints = Checkpoints::default();
        for commit in 0..8 {
            for n in 0..40 {
                let id = format!("{commit:02}{n:030}");
                sink.add(&event(&id, "alice", 1_000 + n, "line"), false)
                    .unwrap();
            }
            checkpoints
                .collectors
                .insert(format!("tail-{commit}"), serde_json::json!(commit));
            sink.commit(&checkpoints).unwrap();
        }
        let segments = || store.index.searchable_segment_metas().unwrap().len();
        assert!(segments() >= 8, "{} segments", segments());
        Box::new(sink).finish().unwrap();
        store.reload().unwrap();
        assert_eq!(segments(), 1);
        assert_eq!(store.checkpoints().unwrap(), checkpoints);
        let hits = store
            .search(&Query::term("sub", "alice"), 1000, Order::OldestFirst)
            .unwrap();
        assert_eq!(hits.total, 320);
        let ids: HashSet<String> = hits.events.into_iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 320);
        // The writer's lock is free again, and the store takes more events.
        let mut sink = store.writer(50 << 20).unwrap();
        sink.add(&event(&format!("{:032}", 7), "bob", 5, "line"), false)
            .unwrap();
        sink.commit(&checkpoints).unwrap();
        store.reload().unwrap();
        assert_eq!(store.count(&Query::term("sub", "bob")).unwrap(), 1);
    }

    #[test]
    fn checkpoints_travel_with_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        assert_eq!(store.checkpoints().unwrap(), Checkpoints::default());
        let mut sink = store.writer(50 << 20).unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.sources.insert(
            "abc".into(),
            crate::store::SourceCheckpoint {
                path: "x.log".into(),
                prefix_len: 10,
                end: 42,
                file_size: 42,
                complete: true,
            },
        );
        sink.commit(&checkpoints).unwrap();
        drop(sink);
        let reopened = TantivyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.checkpoints().unwrap(), checkpoints);
    }

    fn checkpoint_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("index"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with(CHECKPOINT_PREFIX))
            .collect();
        names.sort();
        names
    }

    fn many_checkpoints(files: usize, end: u64) -> Checkpoints {
        let mut checkpoints = Checkpoints::default();
        for n in 0..files {
            checkpoints.sources.insert(
                format!("fingerprint-{n:06}"),
                crate::store::SourceCheckpoint {
                    path: format!("/var/log/arc/controldir/job.{n:012x}.diag"),
                    prefix_len: 111,
                    end,
                    file_size: end,
                    complete: true,
                },
            );
        }
        checkpoints
    }

    #[test]
    fn checkpoints_live_in_their_own_file_and_the_commit_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let meta = dir.path().join("index").join("meta.json");
        let mut committed = Vec::new();
        for round in 0..4u64 {
            let checkpoints = many_checkpoints(5_000, 100 + round);
            sink.add(&event(&format!("e{round}"), "alice", 1000, "x"), false)
                .unwrap();
            sink.commit(&checkpoints).unwrap();
            committed.push(checkpoints);
            // meta.json stays small whatever the number of files read.
            assert!(std::fs::metadata(&meta).unwrap().len() < 16 << 10);
            assert_eq!(store.checkpoints().unwrap(), committed[round as usize]);
            // The files of the last two commits, no more.
            assert_eq!(
                checkpoint_files(dir.path()).len(),
                (round as usize + 1).min(2)
            );
        }
        // The same checkpoints again: the same file, nothing removed that a commit names.
        sink.commit(&committed[3]).unwrap();
        assert_eq!(store.checkpoints().unwrap(), committed[3]);
        assert_eq!(checkpoint_files(dir.path()).len(), 2);
        drop(sink);

        // A writer opened later knows which file is current and removes the older one.
        let reopened = TantivyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.checkpoints().unwrap(), committed[3]);
        let mut sink = reopened.writer(50 << 20).unwrap();
        let last = many_checkpoints(3, 7);
        sink.commit(&last).unwrap();
        drop(sink);
        assert_eq!(checkpoint_files(dir.path()).len(), 2);
        assert_eq!(reopened.checkpoints().unwrap(), last);

        // A file that does not hold what its commit names is an error, not other positions.
        let Committed::File { name: current, .. } = committed_checkpoints(&reopened.index).unwrap()
        else {
            panic!("the commit names no checkpoint file");
        };
        let path = dir.path().join("index").join(current);
        std::fs::write(&path, serde_json::to_vec(&committed[0]).unwrap()).unwrap();
        let error = reopened.checkpoints().unwrap_err();
        assert!(error.to_string().contains("SHA-256"), "{error}");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            reopened.checkpoints().unwrap_err(),
            Error::Io { .. }
        ));
    }

    #[test]
    fn checkpoints_in_the_payload_of_an_older_store_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let old = many_checkpoints(10, 42);
        // As commits were written before checkpoint files.
        let mut prepared = sink.writer.prepare_commit().unwrap();
        prepared.set_payload(&serde_json::to_string(&old).unwrap());
        prepared.commit().unwrap();
        assert_eq!(store.checkpoints().unwrap(), old);
        assert!(checkpoint_files(dir.path()).is_empty());
        // The next commit moves them to a file.
        sink.commit(&old).unwrap();
        assert_eq!(store.checkpoints().unwrap(), old);
        assert_eq!(checkpoint_files(dir.path()).len(), 1);
    }

    #[test]
    fn a_second_writer_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let _first = store.writer(50 << 20).unwrap();
        let second = TantivyStore::open(dir.path()).unwrap();
        match second.writer(50 << 20) {
            Err(Error::Busy(path)) => assert!(path.ends_with("index")),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("second writer accepted"),
        }
    }

    #[test]
    fn ids_sharing_an_index_key_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let first = "0123abcd00000000000000000000000a";
        let second = "0123abcd00000000000000000000000b";
        assert_eq!(id_key(first), id_key(second));
        sink.add(&event(first, "alice", 1, "x"), true).unwrap();
        sink.commit(&Checkpoints::default()).unwrap();
        assert!(sink.exists(first).unwrap());
        assert!(!sink.exists(second).unwrap());
        assert!(sink.add(&event(second, "bob", 2, "y"), true).unwrap());
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        assert_eq!(store.get(first).unwrap().unwrap().sub, "alice");
        assert_eq!(store.get(second).unwrap().unwrap().sub, "bob");
        assert!(store
            .get("0123abcd0000000000000000000000ff")
            .unwrap()
            .is_none());
    }

    #[test]
    fn huge_values_are_indexed_cut_but_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = TantivyStore::open(dir.path()).unwrap();
        let mut sink = store.writer(50 << 20).unwrap();
        let mut big = event("big", "x", 1, "y");
        big.path = "é".repeat(100_000);
        sink.add(&big, false).unwrap();
        sink.commit(&Checkpoints::default()).unwrap();
        store.reload().unwrap();
        let found = store.get("big").unwrap().unwrap();
        assert_eq!(found.path.len(), 200_000);
    }
}
