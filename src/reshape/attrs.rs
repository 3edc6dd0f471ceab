//! Reading OTLP attribute values into the types of our columns, whatever shape the sender chose.
//!
//! Claude Code is not consistent: tokens arrive as intValue, tool_result's duration_ms as the string "23", older
//! builds send every value as a string, and the collector's json_parser turns JSON numbers into doubles. Each
//! reader accepts all of these and says when a value cannot be read, so nothing unreadable silently becomes 0.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use super::limits;

/// A value that is present but cannot be read as the type its column needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("attribute {key}: cannot read {found} as {wanted}")]
pub struct Unreadable {
    /// The attribute key.
    pub key: String,
    /// The column type that was wanted.
    pub wanted: &'static str,
    /// The value as received, rendered as text.
    pub found: String,
}

/// Reads attribute values for one record, remembering which present values could not be read.
#[derive(Debug, Default)]
pub struct Reader {
    /// Values that were present but unreadable, in the order met.
    pub unreadable: Vec<Unreadable>,
}

impl Reader {
    /// A string column: strings as they are; numbers and booleans as their text.
    pub fn string(&mut self, value: Option<&AnyValue>) -> String {
        value.map(to_text).unwrap_or_default()
    }

    /// A UInt64 column: non-negative integers, integral doubles, or their text. Absent is 0.
    pub fn u64(&mut self, key: &str, value: Option<&AnyValue>) -> u64 {
        self.read(key, value, "UInt64", as_u64)
    }

    /// A Float64 column: any finite number, or its text. Absent is 0.
    pub fn f64(&mut self, key: &str, value: Option<&AnyValue>) -> f64 {
        self.read(key, value, "Float64", as_f64)
    }

    /// A token count: as [`Reader::u64`], at most [`limits::MAX_TOKENS`].
    pub fn tokens(&mut self, key: &str, value: Option<&AnyValue>) -> u64 {
        self.read(key, value, "a token count up to 10000000", |v| as_u64(v).filter(|n| *n <= limits::MAX_TOKENS))
    }

    /// A cost in USD: a finite number from 0 to [`limits::MAX_COST_USD`].
    pub fn cost_usd(&mut self, key: &str, value: Option<&AnyValue>) -> f64 {
        self.read(key, value, "a cost from 0 to 1000 USD", |v| {
            as_f64(v).filter(|c| (0.0..=limits::MAX_COST_USD).contains(c))
        })
    }

    /// A cost in millionths of a USD: as [`Reader::u64`], at most [`limits::MAX_COST_USD`] × 10^6.
    pub fn cost_usd_micros(&mut self, key: &str, value: Option<&AnyValue>) -> u64 {
        self.read(key, value, "a cost from 0 to 1000000000 micro-USD", |v| {
            as_u64(v).filter(|n| *n as f64 <= limits::MAX_COST_USD * 1e6)
        })
    }

    /// A duration in milliseconds: as [`Reader::u64`], at most [`limits::MAX_DURATION_MS`].
    pub fn duration_ms(&mut self, key: &str, value: Option<&AnyValue>) -> u64 {
        self.read(key, value, "a duration up to 86400000 ms", |v| as_u64(v).filter(|n| *n <= limits::MAX_DURATION_MS))
    }

    /// A Bool column: booleans, "true"/"false", 1/0. Absent is false.
    pub fn bool(&mut self, key: &str, value: Option<&AnyValue>) -> bool {
        self.read(key, value, "Bool", as_bool)
    }

    fn read<T: Default>(
        &mut self,
        key: &str,
        value: Option<&AnyValue>,
        wanted: &'static str,
        parse: fn(&Value) -> Option<T>,
    ) -> T {
        let Some(value) = value else {
            return T::default();
        };
        match value.value.as_ref().and_then(parse) {
            Some(parsed) => parsed,
            None => {
                self.unreadable.push(Unreadable { key: key.to_string(), wanted, found: to_text(value) });
                T::default()
            }
        }
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::IntValue(i) => u64::try_from(*i).ok(),
        Value::DoubleValue(d) => integral_f64_to_u64(*d),
        Value::StringValue(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().and_then(integral_f64_to_u64))
        }
        _ => None,
    }
}

fn integral_f64_to_u64(d: f64) -> Option<u64> {
    // 2^64 as f64; anything at or above it does not fit.
    (d.is_finite() && d >= 0.0 && d.fract() == 0.0 && d < 18_446_744_073_709_551_616.0).then_some(d as u64)
}

fn as_f64(value: &Value) -> Option<f64> {
    let d = match value {
        Value::DoubleValue(d) => *d,
        Value::IntValue(i) => *i as f64,
        Value::StringValue(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    d.is_finite().then_some(d)
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) => match s.trim() {
            "true" | "True" | "TRUE" | "1" => Some(true),
            "false" | "False" | "FALSE" | "0" => Some(false),
            _ => None,
        },
        Value::IntValue(0) => Some(false),
        Value::IntValue(1) => Some(true),
        _ => None,
    }
}

/// Any value as text: strings unchanged, scalars printed, arrays and maps as JSON, bytes as hex.
pub fn to_text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => {
            let mut out = String::new();
            write_value(&mut out, other, false);
            out
        }
        None => String::new(),
    }
}

fn write_value(out: &mut String, value: &Value, quoted: bool) {
    match value {
        Value::StringValue(s) if quoted => {
            out.push_str(&serde_json::Value::String(s.clone()).to_string());
        }
        Value::StringValue(s) => out.push_str(s),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        Value::DoubleValue(d) => {
            let _ = write!(out, "{d}");
        }
        Value::BytesValue(bytes) => {
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
        }
        Value::ArrayValue(array) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match &item.value {
                    Some(v) => write_value(out, v, true),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        Value::KvlistValue(list) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(kv.key.clone()).to_string());
                out.push(':');
                match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(v) => write_value(out, v, true),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

/// A string attribute's value, if the list has the key with a string value.
pub fn find_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn numbers_arrive_in_every_shape() {
        let mut r = Reader::default();
        assert_eq!(r.u64("k", Some(&v(Value::IntValue(1200)))), 1200);
        assert_eq!(r.u64("k", Some(&v(Value::StringValue("23".into())))), 23);
        assert_eq!(r.u64("k", Some(&v(Value::DoubleValue(5000.0)))), 5000);
        assert_eq!(r.u64("k", Some(&v(Value::StringValue(" 7.0 ".into())))), 7);
        assert_eq!(r.f64("k", Some(&v(Value::StringValue("0.007125".into())))), 0.007125);
        assert_eq!(r.f64("k", Some(&v(Value::IntValue(2)))), 2.0);
        assert!(r.bool("k", Some(&v(Value::StringValue("true".into())))));
        assert!(!r.bool("k", Some(&v(Value::BoolValue(false)))));
        assert_eq!(r.u64("absent", None), 0);
        assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
    }

    #[test]
    fn unreadable_values_are_reported_not_zeroed_silently() {
        let mut r = Reader::default();
        assert_eq!(r.u64("input_tokens", Some(&v(Value::IntValue(-5)))), 0);
        assert_eq!(r.u64("output_tokens", Some(&v(Value::DoubleValue(1.5)))), 0);
        assert_eq!(r.f64("cost_usd", Some(&v(Value::StringValue("abc".into())))), 0.0);
        assert_eq!(r.f64("cost_usd", Some(&AnyValue { value: None })), 0.0);
        assert!(!r.bool("success", Some(&v(Value::StringValue("maybe".into())))));
        let keys: Vec<_> = r.unreadable.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["input_tokens", "output_tokens", "cost_usd", "cost_usd", "success"]);
    }

    #[test]
    fn structured_values_render_as_json() {
        let array = v(Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vec![v(Value::StringValue("a\"b".into())), v(Value::IntValue(3))],
        }));
        assert_eq!(to_text(&array), r#"["a\"b",3]"#);
        assert_eq!(to_text(&v(Value::BytesValue(vec![0xde, 0xad]))), "dead");
    }
}
