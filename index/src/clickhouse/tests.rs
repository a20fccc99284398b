//! Against real `clickhouse-server` processes on loopback (see [`super::server`]).

use super::server::{binary_for_tests, LocalServers};
use super::*;
use crate::query;
use crate::store::SourceCheckpoint;
use tokentrail_parsers::Service;

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

fn search(store: &ClickHouseStore, text: &str) -> Hits {
    store
        .search(&query::parse(text).unwrap(), 100, Order::NewestFirst)
        .unwrap()
}

const DAY: i64 = 86_400_000;
const MARCH_10: i64 = 1_741_564_800_000;

#[test]
fn one_server_stores_searches_and_counts_each_event_once() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 1).unwrap();
    let store = ClickHouseStore::open(&servers.url("trail")).unwrap();
    let mut sink = store.writer(64 << 20).unwrap();
    let alice = event(
        "a",
        "alice",
        MARCH_10 + 1000,
        "Alice logged in from 192.0.2.1",
    );
    let bob = event("b", "bob", MARCH_10 + DAY, "Bob read /store/x");
    let mut timeless = event("c", "carol", 0, "no time here");
    timeless.time = None;
    assert!(sink.add(&alice, true).unwrap());
    assert!(sink.add(&bob, true).unwrap());
    assert!(sink.add(&timeless, false).unwrap());
    sink.commit(&Checkpoints::default()).unwrap();

    let hits = search(&store, "sub:alice");
    assert_eq!(hits.total, 1);
    assert_eq!(hits.events[0], alice, "events round-trip whole");
    let newest = store.search(&Query::All, 10, Order::NewestFirst).unwrap();
    let ids: Vec<&str> = newest.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["b", "a", "c"], "events without time sort last");
    let oldest = store.search(&Query::All, 1, Order::OldestFirst).unwrap();
    assert_eq!((oldest.events[0].id.as_str(), oldest.total), ("c", 3));
    assert_eq!(search(&store, "logged 192.0.2.1").total, 1);
    assert_eq!(
        search(&store, "LOGGED").total,
        1,
        "text is case-insensitive"
    );
    assert_eq!(search(&store, "logge").total, 0, "text matches whole words");
    assert_eq!(search(&store, "scopes:openid").total, 3);
    assert_eq!(search(&store, "scopes:storage.read*").total, 3);
    assert_eq!(search(&store, "sub:al*").total, 1);
    assert_eq!(search(&store, "-sub:alice").events[0].id, "b");
    assert_eq!(search(&store, "sub:alice OR sub:bob").total, 2);
    let ranged = Query::All.within(Some(Timestamp(MARCH_10 + 1500)), None);
    assert_eq!(store.count(&ranged).unwrap(), 1);
    let before = Query::All.within(None, Some(Timestamp(MARCH_10 + 1500)));
    assert_eq!(
        store.count(&before).unwrap(),
        1,
        "a time window holds dated events only"
    );

    // The trace's filter on other identities, with a list longer than the server's
    // default query size (256 KiB).
    let mut mine: Vec<String> = (0..8000).map(|n| format!("{n:040}")).collect();
    mine.push("alice".into());
    let own = Query::EmptyOrOneOf {
        field: "sub".into(),
        values: mine,
    };
    let kept = store
        .search(
            &Query::And(vec![Query::All, own.clone()]),
            10,
            Order::OldestFirst,
        )
        .unwrap();
    assert_eq!((kept.events[0].id.as_str(), kept.total), ("a", 1));
    let others = store
        .search(&Query::Not(Box::new(own)), 10, Order::NewestFirst)
        .unwrap();
    let ids: Vec<&str> = others.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["b", "c"]);

    // The same events again, unchecked (a crash before the checkpoint): still counted once.
    assert!(sink.add(&alice, false).unwrap());
    assert!(sink.add(&bob, false).unwrap());
    sink.commit(&Checkpoints::default()).unwrap();
    assert_eq!(store.count(&Query::All).unwrap(), 3);
    assert_eq!(search(&store, "sub:alice").events.len(), 1);
    // Checked adds of stored events are skipped without inserting.
    let mut second = store.writer(64 << 20).unwrap();
    assert!(!second.add(&alice, true).unwrap());
    assert!(second
        .add(&event("d", "dave", MARCH_10, "x"), true)
        .unwrap());
    second.commit(&Checkpoints::default()).unwrap();
    assert_eq!(store.count(&Query::All).unwrap(), 4);

    // Retention drops whole days before the cut.
    let dropped = store
        .drop_days_before(Timestamp(MARCH_10 + DAY + 5))
        .unwrap();
    assert_eq!(dropped, 2, "1970-01-01 and 2025-03-10");
    let left: Vec<String> = store
        .search(&Query::All, 10, Order::NewestFirst)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, ["b"]);
}

#[test]
fn checkpoints_survive_reopening_and_merge_with_other_writers() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 1).unwrap();
    let url = servers.url("trail");
    let store = ClickHouseStore::open(&url).unwrap();
    assert_eq!(store.checkpoints().unwrap(), Checkpoints::default());
    let source = |path: &str| SourceCheckpoint {
        path: path.into(),
        prefix_len: 10,
        end: 42,
        file_size: 42,
        complete: true,
    };
    let mut first = Checkpoints::default();
    first.sources.insert("aaa".into(), source("a.log"));
    store.writer(1 << 20).unwrap().commit(&first).unwrap();
    let reopened = ClickHouseStore::open(&url).unwrap();
    assert_eq!(reopened.checkpoints().unwrap(), first);

    let mut other = Checkpoints::default();
    other.sources.insert("bbb".into(), source("b.log"));
    reopened.writer(1 << 20).unwrap().commit(&other).unwrap();
    let both = store.checkpoints().unwrap();
    assert_eq!(
        both.sources.keys().collect::<Vec<_>>(),
        ["aaa", "bbb"],
        "a second writer keeps the first one's streams"
    );
}

#[test]
fn hostile_values_are_stored_and_found_exactly() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 1).unwrap();
    let store = ClickHouseStore::open(&servers.url("trail")).unwrap();
    let hostile = [
        "it's",
        r"back\slash",
        r"\'",
        "nul\0byte",
        "' OR 1=1 --",
        "x'); DROP TABLE trail.events; --",
        "tab\tnew\nline\r",
        "\u{7f}é✓😀",
        "%' LIKE '%",
    ];
    let mut sink = store.writer(1 << 20).unwrap();
    for (number, value) in hostile.iter().enumerate() {
        let mut stored = event(&format!("h{number}"), value, MARCH_10, value);
        stored.path = format!("/store/{value}");
        stored.aud = vec![value.to_string()];
        sink.add(&stored, false).unwrap();
    }
    sink.commit(&Checkpoints::default()).unwrap();
    for (number, value) in hostile.iter().enumerate() {
        let id = format!("h{number}");
        for query in [
            Query::term("sub", value),
            Query::term("aud", value),
            Query::Prefix {
                field: "path".into(),
                value: format!("/store/{value}"),
            },
        ] {
            let hits = store.search(&query, 10, Order::NewestFirst).unwrap();
            let ids: Vec<&str> = hits.events.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, [id.as_str()], "{query:?}");
            assert_eq!(hits.events[0].sub, *value);
            assert_eq!(hits.events[0].raw, *value);
        }
        let echoed = store
            .primary()
            .query(&format!("SELECT hex({})", sql::quote(value)))
            .unwrap();
        let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
        assert_eq!(String::from_utf8_lossy(&echoed).trim(), hex);
    }
    assert_eq!(store.count(&Query::All).unwrap(), hostile.len() as u64);
}

#[test]
fn two_shards_split_the_events_and_answer_as_one_store() {
    let Some(binary) = binary_for_tests() else {
        return;
    };
    let servers = LocalServers::start(&binary, 2).unwrap();
    let url = servers.url("trail");
    assert!(url.contains(','), "{url}");
    let store = ClickHouseStore::open(&url).unwrap();
    let events: Vec<Event> = (0..400)
        .map(|number| {
            let mut e = event(
                &format!("{number:032x}"),
                &format!("user{}", number % 7),
                MARCH_10 + number * 60_000,
                &format!("line {number}"),
            );
            e.jti = format!("jti-{}", number % 13);
            e
        })
        .collect();
    let mut sink = store.writer(1 << 20).unwrap();
    for e in &events {
        sink.add(e, false).unwrap();
    }
    let mut checkpoints = Checkpoints::default();
    checkpoints.collectors.insert("tail".into(), 7.into());
    sink.commit(&checkpoints).unwrap();

    let per_shard: Vec<u64> = store
        .clients
        .iter()
        .map(|client| {
            let body = client
                .query("SELECT count() FROM trail.events_local")
                .unwrap();
            String::from_utf8_lossy(&body).trim().parse().unwrap()
        })
        .collect();
    assert_eq!(per_shard.iter().sum::<u64>(), 400);
    assert!(
        per_shard.iter().all(|count| *count > 100),
        "both shards hold a share: {per_shard:?}"
    );
    assert_eq!(store.count(&Query::All).unwrap(), 400);
    let hits = store
        .search(&Query::term("jti", "jti-3"), 1000, Order::OldestFirst)
        .unwrap();
    let expected: Vec<&Event> = events.iter().filter(|e| e.jti == "jti-3").collect();
    assert_eq!(hits.events.iter().collect::<Vec<_>>(), expected);

    // Everything again: each id lands on the same shard and is counted once.
    let mut again = store.writer(1 << 20).unwrap();
    for e in &events {
        again.add(e, false).unwrap();
    }
    again.commit(&checkpoints).unwrap();
    assert_eq!(store.count(&Query::All).unwrap(), 400);
    assert_eq!(
        store.count(&query::parse("sub:user3").unwrap()).unwrap(),
        events.iter().filter(|e| e.sub == "user3").count() as u64
    );
    // Any host answers for the cluster.
    let second = servers.ports()[1].http;
    let via_second =
        ClickHouseStore::open(&format!("clickhouse://127.0.0.1:{second}/trail")).unwrap();
    assert_eq!(via_second.count(&Query::All).unwrap(), 400);
    assert_eq!(store.checkpoints().unwrap(), checkpoints);
}

#[test]
fn store_urls_are_read_strictly() {
    let config = ClickHouseConfig::parse("clickhouse://u:p@a:1,b/db?cluster=c").unwrap();
    assert_eq!(config.hosts, ["a:1", "b:8123"]);
    assert_eq!(config.database, "db");
    assert_eq!(config.cluster.as_deref(), Some("c"));
    assert_eq!(config.user.as_deref(), Some("u"));
    assert_eq!(config.password.as_deref(), Some("p"));
    for bad in [
        "http://a/db",
        "clickhouse://a",
        "clickhouse://a/db;drop",
        "clickhouse://a,b/db",
        "clickhouse://a/db?cluster=x`y",
        "clickhouse://a/db?other=1",
    ] {
        assert!(ClickHouseConfig::parse(bad).is_err(), "{bad}");
    }
    let error = ClickHouseConfig::parse("clickhouse://u:secret@a/db;").unwrap_err();
    assert!(!error.to_string().contains("secret"));
}
