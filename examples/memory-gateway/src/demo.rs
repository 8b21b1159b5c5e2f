//! `--demo`: a scripted MCP session that calls every tool through the same handler the
//! transports use. The exchange is written to standard output, one line per message; the
//! console exporter draws each call's trace on standard error.

use crate::gateway::{Gateway, Session, Transport};
use serde_json::{Value, json};
use std::io::Write;
use t4dm_trace_runtime::{flush_tracing, tracing_stats};

/// The W3C trace context of a made-up calling agent's span.
const AGENT_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The transcript could not be written.
    #[error("cannot write the transcript: {0}")]
    Output(#[from] std::io::Error),
    /// No session id could be made.
    #[error("cannot make a session id: {0}")]
    Session(#[from] getrandom::Error),
    /// A call the script depends on did not return what it should.
    #[error("`{tool}` returned no `{field}`: {response}")]
    Unexpected {
        /// The tool called.
        tool: &'static str,
        /// The field the script needed.
        field: &'static str,
        /// What came back.
        response: Value,
    },
}

/// Runs the scripted session, writing the exchange to `transcript`.
///
/// # Errors
///
/// [`DemoError`] when the transcript cannot be written or a call misbehaves.
pub async fn run(transcript: &mut impl Write) -> Result<(), DemoError> {
    let mut demo = Demo {
        gateway: Gateway::new(),
        session: Session::new(Transport::InProcess)?,
        next_id: 0,
        transcript,
    };
    demo.open().await?;
    demo.episodic().await?;
    let cafe = demo.semantic().await?;
    demo.procedural().await?;
    demo.system(&cafe).await?;
    demo.failures().await
}

struct Demo<'a, W> {
    gateway: Gateway,
    session: Session,
    next_id: u64,
    transcript: &'a mut W,
}

impl<W: Write> Demo<'_, W> {
    async fn open(&mut self) -> Result<(), DemoError> {
        self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "t4dm-demo", "version": env!("CARGO_PKG_VERSION") },
            }),
        )
        .await?;
        self.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await?;
        self.request("tools/list", json!({})).await?;
        Ok(())
    }

    async fn episodic(&mut self) -> Result<(), DemoError> {
        let coffee = self
            .tool(
                "create_episode",
                json!({
                    "content": "Had coffee with Ana at the Blue Door café; she suggested tracing the memory gateway",
                    "context": { "place": "Blue Door café", "with": ["Ana"] },
                    "importance": 0.7,
                }),
            )
            .await?;
        let coffee = field(&coffee, "create_episode", "id")?;
        self.tool(
            "create_episode",
            json!({ "content": "Reviewed the quarterly budget with finance", "importance": 0.4 }),
        )
        .await?;
        self.tool(
            "create_episode",
            json!({ "content": "Ana recommended the Ethiopian coffee beans sold at the café" }),
        )
        .await?;
        // The seed's example trace.
        self.tool(
            "recall_episodes",
            json!({ "query": "coffee with Ana", "limit": 10 }),
        )
        .await?;
        self.tool(
            "query_at_time",
            json!({ "timestamp": crate::time::Timestamp::now().to_string(), "limit": 5 }),
        )
        .await?;
        self.tool(
            "mark_important",
            json!({ "episode_id": coffee, "importance": 0.9 }),
        )
        .await?;
        // An agent that traces its own work passes its span in `_meta`: the gateway's spans
        // join the agent's trace (`remote parent` in the tree's header).
        self.request(
            "tools/call",
            json!({
                "name": "recall_episodes",
                "arguments": { "query": "Ethiopian coffee beans", "limit": 3 },
                "_meta": { "traceparent": AGENT_TRACEPARENT },
            }),
        )
        .await?;
        Ok(())
    }

    /// Returns the id of the café's current entity.
    async fn semantic(&mut self) -> Result<String, DemoError> {
        let ana = self
            .tool(
                "create_entity",
                json!({ "name": "Ana", "entity_type": "person", "summary": "barista at the Blue Door café" }),
            )
            .await?;
        let ana = field(&ana, "create_entity", "id")?;
        let cafe = self
            .tool(
                "create_entity",
                json!({ "name": "Blue Door café", "entity_type": "place", "summary": "café on Main Street" }),
            )
            .await?;
        let cafe = field(&cafe, "create_entity", "id")?;
        self.tool(
            "create_relation",
            json!({ "source_id": ana, "target_id": cafe, "relation_type": "WORKS_AT", "weight": 0.9 }),
        )
        .await?;
        self.tool(
            "semantic_recall",
            json!({ "query": "who works at the café", "limit": 5 }),
        )
        .await?;
        self.tool(
            "spread_activation",
            json!({ "seed_ids": [ana], "max_hops": 2 }),
        )
        .await?;
        let moved = self
            .tool(
                "supersede_fact",
                json!({ "entity_id": cafe, "new_summary": "café on Elm Street", "reason": "moved in May" }),
            )
            .await?;
        moved
            .get("current")
            .and_then(|current| current.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| DemoError::Unexpected {
                tool: "supersede_fact",
                field: "current.id",
                response: moved.clone(),
            })
    }

    async fn procedural(&mut self) -> Result<(), DemoError> {
        let brew = self
            .tool(
                "create_skill",
                json!({
                    "name": "brew pour-over coffee",
                    "description": "make one cup of filter coffee",
                    "steps": ["heat water to {temperature} °C", "grind {grams} g of beans", "pour slowly for three minutes"],
                }),
            )
            .await?;
        let brew = field(&brew, "create_skill", "id")?;
        self.tool("recall_skill", json!({ "query": "make coffee" }))
            .await?;
        self.tool(
            "execute_skill",
            json!({ "skill_id": brew, "parameters": { "temperature": 94, "grams": 18 } }),
        )
        .await?;
        self.tool(
            "deprecate_skill",
            json!({ "skill_id": brew, "reason": "the café lent us an AeroPress" }),
        )
        .await?;
        Ok(())
    }

    async fn system(&mut self, memory_id: &str) -> Result<(), DemoError> {
        self.tool("consolidate_now", json!({})).await?;
        self.tool("get_provenance", json!({ "memory_id": memory_id }))
            .await?;
        self.tool("get_session_id", json!({})).await?;
        self.tool("memory_stats", json!({})).await?;
        Ok(())
    }

    /// What failures look like: a tool error, bad arguments, an unknown tool, bad JSON, an
    /// unknown method. The gateway answers each and goes on.
    async fn failures(&mut self) -> Result<(), DemoError> {
        self.tool("mark_important", json!({ "episode_id": "episode-404" }))
            .await?;
        self.tool("recall_episodes", json!({ "query": "coffee", "limit": 0 }))
            .await?;
        self.tool("forget_everything", json!({})).await?;
        self.send_text(r#"{"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"#)
            .await?;
        self.request("resources/list", json!({})).await?;
        Ok(())
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, DemoError> {
        self.next_id += 1;
        let message =
            json!({ "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params });
        self.send(message).await
    }

    /// Calls a tool and returns its `structuredContent` (or the whole response).
    async fn tool(&mut self, name: &str, arguments: Value) -> Result<Value, DemoError> {
        let response = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        Ok(response
            .get("result")
            .and_then(|result| result.get("structuredContent"))
            .cloned()
            .unwrap_or(response))
    }

    async fn send(&mut self, message: Value) -> Result<Value, DemoError> {
        let label = describe_request(&message);
        self.exchange(&label, &message.to_string()).await
    }

    async fn send_text(&mut self, text: &str) -> Result<Value, DemoError> {
        self.exchange(text, text).await
    }

    async fn exchange(&mut self, label: &str, text: &str) -> Result<Value, DemoError> {
        writeln!(self.transcript, "→ {}", abbreviate(label))?;
        let response = self
            .gateway
            .handle_bytes(&self.session, text.as_bytes())
            .await
            .unwrap_or(Value::Null);
        if !response.is_null() {
            writeln!(
                self.transcript,
                "← {}",
                abbreviate(&describe_response(&response))
            )?;
        }
        self.transcript.flush()?;
        draw_trace();
        Ok(response)
    }
}

/// `tools/call recall_episodes {"limit":10,..}`, or the method and its params.
fn describe_request(message: &Value) -> String {
    let method = message["method"].as_str().unwrap_or_default();
    let params = &message["params"];
    if method == "tools/call" {
        let meta = match params.get("_meta") {
            Some(meta) => format!(" _meta={meta}"),
            None => String::new(),
        };
        format!(
            "tools/call {} {}{meta}",
            params["name"].as_str().unwrap_or_default(),
            params["arguments"]
        )
    } else if params.is_null() {
        method.to_owned()
    } else {
        format!("{method} {params}")
    }
}

/// A tool's structured result, a tool error's text, a JSON-RPC error's code and message.
fn describe_response(response: &Value) -> String {
    if let Some(error) = response.get("error") {
        return format!(
            "error {}: {}",
            error["code"],
            error["message"].as_str().unwrap_or_default()
        );
    }
    let result = &response["result"];
    if result["isError"] == Value::Bool(true) {
        return format!(
            "tool error: {}",
            result["content"][0]["text"].as_str().unwrap_or_default()
        );
    }
    match result.get("structuredContent") {
        Some(structured) => structured.to_string(),
        None => result.to_string(),
    }
}

fn field(result: &Value, tool: &'static str, name: &'static str) -> Result<String, DemoError> {
    result
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| DemoError::Unexpected {
            tool,
            field: name,
            response: result.clone(),
        })
}

/// Keeps transcript lines short: the whole response is in the trace and on the wire.
fn abbreviate(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Draws the call's trace now, so that each tree follows its transcript lines instead of
/// arriving with a later batch. Only with the console on: an OTLP collector needs no pacing.
fn draw_trace() {
    if tracing_stats().exporter("console").is_none() {
        return;
    }
    if let Err(error) = flush_tracing() {
        eprintln!("t4dm-gateway: {error}");
    }
}
