use t4dm_trace_runtime::traced;

#[traced("store.get", attrs(key), attrs(limit))]
fn get(key: &str, limit: usize) -> usize {
    key.len() + limit
}

fn main() {
    let _ = get("k", 1);
}
