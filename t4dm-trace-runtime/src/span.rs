//! Helpers on the current span, and manual spans (`trace_span`).

use crate::error_info::ErrorInfo;
use crate::init::is_enabled;
use crate::instrument::{
    EnteredSpan, IgnoreOutput, ParentContext, PendingSpan, SpanStart, TracedFuture,
};
use crate::value::SpanValue;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TraceId};
use opentelemetry::{Context, Key, KeyValue, StringValue};
use std::borrow::Cow;
use std::future::Future;

/// Adds an attribute to the current span, with the value's own OpenTelemetry type
/// (`add_span_attribute("limit", 10)` records an integer). Does nothing outside a span or when
/// tracing is disabled.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{add_span_attribute, traced};
///
/// #[traced("qdrant.search", kind = Client)]
/// fn search(limit: usize) {
///     add_span_attribute("collection", "episodes");
///     add_span_attribute("limit", limit);
/// }
/// # search(10);
/// ```
pub fn add_span_attribute(key: impl Into<Key>, value: impl SpanValue) {
    if !is_enabled() {
        return;
    }
    if let Some(value) = value.to_span_value() {
        Context::map_current(|cx| cx.span().set_attribute(KeyValue::new(key, value)));
    }
}

/// Adds an event to the current span: a named, timestamped record with attributes (any
/// iterable of `KeyValue`).
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{add_span_event, opentelemetry::KeyValue, traced};
///
/// #[traced]
/// fn lookup(key: &str) {
///     add_span_event("cache_miss", [KeyValue::new("key", key.to_owned())]);
/// }
/// # lookup("episode_123");
/// ```
pub fn add_span_event(
    name: impl Into<Cow<'static, str>>,
    attributes: impl IntoIterator<Item = KeyValue>,
) {
    if !is_enabled() {
        return;
    }
    Context::map_current(|cx| {
        let span = cx.span();
        if span.is_recording() {
            span.add_event(name, attributes.into_iter().collect());
        }
    });
}

/// Records an error on the current span the OpenTelemetry way: status Error with the error's
/// message, `error.type`, and an `exception` event with its type, message, `source()` chain and
/// (when `RUST_BACKTRACE` asks) a stack trace. For an `anyhow::Error`, pass `&*error`.
pub fn record_error<E: std::error::Error + ?Sized>(error: &E) {
    if !is_enabled() {
        return;
    }
    Context::map_current(|cx| {
        let span = cx.span();
        if span.is_recording() {
            ErrorInfo::from_std_error(std::any::type_name::<E>(), error).record_on(&span);
        } else {
            // Not recorded, but a span the sampler dropped still counts as failed in the span
            // metrics.
            span.set_status(Status::error(""));
        }
    });
}

/// Marks the current span failed when there is no Rust error value to record: status Error with
/// `description`, and `error.type` set to `error_type`, a low-cardinality class of failure such
/// as a protocol status code (`"-32602"`) or `"tool_error"`. Unlike [`record_error`], no
/// `exception` event is added: nothing was raised. Does nothing outside a span or when tracing
/// is disabled.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{set_span_error, traced};
///
/// #[traced("tools/call", kind = Server)]
/// fn call_tool(known: bool) -> &'static str {
///     if !known {
///         set_span_error("-32602", "unknown tool");
///     }
///     "done"
/// }
/// # call_tool(false);
/// ```
pub fn set_span_error(
    error_type: impl Into<StringValue>,
    description: impl Into<Cow<'static, str>>,
) {
    if !is_enabled() {
        return;
    }
    Context::map_current(|cx| {
        let span = cx.span();
        if span.is_recording() {
            span.set_status(Status::error(description));
            span.set_attribute(KeyValue::new("error.type", error_type.into()));
        } else {
            // Not recorded, but a span the sampler dropped still counts as failed in the span
            // metrics.
            span.set_status(Status::error(""));
        }
    });
}

/// The trace id of the current span, or `None` outside a span (or when tracing is disabled).
#[must_use]
pub fn current_trace_id() -> Option<TraceId> {
    if !is_enabled() {
        return None;
    }
    Context::map_current(|cx| {
        let span_context = cx.span().span_context().clone();
        span_context.is_valid().then(|| span_context.trace_id())
    })
}

/// A span to run some code in, for work that is not a function of its own.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::trace_span;
///
/// let total = trace_span("batch_processing")
///     .with_attribute("batch_size", 100)
///     .in_scope(|| (1..=100).sum::<u32>());
/// assert_eq!(total, 5050);
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let value = trace_span("batch_processing")
///     .with_attribute("batch_size", 100)
///     .instrument(async { 7 })
///     .await;
/// assert_eq!(value, 7);
/// # });
/// ```
pub fn trace_span(name: impl Into<Cow<'static, str>>) -> TraceSpan {
    TraceSpan {
        start: is_enabled().then(|| SpanStart::new(name, SpanKind::Internal)),
    }
}

/// A manual span, started by [`TraceSpan::in_scope`], [`TraceSpan::instrument`] or
/// [`TraceSpan::entered`]. Built by [`trace_span`]; when tracing is disabled every method is a
/// no-op.
#[derive(Debug)]
#[must_use = "a span does nothing until it runs code with `in_scope`, `instrument` or `entered`"]
pub struct TraceSpan {
    start: Option<SpanStart>,
}

impl TraceSpan {
    /// Sets the span kind (default `Internal`).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        if let Some(start) = &mut self.start {
            start.set_kind(kind);
        }
        self
    }

    /// Adds an attribute, typed as [`add_span_attribute`] types it.
    pub fn with_attribute(mut self, key: impl Into<Key>, value: impl SpanValue) -> Self {
        if let Some(start) = &mut self.start {
            start.push_attr(key.into(), &value);
        }
        self
    }

    /// Starts the span as a child of `parent` rather than of the current span.
    pub fn with_parent<P: ParentContext + ?Sized>(mut self, parent: &P) -> Self {
        self.start = self.start.map(|start| start.parent(parent));
        self
    }

    /// Runs `body` inside the span; a panic marks the span failed and keeps unwinding.
    pub fn in_scope<R>(self, body: impl FnOnce() -> R) -> R {
        crate::instrument::run(PendingSpan(self.start), body)
    }

    /// Runs `future` inside the span, which starts at its first poll and ends when it
    /// completes, panics, or is dropped unfinished (then with `t4dm.cancelled = true`).
    pub fn instrument<F: Future>(self, future: F) -> TracedFuture<F, IgnoreOutput> {
        TracedFuture::new(PendingSpan(self.start), future, IgnoreOutput)
    }

    /// Starts the span and keeps it current until the guard is dropped (on this thread).
    #[must_use = "the span ends when the guard is dropped"]
    pub fn entered(self) -> EnteredSpan {
        crate::instrument::enter(PendingSpan(self.start))
    }
}
