//! Code generation. A pure function of the validated arguments and function: it cannot fail.
//!
//! The expansion stays small: it describes the span (only when tracing is enabled, inside a
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
    /// A synchronous body in a closure, `move || -> R { body }`, so that the runtime sees its
    /// value (an `Err` to record) and its panics (with their message). The declared return type
    /// keeps `?`, `return` and inference exactly as they were in the function.
    Closure,
    /// A synchronous body that a closure would change: `-> !`, `#[track_caller]` (a closure
    /// reports its own location) and an `impl Trait` return without error recording (the closure
    /// could not declare it, and a returned closure would lose the signature it is inferred
    /// from). A guard keeps the span current while the body runs in place, untouched.
    Guard,
    /// `async fn`: the body becomes an instrumented `async move` block, awaited.
    Async,
    /// `fn .. -> impl Future { ..; async move { .. } }`, or async-trait's
    /// `Box::pin(async move { .. })`: the tail async block is instrumented in place.
    TailAsync(Box<TailAsync>),
}

/// A body whose tail is an async block, split around it.
struct TailAsync {
    prefix: Vec<Stmt>,
    async_block: ExprAsync,
    /// The function wrapping the block, async-trait's `Box::pin`.
    wrapper: Option<Expr>,
    /// The body's braces, around the prefix and the instrumented tail.
    brace: syn::token::Brace,
}

/// What every part of one expansion refers to.
struct Names {
    /// `::t4dm_trace_runtime::__private`, or `#krate::__private`.
    private: TokenStream,
    /// The pending span's binding, invisible to the user's code.
    span: Ident,
}

pub(crate) fn expand(args: &TracedArgs, item: TracedFn) -> TokenStream {
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::t4dm_trace_runtime), ToTokens::to_token_stream);
    let names = Names {
        private: quote!(#krate::__private),
        span: Ident::new("__t4dm_span", Span::mixed_site()),
    };
    let shape = shape_of(args, &item);
    let output = match &shape {
        Shape::TailAsync(_) => declared_output(&item).and_then(future_output),
        _ => declared_output(&item).cloned(),
    };
    let describe = records_errors(args, output.as_ref()).then(|| describe_error(&names.private));
    let start = span_start(args, &item, &names.private);
    let private = &names.private;
    let span = &names.span;
    let prepare = quote! {
        let #span = #private::span(|| #start);
    };
    let run = match shape {
        Shape::Guard => guard(&names, &item),
        Shape::Closure => closure(&names, &item, output.as_ref(), describe.as_ref()),
        Shape::Async => async_fn(&names, &item, output.as_ref(), describe.as_ref()),
        Shape::TailAsync(tail) => tail_async(&names, *tail, output.as_ref(), describe.as_ref()),
    };
    let TracedFn {
        attrs,
        vis,
        sig,
        brace,
        inner_attrs,
        ..
    } = item;
    let mut body = TokenStream::new();
    brace.surround(&mut body, |tokens| {
        tokens.extend(quote!(#(#inner_attrs)* #prepare #run));
    });
    quote! {
        #(#attrs)*
        #vis #sig #body
    }
}

/// `let __t4dm_guard = enter(span); { <body> }`: the body runs in place, in its own braces so
/// that items at its top stay at the top of a block (`clippy::items_after_statements`).
fn guard(names: &Names, item: &TracedFn) -> TokenStream {
    let Names { private, span } = names;
    let guard = Ident::new("__t4dm_guard", Span::mixed_site());
    let block = braced(item, &item.body);
    quote! {
        let #guard = #private::enter(#span);
        #block
    }
}

/// `run(span, move || -> R { <body> })`, or `run_result(.., describe)`. The closure's declared
/// return type gives the body, its `?` and its `return`s the same expected type as in the
/// function; the call is spanned at the user's return type, where a mismatch is best explained.
fn closure(
    names: &Names,
    item: &TracedFn,
    output: Option<&Type>,
    describe: Option<&TokenStream>,
) -> TokenStream {
    let Names { private, span } = names;
    let block = braced(item, &item.body);
    let returns = output.map(|output| {
        let (erased, _) = erase_impl_trait(output);
        quote!(-> #erased)
    });
    let call_span = output.map_or_else(Span::call_site, Spanned::span);
    if let Some(describe) = describe {
        quote_spanned! {call_span=>
            #private::run_result(#span, move || #returns #block, #describe)
        }
    } else {
        quote_spanned! {call_span=>
            #private::run(#span, move || #returns #block)
        }
    }
}

/// `run_async(span, async move { let __t4dm_ret: R = { <body> }; __t4dm_ret }).await`.
fn async_fn(
    names: &Names,
    item: &TracedFn,
    output: Option<&Type>,
    describe: Option<&TokenStream>,
) -> TokenStream {
    let one_expression = syn::parse::Parser::parse2(Block::parse_within, item.body.clone())
        .is_ok_and(|stmts| is_one_expression(&stmts));
    let block = braced(item, &item.body);
    let future = typed_async_block(None, output, &block, one_expression);
    let call = instrument_future(names, &future, describe, false);
    quote!(#call.await)
}

/// The user's body in its own braces, so that its spans stay the user's.
fn braced(item: &TracedFn, body: &TokenStream) -> TokenStream {
    let mut block = TokenStream::new();
    item.brace
        .surround(&mut block, |tokens| body.to_tokens(tokens));
    block
}

fn tail_async(
    names: &Names,
    tail: TailAsync,
    output: Option<&Type>,
    describe: Option<&TokenStream>,
) -> TokenStream {
    let TailAsync {
        prefix,
        async_block,
        wrapper,
        brace,
    } = tail;
    // Typed even under async-trait's `Box::pin`, which types its block itself: a hand-written
    // `Box::pin(async move { ..? })` relies on the function's return type for its `?`.
    let future = typed_async_block(
        Some(&async_block),
        output,
        &async_block.block.to_token_stream(),
        is_one_expression(&async_block.block.stmts),
    );
    let call = instrument_future(names, &future, describe, true);
    let call = match wrapper {
        Some(wrapper) => quote!(#wrapper(#call)),
        None => call,
    };
    if prefix.is_empty() {
        return call;
    }
    // The user's statements keep a block of their own, as in `guard`.
    let mut block = TokenStream::new();
    brace.surround(&mut block, |tokens| {
        tokens.extend(quote!(#(#prefix)* #call));
    });
    block
}

/// Whether an `Err` is recorded: as `err` says, else when the work's type is a `Result`.
fn records_errors(args: &TracedArgs, output: Option<&Type>) -> bool {
    match args.err {
        Some((ErrMode::Record, _)) => true,
        Some((ErrMode::Ignore, _)) => false,
        None => output.is_some_and(is_result_type),
    }
}

/// `#private::SpanStart::new(name, kind).attr(..)..parent(..)` (`with_capacity` when there are
/// attributes), evaluated only when enabled.
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
    // The user's own `kind` ident is re-emitted, so that hovering it shows the variant.
    let kind = args
        .kind
        .as_ref()
        .map_or_else(|| quote!(Internal), ToTokens::to_token_stream);
    let attrs = args.attrs.iter().map(attribute_call);
    let parent = args
        .parent
        .as_ref()
        .map(|parent| quote_spanned!(parent.span()=> .parent(&(#parent))));
    // With attributes, their vector is allocated once, at its final size.
    let start = if args.attrs.is_empty() {
        quote!(#private::SpanStart::new(#name, #private::SpanKind::#kind))
    } else {
        let capacity = proc_macro2::Literal::usize_unsuffixed(args.attrs.len());
        quote!(#private::SpanStart::with_capacity(#name, #private::SpanKind::#kind, #capacity))
    };
    quote! {
        #start
            #(#attrs)*
            #parent
    }
}

/// `.attr("key", &(value))`, spanned at the value so that a type that cannot be recorded is
/// reported there.
fn attribute_call(attr: &AttrSpec) -> TokenStream {
    let key = LitStr::new(&attr.key.text, attr.key.span);
    let (method, expr) = match &attr.value {
        AttrValue::Typed(expr) => (quote!(attr), expr),
        AttrValue::Display(expr) => (quote!(attr_display), expr),
        AttrValue::Debug(expr) => (quote!(attr_debug), expr),
    };
    quote_spanned!(expr.span()=> .#method(#key, &(#expr)))
}

/// The closure that describes an `Err` value. The probe picks, at compile time, the richest
/// description `E` supports: `std::error::Error` (with its `source()` chain), a boxed or `anyhow`
/// error, `Display`, `Debug`, or only its type name. It needs `E` known when it is type-checked,
/// which the typed closure or `let` around the body ensures.
fn describe_error(private: &TokenStream) -> TokenStream {
    let err = Ident::new("__t4dm_err", Span::mixed_site());
    quote! {
        |#err| {
            use #private::probe::*;
            (&&&&&#private::probe::ErrorProbe(#err)).__t4dm_describe()
        }
    }
}

/// `run_async` starts the span at once: an `async fn`'s body already runs at its first poll.
/// A returned future is created at the call, so `run_async_lazy` waits for its first poll.
fn instrument_future(
    names: &Names,
    future: &TokenStream,
    describe: Option<&TokenStream>,
    lazy: bool,
) -> TokenStream {
    let Names { private, span } = names;
    match (describe, lazy) {
        (Some(describe), false) => quote!(#private::run_async_result(#span, #future, #describe)),
        (None, false) => quote!(#private::run_async(#span, #future)),
        (Some(describe), true) => {
            quote!(#private::run_async_lazy_result(#span, #future, #describe))
        }
        (None, true) => quote!(#private::run_async_lazy(#span, #future)),
    }
}

/// `async move { let __t4dm_ret: R = { body }; __t4dm_ret }`: the typed `let` is a coercion site
/// (`&String` to `&str`, a closure to `Box<dyn Fn>`) and gives `?` in the body the error type to
/// convert into, as the function itself did. A never-taken `return` of type `R` comes first: it
/// fixes the block's output type before the body's own `return`s are checked, so that
/// `return Err(Box::new(e))` still coerces to `Box<dyn Error>`.
fn typed_async_block(
    original: Option<&ExprAsync>,
    output: Option<&Type>,
    block: &TokenStream,
    one_expression: bool,
) -> TokenStream {
    let (attrs, async_token, capture) = match original {
        Some(original) => (
            original.attrs.as_slice(),
            original.async_token.to_token_stream(),
            original.capture.to_token_stream(),
        ),
        None => (&[][..], quote!(async), quote!(move)),
    };
    let future = match output {
        None => quote!(#async_token #capture #block),
        Some(output) => {
            let ret = Ident::new("__t4dm_ret", Span::mixed_site());
            let (erased, _) = erase_impl_trait(output);
            // Lints about what we add, not about the user's code: a body that never completes
            // makes our tail unreachable; and our `let` makes a body that is one expression, such
            // as `unimplemented!()`, a sub-expression for clippy. That lint's check of a `let`
            // only looks into a block of one expression, so only then is it allowed, on our `let`.
            let allow = one_expression.then(|| quote!(#[allow(clippy::diverging_sub_expression)]));
            quote_spanned! {output.span()=>
                #async_token #capture {
                    if let ::core::option::Option::Some(#ret) =
                        ::core::option::Option::None::<#erased>
                    {
                        return #ret;
                    }
                    #allow
                    let #ret: #erased = #block;
                    #[allow(unreachable_code)]
                    #ret
                }
            }
        }
    };
    if attrs.is_empty() {
        future
    } else {
        // Attributes on an argument expression are unstable: they stay on a block's tail.
        quote!({ #(#attrs)* #future })
    }
}

/// Whether a body is one expression after any items: the only shape of block into which
/// clippy's `diverging_sub_expression` looks when it is a `let`'s initialiser.
fn is_one_expression(stmts: &[Stmt]) -> bool {
    match stmts.split_last() {
        Some((Stmt::Expr(_, None), items)) => {
            items.iter().all(|stmt| matches!(stmt, Stmt::Item(_)))
        }
        _ => false,
    }
}

/// The type with each `impl Trait` replaced by `_`, which a closure's return type or a `let`
/// can hold, and whether there was any.
fn erase_impl_trait(ty: &Type) -> (Type, bool) {
    let mut ty = ty.clone();
    let mut visitor = EraseImplTrait { found: false };
    visitor.visit_type_mut(&mut ty);
    (ty, visitor.found)
}

struct EraseImplTrait {
    found: bool,
}

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            let span = impl_trait.impl_token.span;
            *ty = syn::parse_quote_spanned!(span=> _);
            self.found = true;
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

fn shape_of(args: &TracedArgs, item: &TracedFn) -> Shape {
    if item.sig.asyncness.is_some() {
        return Shape::Async;
    }
    let output = declared_output(item);
    if matches!(output, Some(Type::Never(_))) || item.track_caller().is_some() {
        // Validation rejects `err` with either.
        return Shape::Guard;
    }
    if let Some(tail) = tail_async_of(item) {
        return Shape::TailAsync(Box::new(tail));
    }
    let returns_impl_trait = output.is_some_and(|output| erase_impl_trait(output).1);
    if returns_impl_trait && !records_errors(args, output) {
        Shape::Guard
    } else {
        Shape::Closure
    }
}

/// Splits a body ending in `async move { .. }` or `Box::pin(async move { .. })`.
fn tail_async_of(item: &TracedFn) -> Option<TailAsync> {
    let mut prefix = syn::parse::Parser::parse2(Block::parse_within, item.body.clone()).ok()?;
    let Some(Stmt::Expr(tail, None)) = prefix.pop() else {
        return None;
    };
    let (async_block, wrapper) = match tail {
        Expr::Async(async_block) => (async_block, None),
        Expr::Call(call) if is_box_pin(&call.func) && call.args.len() == 1 => {
            let Some(Expr::Async(async_block)) = call.args.into_iter().next() else {
                return None;
            };
            (async_block, Some(*call.func))
        }
        _ => return None,
    };
    Some(TailAsync {
        prefix,
        async_block,
        wrapper,
        brace: item.brace,
    })
}

/// `Box::pin`, `std::boxed::Box::pin` or `::alloc::boxed::Box::pin`.
fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let mut segments = path.path.segments.iter().rev();
    segments.next().is_some_and(|last| last.ident == "pin")
        && segments.next().is_some_and(|box_| box_.ident == "Box")
}

/// The declared return type; `None` for `()` written as nothing.
fn declared_output(item: &TracedFn) -> Option<&Type> {
    match &item.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
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
