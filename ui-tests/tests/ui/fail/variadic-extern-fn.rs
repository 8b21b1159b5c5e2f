use t4dm_trace_runtime::traced;

#[traced]
unsafe extern "C" fn sum(count: u32, _: ...) -> u32 {
    count
}

fn main() {}
