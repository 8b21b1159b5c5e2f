//! Generics, lifetimes, const generics and where clauses.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use std::fmt::Display;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[traced]
fn longest<'a>(left: &'a str, right: &'a str) -> &'a str {
    if left.len() >= right.len() { left } else { right }
}

#[traced]
fn render<T, const N: usize>(items: [T; N]) -> Vec<String>
where
    T: Display,
{
    items.iter().map(ToString::to_string).collect()
}

#[traced]
fn first<'a, T: ?Sized + 'a, I>(items: I) -> Option<&'a T>
where
    I: IntoIterator<Item = &'a T>,
{
    items.into_iter().next()
}

struct Wrapper<T>(T);

impl<T: Clone + Default> Wrapper<T> {
    #[traced]
    fn get<U: From<T>>(&self) -> U {
        U::from(self.0.clone())
    }

    #[traced]
    fn take(self) -> T
    where
        T: Send,
    {
        self.0
    }
}

fn main() {
    let ((), spans) = capture(|| {
        assert_eq!(longest("ab", "c"), "ab");
        assert_eq!(render([1, 2]), ["1", "2"]);
        assert_eq!(first(["a", "b"]), Some("a"));
        let wrapper = Wrapper(7_u8);
        assert_eq!(wrapper.get::<u32>(), 7);
        assert_eq!(wrapper.take(), 7);
    });
    assert_eq!(spans.len(), 5);
}
