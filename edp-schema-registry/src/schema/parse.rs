//! One pass over the JSON: builds the schema graph and writes both canonical forms as it
//! goes (a named type is written in full where it is defined and by name after, which is
//! the order the parser meets them in).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Field, Named, NamedKind, Node, SchemaError, join_path};

pub(super) struct Parsed {
    pub(super) root: Node,
    pub(super) named: Vec<Named>,
    pub(super) canonical: String,
    pub(super) identity: String,
}

pub(super) fn parse(json: &Value) -> Result<Parsed, SchemaError> {
    let mut parser = Parser {
        named: Vec::new(),
        index: HashMap::new(),
        canonical: String::new(),
        identity: String::new(),
        path: Vec::new(),
    };
    let root = parser.schema(json, "")?;
    Ok(Parsed {
        root,
        named: parser.named,
        canonical: parser.canonical,
        identity: parser.identity,
    })
}

struct Parser {
    named: Vec<Named>,
    /// Full name -> index in `named`.
    index: HashMap<String, usize>,
    /// Parsing Canonical Form.
    canonical: String,
    /// Canonical form plus defaults, aliases and logical types.
    identity: String,
    /// Type and field names down to where the parser is, for error messages.
    path: Vec<String>,
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int,
        "long" => Node::Long,
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes,
        "string" => Node::String,
        _ => return None,
    })
}

/// `[A-Za-z_][A-Za-z0-9_]*`, the rule for names, name parts, fields and symbols.
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The attributes of a logical type, in a fixed order, for the identity form.
fn logical_attributes(obj: &Map<String, Value>) -> String {
    let mut out = String::new();
    for key in ["logicalType", "precision", "scale"] {
        if let Some(v) = obj.get(key) {
            out.push_str(&format!(",{}:{v}", quote(key)));
        }
    }
    out
}

impl Parser {
    fn both(&mut self, s: &str) {
        self.canonical.push_str(s);
        self.identity.push_str(s);
    }

    fn error(&self, message: impl Into<String>) -> SchemaError {
        SchemaError {
            at: join_path(&self.path),
            message: message.into(),
        }
    }

    fn schema(&mut self, json: &Value, namespace: &str) -> Result<Node, SchemaError> {
        match json {
            Value::String(name) => self.reference(name, namespace),
            Value::Array(branches) => self.union(branches, namespace),
            Value::Object(obj) => self.object(obj, namespace),
            other => Err(self.error(format!(
                "expected a type name, a type object or a union array, got `{other}`"
            ))),
        }
    }

    fn reference(&mut self, name: &str, namespace: &str) -> Result<Node, SchemaError> {
        if let Some(node) = primitive(name) {
            self.both(&quote(name));
            return Ok(node);
        }
        let candidates = if name.contains('.') || namespace.is_empty() {
            vec![name.to_owned()]
        } else {
            vec![format!("{namespace}.{name}"), name.to_owned()]
        };
        for full in candidates {
            if let Some(&i) = self.index.get(&full) {
                self.both(&quote(&full));
                return Ok(Node::Named(i));
            }
        }
        Err(self.error(format!(
            "unknown type `{name}`; define it before its first use (Avro has no forward references) or check its namespace"
        )))
    }

    fn union(&mut self, branches: &[Value], namespace: &str) -> Result<Node, SchemaError> {
        self.both("[");
        let mut nodes = Vec::with_capacity(branches.len());
        let mut kinds: Vec<String> = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            if i > 0 {
                self.both(",");
            }
            if branch.is_array() {
                return Err(self.error("a union may not contain a union directly"));
            }
            let node = self.schema(branch, namespace)?;
            // Two branches of one unnamed type (two `string`s, two arrays) could not be
            // told apart when writing; named types differ by name.
            let kind = match &node {
                Node::Named(i) => self
                    .named
                    .get(*i)
                    .map_or_else(String::new, |n| n.fullname.clone()),
                Node::Array(_) => "array".into(),
                Node::Map(_) => "map".into(),
                Node::Union(_) => "union".into(),
                other => format!("{other:?}").to_lowercase(),
            };
            if kinds.contains(&kind) {
                return Err(self.error(format!("the union has two branches of type `{kind}`")));
            }
            kinds.push(kind);
            nodes.push(node);
        }
        self.both("]");
        Ok(Node::Union(nodes))
    }

    fn object(&mut self, obj: &Map<String, Value>, namespace: &str) -> Result<Node, SchemaError> {
        let ty = match obj.get("type") {
            Some(Value::String(ty)) => ty.as_str(),
            // Lenient, as several tools write it: `{"type": {"type": "record", ...}}`.
            Some(nested) => return self.schema(nested, namespace),
            None => return Err(self.error("a type object needs a `type`")),
        };
        match ty {
            "record" | "error" => self.record(obj, namespace),
            "enum" => self.enumeration(obj, namespace),
            "fixed" => self.fixed(obj, namespace),
            "array" | "map" => {
                let key = if ty == "array" { "items" } else { "values" };
                let inner = obj
                    .get(key)
                    .ok_or_else(|| self.error(format!("an {ty} needs `{key}`")))?;
                self.both(&format!("{{\"type\":\"{ty}\",\"{key}\":"));
                let node = Box::new(self.schema(inner, namespace)?);
                self.both("}");
                Ok(if ty == "array" {
                    Node::Array(node)
                } else {
                    Node::Map(node)
                })
            }
            name => match primitive(name) {
                Some(node) => {
                    let logical = logical_attributes(obj);
                    self.canonical.push_str(&quote(name));
                    if logical.is_empty() {
                        self.identity.push_str(&quote(name));
                    } else {
                        self.identity
                            .push_str(&format!("{{\"type\":{}{logical}}}", quote(name)));
                    }
                    Ok(node)
                }
                None => self.reference(name, namespace),
            },
        }
    }

    /// Reads `name`, `namespace` and `aliases`; returns the full name, the namespace
    /// for what the type contains, and the aliases as full names.
    fn name(
        &self,
        obj: &Map<String, Value>,
        enclosing: &str,
    ) -> Result<(String, String, Vec<String>), SchemaError> {
        let name = match obj.get("name") {
            Some(Value::String(name)) => name.as_str(),
            _ => return Err(self.error("a record, enum or fixed needs a string `name`")),
        };
        let (full, namespace) = if let Some((space, _)) = name.rsplit_once('.') {
            (name.to_owned(), space.to_owned())
        } else {
            let space = match obj.get("namespace") {
                Some(Value::String(space)) => space.as_str(),
                None | Some(Value::Null) => enclosing,
                Some(other) => {
                    return Err(self.error(format!("`namespace` must be a string, got `{other}`")));
                }
            };
            let full = if space.is_empty() {
                name.to_owned()
            } else {
                format!("{space}.{name}")
            };
            (full, space.to_owned())
        };
        if !full.split('.').all(valid_name) {
            return Err(self.error(format!(
                "`{full}` is not a valid name: each part must match [A-Za-z_][A-Za-z0-9_]*"
            )));
        }
        let short = full.rsplit('.').next().unwrap_or(&full);
        if primitive(short).is_some() {
            return Err(self.error(format!(
                "`{short}` is a primitive type and cannot be redefined"
            )));
        }
        if self.index.contains_key(&full) {
            return Err(self.error(format!(
                "`{full}` is defined twice; define it once and refer to it by name after"
            )));
        }
        let aliases = self
            .names(obj.get("aliases"), "aliases")?
            .into_iter()
            .map(|alias| {
                if alias.contains('.') || namespace.is_empty() {
                    alias
                } else {
                    format!("{namespace}.{alias}")
                }
            })
            .collect::<Vec<_>>();
        if let Some(bad) = aliases.iter().find(|a| !a.split('.').all(valid_name)) {
            return Err(self.error(format!("alias `{bad}` is not a valid name")));
        }
        Ok((full, namespace, aliases))
    }

    /// An optional array of strings (`aliases`), or a required one (`symbols`).
    fn names(&self, value: Option<&Value>, key: &str) -> Result<Vec<String>, SchemaError> {
        match value {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.error(format!("`{key}` must hold strings, got `{other}`"))),
                })
                .collect(),
            Some(other) => Err(self.error(format!(
                "`{key}` must be an array of strings, got `{other}`"
            ))),
        }
    }

    fn define(&mut self, fullname: String, aliases: Vec<String>, kind: NamedKind) -> usize {
        let i = self.named.len();
        self.index.insert(fullname.clone(), i);
        self.named.push(Named {
            fullname,
            aliases,
            kind,
        });
        i
    }

    fn aliases_attribute(aliases: &[String]) -> String {
        if aliases.is_empty() {
            return String::new();
        }
        let quoted: Vec<String> = aliases.iter().map(|a| quote(a)).collect();
        format!(",\"aliases\":[{}]", quoted.join(","))
    }

    fn record(&mut self, obj: &Map<String, Value>, enclosing: &str) -> Result<Node, SchemaError> {
        let (full, namespace, aliases) = self.name(obj, enclosing)?;
        let record_aliases = Self::aliases_attribute(&aliases);
        // Defined before its fields are read, so that a field may refer to the record.
        let index = self.define(
            full.clone(),
            aliases,
            NamedKind::Record { fields: Vec::new() },
        );
        self.path
            .push(full.rsplit('.').next().unwrap_or(&full).to_owned());
        let fields_json = match obj.get("fields") {
            Some(Value::Array(fields)) => fields,
            _ => return Err(self.error("a record needs a `fields` array")),
        };
        self.both(&format!(
            "{{\"name\":{},\"type\":\"record\",\"fields\":[",
            quote(&full)
        ));
        let mut fields: Vec<Field> = Vec::with_capacity(fields_json.len());
        for (i, field) in fields_json.iter().enumerate() {
            let Value::Object(field) = field else {
                return Err(self.error(format!("field {i} must be an object, got `{field}`")));
            };
            let name = match field.get("name") {
                Some(Value::String(name)) if valid_name(name) => name.clone(),
                Some(Value::String(name)) => {
                    return Err(self.error(format!(
                        "field name `{name}` is not valid: it must match [A-Za-z_][A-Za-z0-9_]*"
                    )));
                }
                _ => return Err(self.error(format!("field {i} needs a string `name`"))),
            };
            if fields.iter().any(|f| f.name == name) {
                return Err(self.error(format!("field `{name}` is defined twice")));
            }
            if i > 0 {
                self.both(",");
            }
            self.both(&format!("{{\"name\":{},\"type\":", quote(&name)));
            self.path.push(name.clone());
            let ty = field
                .get("type")
                .ok_or_else(|| self.error("the field needs a `type`"))?;
            let node = self.schema(ty, &namespace)?;
            let field_aliases = self.names(field.get("aliases"), "aliases")?;
            if let Some(bad) = field_aliases.iter().find(|a| !valid_name(a)) {
                return Err(self.error(format!("alias `{bad}` is not a valid field name")));
            }
            let default = field.get("default").cloned();
            if let Some(value) = &default {
                if !self.valid_default(&node, value) {
                    return Err(self.error(format!(
                        "default `{value}` is not a value of the field's type `{}`",
                        self.describe(&node)
                    )));
                }
                self.identity.push_str(&format!(",\"default\":{value}"));
            }
            self.identity
                .push_str(&Self::aliases_attribute(&field_aliases));
            self.path.pop();
            self.both("}");
            fields.push(Field {
                name,
                aliases: field_aliases,
                node,
                default,
            });
        }
        self.both("]");
        self.identity.push_str(&record_aliases);
        self.both("}");
        self.path.pop();
        if let Some(named) = self.named.get_mut(index) {
            named.kind = NamedKind::Record { fields };
        }
        Ok(Node::Named(index))
    }

    fn enumeration(
        &mut self,
        obj: &Map<String, Value>,
        enclosing: &str,
    ) -> Result<Node, SchemaError> {
        let (full, _, aliases) = self.name(obj, enclosing)?;
        if obj.get("symbols").is_none() {
            return Err(self.error(format!("enum `{full}` needs a `symbols` array")));
        }
        let symbols = self.names(obj.get("symbols"), "symbols")?;
        for (i, symbol) in symbols.iter().enumerate() {
            if !valid_name(symbol) {
                return Err(self.error(format!(
                    "enum `{full}`: symbol `{symbol}` is not a valid name"
                )));
            }
            if symbols[..i].contains(symbol) {
                return Err(self.error(format!("enum `{full}`: symbol `{symbol}` appears twice")));
            }
        }
        let default = match obj.get("default") {
            None => None,
            Some(Value::String(d)) if symbols.contains(d) => Some(d.clone()),
            Some(other) => {
                return Err(self.error(format!(
                    "enum `{full}`: default `{other}` is not one of its symbols"
                )));
            }
        };
        let quoted: Vec<String> = symbols.iter().map(|s| quote(s)).collect();
        self.both(&format!(
            "{{\"name\":{},\"type\":\"enum\",\"symbols\":[{}]",
            quote(&full),
            quoted.join(",")
        ));
        if let Some(d) = &default {
            self.identity
                .push_str(&format!(",\"default\":{}", quote(d)));
        }
        self.identity.push_str(&Self::aliases_attribute(&aliases));
        self.both("}");
        Ok(Node::Named(self.define(
            full,
            aliases,
            NamedKind::Enum { symbols, default },
        )))
    }

    fn fixed(&mut self, obj: &Map<String, Value>, enclosing: &str) -> Result<Node, SchemaError> {
        let (full, _, aliases) = self.name(obj, enclosing)?;
        let size = obj.get("size").and_then(Value::as_u64).ok_or_else(|| {
            self.error(format!(
                "fixed `{full}` needs a non-negative integer `size`"
            ))
        })?;
        self.both(&format!(
            "{{\"name\":{},\"type\":\"fixed\",\"size\":{size}",
            quote(&full)
        ));
        self.identity.push_str(&Self::aliases_attribute(&aliases));
        self.identity.push_str(&logical_attributes(obj));
        self.both("}");
        Ok(Node::Named(self.define(
            full,
            aliases,
            NamedKind::Fixed { size },
        )))
    }

    fn describe(&self, node: &Node) -> String {
        match node {
            Node::Named(i) => self
                .named
                .get(*i)
                .map_or_else(String::new, |n| n.fullname.clone()),
            Node::Array(items) => format!("array<{}>", self.describe(items)),
            Node::Map(values) => format!("map<{}>", self.describe(values)),
            Node::Union(branches) => {
                let names: Vec<String> = branches.iter().map(|b| self.describe(b)).collect();
                format!("[{}]", names.join(", "))
            }
            other => format!("{other:?}").to_lowercase(),
        }
    }

    /// Whether `value` is a valid default for `node`. For a union, any branch will do
    /// (as Avro's Java implementation accepts), though the spec asks for the first.
    fn valid_default(&self, node: &Node, value: &Value) -> bool {
        match (node, value) {
            (Node::Null, Value::Null) | (Node::Boolean, Value::Bool(_)) => true,
            (Node::Int, Value::Number(n)) => n.as_i64().is_some_and(|x| i32::try_from(x).is_ok()),
            (Node::Long, Value::Number(n)) => n.as_i64().is_some(),
            (Node::Float | Node::Double, Value::Number(_)) => true,
            (Node::Float | Node::Double, Value::String(s)) => {
                matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity")
            }
            (Node::Bytes | Node::String, Value::String(_)) => true,
            (Node::Array(items), Value::Array(values)) => {
                values.iter().all(|v| self.valid_default(items, v))
            }
            (Node::Map(inner), Value::Object(values)) => {
                values.values().all(|v| self.valid_default(inner, v))
            }
            (Node::Union(branches), value) => branches.iter().any(|b| self.valid_default(b, value)),
            (Node::Named(i), value) => match (self.named.get(*i).map(|n| &n.kind), value) {
                (Some(NamedKind::Record { fields }), Value::Object(values)) => {
                    fields.iter().all(|f| match values.get(&f.name) {
                        Some(v) => self.valid_default(&f.node, v),
                        None => f.default.is_some(),
                    })
                }
                (Some(NamedKind::Enum { symbols, .. }), Value::String(s)) => symbols.contains(s),
                (Some(NamedKind::Fixed { size }), Value::String(s)) => {
                    u64::try_from(s.chars().count()).is_ok_and(|n| n == *size)
                }
                _ => false,
            },
            _ => false,
        }
    }
}
