use t4dm_trace_runtime::traced;

#[traced(store_get)]
fn get() {}

fn main() {
    get();
}
