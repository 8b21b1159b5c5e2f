//! Collects every problem found in one expansion, so that a user sees them all in one compile.

use proc_macro2::Span;
use std::fmt::Display;

/// An accumulator of spanned errors, combined into one `syn::Error` at the end.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    pub(crate) fn push_syn(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `Ok` when nothing was pushed, else every error combined in the order found.
    pub(crate) fn finish(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}
