//! Subagents across a relay restart (issue 8): a subagent's tool_result and subagent_completed events carry only
//! its `agent_id`; the relay names them from the `agent.name` of the subagent's api_request. When the relay restarts
//! between the two, the new relay reloads the recent agent_id → name pairs from ClickHouse at start, so those events
//! stay with the subagent (and its stage) instead of falling to the parent run.

mod support;

use support::clickhouse::fresh_database;
use support::otlp_json::{now_ns, record, send};
use support::relay;

/// The parent run's attributes, which Claude Code copies onto every record, its subagents' included.
const PARENT: [(&str, &str); 3] = [("workflow_id", "wf-restart"), ("stage", "implement"), ("agent", "implementer")];

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
    send(&first, &PARENT, vec![record("api_request", now_ns(), 1, &PARENT, &request)]).await;
    first.shutdown().await;

    // A new relay: it knows agent-42 only from what is in ClickHouse.
    let second = relay::start(db.config()).await;
    let tool = [("agent_id", "agent-42"), ("tool_name", "Bash"), ("success", "true"), ("duration_ms", "7")];
    let completed = [("agent_id", "agent-42"), ("agent_type", "custom"), ("total_tokens", "15")];
    // A stranger's id, never seen: stays with the parent run.
    let unknown = [("agent_id", "agent-7"), ("tool_name", "Read"), ("success", "true"), ("duration_ms", "3")];
    let records = vec![
        record("tool_result", now_ns(), 2, &PARENT, &tool),
        record("subagent_completed", now_ns(), 3, &PARENT, &completed),
        record("tool_result", now_ns(), 4, &PARENT, &unknown),
    ];
    send(&second, &PARENT, records).await;
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
