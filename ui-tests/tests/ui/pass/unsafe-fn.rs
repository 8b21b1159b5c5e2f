//! `unsafe fn`: the body keeps its `unsafe` blocks (edition 2024: `unsafe_op_in_unsafe_fn`).
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::traced;

/// Reads the value behind `pointer`.
///
/// # Safety
///
/// `pointer` must be valid for reads.
#[traced]
unsafe fn read(pointer: *const u32) -> u32 {
    // SAFETY: the caller promises a valid pointer.
    unsafe { *pointer }
}

struct Raw(*mut u32);

impl Raw {
    /// # Safety
    ///
    /// The pointer must be valid for writes.
    #[traced]
    unsafe fn write(&self, value: u32) {
        // SAFETY: the caller promises a valid pointer.
        unsafe { self.0.write(value) };
    }
}

fn main() {
    let mut number = 5;
    // SAFETY: `number` outlives both calls.
    unsafe {
        Raw(&raw mut number).write(6);
        assert_eq!(read(&raw const number), 6);
    }
}
