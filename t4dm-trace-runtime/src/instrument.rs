//! Starting, running and ending the spans `#[traced]` and `trace_span` create.

use crate::error_info::ErrorInfo;
use crate::init as state;
use crate::metrics::SpanMeter;
use crate::metrics::hook::end_span;
use crate::value::SpanValue;
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, SpanKind, SpanRef, TraceContextExt, Tracer as _,
};
use opentelemetry::{Context, Key, KeyValue};
use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Everything needed to start a span: built only when tracing is enabled.
#[derive(Debug)]
pub struct SpanStart {
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: Option<Context>,
}

impl SpanStart {
    /// A span named `name` of the given kind, with no attributes yet.
    #[inline]
    pub fn new(name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Self {
        SpanStart {
            name: name.into(),
            kind,
            attributes: Vec::new(),
            parent: None,
        }
    }

    /// A span named `name` with room for `capacity` attributes, allocated once.
    #[inline]
    pub fn with_capacity(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        capacity: usize,
    ) -> Self {
        SpanStart {
            name: name.into(),
            kind,
            attributes: Vec::with_capacity(capacity),
            parent: None,
        }
    }

    /// Adds an attribute with the value's own OpenTelemetry type; `None` values add nothing.
    #[inline]
    #[must_use]
    pub fn attr<V: SpanValue + ?Sized>(mut self, key: &'static str, value: &V) -> Self {
        self.push_attr(Key::from_static_str(key), value);
        self
    }

    /// Adds an attribute holding the value's `Display`.
    #[must_use]
    pub fn attr_display<V: Display + ?Sized>(mut self, key: &'static str, value: &V) -> Self {
        self.attributes
            .push(KeyValue::new(Key::from_static_str(key), value.to_string()));
        self
    }

    /// Adds an attribute holding the value's `Debug`.
    #[must_use]
    pub fn attr_debug<V: Debug + ?Sized>(mut self, key: &'static str, value: &V) -> Self {
        self.attributes.push(KeyValue::new(
            Key::from_static_str(key),
            format!("{value:?}"),
        ));
        self
    }

    /// Starts the span as a child of `parent` instead of the current context.
    #[must_use]
    pub fn parent<P: ParentContext + ?Sized>(mut self, parent: &P) -> Self {
        self.parent = Some(parent.parent_context());
        self
    }

    pub(crate) fn push_attr<V: SpanValue + ?Sized>(&mut self, key: Key, value: &V) {
        if let Some(value) = value.to_span_value() {
            self.attributes.push(KeyValue::new(key, value));
        }
    }

    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        self.kind = kind;
    }

    /// Starts the span and returns the context carrying it (and its meter when span metrics are
    /// on), or `None` when tracing has no tracer.
    pub(crate) fn start(self) -> Option<(Context, Option<SpanMeter>)> {
        let tracer = state::tracer()?;
        let meter = SpanMeter::start(&self.name, &self.kind);
        let mut builder = SpanBuilder::from_name(self.name).with_kind(self.kind);
        builder.start_time = meter.as_ref().map(SpanMeter::start_time);
        // Moved in even when empty: the SDK takes an empty vector as no attributes, and nothing
        // is left here to drop.
        builder.attributes = Some(self.attributes);
        let start_in = |parent: &Context| {
            let span = tracer.build_with_context(builder, parent);
            parent.with_span(span)
        };
        // The current context is read in place rather than cloned: one clone fewer per span.
        let cx = match &self.parent {
            Some(parent) => start_in(parent),
            None => Context::map_current(start_in),
        };
        Some((cx, meter))
    }
}

/// What `parent = ..` accepts: a [`Context`], or a [`SpanContext`] (taken as a remote parent).
pub trait ParentContext {
    /// The context to start the child span in.
    fn parent_context(&self) -> Context;
}

impl ParentContext for Context {
    fn parent_context(&self) -> Context {
        self.clone()
    }
}

impl ParentContext for SpanContext {
    fn parent_context(&self) -> Context {
        Context::current().with_remote_span_context(self.clone())
    }
}

/// So that `parent = cx` works when `cx` is a borrowed argument (`cx: &Context`).
impl<P: ParentContext + ?Sized> ParentContext for &P {
    fn parent_context(&self) -> Context {
        (**self).parent_context()
    }
}

impl<P: ParentContext> ParentContext for Option<P> {
    fn parent_context(&self) -> Context {
        self.as_ref()
            .map_or_else(Context::current, ParentContext::parent_context)
    }
}

/// A span about to start: `None` when tracing is disabled, so that nothing else is done.
#[derive(Debug)]
pub struct PendingSpan(pub(crate) Option<SpanStart>);

/// Builds the span's description only when tracing is enabled: when it is not, this is one
/// relaxed atomic load and a branch, and `start` is never called.
#[expect(
    clippy::inline_always,
    reason = "the disabled path must be a load and a branch in the user's function"
)]
#[inline(always)]
pub fn span(start: impl FnOnce() -> SpanStart) -> PendingSpan {
    if state::is_enabled() {
        PendingSpan(Some(start()))
    } else {
        PendingSpan(None)
    }
}

/// A started span, made current while its code runs.
#[derive(Debug)]
pub(crate) struct ActiveSpan {
    // `ManuallyDrop`: every way out of an `ActiveSpan` consumes it (ends the span, or attaches
    // its context), so it needs no drop glue of its own, and a disabled future's state drops
    // with one compare instead of a call.
    cx: std::mem::ManuallyDrop<Context>,
    meter: std::mem::ManuallyDrop<Option<SpanMeter>>,
}

impl ActiveSpan {
    pub(crate) fn start(pending: PendingSpan) -> Option<ActiveSpan> {
        pending
            .0?
            .start()
            .map(|(cx, meter)| ActiveSpan::new(cx, meter))
    }

    fn new(cx: Context, meter: Option<SpanMeter>) -> Self {
        ActiveSpan {
            cx: std::mem::ManuallyDrop::new(cx),
            meter: std::mem::ManuallyDrop::new(meter),
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// The span's context, for attaching, and its meter.
    fn into_parts(self) -> (Context, Option<SpanMeter>) {
        (
            std::mem::ManuallyDrop::into_inner(self.cx),
            std::mem::ManuallyDrop::into_inner(self.meter),
        )
    }

    fn span_id(&self) -> SpanId {
        self.cx.span().span_context().span_id()
    }

    pub(crate) fn end(self) {
        let (cx, meter) = self.into_parts();
        end_span(&cx.span(), meter, false);
    }

    pub(crate) fn end_with_error(self, info: &ErrorInfo) {
        let (cx, meter) = self.into_parts();
        let span = cx.span();
        info.record_on(&span);
        end_span(&span, meter, true);
    }

    /// Ends the span as failed by the panic unwinding through it.
    pub(crate) fn end_with_panic(self) {
        self.end_with_error(&ErrorInfo::panic());
    }

    pub(crate) fn end_cancelled(self) {
        let (cx, meter) = self.into_parts();
        let span = cx.span();
        span.set_attribute(KeyValue::new("t4dm.cancelled", true));
        end_span(&span, meter, false);
    }
}

/// Runs a synchronous body inside its span.
#[inline]
pub fn run<R>(span: PendingSpan, body: impl FnOnce() -> R) -> R {
    match span.0 {
        None => body(),
        Some(start) => run_traced(start, body, |_, _| false),
    }
}

/// Runs a synchronous body returning a `Result` inside its span; an `Err` is recorded.
///
/// # Errors
///
/// The body's own `Err`, unchanged.
#[inline]
pub fn run_result<T, E>(
    span: PendingSpan,
    body: impl FnOnce() -> Result<T, E>,
    describe: impl FnOnce(&E) -> ErrorInfo,
) -> Result<T, E> {
    match span.0 {
        None => body(),
        Some(start) => run_traced(start, body, |result, span| {
            if let Err(error) = result {
                describe(error).record_on(span);
                return true;
            }
            false
        }),
    }
}

fn run_traced<R>(
    start: SpanStart,
    body: impl FnOnce() -> R,
    finish: impl FnOnce(&R, &SpanRef<'_>) -> bool,
) -> R {
    let Some(active) = ActiveSpan::start(PendingSpan(Some(start))) else {
        return body();
    };
    let span_id = active.span_id();
    // The context is attached itself, not a clone (two atomic operations fewer per call); the
    // span is then ended through the current context, found by its id.
    let (cx, meter) = active.into_parts();
    let attached = cx.attach();
    let armed = EndCurrentOnUnwind::arm(span_id, meter);
    let value = body();
    let meter = armed.disarm();
    with_current_span(span_id, |span| {
        let is_error = finish(&value, span);
        end_span(span, meter, is_error);
    });
    drop(attached);
    value
}

/// Runs `f` on the current span if it is the one with `span_id`. It is, unless the body leaked
/// a context guard of its own (`mem::forget`); the span then ends, unrecorded, when its context
/// is dropped with ours.
fn with_current_span(span_id: SpanId, f: impl FnOnce(&SpanRef<'_>)) {
    Context::map_current(|cx| {
        let span = cx.span();
        if span.span_context().span_id() == span_id {
            f(&span);
        }
    });
}

/// Ends the current span (the one with its id) as failed by a panic when dropped armed, which
/// only unwinding does: the body returned normally if the guard was disarmed. Guards, not
/// `catch_unwind`, cost nothing on the normal path; the panic hook in `crate::panic` supplies
/// the message.
/// While armed, the span's meter (if any) also watches for the span being marked failed.
struct EndCurrentOnUnwind(Option<(SpanId, Option<SpanMeter>)>);

impl EndCurrentOnUnwind {
    fn arm(span_id: SpanId, meter: Option<SpanMeter>) -> Self {
        if let Some(meter) = &meter {
            meter.enter(span_id);
        }
        EndCurrentOnUnwind(Some((span_id, meter)))
    }

    /// Disarms the guard and hands back the span's meter.
    fn disarm(mut self) -> Option<SpanMeter> {
        self.0.take().and_then(|(span_id, mut meter)| {
            if let Some(meter) = &mut meter {
                meter.exit(span_id);
            }
            meter
        })
    }
}

impl Drop for EndCurrentOnUnwind {
    fn drop(&mut self) {
        if let Some((span_id, mut meter)) = self.0.take() {
            if let Some(meter) = &mut meter {
                meter.exit(span_id);
            }
            with_current_span(span_id, |span| {
                ErrorInfo::panic().record_on(span);
                end_span(span, meter, true);
            });
        }
    }
}

/// Keeps a span current until dropped; for bodies that never return (`-> !`).
#[derive(Debug)]
pub struct EnteredSpan {
    active: Option<(ActiveSpan, opentelemetry::ContextGuard)>,
}

/// Starts the span and makes it current until the returned guard is dropped. A guard dropped
/// while unwinding marks the span as failed by a panic.
#[must_use = "the span ends when the guard is dropped"]
pub fn enter(span: PendingSpan) -> EnteredSpan {
    EnteredSpan {
        active: ActiveSpan::start(span).map(|active| {
            if let Some(meter) = active.meter.as_ref() {
                meter.enter(active.span_id());
            }
            let guard = active.context().clone().attach();
            (active, guard)
        }),
    }
}

impl Drop for EnteredSpan {
    fn drop(&mut self) {
        if let Some((mut active, guard)) = self.active.take() {
            drop(guard);
            let span_id = active.span_id();
            if let Some(meter) = active.meter.as_mut() {
                meter.exit(span_id);
            }
            if std::thread::panicking() {
                active.end_with_panic();
            } else {
                active.end();
            }
        }
    }
}

/// How a future's output is recorded when it completes.
pub trait RecordOutput<T> {
    /// Records what `output` says about the call on the span, and says whether it failed; the
    /// caller ends the span.
    fn finish(self, output: &T, span: &SpanRef<'_>) -> bool;
}

/// Ends the span without looking at the output.
#[derive(Debug, Clone, Copy)]
pub struct IgnoreOutput;

impl<T> RecordOutput<T> for IgnoreOutput {
    fn finish(self, _output: &T, _span: &SpanRef<'_>) -> bool {
        false
    }
}

/// Records an `Err` output with the error describer the expansion chose.
#[derive(Debug)]
pub struct RecordErr<D>(D);

impl<T, E, D: FnOnce(&E) -> ErrorInfo> RecordOutput<Result<T, E>> for RecordErr<D> {
    fn finish(self, output: &Result<T, E>, span: &SpanRef<'_>) -> bool {
        if let Err(error) = output {
            (self.0)(error).record_on(span);
            return true;
        }
        false
    }
}

/// Instruments the body of an `async fn`, whose first poll is now: the span starts at once, is
/// current during every poll, and ends when the future completes, panics or is dropped
/// unfinished.
#[inline]
pub fn run_async<F: Future>(span: PendingSpan, future: F) -> TracedFuture<F, IgnoreOutput> {
    TracedFuture::started(span, future, IgnoreOutput)
}

/// Like [`run_async`], recording an `Err` output as the span's error.
#[inline]
pub fn run_async_result<F, T, E, D>(
    span: PendingSpan,
    future: F,
    describe: D,
) -> TracedFuture<F, RecordErr<D>>
where
    F: Future<Output = Result<T, E>>,
    D: FnOnce(&E) -> ErrorInfo,
{
    TracedFuture::started(span, future, RecordErr(describe))
}

/// Instruments a future returned by a function: the span starts at its first poll (with the
/// context current then as parent), not when the function returns it.
#[inline]
pub fn run_async_lazy<F: Future>(span: PendingSpan, future: F) -> TracedFuture<F, IgnoreOutput> {
    TracedFuture::new(span, future, IgnoreOutput)
}

/// Like [`run_async_lazy`], recording an `Err` output as the span's error.
#[inline]
pub fn run_async_lazy_result<F, T, E, D>(
    span: PendingSpan,
    future: F,
    describe: D,
) -> TracedFuture<F, RecordErr<D>>
where
    F: Future<Output = Result<T, E>>,
    D: FnOnce(&E) -> ErrorInfo,
{
    TracedFuture::new(span, future, RecordErr(describe))
}

/// The span of a [`TracedFuture`]. Kept small, so that a disabled `#[traced]` future is barely
/// larger than the body's own: a description waiting for the first poll is boxed (allocated only
/// when tracing is enabled, and only for returned futures and manual spans).
enum FutureSpan<R> {
    Disabled,
    NotStarted(Box<SpanStart>, R),
    Running(ActiveSpan, R),
    Finished,
}

pin_project_lite::pin_project! {
    /// A future running inside its span. See [`run_async`].
    pub struct TracedFuture<F, R> {
        #[pin]
        inner: F,
        span: FutureSpan<R>,
    }

    impl<F, R> PinnedDrop for TracedFuture<F, R> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Checked before moving the state out: the disabled path stays a compare.
            if matches!(this.span, FutureSpan::Running(..))
                && let FutureSpan::Running(active, _) =
                    std::mem::replace(this.span, FutureSpan::Finished)
            {
                active.end_cancelled();
            }
        }
    }
}

impl<F, R> TracedFuture<F, R> {
    /// The span starts at the first poll.
    #[inline]
    pub(crate) fn new(span: PendingSpan, inner: F, record: R) -> Self {
        TracedFuture {
            inner,
            span: match span.0 {
                None => FutureSpan::Disabled,
                Some(start) => FutureSpan::NotStarted(Box::new(start), record),
            },
        }
    }

    /// The span starts now.
    #[inline]
    pub(crate) fn started(span: PendingSpan, inner: F, record: R) -> Self {
        TracedFuture {
            inner,
            span: match span
                .0
                .map(|start| ActiveSpan::start(PendingSpan(Some(start))))
            {
                Some(Some(active)) => FutureSpan::Running(active, record),
                None | Some(None) => FutureSpan::Disabled,
            },
        }
    }
}

impl<F, R> Debug for TracedFuture<F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.span {
            FutureSpan::Disabled => "disabled",
            FutureSpan::NotStarted(..) => "not started",
            FutureSpan::Running(..) => "running",
            FutureSpan::Finished => "finished",
        };
        f.debug_struct("TracedFuture")
            .field("span", &state)
            .finish_non_exhaustive()
    }
}

impl<F: Future, R: RecordOutput<F::Output>> Future for TracedFuture<F, R> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let FutureSpan::Disabled = this.span {
            return this.inner.poll(cx);
        }
        poll_in_span(this.inner, this.span, cx)
    }
}

/// The enabled path of [`TracedFuture::poll`], kept out of line so that the disabled path
/// inlines into the caller as one compare and the inner poll.
#[inline(never)]
fn poll_in_span<F: Future, R: RecordOutput<F::Output>>(
    mut inner: Pin<&mut F>,
    span: &mut FutureSpan<R>,
    cx: &mut std::task::Context<'_>,
) -> Poll<F::Output> {
    if matches!(span, FutureSpan::NotStarted(..))
        && let FutureSpan::NotStarted(start, record) = std::mem::replace(span, FutureSpan::Finished)
    {
        *span = match ActiveSpan::start(PendingSpan(Some(*start))) {
            Some(active) => FutureSpan::Running(active, record),
            None => FutureSpan::Disabled,
        };
    }
    let FutureSpan::Running(active, record) = std::mem::replace(span, FutureSpan::Finished) else {
        // No span (tracing was turned off before the first poll), or already finished.
        return inner.poll(cx);
    };
    // As in `run_traced`, the context is attached itself rather than a clone: a future that
    // completes in one poll (most do) takes two atomic operations fewer; one that waits takes
    // its context back from the current one.
    let span_id = active.span_id();
    let (span_cx, meter) = active.into_parts();
    let attached = span_cx.attach();
    let armed = EndCurrentOnUnwind::arm(span_id, meter);
    let poll = inner.as_mut().poll(cx);
    let meter = armed.disarm();
    match poll {
        Poll::Pending => {
            let context = Context::map_current(|current| {
                (current.span().span_context().span_id() == span_id).then(|| current.clone())
            });
            if let Some(cx) = context {
                *span = FutureSpan::Running(ActiveSpan::new(cx, meter), record);
            }
            drop(attached);
            Poll::Pending
        }
        Poll::Ready(output) => {
            with_current_span(span_id, |current| {
                let is_error = record.finish(&output, current);
                end_span(current, meter, is_error);
            });
            drop(attached);
            Poll::Ready(output)
        }
    }
}
