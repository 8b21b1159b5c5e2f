//! Spans of synchronous functions: names, kinds, nesting, recursion and attributes.

use t4dm_trace_runtime::opentelemetry::trace::{SpanKind, Status};
use t4dm_trace_runtime::opentelemetry::{Array, StringValue, Value};
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{
    KeyValue, add_span_attribute, add_span_event, current_trace_id, trace_span, traced,
};
use t4dm_trace_tests::{attribute, event_attribute, is_child_of, is_root, names, span};

#[traced]
fn leaf() -> u32 {
    1
}

#[traced("service.middle")]
fn middle() -> u32 {
    leaf() + leaf()
}

#[traced("gateway.top", kind = Server)]
fn top() -> u32 {
    middle() + 1
}

#[test]
fn nested_calls_form_a_tree_with_default_names_and_kinds() {
    let (value, spans) = capture(top);
    assert_eq!(value, 3);
    assert_eq!(
        names(&spans),
        ["leaf", "leaf", "service.middle", "gateway.top"]
    );
    let top = span(&spans, "gateway.top");
    let middle = span(&spans, "service.middle");
    assert!(is_root(top));
    assert_eq!(top.span_kind, SpanKind::Server);
    assert_eq!(middle.span_kind, SpanKind::Internal);
    assert!(is_child_of(middle, top));
    for leaf in spans.iter().filter(|span| span.name == "leaf") {
        assert!(is_child_of(leaf, middle));
        assert_eq!(leaf.status, Status::Unset);
        assert!(leaf.end_time >= leaf.start_time);
    }
    assert!(top.start_time <= middle.start_time && middle.end_time <= top.end_time);
}

#[traced("fib")]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[test]
fn recursion_nests_each_call_under_its_caller() {
    let (value, spans) = capture(|| fib(4));
    assert_eq!(value, 3);
    assert_eq!(spans.len(), 9, "fib(4) makes nine calls");
    let root = spans.iter().find(|span| is_root(span)).expect("a root");
    assert_eq!(
        spans.last().map(|span| span.span_context.span_id()),
        Some(root.span_context.span_id())
    );
    for span in spans.iter().filter(|span| !is_root(span)) {
        assert!(
            spans.iter().any(|parent| is_child_of(span, parent)),
            "every call has its caller as parent"
        );
    }
    let depth = |start: usize| {
        let (mut index, mut depth) = (start, 0);
        while let Some(parent) = spans
            .iter()
            .position(|parent| is_child_of(&spans[index], parent))
        {
            index = parent;
            depth += 1;
        }
        depth
    };
    assert_eq!(
        (0..spans.len()).map(depth).max(),
        Some(3),
        "fib(4) → fib(3) → fib(2) → fib(1)"
    );
}

#[traced("k.internal", kind = Internal)]
fn internal() {}
#[traced("k.server", kind = Server)]
fn server() {}
#[traced("k.client", kind = Client)]
fn client() {}
#[traced("k.producer", kind = Producer)]
fn producer() {}
#[traced("k.consumer", kind = Consumer)]
fn consumer() {}

#[test]
fn every_span_kind() {
    let ((), spans) = capture(|| {
        internal();
        server();
        client();
        producer();
        consumer();
    });
    let kinds: Vec<_> = spans
        .iter()
        .map(|span| (span.name.to_string(), span.span_kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("k.internal".to_owned(), SpanKind::Internal),
            ("k.server".to_owned(), SpanKind::Server),
            ("k.client".to_owned(), SpanKind::Client),
            ("k.producer".to_owned(), SpanKind::Producer),
            ("k.consumer".to_owned(), SpanKind::Consumer),
        ]
    );
}

#[derive(Debug)]
struct Query {
    text: String,
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query {:?}", self.text)
    }
}

#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
#[traced(
    "qdrant.search",
    kind = Client,
    attrs(
        db.collection.name = "ww_episodes",
        limit,
        query_len = query.text.len(),
        "db.query.text" = %query,
        debug = ?query,
        ratio,
        exact,
        big,
        tags,
        scores = scores.as_slice(),
        present,
        absent,
        r#type = "vector",
    )
)]
fn search(
    query: &Query,
    limit: usize,
    ratio: f32,
    exact: bool,
    big: u64,
    tags: Vec<&str>,
    scores: Vec<f64>,
    present: Option<i32>,
    absent: Option<i32>,
) -> usize {
    limit
}

#[test]
fn attributes_keep_their_opentelemetry_types() {
    let query = Query {
        text: "coffee".to_owned(),
    };
    let (_, spans) = capture(|| {
        search(
            &query,
            10,
            0.5,
            true,
            u64::MAX,
            vec!["a", "b"],
            vec![0.25, 1.0],
            Some(7),
            None,
        )
    });
    let search = span(&spans, "qdrant.search");
    assert_eq!(search.span_kind, SpanKind::Client);
    assert_eq!(
        attribute(search, "db.collection.name"),
        Some(&Value::from("ww_episodes"))
    );
    assert_eq!(attribute(search, "limit"), Some(&Value::I64(10)));
    assert_eq!(attribute(search, "query_len"), Some(&Value::I64(6)));
    assert_eq!(
        attribute(search, "db.query.text"),
        Some(&Value::from("query \"coffee\""))
    );
    assert_eq!(
        attribute(search, "debug"),
        Some(&Value::from("Query { text: \"coffee\" }"))
    );
    assert_eq!(attribute(search, "ratio"), Some(&Value::F64(0.5)));
    assert_eq!(attribute(search, "exact"), Some(&Value::Bool(true)));
    assert_eq!(
        attribute(search, "big"),
        Some(&Value::from(u64::MAX.to_string())),
        "beyond i64 as a string"
    );
    assert_eq!(
        attribute(search, "tags"),
        Some(&Value::Array(Array::String(vec![
            StringValue::from("a"),
            StringValue::from("b")
        ])))
    );
    assert_eq!(
        attribute(search, "scores"),
        Some(&Value::Array(Array::F64(vec![0.25, 1.0])))
    );
    assert_eq!(attribute(search, "present"), Some(&Value::I64(7)));
    assert_eq!(attribute(search, "absent"), None, "None records nothing");
    assert_eq!(
        attribute(search, "type"),
        Some(&Value::from("vector")),
        "raw identifiers lose their r#"
    );
    assert_eq!(
        search.attributes.len(),
        12,
        "nothing else about the arguments is recorded"
    );
}

#[traced(name = format!("tools/call {tool}"), kind = Server)]
fn call_tool(tool: &str) -> usize {
    tool.len()
}

#[test]
fn dynamic_names() {
    let (_, spans) = capture(|| call_tool("recall_episodes"));
    assert_eq!(names(&spans), ["tools/call recall_episodes"]);
}

#[traced("helpers")]
fn uses_helpers() -> Option<String> {
    add_span_attribute("collection", "episodes");
    add_span_attribute("limit", 10);
    add_span_attribute("score", 0.75);
    add_span_event("cache_miss", vec![KeyValue::new("key", "episode_123")]);
    add_span_event("cache_fill", [KeyValue::new("entries", 3)]);
    current_trace_id().map(|id| id.to_string())
}

#[test]
fn helpers_record_on_the_current_span() {
    let (trace_id, spans) = capture(uses_helpers);
    let helpers = span(&spans, "helpers");
    assert_eq!(trace_id, Some(helpers.span_context.trace_id().to_string()));
    assert_eq!(
        attribute(helpers, "collection"),
        Some(&Value::from("episodes"))
    );
    assert_eq!(attribute(helpers, "limit"), Some(&Value::I64(10)));
    assert_eq!(attribute(helpers, "score"), Some(&Value::F64(0.75)));
    assert_eq!(
        event_attribute(helpers, "cache_miss", "key"),
        Some(&Value::from("episode_123"))
    );
    assert_eq!(
        event_attribute(helpers, "cache_fill", "entries"),
        Some(&Value::I64(3))
    );
    assert_eq!(current_trace_id(), None, "no span outside");
}

#[test]
fn manual_spans_with_trace_span() {
    let (sum, spans) = capture(|| {
        trace_span("batch_processing")
            .with_attribute("batch_size", 100)
            .in_scope(|| {
                leaf();
                (1..=100).sum::<u32>()
            })
    });
    assert_eq!(sum, 5050);
    let batch = span(&spans, "batch_processing");
    assert_eq!(attribute(batch, "batch_size"), Some(&Value::I64(100)));
    assert!(is_child_of(span(&spans, "leaf"), batch));
}

struct Store {
    name: String,
}

impl Store {
    #[traced("store.name")]
    fn name(&self) -> &str {
        &self.name
    }

    #[traced("store.rename", attrs(%new))]
    fn rename(&mut self, new: &str) {
        new.clone_into(&mut self.name);
    }

    #[traced("store.into_name")]
    fn into_name(self: Box<Self>) -> String {
        self.name
    }
}

#[test]
fn methods_with_every_receiver() {
    let (name, spans) = capture(|| {
        let mut store = Store {
            name: "a".to_owned(),
        };
        store.rename("b");
        assert_eq!(store.name(), "b");
        Box::new(store).into_name()
    });
    assert_eq!(name, "b");
    assert_eq!(
        names(&spans),
        ["store.rename", "store.name", "store.into_name"]
    );
    assert_eq!(
        attribute(span(&spans, "store.rename"), "new"),
        Some(&Value::from("b"))
    );
}
