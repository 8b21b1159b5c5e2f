use t4dm_trace_runtime::traced;

// Every problem is reported in one compile, each at its own token.
#[traced("", kind = Serverr, kind = Client, colour = "red", attrs(missing))]
const fn get() -> u32 {
    1
}

fn main() {
    let _ = get();
}
