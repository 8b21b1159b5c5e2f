//! The exporters t4dm-trace builds from its configuration.

mod console;
#[cfg(feature = "otlp")]
mod otlp;

pub use console::ConsoleExporter;

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
    let _ = resource;
    Ok(())
}
