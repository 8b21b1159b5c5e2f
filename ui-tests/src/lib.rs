//! Compile-pass and compile-fail cases of `#[traced]`, run by trybuild.
