//! Which propagators `init_tracing` installs, and which baggage entries become span attributes:
//! the builder methods and the environment variables.

use crate::config::{TracingConfig, TracingConfigBuilder};
use crate::error::InitError;

/// Standard: the propagators to install, a comma-separated list of `tracecontext`, `baggage`,
/// `xray` and `none` (default `tracecontext,baggage`).
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// The propagators installed when nothing says otherwise.
pub const OTEL_PROPAGATORS_DEFAULT: &str = "tracecontext,baggage";
/// Baggage keys copied onto the attributes of every span started where they are set, e.g.
/// `user.id,session.id` (default: none).
pub const T4DM_OTEL_BAGGAGE_ATTRIBUTES: &str = "T4DM_OTEL_BAGGAGE_ATTRIBUTES";

const PROPAGATORS_EXPECTED: &str =
    "a comma-separated list of `tracecontext`, `baggage`, `xray` and `none`";

/// A context propagation format, as named in `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// W3C Trace Context (`traceparent`, `tracestate`): `tracecontext`.
    TraceContext,
    /// W3C Baggage (`baggage`): `baggage`.
    Baggage,
    /// AWS X-Ray (`X-Amzn-Trace-Id`): `xray`.
    Xray,
}

impl Propagator {
    /// The name `OTEL_PROPAGATORS` uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::Xray => "xray",
        }
    }
}

/// The resolved propagation settings of a [`TracingConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropagationSettings {
    pub(crate) propagators: Vec<Propagator>,
    pub(crate) baggage_attributes: Vec<String>,
}

impl Default for PropagationSettings {
    fn default() -> Self {
        PropagationSettings {
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            baggage_attributes: Vec::new(),
        }
    }
}

/// What the builder was given; each value beats its variable.
#[derive(Debug, Clone, Default)]
pub(crate) struct PropagationOverrides {
    propagators: Option<Vec<Propagator>>,
    baggage_attributes: Option<Vec<String>>,
}

impl PropagationOverrides {
    /// The settings from the builder's values, then `lookup` (which treats blank as unset).
    pub(crate) fn resolve(
        self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PropagationSettings, InitError> {
        let propagators = match self.propagators {
            Some(propagators) => propagators,
            None => match lookup(OTEL_PROPAGATORS) {
                Some(text) => parse_propagators(&text)?,
                None => PropagationSettings::default().propagators,
            },
        };
        let baggage_attributes = match self.baggage_attributes {
            Some(keys) => keys,
            None => match lookup(T4DM_OTEL_BAGGAGE_ATTRIBUTES) {
                Some(text) => parse_baggage_keys(&text)?,
                None => Vec::new(),
            },
        };
        Ok(PropagationSettings {
            propagators,
            baggage_attributes,
        })
    }
}

fn parse_propagators(text: &str) -> Result<Vec<Propagator>, InitError> {
    let mut propagators = Vec::new();
    for name in text.split(',') {
        let propagator = match name.trim().to_ascii_lowercase().as_str() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "xray" => Propagator::Xray,
            "none" => continue,
            _ => {
                return Err(InitError::invalid(
                    OTEL_PROPAGATORS,
                    text,
                    PROPAGATORS_EXPECTED,
                ));
            }
        };
        if !propagators.contains(&propagator) {
            propagators.push(propagator);
        }
    }
    Ok(propagators)
}

fn parse_baggage_keys(text: &str) -> Result<Vec<String>, InitError> {
    let mut keys = Vec::new();
    for key in text.split(',').map(str::trim).filter(|key| !key.is_empty()) {
        if !super::baggage::is_token(key) {
            return Err(InitError::invalid(
                T4DM_OTEL_BAGGAGE_ATTRIBUTES,
                text,
                "a comma-separated list of baggage keys (HTTP tokens) such as `user.id,session.id`",
            ));
        }
        if !keys.iter().any(|existing| existing == key) {
            keys.push(key.to_owned());
        }
    }
    Ok(keys)
}

impl TracingConfigBuilder {
    /// Chooses the propagators `init_tracing` installs as OpenTelemetry's global propagator, over
    /// `OTEL_PROPAGATORS` (default: W3C Trace Context and W3C Baggage). An empty list installs
    /// none: `inject_context` then writes nothing and `extract_context` finds nothing.
    #[must_use]
    pub fn with_propagators(mut self, propagators: impl IntoIterator<Item = Propagator>) -> Self {
        let mut chosen = Vec::new();
        for propagator in propagators {
            if !chosen.contains(&propagator) {
                chosen.push(propagator);
            }
        }
        self.propagation.propagators = Some(chosen);
        self
    }

    /// Copies these baggage entries onto the attributes of every span started where they are
    /// set (under the same key), over `T4DM_OTEL_BAGGAGE_ATTRIBUTES`. Baggage often carries user
    /// data: copy only what may be stored with traces.
    #[must_use]
    pub fn with_baggage_attributes<K: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.propagation.baggage_attributes = Some(keys.into_iter().map(Into::into).collect());
        self
    }
}

impl TracingConfig {
    /// The propagators `init_tracing` installs.
    #[must_use]
    pub fn propagators(&self) -> &[Propagator] {
        &self.propagation.propagators
    }

    /// The baggage keys copied onto span attributes.
    #[must_use]
    pub fn baggage_attributes(&self) -> &[String] {
        &self.propagation.baggage_attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<TracingConfig, InitError> {
        TracingConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn otel_propagators_defaults_to_tracecontext_and_baggage() {
        let config = config(&[]).expect("valid");
        assert_eq!(
            config.propagators(),
            [Propagator::TraceContext, Propagator::Baggage]
        );
        assert!(config.baggage_attributes().is_empty());
    }

    #[test]
    fn otel_propagators_is_read_case_insensitively_and_deduplicated() {
        let config =
            config(&[(OTEL_PROPAGATORS, " Baggage , tracecontext,baggage")]).expect("valid");
        assert_eq!(
            config.propagators(),
            [Propagator::Baggage, Propagator::TraceContext]
        );
    }

    #[test]
    fn otel_propagators_none_installs_nothing() {
        let config = config(&[(OTEL_PROPAGATORS, "none")]).expect("valid");
        assert!(config.propagators().is_empty());
    }

    #[test]
    fn otel_propagators_blank_counts_as_unset() {
        let config = config(&[(OTEL_PROPAGATORS, "  ")]).expect("valid");
        assert_eq!(config.propagators().len(), 2);
    }

    #[test]
    fn otel_propagators_unknown_value_names_the_variable() {
        let error = config(&[(OTEL_PROPAGATORS, "tracecontext,b3")]).expect_err("b3 is unknown");
        let message = error.to_string();
        assert_eq!(
            message,
            "invalid `OTEL_PROPAGATORS` value `tracecontext,b3`: expected a comma-separated list \
             of `tracecontext`, `baggage`, `xray` and `none`"
        );
    }

    #[test]
    fn otel_propagators_xray_composes_with_the_w3c_ones() {
        let config = config(&[(OTEL_PROPAGATORS, "tracecontext,baggage,XRay")]).expect("valid");
        assert_eq!(
            config.propagators(),
            [
                Propagator::TraceContext,
                Propagator::Baggage,
                Propagator::Xray
            ]
        );
    }

    #[test]
    fn builder_propagators_beat_the_variable() {
        let config = TracingConfig::builder()
            .with_propagators([Propagator::Baggage])
            .from_lookup(|name| (name == OTEL_PROPAGATORS).then(|| "bogus".to_owned()))
            .expect("the builder's value wins, so the variable is not read");
        assert_eq!(config.propagators(), [Propagator::Baggage]);
    }

    #[test]
    fn baggage_attributes_come_from_the_variable() {
        let config = config(&[(T4DM_OTEL_BAGGAGE_ATTRIBUTES, "user.id, session.id,,user.id")])
            .expect("valid");
        assert_eq!(config.baggage_attributes(), ["user.id", "session.id"]);
    }

    #[test]
    fn baggage_attributes_reject_a_key_that_is_not_a_token() {
        let error = config(&[(T4DM_OTEL_BAGGAGE_ATTRIBUTES, "user id")]).expect_err("space");
        assert!(
            error
                .to_string()
                .starts_with("invalid `T4DM_OTEL_BAGGAGE_ATTRIBUTES` value `user id`")
        );
    }

    #[test]
    fn builder_baggage_attributes_beat_the_variable() {
        let config = TracingConfig::builder()
            .with_baggage_attributes(["tenant"])
            .from_lookup(|name| {
                (name == T4DM_OTEL_BAGGAGE_ATTRIBUTES).then(|| "user.id".to_owned())
            })
            .expect("valid");
        assert_eq!(config.baggage_attributes(), ["tenant"]);
    }
}
