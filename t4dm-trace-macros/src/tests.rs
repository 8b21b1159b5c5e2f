//! Expansion snapshots: each case is expanded, printed with `prettyplease` and compared with
//! `tests/expand/<case>.expanded.rs`. Run with `BLESS=1` to rewrite the files after a deliberate
//! change, then read the diff: the expansion must stay small and readable.

use proc_macro2::TokenStream;
use quote::quote;
use std::path::PathBuf;

/// Expands `#[traced(#args)] #item` and compares the pretty-printed result with the snapshot.
fn check(case: &str, args: TokenStream, item: TokenStream) {
    let expanded = match crate::traced_impl(args, item) {
        Ok(tokens) => tokens,
        Err(error) => panic!("case `{case}` did not expand: {error}"),
    };
    let file: syn::File = syn::parse2(expanded.clone()).unwrap_or_else(|error| {
        panic!("case `{case}` expanded to invalid Rust ({error}):\n{expanded}")
    });
    let actual = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(format!("{case}.expanded.rs"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("the snapshot directory"))
            .expect("create the snapshot directory");
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "no snapshot at {} ({error}); run with BLESS=1 to create it. Expansion:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "the expansion of `{case}` changed; run with BLESS=1 to accept it.\n\
         --- expected ({})\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn sync_fn() {
    check(
        "sync_fn",
        quote!("episodic.recall", attrs(limit)),
        quote! {
            /// Finds episodes.
            pub fn recall(query: &str, limit: usize) -> Vec<String> {
                vec![query.to_owned(); limit]
            }
        },
    );
}

#[test]
fn default_name_and_unit_return() {
    check(
        "unit_fn",
        quote!(),
        quote!(
            fn tick() {}
        ),
    );
}

#[test]
fn async_fn() {
    check(
        "async_fn",
        quote!("mcp.recall_episodes", kind = Server),
        quote! {
            async fn recall(limit: usize) -> usize {
                tokio::task::yield_now().await;
                limit
            }
        },
    );
}

#[test]
fn result_fn() {
    check(
        "result_fn",
        quote!("store.put", attrs(key = %key, size = bytes.len())),
        quote! {
            fn put(key: &str, bytes: &[u8]) -> std::io::Result<()> {
                check(key)?;
                write(bytes)
            }
        },
    );
}

#[test]
fn async_result_fn() {
    check(
        "async_result_fn",
        quote!("qdrant.search", kind = Client),
        quote! {
            async fn search(query: impl AsRef<str>) -> Result<impl Iterator<Item = u32>, Error> {
                let hits = client().search(query.as_ref()).await?;
                Ok(hits.into_iter())
            }
        },
    );
}

#[test]
fn method() {
    check(
        "method",
        quote!("store.name"),
        quote! {
            #[must_use]
            fn name(&self) -> &str {
                &self.name
            }
        },
    );
}

#[test]
fn async_trait_method() {
    // What `#[async_trait]` (0.1.9x) turns `async fn load(&self, id: u64) -> Result<Item, Error>`
    // into before `#[traced]` sees it.
    check(
        "async_trait_method",
        quote!("repo.load", attrs(id)),
        quote! {
            fn load<'life0, 'async_trait>(
                &'life0 self,
                id: u64,
            ) -> ::core::pin::Pin<Box<
                dyn ::core::future::Future<Output = Result<Item, Error>>
                    + ::core::marker::Send
                    + 'async_trait
            >>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move {
                    if let ::core::option::Option::Some(__ret) =
                        ::core::option::Option::None::<Result<Item, Error>>
                    {
                        #[allow(unreachable_code)]
                        return __ret;
                    }
                    let __self = self;
                    let id = id;
                    let __ret: Result<Item, Error> = { __self.db.get(id).await };
                    #[allow(unreachable_code)]
                    __ret
                })
            }
        },
    );
}

#[test]
fn impl_future_fn() {
    check(
        "impl_future_fn",
        quote!("fetch", err),
        quote! {
            fn fetch(url: String) -> impl Future<Output = Outcome> + Send {
                let client = Client::new();
                async move { client.get(url).await }
            }
        },
    );
}

#[test]
fn never_fn() {
    check(
        "never_fn",
        quote!("serve", kind = Server),
        quote! {
            fn serve(listener: Listener) -> ! {
                loop {
                    listener.accept();
                }
            }
        },
    );
}

#[test]
fn every_option() {
    check(
        "every_option",
        quote!(
            name = format!("tools/call {tool}"),
            kind = Server,
            attrs(db.collection.name = "episodes", "db.query.text" = %query, ?tool, limit),
            parent = remote_cx,
            err = false,
            crate = my_runtime,
        ),
        quote! {
            fn call(tool: &str, query: &str, limit: usize, remote_cx: Context) -> Result<(), Error> {
                Ok(())
            }
        },
    );
}

#[test]
fn track_caller_fn() {
    check(
        "track_caller_fn",
        quote!("assert.positive"),
        quote! {
            #[track_caller]
            fn assert_positive(value: i64) -> Result<i64, String> {
                assert!(value > 0, "not positive");
                Ok(value)
            }
        },
    );
}

#[test]
fn impl_trait_fn() {
    check(
        "impl_trait_fn",
        quote!(),
        quote! {
            fn scale(factor: u32) -> impl Fn(u32) -> u32 {
                move |x| x * factor
            }
        },
    );
}

/// The "Expands to" section of the `#[traced]` documentation shows the `result_fn` snapshot:
/// the documentation must not drift from what the macro generates.
#[test]
fn documented_expansion_is_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let snapshot = std::fs::read_to_string(root.join("tests/expand/result_fn.expanded.rs"))
        .expect("the result_fn snapshot");
    let docs = std::fs::read_to_string(root.join("../t4dm-trace-runtime/src/traced.md"))
        .expect("the documentation of #[traced]");
    assert!(
        docs.contains(&format!("```text\n{snapshot}```")),
        "update the \"Expands to\" section of t4dm-trace-runtime/src/traced.md to:\n{snapshot}"
    );
}

#[test]
fn async_stub() {
    // One diverging expression: clippy's `diverging_sub_expression` is allowed on our `let`.
    check(
        "async_stub",
        quote!(),
        quote! {
            async fn later() -> Result<u32, Error> {
                unimplemented!()
            }
        },
    );
}
