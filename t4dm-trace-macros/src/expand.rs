//! Code generation. A pure function of the validated arguments and function: it cannot fail.
//!
//! The expansion stays small: it builds a `SpanStart` (only when tracing is enabled, inside a
//! closure) and hands the body to one runtime call; every decision about recording lives in the
//! runtime's `__private` module.

use crate::args::{AttrSpec, AttrValue, ErrMode, SpanName, TracedArgs};
use crate::item::TracedFn;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, ExprAsync, GenericArgument, Ident, LitStr, PathArguments, ReturnType, Stmt, Type,
};

/// How the function's body runs, which decides where the span starts and ends.
enum Shape {
    /// A plain function: the body runs in a closure inside the span.
    Sync,
    /// `-> !`: the body never returns, so a guard ends the span on unwinding.
    Never,
    /// `async fn`: the body becomes an instrumented `async move` block, awaited.
    Async,
    /// `fn .. -> impl Future { ..; async move { .. } }`, or async-trait's
    /// `Box::pin(async move { .. })`: the tail async block is instrumented in place.
    TailAsync {
        prefix: Vec<Stmt>,
        async_block: ExprAsync,
        /// `Some` for async-trait's `Box::pin(..)`.
        box_pin: Option<syn::ExprCall>,
    },
}

pub(crate) fn expand(args: &TracedArgs, item: TracedFn) -> TokenStream {
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::t4dm_trace_runtime), ToTokens::to_token_stream);
    let private = quote!(#krate::__private);
    let span_ident = Ident::new("__t4dm_span", Span::mixed_site());

    let shape = shape_of(&item);
    let output = output_type(&item, &shape);
    let records_errors = match args.err {
        Some((ErrMode::Record, _)) => true,
        Some((ErrMode::Ignore, _)) => false,
        None => output.as_ref().is_some_and(is_result_type),
    };
    let start = span_start(args, &item, &private);
    let TracedFn {
        attrs,
        vis,
        sig,
        brace,
        inner_attrs,
        body,
    } = item;

    let prepare = quote! {
        let #span_ident = #private::span(|| #start);
    };
    let describe = records_errors.then(|| describe_error(&private));
    let new_body = match shape {
        Shape::Sync => {
            let mut block = TokenStream::new();
            brace.surround(&mut block, |tokens| body.to_tokens(tokens));
            let call_span = output.as_ref().map_or_else(Span::call_site, Spanned::span);
            if let Some(describe) = describe {
                quote_spanned! {call_span=>
                    #prepare
                    #private::run_result(#span_ident, move || #block, #describe)
                }
            } else {
                quote_spanned! {call_span=>
                    #prepare
                    #private::run(#span_ident, move || #block)
                }
            }
        }
        Shape::Never => {
            let guard = Ident::new("__t4dm_guard", Span::mixed_site());
            quote! {
                #prepare
                let #guard = #private::enter(#span_ident);
                #body
            }
        }
        Shape::Async => {
            let mut block = TokenStream::new();
            brace.surround(&mut block, |tokens| body.to_tokens(tokens));
            let future = typed_async_block(None, output.as_ref(), &block);
            let call = instrument_future(&private, &span_ident, &future, describe.as_ref());
            quote! {
                #prepare
                #call.await
            }
        }
        Shape::TailAsync {
            prefix,
            async_block,
            box_pin,
        } => {
            let future = if box_pin.is_some() {
                // async-trait already types its block's output with a `let __ret: R`.
                async_block.to_token_stream()
            } else {
                typed_async_block(
                    Some(&async_block),
                    output.as_ref(),
                    &async_block.block.to_token_stream(),
                )
            };
            let call = instrument_future(&private, &span_ident, &future, describe.as_ref());
            let tail = match box_pin {
                Some(box_pin) => {
                    let func = &box_pin.func;
                    quote!(#func(#call))
                }
                None => call,
            };
            quote! {
                #prepare
                #(#prefix)*
                #tail
            }
        }
    };

    let mut body_tokens = TokenStream::new();
    brace.surround(&mut body_tokens, |tokens| {
        for attr in &inner_attrs {
            attr.to_tokens(tokens);
        }
        new_body.to_tokens(tokens);
    });
    quote! {
        #(#attrs)*
        #vis #sig #body_tokens
    }
}

/// `#private::SpanStart::new(name, kind).attr(..)..parent(..)`, evaluated only when enabled.
fn span_start(args: &TracedArgs, item: &TracedFn, private: &TokenStream) -> TokenStream {
    let name = match &args.name {
        Some(SpanName::Literal(literal)) => literal.to_token_stream(),
        Some(SpanName::Expr(expr)) => expr.to_token_stream(),
        None => {
            let ident = &item.sig.ident;
            let text = syn::ext::IdentExt::unraw(ident).to_string();
            LitStr::new(&text, ident.span()).to_token_stream()
        }
    };
    let kind = args
        .kind
        .as_ref()
        .map_or_else(|| quote!(Internal), ToTokens::to_token_stream);
    let kind = quote!(#private::SpanKind::#kind);
    let attrs = args.attrs.iter().map(attribute_call);
    let parent = args
        .parent
        .as_ref()
        .map(|parent| quote_spanned!(parent.span()=> .parent(&(#parent))));
    quote! {
        #private::SpanStart::new(#name, #kind)
            #(#attrs)*
            #parent
    }
}

fn attribute_call(attr: &AttrSpec) -> TokenStream {
    let key = LitStr::new(&attr.key.text, attr.key.span);
    match &attr.value {
        AttrValue::Typed(expr) => quote_spanned!(expr.span()=> .attr(#key, &(#expr))),
        AttrValue::Display(expr) => quote_spanned!(expr.span()=> .attr_display(#key, &(#expr))),
        AttrValue::Debug(expr) => quote_spanned!(expr.span()=> .attr_debug(#key, &(#expr))),
    }
}

/// The closure that describes an `Err` value. The probe picks, at compile time, the richest
/// description `E` supports: `std::error::Error` (with its `source()` chain), a boxed or `anyhow`
/// error, `Display`, `Debug`, or only its type name.
fn describe_error(private: &TokenStream) -> TokenStream {
    let err = Ident::new("__t4dm_err", Span::mixed_site());
    quote! {
        |#err| {
            use #private::probe::*;
            (&&&&&#private::probe::ErrorProbe(#err)).__t4dm_describe()
        }
    }
}

fn instrument_future(
    private: &TokenStream,
    span_ident: &Ident,
    future: &TokenStream,
    describe: Option<&TokenStream>,
) -> TokenStream {
    if let Some(describe) = describe {
        quote!(#private::run_async_result(#span_ident, #future, #describe))
    } else {
        quote!(#private::run_async(#span_ident, #future))
    }
}

/// `async move { let __t4dm_ret: R = { body }; __t4dm_ret }`: the typed `let` gives `?` in the
/// body the error type to convert into, as it would have had in the function itself.
fn typed_async_block(
    original: Option<&ExprAsync>,
    output: Option<&Type>,
    block: &TokenStream,
) -> TokenStream {
    let (attrs, async_token, capture) = match original {
        Some(original) => (
            original.attrs.as_slice(),
            original.async_token.to_token_stream(),
            original.capture.to_token_stream(),
        ),
        None => (&[][..], quote!(async), quote!(move)),
    };
    let Some(output) = output else {
        return quote!(#(#attrs)* #async_token #capture #block);
    };
    let ret = Ident::new("__t4dm_ret", Span::mixed_site());
    let mut erased = output.clone();
    EraseImplTrait.visit_type_mut(&mut erased);
    quote_spanned! {output.span()=>
        #(#attrs)* #async_token #capture {
            let #ret: #erased = #block;
            #ret
        }
    }
}

/// `impl Trait` cannot name a `let`'s type; `_` lets the compiler infer it.
struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            let span = impl_trait.impl_token.span;
            *ty = syn::parse_quote_spanned!(span=> _);
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

fn shape_of(item: &TracedFn) -> Shape {
    if item.sig.asyncness.is_some() {
        return Shape::Async;
    }
    if let ReturnType::Type(_, ty) = &item.sig.output
        && matches!(**ty, Type::Never(_))
    {
        return Shape::Never;
    }
    let Ok(mut stmts) = syn::parse::Parser::parse2(Block::parse_within, item.body.clone()) else {
        return Shape::Sync;
    };
    let Some(Stmt::Expr(tail, None)) = stmts.last() else {
        return Shape::Sync;
    };
    let (async_block, box_pin) = match tail {
        Expr::Async(async_block) => (async_block.clone(), None),
        Expr::Call(call) if is_box_pin(&call.func) && call.args.len() == 1 => {
            match call.args.first() {
                Some(Expr::Async(async_block)) => (async_block.clone(), Some(call.clone())),
                _ => return Shape::Sync,
            }
        }
        _ => return Shape::Sync,
    };
    stmts.pop();
    Shape::TailAsync {
        prefix: stmts,
        async_block,
        box_pin,
    }
}

/// `Box::pin`, `std::boxed::Box::pin` or `::alloc::boxed::Box::pin`.
fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    segments.ends_with(&["Box".to_owned(), "pin".to_owned()])
}

/// The type the function's work produces: the return type, or a future's `Output`.
fn output_type(item: &TracedFn, shape: &Shape) -> Option<Type> {
    let declared = match &item.sig.output {
        ReturnType::Default => return Some(syn::parse_quote!(())),
        ReturnType::Type(_, ty) => &**ty,
    };
    match shape {
        Shape::Sync | Shape::Async | Shape::Never => Some(declared.clone()),
        Shape::TailAsync { .. } => future_output(declared),
    }
}

/// Finds `Output = T` in `impl Future<Output = T>`, `Pin<Box<dyn Future<Output = T> + ..>>`
/// and similar nestings.
fn future_output(ty: &Type) -> Option<Type> {
    match ty {
        Type::Paren(paren) => future_output(&paren.elem),
        Type::Group(group) => future_output(&group.elem),
        Type::ImplTrait(impl_trait) => bounds_output(impl_trait.bounds.iter()),
        Type::TraitObject(object) => bounds_output(object.bounds.iter()),
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            let PathArguments::AngleBracketed(generics) = &last.arguments else {
                return None;
            };
            generics.args.iter().find_map(|argument| match argument {
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            })
        }
        _ => None,
    }
}

fn bounds_output<'a>(mut bounds: impl Iterator<Item = &'a syn::TypeParamBound>) -> Option<Type> {
    bounds.find_map(|bound| {
        let syn::TypeParamBound::Trait(trait_bound) = bound else {
            return None;
        };
        let last = trait_bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(generics) = &last.arguments else {
            return None;
        };
        generics.args.iter().find_map(|argument| match argument {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// `Result<..>`, `io::Result<..>`, `anyhow::Result<..>`: any path whose last segment is `Result`.
fn is_result_type(ty: &Type) -> bool {
    match ty {
        Type::Paren(paren) => is_result_type(&paren.elem),
        Type::Group(group) => is_result_type(&group.elem),
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        _ => false,
    }
}
