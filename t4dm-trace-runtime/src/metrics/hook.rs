//! The adapter between today's spans (SDK spans inside an OpenTelemetry `Context`) and
//! [`record_span_end`](super::record_span_end): the only part of the metrics that knows how
//! spans are represented. A span that starts while metrics are on carries a [`SpanMeter`]; its
//! start and end times are read once and given to the SDK span too, so the exported span's
//! duration is exactly the one the histogram recorded.

use opentelemetry::trace::{SpanId, SpanKind, SpanRef};
use std::borrow::Cow;
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a span's metrics need at its end: its name, kind and start time, and whether code in it
/// marked it failed (`set_span_error`, `record_error`).
#[derive(Debug)]
pub(crate) struct SpanMeter {
    name: Cow<'static, str>,
    kind: SpanKind,
    start: SystemTime,
    failed: bool,
}

/// The deepest nesting of metered spans whose failure marks are kept.
const DEPTH: usize = 32;

/// The metered spans whose code runs on this thread now, innermost last, each with whether it
/// was marked failed: how an error set on the current span (sampled or not, which the SDK's
/// non-recording spans would forget) reaches its metrics. Fixed-size cells, so that the
/// thread-local needs neither a destructor nor a borrow flag.
struct Running {
    depth: Cell<usize>,
    ids: [Cell<u64>; DEPTH],
    failed: [Cell<bool>; DEPTH],
}

thread_local! {
    static RUNNING: Running = const {
        Running {
            depth: Cell::new(0),
            ids: [const { Cell::new(0) }; DEPTH],
            failed: [const { Cell::new(false) }; DEPTH],
        }
    };
}

fn id_bits(span_id: SpanId) -> u64 {
    u64::from_be_bytes(span_id.to_bytes())
}

impl Running {
    /// Where the frame of `id` is, searching from the innermost.
    fn find(&self, id: u64) -> Option<usize> {
        let kept = self.depth.get().min(DEPTH);
        (0..kept).rev().find(|&at| self.ids[at].get() == id)
    }
}

/// Marks the running span `span_id` failed, for its metrics: called wherever the current
/// span's status is set to Error.
pub(crate) fn mark_failed(span_id: SpanId) {
    if !super::is_on() {
        return;
    }
    let _ = RUNNING.try_with(|running| {
        if let Some(at) = running.find(id_bits(span_id)) {
            running.failed[at].set(true);
        }
    });
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
            failed: false,
        })
    }

    /// When the span started: the SDK span is given the same time.
    pub(crate) fn start_time(&self) -> SystemTime {
        self.start
    }

    /// The span's code starts running on this thread (a call, or one poll).
    #[inline]
    #[expect(
        clippy::unused_self,
        reason = "only a metered span is watched: the meter stands for metrics being on"
    )]
    pub(crate) fn enter(&self, span_id: SpanId) {
        let _ = RUNNING.try_with(|running| {
            let depth = running.depth.get();
            if depth < DEPTH {
                running.ids[depth].set(id_bits(span_id));
                running.failed[depth].set(false);
            }
            running.depth.set(depth + 1);
        });
    }

    /// The span's code stops running on this thread; keeps whether it was marked failed.
    #[inline]
    pub(crate) fn exit(&mut self, span_id: SpanId) {
        let _ = RUNNING.try_with(|running| {
            let depth = running.depth.get();
            let Some(top) = depth.checked_sub(1) else {
                return;
            };
            let id = id_bits(span_id);
            if top < DEPTH && running.ids[top].get() == id {
                self.failed |= running.failed[top].get();
            } else if let Some(at) = running.find(id) {
                // Left out of order (guards dropped in another order): close the gap.
                self.failed |= running.failed[at].get();
                for below in at..depth.min(DEPTH) - 1 {
                    running.ids[below].set(running.ids[below + 1].get());
                    running.failed[below].set(running.failed[below + 1].get());
                }
            }
            // Deeper than `DEPTH`, a frame was never kept: only the depth moves.
            running.depth.set(top);
        });
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
        super::record_span_end(name, &self.kind, is_error || self.failed, duration, ids);
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
