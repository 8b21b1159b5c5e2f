use t4dm_trace_runtime::traced;

struct Query {
    text: String,
}

#[traced("store.search", attrs(query))]
fn search(query: &Query) -> usize {
    query.text.len()
}

fn main() {
    let _ = search(&Query { text: String::new() });
}
