//! Workflow attributes for `OTEL_RESOURCE_ATTRIBUTES`: checked, percent-encoded as W3C Baggage values, and merged
//! with the entries the caller's environment already has (ours win over inherited entries of the same key).
//!
//! What Claude Code 2.1.331 does with the variable (seen on its exported resource and records): values are
//! percent-decoded (`wf%2F2%20plan` arrives as `wf/2 plan`); an entry whose value holds a raw `=`, an invalid
//! escape, or more than 255 characters is dropped; a raw space, non-ASCII character or `"` survives on the resource
//! but the entry is dropped from (or altered on) the records, which the relay reads first. So every value is encoded
//! here, everything but ASCII letters, digits and `-._` becoming `%XX` of its UTF-8 bytes, and inherited entries
//! must already be in that safe form.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest value (encoded) and key Claude Code keeps.
pub const MAX_LEN: usize = 255;

/// Bytes written as `%XX`: all but ASCII letters, digits and `-._` (RFC 3986 unreserved, minus `~`).
const VALUE_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// An attribute that cannot be passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// A key with characters other than ASCII letters, digits, `.`, `_` and `-`, or empty, or too long.
    #[error("attribute key {0:?} is not allowed: use 1 to 255 ASCII letters, digits, '.', '_' or '-'")]
    BadKey(String),
    /// An empty value (Claude Code would send an empty string; leave the flag out instead).
    #[error("attribute {0}: the value is empty (leave it out instead)")]
    EmptyValue(String),
    /// A value longer than Claude Code keeps once encoded.
    #[error("attribute {key}: the value is {len} characters once percent-encoded; Claude Code drops values over 255")]
    TooLong {
        /// The key.
        key: String,
        /// Its encoded length.
        len: usize,
    },
    /// The same key given twice among the flags.
    #[error("attribute {0} is given twice")]
    Duplicate(String),
    /// `--attr` without `=`.
    #[error("--attr {0:?}: expected KEY=VALUE")]
    NotAPair(String),
    /// An entry of the inherited OTEL_RESOURCE_ATTRIBUTES that Claude Code would drop or alter.
    #[error(
        "the OTEL_RESOURCE_ATTRIBUTES already in the environment has the entry {entry:?}: {why}; fix or unset it \
         (values must be percent-encoded, e.g. {suggestion:?})"
    )]
    Inherited {
        /// The entry as found.
        entry: String,
        /// What is wrong with it.
        why: &'static str,
        /// The entry as it should be written.
        suggestion: String,
    },
}

/// Workflow attributes, in the order given, with their values as they should arrive (decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    entries: Vec<(String, String)>,
}

impl Attributes {
    /// No attributes.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// Adds `key=value` after checking both; a key may be given once.
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), AttributeError> {
        check_key(key)?;
        if value.is_empty() {
            return Err(AttributeError::EmptyValue(key.to_string()));
        }
        let len = encode_value(value).len();
        if len > MAX_LEN {
            return Err(AttributeError::TooLong { key: key.to_string(), len });
        }
        if self.get(key).is_some() {
            return Err(AttributeError::Duplicate(key.to_string()));
        }
        self.entries.push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// Adds a `KEY=VALUE` string (the `--attr` flag); the value is taken literally (it is encoded here).
    pub fn push_pair(&mut self, pair: &str) -> Result<(), AttributeError> {
        let (key, value) = pair.split_once('=').ok_or_else(|| AttributeError::NotAPair(pair.to_string()))?;
        self.push(key, value)
    }

    /// The value of `key`, decoded.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `key=value,…` with every value percent-encoded.
    pub fn encode(&self) -> String {
        self.entries.iter().map(|(key, value)| format!("{key}={}", encode_value(value))).collect::<Vec<_>>().join(",")
    }

    /// The OTEL_RESOURCE_ATTRIBUTES to start a child with: the `inherited` entries whose keys are not ours, in their
    /// order and as written, then ours. Inherited entries Claude Code would drop or alter are an error.
    pub fn merge_with(&self, inherited: Option<&str>) -> Result<String, AttributeError> {
        let mut merged: Vec<String> = Vec::new();
        for entry in inherited.unwrap_or("").split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, _) = check_inherited(entry)?;
            if self.get(key).is_none() {
                merged.push(entry.to_string());
            }
        }
        if !self.is_empty() {
            merged.push(self.encode());
        }
        Ok(merged.join(","))
    }
}

/// A value in the form Claude Code decodes back to `value`.
pub fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, VALUE_ESCAPED).to_string()
}

fn check_key(key: &str) -> Result<(), AttributeError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if key.is_empty() || key.len() > MAX_LEN || !key.chars().all(allowed) {
        return Err(AttributeError::BadKey(key.to_string()));
    }
    Ok(())
}

/// Splits an inherited `key=value` entry, refusing what Claude Code would drop or alter.
fn check_inherited(entry: &str) -> Result<(&str, &str), AttributeError> {
    let fail =
        |why: &'static str, suggestion: String| AttributeError::Inherited { entry: entry.to_string(), why, suggestion };
    let Some((key, value)) = entry.split_once('=') else {
        return Err(fail("it is not KEY=VALUE", format!("{entry}=VALUE")));
    };
    let (key, value) = (key.trim(), value.trim());
    let suggestion = || format!("{key}={}", encode_value(&decode_leniently(value)));
    if check_key(key).is_err() {
        return Err(fail("its key is not 1 to 255 ASCII letters, digits, '.', '_' or '-'", suggestion()));
    }
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~!#$&'()*+/:<>?@[]^`{|}".contains(&b);
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() => {
                i += 3
            }
            b'%' => return Err(fail("a '%' in its value does not start a %XX escape", suggestion())),
            b if safe(b) => i += 1,
            _ => return Err(fail("its value has a character that must be percent-encoded", suggestion())),
        }
    }
    if percent_decode_str(value).decode_utf8().is_err() {
        return Err(fail("its value does not decode to UTF-8", suggestion()));
    }
    if value.len() > MAX_LEN {
        return Err(fail("its value is over 255 characters", suggestion()));
    }
    Ok((key, value))
}

/// `value` decoded where it holds valid escapes, else as written (only for suggestions).
fn decode_leniently(value: &str) -> String {
    percent_decode_str(value).decode_utf8().map(|v| v.into_owned()).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> Attributes {
        let mut attributes = Attributes::new();
        for (key, value) in pairs {
            attributes.push(key, value).unwrap();
        }
        attributes
    }

    #[test]
    fn values_are_percent_encoded_and_decode_back() {
        let values = ["wf/2 plan", "a,b;c", "k=v", "100%", "café ☕", "\"quoted\" \\ back", "tilde~+plus", "-._"];
        for value in values {
            let encoded = encode_value(value);
            assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._%".contains(&b)), "{encoded}");
            assert_eq!(percent_decode_str(&encoded).decode_utf8().unwrap(), value, "{encoded}");
        }
        assert_eq!(encode_value("wf/2 plan"), "wf%2F2%20plan");
        assert_eq!(encode_value(".claude-4nq.1-analyze"), ".claude-4nq.1-analyze", "safe values stay readable");
    }

    #[test]
    fn keys_empty_values_long_values_and_duplicates_are_refused() {
        let mut a = Attributes::new();
        for key in ["", "has space", "k=v", "k,v", "ключ", "k%2F", &"k".repeat(256)] {
            assert_eq!(a.push(key, "v"), Err(AttributeError::BadKey(key.to_string())), "{key:?}");
        }
        assert_eq!(a.push("stage", ""), Err(AttributeError::EmptyValue("stage".into())));
        // 255 encoded characters pass, 256 do not; a non-ASCII character counts as its encoded length.
        a.push("long", &"x".repeat(255)).unwrap();
        assert_eq!(a.push("longer", &"x".repeat(256)), Err(AttributeError::TooLong { key: "longer".into(), len: 256 }));
        assert_eq!(
            a.push("accents", &"é".repeat(43)),
            Err(AttributeError::TooLong { key: "accents".into(), len: 258 })
        );
        a.push("stage", "plan").unwrap();
        assert_eq!(a.push("stage", "review"), Err(AttributeError::Duplicate("stage".into())));
        assert_eq!(a.push_pair("novalue"), Err(AttributeError::NotAPair("novalue".into())));
        a.push_pair("team=a=b").unwrap();
        assert_eq!(a.get("team"), Some("a=b"), "--attr splits at the first '='");
    }

    #[test]
    fn ours_win_over_inherited_keys_and_the_rest_is_kept_as_written() {
        let ours = attributes(&[("workflow_id", "wf 1"), ("stage", "plan")]);
        let merged = ours.merge_with(Some("service.name=x, stage=analyze,team=a%2Cb,,")).unwrap();
        assert_eq!(merged, "service.name=x,team=a%2Cb,workflow_id=wf%201,stage=plan");
        assert_eq!(ours.merge_with(None).unwrap(), "workflow_id=wf%201,stage=plan");
        assert_eq!(Attributes::new().merge_with(Some("a=1")).unwrap(), "a=1");
        assert_eq!(Attributes::new().merge_with(Some("")).unwrap(), "");
    }

    #[test]
    fn inherited_entries_claude_code_would_drop_are_refused_with_their_encoded_form() {
        let ours = Attributes::new();
        for (entry, suggestion) in [
            ("team=a b", "team=a%20b"),
            ("team=x=y", "team=x%3Dy"),
            ("team=café", "team=caf%C3%A9"),
            ("team=100%", "team=100%25"),
            ("team=\"q\"", "team=%22q%22"),
            ("k%2Fx=1", "k%2Fx=1"),
        ] {
            match ours.merge_with(Some(&format!("a=1,{entry}"))) {
                Err(AttributeError::Inherited { entry: found, suggestion: got, .. }) => {
                    assert_eq!((found.as_str(), got.as_str()), (entry, suggestion))
                }
                other => panic!("{entry:?}: {other:?}"),
            }
        }
        assert!(ours.merge_with(Some("novalue")).is_err());
        // An entry we replace is still checked: a broken environment is reported, not silently repaired.
        assert!(attributes(&[("team", "t")]).merge_with(Some("team=a b")).is_err());
    }
}
