use t4dm_trace_runtime::traced;

#[traced("store.get", err(Display))]
fn get() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = get();
}
