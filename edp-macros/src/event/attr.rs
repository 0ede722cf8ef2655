//! `#[event(...)]` -> [`EventAttrs`], spans kept.

use super::Errors;

/// The raw attribute values, each with the tokens to point errors at.
#[derive(Default)]
pub(crate) struct EventAttrs {
    /// The `#[event]` attribute itself, for errors about what is missing.
    pub(crate) attr: Option<syn::Attribute>,
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) version: Option<syn::LitInt>,
    pub(crate) topic: Option<syn::LitStr>,
    pub(crate) key: Option<syn::Ident>,
    pub(crate) krate: Option<syn::Path>,
    /// `avro`: the schema comes from the type's `AvroSchema`.
    pub(crate) avro: Option<syn::Ident>,
}

const KNOWN: &str = "name, version, topic, key, avro, crate";

pub(crate) fn parse(input: &syn::DeriveInput, errors: &mut Errors) -> EventAttrs {
    let mut out = EventAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        if out.attr.is_some() {
            errors.spanned(
                attr,
                "duplicate #[event(...)] attribute; merge them into one",
            );
            continue;
        }
        out.attr = Some(attr.clone());
        let result = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("name") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                set(&mut out.name, lit, path, errors);
            } else if path.is_ident("version") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                set(&mut out.version, lit, path, errors);
            } else if path.is_ident("topic") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                set(&mut out.topic, lit, path, errors);
            } else if path.is_ident("key") {
                let value = meta.value()?;
                let ident = if value.peek(syn::LitStr) {
                    let lit: syn::LitStr = value.parse()?;
                    lit.parse::<syn::Ident>().map_err(|_| {
                        syn::Error::new_spanned(
                            &lit,
                            "`key` must name a field, like `key = order_id`",
                        )
                    })?
                } else {
                    value.parse::<syn::Ident>()?
                };
                set(&mut out.key, ident, path, errors);
            } else if path.is_ident("avro") {
                if let Some(ident) = path.get_ident() {
                    set(&mut out.avro, ident.clone(), path, errors);
                }
            } else if path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                let parsed: syn::Path = lit.parse()?;
                set(&mut out.krate, parsed, path, errors);
            } else {
                let shown = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "this".to_owned());
                // Skip the value, if any, so parsing goes on to the next attribute.
                if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                errors.spanned(
                    path,
                    format!("unknown event attribute `{shown}`; expected one of: {KNOWN}"),
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    out
}

fn set<T>(slot: &mut Option<T>, value: T, path: &syn::Path, errors: &mut Errors) {
    if slot.is_some() {
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        errors.spanned(path, format!("duplicate event attribute `{name}`"));
    } else {
        *slot = Some(value);
    }
}
