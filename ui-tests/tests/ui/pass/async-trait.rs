//! Trait-impl methods under `#[async_trait]`: `#[traced]` instruments its `Box::pin(async move ..)`.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::opentelemetry::trace::Status;
use t4dm_trace_runtime::testing::capture_async;
use t4dm_trace_runtime::traced;

#[derive(Debug)]
struct NotFound(u32);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no item {}", self.0)
    }
}

impl std::error::Error for NotFound {}

#[async_trait::async_trait]
trait Repository {
    async fn load(&self, id: u32) -> Result<String, NotFound>;
    async fn count(&self) -> usize;
    async fn rename(&mut self, name: String);
}

struct Memory {
    items: Vec<String>,
}

#[async_trait::async_trait]
impl Repository for Memory {
    #[traced("repo.load", kind = Client, attrs(id))]
    async fn load(&self, id: u32) -> Result<String, NotFound> {
        tokio::task::yield_now().await;
        let index = usize::try_from(id).map_err(|_| NotFound(id))?;
        self.items.get(index).cloned().ok_or(NotFound(id))
    }

    #[traced("repo.count")]
    async fn count(&self) -> usize {
        self.items.len()
    }

    #[traced("repo.rename", attrs(%name))]
    async fn rename(&mut self, name: String) {
        self.items.push(name);
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ((), spans) = runtime.block_on(capture_async(async {
        let mut repo = Memory { items: vec!["a".to_owned()] };
        assert_eq!(repo.load(0).await.ok().as_deref(), Some("a"));
        assert!(repo.load(9).await.is_err());
        repo.rename("b".to_owned()).await;
        assert_eq!(repo.count().await, 2);
    }));
    let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
    assert_eq!(names, ["repo.load", "repo.load", "repo.rename", "repo.count"]);
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(spans[1].status, Status::error("no item 9"));
}
