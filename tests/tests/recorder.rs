//! The spans `#[traced]` records without the SDK's tracer still interoperate with OpenTelemetry:
//! the current `Context` carries them, other code's spans (started through the global tracer)
//! become their children and reach the same exporter, the global propagator injects them,
//! `Context::current().span()` reaches them; exporters receive `SpanData` with wall-clock
//! timestamps; and nothing is lost when a thread exits.
//!
//! Every test here shares one `init_tracing` (once per process) with an exporter that keeps what
//! it receives, and finds its own spans by trace id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use t4dm_trace_runtime::opentelemetry::global;
use t4dm_trace_runtime::opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceId, Tracer as _,
};
use t4dm_trace_runtime::opentelemetry::{Context, KeyValue, Value};
use t4dm_trace_runtime::opentelemetry_sdk::error::OTelSdkResult;
use t4dm_trace_runtime::opentelemetry_sdk::trace::{SpanData, SpanExporter};
use t4dm_trace_runtime::{TracingConfig, flush_tracing, init_tracing, traced, tracing_stats};
use t4dm_trace_tests::{attribute, is_child_of, span};

/// Keeps every span it is given.
#[derive(Debug, Clone, Default)]
struct KeepingExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl SpanExporter for KeepingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.spans.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

fn exporter() -> &'static KeepingExporter {
    static EXPORTER: OnceLock<KeepingExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = KeepingExporter::default();
        let config = TracingConfig::builder()
            .with_enabled(true)
            .with_span_exporter("keeping", exporter.clone())
            .build();
        // Kept for the whole process: the guard's drop would shut tracing down.
        std::mem::forget(init_tracing(config).expect("tracing starts"));
        exporter
    })
}

/// Flushes, then returns the exported spans of `trace_id`.
fn exported(trace_id: TraceId) -> Vec<SpanData> {
    let exporter = exporter();
    flush_tracing().expect("flush");
    exporter
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .cloned()
        .collect()
}

fn current_span_context() -> SpanContext {
    Context::map_current(|cx| cx.span().span_context().clone())
}

#[traced("interop.outer")]
fn outer_with_third_party_child() -> (SpanContext, SpanContext) {
    let ours = current_span_context();
    // Code that knows nothing of t4dm-trace, using the OpenTelemetry API.
    let theirs = global::tracer("third-party")
        .in_span("third_party.child", |cx| cx.span().span_context().clone());
    (ours, theirs)
}

#[test]
fn the_current_context_carries_the_span_and_third_party_spans_are_its_children() {
    exporter();
    let (ours, theirs) = outer_with_third_party_child();
    assert!(ours.is_valid() && ours.is_sampled());
    assert_eq!(theirs.trace_id(), ours.trace_id());
    let spans = exported(ours.trace_id());
    let outer = span(&spans, "interop.outer");
    let child = span(&spans, "third_party.child");
    assert_eq!(outer.span_context.span_id(), ours.span_id());
    assert_eq!(child.span_context.span_id(), theirs.span_id());
    // Through the same exporter, as a child of the `#[traced]` span.
    assert!(is_child_of(child, outer));
    assert_eq!(child.instrumentation_scope.name(), "third-party");
    assert_eq!(outer.instrumentation_scope.name(), "t4dm-trace");
}

#[traced("interop.inner")]
fn inner() -> SpanContext {
    current_span_context()
}

#[test]
fn a_traced_span_inside_a_third_party_span_is_its_child() {
    exporter();
    let (theirs, ours) = global::tracer("third-party").in_span("third_party.outer", |cx| {
        (cx.span().span_context().clone(), inner())
    });
    let spans = exported(theirs.trace_id());
    let outer = span(&spans, "third_party.outer");
    let inner = span(&spans, "interop.inner");
    assert_eq!(inner.span_context.span_id(), ours.span_id());
    assert!(is_child_of(inner, outer));
}

#[traced("interop.inject")]
fn inject_current() -> (SpanContext, HashMap<String, String>) {
    let mut headers = HashMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&Context::current(), &mut headers);
    });
    (current_span_context(), headers)
}

#[test]
fn the_global_propagator_injects_the_traced_span() {
    exporter();
    let (ours, headers) = inject_current();
    let expected = format!("00-{}-{}-01", ours.trace_id(), ours.span_id());
    assert_eq!(headers.get("traceparent"), Some(&expected));
}

#[traced("interop.annotated")]
fn annotated_through_the_api() -> TraceId {
    let cx = Context::current();
    let span = cx.span();
    span.set_attribute(KeyValue::new("memory.kind", "episodic"));
    span.add_event("cache.miss", vec![KeyValue::new("cache.key", 42_i64)]);
    span.span_context().trace_id()
}

#[test]
fn attributes_and_events_set_through_the_current_context_reach_the_span() {
    exporter();
    let trace_id = annotated_through_the_api();
    let spans = exported(trace_id);
    let annotated = span(&spans, "interop.annotated");
    assert_eq!(
        attribute(annotated, "memory.kind"),
        Some(&Value::from("episodic"))
    );
    let event = annotated
        .events
        .iter()
        .find(|event| event.name == "cache.miss")
        .expect("the event");
    assert_eq!(event.attributes, [KeyValue::new("cache.key", 42_i64)]);
}

#[traced("interop.timed")]
fn sleeps(duration: Duration) -> TraceId {
    std::thread::sleep(duration);
    current_span_context().trace_id()
}

#[test]
fn exported_timestamps_are_wall_clock_times_and_durations_are_exact() {
    exporter();
    let before = SystemTime::now();
    let trace_id = sleeps(Duration::from_millis(30));
    let after = SystemTime::now();
    let spans = exported(trace_id);
    let timed = span(&spans, "interop.timed");
    // The counter-based clock agrees with the wall clock to well under a millisecond.
    let slack = Duration::from_millis(1);
    assert!(
        timed.start_time + slack >= before,
        "{timed:?} started before the call"
    );
    assert!(
        timed.end_time <= after + slack,
        "{timed:?} ended after the call"
    );
    let duration = timed.end_time.duration_since(timed.start_time).unwrap();
    assert!(duration >= Duration::from_millis(30), "{duration:?}");
    assert!(
        duration <= after.duration_since(before).unwrap() + slack,
        "{duration:?}"
    );
}

#[traced("interop.thread_work")]
fn thread_work(index: i64) -> (TraceId, SpanId) {
    let cx = current_span_context();
    Context::current()
        .span()
        .set_attribute(KeyValue::new("index", index));
    (cx.trace_id(), cx.span_id())
}

#[test]
fn spans_of_a_thread_that_exits_at_once_are_all_exported() {
    exporter();
    // Fewer spans than a thread's buffer holds, so none is handed over before the thread exits.
    let made = std::thread::spawn(|| (0..20).map(thread_work).collect::<Vec<_>>())
        .join()
        .unwrap();
    for (trace_id, span_id) in made {
        let spans = exported(trace_id);
        assert!(
            spans
                .iter()
                .any(|span| span.span_context.span_id() == span_id),
            "span {span_id} of an exited thread was not exported"
        );
    }
}

#[traced("interop.short_lived")]
fn short_lived_work() {}

#[test]
fn many_short_lived_threads_lose_nothing() {
    exporter();
    let threads: Vec<_> = (0..32)
        .map(|_| std::thread::spawn(|| (0..150).map(|_| short_lived_work()).count()))
        .collect();
    let made: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(made, 32 * 150);
    flush_tracing().expect("flush");
    let exported = exporter()
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|span| span.name == "interop.short_lived")
        .count();
    // Every span of every thread, including those still in a buffer when their thread exited.
    assert_eq!(exported, made);
    let stats = tracing_stats();
    let keeping = stats.exporter("keeping").expect("the exporter's counts");
    assert_eq!(keeping.spans_dropped, 0, "{keeping:?}");
}
