//! OTLP/JSON builders for the bad-input table: attribute values of every shape, Claude Code's records (stamped an
//! hour ago, inside the relay's event-time window), and their protobuf twins.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use serde_json::{json, Value};

pub const HOUR_NS: i64 = 3_600_000_000_000;

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// The time of the good records: an hour ago (fixed once per test binary).
pub fn base_ns() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| now_ns() - HOUR_NS)
}

pub fn s(v: &str) -> Value {
    json!({ "stringValue": v })
}

pub fn i(v: i64) -> Value {
    json!({ "intValue": v })
}

pub fn d(v: f64) -> Value {
    json!({ "doubleValue": v })
}

pub fn b(v: bool) -> Value {
    json!({ "boolValue": v })
}

/// A bytesValue of `len` bytes (base64 in OTLP/JSON).
pub fn bytes(len: usize) -> Value {
    // Base64 of `len` zero bytes: "AAAA" per 3 bytes, padded.
    let mut text = "AAAA".repeat(len / 3);
    match len % 3 {
        1 => text.push_str("AA=="),
        2 => text.push_str("AAA="),
        _ => {}
    }
    json!({ "bytesValue": text })
}

pub fn array(values: Vec<Value>) -> Value {
    json!({ "arrayValue": { "values": values } })
}

pub fn kvlist(pairs: Vec<Value>) -> Value {
    json!({ "kvlistValue": { "values": pairs } })
}

/// A kvlist nested `depth` levels deep.
pub fn deep_kvlist(depth: usize) -> Value {
    (0..depth).fold(s("bottom"), |inner, _| kvlist(vec![kv("k", inner)]))
}

pub fn kv(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

/// A well-formed api_request record of `workflow`, shaped like Claude Code's.
pub fn api_request(workflow: &str, seq: i64) -> Value {
    json!({
        "timeUnixNano": (base_ns() + seq).to_string(),
        "body": s("claude_code.api_request"),
        "attributes": [
            kv("workflow_id", s(workflow)), kv("stage", s("implement")), kv("agent", s("implementer")),
            kv("session.id", s("sess")), kv("event.name", s("api_request")), kv("event.sequence", i(seq)),
            kv("model", s("claude-sonnet-4-5-20250929")), kv("input_tokens", i(1200)), kv("output_tokens", i(40)),
            kv("cache_read_tokens", i(5000)), kv("cache_creation_tokens", i(300)),
            kv("cost_usd", d(0.006825)), kv("duration_ms", i(22)),
        ],
    })
}

/// `record` with attribute `key` replaced (or removed when `value` is None), appended last.
pub fn with(mut record: Value, key: &str, value: Option<Value>) -> Value {
    let attributes = record["attributes"].as_array_mut().unwrap();
    attributes.retain(|a| a["key"] != key);
    if let Some(value) = value {
        attributes.push(kv(key, value));
    }
    record
}

/// `record` with `attribute` appended as is (a second value of a key, a malformed element).
pub fn push(mut record: Value, attribute: Value) -> Value {
    record["attributes"].as_array_mut().unwrap().push(attribute);
    record
}

/// `record` with attribute `key` first in the list (so a later one of the same key is the duplicate).
pub fn first(mut record: Value, key: &str, value: Value) -> Value {
    record["attributes"].as_array_mut().unwrap().insert(0, kv(key, value));
    record
}

/// An api_request with attribute `key` set to `value`.
pub fn api_with(workflow: &str, key: &str, value: Value) -> Value {
    with(api_request(workflow, 2), key, Some(value))
}

/// `record` with its time set (`timeUnixNano` as OTLP/JSON's string).
pub fn at(mut record: Value, time_ns: impl ToString) -> Value {
    record["timeUnixNano"] = json!(time_ns.to_string());
    record
}

/// Another Claude Code event of `workflow` with its usual attributes (string-typed, as Claude Code sends them).
pub fn event(workflow: &str, name: &str, attributes: &[(&str, Value)]) -> Value {
    let mut all = vec![kv("workflow_id", s(workflow)), kv("event.sequence", i(2)), kv("session.id", s("sess"))];
    all.extend(attributes.iter().map(|(k, v)| kv(k, v.clone())));
    json!({ "timeUnixNano": (base_ns() + 2).to_string(), "body": s(&format!("claude_code.{name}")), "attributes": all })
}

/// A tool_result of `workflow` with `key` set to `value`.
pub fn tool_result(workflow: &str, key: &str, value: Value) -> Value {
    let base =
        event(workflow, "tool_result", &[("tool_name", s("Bash")), ("success", s("true")), ("duration_ms", s("23"))]);
    with(base, key, Some(value))
}

/// A subagent_completed of `workflow` with `key` set to `value`.
pub fn subagent_completed(workflow: &str, key: &str, value: Value) -> Value {
    let base = event(
        workflow,
        "subagent_completed",
        &[("agent_type", s("reviewer")), ("is_async", s("false")), ("total_tokens", i(900)), ("duration_ms", i(50))],
    );
    with(base, key, Some(value))
}

/// An api_error of `workflow` with `key` set to `value`.
pub fn api_error(workflow: &str, key: &str, value: Value) -> Value {
    let base = event(workflow, "api_error", &[("model", s("m")), ("error", s("overloaded")), ("attempt", i(1))]);
    with(base, key, Some(value))
}

/// The resource Claude Code sends.
pub fn resource() -> Vec<Value> {
    vec![kv("service.name", s("claude-code")), kv("service.version", s("2.1.331"))]
}

/// One resourceLogs group holding `records`.
pub fn log_group(resource: Vec<Value>, records: Vec<Value>) -> Value {
    json!({
        "resource": { "attributes": resource },
        "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }],
    })
}

pub fn logs_request(groups: Vec<Value>) -> Value {
    json!({ "resourceLogs": groups })
}

/// A number data point of `workflow`.
pub fn point(workflow: &str, seq: i64, value: Value) -> Value {
    let mut p = json!({
        "attributes": [kv("workflow_id", s(workflow)), kv("type", s("input")), kv("model", s("claude-sonnet-4-5"))],
        "startTimeUnixNano": (base_ns() - 60_000_000_000).to_string(),
        "timeUnixNano": (base_ns() + seq).to_string(),
    });
    if let Value::Object(value) = value {
        p.as_object_mut().unwrap().extend(value);
    }
    p
}

/// A DELTA Sum metric (Claude Code's counters) of `points`.
pub fn sum(name: &str, points: Vec<Value>) -> Value {
    json!({ "name": name, "unit": "tokens", "sum": { "aggregationTemporality": 1, "isMonotonic": true, "dataPoints": points } })
}

/// A good token.usage point of `workflow`.
pub fn good_metric(workflow: &str, seq: i64) -> Value {
    sum("claude_code.token.usage", vec![point(workflow, seq, json!({ "asDouble": 1200.0 + seq as f64 }))])
}

/// One resourceMetrics group holding `metrics`.
pub fn metric_group(resource: Vec<Value>, metrics: Vec<Value>) -> Value {
    json!({ "resource": { "attributes": resource }, "scopeMetrics": [{ "scope": { "name": "claude_code" }, "metrics": metrics }] })
}

pub fn metrics_request(groups: Vec<Value>) -> Value {
    json!({ "resourceMetrics": groups })
}

/// The protobuf twin of an OTLP/JSON logs request.
pub fn logs_proto(request: &Value) -> ExportLogsServiceRequest {
    serde_json::from_value(request.clone()).unwrap_or_else(|e| panic!("{e}: {request}"))
}

/// The protobuf twin of an OTLP/JSON metrics request.
pub fn metrics_proto(request: &Value) -> ExportMetricsServiceRequest {
    serde_json::from_value(request.clone()).unwrap_or_else(|e| panic!("{e}: {request}"))
}

/// `body` with the first occurrence of `marker` overwritten by `with` (same length).
pub fn patch(mut body: Vec<u8>, marker: &[u8], with: &[u8]) -> Vec<u8> {
    assert_eq!(marker.len(), with.len());
    let at = body.windows(marker.len()).position(|w| w == marker).expect("marker in the body");
    body[at..at + with.len()].copy_from_slice(with);
    body
}
