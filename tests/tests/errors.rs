//! Errors and panics, recorded the OpenTelemetry way: status Error with the message,
//! `error.type`, and an `exception` event; `Ok` leaves the status Unset.

use std::fmt;
use t4dm_trace_runtime::opentelemetry::trace::Status;
use t4dm_trace_runtime::opentelemetry::{Array, StringValue, Value};
use t4dm_trace_runtime::testing::{capture, capture_async};
use t4dm_trace_runtime::{record_error, traced};
use t4dm_trace_tests::{attribute, error_description, event_attribute, span};

#[derive(Debug)]
struct StorageError {
    source: std::io::Error,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("storage unavailable")
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[traced("store.get")]
fn get(fail: bool) -> Result<u32, StorageError> {
    if fail {
        return Err(StorageError {
            source: std::io::Error::other("connection reset"),
        });
    }
    Ok(1)
}

#[test]
fn an_err_sets_status_error_type_and_an_exception_event() {
    let (result, spans) = capture(|| get(true));
    assert!(result.is_err());
    let get = span(&spans, "store.get");
    assert_eq!(error_description(get), Some("storage unavailable"));
    let type_name = Value::from("errors::StorageError");
    assert_eq!(attribute(get, "error.type"), Some(&type_name));
    assert_eq!(
        event_attribute(get, "exception", "exception.type"),
        Some(&type_name)
    );
    assert_eq!(
        event_attribute(get, "exception", "exception.message"),
        Some(&Value::from("storage unavailable"))
    );
    assert_eq!(
        event_attribute(get, "exception", "exception.source_chain"),
        Some(&Value::Array(Array::String(vec![StringValue::from(
            "connection reset"
        )])))
    );
}

#[test]
fn ok_leaves_the_status_unset() {
    let (result, spans) = capture(|| get(false));
    assert_eq!(result.ok(), Some(1));
    let get = span(&spans, "store.get");
    assert_eq!(get.status, Status::Unset);
    assert!(get.events.is_empty());
    assert_eq!(attribute(get, "error.type"), None);
}

#[traced]
fn read_config() -> std::io::Result<String> {
    let error = std::io::Error::new(std::io::ErrorKind::NotFound, "no config file");
    Err(error)?;
    Ok(String::new())
}

#[test]
fn io_result_is_recognised() {
    let (_, spans) = capture(read_config);
    let read = span(&spans, "read_config");
    assert_eq!(error_description(read), Some("no config file"));
    assert_eq!(
        attribute(read, "error.type"),
        Some(&Value::from("std::io::error::Error"))
    );
}

type MemoryResult<T> = Result<T, StorageError>;

#[traced("alias.forced", err)]
fn with_alias() -> MemoryResult<()> {
    Err(StorageError {
        source: std::io::Error::other("disk"),
    })
}

#[traced("alias.unseen")]
fn with_unseen_alias() -> MemoryResult<()> {
    Err(StorageError {
        source: std::io::Error::other("disk"),
    })
}

#[traced("result.ignored", err = false)]
fn ignored() -> Result<(), StorageError> {
    Err(StorageError {
        source: std::io::Error::other("disk"),
    })
}

#[test]
fn err_forces_recording_for_aliases_and_err_false_turns_it_off() {
    let ((), spans) = capture(|| {
        let _ = with_alias();
        let _ = with_unseen_alias();
        let _ = ignored();
    });
    assert_eq!(
        error_description(span(&spans, "alias.forced")),
        Some("storage unavailable")
    );
    assert_eq!(
        span(&spans, "alias.unseen").status,
        Status::Unset,
        "an alias is not recognised without `err`"
    );
    assert_eq!(span(&spans, "result.ignored").status, Status::Unset);
}

#[traced("anyhow.load")]
async fn load() -> anyhow::Result<u32> {
    let io = std::io::Error::other("socket closed");
    let error = anyhow::Error::new(io).context("vector store unreachable");
    Err(error.context("recall failed"))
}

#[tokio::test(flavor = "current_thread")]
async fn anyhow_errors_keep_their_context_chain() {
    let (_, spans) = capture_async(load()).await;
    let load = span(&spans, "anyhow.load");
    assert_eq!(error_description(load), Some("recall failed"));
    assert_eq!(
        attribute(load, "error.type"),
        Some(&Value::from("anyhow::Error"))
    );
    assert_eq!(
        event_attribute(load, "exception", "exception.source_chain"),
        Some(&Value::Array(Array::String(vec![
            StringValue::from("vector store unreachable"),
            StringValue::from("socket closed"),
        ])))
    );
}

#[derive(Debug)]
#[expect(dead_code, reason = "the field is only shown through Debug")]
enum OnlyDebug {
    Timeout { after_ms: u64 },
}

#[traced("debug.only")]
fn only_debug() -> Result<(), OnlyDebug> {
    Err(OnlyDebug::Timeout { after_ms: 30 })
}

#[traced("boxed")]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(StorageError {
        source: std::io::Error::other("inner"),
    }))
}

#[test]
fn errors_that_are_only_debug_or_boxed_still_work() {
    let ((), spans) = capture(|| {
        let _ = only_debug();
        let _ = boxed();
    });
    assert_eq!(
        error_description(span(&spans, "debug.only")),
        Some("Timeout { after_ms: 30 }")
    );
    let boxed = span(&spans, "boxed");
    assert_eq!(error_description(boxed), Some("storage unavailable"));
    assert_eq!(
        event_attribute(boxed, "exception", "exception.source_chain"),
        Some(&Value::Array(Array::String(vec![StringValue::from(
            "inner"
        )])))
    );
}

#[traced("panics")]
fn panics(message: &str) -> u32 {
    panic!("index {message} out of range");
}

#[test]
fn a_panic_ends_the_span_as_an_error_and_keeps_unwinding() {
    let (outcome, spans) = capture(|| std::panic::catch_unwind(|| panics("7")));
    let payload = outcome.expect_err("the panic reached the caller");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("index 7 out of range")
    );
    let span = span(&spans, "panics");
    assert_eq!(error_description(span), Some("index 7 out of range"));
    assert_eq!(attribute(span, "error.type"), Some(&Value::from("panic")));
    assert_eq!(
        event_attribute(span, "exception", "exception.message"),
        Some(&Value::from("index 7 out of range"))
    );
}

#[traced("async.panics")]
async fn async_panics() -> u32 {
    tokio::task::yield_now().await;
    panic!("poisoned state");
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_an_async_fn_is_recorded_too() {
    let (outcome, spans) = capture_async(async {
        tokio::spawn(
            t4dm_trace_runtime::opentelemetry::context::FutureExt::with_current_context(
                async_panics(),
            ),
        )
        .await
    })
    .await;
    assert!(outcome.expect_err("the task panicked").is_panic());
    let span = span(&spans, "async.panics");
    assert_eq!(error_description(span), Some("poisoned state"));
}

#[traced("manual.error")]
fn records_manually() {
    let error = StorageError {
        source: std::io::Error::other("cause"),
    };
    record_error(&error);
}

#[test]
fn record_error_marks_the_current_span() {
    let ((), spans) = capture(records_manually);
    let span = span(&spans, "manual.error");
    assert_eq!(error_description(span), Some("storage unavailable"));
    assert_eq!(
        event_attribute(span, "exception", "exception.source_chain"),
        Some(&Value::Array(Array::String(vec![StringValue::from(
            "cause"
        )])))
    );
}

#[traced("boxed.async")]
async fn boxed_async(early: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tokio::task::yield_now().await;
    if early {
        return Err(Box::new(StorageError {
            source: std::io::Error::other("early"),
        }));
    }
    Err(Box::new(StorageError {
        source: std::io::Error::other("late"),
    }))
}

#[tokio::test(flavor = "current_thread")]
async fn async_early_returns_coerce_into_boxed_errors() {
    let (outcome, spans) =
        capture_async(async { (boxed_async(true).await, boxed_async(false).await) }).await;
    assert!(outcome.0.is_err() && outcome.1.is_err());
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(error_description(span), Some("storage unavailable"));
    }
    assert_eq!(
        event_attribute(&spans[0], "exception", "exception.source_chain"),
        Some(&Value::Array(Array::String(vec![StringValue::from(
            "early"
        )])))
    );
}
