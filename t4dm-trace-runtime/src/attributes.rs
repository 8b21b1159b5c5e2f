//! A span's attributes while it records: inline, without heap allocations for short text.
//!
//! OpenTelemetry's `Value::String` owns its text on the heap. A string attribute recorded that
//! way is allocated on the caller's thread and freed on the export thread, which costs glibc's
//! allocator a lock each time: two attributes (a number and a short string) added about 200 ns
//! to a span. Here text up to [`INLINE_TEXT`] bytes (identifiers, names, UUIDs) is copied into
//! the attribute itself, and becomes a `Value::String` on the export thread, where it is also
//! freed.

use crate::value::SpanValue;
use opentelemetry::{Key, KeyValue, Value};
use smallvec::SmallVec;
use std::fmt::{self, Display, Write as _};

/// The longest text kept inline: a UUID (36) fits.
pub(crate) const INLINE_TEXT: usize = 38;

/// A span's attributes: up to four without a heap allocation (`#[traced]` rarely records more).
pub(crate) type Attributes = SmallVec<[Attribute; 4]>;

/// An attribute as a span records it.
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    key: Key,
    value: AttributeValue,
}

#[derive(Debug, Clone)]
enum AttributeValue {
    Otel(Value),
    Text(InlineText),
}

impl Attribute {
    /// The attribute for `value`, or `None` for a value that records nothing (`None`).
    #[inline]
    pub(crate) fn from_value<V: SpanValue + ?Sized>(key: Key, value: &V) -> Option<Self> {
        if let Some(text) = value.as_span_str() {
            return Some(Attribute::text(key, text));
        }
        Some(Attribute {
            key,
            value: AttributeValue::Otel(value.to_span_value()?),
        })
    }

    /// The attribute holding `text`: inline when it is short enough.
    fn text(key: Key, text: &str) -> Self {
        let value = match InlineText::new(text) {
            Some(inline) => AttributeValue::Text(inline),
            None => AttributeValue::Otel(Value::String(text.to_owned().into())),
        };
        Attribute { key, value }
    }

    /// The attribute holding `value`'s `Display` (or `Debug`, through a wrapper).
    pub(crate) fn display(key: Key, value: &(impl Display + ?Sized)) -> Self {
        let mut inline = InlineText::default();
        let value = if write!(inline, "{value}").is_ok() {
            AttributeValue::Text(inline)
        } else {
            AttributeValue::Otel(Value::String(value.to_string().into()))
        };
        Attribute { key, value }
    }

    /// The attribute as OpenTelemetry's type (on the export thread: inline text is allocated
    /// there).
    pub(crate) fn to_key_value(&self) -> KeyValue {
        let value = match &self.value {
            AttributeValue::Otel(value) => value.clone(),
            AttributeValue::Text(text) => Value::String(text.as_str().to_owned().into()),
        };
        KeyValue::new(self.key.clone(), value)
    }
}

impl From<KeyValue> for Attribute {
    fn from(attribute: KeyValue) -> Self {
        Attribute {
            key: attribute.key,
            value: AttributeValue::Otel(attribute.value),
        }
    }
}

/// Text of at most [`INLINE_TEXT`] bytes, stored in place.
#[derive(Clone, Copy)]
struct InlineText {
    len: u8,
    bytes: [u8; INLINE_TEXT],
}

impl Default for InlineText {
    fn default() -> Self {
        InlineText {
            len: 0,
            bytes: [0; INLINE_TEXT],
        }
    }
}

impl InlineText {
    fn new(text: &str) -> Option<Self> {
        let mut inline = InlineText::default();
        inline.write_str(text).ok()?;
        Some(inline)
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are UTF-8; checked, not assumed.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Write for InlineText {
    /// Appends `text`, or fails (leaving the text unchanged) when it does not fit.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let start = usize::from(self.len);
        let end = start + text.len();
        let target = self.bytes.get_mut(start..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.len = u8::try_from(end).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl fmt::Debug for InlineText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Formats a value's `Debug` through `Display`, for [`Attribute::display`].
pub(crate) struct DebugAsDisplay<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: fmt::Debug + ?Sized> Display for DebugAsDisplay<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(attribute: impl AsRef<Attribute>) -> Value {
        attribute.as_ref().to_key_value().value
    }

    impl AsRef<Attribute> for Attribute {
        fn as_ref(&self) -> &Attribute {
            self
        }
    }

    #[test]
    fn short_text_is_kept_inline_and_becomes_a_string_value() {
        let attribute = Attribute::from_value(Key::from_static_str("k"), "ww_episodes").unwrap();
        assert!(matches!(attribute.value, AttributeValue::Text(_)));
        assert_eq!(recorded(attribute), Value::from("ww_episodes"));
    }

    #[test]
    fn text_longer_than_the_inline_buffer_is_allocated_whole() {
        let long = "x".repeat(INLINE_TEXT + 1);
        let attribute = Attribute::from_value(Key::from_static_str("k"), long.as_str()).unwrap();
        assert!(matches!(attribute.value, AttributeValue::Otel(_)));
        assert_eq!(recorded(attribute), Value::from(long));
        let exact = "y".repeat(INLINE_TEXT);
        let attribute = Attribute::from_value(Key::from_static_str("k"), &exact).unwrap();
        assert!(matches!(attribute.value, AttributeValue::Text(_)));
        assert_eq!(recorded(attribute), Value::from(exact));
    }

    #[test]
    fn multi_byte_text_is_cut_only_whole() {
        // 13 three-byte characters (39 bytes) do not fit; 12 (36 bytes) do.
        let thirteen = "€".repeat(13);
        assert_eq!(
            recorded(Attribute::display(Key::from_static_str("k"), &thirteen)),
            Value::from(thirteen)
        );
        let twelve = "€".repeat(12);
        assert_eq!(
            recorded(Attribute::display(Key::from_static_str("k"), &twelve)),
            Value::from(twelve)
        );
    }

    #[test]
    fn display_and_debug_longer_than_the_buffer_fall_back_to_a_string() {
        let value = vec![1_u32; 40];
        assert_eq!(
            recorded(Attribute::display(
                Key::from_static_str("k"),
                &DebugAsDisplay(&value)
            )),
            Value::from(format!("{value:?}"))
        );
        assert_eq!(
            recorded(Attribute::display(Key::from_static_str("k"), &42.5)),
            Value::from("42.5")
        );
    }

    #[test]
    fn other_values_keep_their_type() {
        let attribute = Attribute::from_value(Key::from_static_str("k"), &7_i64).unwrap();
        assert_eq!(recorded(attribute), Value::I64(7));
        assert!(Attribute::from_value(Key::from_static_str("k"), &None::<i64>).is_none());
    }
}
