use t4dm_trace_runtime::traced;

#[traced(42)]
fn get() {}

fn main() {
    get();
}
