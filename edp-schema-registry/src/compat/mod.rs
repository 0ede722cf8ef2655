//! Schema compatibility: can data written with one schema be read with another, and
//! does a new schema keep that promise with a subject's history at a [`Compatibility`]
//! level.
//!
//! [`can_read`] applies the Avro specification's [schema-resolution rules] to a pair:
//! fields matched by name or by the reader's aliases, a reader's field missing from the
//! writer needs a default, numeric promotions (int to long, float, double; long to
//! float, double; float to double), string and bytes either way, union branches, enum
//! symbols (or the reader's enum default), fixed sizes, names or the reader's aliases of
//! them, recursive types. [`check`] applies a level to a history.
//!
//! ```
//! use edp_schema_registry::{AvroSchema, Compatibility, compat};
//!
//! let v1 = AvroSchema::parse(r#"{"type":"record","name":"OrderPlaced","fields":[
//!     {"name":"order_id","type":"string"}]}"#)?;
//! let v2 = AvroSchema::parse(r#"{"type":"record","name":"OrderPlaced","fields":[
//!     {"name":"order_id","type":"string"},
//!     {"name":"coupon","type":"string"}]}"#)?;
//!
//! let broken = compat::check(Compatibility::Backward, &v2, &[v1]).unwrap_err();
//! assert_eq!(broken.path, "OrderPlaced.coupon");
//! assert_eq!(broken.version(), Some(1));
//! assert!(broken.to_string().contains("field `coupon` has no default"));
//! # Ok::<(), edp_schema_registry::SchemaError>(())
//! ```
//!
//! [schema-resolution rules]: https://avro.apache.org/docs/1.12.0/specification/#schema-resolution

mod resolve;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::schema::AvroSchema;

/// A compatibility level, as Confluent's Schema Registry names them.
///
/// BACKWARD: the new schema reads data written with the old one (upgrade consumers
/// first). FORWARD: the old schema reads data written with the new one (upgrade
/// producers first). FULL: both. The plain levels compare with the latest version
/// only; the `_TRANSITIVE` ones with every version. NONE checks nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Compatibility {
    /// The new schema reads data written with the latest version.
    #[default]
    Backward,
    /// The new schema reads data written with every version.
    BackwardTransitive,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every version reads data written with the new schema.
    ForwardTransitive,
    /// Backward and forward, with the latest version.
    Full,
    /// Backward and forward, with every version.
    FullTransitive,
    /// No check.
    None,
}

impl Compatibility {
    /// Every level, in Confluent's order.
    pub const ALL: [Self; 7] = [
        Self::Backward,
        Self::BackwardTransitive,
        Self::Forward,
        Self::ForwardTransitive,
        Self::Full,
        Self::FullTransitive,
        Self::None,
    ];

    /// The name Confluent uses: `BACKWARD_TRANSITIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    /// Whether the level compares with every version, not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compatibility {
    type Err = UnknownCompatibility;

    /// Parses a level name, in any case: `backward_transitive` works too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCompatibility(s.to_owned()))
    }
}

/// A compatibility level name is not one of the seven.
///
/// Handling: not retryable; use one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD,
/// FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown compatibility level `{0}`; use BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE"
)]
pub struct UnknownCompatibility(pub String);

/// One side of a check, as a message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// The reader of [`can_read`].
    Reader,
    /// The writer of [`can_read`].
    Writer,
    /// The schema being checked against a history.
    New,
    /// A version of the history (numbered from 1).
    Version(u32),
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reader => f.write_str("the reader"),
            Self::Writer => f.write_str("the writer"),
            Self::New => f.write_str("the new schema"),
            Self::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// What breaks resolution. Types are rendered short: `string`, `array<long>`,
/// `OrderLine`, `[null, string]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The reader has a field the writer lacks, with no default to fill it.
    MissingDefault {
        /// The reader's field.
        field: String,
    },
    /// The types differ and no promotion leads from the writer's to the reader's.
    TypeMismatch {
        /// The reader's type.
        reader: String,
        /// The writer's type.
        writer: String,
    },
    /// The writer's enum has a symbol the reader's lacks, and the reader's enum has no
    /// default.
    MissingEnumSymbol {
        /// The reader's enum (full name).
        enumeration: String,
        /// The symbol.
        symbol: String,
    },
    /// A record, enum or fixed was renamed without an alias.
    NameMismatch {
        /// The reader's full name.
        reader: String,
        /// The writer's full name.
        writer: String,
    },
    /// A fixed changed size.
    FixedSize {
        /// The reader's fixed (full name).
        fixed: String,
        /// The reader's size.
        reader: u64,
        /// The writer's size.
        writer: u64,
    },
    /// No branch of the reader's union reads the writer's type (a union narrowed, or a
    /// type replaced by a union without it).
    NoUnionBranch {
        /// The reader's union.
        reader: String,
        /// The writer's type.
        writer: String,
    },
    /// The writer's union has a branch the reader's (non-union) type cannot read.
    NarrowedUnion {
        /// The reader's type.
        reader: String,
        /// The writer's branch that cannot be read.
        writer_branch: String,
        /// The writer's whole union.
        writer_union: String,
    },
}

impl Problem {
    /// The problem in words, naming the two sides.
    pub fn describe(&self, reader: Side, writer: Side) -> String {
        match self {
            Self::MissingDefault { field } => format!(
                "field `{field}` has no default, so {reader} cannot read data written with {writer}, which lacks it; give the field a default"
            ),
            Self::TypeMismatch {
                reader: r,
                writer: w,
            } => format!(
                "{reader} reads `{r}` where {writer} wrote `{w}`, and Avro does not promote `{w}` to `{r}`"
            ),
            Self::MissingEnumSymbol {
                enumeration,
                symbol,
            } => format!(
                "enum `{enumeration}` in {reader} lacks the symbol `{symbol}` that {writer} can write, and has no enum default; keep the symbol or give the enum a default"
            ),
            Self::NameMismatch {
                reader: r,
                writer: w,
            } => format!(
                "{reader} names the type `{r}` where {writer} named it `{w}`; keep the name or list `{w}` in its aliases"
            ),
            Self::FixedSize {
                fixed,
                reader: r,
                writer: w,
            } => format!("fixed `{fixed}` has size {r} in {reader} but {w} in {writer}"),
            Self::NoUnionBranch {
                reader: r,
                writer: w,
            } => format!(
                "no branch of the union `{r}` in {reader} can read `{w}`, which {writer} can write"
            ),
            Self::NarrowedUnion {
                reader: r,
                writer_branch,
                writer_union,
            } => format!(
                "{reader} reads `{r}`, which cannot read `{writer_branch}`, a branch of the union `{writer_union}` in {writer}"
            ),
        }
    }
}

/// A schema cannot read data written with another: where, why, and between which
/// versions.
///
/// Handling: not retryable; change the schema as the message says (a default, an
/// alias, a union branch kept), or publish under a new subject or event name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {}{}", .problem.describe(*.reader, *.writer), level_suffix(*.level))]
#[non_exhaustive]
pub struct Incompatibility {
    /// The reader's path to what breaks: the root type's name, then field names, `[]`
    /// for array items and `{}` for map values: `OrderPlaced.items[].sku`.
    pub path: String,
    /// What breaks.
    pub problem: Problem,
    /// The schema reading.
    pub reader: Side,
    /// The schema that wrote.
    pub writer: Side,
    /// The level checked, when [`check`] found it.
    pub level: Option<Compatibility>,
}

fn level_suffix(level: Option<Compatibility>) -> String {
    level.map_or_else(String::new, |level| format!(" (compatibility {level})"))
}

impl Incompatibility {
    /// The version of the history that the new schema is incompatible with.
    pub fn version(&self) -> Option<u32> {
        match (self.reader, self.writer) {
            (Side::Version(v), _) | (_, Side::Version(v)) => Some(v),
            _ => None,
        }
    }
}

/// Whether `reader` can read everything `writer` can write, by Avro's resolution rules.
///
/// # Errors
///
/// [`Incompatibility`] naming the first place where it cannot.
pub fn can_read(reader: &AvroSchema, writer: &AvroSchema) -> Result<(), Incompatibility> {
    resolve_sides(reader, writer, Side::Reader, Side::Writer, None)
}

fn resolve_sides(
    reader: &AvroSchema,
    writer: &AvroSchema,
    reader_side: Side,
    writer_side: Side,
    level: Option<Compatibility>,
) -> Result<(), Incompatibility> {
    resolve::Checker::new(reader, writer)
        .run()
        .map_err(|failure| Incompatibility {
            path: failure.path,
            problem: failure.problem,
            reader: reader_side,
            writer: writer_side,
            level,
        })
}

/// Whether `candidate` may follow `history` (oldest first, versions numbered from 1) at
/// `level`.
///
/// # Errors
///
/// [`Incompatibility`] naming the field and the version that break.
pub fn check(
    level: Compatibility,
    candidate: &AvroSchema,
    history_oldest_first: &[AvroSchema],
) -> Result<(), Incompatibility> {
    check_versions(level, candidate, (1u32..).zip(history_oldest_first.iter()))
}

/// [`check`] with the version numbers given: `(version, schema)` pairs, oldest first.
///
/// # Errors
///
/// [`Incompatibility`] naming the field and the version that break.
pub fn check_versions<'a>(
    level: Compatibility,
    candidate: &AvroSchema,
    history_oldest_first: impl IntoIterator<Item = (u32, &'a AvroSchema)>,
) -> Result<(), Incompatibility> {
    let history: Vec<(u32, &AvroSchema)> = history_oldest_first.into_iter().collect();
    let against: &[(u32, &AvroSchema)] = if level.is_transitive() {
        &history
    } else {
        history.last().map_or(&[], std::slice::from_ref)
    };
    // Newest first: the latest version is the likeliest to matter to the reader.
    for &(version, old) in against.iter().rev() {
        if level.backward() {
            resolve_sides(
                candidate,
                old,
                Side::New,
                Side::Version(version),
                Some(level),
            )?;
        }
        if level.forward() {
            resolve_sides(
                old,
                candidate,
                Side::Version(version),
                Side::New,
                Some(level),
            )?;
        }
    }
    Ok(())
}
