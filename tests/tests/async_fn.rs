//! Spans of async functions: parents across `.await`, on both tokio schedulers, futures
//! returned by plain functions, async-trait methods, and cancellation.

use std::future::Future;
use std::time::Duration;
use t4dm_trace_runtime::opentelemetry::Value;
use t4dm_trace_runtime::opentelemetry::trace::{SpanKind, Status};
use t4dm_trace_runtime::testing::capture_async;
use t4dm_trace_runtime::{current_trace_id, trace_span, traced};
use t4dm_trace_tests::{attribute, is_child_of, is_root, names, span};

#[traced("qdrant.search", kind = Client, attrs(limit))]
async fn search(limit: usize) -> Vec<u32> {
    tokio::task::yield_now().await;
    (0..u32::try_from(limit).unwrap_or(0)).collect()
}

#[traced("scoring_computation")]
async fn score(hits: &[u32]) -> u32 {
    tokio::task::yield_now().await;
    hits.iter().sum()
}

#[traced("episodic.recall")]
async fn recall(limit: usize) -> u32 {
    let hits = search(limit).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    score(&hits).await
}

#[traced("mcp.recall_episodes", kind = Server)]
async fn recall_episodes() -> u32 {
    let total = recall(4).await;
    trace_span("response_formatting").in_scope(|| total * 2)
}

fn assert_seed_shape(spans: &[t4dm_trace_runtime::opentelemetry_sdk::trace::SpanData]) {
    let tool = span(spans, "mcp.recall_episodes");
    let recall = span(spans, "episodic.recall");
    let search = span(spans, "qdrant.search");
    let score = span(spans, "scoring_computation");
    let formatting = span(spans, "response_formatting");
    assert!(is_root(tool));
    assert_eq!(tool.span_kind, SpanKind::Server);
    assert!(is_child_of(recall, tool));
    assert!(is_child_of(search, recall));
    assert!(is_child_of(score, recall));
    assert!(is_child_of(formatting, tool));
    assert_eq!(search.span_kind, SpanKind::Client);
    assert_eq!(attribute(search, "limit"), Some(&Value::I64(4)));
    assert!(
        search.end_time <= score.start_time,
        "sequential awaits do not overlap"
    );
    assert!(recall.end_time <= tool.end_time);
}

#[tokio::test(flavor = "current_thread")]
async fn parents_cross_awaits_on_a_current_thread_runtime() {
    let (total, spans) = capture_async(recall_episodes()).await;
    assert_eq!(total, 12);
    assert_seed_shape(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_cross_awaits_on_a_multi_thread_runtime() {
    // Run inside a spawned task so that polls may resume on either worker thread.
    let handle = tokio::spawn(capture_async(async {
        let mut totals = Vec::new();
        for _ in 0..20 {
            totals.push(recall_episodes().await);
        }
        totals
    }));
    let (totals, spans) = handle.await.expect("the task completes");
    assert_eq!(totals, vec![12; 20]);
    assert_eq!(spans.len(), 100);
    let roots: Vec<_> = spans.iter().filter(|span| is_root(span)).collect();
    assert_eq!(roots.len(), 20, "every call is its own trace");
    for root in roots {
        let trace: Vec<_> = spans
            .iter()
            .filter(|span| span.span_context.trace_id() == root.span_context.trace_id())
            .cloned()
            .collect();
        assert_seed_shape(&trace);
    }
}

#[traced("concurrent.child")]
async fn child(delay_ms: u64) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    current_trace_id().map(|id| id.to_string())
}

#[traced("concurrent.parent")]
async fn parent() -> (Option<String>, Option<String>) {
    tokio::join!(child(5), child(1))
}

#[tokio::test(flavor = "current_thread")]
async fn interleaved_futures_keep_their_own_parents() {
    let ((first, second), spans) = capture_async(parent()).await;
    let parent = span(&spans, "concurrent.parent");
    let trace_id = Some(parent.span_context.trace_id().to_string());
    assert_eq!(first, trace_id);
    assert_eq!(second, trace_id);
    let children: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "concurrent.child")
        .collect();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|child| is_child_of(child, parent)));
}

#[traced("stream.open")]
fn open_stream(id: u32) -> impl Future<Output = u32> {
    async move {
        tokio::task::yield_now().await;
        id + 1
    }
}

#[traced("outer")]
async fn outer_of_plain_future() -> u32 {
    let future = open_stream(1);
    tokio::task::yield_now().await;
    future.await
}

#[tokio::test(flavor = "current_thread")]
async fn a_fn_returning_an_async_block_starts_its_span_at_first_poll() {
    let (value, spans) = capture_async(outer_of_plain_future()).await;
    assert_eq!(value, 2);
    let outer = span(&spans, "outer");
    let stream = span(&spans, "stream.open");
    assert!(is_child_of(stream, outer));
}

#[async_trait::async_trait]
trait Store {
    async fn put(&self, key: &str) -> Result<usize, std::io::Error>;
}

struct MemoryStore;

#[async_trait::async_trait]
impl Store for MemoryStore {
    #[traced("store.put", kind = Client, attrs(key))]
    async fn put(&self, key: &str) -> Result<usize, std::io::Error> {
        tokio::task::yield_now().await;
        if key.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty key",
            ));
        }
        Ok(key.len())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn async_trait_methods_are_traced_with_their_errors() {
    let store: &dyn Store = &MemoryStore;
    let (results, spans) = capture_async(async {
        (
            store.put("episode").await.ok(),
            store.put("").await.is_err(),
        )
    })
    .await;
    assert_eq!(results, (Some(7), true));
    assert_eq!(names(&spans), ["store.put", "store.put"]);
    assert_eq!(attribute(&spans[0], "key"), Some(&Value::from("episode")));
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(spans[1].status, Status::error("empty key"));
    assert_eq!(spans[1].span_kind, SpanKind::Client);
}

#[traced("slow.call")]
async fn slow_call() -> u32 {
    tokio::time::sleep(Duration::from_secs(10)).await;
    1
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_future_ends_its_span_marked_cancelled() {
    let (outcome, spans) =
        capture_async(async { tokio::time::timeout(Duration::from_millis(5), slow_call()).await })
            .await;
    assert!(outcome.is_err(), "the timeout fired");
    let slow = span(&spans, "slow.call");
    assert_eq!(attribute(slow, "t4dm.cancelled"), Some(&Value::Bool(true)));
    assert_eq!(slow.status, Status::Unset);
    assert!(slow.end_time.duration_since(slow.start_time).unwrap() < Duration::from_secs(5));
}

#[tokio::test(flavor = "current_thread")]
async fn a_future_never_polled_records_nothing() {
    let ((), spans) = capture_async(async {
        drop(slow_call());
    })
    .await;
    assert!(spans.is_empty(), "{:?}", names(&spans));
}

#[tokio::test(flavor = "current_thread")]
async fn manual_spans_instrument_futures() {
    let (value, spans) = capture_async(
        trace_span("batch_processing")
            .with_attribute("batch_size", 100)
            .instrument(async { search(2).await.len() }),
    )
    .await;
    assert_eq!(value, 2);
    let batch = span(&spans, "batch_processing");
    assert_eq!(attribute(batch, "batch_size"), Some(&Value::I64(100)));
    assert!(is_child_of(span(&spans, "qdrant.search"), batch));
}
