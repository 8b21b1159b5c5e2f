//! The `#[traced]` attribute macro of t4dm-trace.
//!
//! Use it through `t4dm_trace_runtime::traced`: this crate only generates code, and the code it
//! generates calls into `t4dm-trace-runtime`, whose documentation describes every option.

mod args;
mod errors;
mod expand;
mod item;
mod validate;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

// The runtime documents this attribute (its `traced.md`) on its re-export, and rustdoc appends
// the text below there: it must read well both there and alone.
/// *Implemented by the `t4dm-trace-macros` crate, which only generates code: depend on
/// `t4dm-trace-runtime` and write `#[t4dm_trace_runtime::traced]`.*
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match traced_impl(args.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        Err(error) => {
            // Emit the user's function unchanged beside the errors, so that the rest of the crate
            // still type-checks and rust-analyzer keeps working on the body.
            let mut out = item;
            out.extend(error.into_compile_error());
            out.into()
        }
    }
}

/// Parse, validate, expand.
fn traced_impl(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let mut errors = errors::Errors::default();
    let args = args::TracedArgs::parse(args, &mut errors);
    let item = match item::parse_item(item) {
        Ok(item) => item,
        Err(error) => {
            errors.push_syn(error);
            return Err(errors.finish().expect_err("an error was just pushed"));
        }
    };
    validate::validate(&args, &item, &mut errors);
    errors.finish()?;
    Ok(expand::expand(&args, item))
}
