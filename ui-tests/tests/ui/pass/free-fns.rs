//! Free functions: default name, positional name, unit and value returns, `pub` visibility,
//! raw identifiers, an `extern "C"` ABI.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[traced]
fn unit() {}

#[traced("free.value")]
fn value(x: u32) -> u32 {
    x + 1
}

#[traced("free.public")]
pub fn public(items: &[u8]) -> usize {
    items.len()
}

#[traced]
fn r#match(r#in: u8) -> u8 {
    r#in
}

#[traced]
extern "C" fn callback(x: u32) -> u32 {
    x * 2
}

fn main() {
    let (len, spans) = capture(|| {
        unit();
        assert_eq!(value(1), 2);
        assert_eq!(r#match(3), 3);
        assert_eq!(callback(2), 4);
        public(&[1, 2, 3])
    });
    assert_eq!(len, 3);
    let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
    assert_eq!(names, ["unit", "free.value", "match", "callback", "free.public"]);
}
