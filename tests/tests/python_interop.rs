//! Interoperability with the OpenTelemetry Python SDK as a real peer, both directions.
//!
//! Needs a Python with `opentelemetry-sdk`: `scripts/setup-test-tools.sh` (run by `scripts/test`)
//! installs one in `target/tools/venv`; `T4DM_TEST_PYTHON` may name another interpreter.

use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use t4dm_trace_runtime::opentelemetry::baggage::BaggageExt;
use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{
    W3cBaggagePropagator, context_with_baggage, extract_context, get_baggage, get_trace_context,
    inject_context, traced, with_trace_state_entry,
};
use t4dm_trace_tests::{span, test_python, workspace_root};

/// Runs the Python peer in `mode`, with `input` on stdin; its JSON answer.
fn peer(mode: &str, input: &str) -> Value {
    let script = workspace_root().join("tests/python/otel_peer.py");
    let mut child = Command::new(test_python())
        .arg(script)
        .arg(mode)
        .env_remove("OTEL_PROPAGATORS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Python peer starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to the peer");
    let output = child.wait_with_output().expect("the Python peer ends");
    assert!(
        output.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the peer prints JSON")
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"))
}

#[traced("rust.server", kind = Server, parent = extract_context(headers))]
fn serve(headers: &HashMap<String, String>) -> (HashMap<String, String>, Option<String>) {
    let mut outgoing = HashMap::new();
    inject_context(&mut outgoing);
    (outgoing, get_baggage("user.id"))
}

#[test]
fn python_starts_a_trace_that_rust_continues() {
    let python = peer("start", "");
    let headers: HashMap<String, String> =
        serde_json::from_value(python["headers"].clone()).expect("headers");
    assert_eq!(
        text(&python["trace_flags"]),
        "03",
        "Python sets the random flag"
    );

    let ((outgoing, user), spans) = capture(|| serve(&headers));
    let server = span(&spans, "rust.server");
    assert_eq!(
        format!("{:032x}", server.span_context.trace_id()),
        text(&python["trace_id"])
    );
    assert_eq!(
        format!("{:016x}", server.parent_span_id),
        text(&python["span_id"])
    );
    assert!(server.parent_span_is_remote);
    assert_eq!(user.as_deref(), Some("alice"));

    // Sent on: same trace, this span as parent, the flags (random included), tracestate and
    // baggage as received.
    assert_eq!(
        outgoing["traceparent"],
        format!(
            "00-{}-{:016x}-03",
            text(&python["trace_id"]),
            server.span_context.span_id()
        )
    );
    assert_eq!(outgoing["tracestate"], text(&python["tracestate"]));
    let forwarded = W3cBaggagePropagator::new().extract(&outgoing);
    let received = W3cBaggagePropagator::new().extract(&headers);
    for (key, (value, _)) in received.baggage() {
        assert_eq!(
            forwarded.baggage().get(key.as_str()),
            Some(value),
            "{key} forwarded"
        );
    }
}

#[test]
fn python_baggage_reads_as_python_wrote_it_with_plus_as_space() {
    let python = peer("start", "");
    let headers: HashMap<String, String> =
        serde_json::from_value(python["headers"].clone()).expect("headers");
    let value = |cx: &t4dm_trace_runtime::Context, key: &str| {
        cx.baggage().get(key).map(|value| value.as_str().to_owned())
    };

    // As the W3C specification reads it, `+` is a plus sign: Python's space arrives as `+`.
    let strict = W3cBaggagePropagator::new().extract(&headers);
    assert_eq!(value(&strict, "greeting").as_deref(), Some("hello+world"));
    assert_eq!(value(&strict, "formula").as_deref(), Some("a+b=c"));
    assert_eq!(value(&strict, "name").as_deref(), Some("Amélie"));

    // Reading `+` as a space gives every value exactly as Python set it.
    let lenient = W3cBaggagePropagator::new()
        .with_plus_as_space(true)
        .extract(&headers);
    for (key, expected) in [
        ("user.id", "alice"),
        ("greeting", "hello world"),
        ("formula", "a+b=c"),
        ("name", "Amélie"),
    ] {
        assert_eq!(value(&lenient, key).as_deref(), Some(expected), "{key}");
    }
}

#[traced("rust.client", kind = Client)]
fn call_python() -> (HashMap<String, String>, Value) {
    let mut headers = HashMap::new();
    inject_context(&mut headers);
    let answer = peer(
        "continue",
        &serde_json::to_string(&headers).expect("headers as JSON"),
    );
    (get_trace_context(), answer)
}

#[test]
fn rust_starts_a_trace_that_python_continues() {
    let ((sent, python), spans) = capture(|| {
        let cx = context_with_baggage([
            ("user.id", "alice"),
            ("greeting", "hello world"),
            ("formula", "a+b=c 100%"),
            ("name", "Amélie"),
        ])
        .expect("valid baggage");
        let cx = with_trace_state_entry(&cx, "t4dm", "r1").expect("valid entry");
        let _attached = cx.attach();
        call_python()
    });
    let client = span(&spans, "rust.client");
    let trace_id = format!("{:032x}", client.span_context.trace_id());
    let span_id = format!("{:016x}", client.span_context.span_id());
    assert_eq!(sent["traceparent"], format!("00-{trace_id}-{span_id}-01"));

    let parent = &python["parent"];
    assert_eq!(text(&parent["trace_id"]), trace_id);
    assert_eq!(text(&parent["span_id"]), span_id);
    assert_eq!(parent["is_remote"], true);
    assert_eq!(text(&parent["tracestate"]), "t4dm=r1");
    assert_eq!(
        text(&python["trace_id"]),
        trace_id,
        "Python's span joins the trace"
    );
    assert_eq!(text(&python["parent_span_id"]), span_id);
    assert_eq!(
        text(&python["headers"]["tracestate"]),
        "t4dm=r1",
        "and sends tracestate on"
    );
    assert_eq!(
        python["baggage"],
        serde_json::json!({
            "user.id": "alice",
            "greeting": "hello world",
            "formula": "a+b=c 100%",
            "name": "Amélie",
        }),
        "Python reads every value as set"
    );
}
