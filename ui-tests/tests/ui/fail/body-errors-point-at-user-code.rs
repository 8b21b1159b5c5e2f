use t4dm_trace_runtime::traced;

// Errors in an instrumented body read as they would without the macro, at the user's tokens.
#[traced]
fn count(items: &[u32]) -> usize {
    items.len() + undefined_value
}

#[derive(Debug)]
struct AppError;

#[traced]
fn parse(input: &str) -> Result<u32, AppError> {
    let value: u32 = input.parse::<u32>()?;
    Ok(value)
}

#[traced]
async fn load() -> Result<u32, String> {
    Ok("not a number")
}

fn main() {
    let _ = count(&[]);
    let _ = parse("1");
    let _ = load();
}
