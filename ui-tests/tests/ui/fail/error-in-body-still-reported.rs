use t4dm_trace_runtime::traced;

// The macro's own error does not hide the body's: the function is still emitted as written.
#[traced(kind = Bogus)]
fn get() -> u32 {
    "not a number"
}

fn main() {
    let _ = get();
}
