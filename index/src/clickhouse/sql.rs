//! The backend-neutral [`Query`] as a ClickHouse `WHERE` condition.
//!
//! Every value comes from log lines an attacker may write, so values only ever appear as
//! string literals built by [`quote`], which escapes `\`, `'` and every control character
//! (NUL included) as `\xHH`; field names are checked against the event model's fields and
//! never copied from the query. The SQL is accepted by 18.16 and by current releases.

use std::fmt::Write as _;

use tokentrail_parsers::event::{KEY_FIELDS, LIST_FIELDS};
use tokentrail_parsers::Timestamp;

use crate::query::Query;
use crate::Error;

/// Latest day a `Date` column holds on every ClickHouse release (18.16's range ends in 2105).
const LAST_DAY_MILLIS: i64 = 4_102_358_400_000; // 2099-12-31
/// Time stored for events that have none (as the tantivy store: sorts last when newest first).
pub(crate) const NO_TIME: i64 = i64::MIN;

/// A ClickHouse string literal holding exactly `value`.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The partition day of an event time (`YYYY-MM-DD`), clamped to the `Date` range so that the
/// day is a monotonic function of the time (day conditions never drop a matching event).
pub(crate) fn day_of(millis: i64) -> String {
    let clamped = millis.clamp(0, LAST_DAY_MILLIS);
    Timestamp(clamped)
        .to_datetime()
        .format("%Y-%m-%d")
        .to_string()
}

/// Which kind of column a queryable field is.
enum Column {
    Single(&'static str),
    List(&'static str),
}

fn column(field: &str) -> Result<Column, Error> {
    match field {
        "id" => return Ok(Column::Single("id")),
        "file" => return Ok(Column::Single("file")),
        _ => {}
    }
    if let Some(name) = KEY_FIELDS.iter().find(|name| **name == field) {
        return Ok(Column::Single(name));
    }
    if let Some(name) = LIST_FIELDS.iter().find(|name| **name == field) {
        return Ok(Column::List(name));
    }
    Err(Error::UnknownField(field.to_string()))
}

/// Words of free text as the tantivy store's default tokenizer cuts them: runs of letters and
/// digits, lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The condition for `query`.
/// The filtering clauses of a query: `WHERE …`, or `PREWHERE <keys> WHERE <time>` when the
/// query is lookup keys within a time window. The server would otherwise pick the cheap
/// `day`/`time` columns for its own PREWHERE and read `doc` and `raw` for every row of the
/// window; reading the key column first reads them only where a key matched (a session
/// lookup over two days of 480k events: ~100 ms → ~17 ms on 18.16).
pub(crate) fn clauses(query: &Query) -> Result<String, Error> {
    if let Query::And(parts) = query {
        let (time, keys): (Vec<&Query>, Vec<&Query>) = parts
            .iter()
            .partition(|part| matches!(part, Query::TimeRange { .. }));
        if !time.is_empty() && !keys.is_empty() {
            let join = |parts: Vec<&Query>| -> Result<String, Error> {
                Ok(parts
                    .into_iter()
                    .map(|part| condition(part).map(|c| format!("({c})")))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" AND "))
            };
            return Ok(format!("PREWHERE {} WHERE {}", join(keys)?, join(time)?));
        }
    }
    Ok(format!("WHERE {}", condition(query)?))
}

pub(crate) fn condition(query: &Query) -> Result<String, Error> {
    Ok(match query {
        Query::All => "1".to_string(),
        Query::Term { field, value } => match column(field)? {
            Column::Single(name) => format!("{name} = {}", quote(value)),
            Column::List(name) => format!("has({name}, {})", quote(value)),
        },
        Query::Prefix { field, value } => match column(field)? {
            Column::Single(name) => format!("startsWith({name}, {})", quote(value)),
            Column::List(name) => {
                format!("arrayExists(x -> startsWith(x, {}), {name})", quote(value))
            }
        },
        Query::Text(text) => {
            let words = words(text);
            if words.is_empty() {
                return Ok("0".to_string());
            }
            // Whole words, case-insensitively: a word is letters and digits between
            // anything else (the words hold no regex syntax: letters and digits only).
            let parts: Vec<String> = words
                .iter()
                .map(|word| {
                    let pattern = format!("(?i)(^|[^\\pL\\pN]){word}($|[^\\pL\\pN])");
                    format!("match(raw, {})", quote(&pattern))
                })
                .collect();
            parts.join(" AND ")
        }
        Query::And(parts) => {
            if parts.is_empty() {
                return Ok("1".to_string());
            }
            let parts = parts
                .iter()
                .map(|part| Ok(format!("({})", condition(part)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            parts.join(" AND ")
        }
        Query::Or(parts) => {
            if parts.is_empty() {
                return Ok("0".to_string());
            }
            if let Some(list) = terms_of_one_field(parts)? {
                return Ok(list);
            }
            let parts = parts
                .iter()
                .map(|part| Ok(format!("({})", condition(part)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            parts.join(" OR ")
        }
        Query::Not(inner) => format!("NOT ({})", condition(inner)?),
        Query::OnHits(inner) => condition(inner)?,
        Query::EmptyOrOneOf { field, values } => match column(field)? {
            Column::Single(name) if values.is_empty() => format!("{name} = ''"),
            Column::Single(name) => format!(
                "{name} = '' OR {name} IN ({})",
                values
                    .iter()
                    .map(|value| quote(value))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Column::List(name) => {
                return Err(Error::BadQuery(format!(
                    "an empty-or-one-of condition needs a single-valued field, not {name}"
                )))
            }
        },
        Query::TimeRange { from, to } => {
            // The `day` conditions let the server skip whole partitions.
            let mut parts = Vec::new();
            if let Some(from) = from {
                parts.push(format!("time >= {}", from.millis()));
                parts.push(format!("day >= toDate({})", quote(&day_of(from.millis()))));
            }
            if let Some(to) = to {
                if from.is_none() {
                    // A time window holds dated events only.
                    parts.push(format!("time >= {}", NO_TIME + 1));
                }
                parts.push(format!("time < {}", to.millis()));
                parts.push(format!("day <= toDate({})", quote(&day_of(to.millis()))));
            }
            if parts.is_empty() {
                "1".to_string()
            } else {
                parts.join(" AND ")
            }
        }
    })
}

/// `field IN (…)` for an `Or` of terms on one single-valued field (the trace's lookups).
fn terms_of_one_field(parts: &[Query]) -> Result<Option<String>, Error> {
    let Some(Query::Term { field, .. }) = parts.first() else {
        return Ok(None);
    };
    let Column::Single(name) = column(field)? else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Query::Term {
                field: other,
                value,
            } if other == field => values.push(quote(value)),
            _ => return Ok(None),
        }
    }
    Ok(Some(format!("{name} IN ({})", values.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    #[test]
    fn quoting_escapes_quotes_backslashes_and_control_characters() {
        assert_eq!(quote("a'b"), r"'a\'b'");
        assert_eq!(quote(r"a\'"), r"'a\\\''");
        assert_eq!(quote("nul\0end\n"), r"'nul\x00end\x0A'");
        assert_eq!(quote("é✓"), "'é✓'");
    }

    #[test]
    fn field_names_never_come_from_the_query_text() {
        let query = Query::term("sub) OR 1=1 --", "x");
        assert!(matches!(condition(&query), Err(Error::UnknownField(_))));
    }

    #[test]
    fn translates_the_search_language() {
        let query =
            parse(r#"jti:a'b -action:file.read path:/store/* scopes:openid "Bad creds""#).unwrap();
        assert_eq!(
            condition(&query).unwrap(),
            "(jti = 'a\\'b') AND (NOT (action = 'file.read')) AND (startsWith(path, '/store/')) \
             AND (has(scopes, 'openid')) AND (match(raw, '(?i)(^|[^\\\\pL\\\\pN])bad($|[^\\\\pL\\\\pN])') \
             AND match(raw, '(?i)(^|[^\\\\pL\\\\pN])creds($|[^\\\\pL\\\\pN])'))"
        );
    }

    #[test]
    fn or_of_terms_on_one_field_becomes_in() {
        let query = Query::Or(vec![Query::term("jti", "a"), Query::term("jti", "b")]);
        assert_eq!(condition(&query).unwrap(), "jti IN ('a', 'b')");
        let mixed = Query::Or(vec![Query::term("jti", "a"), Query::term("sub", "b")]);
        assert_eq!(condition(&mixed).unwrap(), "(jti = 'a') OR (sub = 'b')");
    }

    #[test]
    fn time_ranges_also_bound_the_partition_day() {
        let query = Query::TimeRange {
            from: Some(Timestamp(1_741_600_000_000)),
            to: None,
        };
        assert_eq!(
            condition(&query).unwrap(),
            "time >= 1741600000000 AND day >= toDate('2025-03-10')"
        );
        let lookup =
            Query::term("session_id", "s'1").within(None, Some(Timestamp(1_741_600_000_000)));
        assert_eq!(
            clauses(&lookup).unwrap(),
            "PREWHERE (session_id = 's\\'1') WHERE (time >= -9223372036854775807 AND time < 1741600000000 AND day <= toDate('2025-03-10'))"
        );
        assert_eq!(
            clauses(&Query::term("jti", "j")).unwrap(),
            "WHERE jti = 'j'"
        );
        let until = Query::TimeRange {
            from: None,
            to: Some(Timestamp(1_741_600_000_000)),
        };
        assert_eq!(
            condition(&until).unwrap(),
            "time >= -9223372036854775807 AND time < 1741600000000 AND day <= toDate('2025-03-10')"
        );
        assert_eq!(day_of(NO_TIME), "1970-01-01");
        assert_eq!(day_of(i64::MAX), "2099-12-31");
    }

    #[test]
    fn text_without_words_matches_nothing() {
        assert_eq!(condition(&Query::Text("--".into())).unwrap(), "0");
    }
}
