//! The message of a panic, for the span it unwinds through.
//!
//! Spans end from guards that run during unwinding, which see no payload; `catch_unwind` would
//! give it but costs every call on the happy path. So a panic hook, chained in front of whatever
//! hook is installed, keeps the latest panic message of each thread for the guards to take.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook once per process. The hook that was installed before keeps running after
/// ours, unchanged (the default one still prints the message). A hook installed later replaces
/// ours: spans then say only that a panic happened.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = if let Some(message) = payload.downcast_ref::<&'static str>() {
                (*message).to_owned()
            } else if let Some(message) = payload.downcast_ref::<String>() {
                message.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            // `try_*`: a panic while this thread's storage is being torn down records nothing.
            let _ = LAST_MESSAGE.try_with(|slot| {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    *slot = Some(message);
                }
            });
            previous(info);
        }));
    });
}

/// The message of the latest panic on this thread, once.
pub(crate) fn take_message() -> Option<String> {
    LAST_MESSAGE
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
        .ok()
        .flatten()
}
