use t4dm_trace_runtime::traced;

struct Store;

#[traced]
impl Store {
    fn get(&self) {}
}

fn main() {}
