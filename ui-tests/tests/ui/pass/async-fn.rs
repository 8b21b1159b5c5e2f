//! `async fn`, free and in methods, with `?`, early `return` and borrowed arguments.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::testing::capture_async;
use t4dm_trace_runtime::traced;

#[traced("async.unit")]
async fn unit() {
    tokio::task::yield_now().await;
}

#[traced("async.value", kind = Client, attrs(query))]
async fn value(query: &str) -> usize {
    tokio::task::yield_now().await;
    query.len()
}

#[traced]
async fn fallible(input: &str) -> Result<u32, std::num::ParseIntError> {
    if input.is_empty() {
        return Ok(0);
    }
    let parsed = input.parse::<u32>()?;
    tokio::task::yield_now().await;
    Ok(parsed)
}

struct Service {
    prefix: String,
}

impl Service {
    #[traced]
    async fn greet(&self, name: &str) -> String {
        tokio::task::yield_now().await;
        format!("{}{name}", self.prefix)
    }

    #[traced]
    async fn prefix(&self) -> &str {
        &self.prefix
    }

    #[traced]
    async fn into_prefix(self) -> String {
        self.prefix
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ((), spans) = runtime.block_on(capture_async(async {
        unit().await;
        assert_eq!(value("abc").await, 3);
        assert_eq!(fallible("").await, Ok(0));
        assert_eq!(fallible("4").await, Ok(4));
        assert!(fallible("x").await.is_err());
        let service = Service { prefix: "hi ".to_owned() };
        assert_eq!(service.greet("bob").await, "hi bob");
        assert_eq!(service.prefix().await, "hi ");
        assert_eq!(service.into_prefix().await, "hi ");
    }));
    assert_eq!(spans.len(), 8);
    assert!(spans.iter().any(|span| span.name == "async.value"));
}
