use t4dm_trace_runtime::traced;

// The expansion's `__t4dm_span` is hygienic: the body cannot see it.
#[traced]
fn get() -> u32 {
    drop(__t4dm_span);
    1
}

fn main() {
    let _ = get();
}
