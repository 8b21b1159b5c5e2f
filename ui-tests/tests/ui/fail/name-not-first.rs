use t4dm_trace_runtime::traced;

#[traced(kind = Client, "store.get")]
fn get() {}

fn main() {
    get();
}
