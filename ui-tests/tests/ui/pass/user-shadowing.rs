//! A user's `mod core`, and user items named `Result`, `Ok`, `Err`, `Box`, `Option`, `Some`,
//! `Vec`, `String`, `Future` and `FnOnce` do not break the expansion, which uses absolute paths.
#![deny(warnings, unused_qualifications, clippy::pedantic)]
#![allow(dead_code, non_snake_case, clippy::upper_case_acronyms)]

use ::t4dm_trace_runtime::traced;

mod core {}
mod std {}
mod t4dm_trace_runtime {}

struct Box;
struct Option;
struct Vec;
struct String;
struct Future;
struct FnOnce;
fn Some() {}
fn Ok() {}
fn Err() {}

/// The user's own `Result`, recognised as one by its name.
type Result<T> = ::core::result::Result<T, &'static str>;

#[traced]
fn fallible(fail: bool) -> Result<u8> {
    if fail { ::core::result::Result::Err("failed") } else { ::core::result::Result::Ok(1) }
}

#[traced("shadowed.async")]
async fn asynchronous(value: u8) -> Result<u8> {
    ::core::result::Result::Ok(value)
}

#[traced]
fn plain() -> u8 {
    2
}

#[traced]
fn never() -> ! {
    ::core::panic!("never returns")
}

fn main() {
    assert_eq!(fallible(false), ::core::result::Result::Ok(1));
    assert_eq!(fallible(true), ::core::result::Result::Err("failed"));
    assert_eq!(plain(), 2);
    let runtime = ::tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(runtime.block_on(asynchronous(3)), ::core::result::Result::Ok(3));
}
