use t4dm_trace_runtime::traced;

#[traced]
struct Store {
    name: String,
}

fn main() {}
