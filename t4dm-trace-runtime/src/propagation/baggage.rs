//! W3C Baggage: the `baggage` field, helpers on the current baggage, and the span processor that
//! copies chosen baggage entries onto span attributes.
//!
//! Baggage lives in the OpenTelemetry [`Baggage`] of the [`Context`], so code using the
//! OpenTelemetry API (`cx.baggage()`) sees the same entries. That type holds up to 64 entries
//! and 8,192 bytes of keys, values and properties: the minimum the W3C specification asks to be
//! propagated; entries past those limits are dropped whole.

use super::error::PropagationError;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::Span;
use opentelemetry::{Context, ContextGuard, Key, KeyValue, StringValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::borrow::Cow;
use std::sync::LazyLock;

const BAGGAGE: &str = "baggage";
static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [BAGGAGE.to_owned()]);

/// Spaces and horizontal tabs: the optional whitespace of RFC 9110.
const OWS: [char; 2] = [' ', '\t'];

/// What is percent-encoded in values: everything outside `baggage-octet`, the percent sign, and
/// `+`, which peers decoding form-style (Python, .NET) would read as a space.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'+');

/// The W3C Baggage propagator (`baggage`).
///
/// Extraction keeps every well-formed list member, with its properties, and drops a malformed
/// member alone (a key that is not an HTTP token, a value with a space, quote, comma, backslash
/// or non-ASCII character, an empty property). Values are percent-decoded; byte sequences that
/// are not UTF-8 become U+FFFD. A key sent twice keeps its last value. Several `baggage` fields
/// are combined in order.
///
/// Injection percent-encodes values (a space as `%20`, `+` as `%2B`), writes entries sorted by
/// key, and keeps properties as received.
///
/// `+` in a received value is a plus sign, as the specification says. Peers that encode a space
/// as `+` (the Python SDK does) can be read with [`W3cBaggagePropagator::with_plus_as_space`].
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::W3cBaggagePropagator;
/// use t4dm_trace_runtime::opentelemetry::baggage::BaggageExt;
/// use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
///
/// let incoming = HashMap::from([(
///     "baggage".to_owned(),
///     "user.id=alice, serverNode = DF%2028;region=eu, bad key=dropped".to_owned(),
/// )]);
/// let cx = W3cBaggagePropagator::new().extract(&incoming);
/// assert_eq!(cx.baggage().get("serverNode").map(|v| v.as_str()), Some("DF 28"));
/// assert_eq!(cx.baggage().len(), 2);
///
/// let mut outgoing = HashMap::new();
/// W3cBaggagePropagator::new().inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["baggage"], "serverNode=DF%2028;region=eu,user.id=alice");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct W3cBaggagePropagator {
    plus_as_space: bool,
}

impl W3cBaggagePropagator {
    /// The propagator, decoding values as the specification says.
    #[must_use]
    pub fn new() -> Self {
        W3cBaggagePropagator::default()
    }

    /// Reads `+` in received values as a space, for peers that form-encode (the Python SDK
    /// writes `hello world` as `hello+world`). Off by default: for the specification `+` is a
    /// plus sign, and peers such as Go's send it unencoded. Injection is unaffected: it always
    /// writes `%20` and `%2B`, which both kinds of peer read correctly.
    #[must_use]
    pub fn with_plus_as_space(mut self, plus_as_space: bool) -> Self {
        self.plus_as_space = plus_as_space;
        self
    }
}

impl TextMapPropagator for W3cBaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        let mut entries: Vec<_> = baggage.iter().collect();
        entries.sort_by(|(left, _), (right, _)| left.as_str().cmp(right.as_str()));
        let mut header = String::new();
        for (key, (value, metadata)) in entries {
            if !header.is_empty() {
                header.push(',');
            }
            header.push_str(key.as_str());
            header.push('=');
            header.extend(utf8_percent_encode(value.as_str(), VALUE_ENCODE));
            if !metadata.as_str().is_empty() {
                header.push(';');
                header.push_str(metadata.as_str());
            }
        }
        injector.set(BAGGAGE, header);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(values) = extractor.get_all(BAGGAGE) else {
            return cx.clone();
        };
        let mut baggage = Baggage::new();
        for member in values.iter().flat_map(|value| value.split(',')) {
            if let Some((key, value, properties)) = parse_member(member, self.plus_as_space) {
                // Entries past the limits are refused whole by `Baggage`.
                baggage.insert_with_metadata(key, value, properties);
            }
        }
        if baggage.is_empty() {
            cx.clone()
        } else {
            cx.with_baggage(baggage)
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&*FIELDS)
    }
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`, or `None` for a malformed member.
/// Properties come back normalised (`k=v` or `k`, joined by `;`), values still encoded.
fn parse_member(member: &str, plus_as_space: bool) -> Option<(String, String, String)> {
    let mut parts = member.split(';');
    let (key, value) = parts.next()?.split_once('=')?;
    let key = key.trim_matches(OWS);
    let value = value.trim_matches(OWS);
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let mut properties = String::new();
    for property in parts {
        let property = if let Some((name, value)) = property.split_once('=') {
            let (name, value) = (name.trim_matches(OWS), value.trim_matches(OWS));
            if !is_token(name) || !value.bytes().all(is_baggage_octet) {
                return None;
            }
            Cow::Owned(format!("{name}={value}"))
        } else {
            let name = property.trim_matches(OWS);
            if !is_token(name) {
                return None;
            }
            Cow::Borrowed(name)
        };
        if !properties.is_empty() {
            properties.push(';');
        }
        properties.push_str(&property);
    }
    Some((key.to_owned(), decode(value, plus_as_space), properties))
}

fn decode(value: &str, plus_as_space: bool) -> String {
    let value = if plus_as_space && value.contains('+') {
        Cow::Owned(value.replace('+', " "))
    } else {
        Cow::Borrowed(value)
    };
    // Invalid UTF-8 after decoding becomes U+FFFD, as the specification requires.
    String::from_utf8_lossy(&percent_encoding::percent_decode_str(&value).collect::<Vec<u8>>())
        .into_owned()
}

/// An HTTP `token` (RFC 9110): one or more of `tchar`.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|byte| {
            byte.is_ascii_alphanumeric()
                || matches!(
                    byte,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// The value of baggage entry `key` in the current context.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{get_baggage, set_baggage};
///
/// let _guard = set_baggage("user.id", "alice")?;
/// assert_eq!(get_baggage("user.id").as_deref(), Some("alice"));
/// # Ok::<(), t4dm_trace_runtime::PropagationError>(())
/// ```
#[must_use]
pub fn get_baggage(key: &str) -> Option<String> {
    Context::map_current(|cx| cx.baggage().get(key).map(|value| value.as_str().to_owned()))
}

/// Sets baggage entry `key` in the current context until the returned guard is dropped: spans
/// started meanwhile on this thread see it, and outgoing requests carry it. For a future, use
/// [`context_with_baggage`] with [`TraceFutureExt::in_trace`](crate::TraceFutureExt::in_trace).
///
/// # Errors
///
/// [`PropagationError::InvalidBaggageKey`] when `key` is not an HTTP token (letters, digits and
/// a few signs; no spaces), [`PropagationError::BaggageFull`] when the entry would pass 64
/// entries or 8,192 bytes.
pub fn set_baggage(
    key: impl Into<Key>,
    value: impl Into<StringValue>,
) -> Result<ContextGuard, PropagationError> {
    Ok(context_with_baggage([(key, value)])?.attach())
}

/// The current context with the given baggage entries added (an existing key is replaced).
///
/// # Errors
///
/// As [`set_baggage`], for the first entry that cannot be added.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{TraceFutureExt, context_with_baggage, get_baggage};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cx = context_with_baggage([("session.id", "s-42")])?;
/// let seen = async { get_baggage("session.id") }.in_trace(cx).await;
/// assert_eq!(seen.as_deref(), Some("s-42"));
/// # Ok::<(), t4dm_trace_runtime::PropagationError>(())
/// # }).unwrap();
/// ```
pub fn context_with_baggage<K, V>(
    entries: impl IntoIterator<Item = (K, V)>,
) -> Result<Context, PropagationError>
where
    K: Into<Key>,
    V: Into<StringValue>,
{
    let cx = Context::current();
    let mut baggage: Baggage = cx
        .baggage()
        .iter()
        .map(|(key, (value, metadata))| (key.clone(), (value.clone(), metadata.clone())))
        .collect();
    for (key, value) in entries {
        let (key, value) = (key.into(), value.into());
        if !is_token(key.as_str()) {
            return Err(PropagationError::InvalidBaggageKey(key.as_str().to_owned()));
        }
        baggage.insert(key.clone(), value.clone());
        if baggage.get(key.as_str()) != Some(&value) {
            return Err(PropagationError::BaggageFull {
                key: key.as_str().to_owned(),
            });
        }
    }
    Ok(cx.with_baggage(baggage))
}

/// Copies chosen baggage entries of a span's parent context onto the span's attributes, under
/// the same key, when the span starts.
#[derive(Debug)]
pub(crate) struct BaggageAttributes {
    keys: Vec<Key>,
}

impl BaggageAttributes {
    pub(crate) fn new(keys: &[String]) -> Self {
        BaggageAttributes {
            keys: keys.iter().map(|key| Key::new(key.clone())).collect(),
        }
    }
}

impl BaggageAttributes {
    /// Copies the chosen entries of the starting span's parent context onto it.
    pub(crate) fn copy_onto(&self, span: &mut impl Span, cx: &Context) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        for key in &self.keys {
            if let Some(value) = baggage.get(key.as_str()) {
                span.set_attribute(KeyValue::new(key.clone(), value.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_member_trims_whitespace_and_normalises_properties() {
        let parsed = parse_member(" key3 = value3 ; propertyKey = propertyValue ;flag ", false);
        assert_eq!(
            parsed,
            Some((
                "key3".to_owned(),
                "value3".to_owned(),
                "propertyKey=propertyValue;flag".to_owned()
            ))
        );
    }

    #[test]
    fn parse_member_keeps_equal_signs_in_the_value() {
        let parsed = parse_member("k=a=b==", false).map(|(_, value, _)| value);
        assert_eq!(parsed.as_deref(), Some("a=b=="));
    }

    #[test]
    fn decode_replaces_invalid_utf8_with_the_replacement_character() {
        assert_eq!(decode("caf%C3%A9%FF", false), "café\u{fffd}");
    }

    #[test]
    fn decode_reads_plus_as_space_only_when_asked() {
        assert_eq!(decode("a+b%2Bc", false), "a+b+c");
        assert_eq!(decode("a+b%2Bc", true), "a b+c");
    }
}
