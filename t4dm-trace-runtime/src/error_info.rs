//! How an error is described on a span: the OpenTelemetry way, with status, `error.type` and an
//! `exception` event.

use opentelemetry::trace::{SpanRef, Status};
use opentelemetry::{Array, KeyValue, StringValue};
use std::backtrace::{Backtrace, BacktraceStatus};
use std::error::Error;
use std::fmt::Write as _;

/// What is recorded about one error.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    type_name: &'static str,
    message: String,
    source_chain: Vec<String>,
}

impl ErrorInfo {
    pub(crate) fn new(type_name: &'static str, message: String) -> Self {
        ErrorInfo {
            type_name,
            message,
            source_chain: Vec::new(),
        }
    }

    /// An error with its `source()` chain.
    pub(crate) fn from_std_error<E: Error + ?Sized>(type_name: &'static str, error: &E) -> Self {
        let mut info = ErrorInfo::new(type_name, error.to_string());
        let mut source = error.source();
        while let Some(cause) = source {
            info.source_chain.push(cause.to_string());
            source = cause.source();
        }
        info
    }

    /// A panic, with its message when the panic hook could keep it.
    pub(crate) fn panic() -> Self {
        let message = crate::panic::take_message().unwrap_or_else(|| "panicked".to_owned());
        ErrorInfo::new("panic", message)
    }

    /// Sets the span's status to Error and adds `error.type` and the `exception` event.
    pub(crate) fn record_on(&self, span: &SpanRef<'_>) {
        span.set_status(Status::error(self.message.clone()));
        span.set_attribute(KeyValue::new("error.type", self.type_name));
        let mut attributes = Vec::with_capacity(4);
        attributes.push(KeyValue::new("exception.type", self.type_name));
        attributes.push(KeyValue::new("exception.message", self.message.clone()));
        if !self.source_chain.is_empty() {
            attributes.push(KeyValue::new(
                "exception.source_chain",
                opentelemetry::Value::Array(Array::String(
                    self.source_chain
                        .iter()
                        .cloned()
                        .map(StringValue::from)
                        .collect(),
                )),
            ));
        }
        // `capture` is free unless RUST_BACKTRACE or RUST_LIB_BACKTRACE asks for backtraces.
        let backtrace = Backtrace::capture();
        if backtrace.status() == BacktraceStatus::Captured {
            let mut text = String::new();
            let _ = write!(text, "{backtrace}");
            attributes.push(KeyValue::new("exception.stacktrace", text));
        }
        span.add_event("exception", attributes);
    }
}

/// Compile-time selection of the richest description an error type supports ("autoref
/// specialisation"): the expansion calls `(&&&&&ErrorProbe(err)).__t4dm_describe()` and method
/// resolution picks the first trait below whose bounds hold.
pub mod probe {
    use super::ErrorInfo;
    use std::any::type_name;
    use std::error::Error;
    use std::fmt::{Debug, Display};
    use std::ops::Deref;

    /// Wraps a borrowed error for description.
    #[derive(Debug)]
    pub struct ErrorProbe<'a, E: ?Sized>(pub &'a E);

    impl<E: ?Sized> Clone for ErrorProbe<'_, E> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<E: ?Sized> Copy for ErrorProbe<'_, E> {}

    /// `E: std::error::Error`: message and `source()` chain.
    pub trait DescribeStdError {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E: Error + ?Sized> DescribeStdError for &&&&&ErrorProbe<'_, E> {
        fn __t4dm_describe(self) -> ErrorInfo {
            ErrorInfo::from_std_error(type_name::<E>(), self.0)
        }
    }

    /// `anyhow::Error`, `Box<dyn Error + Send + Sync>`: the boxed error and its chain.
    pub trait DescribeSendSyncDynError {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E> DescribeSendSyncDynError for &&&&ErrorProbe<'_, E>
    where
        E: Deref<Target = dyn Error + Send + Sync + 'static> + ?Sized,
    {
        fn __t4dm_describe(self) -> ErrorInfo {
            ErrorInfo::from_std_error(type_name::<E>(), &**self.0)
        }
    }

    /// `Box<dyn Error>`: the boxed error and its chain.
    pub trait DescribeDynError {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E> DescribeDynError for &&&ErrorProbe<'_, E>
    where
        E: Deref<Target = dyn Error + 'static> + ?Sized,
    {
        fn __t4dm_describe(self) -> ErrorInfo {
            ErrorInfo::from_std_error(type_name::<E>(), &**self.0)
        }
    }

    /// `E: Display` only.
    pub trait DescribeDisplay {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E: Display + ?Sized> DescribeDisplay for &&ErrorProbe<'_, E> {
        fn __t4dm_describe(self) -> ErrorInfo {
            ErrorInfo::new(type_name::<E>(), self.0.to_string())
        }
    }

    /// `E: Debug` only.
    pub trait DescribeDebug {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E: Debug + ?Sized> DescribeDebug for &ErrorProbe<'_, E> {
        fn __t4dm_describe(self) -> ErrorInfo {
            ErrorInfo::new(type_name::<E>(), format!("{:?}", self.0))
        }
    }

    /// Any other type: its name is all there is to say.
    pub trait DescribeAny {
        /// Describes the error.
        fn __t4dm_describe(self) -> ErrorInfo;
    }

    impl<E: ?Sized> DescribeAny for ErrorProbe<'_, E> {
        fn __t4dm_describe(self) -> ErrorInfo {
            let name = type_name::<E>();
            ErrorInfo::new(name, name.to_owned())
        }
    }
}
