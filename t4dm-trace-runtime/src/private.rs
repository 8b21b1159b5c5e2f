//! What `#[traced]` expansions call. Not public API: it may change in any release.

pub use crate::error_info::{ErrorInfo, probe};
pub use crate::instrument::{
    PendingSpan, SpanStart, enter, run, run_async, run_async_lazy, run_async_lazy_result,
    run_async_result, run_result, span,
};
/// For the benchmarks: the span metrics' update alone, and a switch. Not public API.
pub use crate::metrics::bench as span_metrics;
pub use opentelemetry::trace::SpanKind;
