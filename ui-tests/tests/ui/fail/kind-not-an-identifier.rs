use t4dm_trace_runtime::traced;

#[traced("store.get", kind = "Server")]
fn get() {}

fn main() {
    get();
}
