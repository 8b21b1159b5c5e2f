use t4dm_trace_runtime::traced;

#[traced("store.check", err)]
#[track_caller]
fn check(value: u32) -> Result<u32, String> {
    Ok(value)
}

fn main() {
    let _ = check(1);
}
