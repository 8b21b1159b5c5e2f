//! `crate = path`: the runtime reached under another name, as a wrapper crate re-exports it.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

extern crate t4dm_trace_runtime as renamed_runtime;

/// A facade crate re-exporting the runtime (serde's trick to test `crate = ..`).
mod my_runtime {
    pub use ::t4dm_trace_runtime::*;
}

mod nested {
    pub mod facade {
        pub use renamed_runtime::*;
    }
}

#[my_runtime::traced("via.module", crate = my_runtime)]
fn via_module() -> u32 {
    1
}

#[renamed_runtime::traced("via.extern", crate = ::renamed_runtime, err)]
fn via_extern_alias() -> Result<u32, String> {
    Ok(2)
}

#[nested::facade::traced("via.nested", crate = crate::nested::facade)]
async fn via_nested() -> u32 {
    3
}

fn main() {
    let (sum, spans) = my_runtime::testing::capture(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        via_module() + via_extern_alias().unwrap() + runtime.block_on(via_nested())
    });
    assert_eq!(sum, 6);
    let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
    assert_eq!(names, ["via.module", "via.extern", "via.nested"]);
}
