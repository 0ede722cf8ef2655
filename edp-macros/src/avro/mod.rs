//! `#[derive(AvroSchema)]`: parse the attributes (ours and serde's), expand.

mod attr;
mod expand;

use proc_macro2::TokenStream;

use crate::event::Errors;

pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let record = attr::parse(input, &mut errors);
    match (record, errors.finish()) {
        (Some(record), None) => expand::expand(input, &record),
        (record, err) => {
            let mut out = err.map(|e| e.to_compile_error()).unwrap_or_default();
            out.extend(expand::fallback(input, record.as_ref()));
            out
        }
    }
}
