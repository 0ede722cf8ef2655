//! Avro schemas, parsed and checked, with their Parsing Canonical Form.
//!
//! [`AvroSchema::parse`] reads a schema's JSON text (a record, an enum, a union, a
//! primitive...) the way the Avro specification says: names resolve against the
//! enclosing namespace, named types are defined once and referenced by name after
//! (a record may refer to itself), aliases become full names, and every field or enum
//! default is checked against its type.
//!
//! # Why not apache-avro's parser
//!
//! The plan was to parse with `apache-avro`. Every published version of it (0.21, 0.22
//! and 0.23.0-rc0) pulls `syn` 2 and two versions of `heck` through the proc macros of
//! `strum`, `ouroboros` and `bon`, while our tree is on `syn` 3: a second copy of a crate
//! we already build (`cargo tree -d` would no longer be empty) and a minute of compile
//! time on a small machine, for a parser of a few hundred lines. The registry needs only
//! the schema graph, the Parsing Canonical Form and default validation, so it parses with
//! `serde_json` here. If edp-core's Avro codec later brings apache-avro in anyway, this
//! module can convert from `apache_avro::Schema` instead; nothing outside it would change.

mod parse;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A parsed Avro schema.
///
/// ```
/// use edp_schema_registry::AvroSchema;
///
/// let schema = AvroSchema::parse(r#"{"type": "record", "name": "OrderPlaced",
///     "namespace": "ecommerce.order", "doc": "ignored by the canonical form",
///     "fields": [{"name": "order_id", "type": {"type": "string"}}]}"#)?;
/// assert_eq!(schema.name(), Some("ecommerce.order.OrderPlaced"));
/// assert_eq!(
///     schema.canonical_form(),
///     r#"{"name":"ecommerce.order.OrderPlaced","type":"record","fields":[{"name":"order_id","type":"string"}]}"#
/// );
/// # Ok::<(), edp_schema_registry::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AvroSchema {
    pub(crate) root: Node,
    pub(crate) named: Vec<Named>,
    canonical: String,
    identity: String,
}

impl AvroSchema {
    /// Parses a schema from its JSON text.
    ///
    /// # Errors
    ///
    /// [`SchemaError`] when the text is not JSON or not a valid Avro schema (an unknown
    /// type, a name defined twice, a default that does not match its type...).
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let json: Value = serde_json::from_str(text).map_err(|e| SchemaError {
            at: String::new(),
            message: format!("not JSON: {e}"),
        })?;
        Self::from_json(&json)
    }

    /// Parses a schema from JSON already read.
    ///
    /// # Errors
    ///
    /// [`SchemaError`] when the value is not a valid Avro schema.
    pub fn from_json(json: &Value) -> Result<Self, SchemaError> {
        let parsed = parse::parse(json)?;
        Ok(Self {
            root: parsed.root,
            named: parsed.named,
            canonical: parsed.canonical,
            identity: parsed.identity,
        })
    }

    /// The schema's [Parsing Canonical Form]: full names, no docs, aliases or defaults,
    /// fixed key order, no whitespace. Two schemas with the same form encode data alike.
    ///
    /// [Parsing Canonical Form]: https://avro.apache.org/docs/1.12.0/specification/#parsing-canonical-form-for-schemas
    pub fn canonical_form(&self) -> &str {
        &self.canonical
    }

    /// The Parsing Canonical Form extended with what a *reader* uses: field and enum
    /// defaults, aliases and logical types (in that order, after the canonical keys).
    ///
    /// The registry gives schemas with the same identity the same id. Plain canonical
    /// form would be too coarse for that: adding a default to a field (the usual fix for
    /// a FORWARD incompatibility) would change nothing the registry could see.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The full name of the root type when it is a record, an enum or a fixed.
    pub fn name(&self) -> Option<&str> {
        match self.root {
            Node::Named(i) => self.named.get(i).map(|n| n.fullname.as_str()),
            _ => None,
        }
    }

    pub(crate) fn named(&self, index: usize) -> Option<&Named> {
        self.named.get(index)
    }
}

impl FromStr for AvroSchema {
    type Err = SchemaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for AvroSchema {
    /// Writes the canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// A schema text is not a valid Avro schema.
///
/// Handling: not retryable; fix the schema at the place named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Avro schema{}: {message}", if .at.is_empty() { String::new() } else { format!(" at `{}`", .at) })]
pub struct SchemaError {
    /// Where: the type and field names leading to the problem, empty for the whole text.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

/// A node of the schema graph. Named types live in [`AvroSchema::named`] and are
/// referenced by index, so recursive types are finite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Node>),
    Map(Box<Node>),
    Union(Vec<Node>),
    Named(usize),
}

/// A record, enum or fixed.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub(crate) fullname: String,
    /// Full names.
    pub(crate) aliases: Vec<String>,
    pub(crate) kind: NamedKind,
}

impl Named {
    /// The name without its namespace.
    pub(crate) fn short_name(&self) -> &str {
        self.fullname.rsplit('.').next().unwrap_or(&self.fullname)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NamedKind {
    Record {
        fields: Vec<Field>,
    },
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        size: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) node: Node,
    pub(crate) default: Option<Value>,
}

impl AvroSchema {
    /// A short human rendering of a node: `string`, `array<long>`, `OrderLine`,
    /// `[null, string]`.
    pub(crate) fn describe(&self, node: &Node) -> String {
        match node {
            Node::Null => "null".into(),
            Node::Boolean => "boolean".into(),
            Node::Int => "int".into(),
            Node::Long => "long".into(),
            Node::Float => "float".into(),
            Node::Double => "double".into(),
            Node::Bytes => "bytes".into(),
            Node::String => "string".into(),
            Node::Array(items) => format!("array<{}>", self.describe(items)),
            Node::Map(values) => format!("map<{}>", self.describe(values)),
            Node::Union(branches) => {
                let names: Vec<String> = branches.iter().map(|b| self.describe(b)).collect();
                format!("[{}]", names.join(", "))
            }
            Node::Named(i) => self
                .named(*i)
                .map_or_else(|| "?".into(), |n| n.short_name().to_owned()),
        }
    }
}

/// Joins path segments: `OrderPlaced`, `items`, `[]`, `sku` -> `OrderPlaced.items[].sku`.
pub(crate) fn join_path(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !segment.starts_with('[') && !segment.starts_with('{') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

#[cfg(test)]
mod tests;
