//! The quick start: a few traced functions, configured from the environment as a service
//! would be.
//!
//! ```text
//! cargo run --example quickstart                                   # a trace tree on stderr
//! T4DM_OTEL_ENDPOINT=http://localhost:4317 cargo run --example quickstart   # to a collector
//! ```

use std::time::Duration;
use t4dm_trace_runtime::{
    KeyValue, TracingConfig, add_span_attribute, add_span_event, init_tracing, trace_span, traced,
};

#[derive(Debug)]
struct Episode {
    content: String,
    score: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("episode store unavailable")]
struct StoreUnavailable;

#[traced("qdrant.search", kind = Client, attrs(collection = "ww_episodes", limit))]
async fn vector_search(query: &str, limit: usize) -> Vec<Episode> {
    tokio::time::sleep(Duration::from_millis(18)).await;
    add_span_event("cache_miss", [KeyValue::new("key", query.to_owned())]);
    vec![
        Episode {
            content: format!("notes about {query}"),
            score: 0.92,
        },
        Episode {
            content: "an unrelated memo".to_owned(),
            score: 0.31,
        },
    ]
    .into_iter()
    .take(limit)
    .collect()
}

#[traced("episodic.recall", attrs(limit))]
async fn recall(query: &str, limit: usize) -> Result<Vec<Episode>, StoreUnavailable> {
    let mut episodes = vector_search(query, limit).await;
    trace_span("scoring_computation").in_scope(|| {
        episodes.sort_by(|a, b| b.score.total_cmp(&a.score));
        add_span_attribute("candidates", episodes.len());
    });
    Ok(episodes)
}

#[traced("neo4j.query", kind = Client)]
async fn graph_query(_entity: &str) -> Result<Vec<String>, StoreUnavailable> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    Err(StoreUnavailable)
}

#[traced("mcp.recall_episodes", kind = Server, attrs(gen_ai.tool.name = "recall_episodes"))]
async fn recall_episodes(query: &str) -> String {
    let episodes = recall(query, 10).await.unwrap_or_default();
    let related = graph_query(query).await.unwrap_or_default();
    trace_span("response_formatting").in_scope(|| {
        format!(
            "{} episodes, {} related entities: {:?}",
            episodes.len(),
            related.len(),
            episodes.first().map(|e| &e.content)
        )
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Development defaults: with nothing in the environment, trace and draw the tree on stderr;
    // `T4DM_OTEL_ENDPOINT` (or any `T4DM_*`/`OTEL_*` variable) takes over as in production.
    let config = TracingConfig::builder()
        .with_development_defaults()
        .from_env()?;
    let guard = init_tracing(config)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(recall_episodes("coffee"));
    eprintln!("answer: {answer}");

    // Export what is queued and stop the export threads before exiting.
    guard.shutdown()?;
    Ok(())
}
