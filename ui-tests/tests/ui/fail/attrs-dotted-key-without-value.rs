use t4dm_trace_runtime::traced;

// Only a plain identifier can name an argument; a dotted key needs `= value`.
#[traced("store.get", attrs(db.name))]
fn get(name: &str) -> usize {
    name.len()
}

fn main() {
    let _ = get("episodes");
}
