//! `#[avro(...)]` and the serde attributes that shape the schema -> [`Record`], with
//! an error at each attribute the schema cannot follow.

use crate::event::Errors;

/// A struct whose schema can be written.
pub(crate) struct Record {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) doc: String,
    pub(crate) krate: syn::Path,
    pub(crate) fields: Vec<Field>,
}

pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: syn::Type,
    pub(crate) aliases: Vec<String>,
    pub(crate) doc: String,
    pub(crate) default: Default,
}

pub(crate) enum Default {
    /// The type's implicit one (`null` for `Option`), if any.
    Implicit,
    /// `#[serde(default)]`.
    Trait,
    /// `#[serde(default = "path")]`.
    Function(syn::Path),
}

const KNOWN: &str = "name, namespace, crate";

/// Serde container attributes that change the shape serde writes, with the fix.
const CONTAINER_REJECTED: &[(&str, &str)] = &[
    (
        "rename_all",
        "rename each field with #[serde(rename = \"...\")] instead",
    ),
    (
        "rename_all_fields",
        "rename each field with #[serde(rename = \"...\")] instead",
    ),
    (
        "deny_unknown_fields",
        "it stops readers of this version from skipping fields that later versions add; remove it",
    ),
    (
        "default",
        "put #[serde(default)] on each field that has a default",
    ),
    ("transparent", "derive the schema of the inner type instead"),
    ("tag", "only structs are supported"),
    ("content", "only structs are supported"),
    ("untagged", "only structs are supported"),
    ("from", "the schema would describe the wrong type"),
    ("try_from", "the schema would describe the wrong type"),
    ("into", "the schema would describe the wrong type"),
    ("remote", "the schema would describe the wrong type"),
];

/// Serde field attributes that change the shape serde writes.
const FIELD_REJECTED: &[&str] = &[
    "flatten",
    "skip",
    "skip_serializing",
    "skip_deserializing",
    "skip_serializing_if",
    "with",
    "serialize_with",
    "deserialize_with",
    "getter",
];

pub(crate) fn parse(input: &syn::DeriveInput, errors: &mut Errors) -> Option<Record> {
    let mut name = None;
    let mut namespace = None;
    let mut krate = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("avro")) {
        let result = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("name") || path.is_ident("namespace") || path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                let slot = if path.is_ident("name") {
                    &mut name
                } else if path.is_ident("namespace") {
                    &mut namespace
                } else {
                    &mut krate
                };
                if slot.is_some() {
                    errors.spanned(path, "duplicate avro attribute");
                } else {
                    *slot = Some(lit);
                }
            } else {
                skip_value(&meta)?;
                errors.spanned(
                    path,
                    format!(
                        "unknown avro attribute `{}`; expected one of: {KNOWN}",
                        shown(path)
                    ),
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let result = attr.parse_nested_meta(|meta| {
            let found = CONTAINER_REJECTED
                .iter()
                .find(|(n, _)| meta.path.is_ident(n));
            if let Some((n, fix)) = found {
                errors.spanned(
                    &meta.path,
                    format!("#[derive(AvroSchema)] does not support #[serde({n})]: {fix}"),
                );
            }
            skip_value(&meta)
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if let Some(lit) = &name {
        if !valid_name(&lit.value()) {
            errors.spanned(
                lit,
                "an Avro name starts with a letter or `_` and has letters, digits and `_` only",
            );
        }
    }
    if let Some(lit) = &namespace {
        let value = lit.value();
        if !value.is_empty() && !value.split('.').all(valid_name) {
            errors.spanned(
                lit,
                "an Avro namespace is names separated by `.`, like `ecommerce.order`",
            );
        }
    }
    let krate = match krate.map(|lit| lit.parse::<syn::Path>()) {
        Some(Ok(path)) => path,
        Some(Err(e)) => {
            errors.push(e);
            syn::parse_quote!(::edp_core)
        }
        None => syn::parse_quote!(::edp_core),
    };
    if let Some(param) = input.generics.params.first() {
        errors.spanned(
            param,
            "#[derive(AvroSchema)] does not support generic types: their instances would share one record name",
        );
    }
    let named = match &input.data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(named),
            ..
        }) => named,
        _ => {
            errors.spanned(
                &input.ident,
                "#[derive(AvroSchema)] supports structs with named fields only",
            );
            return None;
        }
    };
    let fields = named
        .named
        .iter()
        .filter_map(|f| field(f, errors))
        .collect();
    Some(Record {
        name: name.map_or_else(|| input.ident.to_string(), |l| l.value()),
        namespace: namespace.map(|l| l.value()),
        doc: doc(&input.attrs),
        krate,
        fields,
    })
}

fn field(f: &syn::Field, errors: &mut Errors) -> Option<Field> {
    let ident = f.ident.as_ref()?;
    // Raw identifiers (`r#type`) are written without `r#`, as serde does.
    let raw = ident.to_string();
    let name = raw.strip_prefix("r#").unwrap_or(&raw).to_owned();
    let mut out = Field {
        name,
        ty: f.ty.clone(),
        aliases: Vec::new(),
        doc: doc(&f.attrs),
        default: Default::Implicit,
    };
    for attr in &f.attrs {
        if attr.path().is_ident("avro") {
            errors.spanned(
                attr,
                "#[avro(...)] goes on the struct; fields take their name, aliases and default from #[serde(...)]",
            );
            continue;
        }
        if !attr.path().is_ident("serde") {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("rename") {
                if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    out.name = lit.value();
                } else {
                    skip_value(&meta)?;
                    errors.spanned(
                        path,
                        "#[derive(AvroSchema)] needs one name for reading and writing: use #[serde(rename = \"...\")]",
                    );
                }
            } else if path.is_ident("alias") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.aliases.push(lit.value());
            } else if path.is_ident("default") {
                if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    out.default = Default::Function(lit.parse()?);
                } else {
                    out.default = Default::Trait;
                }
            } else if let Some(n) = FIELD_REJECTED.iter().find(|n| path.is_ident(n)) {
                skip_value(&meta)?;
                errors.spanned(
                    path,
                    format!(
                        "#[derive(AvroSchema)] does not support #[serde({n})]: the schema could not describe what serde writes"
                    ),
                );
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    Some(out)
}

/// Skips `= value` or `(...)` after an attribute name, so parsing goes on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: proc_macro2::TokenStream = content.parse()?;
    }
    Ok(())
}

fn shown(path: &syn::Path) -> String {
    path.get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| "this".to_owned())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The doc comment lines, joined, each with its leading space removed.
fn doc(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}
