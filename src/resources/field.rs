//! A record's fields as the mappings read them. Leniently: Pingboard sends ids as strings or integers, `null` for
//! what is unset, and one id where a list is expected, and a field of a type the mapping cannot use is as if
//! absent. And borrowed from the record's text, so that reading a page of a thousand people allocates for what
//! a resource keeps, not for every field it skips.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use connector_sdk::json::nonblank;

/// One field's value, as far as a mapping reads it.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Field<'a> {
    /// Absent, null, a boolean, a fraction or an object.
    #[default]
    Other,
    Text(Cow<'a, str>),
    /// Wide enough for every integer JSON's reader gives, unsigned or negative.
    Integer(i128),
    List(Vec<Field<'a>>),
}

impl<'a> Field<'a> {
    /// A field of a parsed record (`None` when it is absent), read as it would be from the record's text.
    pub fn of(value: Option<&'a Value>) -> Self {
        // A `Field` accepts every JSON value, so reading one from a parsed value cannot fail.
        value.map(|v| Field::deserialize(v).unwrap_or_default()).unwrap_or_default()
    }

    /// The text as sent, if the field is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Non-blank text, trimmed (`json::nonblank`).
    pub fn text(&self) -> Option<String> {
        self.as_str().and_then(nonblank)
    }

    /// An id: non-blank text, trimmed, or an integer.
    pub fn id(&self) -> Option<String> {
        match self {
            Field::Integer(n) => Some(n.to_string()),
            other => other.text(),
        }
    }

    /// A list of ids, or one id alone; an entry that is no id is left out.
    pub fn ids(&self) -> Vec<String> {
        match self {
            Field::List(entries) => entries.iter().filter_map(Field::id).collect(),
            one => one.id().into_iter().collect(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Borrowed(text)))
    }
    // Text with escapes in it cannot be borrowed.
    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(text.to_string())))
    }
    fn visit_u64<E: Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Field::Integer(n.into()))
    }
    fn visit_i64<E: Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Field::Integer(n.into()))
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::new();
        while let Some(entry) = entries.next_element()? {
            list.push(entry);
        }
        Ok(Field::List(list))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut object: A) -> Result<Self::Value, A::Error> {
        while object.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

/// An object read as `T` (its unknown fields skipped), or `T::default()` when the value is no object.
#[derive(Debug, Default)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, object: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(object)).map(Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        while entries.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Object::default())
    }
    fn visit_str<E: Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Object::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_from_text_and_from_a_parsed_value_agree() {
        // The JSON, then what `text`, `id` and `ids` read of it.
        type Case = (&'static str, Option<&'static str>, Option<&'static str>, &'static [&'static str]);
        let cases: [Case; 9] = [
            (r#"" 12 ""#, Some("12"), Some("12"), &["12"]),
            (r#""a\"b""#, Some("a\"b"), Some("a\"b"), &["a\"b"]),
            (r#""  ""#, None, None, &[]),
            ("12", None, Some("12"), &["12"]),
            ("-3", None, Some("-3"), &["-3"]),
            ("1.5", None, None, &[]),
            ("null", None, None, &[]),
            (r#"{"id": "1"}"#, None, None, &[]),
            (r#"["1", 2, "", null, [3], " 4 "]"#, None, None, &["1", "2", "4"]),
        ];
        for (json, text, id, ids) in cases {
            let from_text: Field = serde_json::from_str(json).unwrap();
            let parsed: Value = serde_json::from_str(json).unwrap();
            assert_eq!(from_text, Field::of(Some(&parsed)), "{json}");
            assert_eq!((from_text.text().as_deref(), from_text.id().as_deref(), from_text.ids()), (text, id, ids.iter().map(|s| s.to_string()).collect()), "{json}");
        }
        assert_eq!(Field::of(None), Field::Other);
        assert!(matches!(serde_json::from_str::<Field>(r#""plain""#).unwrap(), Field::Text(Cow::Borrowed("plain"))), "unescaped text is borrowed");
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default)]
    struct Named<'a> {
        #[serde(borrow)]
        name: Field<'a>,
    }

    #[test]
    fn an_object_that_is_something_else_reads_as_empty() {
        for (json, name) in [(r#"{"name": "x", "other": [1, {"a": 2}]}"#, Some("x")), ("null", None), (r#"["x"]"#, None), (r#""x""#, None), ("3", None), ("{}", None)] {
            let Object(named) = serde_json::from_str::<Object<Named>>(json).unwrap();
            assert_eq!(named.name.text().as_deref(), name, "{json}");
            let parsed: Value = serde_json::from_str(json).unwrap();
            let Object(from_value) = Object::<Named>::deserialize(&parsed).unwrap();
            assert_eq!(from_value, named, "{json}");
        }
        let duplicate = serde_json::from_str::<Object<Named>>(r#"{"name": "x", "name": "y"}"#).unwrap_err();
        assert!(duplicate.to_string().starts_with("duplicate field `name`"), "{duplicate}");
    }
}
