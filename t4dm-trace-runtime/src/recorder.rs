//! Recording the spans `#[traced]` and `trace_span` start, without the SDK's tracer.
//!
//! An SDK span is built field by field into the SDK's `SpanData` at start, timed twice by the
//! wall clock, copied about eight times on its way to the exporter, and its attribute list is
//! allocated on the caller's thread and freed on the export thread (`benches/README.md` has the
//! measurements). Here a span's data stays in one place, the [`RecordingSpan`] its `Context`
//! holds, from start to end; its attributes sit in an inline buffer; it is timed by the CPU's
//! counter (`crate::clock`); and at its end the record is moved onto the export queue as it is,
//! to become the SDK's `SpanData` on the export thread. Exporters therefore see the same
//! `SpanData` as before.
//!
//! What stays the SDK's: the sampler (`Sampler::should_sample`, so every configured sampler
//! behaves as it did), the `Context` (a `RecordingSpan` is an `opentelemetry::trace::Span`, so
//! code reading `Context::current()` sees it, can add attributes and events to it, and spans
//! started through `opentelemetry::global::tracer()` become its children), and the tracer
//! provider, which still records other code's spans into the same pipelines.

use crate::attributes::{Attribute, Attributes};
use crate::clock::{Anchor, timeline};
use crate::instrument::SpanStart;
use crate::metrics::hook::MeteredSpan;
use crate::pipeline::SpanRouter;
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    Sampler, SamplingDecision, ShouldSample, SpanData, SpanEvents, SpanLimits, SpanLinks,
};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

/// The timestamp `end_with_timestamp` takes to mean "now, by the span clock". t4dm-trace ends
/// its spans with it, so that ending one reads the counter instead of the wall clock (the API's
/// `end()` reads the wall clock before the span sees the call). No real span ends at the epoch.
pub(crate) const END_NOW: SystemTime = SystemTime::UNIX_EPOCH;

/// What every span t4dm-trace starts shares; built once by `init_tracing`.
#[derive(Debug)]
pub(crate) struct Recorder {
    router: Arc<SpanRouter>,
    sampler: Sampler,
}

impl Recorder {
    pub(crate) fn new(router: Arc<SpanRouter>, sampler: Sampler) -> Self {
        // Calibrates the counter now, at start-up, rather than in the first span.
        let _ = timeline();
        Recorder { router, sampler }
    }

    /// Starts a span as a child of `parent` and returns the context carrying it. `None` when
    /// `parent` suppresses telemetry (an exporter's own network calls), as the SDK does.
    ///
    /// The span's name and attributes are taken out of `start`, not copied: a span record is
    /// moved as few times as possible.
    pub(crate) fn start(&'static self, start: &mut SpanStart, parent: &Context) -> Option<Context> {
        let started = timeline().now();
        if parent.is_telemetry_suppressed() {
            return None;
        }
        let parent_span = parent.span();
        let parent_context = parent_span.span_context();
        let has_parent = parent_context.is_valid();
        let trace_id = if has_parent {
            parent_context.trace_id()
        } else {
            new_trace_id()
        };
        let span_id = new_span_id();
        let sampling = self.sampler.should_sample(
            Some(parent),
            trace_id,
            &start.name,
            &start.kind,
            // Only the SDK's built-in samplers are configurable, and none reads attributes:
            // they stay in their recording form rather than being converted for it.
            &[],
            &[],
        );
        let sampled = match sampling.decision {
            SamplingDecision::Drop => {
                // Not recorded: the context still carries the span's ids, so that what it calls
                // continues the trace (and the sampling decision) downstream; with span metrics
                // on, in a span that keeps what they need.
                let span_context = SpanContext::new(
                    trace_id,
                    span_id,
                    TraceFlags::default(),
                    false,
                    sampling.trace_state,
                );
                if crate::metrics::is_on() {
                    let metered = MeteredSpan::new(
                        span_context,
                        std::mem::take(&mut start.name),
                        start.kind.clone(),
                        started,
                    );
                    return Some(parent.with_span(metered));
                }
                return Some(parent.with_remote_span_context(span_context));
            }
            SamplingDecision::RecordOnly => false,
            SamplingDecision::RecordAndSample => true,
        };
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            parent_context.trace_flags().with_sampled(sampled),
            false,
            sampling.trace_state,
        );
        start
            .attributes
            .extend(sampling.attributes.into_iter().map(Attribute::from));
        let limit = limits().max_attributes_per_span as usize;
        let dropped_attributes_count = saturating_u32(start.attributes.len().saturating_sub(limit));
        start.attributes.truncate(limit);
        let parent_span_is_remote = has_parent && parent_context.is_remote();
        let block = match crate::handoff::spare_block() {
            // Filled field by field: the attributes are copied once, from `start` to the block.
            Some(mut block) => {
                block.span_context = span_context;
                let record = &mut block.record;
                record.parent_span_id = parent_context.span_id();
                record.parent_span_is_remote = parent_span_is_remote;
                record.kind = start.kind.clone();
                record.name = std::mem::take(&mut start.name);
                record.start = started;
                record.end = SpanEnd::Open;
                record.attributes = std::mem::take(&mut start.attributes);
                record.dropped_attributes_count = dropped_attributes_count;
                record.extras = None;
                block
            }
            None => Box::new(EndedSpan {
                span_context,
                record: SpanRecord {
                    parent_span_id: parent_context.span_id(),
                    parent_span_is_remote,
                    kind: start.kind.clone(),
                    name: std::mem::take(&mut start.name),
                    start: started,
                    end: SpanEnd::Open,
                    attributes: std::mem::take(&mut start.attributes),
                    dropped_attributes_count,
                    extras: None,
                },
            }),
        };
        let mut span = RecordingSpan {
            recorder: self,
            ended: Some(block),
        };
        self.router.on_record_start(&mut span, parent);
        Some(parent.with_span(span))
    }

    /// Moves the spans waiting in every thread's buffer to the pipelines.
    pub(crate) fn collect_thread_buffers(&self) {
        self.router.collect_thread_buffers();
    }

    pub(crate) fn collection_requested(&self) -> bool {
        self.router.collection_requested()
    }

    /// Collects the threads' buffers if a thread asked for it (an export thread's job).
    pub(crate) fn collect_if_requested(&self) {
        self.router.collect_if_requested();
    }

    /// Moves the spans waiting in threads' buffers to the pipelines for the last time: spans
    /// ending from now on are counted as dropped by the closed pipelines.
    pub(crate) fn close(&self) {
        self.router.close();
    }
}

fn limits() -> SpanLimits {
    SpanLimits::default()
}

/// Keeps the first `limit` attributes of an event or a link; returns how many were dropped.
fn truncate(attributes: &mut Vec<KeyValue>, limit: u32) -> u32 {
    let limit = limit as usize;
    let dropped = saturating_u32(attributes.len().saturating_sub(limit));
    attributes.truncate(limit);
    dropped
}

fn saturating_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A random, valid (non-zero) trace id from the calling thread's generator: no lock, no system
/// call. With X-Ray export on, an X-Ray trace id (its first 32 bits are the epoch seconds).
fn new_trace_id() -> TraceId {
    if crate::xray_ids::xray_trace_ids() {
        return crate::xray_ids::xray_trace_id(fastrand::u128(..));
    }
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return TraceId::from(id);
        }
    }
}

/// A random, valid (non-zero) span id from the calling thread's generator.
fn new_span_id() -> SpanId {
    SpanId::from(fastrand::u64(1..))
}

/// A span's recorded data, from its start to its end.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    parent_span_id: SpanId,
    parent_span_is_remote: bool,
    kind: SpanKind,
    name: Cow<'static, str>,
    /// A raw reading of the span clock.
    start: u64,
    end: SpanEnd,
    attributes: Attributes,
    dropped_attributes_count: u32,
    /// Events, links and a status: boxed, because most spans have none and a span record is
    /// moved a few times on its way to the exporter.
    extras: Option<Box<SpanExtras>>,
}

#[derive(Debug, Clone, Default)]
struct SpanExtras {
    events: SpanEvents,
    links: SpanLinks,
    status: Status,
}

impl SpanRecord {
    fn extras(&mut self) -> &mut SpanExtras {
        self.extras.get_or_insert_default()
    }
}

#[derive(Debug, Clone, Copy)]
enum SpanEnd {
    Open,
    /// A raw reading of the span clock.
    Clock(u64),
    /// A time given to `end_with_timestamp`.
    Wall(SystemTime),
}

/// A finished span on its way to the exporters: converted to `SpanData` on the export thread.
#[derive(Debug, Clone)]
pub(crate) struct EndedSpan {
    span_context: SpanContext,
    record: SpanRecord,
}

impl EndedSpan {
    /// Records the span's metrics: its duration by the span clock, failed if its status is
    /// Error.
    fn meter(&self) {
        let record = &self.record;
        let timeline = timeline();
        let (duration, end) = match record.end {
            SpanEnd::Clock(end) => (timeline.elapsed(record.start, end), end),
            // Ended at a given time: measured against the wall clock instead.
            SpanEnd::Wall(end) => {
                let started = timeline.wall_time(timeline.anchor(), record.start);
                (
                    end.duration_since(started).unwrap_or_default(),
                    timeline.now(),
                )
            }
            SpanEnd::Open => (std::time::Duration::ZERO, record.start),
        };
        let failed = record
            .extras
            .as_ref()
            .is_some_and(|extras| matches!(extras.status, Status::Error { .. }));
        crate::metrics::hook::record(
            &record.name,
            &record.kind,
            failed,
            u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
            &self.span_context,
            end,
        );
    }

    pub(crate) fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    /// The span as exporters take it, with wall-clock timestamps.
    ///
    /// Read, not taken apart: the record's block goes back to the thread that recorded it, and
    /// a block that only this thread has read is cheaper for that thread to write again than one
    /// this thread has written (its cache lines need not travel back). What the record owns is
    /// dropped by its own thread when the block is reused.
    pub(crate) fn span_data(&self, anchor: Anchor) -> SpanData {
        let record = &self.record;
        let timeline = timeline();
        let start_time = timeline.wall_time(anchor, record.start);
        let end_time = match record.end {
            SpanEnd::Open => start_time,
            SpanEnd::Clock(end) => start_time + timeline.elapsed(record.start, end),
            SpanEnd::Wall(end) => end,
        };
        let SpanExtras {
            events,
            links,
            status,
        } = record.extras.as_deref().cloned().unwrap_or_default();
        SpanData {
            span_context: self.span_context.clone(),
            parent_span_id: record.parent_span_id,
            parent_span_is_remote: record.parent_span_is_remote,
            span_kind: record.kind.clone(),
            name: record.name.clone(),
            start_time,
            end_time,
            attributes: record
                .attributes
                .iter()
                .map(Attribute::to_key_value)
                .collect(),
            dropped_attributes_count: record.dropped_attributes_count,
            events,
            links,
            status,
            instrumentation_scope: crate::init::scope().clone(),
        }
    }
}

/// The span a `Context` holds while it records: implements OpenTelemetry's `Span`, so that
/// `Context::current().span()` reaches it.
#[derive(Debug)]
pub(crate) struct RecordingSpan {
    recorder: &'static Recorder,
    /// The span as it will be exported; taken (`None`) when the span ends.
    ended: Option<Box<EndedSpan>>,
}

/// What an ended span answers to `span_context()`: nothing asks once it has ended (the
/// `Context` keeps its own copy from the start), but the API needs an answer.
static ENDED_SPAN_CONTEXT: SpanContext = SpanContext::NONE;

impl RecordingSpan {
    fn record(&mut self) -> Option<&mut SpanRecord> {
        self.ended.as_deref_mut().map(|ended| &mut ended.record)
    }

    #[inline]
    fn end_at(&mut self, end: SpanEnd) {
        if let Some(mut ended) = self.ended.take() {
            ended.record.end = end;
            if crate::metrics::is_on() {
                ended.meter();
            }
            self.recorder.router.on_record_end(ended);
        }
    }
}

impl opentelemetry::trace::Span for RecordingSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let limits = limits();
        if let Some(record) = self.record() {
            let events = &mut record.extras().events;
            if events.len() < limits.max_events_per_span as usize {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_event);
                events
                    .events
                    .push(Event::new(name, timestamp, attributes, dropped));
            } else {
                events.dropped_count += 1;
            }
        }
    }

    fn span_context(&self) -> &SpanContext {
        self.ended
            .as_ref()
            .map_or(&ENDED_SPAN_CONTEXT, |ended| &ended.span_context)
    }

    fn is_recording(&self) -> bool {
        self.ended.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(record) = self.record() {
            if record.attributes.len() < limits().max_attributes_per_span as usize {
                record.attributes.push(Attribute::from(attribute));
            } else {
                record.dropped_attributes_count += 1;
            }
        }
    }

    fn set_status(&mut self, status: Status) {
        // Unset < Error < Ok: a status only moves up, as the SDK's does.
        if let Some(record) = self.record()
            && status > Status::Unset
        {
            let current = &mut record.extras().status;
            if status > *current {
                *current = status;
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(record) = self.record() {
            record.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        let limits = limits();
        if let Some(record) = self.record() {
            let links = &mut record.extras().links;
            if links.len() < limits.max_links_per_span as usize {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_link);
                links
                    .links
                    .push(Link::new(span_context, attributes, dropped));
            } else {
                links.dropped_count += 1;
            }
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        let end = if timestamp == END_NOW {
            SpanEnd::Clock(timeline().now())
        } else {
            SpanEnd::Wall(timestamp)
        };
        self.end_at(end);
    }
}

impl Drop for RecordingSpan {
    /// A span whose last context is dropped before it was ended ends now, as the SDK's do.
    fn drop(&mut self) {
        if self.ended.is_some() {
            self.end_at(SpanEnd::Clock(timeline().now()));
        }
    }
}
