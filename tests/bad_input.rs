//! The bad-input table (issue 8): malformed and hostile records and requests, in OTLP/JSON and protobuf, logs and
//! metrics, each with its documented answer (README, "What the relay promises"): the status, the count in
//! `partial_success`, and which tables keep what, with the good records around each bad one stored.
//!
//! One shape per file: log records (`log_cases`), metric points (`metric_cases`), whole requests
//! (`request_cases`); `build` makes the OTLP, `harness` sends a table and checks it.

mod support;

#[path = "bad_input/build.rs"]
mod build;
#[path = "bad_input/harness.rs"]
mod harness;
#[path = "bad_input/log_cases.rs"]
mod log_cases;
#[path = "bad_input/metric_cases.rs"]
mod metric_cases;
#[path = "bad_input/request_cases.rs"]
mod request_cases;

use build::*;
use harness::Signal;
use reqwest::StatusCode;
use serde_json::Value;
use support::clickhouse::{fresh_database, TestDb};
use support::relay::{self, TestRelay};

/// A relay with the default event-time window (the shared test config widens it for the captured fixtures).
async fn relay_for(test: &str, max_request_bytes: Option<usize>) -> (TestDb, TestRelay) {
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let mut config = db.config();
    config.limits = tokenledger::config::LimitsConfig::default();
    if let Some(limit) = max_request_bytes {
        config.otlp.max_request_bytes = limit;
    }
    let relay = relay::start(config).await;
    (db, relay)
}

#[tokio::test]
async fn json_log_records_past_a_bound_or_unreadable_are_rejected_alone() {
    let (db, relay) = relay_for("bad_json_logs", None).await;
    harness::run(&relay, &db, Signal::Logs, "json", &log_cases::json_cases()).await;
    // No over-long value or implausible figure reached a series on /metrics.
    let metrics = relay.metrics_text().await;
    assert!(metrics.len() < 1 << 20, "/metrics is {} bytes", metrics.len());
    let longest = metrics.lines().filter(|l| !l.starts_with('#')).map(|l| l.len()).max().unwrap_or(0);
    assert!(longest < 2048, "a /metrics line of {longest} bytes");
    let costs = metrics.lines().filter(|l| l.starts_with("tokenledger_committed_cost_usd{"));
    let largest = costs.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).fold(0.0, f64::max);
    assert!(largest <= 1000.0 * 2.0 + 1.0, "no workflow's cost series holds an implausible cost: {largest}");
    relay.shutdown().await;
}

#[tokio::test]
async fn protobuf_log_records_past_a_bound_or_unreadable_are_rejected_alone() {
    let (db, relay) = relay_for("bad_pb_logs", None).await;
    harness::run(&relay, &db, Signal::Logs, "pb", &log_cases::protobuf_cases()).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn metric_points_past_a_bound_or_without_a_table_are_counted_not_stored() {
    let (db, relay) = relay_for("bad_metrics", None).await;
    harness::run(&relay, &db, Signal::Metrics, "json", &metric_cases::json_cases()).await;
    harness::run(&relay, &db, Signal::Metrics, "pb", &metric_cases::protobuf_cases()).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_the_documented_status() {
    let limit = 64 * 1024;
    let (db, relay) = relay_for("bad_requests", Some(limit)).await;
    let cases = request_cases::cases(limit);
    let mut failures = Vec::new();
    for case in &cases {
        let mut request = reqwest::Client::new().post(relay.http_url(case.path)).body(case.body.clone());
        if !case.content_type.is_empty() {
            request = request.header("content-type", case.content_type);
        }
        for (name, value) in &case.headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        if status != case.status {
            failures.push(format!(
                "{}: {status}, wanted {}: {}",
                case.name,
                case.status,
                String::from_utf8_lossy(&body)
            ));
        } else if status.is_client_error()
            && case.content_type == "application/json"
            && status != StatusCode::PAYLOAD_TOO_LARGE
        {
            let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if error["message"].as_str().is_none_or(str::is_empty) {
                failures.push(format!("{}: an error body without a reason: {error}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let rows = |w: &'static str| {
        let sql = format!("SELECT toFloat64(count()) FROM otel_api_request_events FINAL WHERE workflow_id = '{w}'");
        let db = &db;
        async move { db.number(&sql).await }
    };
    assert_eq!(rows("utf8").await, 1.0);
    assert_eq!(rows("good").await, 1.0, "every accepted copy of one request folds into one row");
    assert_eq!(rows("resource").await + rows("scope").await, 0.0, "a request with a broken envelope stores nothing");
    relay.shutdown().await;
}

/// issue 8: a subagent name learnt from one record becomes the `agent` label of the records that carry only its
/// agent_id; an over-long one must not.
#[tokio::test]
async fn an_over_long_subagent_name_is_not_learnt_as_a_label() {
    let (db, relay) = relay_for("long_subagent", None).await;
    let long_name = "n".repeat(300);
    let named = with(with(api_request("sub", 1), "agent_id", Some(s("a-1"))), "agent.name", Some(s(&long_name)));
    let by_id = with(with(api_request("sub", 2), "agent_id", Some(s("a-1"))), "agent", None);
    let body = logs_request(vec![log_group(resource(), vec![named, by_id])]);
    let response = reqwest::Client::new()
        .post(relay.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response: Value = response.json().await.unwrap();
    assert_eq!(response["partialSuccess"]["rejectedLogRecords"].to_string().trim_matches('"'), "1", "{response}");
    let agents = db
        .number("SELECT toFloat64(max(length(agent))) FROM otel_api_request_events FINAL WHERE workflow_id = 'sub'")
        .await;
    assert!(agents < 256.0, "the by-id record's agent is {agents} bytes");
    assert!(!relay.metrics_text().await.contains(&long_name), "the long name is a /metrics label");
    relay.shutdown().await;
}
