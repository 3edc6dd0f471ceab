//! OTLP/JSON log records shaped like Claude Code's, stamped now (so that what the relay reloads "from the last
//! minutes" includes them), and posting them to a test relay.

use serde_json::{json, Value};

use super::relay::TestRelay;

/// A string attribute.
pub fn kv(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// A `claude_code.<event>` record at `time_ns` with the run's `attributes` (Claude Code copies them onto every
/// record), `event.sequence`, and `extra`.
pub fn record(event: &str, time_ns: u128, sequence: u64, attributes: &[(&str, &str)], extra: &[(&str, &str)]) -> Value {
    let sequence = sequence.to_string();
    let mut all: Vec<Value> = attributes.iter().map(|(k, v)| kv(k, v)).collect();
    all.extend(
        [("event.name", event), ("event.sequence", sequence.as_str()), ("session.id", "s-1")].map(|(k, v)| kv(k, v)),
    );
    all.extend(extra.iter().map(|(k, v)| kv(k, v)));
    json!({ "timeUnixNano": time_ns.to_string(), "body": { "stringValue": format!("claude_code.{event}") }, "attributes": all })
}

/// An api_request record: `tokens` input tokens, a tenth of them output, cost from them.
pub fn api_request(time_ns: u128, sequence: u64, attributes: &[(&str, &str)], tokens: u64) -> Value {
    let (input, output, cost) = (tokens.to_string(), (tokens / 10).to_string(), format!("{}", tokens as f64 * 3e-6));
    let extra = [
        ("model", "claude-sonnet-4-5-20250929"),
        ("input_tokens", input.as_str()),
        ("output_tokens", output.as_str()),
        ("cost_usd", cost.as_str()),
    ];
    record("api_request", time_ns, sequence, attributes, &extra)
}

/// Posts `records` under one resource with `resource` attributes to /v1/logs; panics unless 2xx.
pub async fn send(relay: &TestRelay, resource: &[(&str, &str)], records: Vec<Value>) {
    let body = json!({ "resourceLogs": [{
        "resource": { "attributes": resource.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>() },
        "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }],
    }]});
    post_logs(&relay.http_url("/v1/logs"), &body).await;
}

/// Posts an OTLP/JSON logs request to `url`; panics unless 2xx.
pub async fn post_logs(url: &str, body: &Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}
