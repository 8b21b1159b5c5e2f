use t4dm_trace_runtime::traced;

#[traced("store.get", name = "store.fetch")]
fn get() {}

fn main() {
    get();
}
