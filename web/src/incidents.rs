//! Incidents the trace page highlights, computed from a trace answer: a token or identity used
//! after the account (or client) was disabled, and a token used from an address it had not
//! been used from before that is not a worker node of the answer's jobs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tokentrail_index::TraceAnswer;
use tokentrail_parsers::{action, Timestamp};

/// One highlighted event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incident {
    /// `use-after-disable` or `new-address`.
    pub kind: &'static str,
    pub event_id: String,
    pub detail: String,
}

/// Actions where a credential is presented (a job starting or ending on a worker node is the
/// batch system at work, not a new use of the token).
fn is_use(action_name: &str) -> bool {
    let family = action_name.split('.').next().unwrap_or_default();
    matches!(family, "token" | "auth" | "file" | "transfer" | "authz")
        || action_name == action::JOB_SUBMIT
}

/// Job lifecycle events carry the worker node's address.
fn is_worker_node_event(action_name: &str) -> bool {
    action_name.starts_with("job.") && action_name != action::JOB_SUBMIT
}

/// Addresses among the answer's token uses that the store knows as worker nodes (a job
/// started there), even when the job is not part of this answer — a pilot's payload uses the
/// user's token from a worker node the user never submitted to.
pub fn known_worker_nodes(
    store: &dyn tokentrail_index::EventStore,
    answer: &TraceAnswer,
) -> BTreeSet<String> {
    use tokentrail_index::{Order, Query};
    let candidates: BTreeSet<&str> = answer
        .events
        .iter()
        .filter(|linked| !linked.event.jti.is_empty() && !linked.event.client_ip.is_empty())
        .map(|linked| linked.event.client_ip.as_str())
        .collect();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let mut known = BTreeSet::new();
    for chunk in candidates.chunks(64) {
        let query = Query::And(vec![
            Query::term("action", action::JOB_START),
            Query::Or(
                chunk
                    .iter()
                    .map(|ip| Query::term("client_ip", ip))
                    .collect(),
            ),
        ]);
        if let Ok(hits) = store.search(&query, 10_000, Order::NewestFirst) {
            known.extend(hits.events.into_iter().map(|event| event.client_ip));
        }
    }
    known
}

/// The incidents of an answer, in event order. `known_worker_nodes` are addresses known as
/// worker nodes beyond the answer's own jobs (see [`known_worker_nodes`]).
pub fn find(answer: &TraceAnswer, known_worker_nodes: &BTreeSet<String>) -> Vec<Incident> {
    let mut incidents = Vec::new();
    // Disable times by sub, username and client.
    let mut disabled: HashMap<(&str, &str), Timestamp> = HashMap::new();
    for linked in &answer.events {
        let event = &linked.event;
        let Some(time) = event.time else { continue };
        let keys: Vec<(&str, &str)> = match event.action.as_str() {
            action::ACCOUNT_DISABLE => [
                ("sub", event.sub.as_str()),
                ("user", event.username.as_str()),
            ]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect(),
            action::CLIENT_DISABLE if !event.client_id.is_empty() => {
                vec![("client", event.client_id.as_str())]
            }
            _ => continue,
        };
        for key in keys {
            disabled
                .entry(key)
                .and_modify(|at| *at = (*at).min(time))
                .or_insert(time);
        }
    }
    // The sub of each token, so that a later use of a jti without sub is attributed.
    let mut sub_of_jti: HashMap<&str, &str> = HashMap::new();
    for token in &answer.tokens {
        if !token.sub.is_empty() {
            sub_of_jti.insert(token.jti.as_str(), token.sub.as_str());
        }
    }
    for linked in &answer.events {
        let event = &linked.event;
        if !event.jti.is_empty() && !event.sub.is_empty() {
            sub_of_jti
                .entry(event.jti.as_str())
                .or_insert(event.sub.as_str());
        }
    }
    let worker_nodes: BTreeSet<&str> = answer
        .jobs
        .iter()
        .map(|job| job.worker_node.as_str())
        .chain(
            answer
                .events
                .iter()
                .filter(|linked| is_worker_node_event(&linked.event.action))
                .flat_map(|linked| {
                    [
                        linked.event.client_ip.as_str(),
                        linked.event.worker_node.as_str(),
                    ]
                }),
        )
        .filter(|name| !name.is_empty())
        .collect();
    let mut addresses_of_jti: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut ordered: Vec<_> = answer.events.iter().collect();
    ordered.sort_by_key(|linked| linked.event.time);
    for linked in ordered {
        let event = &linked.event;
        let Some(time) = event.time else { continue };
        if !is_use(&event.action) {
            continue;
        }
        let sub = if event.sub.is_empty() {
            sub_of_jti.get(event.jti.as_str()).copied().unwrap_or("")
        } else {
            event.sub.as_str()
        };
        let after = |kind: &str, value: &str| {
            !value.is_empty() && disabled.get(&(kind, value)).is_some_and(|at| time > *at)
        };
        if after("sub", sub) || after("user", &event.username) || after("client", &event.client_id)
        {
            incidents.push(Incident {
                kind: "use-after-disable",
                event_id: event.id.clone(),
                detail: format!("{} after the account or client was disabled", event.action),
            });
        }
        if !event.jti.is_empty() && !event.client_ip.is_empty() {
            let from_worker_node = known_worker_nodes.contains(&event.client_ip)
                || worker_nodes.contains(event.client_host.as_str())
                || worker_nodes.contains(event.worker_node.as_str())
                || worker_nodes.contains(event.client_ip.as_str());
            let seen = addresses_of_jti.entry(event.jti.as_str()).or_default();
            if !seen.is_empty() && !seen.contains(event.client_ip.as_str()) && !from_worker_node {
                incidents.push(Incident {
                    kind: "new-address",
                    event_id: event.id.clone(),
                    detail: format!("token used from new address {}", event.client_ip),
                });
            }
            seen.insert(event.client_ip.as_str());
        }
    }
    incidents
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokentrail_index::trace::{Link, LinkedEvent};
    use tokentrail_parsers::Event;

    fn linked(
        id: &str,
        millis: i64,
        action_name: &str,
        sub: &str,
        jti: &str,
        ip: &str,
    ) -> LinkedEvent {
        LinkedEvent {
            event: Event {
                id: id.into(),
                time: Some(Timestamp(millis)),
                action: action_name.to_string().into(),
                sub: sub.into(),
                jti: jti.into(),
                client_ip: ip.into(),
                ..Event::default()
            }
            .into(),
            link: Link {
                rule: "seed".into(),
                confidence: "certain".into(),
            },
        }
    }

    #[test]
    fn flags_use_after_disable_and_new_address() {
        let answer = TraceAnswer {
            events: vec![
                linked("a", 1, "token.issue", "s", "j", "10.0.0.1"),
                linked("b", 2, "file.read", "", "j", "10.0.0.1"),
                linked("c", 3, "account.disable", "s", "", ""),
                linked("d", 4, "file.read", "", "j", "203.0.113.9"),
                linked("e", 5, "job.start", "", "j", "198.51.100.5"),
                linked("f", 6, "file.read", "", "j", "198.51.100.5"),
            ],
            ..TraceAnswer::default()
        };
        let incidents = find(&answer, &BTreeSet::new());
        let kinds: Vec<_> = incidents
            .iter()
            .map(|i| (i.kind, i.event_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("use-after-disable", "d"),
                ("new-address", "d"),
                ("use-after-disable", "f")
            ]
        );
    }
}
