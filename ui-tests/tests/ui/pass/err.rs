//! Error recording: automatic for `Result`, `io::Result` and a `Result` alias, forced with `err`
//! for an alias of another name, off with `err = false`; any error type works (`std::error::Error`,
//! boxed, `Display` only, `Debug` only, neither).
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::opentelemetry::trace::Status;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

struct Opaque;

#[derive(Debug)]
struct DebugOnly;

type Outcome<T> = Result<T, String>;

#[traced("err.std")]
fn std_error() -> Result<(), std::num::ParseIntError> {
    "x".parse::<u8>().map(drop)
}

#[traced("err.io")]
fn io_error() -> std::io::Result<()> {
    Err(std::io::Error::other("disk"))
}

#[traced("err.boxed")]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("boxed".into())
}

#[traced("err.debug")]
fn debug_only() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

#[traced("err.opaque")]
fn opaque() -> Result<(), Opaque> {
    Err(Opaque)
}

#[traced("err.forced", err)]
fn forced() -> Outcome<()> {
    Err("forced".to_owned())
}

#[traced("err.off", err = false)]
fn off() -> Result<(), String> {
    Err("off".to_owned())
}

#[traced("err.forced_true", err = true)]
async fn forced_true() -> Outcome<u8> {
    Err("async".to_owned())
}

// Nothing in these bodies says what `E` is: only the declared type does.
#[traced("err.async_ok", err)]
async fn async_ok() -> Outcome<u8> {
    Ok(1)
}

#[traced("err.async_boxed")]
async fn async_boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("async boxed".into())
}

#[traced("err.ok")]
fn ok() -> Result<u8, String> {
    Ok(1)
}

fn main() {
    let ((), spans) = capture(|| {
        assert!(std_error().is_err());
        assert!(io_error().is_err());
        assert!(boxed().is_err());
        assert!(debug_only().is_err());
        assert!(opaque().is_err());
        assert!(forced().is_err());
        assert!(off().is_err());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(runtime.block_on(forced_true()).is_err());
        assert_eq!(runtime.block_on(async_ok()), Ok(1));
        assert!(runtime.block_on(async_boxed()).is_err());
        assert_eq!(ok(), Ok(1));
    });
    let status = |name: &str| spans.iter().find(|span| span.name == name).unwrap().status.clone();
    assert_eq!(status("err.std"), Status::error("invalid digit found in string"));
    assert_eq!(status("err.io"), Status::error("disk"));
    assert_eq!(status("err.boxed"), Status::error("boxed"));
    assert_eq!(status("err.debug"), Status::error("DebugOnly"));
    assert!(matches!(status("err.opaque"), Status::Error { .. }));
    assert_eq!(status("err.forced"), Status::error("forced"));
    assert_eq!(status("err.off"), Status::Unset);
    assert_eq!(status("err.forced_true"), Status::error("async"));
    assert_eq!(status("err.ok"), Status::Unset);
    assert_eq!(status("err.async_ok"), Status::Unset);
    assert_eq!(status("err.async_boxed"), Status::error("async boxed"));
}
