//! The exporters t4dm-trace builds from its configuration.

mod console;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "xray")]
pub(crate) mod xray;
#[cfg(feature = "zipkin")]
mod zipkin;

pub use console::ConsoleExporter;
#[cfg(all(feature = "otlp", feature = "metrics"))]
pub(crate) use otlp::read_certificates;

use crate::config::TracingConfig;
use crate::error::InitError;
use crate::pipeline::Pipeline;
use opentelemetry_sdk::Resource;
use std::sync::Arc;

/// Starts a pipeline for each network exporter the configuration asks for.
pub(crate) fn spawn_network_pipelines(
    config: &TracingConfig,
    resource: &Resource,
    pipelines: &mut Vec<Arc<Pipeline>>,
) -> Result<(), InitError> {
    if let Some(settings) = &config.otlp {
        #[cfg(feature = "otlp")]
        pipelines.push(otlp::spawn(settings, config.batch, resource)?);
        #[cfg(not(feature = "otlp"))]
        return Err(InitError::Exporter {
            exporter: "otlp",
            source: format!(
                "OTLP export to `{}` is configured, but t4dm-trace-runtime was built without its \
                 `otlp` feature",
                settings.endpoint()
            )
            .into(),
        });
    }
    if let Some(settings) = &config.zipkin {
        #[cfg(feature = "zipkin")]
        pipelines.push(zipkin_pipeline(settings, config.batch, resource)?);
        #[cfg(not(feature = "zipkin"))]
        return Err(InitError::Exporter {
            exporter: "zipkin",
            source: format!(
                "Zipkin export to `{}` is configured, but t4dm-trace-runtime was built without \
                 its `zipkin` feature",
                settings.endpoint()
            )
            .into(),
        });
    }
    if let Some(settings) = &config.xray {
        #[cfg(feature = "xray")]
        pipelines.push(xray_pipeline(settings, config.batch, resource)?);
        #[cfg(not(feature = "xray"))]
        return Err(InitError::Exporter {
            exporter: "xray",
            source: format!(
                "X-Ray export to the daemon at `{}` is configured, but t4dm-trace-runtime was \
                 built without its `xray` feature",
                settings.daemon_address()
            )
            .into(),
        });
    }
    // Without the network features, nothing above reads them.
    let _ = (resource, pipelines);
    Ok(())
}

#[cfg(feature = "zipkin")]
fn zipkin_pipeline(
    settings: &crate::config::ZipkinSettings,
    batch: crate::config::BatchSettings,
    resource: &Resource,
) -> Result<Arc<Pipeline>, InitError> {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let settings = settings.clone();
    let resource = resource.clone();
    Pipeline::spawn("zipkin", batch, move || {
        let client = http_client("zipkin", Some(settings.timeout), Vec::new())?;
        let mut exporter = zipkin::ZipkinExporter::new(client, settings.endpoint.clone());
        exporter.set_resource(&resource);
        Ok(exporter)
    })
}

#[cfg(feature = "xray")]
fn xray_pipeline(
    settings: &crate::config::XraySettings,
    batch: crate::config::BatchSettings,
    resource: &Resource,
) -> Result<Arc<Pipeline>, InitError> {
    use opentelemetry_sdk::trace::SpanExporter as _;
    use std::net::ToSocketAddrs as _;
    let exporter_error = |source: Box<dyn std::error::Error + Send + Sync>| InitError::Exporter {
        exporter: "xray",
        source,
    };
    let daemon = settings
        .daemon_address
        .to_socket_addrs()
        .map_err(|error| exporter_error(Box::new(error)))?
        .next()
        .ok_or_else(|| {
            exporter_error(
                format!(
                    "the X-Ray daemon address `{}` resolves to no address",
                    settings.daemon_address
                )
                .into(),
            )
        })?;
    let annotations = settings.annotations.clone();
    let resource = resource.clone();
    let drops = crate::pipeline::ExportDrops::default();
    Pipeline::spawn_reporting_drops("xray", batch, Some(drops.clone()), move || {
        let mut exporter = xray::XrayExporter::new(daemon, annotations, drops)
            .map_err(|error| exporter_error(Box::new(error)))?;
        exporter.set_resource(&resource);
        Ok(exporter)
    })
}

/// reqwest with rustls on ring and the webpki roots, as tonic's TLS uses: no OpenSSL and no
/// aws-lc build.
#[cfg(any(feature = "otlp", feature = "zipkin"))]
pub(crate) fn http_client(
    exporter: &'static str,
    timeout: Option<std::time::Duration>,
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<reqwest::Client, InitError> {
    let client_error =
        |source: Box<dyn std::error::Error + Send + Sync>| InitError::Exporter { exporter, source };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for certificate in extra_roots {
        roots
            .add(certificate)
            .map_err(|error| client_error(Box::new(error)))?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| client_error(Box::new(error)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder
        .build()
        .map_err(|error| client_error(Box::new(error)))
}

/// An attribute value as JSON, keeping its type (the Zipkin and X-Ray documents).
#[cfg(any(feature = "zipkin", feature = "xray"))]
fn json_value(value: &opentelemetry::Value) -> serde_json::Value {
    use opentelemetry::{Array, Value};
    use serde_json::{Value as Json, json};
    match value {
        Value::Bool(flag) => json!(flag),
        Value::I64(number) => json!(number),
        Value::F64(number) => json!(number),
        Value::String(text) => json!(text.as_str()),
        Value::Array(Array::Bool(items)) => json!(items),
        Value::Array(Array::I64(items)) => json!(items),
        Value::Array(Array::F64(items)) => json!(items),
        Value::Array(Array::String(items)) => {
            Json::Array(items.iter().map(|item| json!(item.as_str())).collect())
        }
        other => json!(other.to_string()),
    }
}
