//! Where a request's trace comes from: the caller's W3C trace context, carried in MCP's
//! `params._meta` (`traceparent`, `tracestate`, `baggage`) or, on the HTTP transport, in the
//! request's headers. `_meta` wins, as MCP's conventions ask: one HTTP request's context
//! belongs to the transport, while `_meta` belongs to the message.

use http::HeaderMap;
use serde_json::{Map, Value};
use t4dm_trace_runtime::opentelemetry::trace::TraceContextExt as _;
use t4dm_trace_runtime::{Context, extract_context};

/// The context to start the request's SERVER span in: the caller's span as remote parent
/// (with its baggage), or `None` to start a new trace.
pub(crate) fn caller_context(
    meta: Option<&Map<String, Value>>,
    headers: Option<&HeaderMap>,
) -> Option<Context> {
    let from_meta = meta.map(extract_context);
    if from_meta.as_ref().is_some_and(has_remote_span) {
        return from_meta;
    }
    let from_headers = headers.map(extract_context);
    if from_headers.as_ref().is_some_and(has_remote_span) {
        return from_headers;
    }
    // No caller span, but perhaps baggage.
    from_meta.or(from_headers)
}

/// Whether extraction found a caller's span (`extract_context` builds on the current context,
/// which may hold a local span of its own).
fn has_remote_span(cx: &Context) -> bool {
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid() && span_context.is_remote()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const META_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const HEADER_PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn trace_id(cx: Option<Context>) -> Option<String> {
        let cx = cx?;
        let span = cx.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| span_context.trace_id().to_string())
    }

    fn meta(value: &Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn headers(traceparent: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_static(traceparent));
        headers
    }

    #[test]
    fn meta_wins_over_headers_which_win_over_nothing() {
        // The capture installs the runtime's propagators, as `init_tracing` does.
        let ((), _) = t4dm_trace_runtime::testing::capture(precedence);
    }

    fn precedence() {
        let with_parent = meta(&json!({ "traceparent": META_PARENT }));
        let without = meta(&json!({ "progressToken": 1 }));
        let headers = headers(HEADER_PARENT);
        assert_eq!(
            trace_id(caller_context(Some(&with_parent), Some(&headers))).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id(caller_context(Some(&without), Some(&headers))).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(trace_id(caller_context(Some(&without), None)), None);
        assert!(caller_context(None, None).is_none());
        let garbled = meta(&json!({ "traceparent": "00-not-a-trace" }));
        assert_eq!(trace_id(caller_context(Some(&garbled), None)), None);
    }
}
