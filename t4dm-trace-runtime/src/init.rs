//! Initialisation, shutdown and the process-wide tracing state.
//!
//! The state is set once per process, like OpenTelemetry's global provider. The hot path reads
//! it through one relaxed atomic (`is_enabled`) and, when enabled, one `OnceLock` load: no lock.

use crate::config::{SamplerConfig, TracingConfig};
use crate::error::{ExportError, InitError};
use crate::exporter::ConsoleExporter;
use crate::pipeline::{Pipeline, SharedRouter, SpanRouter};
use crate::recorder::Recorder;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Whether `#[traced]` records spans: the only thing the disabled path reads.
static ENABLED: AtomicBool = AtomicBool::new(false);
static RUNTIME: OnceLock<TracingRuntime> = OnceLock::new();
/// Serialises `init_tracing` calls (never taken on the hot path).
static INIT: Mutex<()> = Mutex::new(());

/// The instrumentation scope of every span t4dm-trace starts.
const SCOPE_NAME: &str = "t4dm-trace";

pub(crate) struct TracingRuntime {
    recorder: Option<Recorder>,
    provider: Option<SdkTracerProvider>,
    pipelines: Vec<Arc<Pipeline>>,
    shutdown_timeout: Duration,
    shut_down: AtomicBool,
    /// Span metrics, when on.
    metrics: Option<crate::metrics::MetricsRuntime>,
}

/// Whether tracing is on: one relaxed atomic load.
#[expect(
    clippy::inline_always,
    reason = "the disabled path must be a load and a branch in the user's function"
)]
#[inline(always)]
pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What records `#[traced]` spans, once tracing has been initialised.
#[inline]
pub(crate) fn recorder() -> Option<&'static Recorder> {
    RUNTIME.get()?.recorder.as_ref()
}

/// The instrumentation scope of every span t4dm-trace starts.
pub(crate) fn scope() -> &'static InstrumentationScope {
    static SCOPE: OnceLock<InstrumentationScope> = OnceLock::new();
    SCOPE.get_or_init(|| {
        InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build()
    })
}

/// Starts tracing as `config` says, and returns a guard that shuts it down when dropped.
///
/// With tracing disabled (`T4DM_OTEL_ENABLED=false`, or nothing enabling it), this records
/// that fact and installs only the propagators (so that trace context arriving in requests still
/// passes through to outgoing ones): `#[traced]` functions then cost one relaxed atomic load and
/// a branch, and start no span. Otherwise it starts one export thread per exporter, installs the
/// tracer provider as OpenTelemetry's global provider (so spans from other OpenTelemetry
/// instrumentation join the same traces and pipeline) and the propagators (`OTEL_PROPAGATORS`,
/// default `tracecontext,baggage`), and turns `#[traced]` on.
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] on a second call in the same process; an invalid endpoint
/// given to the builder; an exporter or export thread that cannot be started.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{TracingConfig, init_tracing, traced};
///
/// #[traced("demo.work")]
/// fn work() -> u32 {
///     42
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = init_tracing(TracingConfig::builder().with_enabled(true).with_console(true).build())?;
/// assert_eq!(work(), 42);
/// drop(guard); // exports what is queued, then stops the export threads
/// # Ok(())
/// # }
/// ```
#[expect(
    clippy::needless_pass_by_value,
    reason = "the configuration is handed over once, at start-up, as builders hand over values"
)]
pub fn init_tracing(config: TracingConfig) -> Result<TracingGuard, InitError> {
    config.validate()?;
    let _serialised = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if RUNTIME.get().is_some() {
        return Err(InitError::AlreadyInitialized);
    }
    let runtime = if config.enabled {
        build_runtime(&config)?
    } else {
        disabled_runtime(&config)
    };
    if config.enabled {
        crate::panic::install_hook();
    }
    if config.enabled
        && let Some(provider) = &runtime.provider
    {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    if RUNTIME.set(runtime).is_err() {
        return Err(InitError::AlreadyInitialized);
    }
    crate::propagation::install_propagators(&config.propagation);
    ENABLED.store(config.enabled, Ordering::Release);
    Ok(TracingGuard { _private: () })
}

/// Shuts tracing down: `#[traced]` stops recording, queued spans are exported within the
/// configured shutdown timeout, and the export threads stop. Calling it again does nothing.
///
/// # Errors
///
/// [`ExportError::Timeout`] when queued spans could not all be exported in time (they are
/// counted as dropped), [`ExportError::Failed`] when the final export failed.
pub fn shutdown_tracing() -> Result<(), ExportError> {
    let Some(runtime) = RUNTIME.get() else {
        return Ok(());
    };
    if runtime.shut_down.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    ENABLED.store(false, Ordering::Release);
    if let Some(recorder) = &runtime.recorder {
        recorder.close();
    }
    let deadline = std::time::Instant::now() + runtime.shutdown_timeout;
    let metrics = runtime
        .metrics
        .as_ref()
        .map(|metrics| metrics.begin_shutdown(deadline));
    // Every pipeline exports its last spans at the same time, against one deadline.
    let outcome = crate::pipeline::shutdown_all(&runtime.pipelines, runtime.shutdown_timeout);
    // A collector that takes traces but not metrics must not fail the traces' shutdown: the
    // metrics' outcome is counted in `tracing_stats().metrics` instead.
    if let Some(metrics) = metrics {
        metrics.finish();
    }
    if let Some(provider) = &runtime.provider {
        // The pipelines are closed already; this marks the provider shut down, so spans that
        // end from now on are not started or recorded.
        let _ = provider.shutdown_with_timeout(Duration::ZERO);
    }
    outcome.map_err(|error| {
        let dropped = runtime
            .pipelines
            .iter()
            .map(|pipeline| pipeline.counters().snapshot().dropped)
            .sum();
        ExportError::from_sdk(error, dropped)
    })
}

/// Exports every span queued so far, waiting at most each exporter's export timeout
/// (`OTEL_BSP_EXPORT_TIMEOUT`). Useful before a process is frozen (serverless) or in tests.
///
/// # Errors
///
/// [`ExportError::Timeout`] when an exporter did not finish in time, [`ExportError::Failed`]
/// when an export failed.
pub fn flush_tracing() -> Result<(), ExportError> {
    let Some(runtime) = RUNTIME.get() else {
        return Ok(());
    };
    if let Some(recorder) = &runtime.recorder {
        recorder.collect_thread_buffers();
    }
    let mut outcome = Ok(());
    for pipeline in &runtime.pipelines {
        if let Err(error) = pipeline.force_flush()
            && outcome.is_ok()
        {
            outcome = Err(ExportError::from_sdk(
                error,
                pipeline.counters().snapshot().queued,
            ));
        }
    }
    // Counted in `tracing_stats().metrics`, not reported here (see `shutdown_tracing`).
    if let Some(metrics) = &runtime.metrics {
        metrics.flush();
    }
    outcome
}

/// The tracer provider `init_tracing` installed, for code that needs the SDK type itself, such
/// as a `tracing-opentelemetry` layer feeding the same pipelines:
/// `tracing_opentelemetry::layer().with_tracer(provider.tracer("app"))`. `None` before
/// initialisation or with tracing disabled.
#[must_use]
pub fn tracer_provider() -> Option<SdkTracerProvider> {
    if !is_enabled() {
        return None;
    }
    RUNTIME.get()?.provider.clone()
}

/// Keeps tracing running; dropping it calls [`shutdown_tracing`].
#[derive(Debug)]
#[must_use = "dropping the guard shuts tracing down at once"]
pub struct TracingGuard {
    _private: (),
}

impl TracingGuard {
    /// Shuts tracing down now and reports how it went (dropping the guard does the same and
    /// ignores the outcome).
    ///
    /// # Errors
    ///
    /// As [`shutdown_tracing`].
    pub fn shutdown(self) -> Result<(), ExportError> {
        shutdown_tracing()
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        let _ = shutdown_tracing();
    }
}

/// What happened to the spans handed to one exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterStats {
    /// `otlp`, `console`, `zipkin`, `xray`, or the name given to a custom exporter.
    pub exporter: &'static str,
    /// Sampled spans that ended and were offered for export.
    pub spans_created: u64,
    /// Spans the exporter accepted.
    pub spans_exported: u64,
    /// Spans in batches whose export failed (after the exporter's own retries).
    pub spans_failed: u64,
    /// Spans dropped: the queue was full, or they were still queued when shutdown gave up.
    pub spans_dropped: u64,
    /// Spans waiting for export now.
    pub spans_queued: u64,
    /// Export calls that failed.
    pub export_failures: u64,
}

/// Counts of the export pipelines. For each exporter,
/// `spans_created == spans_exported + spans_failed + spans_dropped + spans_queued`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracingStats {
    /// One entry per configured exporter.
    pub exporters: Vec<ExporterStats>,
    /// The span metrics' OTLP exports, when span metrics are on.
    pub metrics: Option<crate::metrics::MetricsStats>,
}

impl TracingStats {
    /// The counts of the exporter named `name`, if configured.
    #[must_use]
    pub fn exporter(&self, name: &str) -> Option<&ExporterStats> {
        self.exporters.iter().find(|stats| stats.exporter == name)
    }

    /// Spans dropped by any exporter.
    #[must_use]
    pub fn spans_dropped(&self) -> u64 {
        self.exporters.iter().map(|stats| stats.spans_dropped).sum()
    }
}

/// The current counts of every export pipeline; empty before `init_tracing`.
#[must_use]
pub fn tracing_stats() -> TracingStats {
    let Some(runtime) = RUNTIME.get() else {
        return TracingStats::default();
    };
    // Ended spans still in their threads' buffers are on their way to every pipeline.
    let buffered = crate::handoff::buffered();
    TracingStats {
        exporters: runtime
            .pipelines
            .iter()
            .map(|pipeline| {
                let snapshot = pipeline.counters().snapshot();
                ExporterStats {
                    exporter: pipeline.name(),
                    spans_created: snapshot.created + buffered,
                    spans_exported: snapshot.exported,
                    spans_failed: snapshot.failed,
                    spans_dropped: snapshot.dropped,
                    spans_queued: snapshot.queued + buffered,
                    export_failures: snapshot.export_failures,
                }
            })
            .collect(),
        metrics: runtime
            .metrics
            .as_ref()
            .map(crate::metrics::MetricsRuntime::stats),
    }
}

fn build_runtime(config: &TracingConfig) -> Result<TracingRuntime, InitError> {
    let resource = build_resource(config);
    // First: a Prometheus address in use fails initialisation before any thread starts.
    let metrics = crate::metrics::start(
        &config.metrics,
        &resource,
        &config.service_name,
        config.console,
    )?;
    let mut pipelines = Vec::new();
    if config.console {
        // A console is read by a person waiting for it: draw traces promptly.
        let mut batch = config.batch;
        batch.scheduled_delay = batch.scheduled_delay.min(Duration::from_millis(200));
        pipelines.push(Pipeline::spawn("console", batch, || {
            Ok(with_resource(ConsoleExporter::stderr(), &resource))
        })?);
    }
    crate::exporter::spawn_network_pipelines(config, &resource, &mut pipelines)?;
    for custom in &config.custom_exporters {
        let spawn = custom
            .spawn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(spawn) = spawn {
            pipelines.push(spawn(config.batch, &resource)?);
        }
    }
    let router = Arc::new(SpanRouter::new(
        crate::propagation::baggage_attributes(&config.propagation),
        pipelines.clone(),
    ));
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.sampler))
        .with_span_processor(SharedRouter(Arc::clone(&router)));
    #[cfg(feature = "xray")]
    let builder = if config.xray_trace_ids() {
        builder.with_id_generator(opentelemetry_aws::trace::XrayIdGenerator::default())
    } else {
        builder
    };
    crate::xray_ids::set_xray_trace_ids(config.xray_trace_ids());
    let provider = builder.build();
    Ok(TracingRuntime {
        recorder: Some(Recorder::new(router, sampler(config.sampler))),
        provider: Some(provider),
        pipelines,
        shutdown_timeout: config.shutdown_timeout,
        shut_down: AtomicBool::new(false),
        metrics,
    })
}

/// Tracing off: nothing to start. With the `testing` feature a capture-only provider is kept,
/// so that a test can show that a disabled `#[traced]` really records nothing.
fn disabled_runtime(config: &TracingConfig) -> TracingRuntime {
    #[cfg(feature = "testing")]
    {
        capture_runtime(config.shutdown_timeout)
    }
    #[cfg(not(feature = "testing"))]
    TracingRuntime {
        recorder: None,
        provider: None,
        pipelines: Vec::new(),
        shutdown_timeout: config.shutdown_timeout,
        shut_down: AtomicBool::new(false),
        metrics: None,
    }
}

/// Installs the test capture's provider and turns tracing on, unless something is installed.
#[cfg(feature = "testing")]
pub(crate) fn install_capture_runtime() {
    let _serialised = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if RUNTIME.get().is_some() {
        return;
    }
    let runtime = capture_runtime(crate::config::SHUTDOWN_TIMEOUT_DEFAULT);
    if let Some(provider) = &runtime.provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    crate::propagation::install_propagators(&crate::propagation::PropagationSettings::default());
    crate::panic::install_hook();
    if RUNTIME.set(runtime).is_ok() {
        ENABLED.store(true, Ordering::Release);
    }
}

/// A runtime that records every span and only feeds test captures.
#[cfg(feature = "testing")]
fn capture_runtime(shutdown_timeout: Duration) -> TracingRuntime {
    let router = crate::testing::capture_router();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(SharedRouter(Arc::clone(&router)))
        .build();
    TracingRuntime {
        recorder: Some(Recorder::new(router, Sampler::AlwaysOn)),
        provider: Some(provider),
        pipelines: Vec::new(),
        shutdown_timeout,
        shut_down: AtomicBool::new(false),
        metrics: None,
    }
}

fn with_resource<E: SpanExporter>(mut exporter: E, resource: &Resource) -> E {
    exporter.set_resource(resource);
    exporter
}

/// `service.*`, `telemetry.sdk.*`, `host.name`, `process.pid` and the configured attributes.
pub(crate) fn build_resource(config: &TracingConfig) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(
            config
                .resource_attributes
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .with_attribute(KeyValue::new(
            "host.name",
            gethostname::gethostname().to_string_lossy().into_owned(),
        ))
        .with_attribute(KeyValue::new("process.pid", i64::from(std::process::id())))
        .with_service_name(config.service_name.clone());
    if let Some(version) = &config.service_version {
        builder = builder.with_attribute(KeyValue::new("service.version", version.clone()));
    }
    builder.build()
}

fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}
