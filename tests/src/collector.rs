//! A loopback collector that takes both traces and metrics on one endpoint, as a real
//! collector does: gRPC (`TraceService` and `MetricsService`) or HTTP (`/v1/traces` and
//! `/v1/metrics`, protobuf or JSON bodies, optionally gzip), and decodes what arrives.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, NumberDataPoint, metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;

/// How the collector listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorWire {
    /// OTLP over gRPC.
    Grpc,
    /// OTLP over HTTP.
    Http,
}

#[derive(Debug, Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<(HashMap<String, String>, ExportMetricsServiceRequest)>,
}

type Shared = Arc<Mutex<Received>>;

/// A collector on a free loopback port, with a runtime of its own.
pub struct Collector {
    wire: CollectorWire,
    address: SocketAddr,
    received: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("wire", &self.wire)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Starts a collector speaking `wire`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    #[must_use]
    pub fn start(wire: CollectorWire) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let received = Shared::default();
        match wire {
            CollectorWire::Grpc => {
                runtime.spawn(serve_grpc(listener, Arc::clone(&received)));
            }
            CollectorWire::Http => {
                runtime.spawn(serve_http(listener, Arc::clone(&received)));
            }
        }
        Collector {
            wire,
            address,
            received,
            _runtime: runtime,
        }
    }

    /// The collector's address as a client names it: `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every span received.
    #[must_use]
    pub fn spans(&self) -> Vec<Span> {
        self.lock()
            .traces
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| scope.spans.clone())
            .collect()
    }

    /// Every metrics request received, with its headers (lower-case names).
    #[must_use]
    pub fn metric_requests(&self) -> Vec<(HashMap<String, String>, ExportMetricsServiceRequest)> {
        self.lock().metrics.clone()
    }

    /// The data points of the counter and the histogram in every request, in arrival order.
    #[must_use]
    pub fn metric_points(&self) -> Vec<(Vec<NumberDataPoint>, Vec<HistogramDataPoint>)> {
        self.lock()
            .metrics
            .iter()
            .map(|(_, request)| {
                let mut calls = Vec::new();
                let mut durations = Vec::new();
                for metric in request
                    .resource_metrics
                    .iter()
                    .flat_map(|resource| &resource.scope_metrics)
                    .flat_map(|scope| &scope.metrics)
                {
                    match &metric.data {
                        Some(metric::Data::Sum(sum))
                            if metric.name == "traces.span.metrics.calls" =>
                        {
                            calls.extend(sum.data_points.iter().cloned());
                        }
                        Some(metric::Data::Histogram(histogram))
                            if metric.name == "traces.span.metrics.duration" =>
                        {
                            durations.extend(histogram.data_points.iter().cloned());
                        }
                        _ => {}
                    }
                }
                (calls, durations)
            })
            .collect()
    }
}

/// A data point's attribute `key`, as text.
#[must_use]
pub fn point_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value| value.value.as_ref())
        .map(|value| match value {
            any_value::Value::StringValue(text) => text.clone(),
            any_value::Value::BoolValue(flag) => flag.to_string(),
            any_value::Value::IntValue(number) => number.to_string(),
            other => format!("{other:?}"),
        })
}

struct Grpc(Shared);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .traces
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = crate::receiver::grpc_headers(request.metadata());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .metrics
            .push((headers, request.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn serve_grpc(listener: TcpListener, received: Shared) {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let _ = tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(Grpc(Arc::clone(&received)))
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
        )
        .add_service(
            MetricsServiceServer::new(Grpc(received))
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
        )
        .serve_with_incoming(incoming)
        .await;
}

async fn serve_http(listener: TcpListener, received: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let received = Arc::clone(&received);
                async move { handle_http(request, &received).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle_http(
    request: Request<Incoming>,
    received: &Shared,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let json = headers
        .get("content-type")
        .is_some_and(|value| value.contains("json"));
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes().to_vec())
        .unwrap_or_default();
    let body = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut decoded = Vec::new();
        let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut decoded);
        decoded
    } else {
        body
    };
    let ok = match path.as_str() {
        "/v1/traces" => {
            let decoded = if json {
                serde_json::from_slice::<ExportTraceServiceRequest>(&body).ok()
            } else {
                ExportTraceServiceRequest::decode(&body[..]).ok()
            };
            decoded.is_some_and(|request| {
                received
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .traces
                    .push(request);
                true
            })
        }
        "/v1/metrics" => {
            let decoded = if json {
                serde_json::from_slice::<ExportMetricsServiceRequest>(&body).ok()
            } else {
                ExportMetricsServiceRequest::decode(&body[..]).ok()
            };
            decoded.is_some_and(|request| {
                received
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .metrics
                    .push((headers, request));
                true
            })
        }
        _ => false,
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    if !ok {
        *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
