//! `name = expr`: a literal, or any expression giving a `Cow<'static, str>` (a `String`,
//! `format!`, a `&'static str` constant), evaluated per call.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::borrow::Cow;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

const NAME: &str = "constant.name";

#[traced(name = "literal.name")]
fn literal() {}

#[traced(name = format!("tools/call {tool}"), kind = Server)]
fn formatted(tool: &str) {}

#[traced(name = NAME)]
fn constant() {}

#[traced(name = if fast { Cow::Borrowed("fast") } else { Cow::Owned(format!("slow {fast}")) })]
fn computed(fast: bool) {}

fn main() {
    let ((), spans) = capture(|| {
        literal();
        formatted("recall");
        constant();
        computed(true);
        computed(false);
    });
    let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
    assert_eq!(
        names,
        ["literal.name", "tools/call recall", "constant.name", "fast", "slow false"]
    );
}
