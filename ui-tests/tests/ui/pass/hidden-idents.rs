//! The expansion's own bindings (`__t4dm_*`, made with `Span::mixed_site()`) never collide with
//! the user's: arguments and locals of the same names keep their own values.
#![deny(warnings, unused_qualifications, clippy::pedantic)]
#![allow(clippy::used_underscore_binding, clippy::no_effect_underscore_binding)]

use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[traced(attrs(__t4dm_span))]
fn argument_named_like_ours(__t4dm_span: u32) -> u32 {
    __t4dm_span + 1
}

#[traced]
fn locals_named_like_ours() -> u32 {
    let __t4dm_span = 1;
    let __t4dm_ret = 2;
    let __t4dm_err = 3;
    let __t4dm_guard = 4;
    __t4dm_span + __t4dm_ret + __t4dm_err + __t4dm_guard
}

#[traced]
fn result_named_like_ours(__t4dm_err: &str) -> Result<u32, String> {
    Err(__t4dm_err.to_owned())
}

#[traced]
async fn async_named_like_ours(__t4dm_ret: u32) -> u32 {
    let __t4dm_span = __t4dm_ret;
    __t4dm_span * 2
}

fn main() {
    let ((), spans) = capture(|| {
        assert_eq!(argument_named_like_ours(1), 2);
        assert_eq!(locals_named_like_ours(), 10);
        assert_eq!(result_named_like_ours("e"), Err("e".to_owned()));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(runtime.block_on(async_named_like_ours(4)), 8);
    });
    assert_eq!(spans.len(), 4);
}
