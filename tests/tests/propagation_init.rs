//! `init_tracing` installs the propagators `OTEL_PROPAGATORS` names and the copy of
//! `T4DM_OTEL_BAGGAGE_ATTRIBUTES` entries onto span attributes. One test: tracing is initialised
//! once per process.

use std::collections::HashMap;
use t4dm_trace_runtime::opentelemetry::Value;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{
    Propagator, TracingConfig, extract_context, get_trace_context, init_tracing, inject_context,
    set_baggage, traced,
};
use t4dm_trace_tests::{attribute, is_root, span};

#[traced("mcp.create_episode", kind = Server, parent = extract_context(meta))]
fn create_episode(meta: &HashMap<String, String>) -> HashMap<String, String> {
    let mut outgoing = HashMap::new();
    inject_context(&mut outgoing);
    outgoing
}

#[traced("episodic.store")]
fn store() {}

#[test]
fn init_tracing_installs_otel_propagators_and_copies_chosen_baggage_onto_spans() {
    let config = TracingConfig::from_lookup(|name| {
        let value = match name {
            "T4DM_OTEL_ENABLED" => "true",
            "OTEL_TRACES_EXPORTER" => "none",
            "OTEL_PROPAGATORS" => "baggage",
            "T4DM_OTEL_BAGGAGE_ATTRIBUTES" => "user.id, session.id",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .expect("valid configuration");
    assert_eq!(config.propagators(), [Propagator::Baggage]);
    let _guard = init_tracing(config).expect("tracing starts");

    let meta = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-12345678901234567890123456789012-1234567890123456-01".to_owned(),
        ),
        (
            "baggage".to_owned(),
            "user.id=alice,secret=s3cr3t".to_owned(),
        ),
    ]);
    let (outgoing, spans) = capture(|| create_episode(&meta));
    let server = span(&spans, "mcp.create_episode");
    assert!(
        is_root(server),
        "`tracecontext` is not installed, so traceparent is not read"
    );
    assert_eq!(attribute(server, "user.id"), Some(&Value::from("alice")));
    assert_eq!(
        attribute(server, "secret"),
        None,
        "only the chosen keys are copied"
    );
    assert_eq!(
        outgoing.get("baggage").map(String::as_str),
        Some("secret=s3cr3t,user.id=alice")
    );
    assert!(!outgoing.contains_key("traceparent"), "nor written");

    let ((), spans) = capture(|| {
        let _session = set_baggage("session.id", "s-1").expect("valid");
        store();
    });
    assert_eq!(
        attribute(span(&spans, "episodic.store"), "session.id"),
        Some(&Value::from("s-1"))
    );
    assert!(get_trace_context().is_empty(), "outside a span");
}
