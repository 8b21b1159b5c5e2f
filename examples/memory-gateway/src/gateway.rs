//! The MCP server: `initialize`, `ping`, `tools/list` and `tools/call`, each message one
//! SERVER span that continues the caller's trace.

use crate::jsonrpc::{self, INVALID_REQUEST, METHOD_NOT_FOUND, Malformed, Message, RpcError};
use crate::memory::Memory;
use crate::propagation::caller_context;
use crate::tools::{Tool, ToolError, error_result};
use http::HeaderMap;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use t4dm_trace_runtime::{Context, add_span_attribute, set_span_error, traced};

/// The MCP protocol versions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// How a client reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Newline-delimited JSON-RPC on standard input and output.
    Stdio,
    /// MCP's streamable HTTP transport.
    StreamableHttp,
    /// Calls made inside the process, as the `--demo` session makes them.
    InProcess,
}

impl Transport {
    /// What `get_session_id` reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::StreamableHttp => "streamable-http",
            Transport::InProcess => "in-process",
        }
    }

    /// `network.transport`, as MCP's conventions ask: `pipe` for stdio, `tcp` for HTTP.
    #[must_use]
    pub fn network_transport(self) -> Option<&'static str> {
        match self {
            Transport::Stdio => Some("pipe"),
            Transport::StreamableHttp => Some("tcp"),
            Transport::InProcess => None,
        }
    }
}

/// One client's session: its id, transport and negotiated protocol version.
#[derive(Debug)]
pub struct Session {
    id: String,
    transport: Transport,
    protocol_version: Mutex<Option<&'static str>>,
}

impl Session {
    /// A session with a new random id.
    ///
    /// # Errors
    ///
    /// When the operating system cannot provide random bytes.
    pub fn new(transport: Transport) -> Result<Session, getrandom::Error> {
        let mut bytes = [0_u8; 16];
        getrandom::fill(&mut bytes)?;
        let mut id = String::with_capacity(2 * bytes.len());
        for byte in bytes {
            let _ = write!(id, "{byte:02x}");
        }
        Ok(Session::with_id(id, transport))
    }

    /// A session with a given id.
    #[must_use]
    pub fn with_id(id: String, transport: Transport) -> Session {
        Session {
            id,
            transport,
            protocol_version: Mutex::new(None),
        }
    }

    /// `mcp.session.id`; on HTTP, the `Mcp-Session-Id` header.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How the client reaches the gateway.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The version agreed at `initialize`, once it has happened.
    #[must_use]
    pub fn protocol_version(&self) -> Option<&'static str> {
        *self
            .protocol_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_protocol_version(&self, version: &'static str) {
        *self
            .protocol_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(version);
    }
}

/// The memory gateway: memory services behind an MCP server.
#[derive(Debug, Default)]
pub struct Gateway {
    memory: Memory,
}

/// One message on its way through the gateway: what its span is called and records.
struct Call {
    span_name: &'static str,
    parent: Option<Context>,
    method: Option<String>,
    request_id: Option<String>,
    tool_name: Option<String>,
    message: Result<Message, Malformed>,
}

impl Gateway {
    /// A gateway with empty memory.
    #[must_use]
    pub fn new() -> Self {
        Gateway::default()
    }

    /// Handles one message as read from the wire; returns the response to send, if any.
    pub async fn handle_bytes(&self, session: &Session, bytes: &[u8]) -> Option<Value> {
        self.handle(session, jsonrpc::parse(bytes), None).await
    }

    /// Handles one parsed message; `headers` are the HTTP request's, on that transport.
    /// Returns the response to send: `None` for notifications and client responses.
    pub async fn handle(
        &self,
        session: &Session,
        message: Result<Message, Malformed>,
        headers: Option<&HeaderMap>,
    ) -> Option<Value> {
        if let Ok(Message::Response) = message {
            // This server sends no requests, so there is nothing to match a response to.
            return None;
        }
        let meta = message.as_ref().ok().and_then(Message::meta);
        let parent = caller_context(meta, headers);
        let call = Call::new(message, parent);
        self.serve(session, call).await
    }

    #[traced(
        name = call.span_name,
        kind = Server,
        parent = call.parent,
        attrs(
            mcp.method.name = call.method.as_deref(),
            jsonrpc.request.id = call.request_id.as_deref(),
            gen_ai.tool.name = call.tool_name.as_deref(),
            gen_ai.operation.name = call.tool_name.as_ref().map(|_| "execute_tool"),
            mcp.session.id = Some(session.id()).filter(|id| !id.is_empty()),
            mcp.protocol.version = session.protocol_version(),
            network.transport = session.transport().network_transport(),
        )
    )]
    async fn serve(&self, session: &Session, call: Call) -> Option<Value> {
        match call.message {
            Err(Malformed { id, error }) => Some(fail(&id, &error)),
            Ok(Message::Notification { .. } | Message::Response) => None,
            Ok(Message::Request { id, method, params }) => {
                let outcome = match method.as_str() {
                    "initialize" => initialize(session, params.as_ref()),
                    "ping" => Ok(json!({})),
                    "tools/list" => Ok(json!({
                        "tools": Tool::ALL.iter().map(|tool| tool.listing()).collect::<Vec<_>>(),
                    })),
                    "tools/call" => self.call_tool(session, params).await,
                    _ => Err(RpcError::new(
                        METHOD_NOT_FOUND,
                        format!("method not found: `{method}`"),
                    )),
                };
                Some(match outcome {
                    Ok(result) => jsonrpc::success(&id, result),
                    Err(error) => fail(&id, &error),
                })
            }
        }
    }

    async fn call_tool(&self, session: &Session, params: Option<Value>) -> Result<Value, RpcError> {
        let Some(Value::Object(mut params)) = params else {
            return Err(RpcError::invalid_params(
                "`tools/call` needs `params` naming the tool",
            ));
        };
        let Some(Value::String(name)) = params.remove("name") else {
            return Err(RpcError::invalid_params("`params.name` must name a tool"));
        };
        // MCP's own example answers an unknown tool with -32602: the name is a bad parameter.
        let tool = Tool::from_name(&name)
            .ok_or_else(|| RpcError::invalid_params(format!("unknown tool `{name}`")))?;
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) => arguments,
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "`params.arguments` must be an object",
                ));
            }
        };
        match tool.call(&self.memory, session, arguments).await {
            Ok(result) => Ok(result),
            Err(ToolError::InvalidArguments(message)) => Err(RpcError::invalid_params(format!(
                "invalid arguments for `{name}`: {message}"
            ))),
            Err(ToolError::Failed(error)) => {
                let message = error.to_string();
                set_span_error("tool_error", message.clone());
                Ok(error_result(&message))
            }
        }
    }
}

impl Call {
    fn new(message: Result<Message, Malformed>, parent: Option<Context>) -> Call {
        let (method, request_id, tool_name) = match &message {
            Ok(Message::Request { id, method, params }) => (
                Some(method.clone()),
                jsonrpc::id_text(id),
                tool_name(method, params.as_ref()),
            ),
            // A `tools/call` without an id expects no answer and runs nothing: no tool span.
            Ok(Message::Notification { method, .. }) => (Some(method.clone()), None, None),
            Ok(Message::Response) => (None, None, None),
            Err(malformed) => (None, jsonrpc::id_text(&malformed.id), None),
        };
        let span_name = match &message {
            Err(malformed) if malformed.error.code == INVALID_REQUEST => "mcp.invalid_request",
            Err(_) => "mcp.parse_error",
            Ok(_) => match (
                method.as_deref(),
                tool_name.as_deref().and_then(Tool::from_name),
            ) {
                (Some("tools/call"), Some(tool)) => tool.span_name(),
                (Some(method), _) => known_method(method).unwrap_or("mcp.unknown_method"),
                (None, _) => "mcp.response",
            },
        };
        Call {
            span_name,
            parent,
            method,
            request_id,
            tool_name,
            message,
        }
    }
}

/// The tool a `tools/call` names.
fn tool_name(method: &str, params: Option<&Value>) -> Option<String> {
    if method != "tools/call" {
        return None;
    }
    params?.get("name")?.as_str().map(str::to_owned)
}

/// Span names for the methods this server knows, as MCP's conventions name them (a static
/// string, so that an unknown method cannot add names without bound).
fn known_method(method: &str) -> Option<&'static str> {
    [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "notifications/initialized",
        "notifications/cancelled",
    ]
    .into_iter()
    .find(|known| *known == method)
}

/// An error response, recorded on the current span as MCP's conventions ask: status Error
/// with the message, `error.type` and `rpc.response.status_code` the JSON-RPC code.
fn fail(id: &Value, error: &RpcError) -> Value {
    let code = error.code.to_string();
    set_span_error(code.clone(), error.message.clone());
    add_span_attribute("rpc.response.status_code", code);
    jsonrpc::failure(id, error)
}

fn initialize(session: &Session, params: Option<&Value>) -> Result<Value, RpcError> {
    let requested = params
        .and_then(|params| params.get("protocolVersion"))
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("`initialize` needs `params.protocolVersion`"))?;
    // A version we do not speak is answered with our newest; the client decides whether to go on.
    let version = PROTOCOL_VERSIONS
        .iter()
        .copied()
        .find(|version| *version == requested)
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    if session.protocol_version().is_none() {
        // The span recorded the session's version when it started; this session had none yet.
        add_span_attribute("mcp.protocol.version", version);
    }
    session.set_protocol_version(version);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": {
            "name": "t4dm-gateway",
            "title": "T4DM memory gateway",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Episodic, semantic and procedural memory. Store with create_episode, \
            create_entity and create_skill; recall with recall_episodes, semantic_recall and \
            recall_skill.",
    }))
}
