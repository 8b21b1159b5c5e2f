//! Integration tests of t4dm-trace live in `tests/`; this library holds what they share:
//! lookups into captured spans, so that each assertion reads as what it checks, and the
//! loopback receivers that exports are checked against on the wire.

pub mod collector;
pub mod driver;
pub mod receiver;
pub mod xray_daemon;

use t4dm_trace_runtime::opentelemetry::trace::{SpanId, Status};
use t4dm_trace_runtime::opentelemetry::{Key, Value};
use t4dm_trace_runtime::opentelemetry_sdk::trace::SpanData;

/// The one span named `name`.
///
/// # Panics
///
/// When there is no span of that name, or several: the test fails with the names present.
#[must_use]
pub fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let mut found = spans.iter().filter(|span| span.name == name);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no span named {name:?} in {:?}", names(spans)));
    assert!(
        found.next().is_none(),
        "several spans named {name:?} in {:?}",
        names(spans)
    );
    first
}

/// Every span's name, in the order given.
#[must_use]
pub fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_ref()).collect()
}

/// The value of the span attribute `key`, if recorded.
#[must_use]
pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == Key::new(key.to_owned()))
        .map(|attribute| &attribute.value)
}

/// Whether `child`'s parent is `parent`, in the same trace.
#[must_use]
pub fn is_child_of(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id()
        && child.span_context.trace_id() == parent.span_context.trace_id()
}

/// Whether the span is a root of its trace here (no parent in this process).
#[must_use]
pub fn is_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID
}

/// The error description, when the span's status is Error.
#[must_use]
pub fn error_description(span: &SpanData) -> Option<&str> {
    match &span.status {
        Status::Error { description } => Some(description),
        _ => None,
    }
}

/// The value of attribute `key` on the span's first event named `event`.
#[must_use]
pub fn event_attribute<'a>(span: &'a SpanData, event: &str, key: &str) -> Option<&'a Value> {
    span.events
        .iter()
        .find(|candidate| candidate.name == event)?
        .attributes
        .iter()
        .find(|attribute| attribute.key == Key::new(key.to_owned()))
        .map(|attribute| &attribute.value)
}

/// The workspace's root directory.
///
/// # Panics
///
/// Never: the tests crate is a workspace member.
#[must_use]
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// The Python the interoperability tests run (with `opentelemetry-sdk` and `prometheus-client`):
/// `T4DM_TEST_PYTHON`, or the venv `scripts/setup-test-tools.sh` installs.
///
/// # Panics
///
/// When that Python does not exist, saying how to install it.
#[must_use]
pub fn test_python() -> std::path::PathBuf {
    let python = std::env::var_os("T4DM_TEST_PYTHON").map_or_else(
        || workspace_root().join("target/tools/venv/bin/python"),
        std::path::PathBuf::from,
    );
    assert!(
        python.exists(),
        "no test Python at {}: run scripts/setup-test-tools.sh (or set T4DM_TEST_PYTHON)",
        python.display()
    );
    python
}

/// An environment made of `pairs`, for `TracingConfig::from_lookup`: no test touches the
/// process's own.
pub fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    move |key| map.get(key).cloned()
}
