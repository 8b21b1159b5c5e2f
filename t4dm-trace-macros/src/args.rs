//! Parsing of the `#[traced(...)]` arguments.
//!
//! Parsing never stops at the first problem: an unknown or duplicate option, or a bad value, is
//! recorded in [`Errors`] and parsing resumes after the next top-level comma, so one compile
//! reports every mistake.

use crate::errors::Errors;
use crate::validate::SPAN_KINDS;
use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitBool, LitStr, Path, Token, parenthesized};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(kind);
    syn::custom_keyword!(attrs);
    syn::custom_keyword!(parent);
    syn::custom_keyword!(err);
}

/// The options a user may give, in the order the documentation lists them, each with the form
/// that error messages suggest.
const OPTIONS: &[(&str, &str)] = &[
    ("name", "name = \"span.name\""),
    ("kind", "kind = Server"),
    ("attrs", "attrs(key = value, ..)"),
    ("parent", "parent = cx"),
    // Quoted by the message as `{form}`: two forms in one.
    ("err", "err` or `err = false"),
    ("crate", "crate = path::to::runtime"),
];

/// Everything written inside `#[traced(...)]`.
#[derive(Default)]
pub(crate) struct TracedArgs {
    pub(crate) name: Option<SpanName>,
    pub(crate) kind: Option<Ident>,
    pub(crate) attrs: Vec<AttrSpec>,
    pub(crate) parent: Option<Expr>,
    /// The mode and the span of the `err` keyword.
    pub(crate) err: Option<(ErrMode, Span)>,
    pub(crate) krate: Option<Path>,
}

/// The span name: a literal known at compile time, or an expression evaluated per call.
pub(crate) enum SpanName {
    Literal(LitStr),
    Expr(Box<Expr>),
}

/// `err` forces error recording for a return type the macro cannot recognise; `err = false`
/// turns it off.
#[derive(Clone, Copy)]
pub(crate) enum ErrMode {
    Record,
    Ignore,
}

/// One entry of `attrs(...)`.
pub(crate) struct AttrSpec {
    pub(crate) key: AttrKey,
    pub(crate) value: AttrValue,
    /// The argument this entry reads by name (`limit`, `%query`), checked against the signature.
    pub(crate) argument: Option<Ident>,
}

/// An attribute key: `limit`, `db.collection.name` or `"db.collection.name"`.
pub(crate) struct AttrKey {
    pub(crate) text: String,
    /// Where the generated key literal points: the key's first token.
    pub(crate) span: Span,
    /// The key as written, for errors that underline all of it.
    tokens: proc_macro2::TokenStream,
}

/// How an attribute's value is recorded.
pub(crate) enum AttrValue {
    /// With its own OpenTelemetry type (`SpanValue`).
    Typed(Expr),
    /// `%expr`: its `Display`.
    Display(Expr),
    /// `?expr`: its `Debug`.
    Debug(Expr),
}

impl TracedArgs {
    /// Parses the attribute's arguments, pushing every problem into `errors`.
    pub(crate) fn parse(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> TracedArgs {
        let parser = |input: ParseStream<'_>| Ok(parse_entries(input, errors));
        // `parse_entries` recovers from every error itself; the parser cannot fail.
        parser.parse2(tokens).unwrap_or_default()
    }

    /// Stores one parsed option; a second one of the same kind is an error at the repeat.
    fn set(&mut self, entry: Entry, seen: &mut Vec<&'static str>, errors: &mut Errors) {
        let option = entry.option();
        if seen.contains(&option) {
            errors.push(entry.span(), format_args!("duplicate `{option}` argument"));
            return;
        }
        seen.push(option);
        match entry {
            Entry::Name(_, name) => self.name = Some(name),
            Entry::Kind(_, kind) => self.kind = Some(kind),
            Entry::Attrs(_, attrs) => self.attrs = attrs,
            Entry::Parent(_, parent) => self.parent = Some(parent),
            Entry::Err(span, mode) => self.err = Some((mode, span)),
            Entry::Crate(_, path) => self.krate = Some(path),
        }
    }
}

/// One option as written, with the span of its keyword (or of the literal name).
enum Entry {
    Name(Span, SpanName),
    Kind(Span, Ident),
    Attrs(Span, Vec<AttrSpec>),
    Parent(Span, Expr),
    Err(Span, ErrMode),
    Crate(Span, Path),
}

impl Entry {
    fn option(&self) -> &'static str {
        match self {
            Entry::Name(..) => "name",
            Entry::Kind(..) => "kind",
            Entry::Attrs(..) => "attrs",
            Entry::Parent(..) => "parent",
            Entry::Err(..) => "err",
            Entry::Crate(..) => "crate",
        }
    }

    fn span(&self) -> Span {
        match self {
            Entry::Name(span, _)
            | Entry::Kind(span, _)
            | Entry::Attrs(span, _)
            | Entry::Parent(span, _)
            | Entry::Err(span, _)
            | Entry::Crate(span, _) => *span,
        }
    }
}

fn parse_entries(input: ParseStream<'_>, errors: &mut Errors) -> TracedArgs {
    let mut args = TracedArgs::default();
    let mut seen = Vec::new();
    let mut first = true;
    while !input.is_empty() {
        match parse_entry(input, first, errors) {
            Ok(entry) => args.set(entry, &mut seen, errors),
            Err(error) => {
                errors.push_syn(error);
                skip_to_comma(input);
            }
        }
        first = false;
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            errors.push_syn(error);
            skip_to_comma(input);
            // Consume the comma we skipped to, if any, and go on with the next entry.
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    args
}

fn parse_entry(input: ParseStream<'_>, first: bool, errors: &mut Errors) -> syn::Result<Entry> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        if !first {
            return Err(syn::Error::new(
                literal.span(),
                "the span name must come first; write it as the first argument or as `name = ..`",
            ));
        }
        return Ok(Entry::Name(literal.span(), SpanName::Literal(literal)));
    }
    if input.peek(Token![crate]) && input.peek2(Token![=]) {
        let token: Token![crate] = input.parse()?;
        input.parse::<Token![=]>()?;
        return Ok(Entry::Crate(token.span, input.call(Path::parse_mod_style)?));
    }
    if input.peek(kw::name) && input.peek2(Token![=]) {
        let keyword: kw::name = input.parse()?;
        input.parse::<Token![=]>()?;
        return Ok(Entry::Name(keyword.span, span_name(input.parse()?)));
    }
    if input.peek(kw::kind) && input.peek2(Token![=]) {
        let keyword: kw::kind = input.parse()?;
        input.parse::<Token![=]>()?;
        return Ok(Entry::Kind(keyword.span, parse_kind(input)?));
    }
    if input.peek(kw::attrs) && input.peek2(syn::token::Paren) {
        let keyword: kw::attrs = input.parse()?;
        let content;
        parenthesized!(content in input);
        return Ok(Entry::Attrs(
            keyword.span,
            parse_attr_list(&content, errors),
        ));
    }
    if input.peek(kw::parent) && input.peek2(Token![=]) {
        let keyword: kw::parent = input.parse()?;
        input.parse::<Token![=]>()?;
        return Ok(Entry::Parent(keyword.span, input.parse()?));
    }
    if input.peek(kw::err) && !input.peek2(syn::token::Paren) {
        let keyword: kw::err = input.parse()?;
        return Ok(Entry::Err(keyword.span, parse_err_mode(input)?));
    }
    Err(unexpected(input, first))
}

/// `name = "literal"` is as good as the positional literal; anything else is evaluated per call.
fn span_name(expr: Expr) -> SpanName {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(literal),
            ..
        }) => SpanName::Literal(literal),
        other => SpanName::Expr(Box::new(other)),
    }
}

fn parse_kind(input: ParseStream<'_>) -> syn::Result<Ident> {
    Ident::parse_any(input).map_err(|error| {
        syn::Error::new(
            error.span(),
            format_args!("expected a span kind: one of {}", quoted_list(SPAN_KINDS)),
        )
    })
}

/// After `err`: nothing (record), or `= true` / `= false`.
fn parse_err_mode(input: ParseStream<'_>) -> syn::Result<ErrMode> {
    if !input.peek(Token![=]) {
        return Ok(ErrMode::Record);
    }
    input.parse::<Token![=]>()?;
    let value: LitBool = input.parse().map_err(|error| {
        syn::Error::new(error.span(), "expected `true` or `false` after `err =`")
    })?;
    Ok(if value.value {
        ErrMode::Record
    } else {
        ErrMode::Ignore
    })
}

/// The error for a token that starts no option: a misplaced name, an option without its value,
/// or an unknown option.
fn unexpected(input: ParseStream<'_>, first: bool) -> syn::Error {
    let Ok(ident) = input.fork().call(Ident::parse_any) else {
        let span = input.span();
        let found = input
            .fork()
            .parse::<TokenTree>()
            .map_or_else(|_| "nothing".to_owned(), |token| format!("`{token}`"));
        let message = if first {
            format!(
                "expected the span name as a string literal, found {found}; \
                 use `name = ..` for a name computed at run time"
            )
        } else {
            format!("expected an option ({}), found {found}", option_names())
        };
        return syn::Error::new(span, message);
    };
    let after = input.fork();
    let _ = after.call(Ident::parse_any);
    let message = if let Some((_, form)) = OPTIONS.iter().find(|(option, _)| ident == option) {
        format!("`{ident}` is written `{form}`")
    } else if first && !after.peek(Token![=]) && !after.peek(syn::token::Paren) {
        format!(
            "expected the span name as a string literal, found `{ident}`; \
             write `\"{ident}\"`, or `name = {ident}` for a name computed at run time"
        )
    } else {
        format!(
            "unknown option `{ident}`; expected one of {}",
            option_names()
        )
    };
    syn::Error::new(ident.span(), message)
}

fn option_names() -> String {
    let names: Vec<&str> = OPTIONS.iter().map(|(name, _)| *name).collect();
    quoted_list(&names)
}

/// "`a`, `b`, `c`", for messages.
pub(crate) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_attr_list(input: ParseStream<'_>, errors: &mut Errors) -> Vec<AttrSpec> {
    let mut specs = Vec::new();
    while !input.is_empty() {
        match parse_attr(input) {
            Ok(spec) => specs.push(spec),
            Err(error) => {
                errors.push_syn(error);
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            errors.push_syn(error);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    specs
}

fn parse_attr(input: ParseStream<'_>) -> syn::Result<AttrSpec> {
    // Shorthands: `%arg` and `?arg` record an argument's Display or Debug under its own name.
    if input.peek(Token![%]) || input.peek(Token![?]) {
        let display = input.peek(Token![%]);
        if display {
            input.parse::<Token![%]>()?;
        } else {
            input.parse::<Token![?]>()?;
        }
        // `parse_any`, so that `%self` and `?self` work; validation checks the name is an argument.
        let ident = Ident::parse_any(input)?;
        let key = AttrKey {
            text: ident.unraw().to_string(),
            span: ident.span(),
            tokens: ident.to_token_stream(),
        };
        let expr = ident_expr(&ident);
        let value = if display {
            AttrValue::Display(expr)
        } else {
            AttrValue::Debug(expr)
        };
        return Ok(AttrSpec {
            key,
            value,
            argument: Some(ident),
        });
    }

    let (key, single_ident) = parse_attr_key(input)?;
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        let value = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            AttrValue::Display(input.parse()?)
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            AttrValue::Debug(input.parse()?)
        } else {
            AttrValue::Typed(input.parse()?)
        };
        return Ok(AttrSpec {
            key,
            value,
            argument: None,
        });
    }
    match single_ident {
        Some(ident) => Ok(AttrSpec {
            key,
            value: AttrValue::Typed(ident_expr(&ident)),
            argument: Some(ident),
        }),
        None => Err(syn::Error::new_spanned(
            &key.tokens,
            format!(
                "expected `=` and a value after the attribute key `{}`; only an argument's \
                 plain name can stand alone",
                key.text
            ),
        )),
    }
}

/// Parses `ident`, `a.b.c` (any identifiers, keywords included) or `"literal"`. Returns the key
/// and, when the key is one plain identifier, that identifier (an argument name candidate).
fn parse_attr_key(input: ParseStream<'_>) -> syn::Result<(AttrKey, Option<Ident>)> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let text = literal.value();
        if text.trim().is_empty() {
            return Err(syn::Error::new(
                literal.span(),
                "an attribute key must not be empty",
            ));
        }
        let key = AttrKey {
            text,
            span: literal.span(),
            tokens: literal.to_token_stream(),
        };
        return Ok((key, None));
    }
    let first = Ident::parse_any(input).map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected an attribute key: an identifier, a dotted name such as \
             `db.collection.name`, or a string literal",
        )
    })?;
    let mut text = first.unraw().to_string();
    let mut tokens = first.to_token_stream();
    while input.peek(Token![.]) {
        let dot: Token![.] = input.parse()?;
        let part = Ident::parse_any(input)?;
        text.push('.');
        text.push_str(&part.unraw().to_string());
        dot.to_tokens(&mut tokens);
        part.to_tokens(&mut tokens);
    }
    let key = AttrKey {
        text,
        span: first.span(),
        tokens,
    };
    let single = (!key.text.contains('.')).then_some(first);
    Ok((key, single))
}

fn ident_expr(ident: &Ident) -> Expr {
    Expr::Path(syn::ExprPath {
        attrs: Vec::new(),
        qself: None,
        path: Path::from(ident.clone()),
    })
}

/// Skips tokens up to, not including, the next top-level comma.
fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}
