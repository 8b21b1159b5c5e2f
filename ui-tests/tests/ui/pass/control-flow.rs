//! Bodies with `?`, early `return`, `-> !`, recursion and pattern arguments.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::opentelemetry::trace::Status;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[derive(Debug, PartialEq)]
struct AppError(String);

impl From<std::num::ParseIntError> for AppError {
    fn from(error: std::num::ParseIntError) -> Self {
        AppError(error.to_string())
    }
}

#[traced]
fn question_mark(input: &str) -> Result<u32, AppError> {
    // `?` converts through `From`, as it would without the macro.
    let value: u32 = input.parse()?;
    Ok(value)
}

#[traced]
fn on_option(values: &[u32]) -> Option<u32> {
    let first = values.first()?;
    Some(*first + 1)
}

#[traced]
fn early_return(value: i32) -> &'static str {
    if value < 0 {
        return "negative";
    }
    "non-negative"
}

#[traced]
fn never(message: &'static str) -> ! {
    std::panic::panic_any(message)
}

#[traced]
fn boom(code: u32) -> u32 {
    if code > 0 {
        panic!("boom {code}");
    }
    code
}

#[traced]
fn factorial(n: u64) -> u64 {
    if n <= 1 { 1 } else { n * factorial(n - 1) }
}

struct Point {
    x: i32,
    y: i32,
}

#[traced(attrs(x, y, first))]
fn patterns(Point { x, y }: Point, (first, _): (u8, u8), [.., last]: [u8; 3], _: ()) -> i32 {
    x + y + i32::from(first) + i32::from(last)
}

#[traced]
fn in_loop(items: &[i32]) -> i32 {
    let mut sum = 0;
    'outer: for item in items {
        for _ in 0..2 {
            if *item < 0 {
                break 'outer;
            }
            sum += item;
        }
    }
    sum
}

fn main() {
    // The panics below are expected: keep them out of the test's output.
    std::panic::set_hook(Box::new(|_| {}));
    let ((), spans) = capture(|| {
        assert_eq!(question_mark("3"), Ok(3));
        assert!(question_mark("x").is_err());
        assert_eq!(on_option(&[]), None);
        assert_eq!(on_option(&[1]), Some(2));
        assert_eq!(early_return(-1), "negative");
        assert_eq!(early_return(1), "non-negative");
        assert_eq!(factorial(4), 24);
        assert_eq!(patterns(Point { x: 1, y: 2 }, (3, 0), [0, 0, 4], ()), 10);
        assert_eq!(in_loop(&[1, 2, -1, 5]), 6);
        assert!(std::panic::catch_unwind(|| never("stop")).is_err());
        assert!(std::panic::catch_unwind(|| boom(7)).is_err());
    });
    assert_eq!(spans.len(), 14);
    let status = |name: &str| spans.iter().find(|span| span.name == name).unwrap().status.clone();
    assert_eq!(status("boom"), Status::error("boom 7"), "a panic is an error, with its message");
    assert!(matches!(status("never"), Status::Error { .. }), "a panic in `-> !` is an error");
}
