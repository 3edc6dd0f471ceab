//! Bounds on what one record can carry: how long a string may be, which token counts, costs and durations are
//! plausible for one request, and which event times are accepted. A record past a bound is treated like one with
//! an unreadable value: kept in `otel_events` (over-long values cut short there), left out of its typed table,
//! counted in `partial_success`, so it never reaches a cost figure or a /metrics label.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use super::attrs::to_text;

/// Longest value of a workflow attribute (workflow_id, workflow_path, complexity, stage, task_id, agent,
/// model_expected, agent.name, workflow.run_id) and of `model`: these become columns and /metrics labels. Event
/// names and the agent ids of the subagent directory are held to it too.
pub const MAX_WORKFLOW_VALUE_BYTES: usize = 256;
/// Longest value of any other attribute (tool details included).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most tokens of one kind one request can carry: ten times the largest context window.
pub const MAX_TOKENS: u64 = 10_000_000;
/// Most one request can cost, in USD: MAX_TOKENS at well above any model's price per million.
pub const MAX_COST_USD: f64 = 1_000.0;
/// Longest duration of one request or tool run: a day.
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// The attributes held to [`MAX_WORKFLOW_VALUE_BYTES`].
const WORKFLOW_KEYS: [&str; 10] = [
    "workflow_id",
    "workflow_path",
    "complexity",
    "stage",
    "task_id",
    "agent",
    "model_expected",
    "agent.name",
    "workflow.run_id",
    // A label of the cost and token series on /metrics.
    "model",
];

/// When a request was received, and which event times are accepted with it (nanoseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Now: the time of a record that carries none.
    pub now_ns: i64,
    /// Oldest event time accepted.
    pub oldest_ns: i64,
    /// Newest event time accepted.
    pub newest_ns: i64,
}

impl Clock {
    /// Accepts events from `max_age` before `now_ns` to `max_lead` after it (a sender's clock may run ahead).
    pub fn around(now_ns: i64, max_age: std::time::Duration, max_lead: std::time::Duration) -> Clock {
        let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Clock {
            now_ns,
            oldest_ns: now_ns.saturating_sub(nanos(max_age)),
            newest_ns: now_ns.saturating_add(nanos(max_lead)),
        }
    }

    /// Accepts any event time: for replaying captured payloads (tests, benchmarks).
    pub fn any_time(now_ns: i64) -> Clock {
        Clock { now_ns, oldest_ns: i64::MIN, newest_ns: i64::MAX }
    }

    /// Err when a record's own time (`sent_ns`, OTLP's unsigned nanoseconds; 0 is unset) is past what an event
    /// time can be (the year 2262): such a time is ahead of any window, not a missing one.
    pub fn check_sent(&self, sent_ns: u64) -> Result<(), String> {
        match i64::try_from(sent_ns) {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("event time {sent_ns} ns is past the year 2262")),
        }
    }

    /// Err with the reason when `timestamp_ns` is outside the accepted window.
    pub fn check(&self, timestamp_ns: i64) -> Result<(), String> {
        if (self.oldest_ns..=self.newest_ns).contains(&timestamp_ns) {
            return Ok(());
        }
        let side = if timestamp_ns < self.oldest_ns {
            "older than limits.max_event_age_hours"
        } else {
            "ahead of the relay's clock by more than limits.max_event_lead_secs"
        };
        let (seconds, nanos) = (timestamp_ns.div_euclid(1_000_000_000), timestamp_ns.rem_euclid(1_000_000_000));
        Err(format!("event time {seconds}.{nanos:09} (Unix seconds) is {side}"))
    }
}

/// The bound of an attribute's value, by key.
fn max_bytes(key: &str) -> usize {
    if WORKFLOW_KEYS.contains(&key) {
        MAX_WORKFLOW_VALUE_BYTES
    } else {
        MAX_VALUE_BYTES
    }
}

/// Cuts every over-long value short, in place (a prefix and a note of the full length), and says which were.
pub fn cut_over_long(attributes: &mut [KeyValue]) -> Vec<String> {
    let mut problems = Vec::new();
    for kv in attributes.iter_mut() {
        let limit = max_bytes(&kv.key);
        let Some(value) = kv.value.as_mut() else { continue };
        let length = value_len(value);
        if length > limit {
            *value = AnyValue { value: Some(Value::StringValue(cut_text(&to_text(value), limit))) };
            problems.push(format!("attribute {} is {length} bytes, over the {limit}-byte limit", kv.key));
        }
    }
    problems
}

/// `text` cut to a prefix and a note of its full length, the two within `limit` bytes (on a char boundary).
pub fn cut_text(text: &str, limit: usize) -> String {
    let note = format!("…[cut from {} bytes]", text.len());
    let mut cut = limit.saturating_sub(note.len()).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", &text[..cut])
}

/// The first over-long value, without changing anything (for rows that are refused whole, like metric points).
pub fn first_over_long(attributes: &[KeyValue]) -> Option<String> {
    attributes.iter().find_map(|kv| {
        let limit = max_bytes(&kv.key);
        let length = kv.value.as_ref().map(value_len)?;
        (length > limit).then(|| format!("attribute {} is {length} bytes, over the {limit}-byte limit", kv.key))
    })
}

/// A value's size as text, without rendering strings and bytes.
fn value_len(value: &AnyValue) -> usize {
    match &value.value {
        Some(Value::StringValue(s)) => s.len(),
        Some(Value::BytesValue(b)) => b.len() * 2,
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => to_text(value).len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }) }
    }

    #[test]
    fn workflow_values_are_held_to_their_shorter_bound_and_cut_on_a_char_boundary() {
        let long_id = "é".repeat(200); // 400 bytes
        let mut attributes =
            vec![kv("workflow_id", &long_id), kv("tool_input", &"x".repeat(1000)), kv("stage", "plan")];
        let problems = cut_over_long(&mut attributes);
        assert_eq!(problems, ["attribute workflow_id is 400 bytes, over the 256-byte limit"]);
        let cut = to_text(attributes[0].value.as_ref().unwrap());
        assert!(cut.starts_with(&"é".repeat(100)) && cut.ends_with("…[cut from 400 bytes]"), "{cut}");
        assert!(cut.len() <= MAX_WORKFLOW_VALUE_BYTES, "{} bytes", cut.len());
        assert_eq!(to_text(attributes[1].value.as_ref().unwrap()).len(), 1000, "under its own bound");
        assert_eq!(first_over_long(&attributes), None, "nothing over once cut (the note is not counted again)");
    }

    #[test]
    fn the_clock_accepts_a_window_around_now() {
        let hour = std::time::Duration::from_secs(3600);
        let clock = Clock::around(10 * 3_600_000_000_000, hour * 2, hour);
        assert!(clock.check(9 * 3_600_000_000_000).is_ok());
        assert!(clock.check(7 * 3_600_000_000_000).unwrap_err().contains("older than"));
        assert!(clock.check(12 * 3_600_000_000_000).unwrap_err().contains("ahead of"));
        assert!(Clock::any_time(0).check(i64::MIN).is_ok());
    }
}
