//! Zipkin export, checked on the wire against a receiver that decodes Zipkin's v2 JSON; and why
//! the runtime encodes Zipkin itself rather than through `opentelemetry-zipkin`.

use std::path::Path;
use std::time::{Duration, SystemTime};
use t4dm_trace_runtime::opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use t4dm_trace_runtime::opentelemetry::{InstrumentationScope, KeyValue};
use t4dm_trace_runtime::opentelemetry_sdk::Resource;
use t4dm_trace_runtime::opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use t4dm_trace_tests::driver::Driver;
use t4dm_trace_tests::receiver::{Receiver, Wire};

fn driver(env: &[(&str, &str)]) -> Driver {
    Driver::start(Path::new(env!("CARGO_BIN_EXE_trace-driver")), env, &[])
}

#[test]
fn zipkin_receives_the_trace() {
    let receiver = Receiver::start(Wire::Zipkin);
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_SERVICE_NAME", "zipkin-test"),
    ]);
    let trace_id = driver.answer("tree").replace("ok tree ", "");
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let spans = receiver.zipkin_spans();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {spans:?}"))
    };
    let handle = named("gateway.handle");
    let lookup = named("store.lookup");
    assert_eq!(handle["traceId"], trace_id.as_str());
    assert_eq!(handle["kind"], "SERVER");
    assert_eq!(lookup["kind"], "CLIENT");
    assert_eq!(lookup["parentId"], handle["id"]);
    assert!(
        handle.get("parentId").is_none(),
        "a root has no parent: {handle}"
    );
    assert_eq!(handle["localEndpoint"]["serviceName"], "zipkin-test");
    assert_eq!(handle["tags"]["request.id"], "7");
    assert_eq!(lookup["tags"]["error"], "record not found");
    assert_eq!(lookup["tags"]["otel.status_code"], "ERROR");
    assert_eq!(
        handle["tags"]["tags"], "[\"a\",\"b\"]",
        "arrays as JSON text"
    );
    assert!(
        handle
            .get("annotations")
            .is_some_and(|events| events[0]["value"] == "received: {\"bytes\":42}")
    );
    assert!(
        named("response_formatting").get("kind").is_none(),
        "INTERNAL has no Zipkin kind"
    );
    assert_eq!(lookup["tags"]["key"], "episode-1");
}

fn root_span() -> SpanData {
    let start = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
            SpanId::from(0xb7ad_6b71_6920_3331),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: "gateway.handle".into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: vec![KeyValue::new("request.id", 7)],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("upstream").build(),
    }
}

/// What `opentelemetry-zipkin` 0.33 sends for the same kind of root span, given the resource:
/// no service name (Zipkin files it under an unknown service) and an all-zero parent. If this
/// test ever fails, upstream has fixed both and the runtime could go back to it.
#[test]
#[allow(deprecated)]
fn upstream_zipkin_exporter_loses_the_service_name() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let receiver = Receiver::start(Wire::Zipkin);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut exporter = opentelemetry_zipkin::ZipkinExporter::builder()
        .with_collector_endpoint(receiver.endpoint())
        .with_http_client(reqwest::Client::new())
        .build()
        .unwrap();
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name("zipkin-test")
            .build(),
    );
    runtime
        .block_on(exporter.export(vec![root_span()]))
        .unwrap();
    let spans = receiver.zipkin_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "gateway.handle");
    assert!(
        spans[0]["localEndpoint"].get("serviceName").is_none(),
        "{}",
        spans[0]
    );
    assert_eq!(spans[0]["parentId"], "0000000000000000");
}
