//! Real OTLP (gRPC and HTTP) and Zipkin receivers on loopback, which decode what arrives.
//!
//! Each receiver runs on a tokio runtime of its own, so that a test can kill it outright
//! (every listener and connection closes, as when a collector process dies) and start it again
//! on the same port. Its behaviour can be scripted: answer late, fail with a status, or hold
//! every request until released.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The wire format a receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OTLP over gRPC.
    Grpc,
    /// OTLP over HTTP (`/v1/traces`, protobuf or JSON bodies).
    Http,
    /// Zipkin v2 JSON (`/api/v2/spans`).
    Zipkin,
}

/// One export request as it arrived.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// Request headers (gRPC metadata), lower-case names.
    pub headers: HashMap<String, String>,
    /// The decoded OTLP request (empty for Zipkin).
    pub otlp: ExportTraceServiceRequest,
    /// The decoded Zipkin spans (empty for OTLP).
    pub zipkin: Vec<serde_json::Value>,
}

/// A span as it arrived, with its resource and scope.
#[derive(Debug, Clone)]
pub struct WireSpan {
    /// The resource attributes of the batch it came in.
    pub resource: Vec<KeyValue>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// The span itself.
    pub span: Span,
}

impl WireSpan {
    /// The span attribute `key`.
    #[must_use]
    pub fn attribute(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.span.attributes, key)
    }

    /// The resource attribute `key`.
    #[must_use]
    pub fn resource_attribute(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.resource, key)
    }

    /// The span's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.span.name
    }
}

/// The value of `key` among OTLP attributes.
#[must_use]
pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

/// How the receiver answers.
#[derive(Debug, Default)]
struct Behaviour {
    delay: Duration,
    /// An HTTP status (or, for gRPC, the matching gRPC code) to fail every request with.
    failure: Option<u16>,
    /// Hold every request until released.
    held: bool,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ReceivedRequest>>,
    behaviour: Mutex<Behaviour>,
    /// Only count spans, keeping nothing (for benchmarks sending millions).
    count_only: bool,
    span_count: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn behaviour<R>(&self, f: impl FnOnce(&mut Behaviour) -> R) -> R {
        f(&mut self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies the scripted behaviour; `Err(status)` means fail the request.
    async fn respond(&self, release: &mut watch::Receiver<bool>) -> Result<(), u16> {
        while self.behaviour(|behaviour| behaviour.held) {
            if release.changed().await.is_err() {
                break;
            }
        }
        let (delay, failure) = self.behaviour(|behaviour| (behaviour.delay, behaviour.failure));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        failure.map_or(Ok(()), Err)
    }

    fn record(&self, request: ReceivedRequest) {
        let spans: usize = request
            .otlp
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum::<usize>()
            + request.zipkin.len();
        self.span_count
            .fetch_add(spans as u64, std::sync::atomic::Ordering::Relaxed);
        if self.count_only {
            return;
        }
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }
}

/// TLS material for a receiver: a throw-away CA and a server certificate for 127.0.0.1.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl TestCertificates {
    /// Generates a CA and a server certificate for `localhost` and `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// If rcgen cannot generate keys (it always can on this platform).
    #[must_use]
    pub fn generate() -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "t4dm-trace test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        TestCertificates {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// Writes the CA certificate to a file and returns its path.
    ///
    /// # Panics
    ///
    /// If the temporary directory cannot be written.
    #[must_use]
    pub fn write_ca(&self, name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("t4dm-{name}-{}.pem", std::process::id()));
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

/// A receiver on loopback.
pub struct Receiver {
    wire: Wire,
    address: SocketAddr,
    tls: Option<TestCertificates>,
    shared: Arc<Shared>,
    release: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// Starts a receiver of `wire` on a free loopback port.
    #[must_use]
    pub fn start(wire: Wire) -> Self {
        Receiver::start_with(wire, None)
    }

    /// Starts a receiver that requires TLS with the given certificates.
    #[must_use]
    pub fn start_tls(wire: Wire, certificates: TestCertificates) -> Self {
        Receiver::start_with(wire, Some(certificates))
    }

    /// Starts a receiver that decodes and counts spans but keeps none: for benchmarks.
    #[must_use]
    pub fn start_counting(wire: Wire) -> Self {
        Receiver::start_with_shared(
            wire,
            None,
            Shared {
                count_only: true,
                ..Shared::default()
            },
        )
    }

    fn start_with(wire: Wire, tls: Option<TestCertificates>) -> Self {
        Receiver::start_with_shared(wire, tls, Shared::default())
    }

    fn start_with_shared(wire: Wire, tls: Option<TestCertificates>, shared: Shared) -> Self {
        let (release, _) = watch::channel(false);
        let mut receiver = Receiver {
            wire,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            shared: Arc::new(shared),
            release,
            runtime: None,
        };
        receiver.restart();
        receiver
    }

    /// The address it listens on.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The endpoint a client exports to: `http(s)://127.0.0.1:PORT` for gRPC, with
    /// `/v1/traces` for OTLP/HTTP and `/api/v2/spans` for Zipkin.
    #[must_use]
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let path = match self.wire {
            Wire::Grpc => "",
            Wire::Http => "/v1/traces",
            Wire::Zipkin => "/api/v2/spans",
        };
        format!("{scheme}://{}{path}", self.address)
    }

    /// Kills the receiver: the listener and every connection close at once.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Starts the receiver again on the same port (after [`Receiver::kill`]).
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again.
    pub fn restart(&mut self) {
        self.kill();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(async {
            // The port was just released by the killed runtime; binding can race its closing.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match TcpListener::bind(self.address).await {
                    Ok(listener) => break listener,
                    Err(error) if Instant::now() < deadline => {
                        let _ = error;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(error) => panic!("cannot bind {}: {error}", self.address),
                }
            }
        });
        self.address = listener.local_addr().unwrap();
        let shared = Arc::clone(&self.shared);
        let release = self.release.subscribe();
        let tls = self.tls.clone();
        match self.wire {
            Wire::Grpc => {
                runtime.spawn(serve_grpc(listener, shared, release, tls));
            }
            Wire::Http | Wire::Zipkin => {
                runtime.spawn(serve_http(listener, shared, release, tls));
            }
        }
        self.runtime = Some(runtime);
    }

    /// Answers every request `delay` late.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behaviour(|behaviour| behaviour.delay = delay);
    }

    /// Fails every request with this HTTP status (gRPC: the matching code), or stops failing.
    pub fn set_failure(&self, status: Option<u16>) {
        self.shared
            .behaviour(|behaviour| behaviour.failure = status);
    }

    /// Holds every request, unanswered, until [`Receiver::release`].
    pub fn hold(&self) {
        self.shared.behaviour(|behaviour| behaviour.held = true);
    }

    /// Answers the held requests and stops holding.
    pub fn release(&self) {
        self.shared.behaviour(|behaviour| behaviour.held = false);
        self.release.send_modify(|flag| *flag = !*flag);
    }

    /// How many spans have arrived (OTLP and Zipkin), kept or not.
    #[must_use]
    pub fn span_count(&self) -> u64 {
        self.shared
            .span_count
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every request received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every OTLP span received so far, in arrival order.
    #[must_use]
    pub fn spans(&self) -> Vec<WireSpan> {
        let mut spans = Vec::new();
        for request in self.requests() {
            for resource_spans in request.otlp.resource_spans {
                let resource = resource_spans
                    .resource
                    .map(|resource| resource.attributes)
                    .unwrap_or_default();
                for scope_spans in resource_spans.scope_spans {
                    let scope = scope_spans
                        .scope
                        .map(|scope| scope.name)
                        .unwrap_or_default();
                    for span in scope_spans.spans {
                        spans.push(WireSpan {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span,
                        });
                    }
                }
            }
        }
        spans
    }

    /// Every Zipkin span received so far.
    #[must_use]
    pub fn zipkin_spans(&self) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .flat_map(|request| request.zipkin)
            .collect()
    }

    /// Waits until at least `count` OTLP spans have arrived, or `limit` passes (a guard against
    /// a hung test, not a measurement), and returns them.
    #[must_use]
    pub fn wait_for_spans(&self, count: usize, limit: Duration) -> Vec<WireSpan> {
        let deadline = Instant::now() + limit;
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("wire", &self.wire)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

struct GrpcService {
    shared: Arc<Shared>,
    release: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut release = self.release.clone();
        let outcome = self.shared.respond(&mut release).await;
        if let Err(status) = outcome {
            return Err(tonic::Status::new(grpc_code(status), "scripted failure"));
        }
        let headers = grpc_headers(request.metadata());
        self.shared.record(ReceivedRequest {
            headers,
            otlp: request.into_inner(),
            zipkin: Vec::new(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// The gRPC code OTLP maps an HTTP status to.
fn grpc_code(status: u16) -> tonic::Code {
    match status {
        429 => tonic::Code::ResourceExhausted,
        400 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        504 => tonic::Code::DeadlineExceeded,
        502 | 503 => tonic::Code::Unavailable,
        _ => tonic::Code::Internal,
    }
}

async fn serve_grpc(
    listener: TcpListener,
    shared: Arc<Shared>,
    release: watch::Receiver<bool>,
    tls: Option<TestCertificates>,
) {
    let service = TraceServiceServer::new(GrpcService { shared, release })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let identity =
            tonic::transport::Identity::from_pem(tls.server_cert_pem, tls.server_key_pem);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap();
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let _ = server
        .add_service(service)
        .serve_with_incoming(incoming)
        .await;
}

async fn serve_http(
    listener: TcpListener,
    shared: Arc<Shared>,
    release: watch::Receiver<bool>,
    tls: Option<TestCertificates>,
) {
    let acceptor = tls.map(|tls| {
        let certs =
            rustls::pki_types::CertificateDer::pem_slice_iter(tls.server_cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(tls.server_key_pem.as_bytes())
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        let release = release.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                let mut release = release.clone();
                async move { handle_http(request, &shared, &mut release).await }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

use rustls::pki_types::pem::PemObject as _;

async fn handle_http(
    request: Request<Incoming>,
    shared: &Shared,
    release: &mut watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
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
    let path = request.uri().path().to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST, "unreadable body")),
    };
    let body = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut decoded = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .is_err()
        {
            return Ok(status(StatusCode::BAD_REQUEST, "bad gzip"));
        }
        Bytes::from(decoded)
    } else {
        body
    };
    if let Err(code) = shared.respond(release).await {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(status(code, "scripted failure"));
    }
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let received = match path.as_str() {
        "/v1/traces" => {
            let otlp = if content_type.starts_with("application/json") {
                serde_json::from_slice::<ExportTraceServiceRequest>(&body)
                    .map_err(|e| e.to_string())
            } else {
                ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
            };
            match otlp {
                Ok(otlp) => ReceivedRequest {
                    headers,
                    otlp,
                    zipkin: Vec::new(),
                },
                Err(error) => return Ok(status(StatusCode::BAD_REQUEST, &error)),
            }
        }
        "/api/v2/spans" => match serde_json::from_slice::<Vec<serde_json::Value>>(&body) {
            Ok(zipkin) => ReceivedRequest {
                headers,
                otlp: ExportTraceServiceRequest::default(),
                zipkin,
            },
            Err(error) => return Ok(status(StatusCode::BAD_REQUEST, &error.to_string())),
        },
        _ => return Ok(status(StatusCode::NOT_FOUND, "no such path")),
    };
    let json = content_type.starts_with("application/json");
    shared.record(received);
    let response = ExportTraceServiceResponse {
        partial_success: None,
    };
    let (body, content_type) = if json {
        (
            serde_json::to_vec(&response).unwrap_or_default(),
            "application/json",
        )
    } else {
        (response.encode_to_vec(), "application/x-protobuf")
    };
    Ok(Response::builder()
        .status(if path == "/api/v2/spans" {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        })
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, "response")))
}

fn status(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = code;
    response
}

/// A gRPC request's metadata as header names (lower case) and values.
pub(crate) fn grpc_headers(metadata: &tonic::metadata::MetadataMap) -> HashMap<String, String> {
    metadata
        .clone()
        .into_headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
