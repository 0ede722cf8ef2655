//! `quote!` only, from validated input.

use proc_macro2::TokenStream;
use quote::quote;

use super::valid::ValidEvent;

pub(crate) fn expand(input: &syn::DeriveInput, event: &ValidEvent) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let krate = &event.krate;
    let where_clause = bounded_where(input, krate);
    let name = &event.name;
    let version = event.version;
    let topic = &event.topic;
    let key = match &event.key {
        Some(field) => quote! {
            ::core::option::Option::Some(#krate::__private::ToString::to_string(&self.#field))
        },
        None => quote! { ::core::option::Option::None },
    };
    // Spanned at `avro`, so a type without `AvroSchema` is reported there.
    let avro = event.avro.as_ref().map(|flag| {
        quote::quote_spanned! {flag.span()=>
            fn avro_schema() -> ::core::option::Option<#krate::__private::String> {
                ::core::option::Option::Some(#krate::codec::avro::schema_json::<Self>())
            }
        }
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const TOPIC: &'static str = #topic;
                fn key(&self) -> ::core::option::Option<#krate::__private::String> {
                    #key
                }
                #avro
            }
        };
    }
}

/// A stub impl emitted beside errors, so that uses of the type do not add errors of
/// their own.
pub(crate) fn fallback(input: &syn::DeriveInput, event: Option<&ValidEvent>) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let krate = event
        .map(|e| e.krate.clone())
        .unwrap_or_else(|| syn::parse_quote!(::edp_core));
    let where_clause = bounded_where(input, &krate);
    quote! {
        const _: () = {
            impl #impl_generics #krate::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str = "";
                const VERSION: u32 = 1;
                const TOPIC: &'static str = "";
                fn key(&self) -> ::core::option::Option<#krate::__private::String> {
                    ::core::option::Option::None
                }
            }
        };
    }
}

/// The input's where clause plus the bounds `Event` needs of `Self`, so that generic
/// events work when their parameters allow it.
fn bounded_where(input: &syn::DeriveInput, krate: &syn::Path) -> TokenStream {
    let ident = &input.ident;
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    let existing = where_clause.map(|w| {
        let preds = &w.predicates;
        if preds.empty_or_trailing() {
            quote! { #preds }
        } else {
            quote! { #preds, }
        }
    });
    quote! {
        where
            #existing
            #ident #ty_generics: #krate::__private::Serialize
                + #krate::__private::DeserializeOwned
                + ::core::marker::Send
                + ::core::marker::Sync
                + 'static
    }
}
