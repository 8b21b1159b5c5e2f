//! The streamable HTTP transport: a child process on 127.0.0.1, driven with raw HTTP/1.1.

mod common;

use common::{HttpGateway, tool_call as call};
use serde_json::json;

#[test]
fn a_session_opens_serves_tools_and_ends() {
    let gateway = HttpGateway::start();
    let session = gateway.initialize();
    assert_eq!(session.len(), 32);

    let accepted = gateway.post(
        &json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        Some(&session),
    );
    assert_eq!(
        (accepted.status, accepted.body.as_str()),
        (202, ""),
        "a notification gets no answer"
    );

    let stored = gateway.post(
        &call(
            1,
            "create_episode",
            json!({ "content": "Had coffee with Ana" }),
        ),
        Some(&session),
    );
    assert_eq!(stored.status, 200, "{stored:?}");
    assert_eq!(stored.json()["result"]["isError"], false);
    let recalled = gateway.post(
        &call(2, "recall_episodes", json!({ "query": "coffee" })),
        Some(&session),
    );
    let episodes = &recalled.json()["result"]["structuredContent"]["episodes"];
    assert_eq!(
        episodes[0]["content"], "Had coffee with Ana",
        "{recalled:?}"
    );
    let own = gateway.post(&call(3, "get_session_id", json!({})), Some(&session));
    assert_eq!(
        own.json()["result"]["structuredContent"]["session_id"],
        json!(session)
    );
    assert_eq!(
        own.json()["result"]["structuredContent"]["transport"],
        "streamable-http"
    );

    let trace = gateway.wait_for_trace("the recall trace", |trace| {
        trace.root().name == "mcp.recall_episodes"
    });
    assert_eq!(
        trace.root().attribute("mcp.session.id"),
        Some(session.as_str())
    );
    assert_eq!(trace.root().attribute("network.transport"), Some("tcp"));
    trace.child(0, "episodic.recall");

    let ended = gateway.send("DELETE", None, &[("Mcp-Session-Id", &session)]);
    assert_eq!((ended.status, ended.body.as_str()), (200, ""));
    let gone = gateway.post(&call(4, "memory_stats", json!({})), Some(&session));
    assert_eq!(gone.status, 404, "an ended session is unknown");
}

#[test]
fn requests_outside_a_session_and_bad_messages_are_refused() {
    let gateway = HttpGateway::start();
    let without = gateway.post(&call(1, "memory_stats", json!({})), None);
    assert_eq!(without.status, 400, "{without:?}");
    assert_eq!(without.json()["error"]["code"], -32_600);
    let unknown = gateway.post(&call(1, "memory_stats", json!({})), Some("0123"));
    assert_eq!(unknown.status, 404);

    let session = gateway.initialize();
    let garbled = gateway.send(
        "POST",
        Some("{not json"),
        &[
            ("Content-Type", "application/json"),
            ("Mcp-Session-Id", &session),
        ],
    );
    assert_eq!(garbled.status, 400);
    assert_eq!(garbled.json()["error"]["code"], -32_700);
    let bad_arguments = gateway.post(
        &call(2, "recall_episodes", json!({ "limit": 0 })),
        Some(&session),
    );
    assert_eq!(
        bad_arguments.status, 200,
        "a JSON-RPC error answers a valid request"
    );
    assert_eq!(bad_arguments.json()["error"]["code"], -32_602);

    assert_eq!(
        gateway
            .send("GET", None, &[("Accept", "text/event-stream")])
            .status,
        405
    );
    let foreign = gateway.send("POST", Some("{}"), &[("Origin", "https://evil.example")]);
    assert_eq!(foreign.status, 403);
    let old = gateway.send(
        "POST",
        Some("{}"),
        &[("MCP-Protocol-Version", "1999-01-01")],
    );
    assert_eq!(old.status, 400);
    let picky = gateway.send("POST", Some("{}"), &[("Accept", "text/html")]);
    assert_eq!(picky.status, 406);

    assert_eq!(
        gateway
            .post(&call(3, "memory_stats", json!({})), Some(&session))
            .status,
        200,
        "still serving"
    );
    let parse_error = gateway.wait_for_trace("the parse error", |trace| {
        trace.root().name == "mcp.parse_error"
    });
    assert_eq!(parse_error.root().attribute("error.type"), Some("-32700"));
}

#[test]
fn a_traceparent_header_continues_the_callers_trace() {
    let gateway = HttpGateway::start();
    let session = gateway.initialize();
    let reply = gateway.send(
        "POST",
        Some(&call(1, "recall_episodes", json!({ "query": "coffee" })).to_string()),
        &[
            ("Content-Type", "application/json"),
            ("Mcp-Session-Id", &session),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ],
    );
    assert_eq!(reply.status, 200);
    let trace = gateway.wait_for_trace("the recall trace", |trace| {
        trace.root().name == "mcp.recall_episodes"
    });
    assert_eq!(
        trace.trace_id,
        "0af7651916cd43dd8448eb211c80319c",
        "{}",
        gateway.stderr()
    );
    assert_eq!(trace.remote_parent.as_deref(), Some("b7ad6b7169203331"));
}
