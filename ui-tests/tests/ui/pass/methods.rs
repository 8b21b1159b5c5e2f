//! Methods with every receiver, `Self` in bodies, and returns borrowed from the receiver.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::pin::Pin;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[derive(Debug, Clone, PartialEq)]
struct Store {
    name: String,
    hits: u32,
}

impl Store {
    #[traced]
    fn new(name: &str) -> Self {
        Self { name: name.to_owned(), hits: 0 }
    }

    #[traced]
    fn by_value(self) -> String {
        self.name
    }

    #[traced]
    fn by_ref(&self) -> u32 {
        self.hits
    }

    #[traced]
    fn by_mut(&mut self) {
        self.hits += 1;
    }

    #[traced]
    fn boxed(self: Box<Self>) -> Self {
        *self
    }

    #[traced]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.get_mut().hits
    }

    #[traced(attrs(?self, hits = self.hits))]
    fn described(&self) -> bool {
        self.hits > 0
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
    fn renamed<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        [self.name.as_str(), suffix].into_iter()
    }

    #[traced]
    fn same(other: &Self) -> Self {
        Self::clone(other)
    }
}

trait Named {
    fn label(&self) -> String;

    #[traced]
    fn shout(&self) -> String {
        self.label().to_uppercase()
    }
}

impl Named for Store {
    #[traced]
    fn label(&self) -> String {
        self.name.clone()
    }
}

fn main() {
    let ((), spans) = capture(|| {
        let mut store = Store::new("store");
        store.by_mut();
        *store.hits_mut() += 1;
        assert_eq!(store.by_ref(), 2);
        assert!(store.described());
        assert_eq!(store.name(), "store");
        assert_eq!(store.renamed("x").collect::<Vec<_>>(), ["store", "x"]);
        assert_eq!(Pin::new(&mut store).pinned(), 2);
        assert_eq!(Store::same(&store), store);
        assert_eq!(store.shout(), "STORE");
        let store = Box::new(store).boxed();
        assert_eq!(store.by_value(), "store");
    });
    assert_eq!(spans.len(), 13);
    let described = spans.iter().find(|span| span.name == "described").unwrap();
    assert_eq!(described.attributes.len(), 2, "`?self` and `hits`");
}
