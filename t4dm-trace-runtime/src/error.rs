//! The errors of initialisation and shutdown.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

/// Why tracing could not be initialised. Configuration mistakes name the variable (or builder
/// method) and the value, and say what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting has a value that cannot be used.
    #[error("invalid `{setting}` value `{value}`: expected {expected}")]
    InvalidValue {
        /// The environment variable, or the builder method, that gave the value.
        setting: Cow<'static, str>,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        expected: Cow<'static, str>,
    },
    /// The `.env` file in the working directory exists but cannot be read or parsed.
    #[error("cannot read `{}`: {source}", path.display())]
    DotEnv {
        /// The file's path.
        path: PathBuf,
        /// What went wrong.
        source: dotenvy::Error,
    },
    /// `init_tracing` was called before in this process (or `testing::capture` installed its
    /// test provider). OpenTelemetry's global state is set once per process.
    #[error(
        "tracing is already initialised in this process; call `init_tracing` once, at start-up"
    )]
    AlreadyInitialized,
    /// An exporter could not be built from its configuration.
    #[error("cannot build the {exporter} exporter: {source}")]
    Exporter {
        /// Which exporter: `otlp`, `zipkin`, ...
        exporter: &'static str,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The export thread or its runtime could not be started.
    #[error("cannot start the {exporter} export thread: {source}")]
    ExportThread {
        /// Which exporter the thread was for.
        exporter: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl InitError {
    pub(crate) fn invalid(
        setting: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        InitError::InvalidValue {
            setting: setting.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// Why a flush or the shutdown did not export everything queued. After a shutdown, tracing is
/// off either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Queued spans could not all be exported in time. At shutdown, those left are counted as
    /// dropped in [`tracing_stats`](crate::tracing_stats).
    #[error("queued spans were not all exported within {timeout:?}; {pending} spans are left")]
    Timeout {
        /// The timeout that passed.
        timeout: Duration,
        /// Spans left unexported when it passed.
        pending: u64,
    },
    /// The exporter failed.
    #[error("the export failed: {0}")]
    Failed(String),
}

impl ExportError {
    /// The SDK's error, with the spans left unexported (`pending`) when it is a timeout.
    pub(crate) fn from_sdk(error: opentelemetry_sdk::error::OTelSdkError, pending: u64) -> Self {
        match error {
            opentelemetry_sdk::error::OTelSdkError::Timeout(timeout) => {
                ExportError::Timeout { timeout, pending }
            }
            other => ExportError::Failed(other.to_string()),
        }
    }
}
