//! `quote!` only, from a parsed [`Record`].

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::{Default, Record};

pub(crate) fn expand(input: &syn::DeriveInput, record: &Record) -> TokenStream {
    let ident = &input.ident;
    let krate = &record.krate;
    let name = &record.name;
    let doc = &record.doc;
    let namespace = match &record.namespace {
        Some(ns) => quote! { ::core::option::Option::Some(#ns) },
        None => quote! { ::core::option::Option::None },
    };
    let fields = record.fields.iter().map(|f| {
        let (fname, ty, doc, aliases) = (&f.name, &f.ty, &f.doc, &f.aliases);
        let default = match &f.default {
            Default::Implicit => quote! { ::core::option::Option::None },
            Default::Trait => quote_spanned! {ty.span()=>
                #krate::codec::avro::default_value(#fname, &<#ty as ::core::default::Default>::default())
            },
            Default::Function(path) => quote_spanned! {path.span()=>
                #krate::codec::avro::default_value::<#ty>(#fname, &#path())
            },
        };
        // Spanned at the type, so a type without a schema is reported at the field.
        quote_spanned! {ty.span()=>
            builder.field::<#ty>(#fname, &[#(#aliases),*], #doc, #default)
        }
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #krate::codec::avro::AvroSchema for #ident {
                fn avro_schema_in(
                    builder: &mut #krate::codec::avro::SchemaBuilder,
                ) -> #krate::__private::Value {
                    builder.record(
                        #krate::codec::avro::RecordSpec {
                            name: #name,
                            namespace: #namespace,
                            doc: #doc,
                        },
                        |builder| ::std::vec![#(#fields),*],
                    )
                }
            }
        };
    }
}

/// A stub impl emitted beside errors, so that uses of the type add no errors.
pub(crate) fn fallback(input: &syn::DeriveInput, record: Option<&Record>) -> TokenStream {
    let ident = &input.ident;
    let krate = record
        .map(|r| r.krate.clone())
        .unwrap_or_else(|| syn::parse_quote!(::edp_core));
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics #krate::codec::avro::AvroSchema for #ident #ty_generics #where_clause {
                fn avro_schema_in(
                    _: &mut #krate::codec::avro::SchemaBuilder,
                ) -> #krate::__private::Value {
                    #krate::__private::Value::Null
                }
            }
        };
    }
}
