//! Test support (feature `testing`): the spans that a closure or a future finished.
//!
//! The first capture in a process installs a test provider that records every span, unless
//! `init_tracing` ran before (then its provider also feeds the capture). Captures are safe when
//! tests run in parallel: each one sees only the spans started while its closure or future was
//! running on its task, however many other tests are tracing at the same time.

use crate::pipeline::SpanRouter;
use opentelemetry::trace::{SpanContext, SpanId, TraceId};
use opentelemetry::{Context, context::FutureExt as _};
use opentelemetry_sdk::trace::SpanData;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Runs `body` and returns its result with the spans that ended inside it, in the order they
/// ended.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{testing::capture, traced};
///
/// #[traced("episodic.recall")]
/// fn recall() -> usize {
///     3
/// }
///
/// let (found, spans) = capture(recall);
/// assert_eq!(found, 3);
/// assert_eq!(spans[0].name, "episodic.recall");
/// ```
pub fn capture<R>(body: impl FnOnce() -> R) -> (R, Vec<SpanData>) {
    let sink = start_capture();
    let result = {
        let _running = CaptureRunning::start();
        let _attached = Context::current_with_value(CaptureMarker(Arc::clone(&sink))).attach();
        body()
    };
    (result, sink.take())
}

/// Awaits `future` and returns its output with the spans that ended inside it, in the order
/// they ended.
pub async fn capture_async<F: Future>(future: F) -> (F::Output, Vec<SpanData>) {
    let sink = start_capture();
    let cx = Context::current_with_value(CaptureMarker(Arc::clone(&sink)));
    let output = {
        let _running = CaptureRunning::start();
        future.with_context(cx).await
    };
    (output, sink.take())
}

fn start_capture() -> Arc<Sink> {
    crate::init::install_capture_runtime();
    Arc::new(Sink::default())
}

#[derive(Debug, Default)]
struct Sink {
    spans: Mutex<Vec<SpanData>>,
}

impl Sink {
    fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How many captures are running in the process: while none is, the processor does nothing
/// but read this (spans of a service built with the `testing` feature cost no more).
static RUNNING_CAPTURES: AtomicUsize = AtomicUsize::new(0);

/// Counts a capture as running until dropped.
struct CaptureRunning;

impl CaptureRunning {
    fn start() -> Self {
        RUNNING_CAPTURES.fetch_add(1, Ordering::SeqCst);
        CaptureRunning
    }
}

impl Drop for CaptureRunning {
    fn drop(&mut self) {
        RUNNING_CAPTURES.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks the context of a capture, so that spans started under it are collected for it.
#[derive(Debug, Clone)]
struct CaptureMarker(Arc<Sink>);

/// Collects spans for the capture whose context they started in.
#[derive(Debug, Default)]
pub(crate) struct CaptureProcessor {
    started: Mutex<HashMap<(TraceId, SpanId), Arc<Sink>>>,
    /// How many spans `started` holds, read without its lock.
    tracked: AtomicUsize,
}

impl CaptureProcessor {
    /// Whether any span is waiting to be captured: the one load a span's end pays otherwise.
    pub(crate) fn is_tracking(&self) -> bool {
        self.tracked.load(Ordering::SeqCst) != 0
    }

    /// Notes the capture a starting span belongs to: the one whose context it starts in.
    pub(crate) fn track_start(&self, span_context: &SpanContext, cx: &Context) {
        if RUNNING_CAPTURES.load(Ordering::SeqCst) == 0 {
            return;
        }
        // An explicit parent (`parent = ..`) is not the capture's context; the current one is.
        let sink = cx
            .get::<CaptureMarker>()
            .map(|marker| Arc::clone(&marker.0))
            .or_else(|| {
                Context::map_current(|current| {
                    current
                        .get::<CaptureMarker>()
                        .map(|marker| Arc::clone(&marker.0))
                })
            });
        if let Some(sink) = sink {
            let previous = self
                .started
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((span_context.trace_id(), span_context.span_id()), sink);
            if previous.is_none() {
                self.tracked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Keeps a copy of an ending span for the capture it started under, if any.
    pub(crate) fn observe_end(&self, span: &SpanData) {
        if !self.is_tracking() {
            return;
        }
        let key = (span.span_context.trace_id(), span.span_context.span_id());
        let sink = self
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        if let Some(sink) = sink {
            self.tracked.fetch_sub(1, Ordering::SeqCst);
            sink.spans
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(span.clone());
        }
    }
}

/// A router that only feeds captures, for a process where `init_tracing` did not run (or
/// disabled tracing).
pub(crate) fn capture_router() -> Arc<SpanRouter> {
    Arc::new(SpanRouter::new(None, Vec::new()))
}
