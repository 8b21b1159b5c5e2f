//! Doc comments, `#[cfg]`, `#[must_use]`, `#[track_caller]` and inner attributes are kept.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::panic::Location;
use t4dm_trace_runtime::traced;

/// Documented: the doc comment stays on the function.
#[traced]
#[must_use]
fn documented() -> u32 {
    1
}

#[traced]
#[cfg(any())]
fn compiled_out() -> u32 {
    // A call to a function that does not exist: never compiled.
    does_not_exist()
}

#[traced]
#[cfg(all())]
fn compiled_in() -> u32 {
    2
}

#[traced]
#[track_caller]
fn caller() -> &'static Location<'static> {
    Location::caller()
}

#[traced]
#[track_caller]
fn caller_result(fail: bool) -> Result<u32, String> {
    if fail {
        return Err(Location::caller().to_string());
    }
    Ok(Location::caller().line())
}

#[traced]
fn inner_attributes() -> u32 {
    #![allow(clippy::let_and_return)]
    let value = 3;
    value
}

#[traced]
#[inline]
#[allow(clippy::unnecessary_wraps)]
fn inlined() -> Option<u32> {
    Some(4)
}

fn main() {
    assert_eq!(documented(), 1);
    assert_eq!(compiled_in(), 2);
    // `#[track_caller]` still reports the caller's location, not one inside the expansion.
    let line = line!();
    assert_eq!(caller().line(), line + 1);
    assert_eq!(caller().file(), file!());
    assert_eq!(caller_result(false), Ok(line!()));
    assert!(caller_result(true).unwrap_err().starts_with(file!()));
    assert_eq!(inner_attributes(), 3);
    assert_eq!(inlined(), Some(4));
}
