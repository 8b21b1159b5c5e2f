//! Parsing of the annotated item: a function's attributes, visibility and signature, with the
//! body kept as tokens so that a half-written body still expands and rust-analyzer keeps working.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Visibility, braced};

/// A function as `#[traced]` sees it.
pub(crate) struct TracedFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) brace: syn::token::Brace,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl Parse for TracedFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(TracedFn {
            attrs,
            vis,
            sig,
            brace,
            inner_attrs,
            body,
        })
    }
}

/// Parses the item, or explains what `#[traced]` accepts, spanned at the item's first token.
pub(crate) fn parse_item(item: TokenStream) -> syn::Result<TracedFn> {
    let fallback_span = item
        .clone()
        .into_iter()
        .find(|token| !matches!(token, proc_macro2::TokenTree::Punct(p) if p.as_char() == '#'))
        .map_or_else(proc_macro2::Span::call_site, |token| token.span());
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(_)) | Err(_) => {}
        Ok(syn::Item::Verbatim(_)) => {}
        Ok(other) => {
            return Err(syn::Error::new(
                item_keyword_span(&other).unwrap_or(fallback_span),
                "`#[traced]` can only be applied to functions and methods",
            ));
        }
    }
    syn::parse2::<TracedFn>(item).map_err(|error| {
        let message = error.to_string();
        if message.contains("expected `fn`") || message.contains("expected curly braces") {
            syn::Error::new(
                error.span(),
                "`#[traced]` can only be applied to functions and methods with a body",
            )
        } else {
            error
        }
    })
}

fn item_keyword_span(item: &syn::Item) -> Option<proc_macro2::Span> {
    use syn::spanned::Spanned;
    Some(match item {
        syn::Item::Struct(item) => item.struct_token.span,
        syn::Item::Enum(item) => item.enum_token.span,
        syn::Item::Union(item) => item.union_token.span,
        syn::Item::Trait(item) => item.trait_token.span,
        syn::Item::Impl(item) => item.impl_token.span,
        syn::Item::Mod(item) => item.mod_token.span,
        syn::Item::Const(item) => item.const_token.span,
        syn::Item::Static(item) => item.static_token.span,
        syn::Item::Type(item) => item.type_token.span,
        syn::Item::Use(item) => item.use_token.span,
        other => other.span(),
    })
}
