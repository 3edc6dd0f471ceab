//! Claude Code api_request events made to order: the real record of tests/fixtures (analyze-plain, OTLP/HTTP
//! JSON, every attribute in the CLI's own types) with its time, workflow attributes, model, tokens and cost
//! replaced, posted with [`super::otlp_json::send`]. For tests that need events at chosen times and figures
//! (otlp_json's own records are stamped now, with string values).

use serde_json::{json, Value};

/// One api_request event. Empty workflow strings are left out, as Claude Code leaves out unset attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiRequest {
    /// Event time, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// `workflow_id`.
    pub workflow_id: String,
    /// `workflow_path`.
    pub workflow_path: String,
    /// `stage`.
    pub stage: String,
    /// `task_id`.
    pub task_id: String,
    /// `model`.
    pub model: String,
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// `cache_read_tokens`.
    pub cache_read_tokens: u64,
    /// `cache_creation_tokens`.
    pub cache_creation_tokens: u64,
    /// `cost_usd`.
    pub cost_usd: f64,
    /// `duration_ms`.
    pub duration_ms: u64,
}

const WORKFLOW_KEYS: [&str; 7] =
    ["workflow_id", "workflow_path", "complexity", "stage", "task_id", "agent", "model_expected"];

/// The resource Claude Code 2.1.331 sends (without the workflow attributes, which the records carry).
const RESOURCE: [(&str, &str); 2] = [("service.name", "claude-code"), ("service.version", "2.1.331")];

fn template() -> Value {
    let bytes = super::fixtures::fixture("analyze-plain", "logs-1.json").expect("analyze-plain/logs-1.json");
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    body["resourceLogs"][0]["scopeLogs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|scope| scope["logRecords"].as_array().unwrap())
        .find(|record| record["body"]["stringValue"] == "claude_code.api_request")
        .expect("an api_request record")
        .clone()
}

fn rfc3339(nanos: i64) -> String {
    let text = tokenledger::ledger::human::clickhouse_time(nanos);
    format!("{}Z", text.replacen(' ', "T", 1))
}

/// The log records of `events` (sequence numbers from `first_sequence`, so batches sent separately never repeat
/// a record).
pub fn records(events: &[ApiRequest], first_sequence: u64) -> Vec<Value> {
    let template = template();
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut record = template.clone();
            record["timeUnixNano"] = json!(event.timestamp_ns.to_string());
            record["observedTimeUnixNano"] = json!(event.timestamp_ns.to_string());
            let attributes = record["attributes"].as_array_mut().unwrap();
            attributes.retain(|a| !WORKFLOW_KEYS.contains(&a["key"].as_str().unwrap()));
            for (key, value) in [
                ("workflow_id", &event.workflow_id),
                ("workflow_path", &event.workflow_path),
                ("stage", &event.stage),
                ("task_id", &event.task_id),
            ] {
                if !value.is_empty() {
                    attributes.push(json!({"key": key, "value": {"stringValue": value}}));
                }
            }
            for attribute in attributes.iter_mut() {
                let value = match attribute["key"].as_str().unwrap() {
                    "model" => json!({"stringValue": event.model}),
                    "event.timestamp" => json!({"stringValue": rfc3339(event.timestamp_ns)}),
                    "event.sequence" => json!({"intValue": first_sequence + i as u64}),
                    "input_tokens" => json!({"intValue": event.input_tokens}),
                    "output_tokens" => json!({"intValue": event.output_tokens}),
                    "cache_read_tokens" => json!({"intValue": event.cache_read_tokens}),
                    "cache_creation_tokens" => json!({"intValue": event.cache_creation_tokens}),
                    "cost_usd" => json!({"doubleValue": event.cost_usd}),
                    "cost_usd_micros" => json!({"intValue": (event.cost_usd * 1e6).round() as u64}),
                    "duration_ms" => json!({"intValue": event.duration_ms}),
                    _ => continue,
                };
                attribute["value"] = value;
            }
            record
        })
        .collect()
}

/// Sends `events` through a relay into `db` (schema applied by the caller) and stops the relay.
pub async fn send(db: &super::clickhouse::TestDb, events: &[ApiRequest], first_sequence: u64) {
    let relay = super::relay::start(db.config()).await;
    super::otlp_json::send(&relay, &RESOURCE, records(events, first_sequence)).await;
    relay.shutdown().await;
}
