//! OTLP export through `opentelemetry-otlp`, over gRPC (tonic) or HTTP (protobuf or JSON).

use crate::config::{BatchSettings, Compression, OtlpSettings, Protocol};
use crate::error::InitError;
use crate::pipeline::Pipeline;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanExporter as _;
use std::sync::Arc;

/// Starts the OTLP pipeline. The exporter is built inside the export thread's runtime: tonic
/// needs a reactor to create its channel.
pub(crate) fn spawn(
    settings: &OtlpSettings,
    batch: BatchSettings,
    resource: &Resource,
) -> Result<Arc<Pipeline>, InitError> {
    let settings = settings.clone();
    let resource = resource.clone();
    Pipeline::spawn("otlp", batch, move || {
        let mut exporter = build(&settings)?;
        exporter.set_resource(&resource);
        Ok(exporter)
    })
}

fn build(settings: &OtlpSettings) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    let exporter_error = |source: opentelemetry_otlp::ExporterBuildError| InitError::Exporter {
        exporter: "otlp",
        source: Box::new(source),
    };
    match settings.protocol {
        Protocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            // opentelemetry-otlp's tonic exporter appends the headers variables of the process
            // environment to whatever metadata it is given; pass ours only when they came from
            // elsewhere (`.env`), so that no header is sent twice.
            let from_process_env =
                std::env::var_os(crate::config::OTEL_EXPORTER_OTLP_TRACES_HEADERS).is_some()
                    || std::env::var_os(crate::config::OTEL_EXPORTER_OTLP_HEADERS).is_some();
            let headers: &[(String, String)] = if from_process_env {
                &[]
            } else {
                &settings.headers
            };
            for (key, value) in headers {
                let key =
                    tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
                        .map_err(|_| invalid_header(key))?;
                let value = value
                    .parse()
                    .map_err(|_| invalid_header(&format!("{key}={value}")))?;
                metadata.insert(key, value);
            }
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(metadata);
            if settings.endpoint.starts_with("https://") {
                builder = builder
                    .with_tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots());
            }
            if let Some(Compression::Gzip) = settings.compression {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            builder.build().map_err(exporter_error)
        }
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            let protocol = if settings.protocol == Protocol::HttpJson {
                opentelemetry_otlp::Protocol::HttpJson
            } else {
                opentelemetry_otlp::Protocol::HttpBinary
            };
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.iter().cloned().collect())
                .with_http_client(http_client()?);
            if let Some(Compression::Gzip) = settings.compression {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            builder.build().map_err(exporter_error)
        }
    }
}

fn invalid_header(text: &str) -> InitError {
    InitError::invalid(
        "OTEL_EXPORTER_OTLP_HEADERS",
        text,
        "header names and values that HTTP/2 metadata accepts",
    )
}

/// reqwest with rustls on ring and the webpki roots: no OpenSSL, no aws-lc build.
fn http_client() -> Result<reqwest::Client, InitError> {
    let client_error = |source: Box<dyn std::error::Error + Send + Sync>| InitError::Exporter {
        exporter: "otlp",
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| client_error(Box::new(error)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|error| client_error(Box::new(error)))
}
