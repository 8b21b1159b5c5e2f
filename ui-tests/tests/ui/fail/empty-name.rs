use t4dm_trace_runtime::traced;

#[traced("  ")]
fn get() {}

fn main() {
    get();
}
