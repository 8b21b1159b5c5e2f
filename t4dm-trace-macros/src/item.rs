//! Parsing of the annotated item: a function's attributes, visibility and signature, with the
//! body kept as tokens so that a half-written body still expands and rust-analyzer keeps working.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Item, Signature, Visibility, braced};

/// A function as `#[traced]` sees it.
pub(crate) struct TracedFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) brace: syn::token::Brace,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl TracedFn {
    /// The function's `#[track_caller]`, whose meaning a closure around the body would lose.
    pub(crate) fn track_caller(&self) -> Option<&Attribute> {
        self.attrs
            .iter()
            .find(|attr| attr.path().is_ident("track_caller"))
    }
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

/// Parses the item, or explains what `#[traced]` accepts, spanned at the item's keyword.
pub(crate) fn parse_item(item: TokenStream) -> syn::Result<TracedFn> {
    syn::parse2::<TracedFn>(item.clone()).map_err(|error| not_a_function(item, &error))
}

fn not_a_function(item: TokenStream, error: &syn::Error) -> syn::Error {
    match syn::parse2::<Item>(item) {
        // A function that is not one `#[traced]` can instrument: a declaration without a body
        // (in a trait or an `extern` block).
        Ok(Item::Fn(_) | Item::Verbatim(_)) | Err(_) => syn::Error::new(
            error.span(),
            "`#[traced]` can only be applied to functions and methods with a body",
        ),
        Ok(other) => syn::Error::new(
            item_keyword_span(&other),
            "`#[traced]` can only be applied to functions and methods",
        ),
    }
}

fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Struct(item) => item.struct_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::Union(item) => item.union_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Mod(item) => item.mod_token.span,
        Item::Const(item) => item.const_token.span,
        Item::Static(item) => item.static_token.span,
        Item::Type(item) => item.type_token.span,
        Item::Use(item) => item.use_token.span,
        other => other.span(),
    }
}
