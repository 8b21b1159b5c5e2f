use t4dm_trace_runtime::traced;

// A body that does not parse gives the parser's one error, not a second one from the macro.
#[traced]
fn get() -> u32 {
    let value = ;
    value
}

fn main() {
    let _ = get();
}
