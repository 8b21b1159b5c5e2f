//! Zipkin v2 JSON export (`POST /api/v2/spans`), mapped as the OpenTelemetry specification's
//! Zipkin exporter section says.
//!
//! Written here rather than taken from `opentelemetry-zipkin` 0.33, which is deprecated upstream
//! and, as `tests/tests/otlp.rs` shows on the wire, never fills `localEndpoint.serviceName` (so
//! Zipkin files every span under an unknown service), writes a root's parent as sixteen zeros,
//! and panics at construction when no rustls crypto provider is installed.

use super::json_value;
use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value as Json, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// Sends spans to a Zipkin collector.
#[derive(Debug)]
pub(crate) struct ZipkinExporter {
    client: reqwest::Client,
    endpoint: String,
    service_name: String,
}

impl ZipkinExporter {
    pub(crate) fn new(client: reqwest::Client, endpoint: String) -> Self {
        ZipkinExporter {
            client,
            endpoint,
            service_name: crate::config::T4DM_OTEL_SERVICE_NAME_DEFAULT.to_owned(),
        }
    }
}

impl SpanExporter for ZipkinExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let body: Vec<Json> = batch
            .iter()
            .map(|span| zipkin_span(span, &self.service_name))
            .collect();
        let request = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .body(Json::Array(body).to_string());
        async move {
            let response = request
                .send()
                .await
                .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(OTelSdkError::InternalFailure(format!(
                    "the Zipkin collector answered {}",
                    response.status()
                )))
            }
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(name) = resource.get(&opentelemetry::Key::from_static_str("service.name")) {
            self.service_name = name.to_string();
        }
    }
}

fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
    })
}

/// One span in Zipkin's v2 model.
fn zipkin_span(span: &SpanData, service_name: &str) -> Json {
    let mut object = Map::new();
    object.insert(
        "traceId".into(),
        json!(span.span_context.trace_id().to_string()),
    );
    object.insert("id".into(), json!(span.span_context.span_id().to_string()));
    if span.parent_span_id != SpanId::INVALID {
        object.insert("parentId".into(), json!(span.parent_span_id.to_string()));
    }
    let kind = match span.span_kind {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => None,
    };
    if let Some(kind) = kind {
        object.insert("kind".into(), json!(kind));
    }
    object.insert("name".into(), json!(span.name));
    let start = micros(span.start_time);
    object.insert("timestamp".into(), json!(start));
    // Zipkin reads a zero duration as "unknown"; a span always lasted at least a microsecond.
    object.insert(
        "duration".into(),
        json!(micros(span.end_time).saturating_sub(start).max(1)),
    );
    object.insert(
        "localEndpoint".into(),
        json!({ "serviceName": service_name }),
    );

    let annotations: Vec<Json> = span
        .events
        .iter()
        .map(|event| {
            let value = if event.attributes.is_empty() {
                event.name.to_string()
            } else {
                let attributes: Map<String, Json> = event
                    .attributes
                    .iter()
                    .map(|attribute| (attribute.key.to_string(), json_value(&attribute.value)))
                    .collect();
                format!("{}: {}", event.name, Json::Object(attributes))
            };
            json!({ "timestamp": micros(event.timestamp), "value": value })
        })
        .collect();
    if !annotations.is_empty() {
        object.insert("annotations".into(), Json::Array(annotations));
    }

    let mut tags: Map<String, Json> = span
        .attributes
        .iter()
        .map(|attribute| {
            (
                attribute.key.to_string(),
                json!(tag_value(&attribute.value)),
            )
        })
        .collect();
    match &span.status {
        Status::Error { description } => {
            tags.insert("otel.status_code".into(), json!("ERROR"));
            tags.insert("error".into(), json!(description));
        }
        Status::Ok => {
            tags.insert("otel.status_code".into(), json!("OK"));
        }
        Status::Unset => {}
    }
    tags.insert(
        "otel.scope.name".into(),
        json!(span.instrumentation_scope.name()),
    );
    if let Some(version) = span.instrumentation_scope.version() {
        tags.insert("otel.scope.version".into(), json!(version));
    }
    object.insert("tags".into(), Json::Object(tags));
    Json::Object(object)
}

/// Zipkin tags are strings; arrays become JSON arrays in text, as the specification says.
fn tag_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        Value::Array(_) => json_value(value).to_string(),
        other => other.to_string(),
    }
}
