use t4dm_trace_runtime::traced;

#[traced("store.get", 42)]
fn get() {}

fn main() {
    get();
}
