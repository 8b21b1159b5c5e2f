//! Every form `#[traced]` accepts compiles (and runs) under strict lints; every form it rejects
//! fails with the message in the `.stderr` file beside it. `TRYBUILD=overwrite` rewrites those.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
