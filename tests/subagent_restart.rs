//! Subagents across a relay restart (issue 8): a subagent's tool_result and subagent_completed events carry only
//! its `agent_id`; the relay names them from the `agent.name` of the subagent's api_request. When the relay restarts
//! between the two, the new relay reloads the recent agent_id → name pairs from ClickHouse at start, so those events
//! stay with the subagent (and its stage) instead of falling to the parent run.

mod support;

use serde_json::{json, Value};
use support::clickhouse::fresh_database;
use support::relay::{self, TestRelay};

fn kv(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// The parent run's attributes, which Claude Code copies onto every record, its subagents' included.
const PARENT: [(&str, &str); 3] = [("workflow_id", "wf-restart"), ("stage", "implement"), ("agent", "implementer")];

fn record(event: &str, sequence: u64, extra: &[(&str, &str)]) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let sequence_text = sequence.to_string();
    let mut attributes: Vec<Value> = PARENT.iter().map(|(k, v)| kv(k, v)).collect();
    attributes.extend(
        [("event.name", event), ("event.sequence", sequence_text.as_str()), ("session.id", "s-1")]
            .map(|(k, v)| kv(k, v)),
    );
    attributes.extend(extra.iter().map(|(k, v)| kv(k, v)));
    json!({ "timeUnixNano": now.to_string(), "body": { "stringValue": format!("claude_code.{event}") }, "attributes": attributes })
}

async fn send(relay: &TestRelay, records: Vec<Value>) {
    let body = json!({ "resourceLogs": [{
        "resource": { "attributes": PARENT.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>() },
        "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }],
    }]});
    let response = reqwest::Client::new()
        .post(relay.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_subagent_running_across_a_restart_keeps_its_name_and_stage() {
    let db = fresh_database("subagent_restart").await;
    let first = relay::start(db.config()).await;
    let request = [
        ("agent.name", "reviewer"),
        ("agent_id", "agent-42"),
        ("model", "claude-haiku-4-5-20251001"),
        ("input_tokens", "10"),
        ("output_tokens", "5"),
        ("cost_usd", "0.001"),
    ];
    send(&first, vec![record("api_request", 1, &request)]).await;
    first.shutdown().await;

    // A new relay: it knows agent-42 only from what is in ClickHouse.
    let second = relay::start(db.config()).await;
    let tool = [("agent_id", "agent-42"), ("tool_name", "Bash"), ("success", "true"), ("duration_ms", "7")];
    let completed = [("agent_id", "agent-42"), ("agent_type", "custom"), ("total_tokens", "15")];
    // A stranger's id, never seen: stays with the parent run.
    let unknown = [("agent_id", "agent-7"), ("tool_name", "Read"), ("success", "true"), ("duration_ms", "3")];
    send(
        &second,
        vec![
            record("tool_result", 2, &tool),
            record("subagent_completed", 3, &completed),
            record("tool_result", 4, &unknown),
        ],
    )
    .await;
    second.shutdown().await;

    let attribution = |table: &str, agent_id: &str| {
        let sql = format!(
            "SELECT toString(agent) AS agent, toString(stage) AS stage FROM {table} FINAL WHERE agent_id = '{agent_id}'"
        );
        let client = db.client.clone();
        async move { client.query(&sql).fetch_all::<(String, String)>().await.unwrap() }
    };
    let reviewer = ("reviewer".to_string(), "review".to_string());
    assert_eq!(attribution("otel_api_request_events", "agent-42").await, std::slice::from_ref(&reviewer));
    assert_eq!(
        attribution("otel_tool_result_events", "agent-42").await,
        std::slice::from_ref(&reviewer),
        "tool_result after restart"
    );
    assert_eq!(attribution("otel_subagent_events", "agent-42").await, [reviewer], "subagent_completed after restart");
    assert_eq!(
        attribution("otel_tool_result_events", "agent-7").await,
        [("implementer".to_string(), "implement".to_string())],
        "an agent_id never seen keeps the parent's attribution"
    );
}
