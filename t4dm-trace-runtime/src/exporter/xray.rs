//! AWS X-Ray export: one segment document per span, each in one UDP datagram to the X-Ray
//! daemon (`{"format": "json", "version": 1}` then a newline, then the document).
//!
//! Written here rather than taken from `opentelemetry-aws` 0.21, whose daemon client stops at
//! the first datagram the socket refuses (an oversized document) and fails the rest of the batch
//! with it, and whose translator does not know the `exception.source_chain` this runtime records
//! (see `tests/tests/xray.rs`). Here every span is sent on its own; a document too large for a
//! datagram is trimmed (metadata first, largest value first) and marked as trimmed, and one that
//! still cannot be sent is reported to the pipeline, which counts it as dropped.
//!
//! The mapping:
//!
//! - server and consumer spans, roots, and spans with a remote parent are segments, named after
//!   the service (the node X-Ray's service map draws); the span's name is the `span_name`
//!   annotation. Every other span is a subsegment (`"type": "subsegment"`) named after the span,
//!   in the `remote` namespace when it is a client or producer span (`aws` for `rpc.system` =
//!   `aws-api`);
//! - an `Error` status, or an HTTP status code, sets `fault` (5xx, and errors without an HTTP
//!   status: unhandled), `error` (4xx) or `error` and `throttle` (429); every `exception` event
//!   becomes an exception in `cause`, its source chain linked through each exception's `cause`;
//! - HTTP attributes fill the `http` block and database attributes the `sql` block;
//! - the attributes chosen in `T4DM_OTEL_XRAY_ANNOTATIONS` are annotations (keys with characters
//!   other than letters, digits and `_` rewritten to `_`); the rest, and non-exception events,
//!   are metadata in the `default` namespace.

use super::json_value;
use crate::pipeline::ExportDrops;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value as Json, json};
use std::net::{SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// What starts every datagram to the daemon.
pub(crate) const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The largest datagram sent: the largest UDP payload over IPv4 (65,507 bytes), below the
/// daemon's 64 KiB limit.
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// Room kept for the trimming marker added after trimming.
const TRIM_MARKER_ROOM: usize = 128;

/// Strings longer than this are cut when a document must be trimmed.
const TRIMMED_STRING_BYTES: usize = 1024;

/// The most stack frames kept per exception.
const MAX_STACK_FRAMES: usize = 64;

/// Sends spans to the X-Ray daemon.
#[derive(Debug)]
pub(crate) struct XrayExporter {
    socket: UdpSocket,
    daemon: SocketAddr,
    service_name: String,
    service_version: Option<String>,
    annotations: Vec<String>,
    drops: ExportDrops,
}

impl XrayExporter {
    /// An exporter sending from a new socket to `daemon`.
    pub(crate) fn new(
        daemon: SocketAddr,
        annotations: Vec<String>,
        drops: ExportDrops,
    ) -> std::io::Result<Self> {
        let local: SocketAddr = if daemon.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        Ok(XrayExporter {
            socket: UdpSocket::bind(local)?,
            daemon,
            service_name: crate::config::T4DM_OTEL_SERVICE_NAME_DEFAULT.to_owned(),
            service_version: None,
            annotations,
            drops,
        })
    }

    fn encoder(&self) -> Encoder<'_> {
        Encoder {
            service_name: &self.service_name,
            service_version: self.service_version.as_deref(),
            annotations: &self.annotations,
        }
    }
}

impl SpanExporter for XrayExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let encoder = self.encoder();
        let mut sent = 0_u64;
        let mut lost = 0_u64;
        let mut send_error = None;
        for span in &batch {
            let Some(datagram) = encoder.datagram(span) else {
                lost += 1;
                continue;
            };
            match self.socket.send_to(&datagram, self.daemon) {
                Ok(_) => sent += 1,
                Err(error) => {
                    lost += 1;
                    send_error.get_or_insert(error);
                }
            }
        }
        let result = match send_error {
            // Nothing reached the daemon: the batch failed (and is counted so).
            Some(error) if sent == 0 => Err(OTelSdkError::InternalFailure(format!(
                "cannot send to the X-Ray daemon at {}: {error}",
                self.daemon
            ))),
            _ => {
                self.drops.add(lost);
                Ok(())
            }
        };
        std::future::ready(result)
    }

    fn set_resource(&mut self, resource: &Resource) {
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|value| value.to_string())
        };
        if let Some(name) = get("service.name") {
            self.service_name = name;
        }
        self.service_version = get("service.version");
    }
}

/// Builds segment documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoder<'a> {
    pub(crate) service_name: &'a str,
    pub(crate) service_version: Option<&'a str>,
    pub(crate) annotations: &'a [String],
}

impl Encoder<'_> {
    /// The datagram for `span`, trimmed to fit; `None` if even the trimmed document does not.
    pub(crate) fn datagram(&self, span: &SpanData) -> Option<Vec<u8>> {
        let mut document = self.document(span);
        let mut datagram = encode(&document);
        if datagram.len() <= MAX_DATAGRAM {
            return Some(datagram);
        }
        let original = datagram.len();
        trim(&mut document, MAX_DATAGRAM - TRIM_MARKER_ROOM);
        let metadata = document
            .entry("metadata")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(metadata) = metadata {
            metadata.insert(
                "t4dm".into(),
                json!({ "trimmed": true, "original_bytes": original }),
            );
        }
        datagram = encode(&document);
        (datagram.len() <= MAX_DATAGRAM).then_some(datagram)
    }

    /// The segment or subsegment document for `span`.
    pub(crate) fn document(&self, span: &SpanData) -> Map<String, Json> {
        let context = &span.span_context;
        let has_parent = span.parent_span_id != SpanId::INVALID;
        let segment = matches!(span.span_kind, SpanKind::Server | SpanKind::Consumer)
            || !has_parent
            || span.parent_span_is_remote;
        let mut attributes = Attributes(span.attributes.iter().collect());

        let mut document = Map::new();
        let name = if segment {
            self.service_name
        } else {
            span.name.as_ref()
        };
        document.insert("name".into(), json!(segment_name(name)));
        document.insert("id".into(), json!(context.span_id().to_string()));
        document.insert(
            "trace_id".into(),
            json!(xray_trace_id_text(&context.trace_id().to_string())),
        );
        if has_parent {
            document.insert("parent_id".into(), json!(span.parent_span_id.to_string()));
        }
        document.insert("start_time".into(), json!(epoch_seconds(span.start_time)));
        document.insert("end_time".into(), json!(epoch_seconds(span.end_time)));
        if segment {
            if let Some(version) = self.service_version {
                document.insert("service".into(), json!({ "version": version }));
            }
            document.insert(
                "aws".into(),
                json!({ "xray": { "sdk": "t4dm-trace", "sdk_version": env!("CARGO_PKG_VERSION") } }),
            );
        } else {
            document.insert("type".into(), json!("subsegment"));
            let aws_api = attributes
                .peek("rpc.system")
                .is_some_and(|value| value.as_str() == "aws-api");
            if aws_api {
                document.insert("namespace".into(), json!("aws"));
            } else if matches!(span.span_kind, SpanKind::Client | SpanKind::Producer) {
                document.insert("namespace".into(), json!("remote"));
            }
        }

        let status_code = http_block(&mut attributes, &mut document);
        sql_block(&mut attributes, &mut document);
        failure(span, status_code, &mut document);

        let mut annotations = Map::new();
        if segment {
            annotations.insert("span_name".into(), json!(span.name.as_ref()));
        }
        for key in self.annotations {
            if let Some(value) = attributes.take(&[key.as_str()]) {
                annotations.insert(annotation_key(key), annotation_value(value));
            }
        }
        if !annotations.is_empty() {
            document.insert("annotations".into(), Json::Object(annotations));
        }

        let mut metadata: Map<String, Json> = attributes
            .0
            .iter()
            .map(|attribute| (attribute.key.to_string(), json_value(&attribute.value)))
            .collect();
        let events: Vec<Json> = span
            .events
            .iter()
            .filter(|event| event.name != "exception")
            .map(|event| {
                let attributes: Map<String, Json> = event
                    .attributes
                    .iter()
                    .map(|attribute| (attribute.key.to_string(), json_value(&attribute.value)))
                    .collect();
                json!({
                    "name": event.name.as_ref(),
                    "time": epoch_seconds(event.timestamp),
                    "attributes": attributes,
                })
            })
            .collect();
        if !events.is_empty() {
            metadata.insert("otel.events".into(), Json::Array(events));
        }
        if !metadata.is_empty() {
            document.insert("metadata".into(), json!({ "default": metadata }));
        }
        document
    }
}

/// The attributes not yet placed in a block.
struct Attributes<'a>(Vec<&'a KeyValue>);

impl<'a> Attributes<'a> {
    fn peek(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|attribute| attribute.key.as_str() == key)
            .map(|attribute| &attribute.value)
    }

    /// The value of the first of `keys` present; every one of `keys` is removed.
    fn take(&mut self, keys: &[&str]) -> Option<&'a Value> {
        let found = keys.iter().find_map(|key| self.peek(key));
        self.0
            .retain(|attribute| !keys.contains(&attribute.key.as_str()));
        found
    }

    fn take_text(&mut self, keys: &[&str]) -> Option<String> {
        self.take(keys).map(|value| value.as_str().into_owned())
    }

    fn take_integer(&mut self, keys: &[&str]) -> Option<i64> {
        match self.take(keys)? {
            Value::I64(number) => Some(*number),
            Value::String(text) => text.as_str().trim().parse().ok(),
            _ => None,
        }
    }
}

/// Fills `http` from the HTTP attributes (current and older semantic conventions); returns the
/// response status code.
fn http_block(attributes: &mut Attributes<'_>, document: &mut Map<String, Json>) -> Option<i64> {
    let mut request = Map::new();
    if let Some(method) = attributes.take_text(&["http.request.method", "http.method"]) {
        request.insert("method".into(), json!(method));
    }
    if let Some(url) = attributes.take_text(&["url.full", "http.url"]) {
        request.insert("url".into(), json!(url));
    } else if let Some(path) = attributes.take_text(&["url.path"]) {
        request.insert("url".into(), json!(path));
    }
    if let Some(ip) = attributes.take_text(&["client.address", "http.client_ip"]) {
        request.insert("client_ip".into(), json!(ip));
    }
    if let Some(agent) = attributes.take_text(&["user_agent.original", "http.user_agent"]) {
        request.insert("user_agent".into(), json!(agent));
    }
    let mut response = Map::new();
    let status = attributes.take_integer(&["http.response.status_code", "http.status_code"]);
    if let Some(status) = status {
        response.insert("status".into(), json!(status));
    }
    if let Some(length) =
        attributes.take_integer(&["http.response.body.size", "http.response_content_length"])
    {
        response.insert("content_length".into(), json!(length));
    }
    if !(request.is_empty() && response.is_empty()) {
        let mut http = Map::new();
        if !request.is_empty() {
            http.insert("request".into(), Json::Object(request));
        }
        if !response.is_empty() {
            http.insert("response".into(), Json::Object(response));
        }
        document.insert("http".into(), Json::Object(http));
    }
    status
}

/// Fills `sql` from the database attributes (current and older semantic conventions).
fn sql_block(attributes: &mut Attributes<'_>, document: &mut Map<String, Json>) {
    let Some(system) = attributes.take_text(&["db.system.name", "db.system"]) else {
        return;
    };
    let mut sql = Map::new();
    sql.insert("database_type".into(), json!(system));
    let database = attributes.take_text(&["db.namespace", "db.name"]);
    let host = attributes
        .peek("server.address")
        .map(|value| value.as_str());
    match (host, &database) {
        (Some(host), Some(database)) => {
            sql.insert("url".into(), json!(format!("{host}/{database}")));
        }
        (Some(host), None) => {
            sql.insert("url".into(), json!(host.as_ref()));
        }
        (None, Some(database)) => {
            sql.insert("url".into(), json!(database));
        }
        (None, None) => {}
    }
    if let Some(query) = attributes.take_text(&["db.query.text", "db.statement"]) {
        sql.insert("sanitized_query".into(), json!(query));
    }
    if let Some(user) = attributes.take_text(&["db.user"]) {
        sql.insert("user".into(), json!(user));
    }
    document.insert("sql".into(), Json::Object(sql));
}

/// `fault`, `error`, `throttle` and `cause`.
fn failure(span: &SpanData, status_code: Option<i64>, document: &mut Map<String, Json>) {
    let failed = matches!(span.status, Status::Error { .. });
    match status_code {
        Some(429) => {
            document.insert("error".into(), json!(true));
            document.insert("throttle".into(), json!(true));
        }
        Some(400..=499) => {
            document.insert("error".into(), json!(true));
        }
        Some(500..=599) => {
            document.insert("fault".into(), json!(true));
        }
        _ if failed => {
            document.insert("fault".into(), json!(true));
        }
        _ => return,
    }
    let mut exceptions = Vec::new();
    let mut next_id = 0_u64;
    let span_id = u64::from_be_bytes(span.span_context.span_id().to_bytes());
    let mut new_id = || {
        next_id += 1;
        // Unique within the document, stable for a span.
        format!(
            "{:016x}",
            span_id ^ next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )
    };
    for event in span.events.iter().filter(|event| event.name == "exception") {
        let get = |key: &str| {
            event
                .attributes
                .iter()
                .find(|attribute| attribute.key.as_str() == key)
                .map(|attribute| &attribute.value)
        };
        let mut exception = Map::new();
        exception.insert("id".into(), json!(new_id()));
        if let Some(kind) = get("exception.type") {
            exception.insert("type".into(), json!(kind.as_str()));
        }
        if let Some(message) = get("exception.message") {
            exception.insert("message".into(), json!(message.as_str()));
        }
        if let Some(stack) = get("exception.stacktrace") {
            let (frames, truncated) = stack_frames(&stack.as_str());
            if !frames.is_empty() {
                exception.insert("stack".into(), Json::Array(frames));
            }
            if truncated > 0 {
                exception.insert("truncated".into(), json!(truncated));
            }
        }
        let chain: Vec<String> = match get("exception.source_chain") {
            Some(Value::Array(Array::String(items))) => {
                items.iter().map(|item| item.as_str().to_owned()).collect()
            }
            _ => Vec::new(),
        };
        let mut link = vec![exception];
        for message in chain {
            let id = new_id();
            if let Some(previous) = link.last_mut() {
                previous.insert("cause".into(), json!(id));
            }
            let mut cause = Map::new();
            cause.insert("id".into(), json!(id));
            cause.insert("message".into(), json!(message));
            link.push(cause);
        }
        exceptions.extend(link.into_iter().map(Json::Object));
    }
    if exceptions.is_empty()
        && let Status::Error { description } = &span.status
        && !description.is_empty()
    {
        exceptions.push(json!({ "id": new_id(), "message": description.as_ref() }));
    }
    if !exceptions.is_empty() {
        let mut cause = Map::new();
        if let Ok(directory) = std::env::current_dir() {
            cause.insert(
                "working_directory".into(),
                json!(directory.to_string_lossy()),
            );
        }
        cause.insert("exceptions".into(), Json::Array(exceptions));
        document.insert("cause".into(), Json::Object(cause));
    }
}

/// The frames of a Rust backtrace (`N: label` lines, each optionally followed by
/// `at path:line:column`), and how many were left out.
fn stack_frames(text: &str) -> (Vec<Json>, usize) {
    let mut frames: Vec<Map<String, Json>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                let mut parts = location.rsplitn(3, ':');
                let (column, line_number, path) = (parts.next(), parts.next(), parts.next());
                match (
                    path,
                    line_number.and_then(|n| n.parse::<u64>().ok()),
                    column,
                ) {
                    (Some(path), Some(number), Some(_)) => {
                        frame.insert("path".into(), json!(path));
                        frame.insert("line".into(), json!(number));
                    }
                    _ => {
                        frame.insert("path".into(), json!(location));
                    }
                }
            }
        } else if let Some((index, label)) = line.split_once(": ")
            && !index.is_empty()
            && index.bytes().all(|byte| byte.is_ascii_digit())
        {
            let mut frame = Map::new();
            frame.insert("label".into(), json!(label));
            frames.push(frame);
        }
    }
    let truncated = frames.len().saturating_sub(MAX_STACK_FRAMES);
    frames.truncate(MAX_STACK_FRAMES);
    (frames.into_iter().map(Json::Object).collect(), truncated)
}

/// The header line and the document.
fn encode(document: &Map<String, Json>) -> Vec<u8> {
    let mut datagram = DAEMON_HEADER.to_vec();
    // Serialising a map of JSON values cannot fail.
    let _ = serde_json::to_writer(&mut datagram, document);
    datagram
}

/// Makes `document` fit in `limit` bytes (with the header) if it can: drops metadata values,
/// largest first; then stacks; then cuts long strings; then keeps only the first exception.
fn trim(document: &mut Map<String, Json>, limit: usize) {
    let fits = |document: &Map<String, Json>| encode(document).len() <= limit;
    if let Some(Json::Object(namespaces)) = document.get_mut("metadata") {
        let mut entries: Vec<(String, String, usize)> = namespaces
            .iter()
            .filter_map(|(namespace, values)| values.as_object().map(|values| (namespace, values)))
            .flat_map(|(namespace, values)| {
                values.iter().map(move |(key, value)| {
                    (namespace.clone(), key.clone(), value.to_string().len())
                })
            })
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        let mut excess = encode(document).len().saturating_sub(limit);
        if let Some(Json::Object(namespaces)) = document.get_mut("metadata") {
            for (namespace, key, size) in entries {
                if excess == 0 {
                    break;
                }
                if let Some(Json::Object(values)) = namespaces.get_mut(&namespace) {
                    values.remove(&key);
                }
                excess = excess.saturating_sub(size + key.len() + 4);
            }
            namespaces.retain(|_, values| values.as_object().is_none_or(|v| !v.is_empty()));
        }
    }
    if fits(document) {
        return;
    }
    if let Some(Json::Array(exceptions)) = document
        .get_mut("cause")
        .and_then(|cause| cause.get_mut("exceptions"))
    {
        for exception in exceptions.iter_mut().filter_map(Json::as_object_mut) {
            if let Some(Json::Array(stack)) = exception.remove("stack") {
                let truncated = exception
                    .get("truncated")
                    .and_then(Json::as_u64)
                    .unwrap_or(0);
                exception.insert("truncated".into(), json!(truncated + stack.len() as u64));
            }
        }
    }
    if fits(document) {
        return;
    }
    for value in document.values_mut() {
        cut_strings(value);
    }
    if fits(document) {
        return;
    }
    if let Some(Json::Array(exceptions)) = document
        .get_mut("cause")
        .and_then(|cause| cause.get_mut("exceptions"))
    {
        exceptions.truncate(1);
        if let Some(Json::Object(first)) = exceptions.first_mut() {
            first.remove("cause");
        }
    }
}

/// Cuts every string inside `value` to [`TRIMMED_STRING_BYTES`] (on a character boundary).
fn cut_strings(value: &mut Json) {
    match value {
        Json::String(text) if text.len() > TRIMMED_STRING_BYTES => {
            let mut end = TRIMMED_STRING_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        Json::Array(items) => items.iter_mut().for_each(cut_strings),
        Json::Object(fields) => fields.values_mut().for_each(cut_strings),
        _ => {}
    }
}

/// `1-{8 hex digits of epoch seconds}-{24 hex digits}` from the 32 hex digits of a trace id.
fn xray_trace_id_text(hex: &str) -> String {
    let (time, unique) = hex.split_at(hex.len().min(8));
    format!("1-{time}-{unique}")
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// X-Ray names: 1 to 200 of letters, digits, separators and `_.:/%&#=+\-@`.
fn segment_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric()
                || (c.is_whitespace() && !c.is_control())
                || "_.:/%&#=+-@".contains(c)
            {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "unnamed".to_owned()
    } else {
        cleaned
    }
}

/// Annotation keys that X-Ray's filter expressions can name: letters, digits and `_`.
fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(500)
        .collect()
}

/// Annotations hold a string, a number or a boolean; arrays become JSON text.
fn annotation_value(value: &Value) -> Json {
    match value {
        Value::Bool(flag) => json!(flag),
        Value::I64(number) => json!(number),
        Value::F64(number) if number.is_finite() => json!(number),
        Value::Array(_) => json!(json_value(value).to_string()),
        other => json!(other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_frames_read_a_rust_backtrace() {
        let text =
            "   0: app::lookup\n             at ./src/main.rs:12:5\n   1: std::rt::lang_start\n";
        let (frames, truncated) = stack_frames(text);
        assert_eq!(truncated, 0);
        assert_eq!(
            Json::Array(frames),
            json!([
                { "label": "app::lookup", "path": "./src/main.rs", "line": 12 },
                { "label": "std::rt::lang_start" },
            ])
        );
    }

    #[test]
    fn names_and_annotation_keys_are_rewritten_to_what_x_ray_accepts() {
        assert_eq!(segment_name("gateway.handle"), "gateway.handle");
        assert_eq!(segment_name("a<b>\"c"), "a_b__c");
        assert_eq!(segment_name(""), "unnamed");
        assert_eq!(segment_name(&"x".repeat(300)).len(), 200);
        assert_eq!(annotation_key("tool.name"), "tool_name");
    }

    fn span(kind: SpanKind, parent: u64, attributes: Vec<KeyValue>) -> SpanData {
        use opentelemetry::InstrumentationScope;
        use opentelemetry::trace::{SpanContext, TraceFlags, TraceId, TraceState};
        let start = SystemTime::now();
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x5759_e988_bd86_2e3f_e1be_46a9_9427_2793),
                SpanId::from(0x0102),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: kind,
            name: "call".into(),
            start_time: start,
            end_time: start,
            attributes,
            dropped_attributes_count: 0,
            events: opentelemetry_sdk::trace::SpanEvents::default(),
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn document(span: &SpanData) -> Json {
        let encoder = Encoder {
            service_name: "svc",
            service_version: None,
            annotations: &[],
        };
        Json::Object(encoder.document(span))
    }

    #[test]
    fn http_status_codes_set_fault_error_and_throttle() {
        for (code, fault, error, throttle) in [
            (200, false, false, false),
            (404, false, true, false),
            (429, false, true, true),
            (503, true, false, false),
        ] {
            let span = span(
                SpanKind::Client,
                0x0a,
                vec![KeyValue::new("http.response.status_code", code)],
            );
            let document = document(&span);
            let flag = |name: &str| document.get(name) == Some(&json!(true));
            assert_eq!(
                (flag("fault"), flag("error"), flag("throttle")),
                (fault, error, throttle),
                "{code}: {document}"
            );
            assert_eq!(document["http"]["response"]["status"], code);
        }
        let mut failed = span(SpanKind::Internal, 0x0a, Vec::new());
        failed.status = Status::error("boom");
        let document = document(&failed);
        assert_eq!(document["fault"], true);
        assert_eq!(document["cause"]["exceptions"][0]["message"], "boom");
    }

    #[test]
    fn segments_and_subsegments_by_kind_and_parent() {
        let root = document(&span(SpanKind::Internal, 0, Vec::new()));
        assert_eq!(root["name"], "svc");
        assert!(root.get("type").is_none() && root.get("parent_id").is_none());

        let mut remote_child = span(SpanKind::Internal, 0x0a, Vec::new());
        remote_child.parent_span_is_remote = true;
        let remote_child = document(&remote_child);
        assert!(remote_child.get("type").is_none(), "{remote_child}");
        assert_eq!(remote_child["parent_id"], "000000000000000a");

        let client = document(&span(SpanKind::Client, 0x0a, Vec::new()));
        assert_eq!(
            (&client["type"], &client["namespace"], &client["name"]),
            (&json!("subsegment"), &json!("remote"), &json!("call"))
        );
        let aws = document(&span(
            SpanKind::Client,
            0x0a,
            vec![KeyValue::new("rpc.system", "aws-api")],
        ));
        assert_eq!(aws["namespace"], "aws");
        assert_eq!(aws["metadata"]["default"]["rpc.system"], "aws-api");
        let producer = document(&span(SpanKind::Producer, 0x0a, Vec::new()));
        assert_eq!(producer["namespace"], "remote");
        let consumer = document(&span(SpanKind::Consumer, 0x0a, Vec::new()));
        assert!(consumer.get("type").is_none(), "a consumer is a segment");
    }

    #[test]
    fn older_semantic_convention_names_fill_the_same_blocks() {
        let document = document(&span(
            SpanKind::Client,
            0x0a,
            vec![
                KeyValue::new("http.method", "POST"),
                KeyValue::new("http.url", "http://api.local/x"),
                KeyValue::new("http.status_code", "201"),
                KeyValue::new("db.system", "redis"),
                KeyValue::new("db.statement", "GET key"),
                KeyValue::new("db.user", "app"),
            ],
        ));
        assert_eq!(
            document["http"],
            json!({
                "request": { "method": "POST", "url": "http://api.local/x" },
                "response": { "status": 201 },
            })
        );
        assert_eq!(
            document["sql"],
            json!({ "database_type": "redis", "sanitized_query": "GET key", "user": "app" })
        );
        assert!(document.get("metadata").is_none(), "{document}");
    }

    #[test]
    fn cut_strings_keeps_utf8_valid() {
        let mut value = json!({ "a": "é".repeat(1000) });
        cut_strings(&mut value);
        let text = value["a"].as_str().expect("a string");
        assert!(text.len() <= TRIMMED_STRING_BYTES + '…'.len_utf8());
    }
}
