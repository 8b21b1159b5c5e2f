//! `parent = expr`: a `Context`, a `SpanContext` (a remote parent) or an `Option` of those.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{Context, traced};

#[allow(clippy::needless_pass_by_value)]
#[traced("child.of.context", parent = cx)]
fn with_context(cx: Context) {}

#[traced("child.of.remote", kind = Server, parent = remote)]
fn with_remote(remote: &SpanContext) {}

#[allow(clippy::needless_pass_by_value)]
#[traced("child.of.option", parent = maybe)]
fn with_option(maybe: Option<Context>) {}

struct Handler {
    cx: Context,
}

impl Handler {
    #[traced("child.of.field", parent = self.cx)]
    fn handle(&self) {}
}

fn main() {
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let ((), spans) = capture(|| {
        with_context(Context::new().with_remote_span_context(remote.clone()));
        with_remote(&remote);
        with_option(None);
        Handler { cx: Context::current() }.handle();
    });
    assert_eq!(spans.len(), 4);
    for span in &spans[..2] {
        assert_eq!(span.span_context.trace_id(), remote.trace_id());
        assert_eq!(span.parent_span_id, remote.span_id());
    }
}
