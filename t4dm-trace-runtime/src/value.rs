//! Typed attribute values: what `attrs(..)` and `add_span_attribute` accept.

use opentelemetry::{Array, StringValue, Value};
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

/// A value that can be recorded as a span attribute, keeping its OpenTelemetry type.
///
/// Integers become `i64` (an unsigned value beyond `i64::MAX` is recorded as its decimal string,
/// so that it is never silently wrapped), floats `f64`, `bool` stays `bool`, strings stay strings,
/// and slices, arrays and `Vec`s of those become OpenTelemetry arrays. `Option<T>` records its
/// value when `Some` and records nothing when `None`.
///
/// For any other type, record its `Display` with `%expr` or its `Debug` with `?expr` in
/// `attrs(..)`, or convert it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a span attribute value",
    label = "not an integer, float, bool, string, or a slice or `Option` of those",
    note = "in `attrs(..)`, record its `Display` with `key = %expr` or its `Debug` with `key = ?expr`"
)]
pub trait SpanValue {
    /// The OpenTelemetry value, or `None` when there is nothing to record.
    fn to_span_value(&self) -> Option<Value>;

    /// The value's text, when it is text: recorded without allocating if it is short. Not
    /// part of the stable API.
    #[doc(hidden)]
    fn as_span_str(&self) -> Option<&str> {
        None
    }
}

macro_rules! signed {
    ($($ty:ty),*) => {$(
        impl SpanValue for $ty {
            fn to_span_value(&self) -> Option<Value> {
                Some(Value::I64(i64::from(*self)))
            }
        }
        impl SpanArrayElement for $ty {
            fn array_from(items: &[Self]) -> Array {
                Array::I64(items.iter().map(|item| i64::from(*item)).collect())
            }
        }
    )*};
}
signed!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide {
    ($($ty:ty),*) => {$(
        impl SpanValue for $ty {
            fn to_span_value(&self) -> Option<Value> {
                Some(match i64::try_from(*self) {
                    Ok(value) => Value::I64(value),
                    Err(_) => Value::String(self.to_string().into()),
                })
            }
        }
        impl SpanArrayElement for $ty {
            fn array_from(items: &[Self]) -> Array {
                let narrowed: Result<Vec<i64>, _> =
                    items.iter().map(|item| i64::try_from(*item)).collect();
                match narrowed {
                    Ok(values) => Array::I64(values),
                    Err(_) => Array::String(
                        items.iter().map(|item| StringValue::from(item.to_string())).collect(),
                    ),
                }
            }
        }
    )*};
}
wide!(u64, usize, isize, i128, u128);

impl SpanValue for f64 {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::F64(*self))
    }
}

impl SpanValue for f32 {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::F64(f64::from(*self)))
    }
}

impl SpanValue for bool {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
}

impl SpanValue for str {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::String(self.to_owned().into()))
    }

    fn as_span_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl SpanValue for String {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::String(self.clone().into()))
    }

    fn as_span_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl SpanValue for Cow<'_, str> {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::String(self.to_string().into()))
    }

    fn as_span_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl SpanValue for char {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::String(self.to_string().into()))
    }
}

impl SpanValue for Value {
    fn to_span_value(&self) -> Option<Value> {
        Some(self.clone())
    }

    fn as_span_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text.as_str()),
            _ => None,
        }
    }
}

impl SpanValue for StringValue {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }

    fn as_span_str(&self) -> Option<&str> {
        Some(self.as_str())
    }
}

impl SpanValue for Array {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::Array(self.clone()))
    }
}

impl<T: SpanValue> SpanValue for Option<T> {
    fn to_span_value(&self) -> Option<Value> {
        self.as_ref().and_then(SpanValue::to_span_value)
    }

    fn as_span_str(&self) -> Option<&str> {
        self.as_ref().and_then(SpanValue::as_span_str)
    }
}

impl<T: SpanValue + ?Sized> SpanValue for &T {
    fn to_span_value(&self) -> Option<Value> {
        (**self).to_span_value()
    }

    fn as_span_str(&self) -> Option<&str> {
        (**self).as_span_str()
    }
}

impl<T: SpanValue + ?Sized> SpanValue for &mut T {
    fn to_span_value(&self) -> Option<Value> {
        (**self).to_span_value()
    }

    fn as_span_str(&self) -> Option<&str> {
        (**self).as_span_str()
    }
}

impl<T: SpanValue + ?Sized> SpanValue for Box<T> {
    fn to_span_value(&self) -> Option<Value> {
        (**self).to_span_value()
    }

    fn as_span_str(&self) -> Option<&str> {
        (**self).as_span_str()
    }
}

impl<T: SpanValue + ?Sized> SpanValue for Arc<T> {
    fn to_span_value(&self) -> Option<Value> {
        (**self).to_span_value()
    }

    fn as_span_str(&self) -> Option<&str> {
        (**self).as_span_str()
    }
}

impl<T: SpanValue + ?Sized> SpanValue for Rc<T> {
    fn to_span_value(&self) -> Option<Value> {
        (**self).to_span_value()
    }

    fn as_span_str(&self) -> Option<&str> {
        (**self).as_span_str()
    }
}

/// An element type of an attribute array: integers, floats, bools and strings.
pub trait SpanArrayElement: Sized {
    /// The array holding `items`, each converted as [`SpanValue`] converts it alone.
    fn array_from(items: &[Self]) -> Array;
}

impl SpanArrayElement for f64 {
    fn array_from(items: &[Self]) -> Array {
        Array::F64(items.to_vec())
    }
}

impl SpanArrayElement for f32 {
    fn array_from(items: &[Self]) -> Array {
        Array::F64(items.iter().copied().map(f64::from).collect())
    }
}

impl SpanArrayElement for bool {
    fn array_from(items: &[Self]) -> Array {
        Array::Bool(items.to_vec())
    }
}

impl SpanArrayElement for String {
    fn array_from(items: &[Self]) -> Array {
        Array::String(items.iter().cloned().map(StringValue::from).collect())
    }
}

impl SpanArrayElement for &str {
    fn array_from(items: &[Self]) -> Array {
        Array::String(
            items
                .iter()
                .map(|item| StringValue::from((*item).to_owned()))
                .collect(),
        )
    }
}

impl<T: SpanArrayElement> SpanValue for [T] {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::Array(T::array_from(self)))
    }
}

impl<T: SpanArrayElement, const N: usize> SpanValue for [T; N] {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::Array(T::array_from(self)))
    }
}

impl<T: SpanArrayElement> SpanValue for Vec<T> {
    fn to_span_value(&self) -> Option<Value> {
        Some(Value::Array(T::array_from(self)))
    }
}
