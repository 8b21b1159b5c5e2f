//! Checks on the parsed arguments and function. Every problem is pushed, each spanned at the
//! offending token; nothing here stops at the first.

use crate::args::{ErrMode, SpanName, TracedArgs, quoted_list};
use crate::errors::Errors;
use crate::item::TracedFn;
use syn::{FnArg, Pat, ReturnType, Type};

/// The OpenTelemetry span kinds, as `kind = ..` spells them.
pub(crate) const SPAN_KINDS: &[&str] = &["Internal", "Server", "Client", "Producer", "Consumer"];

pub(crate) fn validate(args: &TracedArgs, item: &TracedFn, errors: &mut Errors) {
    check_signature(item, errors);
    check_name(args, errors);
    check_kind(args, errors);
    check_attrs(args, item, errors);
    check_err(args, item, errors);
}

fn check_signature(item: &TracedFn, errors: &mut Errors) {
    if let Some(constness) = &item.sig.constness {
        errors.push(
            constness.span,
            "`#[traced]` cannot be applied to a `const fn`: recording a span needs run-time calls",
        );
    }
    if let Some(variadic) = &item.sig.variadic {
        errors.push_syn(syn::Error::new_spanned(
            variadic.dots,
            "`#[traced]` cannot be applied to a variadic `extern` function",
        ));
    }
}

fn check_name(args: &TracedArgs, errors: &mut Errors) {
    if let Some(SpanName::Literal(literal)) = &args.name
        && literal.value().trim().is_empty()
    {
        errors.push(literal.span(), "the span name must not be empty");
    }
}

fn check_kind(args: &TracedArgs, errors: &mut Errors) {
    if let Some(kind) = &args.kind
        && !SPAN_KINDS.iter().any(|valid| kind == valid)
    {
        errors.push(
            kind.span(),
            format_args!(
                "unknown span kind `{kind}`; expected one of {}",
                quoted_list(SPAN_KINDS)
            ),
        );
    }
}

fn check_attrs(args: &TracedArgs, item: &TracedFn, errors: &mut Errors) {
    let arguments = argument_names(item);
    for attr in &args.attrs {
        if let Some(argument) = &attr.argument
            && !arguments.iter().any(|name| argument == name)
        {
            errors.push(
                argument.span(),
                format_args!(
                    "`attrs` names `{argument}`, which is not an argument of this function; \
                     write `{argument} = expr` to record a value computed from the arguments"
                ),
            );
        }
    }
}

/// `err` needs a returned value to inspect, and a closure around the body to see it.
fn check_err(args: &TracedArgs, item: &TracedFn, errors: &mut Errors) {
    let Some((ErrMode::Record, span)) = args.err else {
        return;
    };
    match &item.sig.output {
        ReturnType::Default => errors.push(
            span,
            "`err` records the `Err` of a returned `Result`, but this function returns `()`",
        ),
        ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)) => errors.push(
            span,
            "`err` records the `Err` of a returned `Result`, but this function never returns",
        ),
        ReturnType::Type(..) => {}
    }
    if item.track_caller().is_some() && item.sig.asyncness.is_none() {
        errors.push(
            span,
            "`err` cannot be used on a `#[track_caller]` function: recording the returned value \
             runs the body in a closure, which would report its own location instead of the \
             caller's",
        );
    }
}

/// Every name the function's parameters bind, `self` included, through patterns.
fn argument_names(item: &TracedFn) -> Vec<String> {
    let mut names = Vec::new();
    for input in &item.sig.inputs {
        match input {
            FnArg::Receiver(_) => names.push("self".to_owned()),
            FnArg::Typed(typed) => collect_pattern_names(&typed.pat, &mut names),
        }
    }
    names
}

fn collect_pattern_names(pat: &Pat, names: &mut Vec<String>) {
    match pat {
        Pat::Ident(ident) => {
            names.push(ident.ident.to_string());
            if let Some((_, sub)) = &ident.subpat {
                collect_pattern_names(sub, names);
            }
        }
        Pat::Tuple(tuple) => tuple
            .elems
            .iter()
            .for_each(|pat| collect_pattern_names(pat, names)),
        Pat::TupleStruct(tuple) => tuple
            .elems
            .iter()
            .for_each(|pat| collect_pattern_names(pat, names)),
        Pat::Struct(structure) => structure
            .fields
            .iter()
            .for_each(|field| collect_pattern_names(&field.pat, names)),
        Pat::Slice(slice) => slice
            .elems
            .iter()
            .for_each(|pat| collect_pattern_names(pat, names)),
        Pat::Reference(reference) => collect_pattern_names(&reference.pat, names),
        Pat::Paren(paren) => collect_pattern_names(&paren.pat, names),
        Pat::Type(typed) => collect_pattern_names(&typed.pat, names),
        _ => {}
    }
}
