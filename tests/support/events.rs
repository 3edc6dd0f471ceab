//! Claude Code api_request events made to order: the real record of tests/fixtures (analyze-plain, OTLP/HTTP
//! JSON) with its time, workflow attributes, model, tokens and cost replaced, sent through a relay like the CLI
//! sends them. For tests that need events at chosen times or with chosen figures.

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

fn template() -> (Value, Value) {
    let bytes = super::fixtures::fixture("analyze-plain", "logs-1.json").expect("analyze-plain/logs-1.json");
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let resource_logs = &body["resourceLogs"][0];
    let mut resource = resource_logs["resource"].clone();
    resource["attributes"].as_array_mut().unwrap().retain(|a| !WORKFLOW_KEYS.contains(&a["key"].as_str().unwrap()));
    let record = resource_logs["scopeLogs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|scope| scope["logRecords"].as_array().unwrap())
        .find(|record| record["body"]["stringValue"] == "claude_code.api_request")
        .expect("an api_request record")
        .clone();
    (resource, record)
}

fn rfc3339(nanos: i64) -> String {
    let text = tokenledger::ledger::human::clickhouse_time(nanos);
    format!("{}Z", text.replacen(' ', "T", 1))
}

/// The OTLP/HTTP JSON body of a logs export holding `events` (sequence numbers from `first_sequence`, so
/// bodies sent separately never repeat a record).
pub fn logs_body(events: &[ApiRequest], first_sequence: u64) -> Vec<u8> {
    let (resource, template) = template();
    let records: Vec<Value> = events
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
        .collect();
    let body = json!({"resourceLogs": [{
        "resource": resource,
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}],
    }]});
    serde_json::to_vec(&body).unwrap()
}

/// Sends `events` through a relay into `db` (schema applied by the caller) and stops the relay.
pub async fn send(db: &super::clickhouse::TestDb, events: &[ApiRequest], first_sequence: u64) {
    let relay = super::relay::start(db.config()).await;
    let response = reqwest::Client::new()
        .post(relay.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .body(logs_body(events, first_sequence))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success() && !body.contains("rejected"), "{status}: {body}");
    relay.shutdown().await;
}
