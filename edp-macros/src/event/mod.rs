//! `#[derive(Event)]`: parse the attributes, validate them, expand.

mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;

pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let attrs = attr::parse(input, &mut errors);
    let checked = valid::check(input, attrs, &mut errors);
    match (checked, errors.finish()) {
        (Some(event), None) => expand::expand(input, &event),
        (event, Some(err)) => {
            let mut out = err.to_compile_error();
            out.extend(expand::fallback(input, event.as_ref()));
            out
        }
        (None, None) => expand::fallback(input, None),
    }
}

/// Collects every error before returning, so a user sees all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.0
    }
}
