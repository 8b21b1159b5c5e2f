//! A test MCP client for the `t4dm-gateway` binary, and a reader of the trace trees its console
//! exporter draws on standard error.

#![allow(dead_code, unreachable_pub)] // each test file uses part of this module

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A JSON-RPC request (with an id) or notification (without), built by moving `params` in.
pub fn message(id: Option<u64>, method: &str, params: Value) -> Value {
    let mut message = serde_json::Map::new();
    message.insert("jsonrpc".to_owned(), Value::from("2.0"));
    if let Some(id) = id {
        message.insert("id".to_owned(), Value::from(id));
    }
    message.insert("method".to_owned(), Value::from(method));
    message.insert("params".to_owned(), params);
    Value::Object(message)
}

/// A `tools/call` request.
pub fn tool_call(id: u64, tool: &str, arguments: Value) -> Value {
    let mut params = serde_json::Map::new();
    params.insert("name".to_owned(), Value::from(tool));
    params.insert("arguments".to_owned(), arguments);
    message(Some(id), "tools/call", Value::Object(params))
}

/// The seed's 17 tools, in the seed's order.
pub const TOOLS: [&str; 17] = [
    "create_episode",
    "recall_episodes",
    "query_at_time",
    "mark_important",
    "create_entity",
    "create_relation",
    "semantic_recall",
    "spread_activation",
    "supersede_fact",
    "create_skill",
    "recall_skill",
    "execute_skill",
    "deprecate_skill",
    "consolidate_now",
    "get_provenance",
    "get_session_id",
    "memory_stats",
];

/// How long any one answer may take before the test fails rather than hangs.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `t4dm-gateway` started with tracing on and the console exporter on standard error, and
/// nothing else from the test's environment that could send spans elsewhere.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_t4dm-gateway"));
    command
        .args(args)
        // No `.env` from the working tree.
        .current_dir(std::env::temp_dir())
        .env_remove("T4DM_OTEL_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("T4DM_OTEL_SAMPLE_RATIO")
        .env_remove("OTEL_TRACES_SAMPLER")
        .env("T4DM_OTEL_ENABLED", "true")
        .env("T4DM_OTEL_CONSOLE", "true")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Collects a child's standard error on a thread, so the pipe never fills.
pub struct Stderr {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Stderr {
    pub fn collect(child: &mut Child) -> Stderr {
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0_u8; 8192];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Stderr {
            text,
            reader: Some(reader),
        }
    }

    /// What has arrived so far.
    pub fn snapshot(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits until `found` accepts what has arrived; returns it.
    pub fn wait_for(&self, what: &str, found: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.snapshot();
            if found(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {what} on stderr:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything, once the child has closed the pipe.
    pub fn finish(mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stderr reader does not panic");
        }
        self.snapshot()
    }
}

/// An MCP client on the gateway's stdin and stdout.
pub struct StdioClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Stderr,
    next_id: u64,
}

impl StdioClient {
    /// Starts the gateway on stdio.
    pub fn start() -> StdioClient {
        StdioClient::start_with(&mut command(&[]))
    }

    /// Starts the gateway as `command` says.
    pub fn start_with(command: &mut Command) -> StdioClient {
        let mut child = command.spawn().expect("the gateway starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Stderr::collect(&mut child);
        StdioClient {
            child,
            stdin,
            lines,
            stderr,
            next_id: 0,
        }
    }

    /// Starts the gateway and goes through MCP's handshake.
    pub fn initialized() -> StdioClient {
        let mut client = StdioClient::start();
        let result = client.result(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "gateway-tests", "version": "0" },
            }),
        );
        assert_eq!(result["protocolVersion"], "2025-06-18");
        client.notify("notifications/initialized", json!({}));
        client
    }

    /// Sends raw bytes and a newline.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a message.
    pub fn send(&mut self, message: &Value) {
        self.send_raw(message.to_string().as_bytes());
    }

    /// The next line on stdout, which must be one JSON-RPC 2.0 response.
    pub fn next_response(&mut self) -> Value {
        let line = match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no response on stdout; stderr:\n{}", self.stderr.snapshot())
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("stdout closed; stderr:\n{}", self.stderr.snapshot())
            }
        };
        let response: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("stdout carried a non-JSON line ({error}): {line}"));
        assert_eq!(response["jsonrpc"], "2.0", "{line}");
        response
    }

    /// Sends a request and returns its response, which must be the next line on stdout: the
    /// server answers in order, and nothing else (a notification's answer, a log line) may
    /// come first.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&message(Some(id), method, params));
        let response = self.next_response();
        assert_eq!(
            response["id"], id,
            "the response answers the request: {response}"
        );
        response
    }

    /// The request's `result`; fails on an error response.
    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// Calls a tool; returns the `CallToolResult`.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&tool_call(id, tool, arguments));
        let response = self.next_response();
        assert_eq!(
            response["id"], id,
            "the response answers the request: {response}"
        );
        assert!(response.get("error").is_none(), "{tool} failed: {response}");
        response["result"].clone()
    }

    /// Calls a tool that must succeed; returns its `structuredContent`.
    pub fn call_ok(&mut self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments);
        assert_eq!(result["isError"], false, "{tool} failed: {result}");
        let structured = result["structuredContent"].clone();
        assert!(structured.is_object(), "{tool}: {result}");
        let text = result["content"][0]["text"].as_str().expect("a text block");
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            structured,
            "the text block carries the same JSON"
        );
        structured
    }

    /// The request id the next request will carry.
    pub fn next_id(&self) -> u64 {
        self.next_id + 1
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&message(None, method, params));
    }

    /// What the gateway wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.snapshot()
    }

    /// Closes stdin, as a client does when it is done; returns the exit status and stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = wait(&mut self.child);
        assert!(
            self.lines.recv_timeout(Duration::from_millis(10)).is_err(),
            "nothing more on stdout after the last response"
        );
        (status, self.stderr.finish())
    }
}

/// Waits for the child to exit, killing it (and failing) after [`PATIENCE`].
pub fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One span as the console tree draws it.
#[derive(Debug, Clone)]
pub struct DrawnSpan {
    pub name: String,
    pub kind: String,
    pub error: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<String>,
    /// The index of the parent span in [`DrawnTrace::spans`]; `None` for the root.
    pub parent: Option<usize>,
}

impl DrawnSpan {
    /// The attribute's value as drawn.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// One trace as the console exporter draws it.
#[derive(Debug, Clone)]
pub struct DrawnTrace {
    pub trace_id: String,
    /// The caller's span id, when the trace continues a remote one.
    pub remote_parent: Option<String>,
    /// Depth-first, in drawing order.
    pub spans: Vec<DrawnSpan>,
}

impl DrawnTrace {
    pub fn root(&self) -> &DrawnSpan {
        &self.spans[0]
    }

    /// The children of span `index`, in drawing (start) order.
    pub fn children(&self, index: usize) -> Vec<(usize, &DrawnSpan)> {
        self.spans
            .iter()
            .enumerate()
            .filter(|(_, span)| span.parent == Some(index))
            .collect()
    }

    /// The child of span `index` named `name`.
    pub fn child(&self, index: usize, name: &str) -> (usize, &DrawnSpan) {
        self.children(index)
            .into_iter()
            .find(|(_, span)| span.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no child {name:?} under {:?} in {self:#?}",
                    self.spans[index].name
                )
            })
    }

    /// `name (KIND)` per line, indented by depth: the tree's shape without timings.
    pub fn outline(&self) -> String {
        let mut text = String::new();
        for span in &self.spans {
            let mut depth = 0;
            let mut up = span.parent;
            while let Some(parent) = up {
                depth += 1;
                up = self.spans[parent].parent;
            }
            let _ = writeln!(text, "{}{} {}", "  ".repeat(depth), span.name, span.kind);
        }
        text
    }
}

/// Every trace in the console exporter's output (other lines are ignored).
pub fn parse_traces(stderr: &str) -> Vec<DrawnTrace> {
    let mut traces = Vec::new();
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix("trace ") else {
            continue;
        };
        let mut fields = header.split(" · ");
        let trace_id = fields.next().unwrap_or_default().to_owned();
        let remote_parent = fields
            .find_map(|field| field.strip_prefix("remote parent "))
            .map(str::to_owned);
        let mut spans: Vec<DrawnSpan> = Vec::new();
        // The span most recently drawn at each depth.
        let mut open: Vec<usize> = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            let rest = line.trim_start_matches([' ', '│', '├', '└', '─']);
            let prefix = &line[..line.len() - rest.len()];
            let prefix_chars = prefix.chars().count();
            let is_span = prefix.is_empty() || prefix.ends_with("─ ");
            if is_span {
                let depth = if prefix.is_empty() {
                    0
                } else {
                    (prefix_chars - 1) / 4
                };
                let (name, after) = rest.split_once(" (").expect("a span line has a duration");
                let (_, after) = after.split_once(") ").expect("a span line has a kind");
                let (kind, error) = match after.split_once(" ✗ error: ") {
                    Some((kind, error)) => (kind, Some(error.to_owned())),
                    None => (after, None),
                };
                open.truncate(depth);
                spans.push(DrawnSpan {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    error,
                    attributes: Vec::new(),
                    events: Vec::new(),
                    parent: open.last().copied(),
                });
                open.push(spans.len() - 1);
            } else if let Some(span) = spans.last_mut() {
                if let Some(event) = rest.strip_prefix("◆ ") {
                    span.events
                        .push(event.split(' ').next().unwrap_or_default().to_owned());
                } else if let Some((key, value)) = rest.split_once('=') {
                    span.attributes.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        traces.push(DrawnTrace {
            trace_id,
            remote_parent,
            spans,
        });
    }
    traces
}

/// The one trace whose root span is `root` and, if given, whose root records `request_id`.
pub fn trace_of<'a>(
    traces: &'a [DrawnTrace],
    root: &str,
    request_id: Option<u64>,
) -> &'a DrawnTrace {
    let id = request_id.map(|id| id.to_string());
    let found: Vec<&DrawnTrace> = traces
        .iter()
        .filter(|trace| {
            !trace.spans.is_empty()
                && trace.root().name == root
                && (id.is_none() || trace.root().attribute("jsonrpc.request.id") == id.as_deref())
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one trace rooted at {root} (request {request_id:?}); roots drawn: {:?}",
        traces
            .iter()
            .map(|trace| &trace.root().name)
            .collect::<Vec<_>>()
    );
    found[0]
}

/// The gateway serving streamable HTTP on a free port of 127.0.0.1.
pub struct HttpGateway {
    child: Child,
    stderr: Stderr,
    pub port: u16,
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

impl HttpGateway {
    pub fn start() -> HttpGateway {
        const READY: &str = "serving MCP at http://127.0.0.1:";
        let mut child = command(&["--http", "0"])
            .spawn()
            .expect("the gateway starts");
        let stderr = Stderr::collect(&mut child);
        let text = stderr.wait_for("listening address", |text| {
            text.lines().any(|line| line.contains(READY))
        });
        let port = text
            .lines()
            .find_map(|line| line.split_once(READY))
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .expect("a port in the listening line");
        HttpGateway {
            child,
            stderr,
            port,
        }
    }

    /// Sends one request on a fresh connection and reads the whole response.
    pub fn send(&self, method: &str, body: Option<&str>, headers: &[(&str, &str)]) -> HttpReply {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let body = body.unwrap_or_default();
        let mut request = format!(
            "{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            let _ = write!(request, "{name}: {value}\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        HttpReply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// POSTs a JSON-RPC message as an MCP client does.
    pub fn post(&self, message: &Value, session: Option<&str>) -> HttpReply {
        let mut headers = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
        }
        self.send("POST", Some(&message.to_string()), &headers)
    }

    /// Opens a session; returns its id.
    pub fn initialize(&self) -> String {
        let reply = self.post(
            &json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "gateway-tests", "version": "0" } },
            }),
            None,
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json()["result"]["protocolVersion"], "2025-06-18");
        reply
            .header("mcp-session-id")
            .expect("initialize opens a session")
            .to_owned()
    }

    /// Waits until the console has drawn a trace `found` accepts.
    pub fn wait_for_trace(&self, what: &str, found: impl Fn(&DrawnTrace) -> bool) -> DrawnTrace {
        let text = self
            .stderr
            .wait_for(what, |text| parse_traces(text).iter().any(&found));
        parse_traces(&text)
            .into_iter()
            .find(|trace| found(trace))
            .unwrap()
    }

    pub fn stderr(&self) -> String {
        self.stderr.snapshot()
    }
}

impl Drop for HttpGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
