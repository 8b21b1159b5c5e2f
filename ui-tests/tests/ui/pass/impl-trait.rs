//! `impl Trait` in argument and return position, sync and async.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::fmt::Display;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[traced]
fn doubled(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    items.into_iter().map(|item| item * 2)
}

#[traced]
fn shown(value: &impl Display) -> impl Display + '_ {
    value
}

#[traced]
fn fallible(value: impl AsRef<str>) -> Result<impl Display, std::num::ParseIntError> {
    value.as_ref().parse::<u32>()
}

// A returned closure is typed by the signature it is returned as: the body stays in place.
#[traced]
fn squarer() -> impl Fn(u32) -> u32 {
    |x| x.pow(2)
}

#[traced]
fn boxed_squarer() -> Box<dyn Fn(u32) -> u32> {
    Box::new(|x| x.pow(2))
}

#[traced]
fn fallible_squarer(fail: bool) -> Result<Box<dyn Fn(u32) -> u32>, String> {
    if fail {
        return Err("no squarer".to_owned());
    }
    Ok(Box::new(|x| x.pow(2)))
}

#[traced]
async fn later(value: impl Display + Send) -> impl Display {
    value.to_string()
}

#[traced]
async fn later_fallible(value: &str) -> Result<impl Display + '_, std::num::ParseIntError> {
    let _ = value.parse::<u32>()?;
    Ok(value)
}

fn main() {
    let ((), spans) = capture(|| {
        assert_eq!(doubled([1, 2]).sum::<u32>(), 6);
        assert_eq!(shown(&5).to_string(), "5");
        assert_eq!(fallible("7").map(|value| value.to_string()), Ok("7".to_owned()));
        assert!(fallible("x").is_err());
        assert_eq!(squarer()(3), 9);
        assert_eq!(boxed_squarer()(4), 16);
        assert_eq!(fallible_squarer(false).map(|square| square(5)), Ok(25));
        assert!(fallible_squarer(true).is_err());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(runtime.block_on(later(3)).to_string(), "3");
        assert!(runtime.block_on(later_fallible("x")).is_err());
    });
    assert_eq!(spans.len(), 10);
}
