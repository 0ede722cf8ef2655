//! `#[derive(EventSet)]`: an enum whose variants each hold one event.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::event::Errors;

pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let krate = parse_crate(input, &mut errors);
    let variants = variants(input, &mut errors);
    if let Some(err) = errors.finish() {
        return err.to_compile_error();
    }
    expand(input, &krate, &variants)
}

/// `#[event_set(crate = "path")]`, or `::edp_core`.
fn parse_crate(input: &syn::DeriveInput, errors: &mut Errors) -> syn::Path {
    let mut krate: syn::Path = syn::parse_quote!(::edp_core);
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("event_set"))
    {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                krate = lit.parse()?;
                Ok(())
            } else {
                Err(meta.error("unknown event_set attribute; expected `crate = \"path\"`"))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    krate
}

/// The variants as (name, event type).
fn variants<'a>(
    input: &'a syn::DeriveInput,
    errors: &mut Errors,
) -> Vec<(&'a syn::Ident, &'a syn::Type)> {
    let syn::Data::Enum(data) = &input.data else {
        errors.spanned(
            &input.ident,
            "EventSet is derived on an enum with one variant per event type, like `enum OrderEvent { Placed(OrderPlaced) }`",
        );
        return Vec::new();
    };
    if data.variants.is_empty() {
        errors.spanned(&input.ident, "an event set needs at least one variant");
    }
    let mut out = Vec::new();
    for variant in &data.variants {
        match &variant.fields {
            syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                if let Some(field) = fields.unnamed.first() {
                    out.push((&variant.ident, &field.ty));
                }
            }
            _ => errors.spanned(
                variant,
                format!(
                    "variant `{}` must hold exactly one event, like `{}(SomeEvent)`",
                    variant.ident, variant.ident
                ),
            ),
        }
    }
    out
}

fn expand(
    input: &syn::DeriveInput,
    krate: &syn::Path,
    variants: &[(&syn::Ident, &syn::Type)],
) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let es = quote!(#krate::event_sourcing);
    let names = variants
        .iter()
        .map(|(_, ty)| quote_spanned!(ty.span()=> <#ty as #krate::Event>::NAME));
    let visits = variants
        .iter()
        .map(|(v, _)| quote!(Self::#v(event) => visitor.visit(event)));
    let decodes = variants.iter().map(|(v, ty)| {
        quote! {
            if name == <#ty as #krate::Event>::NAME {
                return ::core::option::Option::Some(decoder.decode::<#ty>().map(Self::#v));
            }
        }
    });
    let each = variants
        .iter()
        .map(|(_, ty)| quote!(visitor.visit::<#ty>();));
    let wraps = variants.iter().map(|(v, ty)| {
        quote! {
            let any = match any.downcast::<#ty>() {
                ::core::result::Result::Ok(event) => return ::core::option::Option::Some(Self::#v(*event)),
                ::core::result::Result::Err(other) => other,
            };
        }
    });
    let froms = variants.iter().map(|(v, ty)| {
        quote! {
            #[automatically_derived]
            impl #impl_generics ::core::convert::From<#ty> for #ident #ty_generics #where_clause {
                fn from(event: #ty) -> Self {
                    Self::#v(event)
                }
            }
        }
    });
    // Two variants with events of one name could not be told apart when read back.
    let mut distinct = Vec::new();
    for (i, (va, ta)) in variants.iter().enumerate() {
        for (vb, tb) in &variants[i + 1..] {
            let msg = format!(
                "variants `{va}` and `{vb}` hold events of the same name: an event set needs distinct event names"
            );
            let check = format_ident!("_DISTINCT_{}_{}", va, vb);
            distinct.push(quote_spanned! {vb.span()=>
                #[allow(non_upper_case_globals)]
                const #check: () = ::core::assert!(
                    !#es::same_name(<#ta as #krate::Event>::NAME, <#tb as #krate::Event>::NAME),
                    #msg
                );
            });
        }
    }
    quote! {
        const _: () = {
            #(#distinct)*

            #[automatically_derived]
            impl #impl_generics #es::EventSet for #ident #ty_generics #where_clause {
                const NAMES: &'static [&'static str] = &[#(#names),*];

                fn visit<'__e, V: #es::EventVisitor<'__e>>(&'__e self, visitor: V) -> V::Output {
                    match self {
                        #(#visits,)*
                    }
                }

                fn each_type<V: #es::TypeVisitor>(visitor: &mut V) {
                    #(#each)*
                }

                fn wrap<E: #krate::Event>(event: E) -> ::core::option::Option<Self> {
                    let any: ::std::boxed::Box<dyn ::core::any::Any> = ::std::boxed::Box::new(event);
                    #(#wraps)*
                    let _ = any;
                    ::core::option::Option::None
                }

                fn decode<D: #es::EventDecoder>(
                    name: &str,
                    decoder: D,
                ) -> ::core::option::Option<::core::result::Result<Self, D::Error>> {
                    #(#decodes)*
                    ::core::option::Option::None
                }
            }

            #(#froms)*
        };
    }
}
