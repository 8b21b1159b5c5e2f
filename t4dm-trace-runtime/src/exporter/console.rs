//! The console exporter: every trace drawn as a tree on standard error.
//!
//! Standard error, never standard output: a service speaking MCP over stdio uses standard
//! output as its protocol channel. Spans arrive one by one as they end, children before their
//! parents; they wait here until their trace's local root ends, then the trace is drawn at once.

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// Spans kept while waiting for their root; beyond this the oldest traces are drawn unfinished.
const MAX_WAITING_SPANS: usize = 10_000;

/// Draws each finished trace as a tree on a writer (standard error by default).
pub struct ConsoleExporter {
    inner: Mutex<ConsoleState>,
}

struct ConsoleState {
    writer: Box<dyn Write + Send>,
    style: Style,
    service_name: Option<String>,
    waiting: HashMap<TraceId, Vec<SpanData>>,
    /// Trace ids in the order their first span arrived, for drawing the oldest first.
    arrival: Vec<TraceId>,
    waiting_spans: usize,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter").finish_non_exhaustive()
    }
}

impl ConsoleExporter {
    /// Writes to standard error, in colour when it is a terminal and `NO_COLOR` is unset.
    #[must_use]
    pub fn stderr() -> Self {
        let colour = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        ConsoleExporter::to_writer(std::io::stderr(), colour)
    }

    /// Writes to any writer, with or without ANSI colour.
    #[must_use]
    pub fn to_writer(writer: impl Write + Send + 'static, colour: bool) -> Self {
        ConsoleExporter {
            inner: Mutex::new(ConsoleState {
                writer: Box::new(writer),
                style: Style { colour },
                service_name: None,
                waiting: HashMap::new(),
                arrival: Vec::new(),
                waiting_spans: 0,
            }),
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut ConsoleState) -> R) -> R {
        let mut state = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }
}

impl SpanExporter for ConsoleExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.with_state(|state| {
            for span in batch {
                state.accept(span);
            }
            while state.waiting_spans > MAX_WAITING_SPANS {
                let Some(oldest) = state.arrival.first().copied() else {
                    break;
                };
                state.draw(oldest);
            }
            let _ = state.writer.flush();
        });
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.with_state(ConsoleState::draw_all);
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.with_state(ConsoleState::draw_all);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let name = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|value| value.to_string());
        self.with_state(|state| state.service_name = name);
    }
}

impl ConsoleState {
    fn accept(&mut self, span: SpanData) {
        let trace_id = span.span_context.trace_id();
        let is_local_root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let spans = self.waiting.entry(trace_id).or_insert_with(|| {
            self.arrival.push(trace_id);
            Vec::new()
        });
        spans.push(span);
        self.waiting_spans += 1;
        if is_local_root {
            self.draw(trace_id);
        }
    }

    fn draw_all(&mut self) {
        while let Some(trace_id) = self.arrival.first().copied() {
            self.draw(trace_id);
        }
        let _ = self.writer.flush();
    }

    fn draw(&mut self, trace_id: TraceId) {
        self.arrival.retain(|waiting| *waiting != trace_id);
        let Some(spans) = self.waiting.remove(&trace_id) else {
            return;
        };
        self.waiting_spans -= spans.len();
        let text = render_trace(&spans, self.service_name.as_deref(), self.style);
        let _ = self.writer.write_all(text.as_bytes());
    }
}

#[derive(Clone, Copy)]
struct Style {
    colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("31", text)
    }
    fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// Draws the spans of one trace (all with the same trace id) as a tree. Spans whose parent is
/// not among them are drawn as roots, in start order.
fn render_trace(spans: &[SpanData], service_name: Option<&str>, style: Style) -> String {
    let trace_id = spans
        .first()
        .map_or(TraceId::INVALID, |span| span.span_context.trace_id());
    let present: std::collections::HashSet<SpanId> = spans
        .iter()
        .map(|span| span.span_context.span_id())
        .collect();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        if present.contains(&span.parent_span_id) && !span.parent_span_is_remote {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    for siblings in children.values_mut() {
        siblings.sort_by_key(|span| span.start_time);
    }
    roots.sort_by_key(|span| span.start_time);

    let mut out = String::new();
    let mut header = format!("trace {trace_id}");
    if let Some(service) = service_name {
        let _ = write!(header, " · service {service}");
    }
    if let Some(root) = roots.first()
        && root.parent_span_is_remote
    {
        let _ = write!(header, " · remote parent {}", root.parent_span_id);
    }
    let _ = writeln!(out, "{}", style.dim(&header));
    let tree = Tree {
        children: &children,
        style,
    };
    for root in roots {
        tree.node(&mut out, root, "", None);
    }
    out.push('\n');
    out
}

struct Tree<'a> {
    children: &'a HashMap<SpanId, Vec<&'a SpanData>>,
    style: Style,
}

impl Tree<'_> {
    /// Draws `span` and its subtree. `last` is `None` for a root, else whether it is the last
    /// of its siblings.
    fn node(&self, out: &mut String, span: &SpanData, prefix: &str, last: Option<bool>) {
        let style = self.style;
        let (connector, child_prefix) = match last {
            None => (String::new(), format!("{prefix}  ")),
            Some(true) => (format!("{prefix}└─ "), format!("{prefix}    ")),
            Some(false) => (format!("{prefix}├─ "), format!("{prefix}│   ")),
        };
        let duration = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let mut line = format!(
            "{connector}{} {}",
            style.bold(&span.name),
            style.dim(&format!("({})", format_duration(duration)))
        );
        let _ = write!(line, " {}", style.cyan(kind_name(&span.span_kind)));
        if let Status::Error { description } = &span.status {
            let _ = write!(line, " {}", style.red(&format!("✗ error: {description}")));
        }
        let _ = writeln!(out, "{line}");

        let children = self
            .children
            .get(&span.span_context.span_id())
            .map_or(&[][..], Vec::as_slice);
        let detail_prefix = if children.is_empty() {
            child_prefix.clone()
        } else {
            format!("{child_prefix}│ ")
        };
        for attribute in &span.attributes {
            let _ = writeln!(out, "{detail_prefix}{}", format_attribute(attribute));
        }
        for event in span.events.iter() {
            let offset = event
                .timestamp
                .duration_since(span.start_time)
                .unwrap_or_default();
            let mut text = format!("◆ {} +{}", event.name, format_duration(offset));
            for attribute in &event.attributes {
                if attribute.key.as_str() == "exception.stacktrace" {
                    continue;
                }
                let _ = write!(text, " {}", format_attribute(attribute));
            }
            let _ = writeln!(out, "{detail_prefix}{}", style.dim(&text));
        }
        for (index, child) in children.iter().enumerate() {
            self.node(out, child, &child_prefix, Some(index + 1 == children.len()));
        }
    }
}

fn kind_name(kind: &opentelemetry::trace::SpanKind) -> &'static str {
    use opentelemetry::trace::SpanKind;
    match kind {
        SpanKind::Client => "CLIENT",
        SpanKind::Server => "SERVER",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    }
}

fn format_attribute(attribute: &KeyValue) -> String {
    match &attribute.value {
        Value::String(text) => format!("{}={}", attribute.key, text.as_str()),
        other => format!("{}={other}", attribute.key),
    }
}

/// `235ms`, `12.5ms`, `830µs`, `2.31s`.
fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros >= 1_000_000 {
        format!("{:.2}s", duration.as_secs_f64())
    } else if micros >= 10_000 {
        format!("{}ms", micros / 1_000)
    } else if micros >= 1_000 {
        format!("{:.1}ms", duration.as_secs_f64() * 1_000.0)
    } else {
        format!("{micros}µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::time::SystemTime;

    fn span(
        name: &'static str,
        id: u64,
        parent: u64,
        kind: SpanKind,
        start_ms: u64,
        end_ms: u64,
        attributes: Vec<KeyValue>,
    ) -> SpanData {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: kind,
            name: name.into(),
            start_time: epoch + Duration::from_millis(start_ms),
            end_time: epoch + Duration::from_millis(end_ms),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn draws_the_seed_example_as_a_tree() {
        let spans = vec![
            span(
                "qdrant.search",
                3,
                2,
                SpanKind::Client,
                10,
                190,
                vec![
                    KeyValue::new("collection", "ww_episodes"),
                    KeyValue::new("limit", 10),
                ],
            ),
            span(
                "scoring_computation",
                4,
                2,
                SpanKind::Internal,
                190,
                225,
                vec![],
            ),
            span("episodic.recall", 2, 1, SpanKind::Internal, 5, 225, vec![]),
            span(
                "response_formatting",
                5,
                1,
                SpanKind::Internal,
                228,
                233,
                vec![],
            ),
            span(
                "mcp.recall_episodes",
                1,
                0,
                SpanKind::Server,
                0,
                235,
                vec![],
            ),
        ];
        let text = render_trace(&spans, Some("t4dm"), Style { colour: false });
        let expected = "\
trace 4bf92f3577b34da6a3ce929d0e0e4736 · service t4dm
mcp.recall_episodes (235ms) SERVER
  ├─ episodic.recall (220ms) INTERNAL
  │   ├─ qdrant.search (180ms) CLIENT
  │   │   collection=ww_episodes
  │   │   limit=10
  │   └─ scoring_computation (35ms) INTERNAL
  └─ response_formatting (5.0ms) INTERNAL

";
        assert_eq!(text, expected);
    }

    #[test]
    fn shows_errors_and_events_and_holds_spans_until_the_root_ends() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let output = Shared::default();
        let exporter = ConsoleExporter::to_writer(output.clone(), false);
        let mut child = span("store.put", 2, 1, SpanKind::Client, 1, 3, vec![]);
        child.status = Status::error("disk full");
        child.events.events.push(opentelemetry::trace::Event::new(
            "exception",
            child.start_time + Duration::from_millis(1),
            vec![KeyValue::new("exception.type", "std::io::Error")],
            0,
        ));
        futures_executor_block_on(exporter.export(vec![child]));
        assert!(
            output.0.lock().unwrap().is_empty(),
            "drawn before its root ended"
        );
        futures_executor_block_on(exporter.export(vec![span(
            "handle",
            1,
            0,
            SpanKind::Server,
            0,
            4,
            vec![],
        )]));
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("└─ store.put (2.0ms) CLIENT ✗ error: disk full"),
            "{text}"
        );
        assert!(
            text.contains("◆ exception +1.0ms exception.type=std::io::Error"),
            "{text}"
        );
    }

    fn futures_executor_block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
