//! Errors of the propagation helpers.

/// Why a baggage entry or a `tracestate` entry could not be set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// A baggage key must be an HTTP token: letters, digits and ``!#$%&'*+-.^_`|~``.
    #[error(
        "invalid baggage key `{0}`: expected an HTTP token (letters, digits and `!#$%&'*+-.^_|~`)"
    )]
    InvalidBaggageKey(String),
    /// The entry would take the baggage past 64 entries or 8,192 bytes.
    #[error("cannot add baggage entry `{key}`: the baggage would pass 64 entries or 8192 bytes")]
    BaggageFull {
        /// The key that was not added.
        key: String,
    },
    /// A `tracestate` key starts with a lowercase letter or a digit, followed by up to 255 of
    /// `a-z`, `0-9`, `_`, `-`, `*`, `/` and `@`.
    #[error(
        "invalid tracestate key `{0}`: expected a lowercase letter or digit followed by up to 255 \
         of `a-z0-9_-*/@`"
    )]
    InvalidTraceStateKey(String),
    /// A `tracestate` value is 1 to 256 printable ASCII characters other than `,` and `=`, not
    /// ending in a space.
    #[error(
        "invalid tracestate value `{0}`: expected 1 to 256 printable ASCII characters other than \
         `,` and `=`, not ending in a space"
    )]
    InvalidTraceStateValue(String),
}
