//! Avro schemas derived from Rust types, for the Avro codec (crate `edp-avro`).
//!
//! `#[derive(AvroSchema)]` (feature `derive`) writes the schema of a struct from its
//! fields, the way serde reads and writes it; `#[event(avro)]` on an event hands that
//! schema to codecs through [`Event::avro_schema`](crate::Event::avro_schema).
//!
//! ```
//! use edp_core::{AvroSchema, Event};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Event, AvroSchema)]
//! #[event(name = "order.placed", version = 2, topic = "orders", key = order_id, avro)]
//! #[avro(namespace = "ecommerce.order")]
//! struct OrderPlaced {
//!     order_id: String,
//!     items: Vec<OrderLine>,
//!     total_cents: u64,
//!     /// Added in v2: optional, so old data reads as `None`.
//!     coupon: Option<String>,
//! }
//!
//! #[derive(Serialize, Deserialize, AvroSchema)]
//! struct OrderLine { product_id: String, quantity: u32 }
//!
//! let schema: serde_json::Value = serde_json::from_str(&OrderPlaced::avro_schema().unwrap())?;
//! assert_eq!(schema, serde_json::json!({
//!     "type": "record", "name": "OrderPlaced", "namespace": "ecommerce.order",
//!     "fields": [
//!         {"name": "order_id", "type": "string"},
//!         {"name": "items", "type": {"type": "array", "items": {
//!             "type": "record", "name": "OrderLine", "fields": [
//!                 {"name": "product_id", "type": "string"},
//!                 {"name": "quantity", "type": "int"}]}}},
//!         {"name": "total_cents", "type": "long"},
//!         {"name": "coupon", "type": ["null", "string"], "default": null,
//!          "doc": "Added in v2: optional, so old data reads as `None`."}
//!     ]
//! }));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Mapping
//!
//! | Rust | Avro |
//! |---|---|
//! | `bool` | `boolean` |
//! | `i8`, `i16`, `i32`, `u8`, `u16` | `int` |
//! | `u32` | `int`; a value above `i32::MAX` fails to encode |
//! | `i64` | `long` |
//! | `u64` | `long`; a value above `i64::MAX` fails to encode |
//! | `f32`, `f64` | `float`, `double` |
//! | `String` | `string` |
//! | `Vec<T>` | `array` of `T` |
//! | `HashMap<String, V>`, `BTreeMap<String, V>` | `map` of `V` |
//! | `Option<T>` | `["null", T]` with default `null` |
//! | `Box<T>` | `T` |
//! | a struct deriving `AvroSchema` | a `record`, defined once and then named |
//!
//! Unsigned integers map to the signed type of the same width rather than the next
//! wider one, so that a `u32` count stays an Avro `int` like the same count written in
//! Java; the encoder checks the range, so no value is silently wrapped.
//!
//! Serde attributes are honoured: `#[serde(rename = "...")]` names the Avro field,
//! `#[serde(alias = "...")]` adds an Avro alias, and `#[serde(default)]` (or `default =
//! "path"`) becomes the field's Avro default, the value serialized to JSON, so a reader
//! fills a missing field with exactly what serde fills it with. Attributes that change
//! the shape serde writes (`flatten`, `skip`, `with`, `rename_all`, ...) are compile
//! errors that point at the attribute.
//!
//! Doc comments become the record's and fields' `doc`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

/// A type with an Avro schema. Derive it with `#[derive(AvroSchema)]`.
///
/// Implemented for the types in the [module's table](self#mapping).
pub trait AvroSchema {
    /// Writes this type's schema into `builder`'s schema: a named type already
    /// defined there is referred to by its full name.
    fn avro_schema_in(builder: &mut SchemaBuilder) -> Value;

    /// The Avro default of a field of this type that has no serde default: `null` for
    /// `Option` (serde reads a missing `Option` field as `None`), `None` otherwise.
    fn avro_implicit_default() -> Option<Value> {
        None
    }
}

/// The schema of `T` as compact JSON text.
///
/// ```
/// assert_eq!(edp_core::codec::avro::schema_json::<Option<u64>>(), r#"["null","long"]"#);
/// ```
pub fn schema_json<T: AvroSchema + ?Sized>() -> String {
    T::avro_schema_in(&mut SchemaBuilder::default()).to_string()
}

/// Tracks the named types of a schema being written, and the enclosing namespace.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    defined: HashSet<String>,
    namespace: Vec<Option<String>>,
}

/// A record's name, namespace, doc and aliases, as `#[derive(AvroSchema)]` writes them.
#[derive(Debug, Clone, Copy)]
pub struct RecordSpec<'a> {
    /// The name without namespace.
    pub name: &'a str,
    /// The namespace, when set; otherwise the enclosing record's applies.
    pub namespace: Option<&'a str>,
    /// The record's doc, empty for none.
    pub doc: &'a str,
}

impl SchemaBuilder {
    /// The schema of a record: its definition the first time, its full name after.
    /// `fields` writes the fields (see [`field`](Self::field)).
    pub fn record(
        &mut self,
        spec: RecordSpec<'_>,
        fields: impl FnOnce(&mut Self) -> Vec<Value>,
    ) -> Value {
        let enclosing = self.namespace.last().cloned().flatten();
        let namespace = spec.namespace.map(str::to_owned).or(enclosing);
        let fullname = match &namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}", spec.name),
            _ => spec.name.to_owned(),
        };
        if !self.defined.insert(fullname.clone()) {
            return Value::String(fullname);
        }
        self.namespace.push(namespace);
        let fields = fields(self);
        self.namespace.pop();
        let mut out = Map::new();
        out.insert("type".into(), "record".into());
        out.insert("name".into(), spec.name.into());
        if let Some(ns) = spec.namespace {
            out.insert("namespace".into(), ns.into());
        }
        if !spec.doc.is_empty() {
            out.insert("doc".into(), spec.doc.into());
        }
        out.insert("fields".into(), Value::Array(fields));
        Value::Object(out)
    }

    /// A record field of type `T`, with its Avro default: `serde_default` when the
    /// field has a serde default, else `T`'s implicit one.
    pub fn field<T: AvroSchema + ?Sized>(
        &mut self,
        name: &str,
        aliases: &[&str],
        doc: &str,
        serde_default: Option<Value>,
    ) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), name.into());
        out.insert("type".into(), T::avro_schema_in(self));
        if let Some(default) = serde_default.or_else(T::avro_implicit_default) {
            out.insert("default".into(), default);
        }
        if !aliases.is_empty() {
            out.insert(
                "aliases".into(),
                Value::Array(aliases.iter().map(|a| Value::from(*a)).collect()),
            );
        }
        if !doc.is_empty() {
            out.insert("doc".into(), doc.into());
        }
        Value::Object(out)
    }
}

/// A serde default as an Avro default: the value serialized to JSON.
///
/// `None` (no default written, and an error logged) if it does not serialize, which
/// the schema check in the owner's tests then reports as a missing default.
pub fn default_value<T: serde::Serialize>(field: &str, value: &T) -> Option<Value> {
    match serde_json::to_value(value) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(field, error = %e, "cannot write the serde default of a field as an Avro default");
            None
        }
    }
}

macro_rules! primitive {
    ($avro:literal: $($ty:ty),*) => {$(
        impl AvroSchema for $ty {
            fn avro_schema_in(_: &mut SchemaBuilder) -> Value {
                Value::from($avro)
            }
        }
    )*};
}

primitive!("boolean": bool);
primitive!("int": i8, i16, i32, u8, u16, u32);
primitive!("long": i64, u64);
primitive!("float": f32);
primitive!("double": f64);
primitive!("string": String, str);

impl<T: AvroSchema> AvroSchema for Vec<T> {
    fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), "array".into());
        out.insert("items".into(), T::avro_schema_in(b));
        Value::Object(out)
    }
}

impl<T: AvroSchema> AvroSchema for Option<T> {
    fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
        Value::Array(vec!["null".into(), T::avro_schema_in(b)])
    }

    fn avro_implicit_default() -> Option<Value> {
        Some(Value::Null)
    }
}

impl<T: AvroSchema + ?Sized> AvroSchema for Box<T> {
    fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
        T::avro_schema_in(b)
    }

    fn avro_implicit_default() -> Option<Value> {
        T::avro_implicit_default()
    }
}

fn map_of<V: AvroSchema>(b: &mut SchemaBuilder) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), "map".into());
    out.insert("values".into(), V::avro_schema_in(b));
    Value::Object(out)
}

impl<V: AvroSchema, S> AvroSchema for HashMap<String, V, S> {
    fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
        map_of::<V>(b)
    }
}

impl<V: AvroSchema> AvroSchema for BTreeMap<String, V> {
    fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
        map_of::<V>(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Line;
    impl AvroSchema for Line {
        fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
            b.record(
                RecordSpec {
                    name: "Line",
                    namespace: None,
                    doc: "",
                },
                |b| vec![b.field::<u32>("qty", &[], "", None)],
            )
        }
    }

    struct Two;
    impl AvroSchema for Two {
        fn avro_schema_in(b: &mut SchemaBuilder) -> Value {
            b.record(
                RecordSpec {
                    name: "Two",
                    namespace: Some("shop"),
                    doc: "two lines",
                },
                |b| {
                    vec![
                        b.field::<Line>("first", &[], "", None),
                        b.field::<Option<Line>>("second", &["other"], "", None),
                        b.field::<BTreeMap<String, i64>>(
                            "counts",
                            &[],
                            "by sku",
                            Some(Value::Object(Map::new())),
                        ),
                    ]
                },
            )
        }
    }

    #[test]
    fn a_named_type_is_defined_once_and_then_referred_to_by_full_name() {
        let schema: Value = serde_json::from_str(&schema_json::<Two>()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({"type": "record", "name": "Two", "namespace": "shop",
                "doc": "two lines", "fields": [
                {"name": "first", "type": {"type": "record", "name": "Line",
                    "fields": [{"name": "qty", "type": "int"}]}},
                {"name": "second", "type": ["null", "shop.Line"], "default": null,
                    "aliases": ["other"]},
                {"name": "counts", "type": {"type": "map", "values": "long"}, "default": {},
                    "doc": "by sku"}]})
        );
    }

    #[test]
    fn primitives_and_containers_map_as_documented() {
        assert_eq!(schema_json::<bool>(), r#""boolean""#);
        assert_eq!(schema_json::<u32>(), r#""int""#);
        assert_eq!(schema_json::<u64>(), r#""long""#);
        assert_eq!(schema_json::<f32>(), r#""float""#);
        assert_eq!(schema_json::<Box<f64>>(), r#""double""#);
        assert_eq!(
            serde_json::from_str::<Value>(&schema_json::<Vec<String>>()).unwrap(),
            serde_json::json!({"type": "array", "items": "string"})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&schema_json::<HashMap<String, Option<i32>>>()).unwrap(),
            serde_json::json!({"type": "map", "values": ["null", "int"]})
        );
    }
}
