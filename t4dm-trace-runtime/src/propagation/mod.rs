//! Context propagation: W3C Trace Context, W3C Baggage and AWS X-Ray across processes (HTTP headers, MCP
//! `params._meta`, any string map), tasks and threads.
//!
//! `init_tracing` installs the propagators `OTEL_PROPAGATORS` names (W3C Trace Context and W3C
//! Baggage by default) as OpenTelemetry's global propagator; [`inject_context`] and
//! [`extract_context`] go through it, so code using the OpenTelemetry API shares it.

mod baggage;
mod carrier;
mod error;
mod settings;
mod spawn;
mod trace_context;
mod xray;

pub use baggage::{W3cBaggagePropagator, context_with_baggage, get_baggage, set_baggage};
pub use carrier::{ExtractCarrier, InjectCarrier};
pub use error::PropagationError;
pub use settings::{
    OTEL_PROPAGATORS, OTEL_PROPAGATORS_DEFAULT, Propagator, T4DM_OTEL_BAGGAGE_ATTRIBUTES,
};
pub use spawn::{
    TraceFutureExt, bind_current_trace, spawn_blocking_in_current_trace, spawn_in_current_trace,
    spawn_thread_in_current_trace,
};
pub use trace_context::{TRACE_FLAG_RANDOM, W3cTraceContextPropagator, with_trace_state_entry};
pub use xray::XrayPropagator;

pub(crate) use settings::{PropagationOverrides, PropagationSettings};

pub(crate) use baggage::BaggageAttributes;
use carrier::{ExtractAdapter, InjectAdapter};
use opentelemetry::Context;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use std::collections::HashMap;

/// Writes the current context (span and baggage) into `carrier` through the global propagator:
/// `traceparent`, `tracestate` and `baggage` by default.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::{inject_context, traced};
///
/// #[traced("memory.call", kind = Client)]
/// fn call() -> HashMap<String, String> {
///     let mut headers = HashMap::new();
///     inject_context(&mut headers);
///     headers // then sent with the request
/// }
/// # call();
/// ```
pub fn inject_context<C: InjectCarrier + ?Sized>(carrier: &mut C) {
    Context::map_current(|cx| inject_context_from(cx, carrier));
}

/// Writes `cx` (its span and baggage) into `carrier` through the global propagator.
pub fn inject_context_from<C: InjectCarrier + ?Sized>(cx: &Context, carrier: &mut C) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut InjectAdapter(carrier));
    });
}

/// Reads the caller's context from `carrier` through the global propagator, on top of the
/// current context. Give the result as `parent = ..` to start a span as the remote caller's
/// child; when the carrier holds no valid `traceparent`, that span starts a new trace.
///
/// Bad input is ignored as the specifications say; it never panics.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::{extract_context, traced};
///
/// // `meta` may also be an `http::HeaderMap` or MCP's `params._meta` (feature `mcp`).
/// #[traced("mcp.recall_episodes", kind = Server, parent = extract_context(meta))]
/// fn recall_episodes(meta: &HashMap<String, String>) -> usize {
///     3
/// }
///
/// let meta = HashMap::from([
///     ("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
///     ("baggage".to_owned(), "user.id=alice".to_owned()),
/// ]);
/// assert_eq!(recall_episodes(&meta), 3);
/// ```
#[must_use]
pub fn extract_context<C: ExtractCarrier + ?Sized>(carrier: &C) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&ExtractAdapter(carrier))
    })
}

/// The current span's W3C trace context: `traceparent`, and `tracestate` when it is not empty.
/// Empty outside a span. Always W3C Trace Context, whatever propagators are installed.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{get_trace_context, traced};
///
/// #[traced("gateway.handle")]
/// fn handle() -> Option<String> {
///     get_trace_context().get("traceparent").cloned()
/// }
/// # let _ = handle();
/// assert!(get_trace_context().is_empty(), "no span is current here");
/// ```
#[must_use]
pub fn get_trace_context() -> HashMap<String, String> {
    let mut fields = HashMap::new();
    Context::map_current(|cx| {
        W3cTraceContextPropagator::new().inject_context(cx, &mut InjectAdapter(&mut fields));
    });
    fields
}

/// The propagator `propagators` describe, in that order.
#[must_use]
pub fn composite_propagator(propagators: &[Propagator]) -> TextMapCompositePropagator {
    let propagators = propagators
        .iter()
        .map(|propagator| -> Box<dyn TextMapPropagator + Send + Sync> {
            match propagator {
                Propagator::TraceContext => Box::new(W3cTraceContextPropagator::new()),
                Propagator::Baggage => Box::new(W3cBaggagePropagator::new()),
                Propagator::Xray => Box::new(XrayPropagator::new()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(propagators)
}

/// Installs the configured propagators as OpenTelemetry's global propagator.
pub(crate) fn install_propagators(settings: &PropagationSettings) {
    opentelemetry::global::set_text_map_propagator(composite_propagator(&settings.propagators));
}

/// What copies the chosen baggage entries onto span attributes, when any are chosen.
pub(crate) fn baggage_attributes(settings: &PropagationSettings) -> Option<BaggageAttributes> {
    (!settings.baggage_attributes.is_empty())
        .then(|| BaggageAttributes::new(&settings.baggage_attributes))
}
