//! The search language and its backend-neutral form.
//!
//! `jti:e9b4a053-… client_ip:192.0.2.45 "bad credentials" -action:file.read path:/store/user/*`
//! — clauses are ANDed; `OR` between clauses makes alternatives; a leading `-` (or `NOT`)
//! negates; `field:value` is an exact match on a key field (a trailing `*` makes it a prefix);
//! anything else is free text over the raw line. Values may be double-quoted.

use tokentrail_parsers::event::{KEY_FIELDS, LIST_FIELDS};
use tokentrail_parsers::Timestamp;

/// A query any store backend can answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Every event.
    All,
    /// Exact value of a key field.
    Term { field: String, value: String },
    /// Key field value starting with `value`.
    Prefix { field: String, value: String },
    /// Free text over the raw line (words in this order).
    Text(String),
    /// All of these.
    And(Vec<Query>),
    /// Any of these.
    Or(Vec<Query>),
    /// Not this.
    Not(Box<Query>),
    /// Event time within `[from, to)`.
    TimeRange {
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    },
    /// The single-valued key field is empty or holds one of `values` (`Not` of it: holds a
    /// value, and none of these). The trace uses it to drop other identities' events before
    /// they are fetched. Stores may take it only as a part of the top-level `And` (or as the
    /// whole query), and may compare values cut to the indexed length: check the events
    /// again where that matters.
    EmptyOrOneOf { field: String, values: Vec<String> },
    /// `inner`, with a hint: as a part of the top-level `And`, check it on the hits of the
    /// other conditions rather than select by it (an unselective condition, such as "a file
    /// operation", beside a selective one). Means the same as `inner`; a store may ignore
    /// the hint.
    OnHits(Box<Query>),
}

impl Query {
    /// The conditions this query ANDs: its parts when it is an `And`, none for `All`, else
    /// itself (to AND them into another `And` without nesting it).
    pub fn and_parts(&self) -> Vec<Query> {
        match self {
            Query::All => Vec::new(),
            Query::And(parts) => parts.clone(),
            other => vec![other.clone()],
        }
    }

    /// Exact match helper.
    pub fn term(field: &str, value: &str) -> Query {
        Query::Term {
            field: field.to_string(),
            value: value.to_string(),
        }
    }

    /// `self AND time in [from, to)`, or `self` when neither bound is set.
    pub fn within(self, from: Option<Timestamp>, to: Option<Timestamp>) -> Query {
        if from.is_none() && to.is_none() {
            return self;
        }
        let range = Query::TimeRange { from, to };
        match self {
            Query::All => range,
            Query::And(mut parts) => {
                parts.push(range);
                Query::And(parts)
            }
            other => Query::And(vec![other, range]),
        }
    }
}

/// A query that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown field {field:?} in query; known fields: {known}")]
    UnknownField { field: String, known: String },
    #[error("unterminated quote in query at byte {0}")]
    UnterminatedQuote(usize),
    #[error("empty value for field {0:?} in query")]
    EmptyValue(String),
    #[error("query has a dangling {0}")]
    Dangling(&'static str),
}

/// Fields a query may name: the key fields, the list fields, and `id`.
pub fn is_query_field(name: &str) -> bool {
    name == "id" || KEY_FIELDS.contains(&name) || LIST_FIELDS.contains(&name)
}

fn known_fields() -> String {
    let mut names: Vec<&str> = vec!["id"];
    names.extend(KEY_FIELDS);
    names.extend(LIST_FIELDS);
    names.join(", ")
}

#[derive(Debug, PartialEq)]
enum Token {
    Word { text: String, quoted: bool },
    Or,
    Not,
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut index = 0;
    while index < chars.len() {
        let (_, c) = chars[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        if c == '-' && index + 1 < chars.len() && !chars[index + 1].1.is_whitespace() {
            tokens.push(Token::Not);
            index += 1;
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        while index < chars.len() && !chars[index].1.is_whitespace() {
            let (position, c) = chars[index];
            if c == '"' {
                quoted = true;
                index += 1;
                let mut closed = false;
                while index < chars.len() {
                    let (_, inner) = chars[index];
                    if inner == '\\' && index + 1 < chars.len() {
                        text.push(chars[index + 1].1);
                        index += 2;
                        continue;
                    }
                    if inner == '"' {
                        closed = true;
                        index += 1;
                        break;
                    }
                    text.push(inner);
                    index += 1;
                }
                if !closed {
                    return Err(QueryError::UnterminatedQuote(position));
                }
                continue;
            }
            text.push(c);
            index += 1;
        }
        match (text.as_str(), quoted) {
            ("OR", false) => tokens.push(Token::Or),
            ("AND", false) => {}
            ("NOT", false) => tokens.push(Token::Not),
            _ => tokens.push(Token::Word { text, quoted }),
        }
    }
    Ok(tokens)
}

/// Reads one clause word: `field:value` or free text.
fn clause(text: &str, quoted: bool) -> Result<Query, QueryError> {
    if !quoted || text.contains(':') {
        if let Some((field, value)) = text.split_once(':') {
            let looks_like_field = !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
            let is_url = value.starts_with("//");
            if looks_like_field && !is_url {
                if !is_query_field(field) {
                    return Err(QueryError::UnknownField {
                        field: field.to_string(),
                        known: known_fields(),
                    });
                }
                if value.is_empty() {
                    return Err(QueryError::EmptyValue(field.to_string()));
                }
                if let Some(prefix) = value.strip_suffix('*') {
                    if !prefix.is_empty() {
                        return Ok(Query::Prefix {
                            field: field.to_string(),
                            value: prefix.to_string(),
                        });
                    }
                }
                return Ok(Query::term(field, value));
            }
        }
    }
    Ok(Query::Text(text.to_string()))
}

/// Parses the search language into a [`Query`]. An empty query is [`Query::All`].
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(input)?;
    let mut alternatives: Vec<Vec<Query>> = vec![Vec::new()];
    let mut negate = false;
    for token in tokens {
        match token {
            Token::Or => {
                if negate {
                    return Err(QueryError::Dangling("NOT"));
                }
                if alternatives.last().is_some_and(Vec::is_empty) {
                    return Err(QueryError::Dangling("OR"));
                }
                alternatives.push(Vec::new());
            }
            Token::Not => negate = true,
            Token::Word { text, quoted } => {
                let mut query = clause(&text, quoted)?;
                if negate {
                    query = Query::Not(Box::new(query));
                    negate = false;
                }
                if let Some(current) = alternatives.last_mut() {
                    current.push(query);
                }
            }
        }
    }
    if negate {
        return Err(QueryError::Dangling("NOT"));
    }
    if alternatives.len() > 1 && alternatives.last().is_some_and(Vec::is_empty) {
        return Err(QueryError::Dangling("OR"));
    }
    let mut conjunctions: Vec<Query> = alternatives
        .into_iter()
        .map(|mut parts| match parts.len() {
            0 => Query::All,
            1 => parts.remove(0),
            _ => Query::And(parts),
        })
        .collect();
    Ok(if conjunctions.len() == 1 {
        conjunctions.remove(0)
    } else {
        Query::Or(conjunctions)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_text_prefix_and_negation() {
        let query =
            parse(r#"jti:e9b4 "bad credentials" -action:file.read path:/store/user/*"#).unwrap();
        assert_eq!(
            query,
            Query::And(vec![
                Query::term("jti", "e9b4"),
                Query::Text("bad credentials".into()),
                Query::Not(Box::new(Query::term("action", "file.read"))),
                Query::Prefix {
                    field: "path".into(),
                    value: "/store/user/".into()
                },
            ])
        );
    }

    #[test]
    fn quoted_values_keep_colons_and_spaces() {
        assert_eq!(
            parse(r#"iss:"https://cms-auth.cern.ch""#).unwrap(),
            Query::term("iss", "https://cms-auth.cern.ch")
        );
        assert_eq!(
            parse("iss:https://cms-auth.cern.ch").unwrap(),
            Query::term("iss", "https://cms-auth.cern.ch")
        );
        assert_eq!(
            parse("https://x.org/y").unwrap(),
            Query::Text("https://x.org/y".into())
        );
    }

    #[test]
    fn or_splits_alternatives() {
        assert_eq!(
            parse("sub:a OR sub:b").unwrap(),
            Query::Or(vec![Query::term("sub", "a"), Query::term("sub", "b")])
        );
    }

    #[test]
    fn bad_queries_get_clear_errors() {
        assert!(matches!(
            parse("subb:x"),
            Err(QueryError::UnknownField { .. })
        ));
        assert!(matches!(
            parse("\"open"),
            Err(QueryError::UnterminatedQuote(0))
        ));
        assert!(matches!(parse("sub:"), Err(QueryError::EmptyValue(_))));
        assert!(matches!(parse("sub:a OR"), Err(QueryError::Dangling("OR"))));
        assert!(matches!(parse("NOT"), Err(QueryError::Dangling("NOT"))));
        assert_eq!(parse("   ").unwrap(), Query::All);
    }

    #[test]
    fn ipv6_values_are_field_values() {
        assert_eq!(
            parse("client_ip:2001:db8::1").unwrap(),
            Query::term("client_ip", "2001:db8::1")
        );
    }
}
