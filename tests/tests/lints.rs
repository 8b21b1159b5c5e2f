//! The expansion of `#[traced]` must be clean in a user's crate under the strictest common lint
//! settings: this file defines traced functions of every shape under the denials below and calls
//! them. `cargo clippy --all-targets -- -D warnings` checks it with clippy's pedantic group;
//! `cargo test` checks the rustc lints. (`unsafe fn` is covered by the UI tests: this crate
//! forbids unsafe code.)

#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use t4dm_trace_runtime::testing::{capture, capture_async};
use t4dm_trace_runtime::{Context, traced};

#[derive(Debug)]
struct AppError(&'static str);

impl Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for AppError {}

#[traced]
fn unit() {}

#[traced("lints.value", kind = Client, attrs(limit, "db.name" = "episodes", ratio = f64::from(limit)))]
fn value(limit: u32) -> u32 {
    limit + 1
}

#[traced("lints.fallible", attrs(%input, ?input))]
fn fallible(input: &str) -> Result<u32, AppError> {
    let parsed: u32 = input.parse().map_err(|_| AppError("not a number"))?;
    if parsed == 0 {
        return Err(AppError("zero"));
    }
    Ok(parsed)
}

/// An alias the macro cannot recognise as a `Result`, hence `err`.
type Outcome<T> = Result<T, String>;

#[traced(err)]
fn forced(input: i32) -> Outcome<i32> {
    if input < 0 {
        Err("negative".to_owned())
    } else {
        Ok(input)
    }
}

#[traced(err = false)]
fn quiet() -> Result<(), AppError> {
    Ok(())
}

#[traced("lints.optional")]
fn optional(values: &[u32]) -> Option<u32> {
    let first = values.first()?;
    Some(first * 2)
}

#[traced(name = format!("lints.dynamic {id}"), parent = Context::current())]
fn dynamic(id: u8) -> u8 {
    id
}

#[traced]
fn generic<'a, T, const N: usize>(items: &'a [T; N]) -> Vec<String>
where
    T: Display + 'a,
{
    items.iter().map(ToString::to_string).collect()
}

#[traced]
fn with_impl_trait(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    items.into_iter().map(|item| item * 2)
}

#[traced]
fn recursive(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        recursive(n - 1) + recursive(n - 2)
    }
}

#[traced]
fn destructured((left, right): (u32, u32), [first, ..]: [u8; 2]) -> u32 {
    left + right + u32::from(first)
}

#[traced]
#[must_use]
fn must_use_it() -> bool {
    true
}

#[traced]
fn diverges() -> ! {
    std::panic::panic_any("diverged")
}

#[traced("lints.async")]
async fn asynchronous(limit: u32) -> u32 {
    tokio::task::yield_now().await;
    limit
}

#[traced("lints.async_unit")]
async fn asynchronous_unit() {
    tokio::task::yield_now().await;
}

#[traced("lints.async_fallible", attrs(input))]
async fn asynchronous_fallible(input: &str) -> Result<impl Display, AppError> {
    tokio::task::yield_now().await;
    if input.is_empty() {
        return Err(AppError("empty"));
    }
    Ok(input.len())
}

#[traced]
fn returns_future(limit: u32) -> impl Future<Output = u32> + Send {
    let doubled = limit * 2;
    async move { doubled }
}

#[traced]
fn returns_future_with_item(limit: u32) -> impl Future<Output = u32> {
    fn double(value: u32) -> u32 {
        value * 2
    }
    async move { double(limit) }
}

#[traced]
fn returns_boxed_future(limit: u32) -> Pin<Box<dyn Future<Output = Result<u32, AppError>> + Send>> {
    Box::pin(async move {
        if limit == 0 {
            Err(AppError("zero"))
        } else {
            Ok(limit)
        }
    })
}

// Bodies that are one call: the closure around them must not read as a redundant closure.
#[traced]
fn delegate() -> u32 {
    value(1)
}

#[traced]
fn delegate_unit() {
    unit();
}

#[traced]
async fn delegate_async() -> u32 {
    asynchronous(1).await
}

#[traced]
fn delegate_never() -> ! {
    diverges()
}

#[traced]
fn delegate_result() -> Result<u32, AppError> {
    fallible("4")
}

#[traced]
#[track_caller]
fn caller_line() -> u32 {
    std::panic::Location::caller().line()
}

// Items first in a body that runs in place: after our statements, but not after the user's.
#[traced]
fn with_item() -> impl Fn(u32) -> u32 {
    const STEP: u32 = 3;
    fn add(value: u32) -> u32 {
        value + STEP
    }
    add
}

#[traced]
fn adder(step: u32) -> impl Fn(u32) -> u32 {
    move |value| value + step
}

#[traced]
fn boxed_adder(step: u32) -> Box<dyn Fn(u32) -> u32> {
    Box::new(move |value| value + step)
}

// Bodies that never complete, stubs included: nothing generated around them may be reported as
// unreachable or as a diverging sub-expression.
#[traced]
async fn async_diverges(message: &'static str) -> u32 {
    std::panic::panic_any(message)
}

#[traced]
async fn async_stub() -> Result<u32, AppError> {
    unimplemented!()
}

#[traced]
fn future_diverges() -> impl Future<Output = Result<u32, AppError>> {
    async move { panic!("diverged") }
}

#[traced]
fn result_stub() -> Result<u32, AppError> {
    unimplemented!()
}

#[traced]
fn value_stub() -> u32 {
    unimplemented!()
}

struct Store {
    name: String,
    hits: u32,
}

impl Store {
    #[traced]
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            hits: 0,
        }
    }

    #[traced]
    fn name(&self) -> &str {
        &self.name
    }

    #[traced]
    fn hits_mut(&mut self) -> &mut u32 {
        &mut self.hits
    }

    #[traced]
    fn into_name(self) -> String {
        self.name
    }

    #[traced]
    fn boxed(self: Box<Self>) -> u32 {
        self.hits
    }

    #[traced]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.hits
    }

    #[traced]
    async fn load(&self, key: u32) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        if key == 0 {
            Err(AppError("missing"))
        } else {
            Ok(self.hits + key)
        }
    }
}

#[async_trait::async_trait]
trait Repository {
    async fn fetch(&self, key: u32) -> Result<u32, AppError>;
    async fn count(&self) -> usize;
}

#[async_trait::async_trait]
impl Repository for Store {
    #[traced("repo.fetch", attrs(key))]
    async fn fetch(&self, key: u32) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        if key == 0 {
            Err(AppError("missing"))
        } else {
            Ok(key + self.hits)
        }
    }

    #[traced]
    async fn count(&self) -> usize {
        self.name.len()
    }
}

#[test]
fn every_shape_runs_under_the_strict_lints() {
    let ((), spans) = capture(|| {
        unit();
        assert_eq!(value(1), 2);
        assert_eq!(fallible("7").ok(), Some(7));
        assert!(fallible("0").is_err());
        assert!(fallible("x").is_err());
        assert!(forced(-1).is_err());
        assert!(quiet().is_ok());
        assert_eq!(optional(&[2]), Some(4));
        assert_eq!(optional(&[]), None);
        assert_eq!(dynamic(3), 3);
        assert_eq!(generic(&[1, 2]), ["1", "2"]);
        assert_eq!(with_impl_trait([1, 2]).sum::<u32>(), 6);
        assert_eq!(recursive(3), 2);
        assert_eq!(destructured((1, 2), [3, 4]), 6);
        assert!(must_use_it());
        assert!(std::panic::catch_unwind(|| diverges()).is_err());
        assert!(std::panic::catch_unwind(|| delegate_never()).is_err());
        assert_eq!(delegate(), 2);
        delegate_unit();
        assert_eq!(delegate_result().ok(), Some(4));
        assert_eq!(caller_line(), line!());
        assert_eq!(adder(1)(2), 3);
        assert_eq!(with_item()(1), 4);
        assert_eq!(boxed_adder(2)(2), 4);
        let mut store = Store::new("store");
        *store.hits_mut() += 1;
        assert_eq!(store.name(), "store");
        assert_eq!(Pin::new(&mut store).pinned(), 1);
        assert_eq!(Box::new(store).boxed(), 1);
        assert_eq!(Store::new("other").into_name(), "other");
    });
    assert!(spans.len() > 20, "every call records a span");
}

#[tokio::test]
async fn every_async_shape_runs_under_the_strict_lints() {
    let ((), spans) = capture_async(async {
        assert_eq!(asynchronous(2).await, 2);
        asynchronous_unit().await;
        assert_eq!(delegate_async().await, 1);
        assert_eq!(
            asynchronous_fallible("abc")
                .await
                .map(|len| len.to_string())
                .ok(),
            Some("3".to_owned())
        );
        assert!(asynchronous_fallible("").await.is_err());
        assert_eq!(returns_future(2).await, 4);
        assert_eq!(returns_future_with_item(2).await, 4);
        assert!(returns_boxed_future(0).await.is_err());
        let store = Store::new("repo");
        assert_eq!(store.load(1).await.ok(), Some(1));
        assert_eq!(store.fetch(2).await.ok(), Some(2));
        assert!(store.fetch(0).await.is_err());
        assert_eq!(store.count().await, 4);
    })
    .await;
    assert!(spans.len() >= 11, "every call records a span");
    assert!(tokio::spawn(async_diverges("diverged")).await.is_err());
    assert!(tokio::spawn(async_stub()).await.is_err());
    assert!(tokio::spawn(future_diverges()).await.is_err());
    assert!(std::panic::catch_unwind(result_stub).is_err());
    assert!(std::panic::catch_unwind(value_stub).is_err());
}
