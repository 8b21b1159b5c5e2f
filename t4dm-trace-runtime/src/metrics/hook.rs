//! The adapter between today's spans (SDK spans inside an OpenTelemetry `Context`) and
//! [`record_span_end`](super::record_span_end): the only part of the metrics that knows how
//! spans are represented. A span that starts while metrics are on carries a [`SpanMeter`]; its
//! start and end times are read once and given to the SDK span too, so the exported span's
//! duration is exactly the one the histogram recorded.

use opentelemetry::trace::{SpanKind, SpanRef};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a span's metrics need at its end: its name, kind and start time.
#[derive(Debug)]
pub(crate) struct SpanMeter {
    name: Cow<'static, str>,
    kind: SpanKind,
    start: SystemTime,
}

impl SpanMeter {
    /// A meter for a span starting now, when metrics are on. A static name is borrowed; a
    /// dynamic one is copied, once.
    #[inline]
    #[expect(
        clippy::ptr_arg,
        reason = "cloning the `Cow` keeps a static name borrowed; a `&str` would need a copy"
    )]
    pub(crate) fn start(name: &Cow<'static, str>, kind: &SpanKind) -> Option<SpanMeter> {
        if !super::is_on() {
            return None;
        }
        Some(SpanMeter {
            name: name.clone(),
            kind: kind.clone(),
            start: SystemTime::now(),
        })
    }

    /// When the span started: the SDK span is given the same time.
    pub(crate) fn start_time(&self) -> SystemTime {
        self.start
    }

    /// Ends `span` now and records it.
    #[inline]
    pub(crate) fn end(self, span: &SpanRef<'_>, is_error: bool) {
        let end = SystemTime::now();
        span.end_with_timestamp(end);
        let context = span.span_context();
        // The exemplar's timestamp only when the span can be one: the conversion is not free.
        let ids = (context.is_valid() && super::takes_exemplar(context.is_sampled())).then(|| {
            super::SpanIds {
                trace_id: context.trace_id(),
                span_id: context.span_id(),
                sampled: context.is_sampled(),
                end_unix_nanos: end
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| saturating_nanos(since.as_nanos())),
            }
        });
        let duration = end
            .duration_since(self.start)
            .map_or(0, |duration| saturating_nanos(duration.as_nanos()));
        let name = match &self.name {
            Cow::Borrowed(name) => super::SpanName::Static(name),
            Cow::Owned(name) => super::SpanName::Dynamic(name),
        };
        super::record_span_end(name, &self.kind, is_error, duration, ids);
    }
}

fn saturating_nanos(nanos: u128) -> u64 {
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Ends `span`, through its meter when it has one.
#[inline]
pub(crate) fn end_span(span: &SpanRef<'_>, meter: Option<SpanMeter>, is_error: bool) {
    match meter {
        Some(meter) => meter.end(span, is_error),
        None => span.end(),
    }
}
