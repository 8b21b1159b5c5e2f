//! `set_span_error`: a failure with a caller-chosen `error.type` and no Rust error value.

use t4dm_trace_runtime::opentelemetry::Value;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{set_span_error, traced};
use t4dm_trace_tests::{attribute, error_description, span};

#[traced("mcp.recall_episodes", kind = Server)]
fn tool_call(fails: bool) {
    if fails {
        set_span_error("tool_error", "no episode `episode-404`");
    }
}

#[test]
fn marks_the_current_span_failed_with_the_given_error_type() {
    let ((), spans) = capture(|| tool_call(true));
    let call = span(&spans, "mcp.recall_episodes");
    assert_eq!(error_description(call), Some("no episode `episode-404`"));
    assert_eq!(
        attribute(call, "error.type"),
        Some(&Value::from("tool_error"))
    );
    assert!(
        call.events.is_empty(),
        "no exception event: nothing was raised"
    );
}

#[test]
fn leaves_a_successful_span_alone() {
    let ((), spans) = capture(|| tool_call(false));
    let call = span(&spans, "mcp.recall_episodes");
    assert_eq!(error_description(call), None);
    assert_eq!(attribute(call, "error.type"), None);
}

#[test]
fn does_nothing_outside_a_span() {
    let ((), spans) = capture(|| set_span_error("-32700", "parse error"));
    assert!(spans.is_empty());
}
