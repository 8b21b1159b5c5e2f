//! The span metrics' settings: `T4DM_OTEL_METRICS`, the exemplar filter, the Prometheus
//! address, and the OTLP metrics export (shared with the trace export unless a
//! `OTEL_EXPORTER_OTLP_METRICS_*` variable says otherwise).

use crate::config::{Compression, OtlpSettings, Protocol};
use crate::error::InitError;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

/// `true`/`false`: span metrics on or off (on by default whenever tracing is enabled with an
/// exporter).
pub const T4DM_OTEL_METRICS: &str = "T4DM_OTEL_METRICS";
/// The address of a Prometheus scrape endpoint (`GET /metrics`), such as `127.0.0.1:9464`.
pub const T4DM_OTEL_PROMETHEUS_ADDR: &str = "T4DM_OTEL_PROMETHEUS_ADDR";
/// `trace_based` (default), `always_on` or `always_off`: which spans may become exemplars.
pub const OTEL_METRICS_EXEMPLAR_FILTER: &str = "OTEL_METRICS_EXEMPLAR_FILTER";
/// Milliseconds between OTLP metrics exports.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// The default of [`OTEL_METRIC_EXPORT_INTERVAL`]: 60 seconds.
pub const OTEL_METRIC_EXPORT_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Milliseconds one OTLP metrics export may take.
pub const OTEL_METRIC_EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// The metrics endpoint, used exactly as given.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// The metrics transport: `grpc`, `http/protobuf` or `http/json`.
pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// Headers of metrics exports only.
pub const OTEL_EXPORTER_OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// Milliseconds one metrics export request may take.
pub const OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// `gzip` or `none`, for metrics exports only.
pub const OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// A PEM file of extra CA certificates, for metrics exports only.
pub const OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE";
/// `cumulative` (default), `delta` or `lowmemory`.
pub const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";

const METRICS_PATH: &str = "/v1/metrics";
const TRACES_PATH: &str = "/v1/traces";

/// Which spans may become exemplars (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExemplarFilter {
    /// Only spans of sampled traces: every exemplar points at a trace that was exported.
    #[default]
    TraceBased,
    /// Every span, sampled or not.
    AlwaysOn,
    /// None.
    AlwaysOff,
}

/// Whether OTLP metrics are cumulative or deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Temporality {
    /// Totals since the start (the default, and what Prometheus expects).
    #[default]
    Cumulative,
    /// What changed since the previous export (`delta` and `lowmemory` ask for this for
    /// counters and histograms).
    Delta,
}

/// Span metrics: on or off, and where they go.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    pub(crate) enabled: bool,
    pub(crate) exemplar_filter: ExemplarFilter,
    pub(crate) temporality: Temporality,
    pub(crate) interval: Duration,
    pub(crate) otlp: Option<OtlpSettings>,
    pub(crate) prometheus: Option<SocketAddr>,
    pub(crate) cardinality_limit: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: false,
            exemplar_filter: ExemplarFilter::TraceBased,
            temporality: Temporality::Cumulative,
            interval: OTEL_METRIC_EXPORT_INTERVAL_DEFAULT,
            otlp: None,
            prometheus: None,
            cardinality_limit: super::registry::DEFAULT_CARDINALITY_LIMIT,
        }
    }
}

impl MetricsSettings {
    /// Whether span metrics are recorded.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Which spans may become exemplars.
    #[must_use]
    pub fn exemplar_filter(&self) -> ExemplarFilter {
        self.exemplar_filter
    }

    /// Cumulative or delta OTLP metrics.
    #[must_use]
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    /// The time between OTLP metrics exports.
    #[must_use]
    pub fn export_interval(&self) -> Duration {
        self.interval
    }

    /// Where OTLP metrics go, if anywhere.
    #[must_use]
    pub fn otlp(&self) -> Option<&OtlpSettings> {
        self.otlp.as_ref()
    }

    /// The Prometheus scrape endpoint's address, if any.
    #[must_use]
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.prometheus
    }

    /// The most distinct attribute sets per metric before the overflow series.
    #[must_use]
    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }
}

/// What the trace configuration says that the metrics depend on.
pub(crate) struct TraceSide<'a> {
    pub(crate) enabled: bool,
    pub(crate) otlp: Option<&'a OtlpSettings>,
    pub(crate) console: bool,
    pub(crate) builder_enabled: Option<bool>,
}

/// Resolves the metrics settings; `get` reads a variable (empty counts as unset).
pub(crate) fn resolve(
    trace: &TraceSide<'_>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<MetricsSettings, InitError> {
    let bool_var = |name: &'static str| -> Result<Option<bool>, InitError> {
        let Some(value) = get(name) else {
            return Ok(None);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(InitError::invalid(name, value, "`true` or `false`")),
        }
    };
    let millis = |name: &'static str| -> Result<Option<Duration>, InitError> {
        let Some(value) = get(name) else {
            return Ok(None);
        };
        match value.trim().parse::<u64>() {
            Ok(millis) if millis > 0 => Ok(Some(Duration::from_millis(millis))),
            _ => Err(InitError::invalid(
                name,
                value,
                "a positive whole number of milliseconds",
            )),
        }
    };
    let switched_on = match trace.builder_enabled {
        Some(on) => on,
        None => bool_var(T4DM_OTEL_METRICS)?.unwrap_or(true),
    };
    let exemplar_filter = match get(OTEL_METRICS_EXEMPLAR_FILTER) {
        None => ExemplarFilter::TraceBased,
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "trace_based" => ExemplarFilter::TraceBased,
            "always_on" => ExemplarFilter::AlwaysOn,
            "always_off" => ExemplarFilter::AlwaysOff,
            _ => {
                return Err(InitError::invalid(
                    OTEL_METRICS_EXEMPLAR_FILTER,
                    value,
                    "`trace_based`, `always_on` or `always_off`",
                ));
            }
        },
    };
    let temporality = match get(OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE) {
        None => Temporality::Cumulative,
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Temporality::Cumulative,
            "delta" | "lowmemory" => Temporality::Delta,
            _ => {
                return Err(InitError::invalid(
                    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
                    value,
                    "`cumulative`, `delta` or `lowmemory`",
                ));
            }
        },
    };
    let interval =
        millis(OTEL_METRIC_EXPORT_INTERVAL)?.unwrap_or(OTEL_METRIC_EXPORT_INTERVAL_DEFAULT);
    let prometheus = match get(T4DM_OTEL_PROMETHEUS_ADDR) {
        None => None,
        Some(value) => Some(value.trim().parse::<SocketAddr>().map_err(|_| {
            InitError::invalid(
                T4DM_OTEL_PROMETHEUS_ADDR,
                value,
                "a socket address such as `127.0.0.1:9464`",
            )
        })?),
    };
    let otlp = match trace.otlp {
        Some(otlp) => Some(metrics_otlp(otlp, get, &millis)?),
        None => None,
    };
    let export_timeout = millis(OTEL_METRIC_EXPORT_TIMEOUT)?;
    let otlp = otlp.map(|mut otlp| {
        if let Some(timeout) = export_timeout {
            otlp.timeout = otlp.timeout.min(timeout);
        }
        otlp
    });
    let has_sink = otlp.is_some() || prometheus.is_some() || trace.console;
    Ok(MetricsSettings {
        enabled: trace.enabled && switched_on && has_sink,
        exemplar_filter,
        temporality,
        interval,
        otlp,
        prometheus,
        cardinality_limit: super::registry::DEFAULT_CARDINALITY_LIMIT,
    })
}

/// The trace export's settings, with `/v1/metrics` for `/v1/traces` and any
/// `OTEL_EXPORTER_OTLP_METRICS_*` variable applied.
fn metrics_otlp(
    trace: &OtlpSettings,
    get: &dyn Fn(&str) -> Option<String>,
    millis: &dyn Fn(&'static str) -> Result<Option<Duration>, InitError>,
) -> Result<OtlpSettings, InitError> {
    let mut otlp = trace.clone();
    if let Some(value) = get(OTEL_EXPORTER_OTLP_METRICS_PROTOCOL) {
        otlp.protocol = match value.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            "http/json" => Protocol::HttpJson,
            _ => {
                return Err(InitError::invalid(
                    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
                    value,
                    "`grpc`, `http/protobuf` or `http/json`",
                ));
            }
        };
    }
    if let Some(value) = get(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) {
        crate::config::validate_url(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, &value)?;
        value.trim().clone_into(&mut otlp.endpoint);
        otlp.endpoint_setting = Cow::Borrowed(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
    } else {
        otlp.endpoint = metrics_endpoint(&trace.endpoint, trace.protocol, otlp.protocol);
    }
    if let Some(text) = get(OTEL_EXPORTER_OTLP_METRICS_HEADERS) {
        otlp.headers = crate::config::parse_key_values(OTEL_EXPORTER_OTLP_METRICS_HEADERS, &text)?;
    }
    if let Some(timeout) = millis(OTEL_EXPORTER_OTLP_METRICS_TIMEOUT)? {
        otlp.timeout = timeout;
    }
    if let Some(value) = get(OTEL_EXPORTER_OTLP_METRICS_COMPRESSION) {
        otlp.compression = match value.trim().to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" => None,
            _ => {
                return Err(InitError::invalid(
                    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
                    value,
                    "`gzip` or `none`",
                ));
            }
        };
    }
    if let Some(path) = get(OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE) {
        otlp.certificate = Some((
            OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
            std::path::PathBuf::from(path),
        ));
    }
    Ok(otlp)
}

/// The metrics URL on the trace export's collector.
fn metrics_endpoint(trace_endpoint: &str, trace: Protocol, metrics: Protocol) -> String {
    let base = trace_endpoint
        .trim_end_matches('/')
        .strip_suffix(TRACES_PATH)
        .unwrap_or(trace_endpoint.trim_end_matches('/'));
    match (trace, metrics) {
        (Protocol::Grpc, Protocol::Grpc) => trace_endpoint.to_owned(),
        (_, Protocol::Grpc) => base.to_owned(),
        (_, Protocol::HttpProtobuf | Protocol::HttpJson) => {
            if trace != Protocol::Grpc
                && !trace_endpoint.trim_end_matches('/').ends_with(TRACES_PATH)
            {
                // An exact trace URL without the usual path: the collector's own address.
                match trace_endpoint.parse::<http::Uri>() {
                    Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                        (Some(scheme), Some(authority)) => {
                            format!("{scheme}://{authority}{METRICS_PATH}")
                        }
                        _ => format!("{base}{METRICS_PATH}"),
                    },
                    Err(_) => format!("{base}{METRICS_PATH}"),
                }
            } else {
                format!("{base}{METRICS_PATH}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(endpoint: &str, protocol: Protocol) -> OtlpSettings {
        OtlpSettings {
            endpoint: endpoint.to_owned(),
            endpoint_setting: Cow::Borrowed("test"),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: None,
            certificate: None,
        }
    }

    fn resolve_with(
        otlp: Option<&OtlpSettings>,
        vars: &[(&str, &str)],
    ) -> Result<MetricsSettings, InitError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            &TraceSide {
                enabled: true,
                otlp,
                console: false,
                builder_enabled: None,
            },
            &|name| {
                vars.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
            },
        )
    }

    #[test]
    fn on_with_an_exporter_and_off_by_variable() {
        let otlp = trace("http://localhost:4317", Protocol::Grpc);
        assert!(resolve_with(Some(&otlp), &[]).unwrap().enabled());
        assert!(
            !resolve_with(Some(&otlp), &[(T4DM_OTEL_METRICS, "false")])
                .unwrap()
                .enabled()
        );
        assert!(!resolve_with(None, &[]).unwrap().enabled());
        assert!(
            resolve_with(None, &[(T4DM_OTEL_PROMETHEUS_ADDR, "127.0.0.1:9464")])
                .unwrap()
                .enabled()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            (T4DM_OTEL_METRICS, "yes please"),
            (OTEL_METRICS_EXEMPLAR_FILTER, "sometimes"),
            (OTEL_METRIC_EXPORT_INTERVAL, "soon"),
            (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "both"),
            (T4DM_OTEL_PROMETHEUS_ADDR, "localhost"),
            (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "udp"),
            (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, "zstd"),
            (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "collector"),
        ] {
            let otlp = trace("http://localhost:4317", Protocol::Grpc);
            let error = resolve_with(Some(&otlp), &[(name, value)])
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{error}");
            assert!(error.contains(value), "{error}");
        }
    }

    #[test]
    fn the_metrics_endpoint_follows_the_trace_endpoint() {
        assert_eq!(
            metrics_endpoint(
                "http://c:4318/v1/traces",
                Protocol::HttpProtobuf,
                Protocol::HttpProtobuf
            ),
            "http://c:4318/v1/metrics"
        );
        assert_eq!(
            metrics_endpoint("http://c:4317", Protocol::Grpc, Protocol::Grpc),
            "http://c:4317"
        );
        assert_eq!(
            metrics_endpoint(
                "https://c/otlp/traces",
                Protocol::HttpJson,
                Protocol::HttpJson
            ),
            "https://c/v1/metrics"
        );
        let otlp = trace("http://c:4318/v1/traces", Protocol::HttpProtobuf);
        let settings = resolve_with(
            Some(&otlp),
            &[
                (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "http://m:4318/custom"),
                (OTEL_METRICS_EXEMPLAR_FILTER, "always_off"),
                (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta"),
                (OTEL_METRIC_EXPORT_INTERVAL, "250"),
            ],
        )
        .unwrap();
        assert_eq!(settings.otlp().unwrap().endpoint(), "http://m:4318/custom");
        assert_eq!(settings.exemplar_filter(), ExemplarFilter::AlwaysOff);
        assert_eq!(settings.temporality(), Temporality::Delta);
        assert_eq!(settings.export_interval(), Duration::from_millis(250));
    }
}
