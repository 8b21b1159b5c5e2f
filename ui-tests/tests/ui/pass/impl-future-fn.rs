//! `fn .. -> impl Future` whose body ends in an `async move` block, and boxed futures.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::future::Future;
use std::pin::Pin;
use t4dm_trace_runtime::testing::capture_async;
use t4dm_trace_runtime::traced;

#[traced("future.plain")]
fn plain(limit: u32) -> impl Future<Output = u32> + Send {
    let doubled = limit * 2;
    async move {
        tokio::task::yield_now().await;
        doubled
    }
}

#[traced("future.fallible")]
fn fallible(input: String) -> impl Future<Output = Result<u32, std::num::ParseIntError>> {
    async move {
        let parsed = input.parse::<u32>()?;
        Ok(parsed)
    }
}

#[traced("future.boxed")]
fn boxed(limit: u32) -> Pin<Box<dyn Future<Output = Option<u32>> + Send>> {
    Box::pin(async move { limit.checked_sub(1) })
}

// `?` in a hand-written `Box::pin(async move ..)` converts to the declared output's error type.
#[traced("future.boxed_fallible")]
fn boxed_fallible(input: String) -> Pin<Box<dyn Future<Output = Result<u32, Box<dyn std::error::Error + Send + Sync>>> + Send>> {
    Box::pin(async move {
        let parsed = input.parse::<u32>()?;
        Ok(parsed)
    })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ((), spans) = runtime.block_on(capture_async(async {
        assert_eq!(plain(2).await, 4);
        assert_eq!(fallible("5".to_owned()).await, Ok(5));
        assert!(fallible("x".to_owned()).await.is_err());
        assert_eq!(boxed(0).await, None);
        assert!(boxed_fallible("x".to_owned()).await.is_err());
    }));
    let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
    assert_eq!(names, ["future.plain", "future.fallible", "future.fallible", "future.boxed", "future.boxed_fallible"]);
}
