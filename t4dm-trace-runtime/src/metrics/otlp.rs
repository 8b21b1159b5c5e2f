//! OTLP export of the span metrics, on a thread of its own with its own current-thread tokio
//! runtime (as the trace pipelines do): export never blocks, deadlocks or needs the
//! application's runtime, and a dead or slow collector costs only that thread's time.
//!
//! The request is built with `opentelemetry-proto`'s types: `opentelemetry-otlp`'s metric
//! exporter takes the SDK's `ResourceMetrics`, which cannot be built outside the SDK and has no
//! way to carry the exemplars we keep. It is sent the way the trace export is configured: gRPC
//! (tonic) or HTTP with protobuf or JSON bodies, the same headers, TLS roots and compression.

use super::config::{MetricsSettings, Temporality};
use super::registry::{
    BOUNDS_MS, BUCKETS, Exemplar, SeriesKey, SeriesSnapshot, Store, Totals, kind_name,
};
use crate::config::{Compression, OtlpSettings, Protocol};
use crate::error::{ExportError, InitError};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

enum Control {
    Flush(mpsc::SyncSender<Result<(), ExportError>>),
    Shutdown {
        deadline: Instant,
        done: mpsc::SyncSender<Result<(), ExportError>>,
    },
}

/// The export thread, seen from the application.
#[derive(Debug)]
pub(crate) struct ExportThread {
    control: mpsc::Sender<Control>,
    timeout: Duration,
    counters: Arc<Counters>,
}

/// Export outcomes, written by the export thread.
#[derive(Debug, Default)]
struct Counters {
    exports: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ExportThread {
    pub(crate) fn spawn(
        otlp: &OtlpSettings,
        settings: &MetricsSettings,
        resource: &Resource,
        service_name: &str,
        store: &'static Store,
    ) -> Result<ExportThread, InitError> {
        let thread_error = |source| InitError::ExportThread {
            exporter: "otlp-metrics",
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(thread_error)?;
        // Built here, so that a bad certificate or header is an `InitError` now.
        let sender = {
            let _entered = runtime.enter();
            Sender::build(otlp)?
        };
        let encoder = Encoder {
            resource: proto_resource(resource),
            service_name: service_name.to_owned(),
            temporality: settings.temporality,
            start_unix_nanos: unix_nanos(SystemTime::now()),
            previous: HashMap::new(),
            previous_unix_nanos: unix_nanos(SystemTime::now()),
        };
        let (control, requests) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            counters: Arc::clone(&counters),
            runtime,
            sender,
            encoder,
            store,
            interval: settings.interval,
            timeout: otlp.timeout,
        };
        std::thread::Builder::new()
            .name("t4dm-trace-otlp-metrics".to_owned())
            .spawn(move || worker.run(&requests))
            .map_err(thread_error)?;
        Ok(ExportThread {
            control,
            timeout: otlp.timeout,
            counters,
        })
    }

    /// Exports now and waits for it (at most the export timeout and a little).
    pub(crate) fn flush(&self) {
        let (done, outcome) = mpsc::sync_channel(1);
        if self.control.send(Control::Flush(done)).is_ok() {
            let _ = outcome.recv_timeout(self.timeout + Duration::from_secs(1));
        }
    }

    pub(crate) fn stats(&self) -> super::MetricsStats {
        super::MetricsStats {
            exports: self.counters.exports.load(Ordering::Relaxed),
            export_failures: self.counters.failures.load(Ordering::Relaxed),
            last_error: self
                .counters
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Asks for the last export by `deadline`; the returned waiter gives the outcome.
    pub(crate) fn begin_shutdown(&self, deadline: Instant) -> ShutdownWaiter {
        let (done, outcome) = mpsc::sync_channel(1);
        let sent = self
            .control
            .send(Control::Shutdown { deadline, done })
            .is_ok();
        ShutdownWaiter {
            outcome: sent.then_some(outcome),
            deadline,
        }
    }
}

/// The outcome of the last export, awaited until the shutdown deadline.
#[derive(Debug)]
pub(crate) struct ShutdownWaiter {
    outcome: Option<mpsc::Receiver<Result<(), ExportError>>>,
    deadline: Instant,
}

impl ShutdownWaiter {
    pub(crate) fn wait(self) {
        if let Some(outcome) = self.outcome {
            let _ = outcome.recv_timeout(super::remaining(self.deadline));
        }
    }
}

struct Worker {
    counters: Arc<Counters>,
    runtime: tokio::runtime::Runtime,
    sender: Sender,
    encoder: Encoder,
    store: &'static Store,
    interval: Duration,
    timeout: Duration,
}

impl Worker {
    fn run(mut self, requests: &mpsc::Receiver<Control>) {
        let mut next = Instant::now() + self.interval;
        loop {
            match requests.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(Control::Flush(done)) => {
                    let outcome = self.export(Instant::now() + self.timeout);
                    let _ = done.send(outcome);
                }
                Ok(Control::Shutdown { deadline, done }) => {
                    let outcome = self.export(deadline);
                    let _ = done.send(outcome);
                    return;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.export(Instant::now() + self.timeout);
                    next = Instant::now() + self.interval;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn export(&mut self, deadline: Instant) -> Result<(), ExportError> {
        let series = self.store.collect();
        let Some(request) = self.encoder.request(&series) else {
            return Ok(());
        };
        let timeout = super::remaining(deadline).min(self.timeout);
        let sender = &mut self.sender;
        let outcome = self.runtime.block_on(async {
            match tokio::time::timeout(timeout, sender.send(request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ExportError::Timeout {
                    timeout,
                    pending: 0,
                }),
            }
        });
        match &outcome {
            Ok(()) => {
                self.counters.exports.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                *self
                    .counters
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
            }
        }
        outcome
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

fn proto_resource(resource: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: resource
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.to_string(),
                value: Some(AnyValue::from(value.clone())),
                ..KeyValue::default()
            })
            .collect(),
        ..ProtoResource::default()
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// Builds requests from snapshots, keeping what delta temporality subtracts.
pub(crate) struct Encoder {
    resource: ProtoResource,
    service_name: String,
    temporality: Temporality,
    start_unix_nanos: u64,
    previous: HashMap<SeriesKey, Totals>,
    previous_unix_nanos: u64,
}

impl Encoder {
    fn attributes(&self, key: &SeriesKey) -> Vec<KeyValue> {
        match key {
            SeriesKey::Span { name, kind, status } => vec![
                string_attribute("service.name", &self.service_name),
                string_attribute("span.name", name),
                string_attribute("span.kind", kind_name(*kind)),
                string_attribute("status.code", status.as_str()),
            ],
            SeriesKey::Overflow => vec![KeyValue {
                key: "otel.metric.overflow".to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                }),
                ..KeyValue::default()
            }],
        }
    }

    /// The request for this collection; `None` when there is nothing to send.
    pub(crate) fn request(
        &mut self,
        series: &[SeriesSnapshot],
    ) -> Option<ExportMetricsServiceRequest> {
        let now = unix_nanos(SystemTime::now());
        let (start, temporality) = match self.temporality {
            Temporality::Cumulative => (self.start_unix_nanos, AggregationTemporality::Cumulative),
            Temporality::Delta => (self.previous_unix_nanos, AggregationTemporality::Delta),
        };
        let mut calls = Vec::with_capacity(series.len());
        let mut durations = Vec::with_capacity(series.len());
        for snapshot in series {
            let (totals, with_min_max) = match self.temporality {
                Temporality::Cumulative => (snapshot.totals.clone(), true),
                Temporality::Delta => {
                    let previous = self.previous.get(&snapshot.key);
                    let delta = delta(&snapshot.totals, previous, self.previous_unix_nanos);
                    self.previous
                        .insert(snapshot.key.clone(), snapshot.totals.clone());
                    (delta, false)
                }
            };
            if totals.calls == 0 && totals.count() == 0 {
                continue;
            }
            let attributes = self.attributes(&snapshot.key);
            calls.push(NumberDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(
                    i64::try_from(totals.calls).unwrap_or(i64::MAX),
                )),
                ..NumberDataPoint::default()
            });
            durations.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: now,
                count: totals.count(),
                sum: Some(millis(totals.sum_nanos)),
                bucket_counts: totals.buckets.to_vec(),
                explicit_bounds: BOUNDS_MS.to_vec(),
                exemplars: totals
                    .exemplars
                    .iter()
                    .flatten()
                    .map(proto_exemplar)
                    .collect(),
                min: (with_min_max && totals.count() > 0).then(|| millis(totals.min_nanos)),
                max: (with_min_max && totals.count() > 0).then(|| millis(totals.max_nanos)),
                ..HistogramDataPoint::default()
            });
        }
        self.previous_unix_nanos = now;
        if calls.is_empty() {
            return None;
        }
        let metrics = vec![
            Metric {
                name: super::CALLS_NAME.to_owned(),
                description: super::CALLS_DESCRIPTION.to_owned(),
                unit: String::new(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: calls,
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                })),
                ..Metric::default()
            },
            Metric {
                name: super::DURATION_NAME.to_owned(),
                description: super::DURATION_DESCRIPTION.to_owned(),
                unit: super::DURATION_UNIT.to_owned(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points: durations,
                    aggregation_temporality: temporality as i32,
                })),
                ..Metric::default()
            },
        ];
        Some(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "t4dm-trace".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        })
    }
}

/// What changed since `previous`; exemplars newer than the previous export.
fn delta(current: &Totals, previous: Option<&Totals>, since_unix_nanos: u64) -> Totals {
    let Some(previous) = previous else {
        return current.clone();
    };
    let mut delta = Totals {
        calls: current.calls.saturating_sub(previous.calls),
        sum_nanos: current.sum_nanos.saturating_sub(previous.sum_nanos),
        ..Totals::default()
    };
    for index in 0..BUCKETS {
        delta.buckets[index] = current.buckets[index].saturating_sub(previous.buckets[index]);
        delta.exemplars[index] =
            current.exemplars[index].filter(|exemplar| exemplar.time_unix_nanos > since_unix_nanos);
    }
    delta
}

fn millis(nanos: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "durations far below 2^53 ns")]
    let nanos = nanos as f64;
    nanos / 1e6
}

fn proto_exemplar(exemplar: &Exemplar) -> opentelemetry_proto::tonic::metrics::v1::Exemplar {
    opentelemetry_proto::tonic::metrics::v1::Exemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: exemplar.time_unix_nanos,
        span_id: exemplar.span_id.to_bytes().to_vec(),
        trace_id: exemplar.trace_id.to_bytes().to_vec(),
        value: Some(exemplar::Value::AsDouble(millis(exemplar.duration_nanos))),
    }
}

/// The transport, built from the same settings as the trace export.
#[expect(clippy::large_enum_variant, reason = "one, owned by the export thread")]
enum Sender {
    Grpc {
        client: MetricsServiceClient<tonic::transport::Channel>,
        metadata: tonic::metadata::MetadataMap,
    },
    Http {
        client: reqwest::Client,
        endpoint: String,
        json: bool,
        gzip: bool,
        headers: Vec<(String, String)>,
    },
}

fn exporter_error(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> InitError {
    InitError::Exporter {
        exporter: "otlp-metrics",
        source: source.into(),
    }
}

impl Sender {
    fn build(settings: &OtlpSettings) -> Result<Sender, InitError> {
        let extra_roots = match &settings.certificate {
            Some((setting, path)) => Some(crate::exporter::read_certificates(setting, path)?),
            None => None,
        };
        let gzip = settings.compression == Some(Compression::Gzip);
        match settings.protocol {
            Protocol::Grpc => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (key, value) in &settings.headers {
                    let invalid = || {
                        InitError::invalid(
                            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                            format!("{key}={value}"),
                            "header names and values that HTTP/2 metadata accepts",
                        )
                    };
                    let name = tonic::metadata::MetadataKey::from_bytes(
                        key.to_ascii_lowercase().as_bytes(),
                    )
                    .map_err(|_| invalid())?;
                    metadata.insert(name, value.parse().map_err(|_| invalid())?);
                }
                let mut endpoint =
                    tonic::transport::Endpoint::from_shared(settings.endpoint.clone())
                        .map_err(exporter_error)?
                        .timeout(settings.timeout)
                        .connect_timeout(settings.timeout);
                if settings.endpoint.starts_with("https://") {
                    let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
                    if let Some(roots) = &extra_roots {
                        tls =
                            tls.ca_certificate(tonic::transport::Certificate::from_pem(&roots.pem));
                    }
                    endpoint = endpoint.tls_config(tls).map_err(exporter_error)?;
                }
                let mut client = MetricsServiceClient::new(endpoint.connect_lazy());
                if gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Ok(Sender::Grpc { client, metadata })
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => Ok(Sender::Http {
                client: crate::exporter::http_client(
                    "otlp-metrics",
                    Some(settings.timeout),
                    extra_roots.map(|roots| roots.der).unwrap_or_default(),
                )?,
                endpoint: settings.endpoint.clone(),
                json: settings.protocol == Protocol::HttpJson,
                gzip,
                headers: settings.headers.clone(),
            }),
        }
    }

    async fn send(&mut self, request: ExportMetricsServiceRequest) -> Result<(), ExportError> {
        match self {
            Sender::Grpc { client, metadata } => {
                let mut request = tonic::Request::new(request);
                *request.metadata_mut() = metadata.clone();
                client
                    .export(request)
                    .await
                    .map(|_| ())
                    .map_err(|status| ExportError::Failed(format!("OTLP metrics: {status}")))
            }
            Sender::Http {
                client,
                endpoint,
                json,
                gzip,
                headers,
            } => {
                let (content_type, mut body) = if *json {
                    (
                        "application/json",
                        serde_json::to_vec(&request)
                            .map_err(|error| ExportError::Failed(error.to_string()))?,
                    )
                } else {
                    (
                        "application/x-protobuf",
                        prost::Message::encode_to_vec(&request),
                    )
                };
                let mut builder = client
                    .post(endpoint.as_str())
                    .header("content-type", content_type);
                if *gzip {
                    use std::io::Write as _;
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    encoder
                        .write_all(&body)
                        .map_err(|error| ExportError::Failed(error.to_string()))?;
                    body = encoder
                        .finish()
                        .map_err(|error| ExportError::Failed(error.to_string()))?;
                    builder = builder.header("content-encoding", "gzip");
                }
                for (key, value) in headers.iter() {
                    builder = builder.header(key.as_str(), value.as_str());
                }
                let response = builder
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| ExportError::Failed(format!("OTLP metrics: {error}")))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(ExportError::Failed(format!(
                        "OTLP metrics: HTTP {}",
                        response.status()
                    )))
                }
            }
        }
    }
}
