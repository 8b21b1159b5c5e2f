use t4dm_trace_runtime::traced;

#[traced("store.get", err, err = false)]
fn get() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = get();
}
