use t4dm_trace_runtime::traced;

#[traced("store.get", attrs("" = 1))]
fn get() {}

fn main() {
    get();
}
