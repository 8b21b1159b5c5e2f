//! What every benchmark of the suite shares: the measured functions, one per way of tracing the
//! same empty call, and the exporters and reporters that count and discard what they receive.
//!
//! Each function wraps one call of [`work`], an empty `#[inline(never)]` function, so that the
//! difference between two of them is the cost of the tracing around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use t4dm_trace_runtime::opentelemetry::trace::{Tracer, TracerProvider as _};
use t4dm_trace_runtime::opentelemetry_sdk::error::OTelSdkResult;
use t4dm_trace_runtime::opentelemetry_sdk::trace::{SdkTracer, SpanData, SpanExporter};
use t4dm_trace_runtime::traced;

/// The work being traced: nothing, behind a call the optimiser cannot remove.
#[inline(never)]
pub fn work() {
    std::hint::black_box(());
}

/// The floor: the call with no tracing at all.
#[inline(never)]
pub fn plain() {
    work();
}

/// `#[traced]` with no attributes.
#[traced("bench.sync")]
#[inline(never)]
pub fn traced_sync() {
    work();
}

/// `#[traced]` with two attributes, an integer and a string.
#[traced("bench.sync_attrs", attrs(id = id, collection = collection))]
#[inline(never)]
pub fn traced_sync_attrs(id: i64, collection: &str) {
    work();
}

/// `#[traced]` on an async fn.
#[traced("bench.async")]
#[inline(never)]
pub async fn traced_async() {
    work();
}

/// `#[traced]` on an async fn with two attributes.
#[traced("bench.async_attrs", attrs(id = id, collection = collection))]
#[inline(never)]
pub async fn traced_async_attrs(id: i64, collection: &str) {
    work();
}

/// The un-instrumented async fn.
#[inline(never)]
#[expect(
    clippy::unused_async,
    reason = "the floor of the async cases: an async fn that never waits, like the traced ones"
)]
pub async fn plain_async() {
    work();
}

/// The same span written by hand against the SDK: `tracer.in_span`.
#[inline(never)]
pub fn sdk_in_span(tracer: &SdkTracer) {
    tracer.in_span("bench.sdk", |_| work());
}

/// The same with two attributes.
#[inline(never)]
pub fn sdk_in_span_attrs(tracer: &SdkTracer, id: i64, collection: &str) {
    use t4dm_trace_runtime::KeyValue;
    use t4dm_trace_runtime::opentelemetry::trace::{SpanBuilder, TraceContextExt as _};
    let builder = SpanBuilder::from_name("bench.sdk_attrs").with_attributes([
        KeyValue::new("id", id),
        KeyValue::new("collection", collection.to_owned()),
    ]);
    let span = tracer.build(builder);
    let cx = t4dm_trace_runtime::Context::current_with_span(span);
    let _attached = cx.attach();
    work();
}

/// A span that records nothing, for [`context_floor`].
#[derive(Debug)]
pub struct FloorSpan(t4dm_trace_runtime::opentelemetry::trace::SpanContext);

impl t4dm_trace_runtime::opentelemetry::trace::Span for FloorSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        _name: T,
        _timestamp: std::time::SystemTime,
        _attributes: Vec<t4dm_trace_runtime::KeyValue>,
    ) where
        T: Into<std::borrow::Cow<'static, str>>,
    {
    }

    fn span_context(&self) -> &t4dm_trace_runtime::opentelemetry::trace::SpanContext {
        &self.0
    }

    fn is_recording(&self) -> bool {
        true
    }

    fn set_attribute(&mut self, _attribute: t4dm_trace_runtime::KeyValue) {}

    fn set_status(&mut self, _status: t4dm_trace_runtime::opentelemetry::trace::Status) {}

    fn update_name<T>(&mut self, _new_name: T)
    where
        T: Into<std::borrow::Cow<'static, str>>,
    {
    }

    fn add_link(
        &mut self,
        _span_context: t4dm_trace_runtime::opentelemetry::trace::SpanContext,
        _attributes: Vec<t4dm_trace_runtime::KeyValue>,
    ) {
    }

    fn end_with_timestamp(&mut self, _timestamp: std::time::SystemTime) {}
}

/// What interoperating with the OpenTelemetry `Context` costs by itself: a span that records
/// nothing is put in a context, made current, ended through the current context and detached.
/// No ids, no clock, no export: the floor under any span that `Context::current()` can see.
#[inline(never)]
pub fn context_floor() {
    use t4dm_trace_runtime::opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    let span_context = SpanContext::new(
        TraceId::from(1_u128),
        SpanId::from(1_u64),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let cx = t4dm_trace_runtime::Context::current_with_span(FloorSpan(span_context));
    let attached = cx.attach();
    work();
    t4dm_trace_runtime::Context::map_current(|cx| {
        cx.span()
            .end_with_timestamp(std::time::SystemTime::UNIX_EPOCH);
    });
    drop(attached);
}

/// The async span written by hand: a span made current for each poll of the future.
pub async fn sdk_async(tracer: &SdkTracer) {
    use t4dm_trace_runtime::opentelemetry::context::FutureExt as _;
    use t4dm_trace_runtime::opentelemetry::trace::TraceContextExt as _;
    let span = tracer.start("bench.sdk_async");
    let cx = t4dm_trace_runtime::Context::current_with_span(span);
    plain_async().with_context(cx).await;
}

/// `#[tracing::instrument]`, for `tracing` with or without `tracing-opentelemetry`.
#[tracing::instrument(name = "bench.tracing", skip_all)]
#[inline(never)]
pub fn tracing_instrument() {
    work();
}

/// `#[tracing::instrument]` on an async fn.
#[tracing::instrument(name = "bench.tracing_async", skip_all)]
#[inline(never)]
pub async fn tracing_instrument_async() {
    work();
}

/// `#[tracing::instrument]` with two fields.
#[tracing::instrument(name = "bench.tracing_attrs", skip_all, fields(id = id, collection = collection))]
#[inline(never)]
pub fn tracing_instrument_attrs(id: i64, collection: &str) {
    work();
}

/// `#[fastrace::trace]`.
#[fastrace::trace(name = "bench.fastrace")]
#[inline(never)]
pub fn fastrace_trace() {
    work();
}

/// `#[fastrace::trace]` on an async fn.
#[fastrace::trace(name = "bench.fastrace_async")]
#[inline(never)]
pub async fn fastrace_trace_async() {
    work();
}

/// Counts the spans it is given and discards them.
#[derive(Debug, Clone, Default)]
pub struct CountingExporter {
    count: Arc<AtomicU64>,
}

impl CountingExporter {
    /// Spans exported so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

impl SpanExporter for CountingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.count.fetch_add(batch.len() as u64, Relaxed);
        drop(batch);
        std::future::ready(Ok(()))
    }
}

/// Counts the spans fastrace reports and discards them.
#[derive(Debug, Clone, Default)]
pub struct CountingReporter {
    count: Arc<AtomicU64>,
}

impl CountingReporter {
    /// Spans reported so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.count.fetch_add(spans.len() as u64, Relaxed);
    }
}

/// A tracer from the runtime's installed provider, feeding the same pipelines as `#[traced]`.
///
/// # Panics
///
/// If tracing was not initialised.
#[must_use]
pub fn runtime_tracer(name: &'static str) -> SdkTracer {
    t4dm_trace_runtime::tracer_provider()
        .expect("tracing is initialised")
        .tracer(name)
}

/// The process's peak resident memory so far, in bytes (Linux `VmHWM`), if known.
#[must_use]
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak resident memory to the current one (Linux 4.0 and later), so that the next
/// [`peak_memory`] measures what comes after.
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Prints each exporter's counts, so that a pipeline which drops cannot look fast.
pub fn print_pipeline_counts(label: &str) {
    let _ = t4dm_trace_runtime::flush_tracing();
    for stats in t4dm_trace_runtime::tracing_stats().exporters {
        eprintln!(
            "{label}: exporter {}: created {} exported {} dropped {} failed {} queued {}",
            stats.exporter,
            stats.spans_created,
            stats.spans_exported,
            stats.spans_dropped,
            stats.spans_failed,
            stats.spans_queued
        );
    }
}
