//! The batch pipeline: a span processor that hands finished spans to an export thread.
//!
//! Why not the SDK's `BatchSpanProcessor`: its fixed 2,048-slot queue drops a third of the spans
//! of two threads in a tight loop, a queue large enough to keep them preallocates every slot, it
//! counts drops only at shutdown, and it runs `block_on(export)` on a thread without a runtime,
//! which deadlocks or panics with tonic and async clients. Here:
//!
//! - the caller's thread pushes onto a lock-free channel that grows in small blocks, checks a
//!   bound, and wakes the export thread once per full batch (never per span);
//! - the export thread owns the exporter and a small current-thread tokio runtime of its own,
//!   so export never depends on, blocks or deadlocks the application's runtime, or its absence;
//! - every span is counted: exported, failed (its batch's export failed) or dropped (queue
//!   full, or still queued when shutdown gave up).

use crate::config::BatchSettings;
use crate::error::InitError;
use crate::handoff::Batch;
use crate::recorder::{EndedSpan, Recorder};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::{Arc, mpsc};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The counts of one pipeline. `created == exported + failed + dropped + queued`.
#[derive(Debug, Default)]
pub(crate) struct PipelineCounters {
    /// Spans placed on the queue.
    accepted: AtomicU64,
    /// Spans the export thread has taken off the queue.
    taken: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Spans of successful exports that the exporter reported it could not deliver.
    undelivered: AtomicU64,
    export_failures: AtomicU64,
    /// Set when shutdown gave up waiting: what is still queued counts as dropped.
    abandoned: AtomicBool,
}

/// A snapshot of one pipeline's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PipelineSnapshot {
    pub(crate) created: u64,
    pub(crate) exported: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    pub(crate) queued: u64,
    pub(crate) export_failures: u64,
}

impl PipelineCounters {
    pub(crate) fn snapshot(&self) -> PipelineSnapshot {
        let exported = self.exported.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        let accepted = self.accepted.load(Relaxed);
        let undelivered = self.undelivered.load(Relaxed);
        let mut dropped = self.dropped.load(Relaxed) + undelivered;
        let mut queued = accepted.saturating_sub(exported + failed + undelivered);
        if self.abandoned.load(Relaxed) {
            dropped += queued;
            queued = 0;
        }
        PipelineSnapshot {
            created: accepted + self.dropped.load(Relaxed),
            exported,
            failed,
            dropped,
            queued,
            export_failures: self.export_failures.load(Relaxed),
        }
    }
}

enum Control {
    Flush(mpsc::SyncSender<OTelSdkResult>),
    Shutdown {
        deadline: Instant,
        done: mpsc::SyncSender<OTelSdkResult>,
    },
}

/// The caller's side of the pipeline, shared by the span processor the provider owns and the
/// runtime, which shuts every pipeline down against one deadline.
#[derive(Debug)]
pub(crate) struct Pipeline {
    name: &'static str,
    spans: mpsc::Sender<Queued>,
    control: mpsc::Sender<Control>,
    worker: Thread,
    counters: Arc<PipelineCounters>,
    wake_requested: Arc<AtomicBool>,
    closed: AtomicBool,
    max_queue_size: u64,
    max_export_batch_size: u64,
    export_timeout: Duration,
}

/// How an exporter that sends span by span (X-Ray) reports the spans of a batch it could not
/// deliver: the pipeline counts them as dropped rather than exported.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExportDrops(Arc<AtomicU64>);

impl ExportDrops {
    /// Reports `count` spans of the batch being exported as not delivered.
    #[cfg_attr(
        not(feature = "xray"),
        allow(dead_code, reason = "only the X-Ray exporter sends span by span")
    )]
    pub(crate) fn add(&self, count: u64) {
        self.0.fetch_add(count, Relaxed);
    }

    fn take(&self) -> u64 {
        self.0.swap(0, Relaxed)
    }
}

impl Pipeline {
    /// Starts the export thread for `exporter`. `build` runs inside the thread's runtime, so
    /// exporters that need a tokio reactor at construction (tonic) get one.
    pub(crate) fn spawn<E, B>(
        name: &'static str,
        settings: BatchSettings,
        build: B,
    ) -> Result<Arc<Pipeline>, InitError>
    where
        E: SpanExporter + 'static,
        B: FnOnce() -> Result<E, InitError>,
    {
        Pipeline::spawn_reporting_drops(name, settings, None, build)
    }

    /// As [`Pipeline::spawn`], for an exporter that reports undelivered spans through `drops`.
    pub(crate) fn spawn_reporting_drops<E, B>(
        name: &'static str,
        settings: BatchSettings,
        drops: Option<ExportDrops>,
        build: B,
    ) -> Result<Arc<Pipeline>, InitError>
    where
        E: SpanExporter + 'static,
        B: FnOnce() -> Result<E, InitError>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("t4dm-trace-{name}"))
            .build()
            .map_err(|source| InitError::ExportThread {
                exporter: name,
                source,
            })?;
        let exporter = {
            let _entered = runtime.enter();
            build()?
        };
        let (span_sender, span_receiver) = mpsc::channel();
        let (control_sender, control_receiver) = mpsc::channel();
        let counters = Arc::new(PipelineCounters::default());
        let wake_requested = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            name,
            exporter,
            runtime,
            spans: span_receiver,
            control: control_receiver,
            counters: Arc::clone(&counters),
            wake_requested: Arc::clone(&wake_requested),
            settings,
            batch: Vec::with_capacity(settings.max_export_batch_size),
            warned_drops: false,
            drops,
        };
        let handle = std::thread::Builder::new()
            .name(format!("t4dm-trace-{name}"))
            .spawn(move || worker.run())
            .map_err(|source| InitError::ExportThread {
                exporter: name,
                source,
            })?;
        Ok(Arc::new(Pipeline {
            name,
            spans: span_sender,
            control: control_sender,
            worker: handle.thread().clone(),
            counters,
            wake_requested,
            closed: AtomicBool::new(false),
            max_queue_size: settings.max_queue_size as u64,
            max_export_batch_size: settings.max_export_batch_size as u64,
            export_timeout: settings.export_timeout,
        }))
    }

    pub(crate) fn counters(&self) -> Arc<PipelineCounters> {
        Arc::clone(&self.counters)
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    fn request(&self, control: Control) -> bool {
        let sent = self.control.send(control).is_ok();
        self.worker.unpark();
        sent
    }
}

impl Pipeline {
    /// Queues a batch of recorded, sampled spans: as much of it as the queue's bound allows.
    pub(crate) fn on_recorded(&self, mut batch: Batch) {
        let room = self.room_for(batch.spans.len() as u64);
        if room < batch.spans.len() {
            batch.spans.truncate(room);
        }
        if !batch.spans.is_empty() {
            self.enqueue(batch.spans.len() as u64, Queued::Recorded(batch));
        }
    }

    /// Queues one span other code ended through the SDK.
    pub(crate) fn on_sdk_span(&self, span: SpanData) {
        if span.span_context.is_sampled() && self.room_for(1) == 1 {
            self.enqueue(1, Queued::Sdk(span));
        }
    }

    /// How many of `count` new spans the queue takes; the rest are counted as dropped.
    fn room_for(&self, count: u64) -> usize {
        let counters = &*self.counters;
        let room = if self.closed.load(Relaxed) {
            0
        } else {
            let pending = counters
                .accepted
                .load(Relaxed)
                .saturating_sub(counters.taken.load(Relaxed));
            self.max_queue_size.saturating_sub(pending).min(count)
        };
        if room < count {
            counters.dropped.fetch_add(count - room, Relaxed);
            self.wake();
        }
        usize::try_from(room).unwrap_or(usize::MAX)
    }

    fn enqueue(&self, count: u64, item: Queued) {
        let counters = &*self.counters;
        if self.spans.send(item).is_err() {
            counters.dropped.fetch_add(count, Relaxed);
            return;
        }
        let accepted = counters.accepted.fetch_add(count, Relaxed) + count;
        if accepted.saturating_sub(counters.taken.load(Relaxed)) >= self.max_export_batch_size {
            self.wake();
        }
    }

    pub(crate) fn force_flush(&self) -> OTelSdkResult {
        let (done, result) = mpsc::sync_channel(1);
        if !self.request(Control::Flush(done)) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        result
            .recv_timeout(self.export_timeout)
            .unwrap_or(Err(OTelSdkError::Timeout(self.export_timeout)))
    }

    /// Asks the export thread to export everything and stop by `deadline`. New spans are
    /// dropped (and counted) from now on. `None` if shutdown was already requested.
    fn begin_shutdown(&self, deadline: Instant) -> Option<PendingShutdown> {
        if self.closed.swap(true, Relaxed) {
            return None;
        }
        let (done, result) = mpsc::sync_channel(1);
        self.request(Control::Shutdown { deadline, done });
        Some(PendingShutdown {
            result,
            deadline,
            counters: Arc::clone(&self.counters),
        })
    }

    /// Wakes the export thread, at most once until it next goes to sleep: the only system
    /// call the caller's thread can make, once per batch.
    pub(crate) fn wake(&self) {
        if !self.wake_requested.load(Relaxed) && !self.wake_requested.swap(true, Relaxed) {
            self.worker.unpark();
        }
    }
}

/// Shuts every pipeline down at the same time, against one deadline `timeout` from now: each
/// exports what it holds and stops. The first failure is returned; a pipeline still exporting
/// at the deadline is a `Timeout(timeout)`, and what it still held counts as dropped.
pub(crate) fn shutdown_all(pipelines: &[Arc<Pipeline>], timeout: Duration) -> OTelSdkResult {
    let deadline = Instant::now() + timeout;
    let pending: Vec<_> = pipelines
        .iter()
        .filter_map(|pipeline| pipeline.begin_shutdown(deadline))
        .collect();
    pending
        .into_iter()
        .map(PendingShutdown::wait)
        .fold(Ok(()), OTelSdkResult::and)
        .map_err(|error| match error {
            OTelSdkError::Timeout(_) => OTelSdkError::Timeout(timeout),
            other => other,
        })
}

/// A shutdown under way; see [`Pipeline::begin_shutdown`].
pub(crate) struct PendingShutdown {
    result: mpsc::Receiver<OTelSdkResult>,
    deadline: Instant,
    counters: Arc<PipelineCounters>,
}

impl PendingShutdown {
    /// Waits until the export thread is done or the deadline passes; then, whatever is still
    /// queued counts as dropped.
    fn wait(self) -> OTelSdkResult {
        let timeout = self.deadline.saturating_duration_since(Instant::now());
        self.result.recv_timeout(timeout).unwrap_or_else(|_| {
            self.counters.abandoned.store(true, Relaxed);
            Err(OTelSdkError::Timeout(timeout))
        })
    }
}

/// What a pipeline's queue carries: a batch of spans t4dm-trace recorded (converted to
/// `SpanData` on the export thread), or one SDK span from other code using the tracer provider.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "an SDK span is moved in as it is: a box would be allocated on the caller's thread \
              and freed on the export thread, which costs glibc's allocator a lock"
)]
enum Queued {
    Recorded(Batch),
    Sdk(SpanData),
}

/// Where every finished span goes: to each pipeline (the last gets the span itself, the others
/// a clone) and, while one runs, to a test capture. Spans t4dm-trace records arrive through
/// [`SpanRouter::on_record_start`] and [`SpanRouter::on_record_end`]; other code's SDK spans
/// through the tracer provider's one processor, [`SharedRouter`] (one, because the SDK clones
/// every ended span for each registered processor).
#[derive(Debug)]
pub(crate) struct SpanRouter {
    pub(crate) baggage: Option<crate::propagation::BaggageAttributes>,
    pub(crate) pipelines: Vec<Arc<Pipeline>>,
    #[cfg(feature = "testing")]
    pub(crate) capture: crate::testing::CaptureProcessor,
    /// Set at shutdown, once the threads' buffers were collected for the last time: spans that
    /// end later go straight to the (closed) pipelines, which count them as dropped.
    closed: AtomicBool,
    /// A thread's buffer is half full: the first pipeline's export thread collects them all.
    collection_requested: AtomicBool,
}

impl SpanRouter {
    pub(crate) fn new(
        baggage: Option<crate::propagation::BaggageAttributes>,
        pipelines: Vec<Arc<Pipeline>>,
    ) -> Self {
        SpanRouter {
            baggage,
            pipelines,
            #[cfg(feature = "testing")]
            capture: crate::testing::CaptureProcessor::default(),
            closed: AtomicBool::new(false),
            collection_requested: AtomicBool::new(false),
        }
    }

    fn request_collection(&self) {
        if !self.collection_requested.swap(true, SeqCst)
            && let Some(first) = self.pipelines.first()
        {
            first.wake();
        }
    }

    /// Collects the threads' buffers if a thread asked for it.
    pub(crate) fn collect_if_requested(&self) {
        if self.collection_requested() && self.collection_requested.swap(false, SeqCst) {
            self.collect_thread_buffers();
        }
    }

    pub(crate) fn collection_requested(&self) -> bool {
        self.collection_requested.load(SeqCst)
    }

    /// Collects the threads' buffers one last time; see `closed`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Relaxed);
        self.collect_thread_buffers();
    }

    /// What the SDK's processors would do when a span starts: copy the configured baggage onto
    /// it, and note which test capture it belongs to.
    pub(crate) fn on_record_start(&self, span: &mut impl opentelemetry::trace::Span, cx: &Context) {
        if let Some(baggage) = &self.baggage {
            baggage.copy_onto(span, cx);
        }
        #[cfg(feature = "testing")]
        self.capture.track_start(span.span_context(), cx);
    }

    /// Takes a span t4dm-trace recorded as it ends.
    #[inline]
    pub(crate) fn on_record_end(&self, span: Box<EndedSpan>) {
        #[cfg(feature = "testing")]
        if self.capture.is_tracking() {
            self.capture
                .observe_end(&span.span_data(crate::clock::timeline().anchor()));
        }
        if !span.span_context().is_sampled() || self.pipelines.is_empty() {
            return;
        }
        if self.closed.load(Relaxed) {
            self.deliver(Batch {
                home: None,
                spans: vec![span],
            });
        } else {
            crate::handoff::hand_over(
                span,
                || self.request_collection(),
                |batch| self.deliver(batch),
            );
        }
    }

    /// Sends a batch of recorded spans to every pipeline.
    pub(crate) fn deliver(&self, batch: Batch) {
        if let Some((last, others)) = self.pipelines.split_last() {
            for pipeline in others {
                pipeline.on_recorded(batch.clone());
            }
            last.on_recorded(batch);
        }
    }

    /// Moves the spans waiting in every thread's buffer to the pipelines.
    pub(crate) fn collect_thread_buffers(&self) {
        crate::handoff::collect(|batch| self.deliver(batch));
    }
}

/// The tracer provider's one span processor, for spans other code starts through it.
#[derive(Debug)]
pub(crate) struct SharedRouter(pub(crate) Arc<SpanRouter>);

impl SpanProcessor for SharedRouter {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_record_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        #[cfg(feature = "testing")]
        self.0.capture.observe_end(&span);
        if let Some((last, others)) = self.0.pipelines.split_last() {
            for pipeline in others {
                pipeline.on_sdk_span(span.clone());
            }
            last.on_sdk_span(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0
            .pipelines
            .iter()
            .map(|pipeline| pipeline.force_flush())
            .fold(Ok(()), OTelSdkResult::and)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        shutdown_all(&self.0.pipelines, timeout)
    }
}

/// The export thread's side.
struct Worker<E> {
    name: &'static str,
    exporter: E,
    runtime: tokio::runtime::Runtime,
    spans: mpsc::Receiver<Queued>,
    control: mpsc::Receiver<Control>,
    counters: Arc<PipelineCounters>,
    wake_requested: Arc<AtomicBool>,
    settings: BatchSettings,
    batch: Vec<SpanData>,
    warned_drops: bool,
    drops: Option<ExportDrops>,
}

impl<E: SpanExporter> Worker<E> {
    fn run(mut self) {
        // The exporter's own HTTP/gRPC stack must not produce spans that feed back into us.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut next_export = Instant::now() + self.settings.scheduled_delay;
        loop {
            if let Some(recorder) = crate::init::recorder() {
                recorder.collect_if_requested();
            }
            self.take_queued(Instant::now() + self.settings.export_timeout);
            // Every pending request, not one per round: two flushes that arrive together leave
            // one wake-up, and the second must not wait for the next scheduled export.
            loop {
                match self.control.try_recv() {
                    Ok(Control::Flush(done)) => {
                        let result =
                            self.export_everything(Instant::now() + self.settings.export_timeout);
                        let _ = done.send(result);
                        next_export = Instant::now() + self.settings.scheduled_delay;
                    }
                    Ok(Control::Shutdown { deadline, done }) => {
                        let result = self.export_everything(deadline);
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        let shutdown = self.exporter.shutdown_with_timeout(remaining);
                        let _ = done.send(result.and(shutdown));
                        return;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => {
                        // The processor was dropped without a shutdown: export what is left.
                        let _ =
                            self.export_everything(Instant::now() + self.settings.export_timeout);
                        let _ = self.exporter.shutdown();
                        return;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            if now >= next_export {
                // Spans waiting in threads' buffers are exported on the same schedule.
                if let Some(recorder) = crate::init::recorder() {
                    recorder.collect_thread_buffers();
                    self.take_queued(now + self.settings.export_timeout);
                }
                if !self.batch.is_empty() {
                    let _ = self.export_batch(now + self.settings.export_timeout);
                }
                next_export = now + self.settings.scheduled_delay;
            }
            self.warn_about_drops();
            self.wake_requested.store(false, Relaxed);
            let collection_requested =
                crate::init::recorder().is_some_and(Recorder::collection_requested);
            if self.queue_is_empty() && !collection_requested {
                std::thread::park_timeout(next_export.saturating_duration_since(Instant::now()));
            }
        }
    }

    fn queue_is_empty(&self) -> bool {
        self.counters.accepted.load(Relaxed) <= self.counters.taken.load(Relaxed)
    }

    /// Moves queued spans into the batch, exporting each batch that fills.
    fn take_queued(&mut self, deadline: Instant) {
        let mut taken = 0;
        while let Ok(queued) = self.spans.try_recv() {
            match queued {
                Queued::Recorded(Batch { home, spans }) => {
                    let anchor = crate::clock::timeline().anchor();
                    let mut emptied = Vec::with_capacity(spans.len());
                    for span in spans {
                        let data = span.span_data(anchor);
                        emptied.push(span);
                        self.take(data, &mut taken, deadline);
                    }
                    if let Some(home) = &home {
                        home.recycle(emptied);
                    }
                }
                Queued::Sdk(span) => self.take(span, &mut taken, deadline),
            }
        }
        self.counters.taken.fetch_add(taken, Relaxed);
    }

    /// Adds a span to the batch, exporting the batch when it is full.
    fn take(&mut self, span: SpanData, taken: &mut u64, deadline: Instant) {
        self.batch.push(span);
        *taken += 1;
        if self.batch.len() >= self.settings.max_export_batch_size {
            self.counters.taken.fetch_add(*taken, Relaxed);
            *taken = 0;
            let _ = self.export_batch(deadline);
        }
    }

    fn export_everything(&mut self, deadline: Instant) -> OTelSdkResult {
        self.take_queued(deadline);
        if self.batch.is_empty() {
            Ok(())
        } else {
            self.export_batch(deadline)
        }
    }

    fn export_batch(&mut self, deadline: Instant) -> OTelSdkResult {
        let batch = std::mem::replace(
            &mut self.batch,
            Vec::with_capacity(self.settings.max_export_batch_size),
        );
        let count = batch.len() as u64;
        let timeout = self
            .settings
            .export_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let exporter = &self.exporter;
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, exporter.export(batch)).await })
            .unwrap_or(Err(OTelSdkError::Timeout(timeout)));
        let undelivered = self.drops.as_ref().map_or(0, ExportDrops::take).min(count);
        if self.counters.abandoned.load(Relaxed) {
            return result;
        }
        if result.is_ok() {
            self.counters
                .exported
                .fetch_add(count - undelivered, Relaxed);
            self.counters.undelivered.fetch_add(undelivered, Relaxed);
        } else {
            self.counters.failed.fetch_add(count, Relaxed);
            self.counters.export_failures.fetch_add(1, Relaxed);
        }
        result
    }

    /// Says once, from this thread (never the caller's), that spans are being dropped.
    fn warn_about_drops(&mut self) {
        if !self.warned_drops && self.counters.dropped.load(Relaxed) > 0 {
            self.warned_drops = true;
            eprintln!(
                "t4dm-trace: the {} export queue is full ({} spans); new spans are being dropped \
                 and counted (see `tracing_stats()`)",
                self.name, self.settings.max_queue_size
            );
        }
    }
}
