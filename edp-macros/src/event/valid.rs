//! Rules across attributes: a name is given and well formed, the version is at least
//! 1, the key names a real field.

use super::Errors;
use super::attr::EventAttrs;

/// A validated `#[event(...)]`.
pub(crate) struct ValidEvent {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) topic: String,
    pub(crate) key: Option<syn::Ident>,
    pub(crate) krate: syn::Path,
    pub(crate) avro: Option<syn::Ident>,
}

pub(crate) fn check(
    input: &syn::DeriveInput,
    attrs: EventAttrs,
    errors: &mut Errors,
) -> Option<ValidEvent> {
    let mut ok = true;
    let name = match &attrs.name {
        Some(lit) => {
            let value = lit.value();
            if let Some(reason) = bad_name(&value) {
                errors.spanned(lit, format!("invalid event name `{value}`: {reason}"));
                ok = false;
            }
            value
        }
        None => {
            let msg = "missing event name; add `name = \"...\"`, for example \
                       #[event(name = \"order.placed\")]";
            match &attrs.attr {
                Some(attr) => errors.spanned(attr, msg),
                None => errors.spanned(
                    &input.ident,
                    "#[derive(Event)] needs an #[event(name = \"...\")] attribute",
                ),
            }
            ok = false;
            String::new()
        }
    };
    let version = match &attrs.version {
        Some(lit) => match lit.base10_parse::<u32>() {
            Ok(v) if v >= 1 => v,
            _ => {
                errors.spanned(lit, "event version must be a whole number of at least 1");
                ok = false;
                1
            }
        },
        None => 1,
    };
    let topic = match &attrs.topic {
        Some(lit) => {
            let value = lit.value();
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                errors.spanned(lit, "event topic must be non-empty and without spaces");
                ok = false;
            }
            value
        }
        None => name.clone(),
    };
    if let Some(key) = &attrs.key {
        match &input.data {
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Named(named),
                ..
            }) => {
                let found = named
                    .named
                    .iter()
                    .any(|f| f.ident.as_ref().is_some_and(|i| i == key));
                if !found {
                    let fields: Vec<String> = named
                        .named
                        .iter()
                        .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
                        .collect();
                    errors.spanned(
                        key,
                        format!(
                            "`key = {key}` names no field of `{}`; fields are: {}",
                            input.ident,
                            fields.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
            _ => {
                errors.spanned(key, "`key` needs a struct with named fields");
                ok = false;
            }
        }
    }
    let krate = attrs
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::edp_core));
    ok.then_some(ValidEvent {
        name,
        version,
        topic,
        key: attrs.key,
        krate,
        avro: attrs.avro,
    })
}

fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("use letters, digits, `.`, `_` and `-` only");
    }
    None
}
