//! The gateway as an MCP client sees it on stdio: a child process driven with JSON-RPC, its
//! traces read from the console tree on its standard error.

mod common;

use common::{DrawnTrace, StdioClient, TOOLS, command, parse_traces, trace_of};
use serde_json::{Value, json};

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

#[test]
fn lists_the_seventeen_tools_with_input_schemas() {
    let mut client = StdioClient::initialized();
    let listed = client.result("tools/list", json!({}));
    let tools = listed["tools"].as_array().unwrap();
    let names: Vec<&str> = tools
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, TOOLS);
    for tool in tools {
        assert!(!tool["description"].as_str().unwrap().is_empty());
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    let schema =
        |name: &str| &tools[TOOLS.iter().position(|tool| *tool == name).unwrap()]["inputSchema"];
    assert_eq!(schema("create_episode")["required"], json!(["content"]));
    assert!(schema("create_episode")["properties"]["context"].is_object());
    assert!(schema("create_episode")["properties"]["importance"].is_object());
    assert_eq!(schema("recall_episodes")["required"], json!(["query"]));
    assert_eq!(
        schema("recall_episodes")["properties"]["limit"]["type"],
        "integer"
    );
    assert_eq!(
        schema("query_at_time")["properties"]["timestamp"]["format"],
        "date-time"
    );
    let (status, _) = client.finish();
    assert!(status.success());
}

#[test]
fn every_tool_answers_and_memory_really_works() {
    let mut client = StdioClient::initialized();
    let session = client.call_ok("get_session_id", json!({}));
    assert_eq!(session["transport"], "stdio");
    assert_eq!(session["protocol_version"], "2025-06-18");
    let session = text(&session["session_id"]);
    assert_eq!(session.len(), 32, "128 random bits in hex");

    let (coffee, beans) = episodic(&mut client);
    semantic(&mut client);
    procedural(&mut client);

    let consolidated = client.call_ok("consolidate_now", json!({}));
    assert_eq!(
        consolidated["clusters"][0]["episode_ids"],
        json!([coffee, beans]),
        "{consolidated}"
    );
    let derived = text(&consolidated["clusters"][0]["entity_id"]);
    let provenance = client.call_ok("get_provenance", json!({ "memory_id": derived }));
    assert_eq!(provenance["session_id"], json!(session));
    assert_eq!(provenance["source"], "consolidate_now");
    assert_eq!(
        provenance["outgoing"].as_array().unwrap().len(),
        2,
        "{provenance}"
    );

    let counts = client.call_ok("memory_stats", json!({}));
    assert_eq!(counts["episodes"], 3);
    assert_eq!(
        counts["entities"], 4,
        "Ana, the café twice, and the consolidated one"
    );
    assert_eq!(counts["skills"], 1);
    assert_eq!(
        counts["relationships"],
        json!({ "DERIVED_FROM": 2, "SUPERSEDES": 1, "WORKS_AT": 1 })
    );

    let (status, stderr) = client.finish();
    assert!(status.success(), "{stderr}");
    let traces = parse_traces(&stderr);
    for tool in TOOLS {
        assert!(
            traces
                .iter()
                .any(|trace| trace.root().name == format!("mcp.{tool}")
                    && trace.root().kind == "SERVER"),
            "no mcp.{tool} SERVER span drawn"
        );
    }
}

/// Stores three episodes, recalls, queries by time, marks one important; returns the ids of
/// the two about coffee.
fn episodic(client: &mut StdioClient) -> (String, String) {
    let coffee = client.call_ok(
        "create_episode",
        json!({ "content": "Had coffee with Ana at the Blue Door café", "context": { "with": ["Ana"] }, "importance": 0.6 }),
    );
    let coffee = text(&coffee["id"]);
    client.call_ok(
        "create_episode",
        json!({ "content": "Reviewed the quarterly budget with finance" }),
    );
    let beans = client.call_ok(
        "create_episode",
        json!({ "content": "Ana recommended the Ethiopian coffee beans at the café" }),
    );
    let beans = text(&beans["id"]);

    let recalled = client.call_ok(
        "recall_episodes",
        json!({ "query": "coffee with Ana", "limit": 10 }),
    );
    let episodes = recalled["episodes"].as_array().unwrap();
    let ids: Vec<String> = episodes
        .iter()
        .map(|episode| text(&episode["id"]))
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "the budget episode is not a memory of coffee: {recalled}"
    );
    assert!(ids.contains(&coffee) && ids.contains(&beans), "{recalled}");
    let scores: Vec<f64> = episodes
        .iter()
        .map(|episode| episode["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] >= scores[1], "ranked: {scores:?}");

    let then = client.call_ok(
        "query_at_time",
        json!({ "timestamp": "2001-01-01T00:00:00Z" }),
    );
    assert_eq!(then["episodes"], json!([]), "nothing was stored in 2001");
    let later = client.call_ok(
        "query_at_time",
        json!({ "timestamp": "2999-01-01T00:00:00+01:00", "limit": 2 }),
    );
    assert_eq!(later["episodes"].as_array().unwrap().len(), 2);

    let marked = client.call_ok(
        "mark_important",
        json!({ "episode_id": coffee, "importance": 1.0 }),
    );
    assert_eq!(marked["importance"], 1.0);
    (coffee, beans)
}

fn semantic(client: &mut StdioClient) {
    let ana = client.call_ok(
        "create_entity",
        json!({ "name": "Ana", "entity_type": "person", "summary": "barista" }),
    );
    let ana = text(&ana["id"]);
    let cafe = client.call_ok(
        "create_entity",
        json!({ "name": "Blue Door café", "entity_type": "place", "summary": "on Main Street" }),
    );
    let cafe = text(&cafe["id"]);
    client.call_ok(
        "create_relation",
        json!({ "source_id": ana, "target_id": cafe, "relation_type": "WORKS_AT" }),
    );
    let found = client.call_ok("semantic_recall", json!({ "query": "Blue Door café" }));
    assert_eq!(found["entities"][0]["id"], json!(cafe), "{found}");
    assert_eq!(
        found["entities"][0]["related"][0]["id"],
        json!(ana),
        "{found}"
    );
    let spread = client.call_ok("spread_activation", json!({ "seed_ids": [ana] }));
    assert_eq!(spread["activated"][0]["id"], json!(cafe), "{spread}");
    let moved = client.call_ok(
        "supersede_fact",
        json!({ "entity_id": cafe, "new_summary": "on Elm Street", "reason": "moved" }),
    );
    let current = text(&moved["current"]["id"]);
    let found = client.call_ok("semantic_recall", json!({ "query": "Blue Door café" }));
    assert_eq!(
        found["entities"][0]["id"],
        json!(current),
        "the superseded fact left recall: {found}"
    );
}

fn procedural(client: &mut StdioClient) {
    let skill = client.call_ok(
        "create_skill",
        json!({ "name": "brew pour-over coffee", "description": "one cup of filter coffee", "steps": ["grind {grams} g", "pour"] }),
    );
    let skill = text(&skill["id"]);
    let recalled = client.call_ok("recall_skill", json!({ "query": "make coffee" }));
    assert_eq!(recalled["skills"][0]["id"], json!(skill));
    let run = client.call_ok(
        "execute_skill",
        json!({ "skill_id": skill, "parameters": { "grams": 18 } }),
    );
    assert_eq!(run["steps"], json!(["grind 18 g", "pour"]));
    let deprecated = client.call_ok(
        "deprecate_skill",
        json!({ "skill_id": skill, "reason": "replaced" }),
    );
    assert_eq!(deprecated["deprecated"], true);
}

#[test]
fn the_recall_episodes_trace_has_the_seeds_shape() {
    let mut client = StdioClient::initialized();
    client.call_ok(
        "create_episode",
        json!({ "content": "Had coffee with Ana" }),
    );
    let id = client.next_id();
    client.call_ok("recall_episodes", json!({ "query": "coffee", "limit": 10 }));
    let (status, stderr) = client.finish();
    assert!(status.success());

    let traces = parse_traces(&stderr);
    let trace = trace_of(&traces, "mcp.recall_episodes", Some(id));
    assert_eq!(
        trace.outline(),
        "\
mcp.recall_episodes SERVER
  episodic.recall INTERNAL
    qdrant.search CLIENT
    scoring_computation INTERNAL
  response_formatting INTERNAL
",
        "{stderr}"
    );
    let root = trace.root();
    assert_eq!(root.attribute("mcp.method.name"), Some("tools/call"));
    assert_eq!(root.attribute("gen_ai.tool.name"), Some("recall_episodes"));
    assert_eq!(
        root.attribute("gen_ai.operation.name"),
        Some("execute_tool")
    );
    assert_eq!(
        root.attribute("jsonrpc.request.id"),
        Some(id.to_string().as_str())
    );
    assert_eq!(root.attribute("mcp.session.id").map(str::len), Some(32));
    assert_eq!(root.attribute("mcp.protocol.version"), Some("2025-06-18"));
    assert_eq!(root.attribute("network.transport"), Some("pipe"));
    assert_eq!(root.error, None);

    let (recall, _) = trace.child(0, "episodic.recall");
    let (_, search) = trace.child(recall, "qdrant.search");
    assert_eq!(search.attribute("collection"), Some("ww_episodes"));
    assert_eq!(search.attribute("limit"), Some("10"));
    assert_eq!(search.attribute("db.system.name"), Some("qdrant"));
    assert_eq!(search.attribute("db.collection.name"), Some("ww_episodes"));
    assert_eq!(search.attribute("db.operation.name"), Some("search"));
    assert_eq!(search.attribute("db.response.returned_rows"), Some("1"));
}

#[test]
fn malformed_input_gets_json_rpc_errors_and_the_server_keeps_serving() {
    let mut client = StdioClient::initialized();
    let error = |response: &Value| {
        (
            response["error"]["code"].as_i64().unwrap(),
            response["id"].clone(),
        )
    };

    client.send_raw(b"{not json");
    assert_eq!(error(&client.next_response()), (-32_700, Value::Null));
    client.send_raw(&[0xff, 0xfe, b'{', b'}']);
    assert_eq!(
        error(&client.next_response()),
        (-32_700, Value::Null),
        "not UTF-8"
    );
    client.send_raw(b"[]");
    assert_eq!(
        error(&client.next_response()),
        (-32_600, Value::Null),
        "no batches"
    );
    client.send_raw(br#"{"jsonrpc":"1.0","id":"old","method":"ping"}"#);
    assert_eq!(error(&client.next_response()), (-32_600, json!("old")));
    client.send_raw(b"   ");

    let unknown_method = client.request("resources/list", json!({}));
    assert_eq!(unknown_method["error"]["code"], -32_601);
    let unknown_tool = client.request(
        "tools/call",
        json!({ "name": "forget_everything", "arguments": {} }),
    );
    assert_eq!(unknown_tool["error"]["code"], -32_602);
    assert_eq!(
        unknown_tool["error"]["message"],
        "unknown tool `forget_everything`"
    );
    for arguments in [
        json!({}),
        json!({ "query": 7 }),
        json!({ "query": "coffee", "limit": 0 }),
        json!({ "query": "coffee", "limit": 10.5 }),
        json!({ "query": "coffee", "colour": "blue" }),
        json!("coffee"),
    ] {
        let response = client.request(
            "tools/call",
            json!({ "name": "recall_episodes", "arguments": arguments }),
        );
        assert_eq!(
            response["error"]["code"], -32_602,
            "{arguments} → {response}"
        );
    }
    let bad_time = client.request(
        "tools/call",
        json!({ "name": "query_at_time", "arguments": { "timestamp": "yesterday" } }),
    );
    assert_eq!(bad_time["error"]["code"], -32_602);

    // A tool that runs and fails answers with a result flagged isError, not a JSON-RPC error.
    let missing = client.call("mark_important", json!({ "episode_id": "episode-404" }));
    assert_eq!(missing["isError"], true);
    assert_eq!(
        missing["content"][0]["text"],
        "no episode with id `episode-404`"
    );

    assert_eq!(client.result("ping", json!({})), json!({}), "still serving");
    let (status, stderr) = client.finish();
    assert!(status.success(), "{stderr}");

    assert_failures_traced(&parse_traces(&stderr));
}

/// Each failure of the test above is traced as one.
fn assert_failures_traced(traces: &[DrawnTrace]) {
    let parse_errors: Vec<_> = traces
        .iter()
        .filter(|trace| trace.root().name == "mcp.parse_error")
        .collect();
    assert_eq!(parse_errors.len(), 2);
    assert_eq!(
        parse_errors[0].root().attribute("error.type"),
        Some("-32700")
    );
    assert_eq!(
        parse_errors[0].root().attribute("rpc.response.status_code"),
        Some("-32700")
    );
    assert!(
        parse_errors[0]
            .root()
            .error
            .as_deref()
            .unwrap()
            .starts_with("parse error")
    );
    let invalid: Vec<_> = traces
        .iter()
        .filter(|trace| trace.root().name == "mcp.invalid_request")
        .collect();
    assert_eq!(invalid.len(), 2);
    assert_eq!(
        invalid[1].root().attribute("jsonrpc.request.id"),
        Some("old")
    );
    let unknown = trace_of(traces, "mcp.unknown_method", None);
    assert_eq!(unknown.root().attribute("error.type"), Some("-32601"));
    assert_eq!(
        unknown.root().attribute("mcp.method.name"),
        Some("resources/list")
    );
    let unknown_tool = trace_of(traces, "tools/call", None);
    assert_eq!(
        unknown_tool.root().attribute("gen_ai.tool.name"),
        Some("forget_everything")
    );
    assert_eq!(
        unknown_tool.root().error.as_deref(),
        Some("unknown tool `forget_everything`")
    );
    let bad_arguments: Vec<_> = traces
        .iter()
        .filter(|trace| trace.root().name == "mcp.recall_episodes")
        .collect();
    assert_eq!(bad_arguments.len(), 6);
    assert!(
        bad_arguments
            .iter()
            .all(|trace| trace.root().attribute("error.type") == Some("-32602"))
    );
    assert!(
        bad_arguments.iter().all(|trace| trace.spans.len() == 1),
        "no memory work for bad arguments"
    );

    let tool_error = trace_of(traces, "mcp.mark_important", None);
    assert_eq!(
        tool_error.root().attribute("error.type"),
        Some("tool_error")
    );
    assert_eq!(
        tool_error.root().error.as_deref(),
        Some("no episode with id `episode-404`")
    );
    let (_, service) = tool_error.child(0, "episodic.mark_important");
    assert_eq!(
        service.error.as_deref(),
        Some("no episode with id `episode-404`")
    );
    assert_eq!(service.events, ["exception"]);
    let ping = trace_of(traces, "ping", None);
    assert_eq!(ping.root().error, None);
}

#[test]
fn notifications_are_not_answered() {
    let mut client = StdioClient::initialized();
    client.notify("notifications/cancelled", json!({ "requestId": 1 }));
    client.notify("notifications/whatever", json!({}));
    client.notify("tools/call", json!({ "name": "memory_stats" }));
    client.send(&json!({ "jsonrpc": "2.0", "id": 77, "result": {} }));
    // `request` checks that the very next line answers it.
    assert_eq!(client.result("ping", json!({})), json!({}));
    let (status, stderr) = client.finish();
    assert!(status.success());
    let traces = parse_traces(&stderr);
    let roots: Vec<&str> = traces
        .iter()
        .map(|trace| trace.root().name.as_str())
        .collect();
    assert_eq!(
        roots,
        [
            "initialize",
            "notifications/initialized",
            "notifications/cancelled",
            "mcp.unknown_method",
            "tools/call",
            "ping"
        ],
        "a client's response is not traced; nothing is an error"
    );
    assert!(traces.iter().all(|trace| trace.root().error.is_none()));
}

#[test]
fn a_call_carrying_meta_traceparent_continues_the_callers_trace() {
    let mut client = StdioClient::initialized();
    let id = client.next_id();
    client.result(
        "tools/call",
        json!({
            "name": "recall_episodes",
            "arguments": { "query": "coffee" },
            "_meta": {
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "rojo=00f067aa0ba902b7",
            },
        }),
    );
    let (status, stderr) = client.finish();
    assert!(status.success());
    let traces = parse_traces(&stderr);
    let trace = trace_of(&traces, "mcp.recall_episodes", Some(id));
    assert_eq!(
        trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
        "{stderr}"
    );
    assert_eq!(
        trace.remote_parent.as_deref(),
        Some("00f067aa0ba902b7"),
        "{stderr}"
    );
}

#[test]
fn without_demo_tracing_is_off_unless_the_environment_turns_it_on() {
    let mut quiet = command(&[]);
    quiet
        .env_remove("T4DM_OTEL_ENABLED")
        .env_remove("T4DM_OTEL_CONSOLE");
    let mut client = StdioClient::start_with(&mut quiet);
    client.result(
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }),
    );
    client.call_ok("create_episode", json!({ "content": "untraced" }));
    let (status, stderr) = client.finish();
    assert!(status.success());
    assert!(parse_traces(&stderr).is_empty(), "{stderr}");
}
