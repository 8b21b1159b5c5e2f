//! Configuration: a builder, the environment (`T4DM_OTEL_*` and the standard `OTEL_*`
//! variables), and a `.env` file, resolved into one [`TracingConfig`].
//!
//! Precedence, highest first: values set on [`TracingConfigBuilder`], then `T4DM_OTEL_*`
//! variables, then `OTEL_*` variables, then defaults. Variables come from the process
//! environment, then from a `.env` file in the working directory (which never overrides a
//! variable already set). An empty variable counts as unset, as the OpenTelemetry
//! specification asks. A value that cannot be used is an [`InitError`] naming the variable and
//! the value: tracing never starts half-configured.

use crate::error::InitError;
use crate::pipeline::Pipeline;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanExporter;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `true` turns tracing on, `false` off (default: off, as the seed configuration has it).
pub const T4DM_OTEL_ENABLED: &str = "T4DM_OTEL_ENABLED";
/// The OTLP collector endpoint, such as `http://localhost:4317` (gRPC) or
/// `http://localhost:4318` (HTTP).
pub const T4DM_OTEL_ENDPOINT: &str = "T4DM_OTEL_ENDPOINT";
/// The `service.name` resource attribute.
pub const T4DM_OTEL_SERVICE_NAME: &str = "T4DM_OTEL_SERVICE_NAME";
/// The default service name when nothing names the service.
pub const T4DM_OTEL_SERVICE_NAME_DEFAULT: &str = "t4dm";
/// `true` prints every trace as a tree on standard error.
pub const T4DM_OTEL_CONSOLE: &str = "T4DM_OTEL_CONSOLE";
/// The OTLP protocol: `grpc`, `http/protobuf` or `http/json`.
pub const T4DM_OTEL_PROTOCOL: &str = "T4DM_OTEL_PROTOCOL";
/// The fraction of new traces to sample, from `0` to `1`, with parent-based sampling.
pub const T4DM_OTEL_SAMPLE_RATIO: &str = "T4DM_OTEL_SAMPLE_RATIO";

/// Standard: `true` disables the SDK (below `T4DM_OTEL_ENABLED`).
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Standard: the `service.name` resource attribute (below `T4DM_OTEL_SERVICE_NAME`).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Standard: `key=value,key2=value2` resource attributes, percent-decoded.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// Standard: which exporters to use, a comma-separated list of `otlp`, `zipkin`, `xray`,
/// `console` and `none`.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// Standard: the OTLP endpoint for every signal; `/v1/traces` is appended for HTTP.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Standard: the OTLP endpoint for traces, used as given.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Standard: the OTLP protocol for every signal.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Standard: the OTLP protocol for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Standard: `key=value,..` headers sent with every OTLP export (authentication).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Standard: headers for trace exports only.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Standard: a PEM file of CA certificates to trust for an `https` OTLP endpoint (besides the
/// public web roots).
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// Standard: the trusted CA certificates for trace exports only.
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// Standard: the OTLP export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Standard: the OTLP trace export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// Standard: `gzip` or `none`.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Standard: compression for trace exports only.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// Standard: the default OTLP export timeout.
pub const OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Standard: the Zipkin v2 spans endpoint.
pub const OTEL_EXPORTER_ZIPKIN_ENDPOINT: &str = "OTEL_EXPORTER_ZIPKIN_ENDPOINT";
/// The default Zipkin endpoint.
pub const OTEL_EXPORTER_ZIPKIN_ENDPOINT_DEFAULT: &str = "http://localhost:9411/api/v2/spans";
/// Standard: the Zipkin export timeout in milliseconds.
pub const OTEL_EXPORTER_ZIPKIN_TIMEOUT: &str = "OTEL_EXPORTER_ZIPKIN_TIMEOUT";
/// AWS: where the X-Ray daemon listens for segment documents over UDP: `host:port`, or the
/// daemon's two-address form `tcp:host:port udp:host:port` (the SDKs' and the daemon's variable).
pub const AWS_XRAY_DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The X-Ray daemon's default address.
pub const AWS_XRAY_DAEMON_ADDRESS_DEFAULT: &str = "127.0.0.1:2000";
/// Span attributes written as X-Ray annotations (indexed, searchable in the console), a
/// comma-separated list of keys such as `tool.name,user.id`; every other attribute goes in the
/// segment's metadata (default: none).
pub const T4DM_OTEL_XRAY_ANNOTATIONS: &str = "T4DM_OTEL_XRAY_ANNOTATIONS";
/// Standard: the sampler: `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
/// `parentbased_always_off` or `parentbased_traceidratio` (case-insensitive here).
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// Standard: the ratio for the `traceidratio` samplers, from `0` to `1`.
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// Standard: milliseconds between two batch exports.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Standard: milliseconds one batch export may take.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// Standard: how many spans may wait for export before new ones are dropped.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Standard: the most spans in one export.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";

/// The default time between two batch exports.
pub const OTEL_BSP_SCHEDULE_DELAY_DEFAULT: Duration = Duration::from_secs(5);
/// The default time one batch export may take.
pub const OTEL_BSP_EXPORT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// The default queue bound. Larger than the specification's 2,048 because the queue grows on
/// demand: memory is only used while a burst waits for export.
pub const OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT: usize = 131_072;
/// The default batch size (the seed's 512).
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT: usize = 512;
/// How long shutdown waits for the last exports by default.
pub const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
const TRACES_PATH: &str = "/v1/traces";

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over gRPC (port 4317 by convention).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318 by convention).
    HttpProtobuf,
    /// OTLP over HTTP with JSON bodies.
    HttpJson,
}

impl Protocol {
    const EXPECTED: &'static str = "`grpc`, `http/protobuf` or `http/json`";

    fn parse(text: &str) -> Option<Protocol> {
        match text.trim().to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    /// The name the `OTEL_EXPORTER_OTLP_PROTOCOL` variable uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compression of OTLP export bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// gzip.
    Gzip,
}

/// Which traces are recorded and exported.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// A fraction of traces, chosen by trace id, ignoring the parent's decision.
    TraceIdRatio(f64),
    /// Follow the parent's decision; record every new trace (the default).
    ParentBasedAlwaysOn,
    /// Follow the parent's decision; record no new trace.
    ParentBasedAlwaysOff,
    /// Follow the parent's decision; record this fraction of new traces.
    ParentBasedTraceIdRatio(f64),
}

/// Where and how OTLP exports go.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    pub(crate) endpoint: String,
    pub(crate) endpoint_setting: Cow<'static, str>,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Option<Compression>,
    /// A PEM file of extra CA certificates, with the variable that named it.
    pub(crate) certificate: Option<(&'static str, std::path::PathBuf)>,
}

impl OtlpSettings {
    /// The full URL exports are sent to (for HTTP, including `/v1/traces`).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The transport.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Headers sent with every export.
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// How long one export request may take.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The body compression, if any.
    #[must_use]
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The PEM file of extra trusted CA certificates, if any.
    #[must_use]
    pub fn certificate(&self) -> Option<&std::path::Path> {
        self.certificate.as_ref().map(|(_, path)| path.as_path())
    }
}

/// Where Zipkin exports go.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipkinSettings {
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
}

impl ZipkinSettings {
    /// The Zipkin v2 spans URL.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How long one export request may take.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Where X-Ray exports go, and which attributes become annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XraySettings {
    pub(crate) daemon_address: String,
    pub(crate) annotations: Vec<String>,
}

impl XraySettings {
    /// The daemon's UDP address, `host:port`.
    #[must_use]
    pub fn daemon_address(&self) -> &str {
        &self.daemon_address
    }

    /// The span attributes written as indexed annotations.
    #[must_use]
    pub fn annotations(&self) -> &[String] {
        &self.annotations
    }
}

/// An exporter given in code (`TracingConfigBuilder::with_span_exporter`), started at init.
#[derive(Clone)]
pub(crate) struct CustomExporter {
    pub(crate) name: &'static str,
    pub(crate) spawn: Arc<Mutex<Option<SpawnExporter>>>,
}

/// Starts a custom exporter's pipeline: taken once, by `init_tracing`.
pub(crate) type SpawnExporter =
    Box<dyn FnOnce(BatchSettings, &Resource) -> Result<Arc<Pipeline>, InitError> + Send>;

impl fmt::Debug for CustomExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CustomExporter").field(&self.name).finish()
    }
}

impl PartialEq for CustomExporter {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.spawn, &other.spawn)
    }
}

/// The export queue and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) scheduled_delay: Duration,
    pub(crate) export_timeout: Duration,
}

impl BatchSettings {
    /// Spans that may wait for export before new ones are dropped (and counted).
    #[must_use]
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }

    /// The most spans in one export.
    #[must_use]
    pub fn max_export_batch_size(&self) -> usize {
        self.max_export_batch_size
    }

    /// The longest a span waits before an export starts.
    #[must_use]
    pub fn scheduled_delay(&self) -> Duration {
        self.scheduled_delay
    }

    /// How long one export may take.
    #[must_use]
    pub fn export_timeout(&self) -> Duration {
        self.export_timeout
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_queue_size: OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT,
            max_export_batch_size: OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT,
            scheduled_delay: OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
            export_timeout: OTEL_BSP_EXPORT_TIMEOUT_DEFAULT,
        }
    }
}

/// The resolved configuration `init_tracing` starts from.
///
/// Build one with [`TracingConfig::from_env`] (what a service does),
/// [`TracingConfig::builder`], or [`TracingConfig::from_lookup`] in tests.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::TracingConfig;
///
/// let config = TracingConfig::builder()
///     .with_service_name("episodic-memory")
///     .from_lookup(|name| match name {
///         "T4DM_OTEL_ENABLED" => Some("true".into()),
///         "T4DM_OTEL_ENDPOINT" => Some("http://collector:4317".into()),
///         _ => None,
///     })
///     .unwrap();
/// assert!(config.enabled());
/// assert_eq!(config.service_name(), "episodic-memory");
/// assert_eq!(config.otlp().unwrap().endpoint(), "http://collector:4317");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    pub(crate) enabled: bool,
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) console: bool,
    pub(crate) otlp: Option<OtlpSettings>,
    pub(crate) zipkin: Option<ZipkinSettings>,
    pub(crate) xray: Option<XraySettings>,
    pub(crate) sampler: SamplerConfig,
    pub(crate) batch: BatchSettings,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) custom_exporters: Vec<CustomExporter>,
    pub(crate) propagation: crate::propagation::PropagationSettings,
    pub(crate) metrics: crate::metrics::MetricsSettings,
}

impl TracingConfig {
    /// A builder whose values take precedence over the environment.
    #[must_use]
    pub fn builder() -> TracingConfigBuilder {
        TracingConfigBuilder::default()
    }

    /// The configuration from the process environment and `.env`.
    ///
    /// # Errors
    ///
    /// An [`InitError`] naming the first variable whose value cannot be used, or the `.env`
    /// file if it cannot be parsed.
    pub fn from_env() -> Result<TracingConfig, InitError> {
        TracingConfig::builder().from_env()
    }

    /// The configuration from `lookup` alone: a pure function, so tests need not touch the
    /// process environment.
    ///
    /// # Errors
    ///
    /// An [`InitError`] naming the first variable whose value cannot be used.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TracingConfig, InitError> {
        TracingConfig::builder().from_lookup(lookup)
    }

    /// Whether tracing records anything.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The `service.name` resource attribute.
    #[must_use]
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The `service.version` resource attribute, if given.
    #[must_use]
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// Other resource attributes (`OTEL_RESOURCE_ATTRIBUTES` and the builder's).
    #[must_use]
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource_attributes
    }

    /// Whether traces are printed on standard error.
    #[must_use]
    pub fn console(&self) -> bool {
        self.console
    }

    /// The OTLP export, if on.
    #[must_use]
    pub fn otlp(&self) -> Option<&OtlpSettings> {
        self.otlp.as_ref()
    }

    /// The Zipkin export, if on.
    #[must_use]
    pub fn zipkin(&self) -> Option<&ZipkinSettings> {
        self.zipkin.as_ref()
    }

    /// The X-Ray export, if on.
    #[must_use]
    pub fn xray(&self) -> Option<&XraySettings> {
        self.xray.as_ref()
    }

    /// Whether new trace ids must be X-Ray trace ids (their first 32 bits the epoch seconds):
    /// true when spans are exported to X-Ray, which refuses other trace ids.
    pub(crate) fn xray_trace_ids(&self) -> bool {
        self.xray.is_some()
    }

    /// The sampler.
    #[must_use]
    pub fn sampler(&self) -> SamplerConfig {
        self.sampler
    }

    /// The export queue and batches.
    #[must_use]
    pub fn batch(&self) -> BatchSettings {
        self.batch
    }

    /// How long shutdown waits for the last exports.
    #[must_use]
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// The span metrics: on or off, and where they go.
    #[must_use]
    pub fn metrics(&self) -> &crate::metrics::MetricsSettings {
        &self.metrics
    }

    /// Checks what the builder gave without the environment (`build` cannot fail).
    pub(crate) fn validate(&self) -> Result<(), InitError> {
        if let Some(otlp) = &self.otlp {
            validate_url(&otlp.endpoint_setting, &otlp.endpoint)?;
        }
        if let Some(zipkin) = &self.zipkin {
            validate_url(OTEL_EXPORTER_ZIPKIN_ENDPOINT, &zipkin.endpoint)?;
        }
        Ok(())
    }
}

/// Values set in code; each takes precedence over the variables its method names.
#[derive(Debug, Clone, Default)]
pub struct TracingConfigBuilder {
    enabled: Option<bool>,
    service_name: Option<String>,
    service_version: Option<String>,
    resource_attributes: Vec<(String, String)>,
    console: Option<bool>,
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    sampler: Option<SamplerConfig>,
    shutdown_timeout: Option<Duration>,
    development_defaults: bool,
    custom_exporters: Vec<CustomExporter>,
    pub(crate) propagation: crate::propagation::PropagationOverrides,
    metrics: Option<bool>,
}

impl TracingConfigBuilder {
    /// Turns tracing on or off, over `T4DM_OTEL_ENABLED` and `OTEL_SDK_DISABLED`.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Names the service, over `T4DM_OTEL_SERVICE_NAME` and `OTEL_SERVICE_NAME`.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Sets `service.version`, over `OTEL_RESOURCE_ATTRIBUTES`.
    #[must_use]
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Adds a resource attribute, over the same key in `OTEL_RESOURCE_ATTRIBUTES`.
    #[must_use]
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// Prints traces on standard error, over `T4DM_OTEL_CONSOLE`.
    #[must_use]
    pub fn with_console(mut self, console: bool) -> Self {
        self.console = Some(console);
        self
    }

    /// Exports over OTLP to `endpoint`, over `T4DM_OTEL_ENDPOINT` and the
    /// `OTEL_EXPORTER_OTLP_*ENDPOINT` variables. Checked by `init_tracing`.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Chooses the OTLP transport, over `T4DM_OTEL_PROTOCOL` and
    /// `OTEL_EXPORTER_OTLP_*PROTOCOL`.
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Chooses the sampler, over `T4DM_OTEL_SAMPLE_RATIO` and `OTEL_TRACES_SAMPLER`.
    #[must_use]
    pub fn with_sampler(mut self, sampler: SamplerConfig) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Turns span metrics on or off (`T4DM_OTEL_METRICS`; default on whenever tracing is
    /// enabled with an exporter).
    #[must_use]
    pub fn with_metrics(mut self, enabled: bool) -> Self {
        self.metrics = Some(enabled);
        self
    }

    /// Bounds how long shutdown waits for the last exports (default 5 s).
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Adds an exporter of your own, fed by its own batch pipeline and export thread like the
    /// built-in ones (and counted under `name` in [`tracing_stats`](crate::tracing_stats)).
    /// With one given, no OTLP export is started unless an endpoint is configured.
    ///
    /// # Example
    ///
    /// ```
    /// use t4dm_trace_runtime::TracingConfig;
    /// use t4dm_trace_runtime::opentelemetry_sdk::error::OTelSdkResult;
    /// use t4dm_trace_runtime::opentelemetry_sdk::trace::{SpanData, SpanExporter};
    ///
    /// /// Prints each span's name.
    /// #[derive(Debug)]
    /// struct Names;
    ///
    /// impl SpanExporter for Names {
    ///     async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
    ///         batch.iter().for_each(|span| println!("{}", span.name));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = TracingConfig::builder()
    ///     .with_enabled(true)
    ///     .with_span_exporter("names", Names)
    ///     .build();
    /// assert!(config.otlp().is_none());
    /// ```
    #[must_use]
    pub fn with_span_exporter<E>(mut self, name: &'static str, exporter: E) -> Self
    where
        E: SpanExporter + 'static,
    {
        let spawn: SpawnExporter = Box::new(move |batch, resource: &Resource| {
            let resource = resource.clone();
            Pipeline::spawn(name, batch, move || {
                let mut exporter = exporter;
                exporter.set_resource(&resource);
                Ok(exporter)
            })
        });
        self.custom_exporters.push(CustomExporter {
            name,
            spawn: Arc::new(Mutex::new(Some(spawn))),
        });
        self
    }

    /// For demos and local development: when the environment does not say otherwise, tracing
    /// is on, and traces are printed on standard error unless an OTLP endpoint is configured.
    #[must_use]
    pub fn with_development_defaults(mut self) -> Self {
        self.development_defaults = true;
        self
    }

    /// The configuration from the builder's values and defaults alone, without the
    /// environment. Values are checked by `init_tracing`.
    #[must_use]
    pub fn build(self) -> TracingConfig {
        // Without an environment no variable can be malformed, so resolution cannot fail;
        // endpoint URLs are checked by `init_tracing` through `TracingConfig::validate`.
        resolve_fields(self, &Env::empty()).unwrap_or_else(|_| unresolvable_defaults())
    }

    /// The configuration from the builder, the process environment and `.env`.
    ///
    /// # Errors
    ///
    /// An [`InitError`] naming the first variable whose value cannot be used, or the `.env`
    /// file if it cannot be parsed.
    pub fn from_env(self) -> Result<TracingConfig, InitError> {
        let dotenv = read_dotenv()?;
        let lookup = |name: &str| {
            std::env::var(name)
                .ok()
                .or_else(|| dotenv.get(name).cloned())
        };
        self.from_lookup(lookup)
    }

    /// The configuration from the builder and `lookup` alone.
    ///
    /// # Errors
    ///
    /// An [`InitError`] naming the first variable whose value cannot be used.
    pub fn from_lookup(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TracingConfig, InitError> {
        let config = resolve_fields(self, &Env::new(&lookup))?;
        config.validate()?;
        Ok(config)
    }
}

fn unresolvable_defaults() -> TracingConfig {
    TracingConfig {
        enabled: false,
        service_name: T4DM_OTEL_SERVICE_NAME_DEFAULT.to_owned(),
        service_version: None,
        resource_attributes: Vec::new(),
        console: false,
        otlp: None,
        zipkin: None,
        xray: None,
        sampler: SamplerConfig::ParentBasedAlwaysOn,
        batch: BatchSettings::default(),
        shutdown_timeout: SHUTDOWN_TIMEOUT_DEFAULT,
        custom_exporters: Vec::new(),
        propagation: crate::propagation::PropagationSettings::default(),
        metrics: crate::metrics::MetricsSettings::default(),
    }
}

fn read_dotenv() -> Result<HashMap<String, String>, InitError> {
    let path = std::path::PathBuf::from(".env");
    let iter = match dotenvy::from_path_iter(&path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HashMap::new());
        }
        Err(source) => return Err(InitError::DotEnv { path, source }),
    };
    let mut values = HashMap::new();
    for item in iter {
        let (key, value) = item.map_err(|source| InitError::DotEnv {
            path: path.clone(),
            source,
        })?;
        values.insert(key, value);
    }
    Ok(values)
}

/// A variable lookup: the process environment, `.env`, or a test's map.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The environment as one lookup function, with the specification's parsing rules.
struct Env<'a> {
    lookup: Option<Lookup<'a>>,
}

impl<'a> Env<'a> {
    fn new(lookup: Lookup<'a>) -> Self {
        Env {
            lookup: Some(lookup),
        }
    }

    fn empty() -> Self {
        Env { lookup: None }
    }

    /// The variable's value; empty or blank counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        let value = (self.lookup?)(name)?;
        if value.trim().is_empty() {
            None
        } else {
            Some(value)
        }
    }

    /// A boolean: `true`/`false` in any case, or `1`/`0`.
    fn bool(&self, name: &'static str) -> Result<Option<bool>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(InitError::invalid(name, value, "`true` or `false`")),
        }
    }

    /// A positive integer.
    fn count(&self, name: &'static str) -> Result<Option<usize>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.trim().parse::<usize>() {
            Ok(count) if count > 0 => Ok(Some(count)),
            _ => Err(InitError::invalid(name, value, "a positive integer")),
        }
    }

    /// A duration in milliseconds.
    fn millis(&self, name: &'static str) -> Result<Option<Duration>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.trim().parse::<u64>() {
            Ok(millis) => Ok(Some(Duration::from_millis(millis))),
            Err(_) => Err(InitError::invalid(
                name,
                value,
                "a whole number of milliseconds",
            )),
        }
    }

    /// A ratio from 0 to 1.
    fn ratio(&self, name: &'static str) -> Result<Option<f64>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        parse_ratio(&value)
            .map(Some)
            .ok_or_else(|| InitError::invalid(name, value, "a number from 0 to 1"))
    }

    /// The first of `names` that is set, with its name.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|name| self.get(name).map(|value| (*name, value)))
    }
}

fn parse_ratio(text: &str) -> Option<f64> {
    let ratio: f64 = text.trim().parse().ok()?;
    (0.0..=1.0).contains(&ratio).then_some(ratio)
}

/// Where the OTLP endpoint came from, which decides whether `/v1/traces` is appended.
enum EndpointSource {
    /// Builder or `T4DM_OTEL_ENDPOINT`: the collector's address; a bare address gets the
    /// signal path for HTTP.
    Address,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: a base URL; HTTP always appends `/v1/traces`.
    Base,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: used exactly as given.
    Exact,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExporterName {
    Otlp,
    Zipkin,
    Xray,
    Console,
    None,
}

/// Every setting from the builder, the environment and defaults; endpoint URLs are checked
/// separately by [`TracingConfig::validate`].
fn resolve_fields(
    builder: TracingConfigBuilder,
    env: &Env<'_>,
) -> Result<TracingConfig, InitError> {
    let enabled = match builder.enabled {
        Some(enabled) => enabled,
        None => match env.bool(T4DM_OTEL_ENABLED)? {
            Some(enabled) => enabled,
            None => match env.bool(OTEL_SDK_DISABLED)? {
                Some(disabled) => !disabled,
                None => builder.development_defaults,
            },
        },
    };

    let mut resource_attributes = match env.get(OTEL_RESOURCE_ATTRIBUTES) {
        Some(text) => parse_key_values(OTEL_RESOURCE_ATTRIBUTES, &text)?,
        None => Vec::new(),
    };
    for (key, value) in builder.resource_attributes {
        resource_attributes.retain(|(existing, _)| *existing != key);
        resource_attributes.push((key, value));
    }
    let take_resource = |attributes: &mut Vec<(String, String)>, key: &str| {
        let position = attributes.iter().position(|(name, _)| name == key)?;
        Some(attributes.remove(position).1)
    };
    let resource_service_name = take_resource(&mut resource_attributes, "service.name");
    let resource_service_version = take_resource(&mut resource_attributes, "service.version");
    let service_name = builder
        .service_name
        .or_else(|| env.get(T4DM_OTEL_SERVICE_NAME))
        .or_else(|| env.get(OTEL_SERVICE_NAME))
        .or(resource_service_name)
        .unwrap_or_else(|| T4DM_OTEL_SERVICE_NAME_DEFAULT.to_owned());
    let service_version = builder.service_version.or(resource_service_version);

    let Exporters {
        console,
        otlp,
        zipkin,
        xray,
    } = resolve_exporters(
        builder.endpoint,
        builder.console,
        builder.protocol,
        builder.development_defaults,
        !builder.custom_exporters.is_empty(),
        env,
    )?;

    let sampler = match builder.sampler {
        Some(sampler) => sampler,
        None => resolve_sampler(env)?,
    };

    let batch = resolve_batch(env)?;

    let metrics = crate::metrics::resolve_settings(
        &crate::metrics::TraceSide {
            enabled,
            otlp: otlp.as_ref(),
            console,
            builder_enabled: builder.metrics,
        },
        &|name| env.get(name),
    )?;

    Ok(TracingConfig {
        enabled,
        service_name,
        service_version,
        resource_attributes,
        console,
        otlp,
        zipkin,
        xray,
        sampler,
        batch,
        shutdown_timeout: builder.shutdown_timeout.unwrap_or(SHUTDOWN_TIMEOUT_DEFAULT),
        custom_exporters: builder.custom_exporters,
        propagation: builder.propagation.resolve(&|name| env.get(name))?,
        metrics,
    })
}

/// The exporters chosen, each with its settings.
struct Exporters {
    console: bool,
    otlp: Option<OtlpSettings>,
    zipkin: Option<ZipkinSettings>,
    xray: Option<XraySettings>,
}

/// Which exporters run: the builder's endpoint and console switch, then `T4DM_*`, then
/// `OTEL_TRACES_EXPORTER` and the OTLP endpoint variables; OTLP when nothing else is chosen.
fn resolve_exporters(
    builder_endpoint: Option<String>,
    builder_console: Option<bool>,
    builder_protocol: Option<Protocol>,
    development_defaults: bool,
    has_custom_exporters: bool,
    env: &Env<'_>,
) -> Result<Exporters, InitError> {
    let exporters = match env.get(OTEL_TRACES_EXPORTER) {
        Some(text) => Some(parse_exporters(&text)?),
        None => None,
    };
    let listed = |name: ExporterName| exporters.as_ref().is_some_and(|list| list.contains(&name));

    let endpoint = match builder_endpoint {
        Some(endpoint) => Some((
            Cow::Borrowed("TracingConfigBuilder::with_endpoint"),
            endpoint,
            EndpointSource::Address,
        )),
        None => [
            (T4DM_OTEL_ENDPOINT, EndpointSource::Address),
            (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, EndpointSource::Exact),
            (OTEL_EXPORTER_OTLP_ENDPOINT, EndpointSource::Base),
        ]
        .into_iter()
        .find_map(|(name, source)| {
            env.get(name)
                .map(|value| (Cow::Borrowed(name), value, source))
        }),
    };
    let explicit_endpoint = endpoint.as_ref().is_some_and(|(setting, _, _)| {
        *setting != OTEL_EXPORTER_OTLP_ENDPOINT && *setting != OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    });

    let console = match builder_console {
        Some(console) => console,
        None => match env.bool(T4DM_OTEL_CONSOLE)? {
            Some(console) => console,
            None => listed(ExporterName::Console) || (development_defaults && endpoint.is_none()),
        },
    };

    let wants_otlp = explicit_endpoint
        || listed(ExporterName::Otlp)
        || (exporters.is_none() && (endpoint.is_some() || !(console || has_custom_exporters)));
    let otlp = if wants_otlp {
        Some(resolve_otlp(endpoint, builder_protocol, env)?)
    } else {
        None
    };

    let zipkin = if listed(ExporterName::Zipkin) {
        let endpoint = env
            .get(OTEL_EXPORTER_ZIPKIN_ENDPOINT)
            .unwrap_or_else(|| OTEL_EXPORTER_ZIPKIN_ENDPOINT_DEFAULT.to_owned());
        Some(ZipkinSettings {
            endpoint,
            timeout: env
                .millis(OTEL_EXPORTER_ZIPKIN_TIMEOUT)?
                .unwrap_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT),
        })
    } else {
        None
    };

    let xray = if listed(ExporterName::Xray) {
        Some(resolve_xray(env)?)
    } else {
        None
    };

    Ok(Exporters {
        console,
        otlp,
        zipkin,
        xray,
    })
}

fn resolve_xray(env: &Env<'_>) -> Result<XraySettings, InitError> {
    let daemon_address = match env.get(AWS_XRAY_DAEMON_ADDRESS) {
        Some(text) => parse_daemon_address(&text).ok_or_else(|| {
            InitError::invalid(
                AWS_XRAY_DAEMON_ADDRESS,
                text,
                "`host:port` such as `127.0.0.1:2000`, or `tcp:host:port udp:host:port`",
            )
        })?,
        None => AWS_XRAY_DAEMON_ADDRESS_DEFAULT.to_owned(),
    };
    let mut annotations: Vec<String> = Vec::new();
    if let Some(text) = env.get(T4DM_OTEL_XRAY_ANNOTATIONS) {
        for key in text.split(',').map(str::trim).filter(|key| !key.is_empty()) {
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(InitError::invalid(
                    T4DM_OTEL_XRAY_ANNOTATIONS,
                    text,
                    "a comma-separated list of attribute keys such as `tool.name,user.id`",
                ));
            }
            if !annotations.iter().any(|existing| existing == key) {
                annotations.push(key.to_owned());
            }
        }
    }
    Ok(XraySettings {
        daemon_address,
        annotations,
    })
}

/// The UDP `host:port` of `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, `udp:host:port`, or the pair
/// `tcp:host:port udp:host:port` in either order.
fn parse_daemon_address(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let address = match tokens.as_slice() {
        [single] if !single.starts_with("tcp:") => single.strip_prefix("udp:").unwrap_or(single),
        [first, second] => {
            let (tcp, udp) = if first.starts_with("tcp:") {
                (first, second)
            } else {
                (second, first)
            };
            tcp.strip_prefix("tcp:")?;
            udp.strip_prefix("udp:")?
        }
        _ => return None,
    };
    let (host, port) = address.rsplit_once(':')?;
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']') && host.len() > 2
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    let port_ok = port.parse::<u16>().is_ok_and(|port| port > 0);
    (host_ok && port_ok).then(|| address.to_owned())
}

fn resolve_otlp(
    endpoint: Option<(Cow<'static, str>, String, EndpointSource)>,
    builder_protocol: Option<Protocol>,
    env: &Env<'_>,
) -> Result<OtlpSettings, InitError> {
    let protocol = match builder_protocol {
        Some(protocol) => Some(protocol),
        None => match env.first(&[
            T4DM_OTEL_PROTOCOL,
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            OTEL_EXPORTER_OTLP_PROTOCOL,
        ]) {
            Some((name, value)) => Some(
                Protocol::parse(&value)
                    .ok_or_else(|| InitError::invalid(name, value, Protocol::EXPECTED))?,
            ),
            None => None,
        },
    };
    let (setting, endpoint, protocol) = if let Some((setting, value, source)) = endpoint {
        {
            let uri: Option<http::Uri> = value.trim().parse().ok();
            let protocol = protocol.unwrap_or_else(|| infer_protocol(uri.as_ref()));
            let endpoint = match (protocol, source) {
                (Protocol::Grpc, _) | (_, EndpointSource::Exact) => value,
                (_, EndpointSource::Base) => append_traces_path(&value),
                (_, EndpointSource::Address) => {
                    if uri.is_some_and(|uri| uri.path().trim_end_matches('/').is_empty()) {
                        append_traces_path(&value)
                    } else {
                        value
                    }
                }
            };
            (setting, endpoint, protocol)
        }
    } else {
        {
            let protocol = protocol.unwrap_or(Protocol::Grpc);
            let endpoint = match protocol {
                Protocol::Grpc => DEFAULT_GRPC_ENDPOINT.to_owned(),
                Protocol::HttpProtobuf | Protocol::HttpJson => {
                    format!("{DEFAULT_HTTP_ENDPOINT}{TRACES_PATH}")
                }
            };
            (Cow::Borrowed("default endpoint"), endpoint, protocol)
        }
    };
    let headers = match env.first(&[
        OTEL_EXPORTER_OTLP_TRACES_HEADERS,
        OTEL_EXPORTER_OTLP_HEADERS,
    ]) {
        Some((name, text)) => parse_key_values(name, &text)?,
        None => Vec::new(),
    };
    let timeout = match env.get(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT) {
        Some(_) => env.millis(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT)?,
        None => env.millis(OTEL_EXPORTER_OTLP_TIMEOUT)?,
    }
    .unwrap_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT);
    let compression = match env.first(&[
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
        OTEL_EXPORTER_OTLP_COMPRESSION,
    ]) {
        Some((name, value)) => match value.trim().to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" => None,
            _ => return Err(InitError::invalid(name, value, "`gzip` or `none`")),
        },
        None => None,
    };
    let certificate = env
        .first(&[
            OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
            OTEL_EXPORTER_OTLP_CERTIFICATE,
        ])
        .map(|(name, path)| (name, std::path::PathBuf::from(path)));
    Ok(OtlpSettings {
        endpoint,
        endpoint_setting: setting,
        protocol,
        headers,
        timeout,
        compression,
        certificate,
    })
}

/// gRPC unless the address says HTTP: port 4318 or a `/v1/traces` path.
fn infer_protocol(uri: Option<&http::Uri>) -> Protocol {
    let Some(uri) = uri else {
        return Protocol::Grpc;
    };
    if uri.port_u16() == Some(4318) || uri.path().trim_end_matches('/').ends_with(TRACES_PATH) {
        Protocol::HttpProtobuf
    } else {
        Protocol::Grpc
    }
}

fn append_traces_path(base: &str) -> String {
    format!("{}{TRACES_PATH}", base.trim_end_matches('/'))
}

/// An absolute `http` or `https` URL with a host.
pub(crate) fn validate_url(setting: &str, value: &str) -> Result<http::Uri, InitError> {
    let expected = "an absolute `http://` or `https://` URL such as `http://localhost:4317`";
    let invalid = || InitError::invalid(setting.to_owned(), value, expected);
    let uri: http::Uri = value.trim().parse().map_err(|_| invalid())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(uri)
}

fn parse_exporters(text: &str) -> Result<Vec<ExporterName>, InitError> {
    text.split(',')
        .map(|name| match name.trim().to_ascii_lowercase().as_str() {
            "otlp" => Ok(ExporterName::Otlp),
            "zipkin" => Ok(ExporterName::Zipkin),
            "xray" => Ok(ExporterName::Xray),
            "console" => Ok(ExporterName::Console),
            "none" => Ok(ExporterName::None),
            _ => Err(InitError::invalid(
                OTEL_TRACES_EXPORTER,
                text,
                "a comma-separated list of `otlp`, `zipkin`, `xray`, `console` and `none`",
            )),
        })
        .collect()
}

fn resolve_sampler(env: &Env<'_>) -> Result<SamplerConfig, InitError> {
    if let Some(ratio) = env.ratio(T4DM_OTEL_SAMPLE_RATIO)? {
        return Ok(SamplerConfig::ParentBasedTraceIdRatio(ratio));
    }
    let Some(name) = env.get(OTEL_TRACES_SAMPLER) else {
        return Ok(SamplerConfig::ParentBasedAlwaysOn);
    };
    let ratio =
        || -> Result<f64, InitError> { Ok(env.ratio(OTEL_TRACES_SAMPLER_ARG)?.unwrap_or(1.0)) };
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio()?),
        _ => {
            return Err(InitError::invalid(
                OTEL_TRACES_SAMPLER,
                name,
                "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, \
                 `parentbased_always_off` or `parentbased_traceidratio`",
            ));
        }
    })
}

fn resolve_batch(env: &Env<'_>) -> Result<BatchSettings, InitError> {
    let defaults = BatchSettings::default();
    let batch = BatchSettings {
        max_queue_size: env
            .count(OTEL_BSP_MAX_QUEUE_SIZE)?
            .unwrap_or(defaults.max_queue_size),
        max_export_batch_size: env
            .count(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)?
            .unwrap_or(defaults.max_export_batch_size),
        scheduled_delay: env
            .millis(OTEL_BSP_SCHEDULE_DELAY)?
            .unwrap_or(defaults.scheduled_delay),
        export_timeout: env
            .millis(OTEL_BSP_EXPORT_TIMEOUT)?
            .unwrap_or(defaults.export_timeout),
    };
    if batch.max_export_batch_size > batch.max_queue_size {
        return Err(InitError::invalid(
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            batch.max_export_batch_size.to_string(),
            format!(
                "at most `OTEL_BSP_MAX_QUEUE_SIZE` ({})",
                batch.max_queue_size
            ),
        ));
    }
    Ok(batch)
}

/// `key=value,key2=value2`, percent-decoded, as `OTEL_RESOURCE_ATTRIBUTES` and the OTLP
/// headers variables are written.
pub(crate) fn parse_key_values(
    name: &'static str,
    text: &str,
) -> Result<Vec<(String, String)>, InitError> {
    let mut pairs = Vec::new();
    for member in text.split(',') {
        if member.trim().is_empty() {
            continue;
        }
        let invalid = || {
            InitError::invalid(
                name,
                text,
                "comma-separated `key=value` pairs, percent-encoded where needed",
            )
        };
        let (key, value) = member.split_once('=').ok_or_else(invalid)?;
        let key = percent_decode(key.trim()).ok_or_else(invalid)?;
        let value = percent_decode(value.trim()).ok_or_else(invalid)?;
        if key.is_empty() {
            return Err(invalid());
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Strict percent-decoding: a `%` must start an escape of two hex digits, and the result UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(index, byte)| {
        *byte != b'%'
            || bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}
