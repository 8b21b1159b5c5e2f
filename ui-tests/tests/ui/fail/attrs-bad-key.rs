use t4dm_trace_runtime::traced;

#[traced("store.get", attrs(42 = limit))]
fn get(limit: u32) -> u32 {
    limit
}

fn main() {
    let _ = get(1);
}
