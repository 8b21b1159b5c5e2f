//! Starting, running and ending the spans `#[traced]` and `trace_span` create.

use crate::error_info::ErrorInfo;
use crate::init as state;
use crate::value::SpanValue;
use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, Key, KeyValue};
use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
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

    /// Starts the span and returns the context carrying it, or `None` when tracing has no tracer.
    pub(crate) fn start(self) -> Option<Context> {
        let tracer = state::tracer()?;
        let parent = self.parent.unwrap_or_else(Context::current);
        let mut builder = tracer.span_builder(self.name).with_kind(self.kind);
        if !self.attributes.is_empty() {
            builder = builder.with_attributes(self.attributes);
        }
        let span = tracer.build_with_context(builder, &parent);
        Some(parent.with_span(span))
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
    cx: Context,
}

impl ActiveSpan {
    pub(crate) fn start(pending: PendingSpan) -> Option<ActiveSpan> {
        pending.0?.start().map(|cx| ActiveSpan { cx })
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    pub(crate) fn end(self) {
        self.cx.span().end();
    }

    pub(crate) fn end_with_error(self, info: &ErrorInfo) {
        let span = self.cx.span();
        info.record_on(&span);
        span.end();
    }

    pub(crate) fn end_with_panic(self, payload: &(dyn std::any::Any + Send)) {
        self.end_with_error(&ErrorInfo::from_panic(payload));
    }

    pub(crate) fn end_cancelled(self) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("t4dm.cancelled", true));
        span.end();
    }
}

/// Runs a synchronous body inside its span.
#[inline]
pub fn run<R>(span: PendingSpan, body: impl FnOnce() -> R) -> R {
    match span.0 {
        None => body(),
        Some(start) => run_traced(start, body, |_, active| active.end()),
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
        Some(start) => run_traced(start, body, |result, active| match result {
            Ok(_) => active.end(),
            Err(error) => active.end_with_error(&describe(error)),
        }),
    }
}

fn run_traced<R>(
    start: SpanStart,
    body: impl FnOnce() -> R,
    finish: impl FnOnce(&R, ActiveSpan),
) -> R {
    let Some(active) = ActiveSpan::start(PendingSpan(Some(start))) else {
        return body();
    };
    let guard = active.context().clone().attach();
    let outcome = catch_unwind(AssertUnwindSafe(body));
    drop(guard);
    match outcome {
        Ok(value) => {
            finish(&value, active);
            value
        }
        Err(payload) => {
            active.end_with_panic(&*payload);
            resume_unwind(payload)
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
            let guard = active.context().clone().attach();
            (active, guard)
        }),
    }
}

impl Drop for EnteredSpan {
    fn drop(&mut self) {
        if let Some((active, guard)) = self.active.take() {
            drop(guard);
            if std::thread::panicking() {
                active.end_with_error(&ErrorInfo::new("panic", "panicked".to_owned()));
            } else {
                active.end();
            }
        }
    }
}

/// How a future's output is recorded when it completes.
pub trait RecordOutput<T> {
    /// Ends the span, recording what `output` says about the call.
    fn finish(self, output: &T, span: ActiveSpanHandle);
}

/// The started span handed to a [`RecordOutput`].
#[derive(Debug)]
pub struct ActiveSpanHandle(ActiveSpan);

/// Ends the span without looking at the output.
#[derive(Debug, Clone, Copy)]
pub struct IgnoreOutput;

impl<T> RecordOutput<T> for IgnoreOutput {
    fn finish(self, _output: &T, span: ActiveSpanHandle) {
        span.0.end();
    }
}

/// Records an `Err` output with the error describer the expansion chose.
#[derive(Debug)]
pub struct RecordErr<D>(D);

impl<T, E, D: FnOnce(&E) -> ErrorInfo> RecordOutput<Result<T, E>> for RecordErr<D> {
    fn finish(self, output: &Result<T, E>, span: ActiveSpanHandle) {
        match output {
            Ok(_) => span.0.end(),
            Err(error) => span.0.end_with_error(&(self.0)(error)),
        }
    }
}

/// Instruments a future: the span starts at its first poll, is current during every poll,
/// and ends when it completes, panics or is dropped unfinished.
pub fn run_async<F: Future>(span: PendingSpan, future: F) -> TracedFuture<F, IgnoreOutput> {
    TracedFuture::new(span, future, IgnoreOutput)
}

/// Like [`run_async`], recording an `Err` output as the span's error.
pub fn run_async_result<F, T, E, D>(
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

enum FutureSpan<R> {
    Disabled,
    NotStarted(SpanStart, R),
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
            if let FutureSpan::Running(active, _) =
                std::mem::replace(this.span, FutureSpan::Finished)
            {
                active.end_cancelled();
            }
        }
    }
}

impl<F, R> TracedFuture<F, R> {
    pub(crate) fn new(span: PendingSpan, inner: F, record: R) -> Self {
        TracedFuture {
            inner,
            span: match span.0 {
                None => FutureSpan::Disabled,
                Some(start) => FutureSpan::NotStarted(start, record),
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

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        if let FutureSpan::Disabled = this.span {
            return this.inner.poll(cx);
        }
        if matches!(this.span, FutureSpan::NotStarted(..)) {
            let FutureSpan::NotStarted(start, record) =
                std::mem::replace(this.span, FutureSpan::Finished)
            else {
                unreachable!("checked just above");
            };
            *this.span = match ActiveSpan::start(PendingSpan(Some(start))) {
                Some(active) => FutureSpan::Running(active, record),
                None => FutureSpan::Disabled,
            };
        }
        let FutureSpan::Running(active, _) = &*this.span else {
            return this.inner.poll(cx);
        };
        let guard = active.context().clone().attach();
        let outcome = catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        drop(guard);
        match outcome {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                if let FutureSpan::Running(active, record) =
                    std::mem::replace(this.span, FutureSpan::Finished)
                {
                    record.finish(&output, ActiveSpanHandle(active));
                }
                Poll::Ready(output)
            }
            Err(payload) => {
                if let FutureSpan::Running(active, _) =
                    std::mem::replace(this.span, FutureSpan::Finished)
                {
                    active.end_with_panic(&*payload);
                }
                resume_unwind(payload)
            }
        }
    }
}
