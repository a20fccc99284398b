//! The stored form of an event in the tantivy doc store: its JSON without the fields that
//! hold nothing, and without its id when the id can be computed again from the stream the
//! event came from.
//!
//! Every event of the JSON API carries all its fields (DESIGN.md section 3); the store need
//! not. A dCache billing event fills 12 of 35 fields, so the empty ones were a quarter of
//! the bytes every fetch decompresses and parses. The id is 16 random bytes (a SHA-256
//! prefix of the stream fingerprint, line offset and index, see
//! [`tokentrail_parsers::stream::event_id`]): zstd cannot shrink it, and it was 30 % of a
//! compressed stored event. The fingerprint goes once per stream into a fast column
//! (`stream`, dictionary-encoded per segment: a few bits per event) and the id is computed
//! when the event is read. Events whose id came otherwise keep it in the JSON.
//!
//! Reading needs no flag: a stored event without `id` has its stream in the column; one
//! with `id` (including every event stored before this form existed) is read as written.
//! Missing fields read as empty, as `Event` deserialises with defaults.

use serde::Serialize;
use tokentrail_parsers::stream::event_id;
use tokentrail_parsers::{Event, IdSource, Origin, Timestamp};

/// The fingerprint of the stream of `event` when its id is the one
/// [`event_id`] computes from that fingerprint and the event's offset as the first event of
/// its line — the case where the stored form leaves the id out. Events that are the second
/// or later of their line (rare) keep their id, so that nothing but the fingerprint is kept.
pub(crate) fn implicit_id_stream(event: &Event) -> Option<&str> {
    let IdSource(Some((fingerprint, 0))) = &event.id_source else {
        return None;
    };
    (implicit_id(fingerprint, &event.origin) == event.id).then_some(&**fingerprint)
}

/// The id of a stored event whose JSON left it out: see [`implicit_id_stream`].
pub(crate) fn implicit_id(fingerprint: &str, origin: &Origin) -> String {
    event_id(fingerprint, origin.offset, 0)
}

/// The JSON kept in the doc store for `event`; `with_id` false leaves the id out.
pub(crate) fn to_json(event: &Event, with_id: bool) -> serde_json::Result<String> {
    // Destructured without `..`: a field added to `Event` fails to compile here until the
    // stored form keeps it too.
    let Event {
        id,
        time,
        source,
        service,
        host,
        action,
        outcome,
        status,
        iss,
        sub,
        jti,
        client_id,
        username,
        local_user,
        groups,
        scopes,
        aud,
        token_iat,
        token_exp,
        grant_type,
        parent_jti,
        job_id,
        batch_job_id,
        worker_node,
        path,
        bytes,
        duration_ms,
        protocol,
        client_ip,
        client_host,
        transfer_id,
        session_id,
        origin,
        raw,
        id_source: _,
    } = event;
    serde_json::to_string(&Stored {
        id: if with_id { id } else { "" },
        time: *time,
        source,
        service,
        host,
        action,
        outcome,
        status,
        iss,
        sub,
        jti,
        client_id,
        username,
        local_user,
        groups,
        scopes,
        aud,
        token_iat: *token_iat,
        token_exp: *token_exp,
        grant_type,
        parent_jti,
        job_id,
        batch_job_id,
        worker_node,
        path,
        bytes: *bytes,
        duration_ms: *duration_ms,
        protocol,
        client_ip,
        client_host,
        transfer_id,
        session_id,
        origin,
        raw,
    })
}

/// An event's fields by reference, empty ones skipped (same names as `Event`, so that
/// `Event`'s own deserialiser reads it back).
#[derive(Serialize)]
struct Stored<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<Timestamp>,
    #[serde(skip_serializing_if = "str::is_empty")]
    source: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    service: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    host: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    action: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    outcome: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    jti: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    username: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    local_user: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    aud: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    token_iat: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_exp: Option<Timestamp>,
    #[serde(skip_serializing_if = "str::is_empty")]
    grant_type: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    parent_jti: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    job_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    batch_job_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    worker_node: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    protocol: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_ip: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_host: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    transfer_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    session_id: &'a str,
    origin: &'a Origin,
    raw: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn full_event() -> Event {
        let mut event = Event::new("dcache-billing", tokentrail_parsers::Service::Storage);
        event.time = Some(Timestamp(1_741_565_047_156));
        for (index, text) in [
            &mut event.host,
            &mut event.status,
            &mut event.iss,
            &mut event.sub,
            &mut event.jti,
            &mut event.client_id,
            &mut event.username,
            &mut event.local_user,
            &mut event.grant_type,
            &mut event.parent_jti,
            &mut event.job_id,
            &mut event.batch_job_id,
            &mut event.worker_node,
            &mut event.path,
            &mut event.client_ip,
            &mut event.client_host,
            &mut event.transfer_id,
            &mut event.session_id,
            &mut event.raw,
        ]
        .into_iter()
        .enumerate()
        {
            *text = format!("value {index} \"quoted\" ✓");
        }
        event.action = "value action \"quoted\" ✓".to_string().into();
        event.outcome = "value outcome".to_string().into();
        event.protocol = "value protocol".to_string().into();
        event.groups = vec!["/cms".into(), "/cms/prod".into()];
        event.scopes = vec!["storage.read:/".into()];
        event.aud = vec!["https://wlcg.cern.ch/jwt/v1/any".into()];
        event.token_iat = Some(Timestamp(-5));
        event.token_exp = Some(Timestamp(0));
        event.bytes = Some(0);
        event.duration_ms = Some(u64::MAX);
        event.origin = Origin {
            file: "/var/log/dcache/billing-2025.03.10".into(),
            line: 75_659,
            offset: 24_464_567,
        };
        event.id = implicit_id("0123456789abcdef01234567", &event.origin);
        event
    }

    #[test]
    fn every_field_round_trips_and_empty_ones_are_left_out() {
        let event = full_event();
        let json = to_json(&event, true).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        // Set zero-like values are values: kept.
        assert!(json.contains("\"bytes\":0"), "{json}");
        assert!(json.contains("\"token_exp\""), "{json}");

        let mut sparse = Event::new("iam-audit", tokentrail_parsers::Service::Issuer);
        sparse.id = "abc".into();
        sparse.raw = "a line".into();
        let json = to_json(&sparse, true).unwrap();
        for absent in [
            "\"sub\"",
            "\"groups\"",
            "\"bytes\"",
            "\"time\"",
            "\"token_iat\"",
        ] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sparse);
    }

    #[test]
    fn the_id_is_left_out_only_when_it_can_be_computed_again() {
        let mut event = full_event();
        assert_eq!(implicit_id_stream(&event), None, "no hint: keep the id");

        event.id_source = IdSource(Some((Arc::from("0123456789abcdef01234567"), 0)));
        assert_eq!(implicit_id_stream(&event), Some("0123456789abcdef01234567"));
        let json = to_json(&event, false).unwrap();
        assert!(!json.contains(&event.id), "{json}");
        let mut back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.id, "");
        back.id = implicit_id("0123456789abcdef01234567", &back.origin);
        assert_eq!(back, event);

        // The second event of a line, an id from elsewhere, or a hint that does not give
        // the id: the id stays in the stored event.
        event.id_source = IdSource(Some((Arc::from("0123456789abcdef01234567"), 1)));
        assert_eq!(implicit_id_stream(&event), None);
        event.id_source = IdSource(Some((Arc::from("another stream"), 0)));
        assert_eq!(implicit_id_stream(&event), None);
        event.id_source = IdSource(Some((Arc::from("0123456789abcdef01234567"), 0)));
        event.origin.offset += 1;
        assert_eq!(implicit_id_stream(&event), None);
    }
}
