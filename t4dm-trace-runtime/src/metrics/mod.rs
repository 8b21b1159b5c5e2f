//! Span metrics and exemplars: a call counter and a duration histogram for every span that ends,
//! sampled or not, with the names, units, buckets and attributes of the OpenTelemetry
//! Collector's `spanmetrics` connector, and exemplars linking histogram buckets to the traces
//! that fell into them.
//!
//! The whole of it sits behind one entry point, [`record_span_end`], called where a span ends,
//! and one check, [`is_on`]. `hook` adapts the spans t4dm-trace records (and those the sampler
//! drops) to that entry point; nothing else in the crate knows how metrics are kept.

// With some exporters compiled out, parts of the shared code have no reader; rather than a
// `cfg` on each, they are allowed to be unused in those builds.
#![cfg_attr(
    not(all(feature = "metrics", feature = "otlp", feature = "prometheus")),
    allow(
        dead_code,
        unused_imports,
        clippy::unused_self,
        clippy::unnecessary_wraps
    )
)]

mod config;
#[cfg(any(feature = "prometheus", test))]
mod exposition;
pub(crate) mod hook;
#[cfg(all(feature = "metrics", feature = "otlp"))]
mod otlp;
#[cfg(feature = "prometheus")]
mod prometheus;
mod registry;
mod summary;

pub use config::{
    ExemplarFilter, MetricsSettings, OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_INTERVAL_DEFAULT, OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_METRICS_EXEMPLAR_FILTER, T4DM_OTEL_METRICS, T4DM_OTEL_PROMETHEUS_ADDR, Temporality,
};
pub(crate) use config::{TraceSide, resolve as resolve_settings};

use crate::error::InitError;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::Resource;
pub(crate) use registry::SpanName;
use registry::{ExemplarSpan, Store};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The metric names, units and descriptions of the `spanmetrics` connector.
mod names {
    pub(crate) const CALLS_NAME: &str = "traces.span.metrics.calls";
    pub(crate) const CALLS_DESCRIPTION: &str = "Count of spans, sampled or not";
    pub(crate) const DURATION_NAME: &str = "traces.span.metrics.duration";
    pub(crate) const DURATION_UNIT: &str = "ms";
    pub(crate) const DURATION_DESCRIPTION: &str = "Duration of spans, sampled or not";
}
pub(crate) use names::*;

/// Whether span metrics are recorded: the only thing a span reads when they are off.
static ON: AtomicBool = AtomicBool::new(false);
static STATE: OnceLock<State> = OnceLock::new();

#[derive(Debug)]
struct State {
    store: Store,
    filter: ExemplarFilter,
}

/// Whether span metrics are on: one relaxed atomic load.
#[expect(
    clippy::inline_always,
    reason = "read on every span start and end; must be a load and a branch"
)]
#[inline(always)]
pub(crate) fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The ids of the span that ended, for an exemplar.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanIds {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// Whether the span's trace is sampled (exported).
    pub(crate) sampled: bool,
    /// When the span ended, in nanoseconds since the Unix epoch.
    pub(crate) end_unix_nanos: u64,
}

/// Whether a span of a trace sampled or not may become an exemplar, as the exemplar filter says:
/// lets a caller skip the exemplar's timestamp when it will not be used.
#[inline]
pub(crate) fn takes_exemplar(sampled: bool) -> bool {
    STATE.get().is_some_and(|state| match state.filter {
        ExemplarFilter::TraceBased => sampled,
        ExemplarFilter::AlwaysOn => true,
        ExemplarFilter::AlwaysOff => false,
    })
}

/// Records one span that ended: one call, and its duration in the histogram of its name, kind
/// and status; its ids become the bucket's exemplar if the exemplar filter lets them.
///
/// Takes no lock shared between threads and allocates nothing once the calling thread has seen
/// the series.
#[inline]
pub(crate) fn record_span_end(
    name: SpanName<'_>,
    kind: &SpanKind,
    is_error: bool,
    duration_nanos: u64,
    ids: Option<SpanIds>,
) {
    if !is_on() {
        return;
    }
    let Some(state) = STATE.get() else {
        return;
    };
    let exemplar = ids
        .filter(|ids| match state.filter {
            ExemplarFilter::TraceBased => ids.sampled,
            ExemplarFilter::AlwaysOn => true,
            ExemplarFilter::AlwaysOff => false,
        })
        .map(|ids| ExemplarSpan {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            time_unix_nanos: ids.end_unix_nanos,
        });
    registry::record(
        &state.store,
        name,
        kind,
        is_error,
        duration_nanos,
        exemplar.as_ref(),
    );
}

/// What happened to the span metrics' OTLP exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsStats {
    /// Exports the collector accepted.
    pub exports: u64,
    /// Exports that failed or timed out (a collector that takes traces but not metrics fails
    /// every one).
    pub export_failures: u64,
    /// The last failure's message, if any.
    pub last_error: Option<String>,
}

/// The metrics' sinks, owned by the tracing runtime.
#[derive(Debug)]
pub(crate) struct MetricsRuntime {
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    otlp: Option<otlp::ExportThread>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<prometheus::Server>,
    console: bool,
    shut_down: AtomicBool,
}

/// Starts span metrics as `settings` say: `None` when they are off.
pub(crate) fn start(
    settings: &MetricsSettings,
    resource: &Resource,
    service_name: &str,
    console: bool,
) -> Result<Option<MetricsRuntime>, InitError> {
    if !settings.enabled || !cfg!(feature = "metrics") {
        return Ok(None);
    }
    let _ = (resource, service_name);
    let state = STATE.get_or_init(|| State {
        store: Store::new(settings.cardinality_limit),
        filter: settings.exemplar_filter,
    });
    #[cfg(feature = "prometheus")]
    let prometheus = match settings.prometheus {
        Some(addr) => Some(prometheus::Server::start(addr, service_name, &state.store)?),
        None => None,
    };
    #[cfg(not(feature = "prometheus"))]
    if let Some(addr) = settings.prometheus {
        return Err(InitError::Exporter {
            exporter: "prometheus",
            source: format!(
                "a Prometheus endpoint on `{addr}` is configured, but t4dm-trace-runtime was \
                 built without its `prometheus` feature"
            )
            .into(),
        });
    }
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    let otlp = match &settings.otlp {
        Some(otlp) => {
            match otlp::ExportThread::spawn(otlp, settings, resource, service_name, &state.store) {
                Ok(thread) => Some(thread),
                Err(error) => {
                    // Nothing is left running when initialisation fails.
                    #[cfg(feature = "prometheus")]
                    if let Some(server) = &prometheus {
                        server.stop();
                    }
                    return Err(error);
                }
            }
        }
        None => None,
    };
    let _ = state;
    ON.store(true, Ordering::Release);
    Ok(Some(MetricsRuntime {
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        otlp,
        #[cfg(feature = "prometheus")]
        prometheus,
        console,
        shut_down: AtomicBool::new(false),
    }))
}

impl MetricsRuntime {
    /// Exports the metrics now and waits for the outcome, which is counted in [`Self::stats`].
    pub(crate) fn flush(&self) {
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Some(otlp) = &self.otlp {
            otlp.flush();
        }
    }

    /// The OTLP metrics exports so far.
    pub(crate) fn stats(&self) -> MetricsStats {
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Some(otlp) = &self.otlp {
            return otlp.stats();
        }
        MetricsStats::default()
    }

    /// Stops recording and asks for the last export by `deadline`; [`MetricsShutdown::finish`]
    /// waits for it. Between the two, the trace pipelines shut down against the same deadline.
    pub(crate) fn begin_shutdown(&self, deadline: Instant) -> MetricsShutdown<'_> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return MetricsShutdown {
                runtime: None,
                #[cfg(all(feature = "metrics", feature = "otlp"))]
                otlp: None,
            };
        }
        ON.store(false, Ordering::Release);
        let _ = deadline;
        MetricsShutdown {
            runtime: Some(self),
            #[cfg(all(feature = "metrics", feature = "otlp"))]
            otlp: self.otlp.as_ref().map(|otlp| otlp.begin_shutdown(deadline)),
        }
    }
}

/// A shutdown in progress.
#[derive(Debug)]
pub(crate) struct MetricsShutdown<'a> {
    runtime: Option<&'a MetricsRuntime>,
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    otlp: Option<otlp::ShutdownWaiter>,
}

impl MetricsShutdown<'_> {
    /// Waits for the last export (its outcome is counted in [`MetricsRuntime::stats`]), stops
    /// the scrape endpoint and prints the console summary.
    pub(crate) fn finish(self) {
        let Some(runtime) = self.runtime else {
            return;
        };
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Some(waiter) = self.otlp {
            waiter.wait();
        }
        #[cfg(feature = "prometheus")]
        if let Some(server) = &runtime.prometheus {
            server.stop();
        }
        if runtime.console
            && let Some(state) = STATE.get()
        {
            let table = summary::table(&state.store.collect());
            if !table.is_empty() {
                use std::io::Write as _;
                let _ = std::io::stderr().lock().write_all(table.as_bytes());
            }
        }
    }
}

/// The time left until `deadline`, at least a millisecond.
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests;

/// For the benchmarks only (`benches/span_metrics.rs`), through `__private`: not public API.
pub mod bench {
    use opentelemetry::trace::{SpanId, SpanKind, TraceId};
    use std::sync::atomic::Ordering;

    /// Turns recording on or off after `init_tracing` started span metrics; off is the state
    /// `T4DM_OTEL_METRICS=false` leaves a span in (one load and a branch).
    pub fn set_enabled(on: bool) {
        if super::STATE.get().is_some() {
            super::ON.store(on, Ordering::Release);
        }
    }

    /// The metric update of one internal span that ended, as the end of a span makes it.
    #[inline]
    pub fn record_span_end(name: &'static str, duration_nanos: u64, sampled: bool) {
        record(super::SpanName::Static(name), duration_nanos, sampled);
    }

    /// The same for a name known only by its content (a dynamic name).
    #[inline]
    pub fn record_span_end_dynamic(name: &str, duration_nanos: u64, sampled: bool) {
        record(super::SpanName::Dynamic(name), duration_nanos, sampled);
    }

    #[inline]
    fn record(name: super::SpanName<'_>, duration_nanos: u64, sampled: bool) {
        super::record_span_end(
            name,
            &SpanKind::Internal,
            false,
            duration_nanos,
            Some(super::SpanIds {
                trace_id: TraceId::from_bytes([7; 16]),
                span_id: SpanId::from_bytes([9; 8]),
                sampled,
                end_unix_nanos: 1_700_000_000_000_000_000,
            }),
        );
    }
}
