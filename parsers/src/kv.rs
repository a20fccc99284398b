//! `key=value` lists as many services write them: values bare, `"double quoted"` with backslash
//! escapes, or `'single quoted'`; pairs separated by spaces and/or commas; keys in any order.
//! Example: `type="LOGIN", realmId=abc, error='bad thing'` or `a=1 b="x \"y\"" c=`.

use std::borrow::Cow;

/// One `key=value` pair; the value is unescaped when it was quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    pub key: &'a str,
    pub value: Cow<'a, str>,
}

/// Splits `text` into pairs. Text that is not `key=value` (a bare word) is skipped. Never
/// panics; an unterminated quote takes the rest of the line as the value.
pub fn pairs(text: &str) -> Vec<Pair<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        while index < bytes.len() && matches!(bytes[index], b' ' | b',' | b'\t') {
            index += 1;
        }
        let key_start = index;
        while index < bytes.len() && !matches!(bytes[index], b'=' | b' ' | b',' | b'\t') {
            index += 1;
        }
        if index == key_start {
            // A stray `=`: step over it.
            index += 1;
            continue;
        }
        if index >= bytes.len() || bytes[index] != b'=' {
            // A bare word: skip it.
            continue;
        }
        let key = &text[key_start..index];
        index += 1;
        let (value, next) = value_at(text, index);
        out.push(Pair { key, value });
        index = next;
    }
    out
}

/// Reads one value starting at `index`: (value, index after it).
pub fn value_at(text: &str, index: usize) -> (Cow<'_, str>, usize) {
    let bytes = text.as_bytes();
    match bytes.get(index) {
        Some(&quote @ (b'"' | b'\'')) => {
            let start = index + 1;
            let mut cursor = start;
            let mut has_escape = false;
            // The closing quote; in double quotes, a backslash escapes the byte after it.
            loop {
                let rest = &bytes[cursor.min(bytes.len())..];
                let found = if quote == b'"' {
                    memchr::memchr2(quote, b'\\', rest)
                } else {
                    memchr::memchr(quote, rest)
                };
                match found {
                    Some(at) if rest[at] == b'\\' => {
                        has_escape = true;
                        cursor += at + 2;
                    }
                    Some(at) => {
                        cursor += at;
                        break;
                    }
                    None => {
                        cursor = bytes.len();
                        break;
                    }
                }
            }
            let end = cursor.min(bytes.len());
            let inner = &text[start..end];
            let value = if has_escape {
                Cow::Owned(unescape(inner))
            } else {
                Cow::Borrowed(inner)
            };
            (value, (end + 1).min(bytes.len()))
        }
        _ => {
            let start = index.min(bytes.len());
            let end = memchr::memchr3(b' ', b',', b'\t', &bytes[start..])
                .map_or(bytes.len(), |at| start + at);
            (Cow::Borrowed(&text[start..end]), end)
        }
    }
}

/// Undoes backslash escapes (`\"`, `\\`, `\n`, `\t`, `\/`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Declares a struct of the values of the keys a parser reads, one `Option` per key, and its
/// `read`, which fills it in one pass over a line's `(key, value)` pairs — no map and no
/// search of the pairs per key. `keep first` keeps each key's first value, `keep last` its
/// last (as collecting into a map would).
macro_rules! known_keys {
    ($name:ident<$lt:lifetime, $value:ty>, keep $keep:ident, { $($field:ident = $key:literal),* $(,)? }) => {
        #[derive(Default)]
        struct $name<$lt> {
            $($field: Option<$value>,)*
        }

        impl<$lt> $name<$lt> {
            fn read(pairs: impl IntoIterator<Item = (&$lt str, $value)>) -> Self {
                let mut keys = Self::default();
                for (key, value) in pairs {
                    let slot = match key {
                        $($key => &mut keys.$field,)*
                        _ => continue,
                    };
                    $crate::kv::known_keys!(@keep $keep, slot, value);
                }
                keys
            }
        }
    };
    (@keep first, $slot:ident, $value:ident) => {
        if $slot.is_none() {
            *$slot = Some($value);
        }
    };
    (@keep last, $slot:ident, $value:ident) => {
        *$slot = Some($value);
    };
}
pub(crate) use known_keys;

/// The first value of `key` among `pairs`.
pub fn get<'p>(pairs: &'p [Pair<'_>], key: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|pair| pair.key == key)
        .map(|pair| pair.value.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_unquoted_and_single_quoted_values() {
        let found =
            pairs(r#"type="LOGIN", realmId=abc, error='bad thing' x="a \"b\" c" empty= last=1"#);
        assert_eq!(get(&found, "type"), Some("LOGIN"));
        assert_eq!(get(&found, "realmId"), Some("abc"));
        assert_eq!(get(&found, "error"), Some("bad thing"));
        assert_eq!(get(&found, "x"), Some(r#"a "b" c"#));
        assert_eq!(get(&found, "empty"), Some(""));
        assert_eq!(get(&found, "last"), Some("1"));
    }

    #[test]
    fn survives_hostile_text() {
        for text in [
            "",
            "=",
            "==",
            "a=\"",
            "a=\"\\",
            "bare words only",
            "k='x",
            ",,,",
            "a=b=c",
        ] {
            let _ = pairs(text);
        }
        assert_eq!(get(&pairs("a=\"unterminated"), "a"), Some("unterminated"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A value and how it is written: bare, or double-quoted with `\` and `"` escaped.
    fn written_value() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            "[A-Za-z0-9/:._@-][A-Za-z0-9/:._@=-]{0,20}".prop_map(|v| (v.clone(), v)),
            "[ -~]{0,30}".prop_map(|v| {
                let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
                (v, format!("\"{escaped}\""))
            }),
            "[^']{0,20}".prop_map(|v| (v.clone(), format!("'{v}'"))),
        ]
    }

    /// `value_at` as a plain byte-by-byte reading of the same rules.
    fn plain_value_at(text: &str, index: usize) -> (String, usize) {
        let bytes = text.as_bytes();
        match bytes.get(index) {
            Some(&quote @ (b'"' | b'\'')) => {
                let (start, mut cursor, mut has_escape) = (index + 1, index + 1, false);
                while cursor < bytes.len() && bytes[cursor] != quote {
                    if bytes[cursor] == b'\\' && quote == b'"' {
                        has_escape = true;
                        cursor += 1;
                    }
                    cursor += 1;
                }
                let end = cursor.min(bytes.len());
                let inner = &text[start..end];
                let value = if has_escape {
                    unescape(inner)
                } else {
                    inner.to_string()
                };
                (value, (end + 1).min(bytes.len()))
            }
            _ => {
                let mut cursor = index;
                while cursor < bytes.len() && !matches!(bytes[cursor], b' ' | b',' | b'\t') {
                    cursor += 1;
                }
                (text[index..cursor].to_string(), cursor)
            }
        }
    }

    proptest! {
        #[test]
        fn values_read_as_the_plain_reading(
            text in "([a-z]{0,3}(=|, |\t| )?(\"[a-z ,'\\\\\"]{0,6}\"?|'[a-z \\\\\"]{0,6}'?|[a-z=]{0,4}|\u{e9}))*",
        ) {
            for index in (0..=text.len()).filter(|index| text.is_char_boundary(*index)) {
                let (value, next) = value_at(&text, index);
                prop_assert_eq!((value.into_owned(), next), plain_value_at(&text, index), "{} at {}", text, index);
            }
        }

        #[test]
        fn pairs_never_panic(text in any::<String>()) {
            for pair in pairs(&text) {
                prop_assert!(!pair.key.is_empty());
            }
            let _ = unescape(&text);
        }

        #[test]
        fn written_pairs_read_back(
            entries in proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_.]{0,12}", written_value()), 0..8),
            separator in proptest::sample::select(vec![" ", ", ", ",", "\t", "  "]),
        ) {
            let text = entries
                .iter()
                .map(|(key, (_, written))| format!("{key}={written}"))
                .collect::<Vec<_>>()
                .join(separator);
            let found = pairs(&text);
            prop_assert_eq!(found.len(), entries.len(), "{}", text);
            for (pair, (key, (value, _))) in found.iter().zip(&entries) {
                prop_assert_eq!(pair.key, key.as_str());
                prop_assert_eq!(pair.value.as_ref(), value.as_str());
            }
        }
    }
}
