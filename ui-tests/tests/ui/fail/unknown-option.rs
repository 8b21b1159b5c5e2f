use t4dm_trace_runtime::traced;

#[traced("store.get", level = "debug")]
fn get() {}

fn main() {
    get();
}
