//! Pages through every event matching a query, oldest first, with bounded memory: the store
//! has no cursor, so each page starts at the last page's last time and skips the events of
//! that millisecond already seen.

use std::collections::HashSet;

use crate::{EventStore, Order, Query};
use tokentrail_parsers::{Event, Timestamp};

/// Events per page.
const PAGE: usize = 5000;

/// Calls `visit` with every event matching `query` within `[from, to)`, oldest first.
/// Events without a time are not visited.
pub(crate) fn scan(
    store: &dyn EventStore,
    query: &Query,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    mut visit: impl FnMut(Event),
) -> Result<(), crate::Error> {
    let mut cursor = from.unwrap_or(Timestamp(i64::MIN / 2));
    let mut seen_at_cursor: HashSet<String> = HashSet::new();
    let mut page = PAGE;
    loop {
        let hits = store.search(
            &query.clone().within(Some(cursor), to),
            page,
            Order::OldestFirst,
        )?;
        let full = hits.events.len() >= page;
        let mut last = cursor;
        let mut fresh = 0usize;
        let mut at_last: HashSet<String> = HashSet::new();
        for event in hits.events {
            let Some(time) = event.time else { continue };
            if time == cursor && seen_at_cursor.contains(&event.id) {
                continue;
            }
            fresh += 1;
            if time != last {
                last = time;
                at_last.clear();
            }
            at_last.insert(event.id.clone());
            visit(event);
        }
        if !full {
            return Ok(());
        }
        if last == cursor {
            if fresh == 0 {
                // A whole page of one millisecond already seen: widen the page.
                page = page.saturating_mul(2);
            }
            seen_at_cursor.extend(at_last);
        } else {
            cursor = last;
            seen_at_cursor = at_last;
        }
    }
}
