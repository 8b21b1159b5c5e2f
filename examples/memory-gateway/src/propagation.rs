//! Where a request's trace comes from: the caller's W3C trace context, carried in MCP's
//! `params._meta` (`traceparent`, `tracestate`, `baggage`) or, on the HTTP transport, in the
//! request's headers. `_meta` wins: one HTTP request may carry messages of several traces.

use http::HeaderMap;
use serde_json::{Map, Value};
use t4dm_trace_runtime::Context;

/// The context to start the request's SERVER span in, or `None` to start a new trace.
///
/// Not implemented yet: it needs `t4dm_trace_runtime::extract_context` (issue 4), which has
/// not been merged. Until then every request starts a new trace.
pub(crate) fn caller_context(
    meta: Option<&Map<String, Value>>,
    headers: Option<&HeaderMap>,
) -> Option<Context> {
    let _ = (meta, headers);
    None
}
