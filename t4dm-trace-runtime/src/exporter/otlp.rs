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
    let extra_roots = match &settings.certificate {
        Some((setting, path)) => Some(read_certificates(setting, path)?),
        None => None,
    };
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
                let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
                if let Some(roots) = &extra_roots {
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(&roots.pem));
                }
                builder = builder.with_tls_config(tls);
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
                .with_http_client(super::http_client(
                    "otlp",
                    None,
                    extra_roots.map(|roots| roots.der).unwrap_or_default(),
                )?);
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

/// A PEM file of CA certificates: its text (tonic takes PEM) and each certificate's DER (for
/// rustls), checked to hold at least one certificate.
pub(crate) struct ExtraRoots {
    pub(crate) pem: String,
    pub(crate) der: Vec<rustls::pki_types::CertificateDer<'static>>,
}

pub(crate) fn read_certificates(
    setting: &'static str,
    path: &std::path::Path,
) -> Result<ExtraRoots, InitError> {
    use rustls::pki_types::pem::PemObject as _;
    let invalid = || {
        InitError::invalid(
            setting,
            path.display().to_string(),
            "a readable PEM file of CA certificates",
        )
    };
    let pem = std::fs::read_to_string(path).map_err(|_| invalid())?;
    let der: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    if der.is_empty() {
        return Err(invalid());
    }
    Ok(ExtraRoots { pem, der })
}
