use t4dm_trace_runtime::traced;

#[traced("store.flush", err)]
fn flush() {}

fn main() {
    flush();
}
