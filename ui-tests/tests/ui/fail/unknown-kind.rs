use t4dm_trace_runtime::traced;

#[traced("store.get", kind = Intrnal)]
fn get() {}

fn main() {
    get();
}
