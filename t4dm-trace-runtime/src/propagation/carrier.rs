//! The carriers `inject_context` and `extract_context` work on: a `HashMap`, an
//! `http::HeaderMap` (feature `http`) and MCP's `params._meta` (feature `mcp`).
//!
//! Field names are ASCII case-insensitive on extraction, whatever the carrier; a field present
//! under several spellings counts as sent several times.

use opentelemetry::propagation::{Extractor, Injector};
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Stands for a field value that is not text (bytes that are not UTF-8, a JSON number): invalid
/// for every W3C field, so it is rejected the way a malformed value is.
#[cfg(any(feature = "http", feature = "mcp"))]
const NOT_TEXT: &str = "\u{0}";

/// A carrier that trace context can be extracted from.
///
/// Implemented for `HashMap<String, String>`, `http::HeaderMap` (feature `http`) and
/// `serde_json::Map<String, serde_json::Value>` (feature `mcp`); implement it for other
/// message types.
pub trait ExtractCarrier {
    /// Every value of the field `name` (lowercase), matched ASCII case-insensitively, in order.
    fn values(&self, name: &str) -> Vec<&str>;
    /// Every field name.
    fn names(&self) -> Vec<&str>;
}

/// A carrier that trace context can be injected into.
pub trait InjectCarrier {
    /// Sets the field `name` (lowercase) to `value`, replacing any value under any spelling.
    fn set_field(&mut self, name: &str, value: String);
}

impl<S: BuildHasher> ExtractCarrier for HashMap<String, String, S> {
    fn values(&self, name: &str) -> Vec<&str> {
        self.iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

impl<S: BuildHasher> InjectCarrier for HashMap<String, String, S> {
    fn set_field(&mut self, name: &str, value: String) {
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl ExtractCarrier for http::HeaderMap {
    fn values(&self, name: &str) -> Vec<&str> {
        self.get_all(name)
            .iter()
            .map(|value| std::str::from_utf8(value.as_bytes()).unwrap_or(NOT_TEXT))
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl InjectCarrier for http::HeaderMap {
    fn set_field(&mut self, name: &str, value: String) {
        // Our names and values are always valid header text; anything else is skipped.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }
}

#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
impl ExtractCarrier for serde_json::Map<String, serde_json::Value> {
    fn values(&self, name: &str) -> Vec<&str> {
        self.iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str().unwrap_or(NOT_TEXT))
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
impl InjectCarrier for serde_json::Map<String, serde_json::Value> {
    fn set_field(&mut self, name: &str, value: String) {
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), serde_json::Value::String(value));
    }
}

/// An [`ExtractCarrier`] seen as an OpenTelemetry `Extractor`.
pub(crate) struct ExtractAdapter<'a, C: ?Sized>(pub(crate) &'a C);

impl<C: ExtractCarrier + ?Sized> Extractor for ExtractAdapter<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.values(&key.to_ascii_lowercase()).into_iter().next()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.names()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values = self.0.values(&key.to_ascii_lowercase());
        (!values.is_empty()).then_some(values)
    }
}

/// An [`InjectCarrier`] seen as an OpenTelemetry `Injector`.
pub(crate) struct InjectAdapter<'a, C: ?Sized>(pub(crate) &'a mut C);

impl<C: InjectCarrier + ?Sized> Injector for InjectAdapter<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set_field(&key.to_ascii_lowercase(), value);
    }
}
