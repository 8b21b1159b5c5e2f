//! With tracing off, `#[traced]` records nothing and touches no OpenTelemetry state.

use t4dm_trace_runtime::opentelemetry::trace::{Span, TraceContextExt, Tracer, TracerProvider};
use t4dm_trace_runtime::opentelemetry::{Context, global};
use t4dm_trace_runtime::testing::{capture, capture_async};
use t4dm_trace_runtime::{TracingConfig, current_trace_id, init_tracing, trace_span, traced};

/// Whether a span is current here, read straight from OpenTelemetry's context.
fn span_is_current() -> bool {
    Context::map_current(|cx| cx.span().span_context().is_valid())
}

#[traced("disabled.sync", attrs(value))]
fn sync_work(value: u32) -> bool {
    span_is_current()
}

#[traced("disabled.async")]
async fn async_work() -> Result<bool, std::io::Error> {
    tokio::task::yield_now().await;
    Ok(span_is_current())
}

#[test]
fn nothing_is_recorded_before_init_nor_after_init_with_tracing_disabled() {
    // Never initialised: no span becomes current.
    assert!(!sync_work(1));
    assert_eq!(current_trace_id(), None);

    // Initialised with tracing off. With the `testing` feature the runtime still keeps a
    // capture-only provider, so a `#[traced]` that ignored the switch would show up here.
    let _guard = init_tracing(TracingConfig::builder().with_enabled(false).build())
        .expect("initialising with tracing off succeeds");
    let (current, spans) = capture(|| {
        let sync = sync_work(2);
        let manual = trace_span("disabled.manual").in_scope(span_is_current);
        sync || manual
    });
    assert!(!current, "no span was current inside");
    assert!(spans.is_empty(), "{spans:?}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (current, spans) = runtime.block_on(capture_async(async_work()));
    assert!(!current.unwrap());
    assert!(spans.is_empty(), "{spans:?}");

    // The global provider was left alone: still OpenTelemetry's no-op.
    let span = global::tracer_provider().tracer("check").start("probe");
    assert!(!span.span_context().is_valid());
    assert!(
        t4dm_trace_runtime::tracing_stats().exporters.is_empty(),
        "no export pipeline was started"
    );
}
