//! Where span metrics meet the spans t4dm-trace records: the only part of the metrics that knows
//! how spans are represented.
//!
//! A recorded span is metered as it ends (`RecordingSpan::end_at`), from the same clock readings
//! its export carries, so the histogram and the exported spans agree exactly. A span the sampler
//! drops is not recorded; while metrics are on, its context holds a [`MeteredSpan`] instead of a
//! bare span context, which keeps only what the metrics need.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanKind, Status};
use std::borrow::Cow;
use std::time::SystemTime;

/// Records the metrics of a span that ended: `end` is the span clock's reading at its end, read
/// for an exemplar's time only when the span can be one.
#[inline]
#[expect(
    clippy::ptr_arg,
    reason = "a borrowed (static) name is looked up by its address, an owned one by its text"
)]
pub(crate) fn record(
    name: &Cow<'static, str>,
    kind: &SpanKind,
    is_error: bool,
    duration_nanos: u64,
    span_context: &SpanContext,
    end: u64,
) {
    let sampled = span_context.is_sampled();
    let ids = (span_context.is_valid() && super::takes_exemplar(sampled)).then(|| super::SpanIds {
        trace_id: span_context.trace_id(),
        span_id: span_context.span_id(),
        sampled,
        end_unix_nanos: crate::clock::unix_nanos(end),
    });
    let name = match name {
        Cow::Borrowed(name) => super::SpanName::Static(name),
        Cow::Owned(name) => super::SpanName::Dynamic(name),
    };
    super::record_span_end(name, kind, is_error, duration_nanos, ids);
}

/// A span the sampler dropped, kept in its context (not recording, not exported) only so that
/// its end, and whether its code marked it failed, reach the metrics.
#[derive(Debug)]
pub(crate) struct MeteredSpan {
    span_context: SpanContext,
    name: Cow<'static, str>,
    kind: SpanKind,
    /// The span clock's reading at its start.
    start: u64,
    failed: bool,
    ended: bool,
}

impl MeteredSpan {
    pub(crate) fn new(
        span_context: SpanContext,
        name: Cow<'static, str>,
        kind: SpanKind,
        start: u64,
    ) -> Self {
        MeteredSpan {
            span_context,
            name,
            kind,
            start,
            failed: false,
            ended: false,
        }
    }

    fn end_at(&mut self, end: u64) {
        if !self.ended {
            self.ended = true;
            let duration = crate::clock::timeline().elapsed(self.start, end);
            record(
                &self.name,
                &self.kind,
                self.failed,
                u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
                &self.span_context,
                end,
            );
        }
    }
}

impl opentelemetry::trace::Span for MeteredSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        _name: T,
        _timestamp: SystemTime,
        _attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        false
    }

    fn set_attribute(&mut self, _attribute: KeyValue) {}

    /// Not recorded, but an Error status still counts the call as failed.
    fn set_status(&mut self, status: Status) {
        if matches!(status, Status::Error { .. }) {
            self.failed = true;
        }
    }

    fn update_name<T>(&mut self, _new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
    }

    fn add_link(&mut self, _span_context: SpanContext, _attributes: Vec<KeyValue>) {}

    fn end_with_timestamp(&mut self, _timestamp: SystemTime) {
        self.end_at(crate::clock::timeline().now());
    }
}

impl Drop for MeteredSpan {
    fn drop(&mut self) {
        self.end_at(crate::clock::timeline().now());
    }
}
