//! JSON objects read lazily: an [`Object`] keeps each member's value as its raw text,
//! borrowed from the line, and decodes a value only when a parser asks for it.
//!
//! A `serde_json::Value` builds a map node and a `String` for every key and value of a line,
//! where a parser reads a dozen of them: that was 37 % of an IAM audit parse, whose lines
//! carry ~750 bytes of JSON. Reading an `Object` still checks the whole text is JSON (the
//! same grammar, the same errors on a truncated line) but allocates one `Vec` of members.
//!
//! Keys given twice: the last one counts, as in a `Value` map.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// A JSON object's members, in the order written; values as their raw JSON text.
#[derive(Debug, Default)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// The object `text` holds, with only whitespace around it; `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Object<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The object at the start of `text` (after whitespace); text after it (garbage a log
    /// shipper appended) is ignored. `None` when `text` does not start with a complete
    /// object (a truncated line, an array, a number).
    pub fn first_in(text: &'a str) -> Option<Object<'a>> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Object<'a>>();
        values.next()?.ok()
    }

    /// The raw JSON text of the member `key` (the last one when the key is given twice).
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.members
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.get())
    }

    /// The string at `key`; empty for a missing key, JSON `null`, a non-string, or the literal
    /// text `null` (Keycloak and Java print absent values that way).
    pub fn text(&self, key: &str) -> Cow<'a, str> {
        match self.string(key) {
            Some(text) if text != "null" => text,
            _ => Cow::Borrowed(""),
        }
    }

    /// The string at `key`, exactly as decoded (`"null"` included); `None` for a missing key
    /// or a value that is not a string.
    pub fn string(&self, key: &str) -> Option<Cow<'a, str>> {
        let raw = self.raw(key)?;
        raw.starts_with('"').then(|| decode_string(raw)).flatten()
    }

    /// The string or the number at `key` as text (a number as serde_json prints it); empty
    /// for anything else.
    pub fn scalar_text(&self, key: &str) -> Cow<'a, str> {
        self.raw(key).map(scalar_text).unwrap_or_default()
    }

    /// The boolean at `key`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The object at `key`; `None` for a missing key or a value that is not an object.
    pub fn object(&self, key: &str) -> Option<Object<'a>> {
        let raw = self.raw(key)?;
        if raw.starts_with('{') {
            Object::parse(raw)
        } else {
            None
        }
    }

    /// The items of the array at `key` as raw JSON texts; `None` when it is not an array.
    pub fn array(&self, key: &str) -> Option<Vec<&'a str>> {
        items(self.raw(key)?)
    }

    /// The string items of the array at `key` (other items skipped); `None` when it is not
    /// an array.
    pub fn strings(&self, key: &str) -> Option<Vec<String>> {
        let items = self.array(key)?;
        Some(
            items
                .into_iter()
                .filter(|item| item.starts_with('"'))
                .filter_map(|item| decode_string(item).map(Cow::into_owned))
                .collect(),
        )
    }

    /// The value at `key` decoded as a `serde_json::Value` (for the few readers that take one).
    pub fn value(&self, key: &str) -> Option<Value> {
        serde_json::from_str(self.raw(key)?).ok()
    }
}

/// A raw JSON string (with its quotes) decoded: borrowed when it holds no escape.
fn decode_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// The items of a raw JSON array as raw JSON texts; `None` when it is not an array.
pub fn items(raw: &str) -> Option<Vec<&str>> {
    if !raw.starts_with('[') {
        return None;
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw).ok()?;
    Some(items.into_iter().map(RawValue::get).collect())
}

/// A raw JSON string or number as text (a number as serde_json prints it); `None` for
/// anything else.
pub fn scalar(raw: &str) -> Option<Cow<'_, str>> {
    if raw.starts_with('"') {
        return decode_string(raw);
    }
    serde_json::from_str::<Number>(raw)
        .ok()
        .map(|number| Cow::Owned(number.to_string()))
}

/// [`scalar`], empty for anything that is neither a string nor a number.
fn scalar_text(raw: &str) -> Cow<'_, str> {
    scalar(raw).unwrap_or_default()
}

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Object<'de>, M::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some((key, value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            members.push((key.0, value));
        }
        Ok(Object { members })
    }
}

/// A member name: borrowed from the text unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn members_are_read_on_demand_and_the_last_of_a_key_counts() {
        let object = Object::parse(
            r#" {"a":"x","b":null,"c":"null","d":3,"e":true,"a":"y","f":{"g":"h"},"i":[1,"j",{}]} "#,
        )
        .unwrap();
        assert_eq!(object.text("a"), "y");
        assert_eq!(object.text("b"), "");
        assert_eq!(object.text("c"), "");
        assert_eq!(object.string("c").as_deref(), Some("null"));
        assert_eq!(object.text("d"), "");
        assert_eq!(object.scalar_text("d"), "3");
        assert_eq!(object.scalar_text("e"), "");
        assert_eq!(object.bool("e"), Some(true));
        assert_eq!(object.bool("d"), None);
        assert_eq!(object.text("missing"), "");
        assert_eq!(object.raw("b"), Some("null"));
        assert_eq!(object.raw("missing"), None);
        assert_eq!(object.object("f").unwrap().text("g"), "h");
        assert!(object.object("a").is_none());
        assert_eq!(object.array("i").unwrap(), vec!["1", r#""j""#, "{}"]);
        assert!(object.array("f").is_none());
        assert_eq!(object.value("f"), Some(serde_json::json!({"g":"h"})));
    }

    #[test]
    fn escapes_are_decoded_and_plain_strings_borrowed() {
        let object = Object::parse(r#"{"a\"b":"c\u00e9\n","plain":"x y"}"#).unwrap();
        assert_eq!(object.text("a\"b"), "cé\n");
        assert!(matches!(object.text("plain"), Cow::Borrowed("x y")));
    }

    #[test]
    fn first_in_ignores_what_follows_and_refuses_what_is_not_a_whole_object() {
        assert_eq!(
            Object::first_in(r#"  {"a":1} trailing junk"#)
                .unwrap()
                .scalar_text("a"),
            "1"
        );
        assert!(Object::first_in(r#"{"a":1"#).is_none());
        assert!(Object::first_in(r#"{"a":[1,2}"#).is_none());
        assert!(Object::first_in("[1,2]").is_none());
        assert!(Object::first_in("").is_none());
        assert!(Object::first_in("nonsense").is_none());
        assert!(Object::parse(r#"{"a":1} junk"#).is_none());
    }

    #[test]
    fn numbers_read_as_text_as_a_value_prints_them() {
        for raw in [
            "0",
            "-12",
            "1741564803614",
            "1.5",
            "1e3",
            "-0.0",
            "18446744073709551616",
        ] {
            let value: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(scalar_text(raw), value.to_string(), "{raw}");
        }
    }

    /// A JSON value of a few levels, with the odd keys and strings of real lines.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-z\"\\\\/é\n\t ]{0,8}".prop_map(Value::String),
            Just(Value::String("null".into())),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-e\"\\\\é]{0,3}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Every reader agrees with the `serde_json::Value` of the same text.
        #[test]
        fn reads_as_a_value_does(value in json_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                value.to_string()
            };
            // What a parser reading a `Value` saw (floats need not survive a round trip).
            let value: Value = serde_json::from_str(&text).unwrap();
            let object = Object::parse(&text);
            let Value::Object(map) = &value else {
                prop_assert!(object.is_none());
                prop_assert!(Object::first_in(&text).is_none());
                return Ok(());
            };
            let object = object.unwrap();
            for (key, member) in map {
                prop_assert_eq!(object.value(key), Some(member.clone()));
                let expected_text = match member {
                    Value::String(text) if text != "null" => text.as_str(),
                    _ => "",
                };
                prop_assert_eq!(object.text(key), expected_text);
                let expected_scalar = match member {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => String::new(),
                };
                prop_assert_eq!(object.scalar_text(key), expected_scalar);
                prop_assert_eq!(object.bool(key), member.as_bool());
                prop_assert_eq!(object.object(key).is_some(), member.is_object());
                let items = object.array(key).map(|items| {
                    items.iter().map(|item| serde_json::from_str::<Value>(item).unwrap()).collect::<Vec<_>>()
                });
                prop_assert_eq!(items.as_ref(), member.as_array());
                let strings = member.as_array().map(|items| {
                    items.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>()
                });
                prop_assert_eq!(object.strings(key), strings);
            }
            prop_assert!(object.raw("not a key of the generator").is_none());
        }

        /// Cutting an object's text anywhere leaves no object to read, as with a `Value`.
        #[test]
        fn a_cut_object_is_refused_as_a_value_is(value in json_value(), cut in any::<prop::sample::Index>()) {
            let text = value.to_string();
            let end = cut.index(text.len() + 1);
            let Some(prefix) = text.get(..end) else { return Ok(()) };
            let by_value = serde_json::Deserializer::from_str(prefix)
                .into_iter::<Value>()
                .next()
                .and_then(Result::ok)
                .filter(Value::is_object);
            prop_assert_eq!(Object::first_in(prefix).is_some(), by_value.is_some());
        }
    }
}
