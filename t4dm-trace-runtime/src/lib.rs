//! OpenTelemetry distributed tracing for Rust services, delivered as an attribute macro.
//!
//! Annotate a function with [`#[traced]`](traced) and every call records a span with the right
//! parent across `.await`s, errors recorded the OpenTelemetry way, exported over OTLP to Jaeger,
//! Grafana Tempo or any collector, or drawn as a tree on standard error for local debugging.
//!
//! # Example
//!
//! ```
//! use t4dm_trace_runtime::{TracingConfig, init_tracing, traced};
//!
//! #[derive(Debug)]
//! struct MemoryError;
//! impl std::fmt::Display for MemoryError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("memory unavailable")
//!     }
//! }
//! impl std::error::Error for MemoryError {}
//!
//! #[traced("episodic.recall", kind = Internal, attrs(limit))]
//! async fn recall(query: &str, limit: usize) -> Result<Vec<String>, MemoryError> {
//!     Ok(vec![format!("{query} (1 of {limit})")])
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What a service does at start-up: configure from the environment (`T4DM_OTEL_*`, `OTEL_*`).
//! let guard = init_tracing(TracingConfig::from_env()?)?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let episodes = recall("coffee", 10).await?;
//! # assert_eq!(episodes.len(), 1);
//! # Ok::<_, MemoryError>(()) })?;
//! drop(guard); // flushes and shuts down
//! # Ok(())
//! # }
//! ```
//!
//! # Configuration
//!
//! [`TracingConfig::from_env`] reads these variables (and a `.env` file in the working
//! directory, which never overrides a variable already set). Builder values beat `T4DM_*`
//! variables, which beat the standard `OTEL_*` ones.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `T4DM_OTEL_ENABLED` | `true` to trace (`OTEL_SDK_DISABLED=true` is the standard opposite) | `false` |
//! | `T4DM_OTEL_ENDPOINT` | OTLP collector, e.g. `http://localhost:4317` | none |
//! | `T4DM_OTEL_SERVICE_NAME` | `service.name` (else `OTEL_SERVICE_NAME`) | `t4dm` |
//! | `T4DM_OTEL_CONSOLE` | `true` draws each trace as a tree on stderr | `false` |
//! | `T4DM_OTEL_PROTOCOL` | `grpc`, `http/protobuf` or `http/json` (else `OTEL_EXPORTER_OTLP_PROTOCOL`) | by port |
//! | `T4DM_OTEL_SAMPLE_RATIO` | fraction of new traces kept, parent-based | `1` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,..` resource attributes | none |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `xray` and/or `none`: what [`inject_context`] and [`extract_context`] use | `tracecontext,baggage` |
//! | `T4DM_OTEL_BAGGAGE_ATTRIBUTES` | baggage keys copied onto span attributes, e.g. `user.id,session.id` | none |
//! | `OTEL_TRACES_EXPORTER` | `otlp`, `zipkin`, `xray`, `console` and/or `none` | `otlp` |
//! | `AWS_XRAY_DAEMON_ADDRESS` | the X-Ray daemon's UDP `host:port` (feature `xray`) | `127.0.0.1:2000` |
//! | `T4DM_OTEL_XRAY_ANNOTATIONS` | span attributes written as X-Ray annotations, e.g. `tool.name` | none |
//! | `T4DM_OTEL_METRICS` | `false` turns span metrics off | on with OTLP, the console or Prometheus |
//! | `T4DM_OTEL_PROMETHEUS_ADDR` | serve span metrics at `GET /metrics` here, e.g. `127.0.0.1:9464` | none |
//! | `OTEL_METRICS_EXEMPLAR_FILTER` | `trace_based`, `always_on` or `always_off` | `trace_based` |
//!
//! The README lists every `OTEL_*` variable honoured.
//!
//! # Features
//!
//! - `otlp` (default): OTLP export over gRPC and HTTP.
//! - `zipkin`: Zipkin export.
//! - `xray`: AWS X-Ray export to the X-Ray daemon, with X-Ray trace ids (`OTEL_TRACES_EXPORTER=xray`).
//! - `metrics` (default): span metrics, a call counter and a duration histogram with
//!   exemplars for every span that ends (sampled or not), named as the OpenTelemetry
//!   Collector's `spanmetrics` connector names them; sent over OTLP (with `otlp`) and summed up
//!   by the console at shutdown.
//! - `prometheus` (default): the span metrics at `GET /metrics` (`T4DM_OTEL_PROMETHEUS_ADDR`),
//!   in the `OpenMetrics` text format with exemplars, or the classic one.
//! - `testing`: `testing::capture`, the spans a closure finished, for tests.
//! - `http` (default): [`inject_context`] and [`extract_context`] on `http::HeaderMap`.
//! - `mcp`: [`inject_context`] and [`extract_context`] on MCP's `params._meta`
//!   (`serde_json::Map<String, serde_json::Value>`).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod attributes;
mod clock;
mod config;
mod error;
mod error_info;
mod exporter;
mod handoff;
mod init;
mod instrument;
mod metrics;
mod panic;
mod pipeline;
mod propagation;
mod recorder;
mod span;
mod value;
mod xray_ids;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use config::{
    AWS_XRAY_DAEMON_ADDRESS, AWS_XRAY_DAEMON_ADDRESS_DEFAULT, BatchSettings, Compression,
    OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_EXPORT_TIMEOUT_DEFAULT, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT, OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
    OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_ZIPKIN_ENDPOINT,
    OTEL_EXPORTER_ZIPKIN_ENDPOINT_DEFAULT, OTEL_EXPORTER_ZIPKIN_TIMEOUT, OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER, OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG, OtlpSettings, Protocol, SHUTDOWN_TIMEOUT_DEFAULT, SamplerConfig,
    T4DM_OTEL_CONSOLE, T4DM_OTEL_ENABLED, T4DM_OTEL_ENDPOINT, T4DM_OTEL_PROTOCOL,
    T4DM_OTEL_SAMPLE_RATIO, T4DM_OTEL_SERVICE_NAME, T4DM_OTEL_SERVICE_NAME_DEFAULT,
    T4DM_OTEL_XRAY_ANNOTATIONS, TracingConfig, TracingConfigBuilder, XraySettings, ZipkinSettings,
};
pub use error::{ExportError, InitError};
pub use exporter::ConsoleExporter;
pub use init::{
    ExporterStats, TracingGuard, TracingStats, flush_tracing, init_tracing, shutdown_tracing,
    tracer_provider, tracing_stats,
};
pub use instrument::{EnteredSpan, ParentContext, TracedFuture};
pub use metrics::{
    ExemplarFilter, MetricsSettings, OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_INTERVAL_DEFAULT, OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_METRICS_EXEMPLAR_FILTER, T4DM_OTEL_METRICS, T4DM_OTEL_PROMETHEUS_ADDR, Temporality,
};
pub use propagation::{
    ExtractCarrier, InjectCarrier, OTEL_PROPAGATORS, OTEL_PROPAGATORS_DEFAULT, PropagationError,
    Propagator, T4DM_OTEL_BAGGAGE_ATTRIBUTES, TRACE_FLAG_RANDOM, TraceFutureExt,
    W3cBaggagePropagator, W3cTraceContextPropagator, XrayPropagator, bind_current_trace,
    composite_propagator, context_with_baggage, extract_context, get_baggage, get_trace_context,
    inject_context, inject_context_from, set_baggage, spawn_blocking_in_current_trace,
    spawn_in_current_trace, spawn_thread_in_current_trace, with_trace_state_entry,
};
pub use span::{
    TraceSpan, add_span_attribute, add_span_event, current_trace_id, record_error, set_span_error,
    trace_span,
};
pub use value::{SpanArrayElement, SpanValue};

/// The OpenTelemetry API crate this runtime is built on: use it through this re-export, so that
/// a second version never enters the build (two versions make the global provider a no-op).
pub use opentelemetry;
pub use opentelemetry::trace::SpanKind;
pub use opentelemetry::{Context, KeyValue};
/// The OpenTelemetry SDK crate this runtime is built on.
pub use opentelemetry_sdk;

#[doc = include_str!("traced.md")]
pub use t4dm_trace_macros::traced;
