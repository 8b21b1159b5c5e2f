//! Every `attrs(..)` form: `key = expr`, dotted and string-literal keys, a bare argument,
//! `key = %expr`, `key = ?expr`, and the `%arg` / `?arg` shorthands; values keep their types.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::opentelemetry::{Array, Key, StringValue, Value};
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[derive(Debug)]
struct Query {
    text: String,
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]
#[traced(
    "attrs.forms",
    attrs(
        limit,
        computed = limit * 2,
        db.collection.name = "episodes",
        "db.query.text" = %query,
        debug = ?query,
        %query,
        ?point,
        r#type = "vector",
        ratio,
        exact,
        big,
        tags,
        scores = scores.as_slice(),
        present,
        absent,
        owned,
    )
)]
fn forms(
    query: &Query,
    limit: u32,
    ratio: f64,
    exact: bool,
    big: u64,
    tags: Vec<&str>,
    scores: Vec<f32>,
    present: Option<i8>,
    absent: Option<i8>,
    owned: String,
    point: (i32, i32),
) -> u32 {
    limit
}

fn main() {
    let query = Query { text: "coffee".to_owned() };
    let (_, spans) = capture(|| {
        forms(&query, 5, 0.5, true, u64::MAX, vec!["a"], vec![0.25], Some(1), None, "o".to_owned(), (1, 2))
    });
    let attribute = |key: &'static str| {
        spans[0]
            .attributes
            .iter()
            .find(|kv| kv.key == Key::from_static_str(key))
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attribute("limit"), Some(Value::I64(5)));
    assert_eq!(attribute("computed"), Some(Value::I64(10)));
    assert_eq!(attribute("db.collection.name"), Some(Value::from("episodes")));
    assert_eq!(attribute("db.query.text"), Some(Value::from("coffee")));
    assert_eq!(attribute("debug"), Some(Value::from("Query { text: \"coffee\" }")));
    assert_eq!(attribute("query"), Some(Value::from("coffee")));
    assert_eq!(attribute("type"), Some(Value::from("vector")));
    assert_eq!(attribute("ratio"), Some(Value::F64(0.5)));
    assert_eq!(attribute("exact"), Some(Value::Bool(true)));
    assert_eq!(attribute("big"), Some(Value::from(u64::MAX.to_string())));
    assert_eq!(attribute("point"), Some(Value::from("(1, 2)")));
    assert_eq!(
        attribute("tags"),
        Some(Value::Array(Array::String(vec![StringValue::from("a")])))
    );
    assert_eq!(attribute("scores"), Some(Value::Array(Array::F64(vec![0.25]))));
    assert_eq!(attribute("present"), Some(Value::I64(1)));
    assert_eq!(attribute("absent"), None);
    assert_eq!(attribute("owned"), Some(Value::from("o")));
    assert_eq!(spans[0].attributes.len(), 15, "nothing else is recorded");
}
