//! The spans of one call, captured in process (`testing::capture_async`) around the handler the
//! transports use: kinds, parents, typed attributes and statuses.

mod common;

use common::tool_call;
use memory_gateway::{Gateway, Session, Transport};
use serde_json::{Value, json};
use t4dm_trace_runtime::opentelemetry::trace::{SpanKind, Status};
use t4dm_trace_runtime::opentelemetry::{Key, Value as AttributeValue};
use t4dm_trace_runtime::opentelemetry_sdk::trace::SpanData;
use t4dm_trace_runtime::testing::capture_async;

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let mut found = spans.iter().filter(|span| span.name == name);
    let first = found.next().unwrap_or_else(|| {
        panic!(
            "no {name:?} in {:?}",
            spans.iter().map(|span| &span.name).collect::<Vec<_>>()
        )
    });
    assert!(found.next().is_none(), "several {name:?}");
    first
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a AttributeValue> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == Key::new(key.to_owned()))
        .map(|attribute| &attribute.value)
}

fn is_child_of(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id()
        && child.span_context.trace_id() == parent.span_context.trace_id()
}

fn string(text: &str) -> AttributeValue {
    AttributeValue::from(text.to_owned())
}

async fn send(gateway: &Gateway, session: &Session, message: Value) -> Value {
    gateway
        .handle_bytes(session, message.to_string().as_bytes())
        .await
        .expect("a request is answered")
}

fn session() -> Session {
    Session::with_id(
        "0123456789abcdef0123456789abcdef".to_owned(),
        Transport::Stdio,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn recall_episodes_is_server_over_internal_over_client() {
    let gateway = Gateway::new();
    let session = session();
    send(
        &gateway,
        &session,
        tool_call(1, "create_episode", json!({ "content": "coffee with Ana" })),
    )
    .await;
    let (response, spans) = capture_async(send(
        &gateway,
        &session,
        tool_call(
            2,
            "recall_episodes",
            json!({ "query": "coffee", "limit": 10 }),
        ),
    ))
    .await;
    assert_eq!(response["result"]["isError"], false);

    let server = span(&spans, "mcp.recall_episodes");
    let recall = span(&spans, "episodic.recall");
    let search = span(&spans, "qdrant.search");
    let scoring = span(&spans, "scoring_computation");
    let formatting = span(&spans, "response_formatting");
    assert_eq!(spans.len(), 5);
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(recall.span_kind, SpanKind::Internal);
    assert_eq!(search.span_kind, SpanKind::Client);
    assert_eq!(scoring.span_kind, SpanKind::Internal);
    assert_eq!(formatting.span_kind, SpanKind::Internal);
    assert!(is_child_of(recall, server));
    assert!(is_child_of(search, recall));
    assert!(is_child_of(scoring, recall));
    assert!(is_child_of(formatting, server));
    assert!(
        search.end_time <= scoring.start_time,
        "scoring follows the search"
    );
    assert!(
        recall.end_time <= formatting.start_time,
        "formatting follows the recall"
    );

    assert_eq!(
        attribute(server, "mcp.method.name"),
        Some(&string("tools/call"))
    );
    assert_eq!(
        attribute(server, "gen_ai.tool.name"),
        Some(&string("recall_episodes"))
    );
    assert_eq!(attribute(server, "jsonrpc.request.id"), Some(&string("2")));
    assert_eq!(
        attribute(server, "mcp.session.id"),
        Some(&string("0123456789abcdef0123456789abcdef"))
    );
    assert_eq!(server.status, Status::Unset);
    assert_eq!(
        attribute(search, "collection"),
        Some(&string("ww_episodes"))
    );
    assert_eq!(attribute(search, "limit"), Some(&AttributeValue::I64(10)));
    assert_eq!(attribute(search, "db.system.name"), Some(&string("qdrant")));
    assert_eq!(
        attribute(search, "db.collection.name"),
        Some(&string("ww_episodes"))
    );
    assert_eq!(
        attribute(search, "db.operation.name"),
        Some(&string("search"))
    );
    assert_eq!(
        attribute(search, "db.response.returned_rows"),
        Some(&AttributeValue::I64(1))
    );
    assert_eq!(attribute(recall, "limit"), Some(&AttributeValue::I64(10)));
}

#[tokio::test(flavor = "current_thread")]
async fn graph_calls_record_the_cypher_they_stand_for() {
    let gateway = Gateway::new();
    let session = session();
    let (_, spans) = capture_async(send(
        &gateway,
        &session,
        tool_call(
            1,
            "query_at_time",
            json!({ "timestamp": "2025-06-18T09:30:00Z" }),
        ),
    ))
    .await;
    let query = span(&spans, "neo4j.query");
    assert_eq!(query.span_kind, SpanKind::Client);
    assert!(is_child_of(query, span(&spans, "episodic.query_at_time")));
    assert_eq!(attribute(query, "db.system.name"), Some(&string("neo4j")));
    assert_eq!(
        attribute(query, "db.operation.name"),
        Some(&string("MATCH"))
    );
    assert_eq!(
        attribute(query, "db.collection.name"),
        Some(&string("Episode"))
    );
    assert_eq!(
        attribute(query, "db.query.text"),
        Some(&string(
            "MATCH (n:Episode) WHERE n.created_at <= $at RETURN n ORDER BY n.created_at DESC LIMIT $limit"
        ))
    );
    assert_eq!(
        attribute(span(&spans, "episodic.query_at_time"), "at"),
        Some(&string("2025-06-18T09:30:00.000Z"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_tool_error_marks_the_server_span_tool_error() {
    let gateway = Gateway::new();
    let (response, spans) = capture_async(send(
        &gateway,
        &session(),
        tool_call(1, "mark_important", json!({ "episode_id": "episode-404" })),
    ))
    .await;
    assert_eq!(response["result"]["isError"], true);
    let server = span(&spans, "mcp.mark_important");
    assert_eq!(
        server.status,
        Status::error("no episode with id `episode-404`")
    );
    assert_eq!(attribute(server, "error.type"), Some(&string("tool_error")));
    assert_eq!(
        attribute(server, "rpc.response.status_code"),
        None,
        "the call itself succeeded"
    );
    let service = span(&spans, "episodic.mark_important");
    assert_eq!(
        service.status,
        Status::error("no episode with id `episode-404`")
    );
    assert!(service.events.iter().any(|event| event.name == "exception"));
    assert!(is_child_of(span(&spans, "response_formatting"), server));
}

#[tokio::test(flavor = "current_thread")]
async fn a_json_rpc_error_is_recorded_with_its_code() {
    let gateway = Gateway::new();
    let (response, spans) = capture_async(send(
        &gateway,
        &session(),
        tool_call(
            1,
            "recall_episodes",
            json!({ "query": "coffee", "limit": 1000 }),
        ),
    ))
    .await;
    assert_eq!(response["error"]["code"], -32_602);
    assert_eq!(spans.len(), 1, "bad arguments reach no memory service");
    let server = span(&spans, "mcp.recall_episodes");
    assert_eq!(
        server.status,
        Status::error(
            "invalid arguments for `recall_episodes`: `limit` must be from 1 to 100, not 1000"
        )
    );
    assert_eq!(attribute(server, "error.type"), Some(&string("-32602")));
    assert_eq!(
        attribute(server, "rpc.response.status_code"),
        Some(&string("-32602"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn meta_traceparent_makes_the_caller_the_remote_parent() {
    let gateway = Gateway::new();
    let message = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "memory_stats",
            "arguments": {},
            "_meta": { "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
        },
    });
    let (_, spans) = capture_async(send(&gateway, &session(), message)).await;
    let server = span(&spans, "mcp.memory_stats");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(server.parent_span_is_remote);
}
