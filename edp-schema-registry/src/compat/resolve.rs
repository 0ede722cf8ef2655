//! The Avro specification's schema-resolution rules, as a check that can fail with the
//! path of the field that breaks.
//!
//! Written here rather than taken from apache-avro's `SchemaCompatibility` (read at
//! 0.22; besides the dependency cost explained in [`crate::schema`]):
//!
//! - a failure names fields only as a chain of `FieldTypeMismatch(field, cause)`, with no
//!   step for array items, map values or union branches, and a type mismatch renders
//!   both schemas with `Debug`, where we need `OrderPlaced.items[].sku` and a sentence;
//! - a reader's field aliases are honoured, but not the aliases of a record, enum or
//!   fixed name (a renamed type is a `NameMismatch`);
//! - a reader enum lacking some of the writer's symbols, without an enum default, and
//!   a narrowed union, are `Ok(Compatibility::Partial)` rather than errors, while
//!   Confluent (and we) refuse them;
//! - string and bytes, numeric promotions and enum defaults it does handle.

use std::collections::HashSet;

use super::Problem;
use crate::schema::{AvroSchema, NamedKind, Node, join_path};

/// Where and why a check failed, before the caller names the two sides.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) path: String,
    pub(super) problem: Problem,
    /// How many path segments deep it happened.
    depth: usize,
}

pub(super) struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    /// Pairs of named types (reader index, writer index) being or already checked: a
    /// recursive type meets its own pair again and assumes it compatible (the check of
    /// the outer occurrence decides).
    seen: HashSet<(usize, usize)>,
    path: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(reader: &'a AvroSchema, writer: &'a AvroSchema) -> Self {
        let mut path = Vec::new();
        if let Node::Named(i) = reader.root
            && let Some(named) = reader.named(i)
        {
            path.push(named.short_name().to_owned());
        }
        Self {
            reader,
            writer,
            seen: HashSet::new(),
            path,
        }
    }

    pub(super) fn run(mut self) -> Result<(), Failure> {
        let (reader, writer) = (self.reader, self.writer);
        self.check(&reader.root, &writer.root)
    }

    fn fail(&self, problem: Problem) -> Failure {
        let path = join_path(&self.path);
        Failure {
            path: if path.is_empty() {
                "(root)".into()
            } else {
                path
            },
            problem,
            depth: self.path.len(),
        }
    }

    /// A check that may fail without failing the whole: a union branch tried. On
    /// failure, whatever it assumed about recursive types is forgotten.
    fn attempt(&mut self, reader: &Node, writer: &Node) -> Result<(), Failure> {
        let (seen, depth) = (self.seen.clone(), self.path.len());
        let result = self.check(reader, writer);
        if result.is_err() {
            self.seen = seen;
            self.path.truncate(depth);
        }
        result
    }

    fn check(&mut self, reader: &Node, writer: &Node) -> Result<(), Failure> {
        use Node::{Array, Bytes, Double, Float, Int, Long, Map, Named, Union};
        match (reader, writer) {
            // Each branch the writer may have written must be readable.
            (_, Union(branches)) => {
                for branch in branches {
                    if let Err(failure) = self.attempt(reader, branch) {
                        if failure.depth > self.path.len() || matches!(reader, Union(_)) {
                            return Err(failure);
                        }
                        return Err(self.fail(Problem::NarrowedUnion {
                            reader: self.reader.describe(reader),
                            writer_branch: self.writer.describe(branch),
                            writer_union: self.writer.describe(writer),
                        }));
                    }
                }
                Ok(())
            }
            // Some branch of the reader's union must read what the writer wrote.
            (Union(branches), _) => {
                let mut related = None;
                for branch in branches {
                    match self.attempt(branch, writer) {
                        Ok(()) => return Ok(()),
                        Err(failure) => {
                            if related.is_none() && self.same_kind(branch, writer) {
                                related = Some(failure);
                            }
                        }
                    }
                }
                match related {
                    // The branch meant for this type fails deeper down: say where.
                    Some(failure) if failure.depth > self.path.len() => Err(failure),
                    _ => Err(self.fail(Problem::NoUnionBranch {
                        reader: self.reader.describe(reader),
                        writer: self.writer.describe(writer),
                    })),
                }
            }
            (Array(r), Array(w)) => self.nested("[]", r, w),
            (Map(r), Map(w)) => self.nested("{}", r, w),
            (Named(r), Named(w)) => self.named(*r, *w),
            (r, w) if r == w => Ok(()),
            // The promotions: int to long, float, double; long to float, double; float
            // to double; string and bytes either way.
            (Long, Int)
            | (Float, Int | Long)
            | (Double, Int | Long | Float)
            | (Bytes, Node::String)
            | (Node::String, Bytes) => Ok(()),
            _ => Err(self.mismatch(reader, writer)),
        }
    }

    fn mismatch(&self, reader: &Node, writer: &Node) -> Failure {
        self.fail(Problem::TypeMismatch {
            reader: self.reader.describe(reader),
            writer: self.writer.describe(writer),
        })
    }

    fn nested(&mut self, segment: &str, reader: &Node, writer: &Node) -> Result<(), Failure> {
        self.path.push(segment.to_owned());
        self.check(reader, writer)?;
        self.path.pop();
        Ok(())
    }

    /// Whether a failed union branch was the one meant for the writer's type, so that
    /// its own failure explains best.
    fn same_kind(&self, reader: &Node, writer: &Node) -> bool {
        match (reader, writer) {
            (Node::Named(r), Node::Named(w)) => {
                match (self.reader.named(*r), self.writer.named(*w)) {
                    (Some(r), Some(w)) => {
                        r.short_name() == w.short_name() || r.aliases.contains(&w.fullname)
                    }
                    _ => false,
                }
            }
            (Node::Array(_), Node::Array(_)) | (Node::Map(_), Node::Map(_)) => true,
            _ => false,
        }
    }

    fn named(&mut self, r: usize, w: usize) -> Result<(), Failure> {
        let (reader, writer) = (self.reader, self.writer);
        let (Some(rn), Some(wn)) = (reader.named(r), writer.named(w)) else {
            // invariant: indices come from the schemas' own graphs.
            return Ok(());
        };
        let (rnode, wnode) = (Node::Named(r), Node::Named(w));
        let same_kind = matches!(
            (&rn.kind, &wn.kind),
            (NamedKind::Record { .. }, NamedKind::Record { .. })
                | (NamedKind::Enum { .. }, NamedKind::Enum { .. })
                | (NamedKind::Fixed { .. }, NamedKind::Fixed { .. })
        );
        if !same_kind {
            return Err(self.mismatch(&rnode, &wnode));
        }
        // The spec matches unqualified names; a reader may also list the writer's full
        // name among its aliases (a rename).
        if rn.short_name() != wn.short_name() && !rn.aliases.contains(&wn.fullname) {
            return Err(self.fail(Problem::NameMismatch {
                reader: rn.fullname.clone(),
                writer: wn.fullname.clone(),
            }));
        }
        if !self.seen.insert((r, w)) {
            return Ok(());
        }
        match (&rn.kind, &wn.kind) {
            (NamedKind::Record { fields: rfields }, NamedKind::Record { fields: wfields }) => {
                for rf in rfields {
                    // By name first, then by the reader's aliases: only the reader's
                    // aliases count in Avro's resolution.
                    let wf = wfields
                        .iter()
                        .find(|wf| wf.name == rf.name)
                        .or_else(|| wfields.iter().find(|wf| rf.aliases.contains(&wf.name)));
                    self.path.push(rf.name.clone());
                    match wf {
                        Some(wf) => self.check(&rf.node, &wf.node)?,
                        None if rf.default.is_none() => {
                            return Err(self.fail(Problem::MissingDefault {
                                field: rf.name.clone(),
                            }));
                        }
                        None => {}
                    }
                    self.path.pop();
                }
                Ok(())
            }
            (
                NamedKind::Enum {
                    symbols: rsymbols,
                    default,
                },
                NamedKind::Enum {
                    symbols: wsymbols, ..
                },
            ) => {
                if default.is_some() {
                    return Ok(());
                }
                match wsymbols.iter().find(|s| !rsymbols.contains(s)) {
                    Some(symbol) => Err(self.fail(Problem::MissingEnumSymbol {
                        enumeration: rn.fullname.clone(),
                        symbol: symbol.clone(),
                    })),
                    None => Ok(()),
                }
            }
            (NamedKind::Fixed { size: rsize }, NamedKind::Fixed { size: wsize }) => {
                if rsize == wsize {
                    Ok(())
                } else {
                    Err(self.fail(Problem::FixedSize {
                        fixed: rn.fullname.clone(),
                        reader: *rsize,
                        writer: *wsize,
                    }))
                }
            }
            _ => Err(self.mismatch(&rnode, &wnode)),
        }
    }
}
