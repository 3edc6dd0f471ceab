//! Content hashes of records (the `event_key` column), stable across processes and releases of the relay.
//!
//! A redelivered OTLP record must hash to the same key wherever and whenever it is received, so the hash is a
//! fixed algorithm (XXH3-64) over a fixed encoding of the values, never `std::hash` (randomly seeded).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed, Xxh3};

/// Feeds values into XXH3-64 with their lengths and kinds, so different sequences never collide by concatenation.
pub struct Hasher(Xxh3);

impl Hasher {
    /// A hasher with the fixed default seed.
    pub fn new() -> Hasher {
        Hasher(Xxh3::new())
    }

    /// Adds a number.
    pub fn u64(&mut self, n: u64) {
        self.0.update(&n.to_le_bytes());
    }

    /// Adds a string, prefixed by its length.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.update(b);
    }

    /// Adds an attribute value, tagged by its kind.
    pub fn value(&mut self, value: &AnyValue) {
        match &value.value {
            None => self.u64(0),
            Some(Value::StringValue(s)) => {
                self.u64(1);
                self.str(s);
            }
            Some(Value::BoolValue(b)) => {
                self.u64(2);
                self.u64(*b as u64);
            }
            Some(Value::IntValue(i)) => {
                self.u64(3);
                self.u64(*i as u64);
            }
            Some(Value::DoubleValue(d)) => {
                self.u64(4);
                self.u64(d.to_bits());
            }
            Some(Value::ArrayValue(array)) => {
                self.u64(5);
                self.u64(array.values.len() as u64);
                array.values.iter().for_each(|v| self.value(v));
            }
            Some(Value::KvlistValue(list)) => {
                self.u64(6);
                self.u64(list.values.len() as u64);
                for kv in &list.values {
                    self.key_value(kv);
                }
            }
            Some(Value::BytesValue(b)) => {
                self.u64(7);
                self.bytes(b);
            }
        }
    }

    fn key_value(&mut self, kv: &KeyValue) {
        self.str(&kv.key);
        match &kv.value {
            Some(v) => self.value(v),
            None => self.u64(0),
        }
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0.digest()
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

/// Adds a set of attributes and returns the hasher. Order does not matter: a collector's json_parser emits a
/// re-read line's attributes in another order, and it is still the same record. Each attribute is hashed on its
/// own and the hashes are summed (a sum, not a xor, so a repeated attribute does not cancel itself).
pub fn hash_attributes(mut hasher: Hasher, attributes: &[KeyValue]) -> Hasher {
    let sum = attributes.iter().fold(0u64, |sum, kv| sum.wrapping_add(attribute_hash(kv)));
    hasher.u64(attributes.len() as u64);
    hasher.u64(sum);
    hasher
}

/// One attribute's hash: its value's bytes seeded by its key and kind. One-shot XXH3 calls, because this runs
/// for every attribute of every record and a streaming state costs more to set up than the data it hashes.
fn attribute_hash(kv: &KeyValue) -> u64 {
    let key = xxh3_64(kv.key.as_bytes());
    let seeded = |kind: u64, bytes: &[u8]| xxh3_64_with_seed(bytes, key ^ kind);
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        None => seeded(0, &[]),
        Some(Value::StringValue(s)) => seeded(1, s.as_bytes()),
        Some(Value::BoolValue(b)) => seeded(2, &[*b as u8]),
        Some(Value::IntValue(i)) => seeded(3, &i.to_le_bytes()),
        Some(Value::DoubleValue(d)) => seeded(4, &d.to_bits().to_le_bytes()),
        Some(Value::BytesValue(b)) => seeded(7, b),
        Some(nested) => {
            let mut hasher = Hasher::new();
            hasher.value(&AnyValue { value: Some(nested.clone()) });
            key ^ hasher.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AnyValue {
        AnyValue { value: Some(Value::StringValue(v.into())) }
    }

    #[test]
    fn concatenation_does_not_collide() {
        let mut a = Hasher::new();
        a.str("ab");
        a.str("c");
        let mut b = Hasher::new();
        b.str("a");
        b.str("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn attribute_order_does_not_matter_but_values_do() {
        let kv = |k: &str, v: &str| KeyValue { key: k.into(), value: Some(s(v)) };
        let a = hash_attributes(Hasher::new(), &[kv("a", "1"), kv("b", "2")]).finish();
        let b = hash_attributes(Hasher::new(), &[kv("b", "2"), kv("a", "1")]).finish();
        let c = hash_attributes(Hasher::new(), &[kv("a", "2"), kv("b", "1")]).finish();
        let d = hash_attributes(Hasher::new(), &[kv("a", "1"), kv("a", "1")]).finish();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(d, hash_attributes(Hasher::new(), &[]).finish(), "a repeated attribute does not cancel out");
    }

    #[test]
    fn kinds_are_told_apart_and_hashes_are_stable() {
        let mut a = Hasher::new();
        a.value(&s("1"));
        let mut b = Hasher::new();
        b.value(&AnyValue { value: Some(Value::IntValue(1)) });
        assert_ne!(a.finish(), b.finish());
        // Pinned so that a change of algorithm or encoding (which would break dedup across a relay upgrade) is
        // noticed: a string is its little-endian u64 length, then its bytes, through XXH3-64 with seed 0.
        let mut c = Hasher::new();
        c.str("claude_code.api_request");
        let encoded = [&23u64.to_le_bytes()[..], b"claude_code.api_request"].concat();
        assert_eq!(c.finish(), xxhash_rust::xxh3::xxh3_64(&encoded));
        assert_eq!(c.finish(), PINNED);
    }

    const PINNED: u64 = 16_320_347_119_971_879_616;
}
