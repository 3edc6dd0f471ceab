//! The OTLP/HTTP edge: authentication, redelivery, ClickHouse being away, traces. The table of malformed records
//! and requests, each with its documented answer, is in tests/bad_input.rs.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::clickhouse::{fresh_database, TestDb};
use support::relay::{self, TestRelay};

async fn post(
    relay: &TestRelay,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(relay.http_url(path)).header("content-type", content_type).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.bytes().await.unwrap().to_vec(), headers)
}

async fn post_json(relay: &TestRelay, path: &str, body: &Value) -> (StatusCode, Value) {
    let (status, bytes, _) = post(relay, path, "application/json", &[], body.to_string().into_bytes()).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn s(v: &str) -> Value {
    json!({ "stringValue": v })
}

fn i(v: i64) -> Value {
    json!({ "intValue": v })
}

fn kv(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

/// A well-formed api_request record of `workflow`, shaped like Claude Code's.
fn api_request(workflow: &str, seq: i64) -> Value {
    json!({
        "timeUnixNano": (1_795_593_709_000_000_000i64 + seq).to_string(),
        "body": s("claude_code.api_request"),
        "attributes": [
            kv("workflow_id", s(workflow)), kv("stage", s("implement")), kv("agent", s("implementer")),
            kv("session.id", s("sess")), kv("event.name", s("api_request")), kv("event.sequence", i(seq)),
            kv("model", s("claude-sonnet-4-5-20250929")), kv("input_tokens", i(1200)), kv("output_tokens", i(40)),
            kv("cache_read_tokens", i(5000)), kv("cache_creation_tokens", i(300)),
            kv("cost_usd", json!({ "doubleValue": 0.006825 })), kv("duration_ms", i(22)),
        ],
    })
}

fn logs_request(records: Vec<Value>) -> Value {
    json!({ "resourceLogs": [{
        "resource": { "attributes": [kv("service.name", s("claude-code")), kv("service.version", s("2.1.331"))] },
        "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }],
    }]})
}

async fn relay_for(test: &str) -> (TestDb, TestRelay) {
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let relay = relay::start(db.config()).await;
    (db, relay)
}

async fn api_rows(db: &TestDb, workflow: &str) -> f64 {
    db.number(&format!("SELECT toFloat64(count()) FROM otel_api_request_events FINAL WHERE workflow_id = '{workflow}'"))
        .await
}

#[tokio::test]
async fn a_redelivered_request_leaves_every_view_unchanged() {
    let (db, relay) = relay_for("redelivery").await;
    let views = "SELECT toFloat64(sum(total_cost_usd)) + toFloat64(sum(total_input_tokens)) + toFloat64(sum(api_requests)) FROM workflow_summary";
    for (run, file) in relay::fixture_files() {
        relay::post_fixture(&relay, run, &file).await;
    }
    let once = db.number(views).await;
    let stages_once = db.number("SELECT toFloat64(sum(avg_tokens * workflow_count)) FROM stage_performance").await;
    let models_once =
        db.number("SELECT toFloat64(sum(total_cost) + sum(request_count)) FROM model_cost_comparison").await;
    for (run, file) in relay::fixture_files() {
        let (status, _) = relay::post_fixture(&relay, run, &file).await;
        assert!(status.is_success());
    }
    assert_eq!(db.number(views).await, once);
    assert_eq!(
        db.number("SELECT toFloat64(sum(avg_tokens * workflow_count)) FROM stage_performance").await,
        stages_once
    );
    assert_eq!(
        db.number("SELECT toFloat64(sum(total_cost) + sum(request_count)) FROM model_cost_comparison").await,
        models_once
    );
    // The Prometheus cost series count each record once too (this binary's only relay that sees wf-7).
    let stored = db
        .number("SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events FINAL WHERE workflow_id = 'wf-7'")
        .await;
    let exported: f64 = relay
        .metrics_text()
        .await
        .lines()
        .filter(|l| l.starts_with("tokenledger_committed_cost_usd{") && l.contains("workflow_id=\"wf-7\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(stored > 0.0 && (exported - stored).abs() < 1e-9, "exported {exported}, stored {stored}");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_bearer_token_is_required_when_configured() {
    let db = fresh_database("auth").await;
    db.apply_schema().await;
    let mut config = db.config();
    config.auth.token = Some("s3cret".into());
    let relay = relay::start(config).await;
    let body = logs_request(vec![api_request("auth", 1)]).to_string().into_bytes();
    let (status, _, _) = post(&relay, "/v1/logs", "application/json", &[], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) =
        post(&relay, "/v1/logs", "application/json", &[("authorization", "Bearer wrong")], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) =
        post(&relay, "/v1/logs", "application/json", &[("authorization", "Bearer s3cret")], body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api_rows(&db, "auth").await, 1.0);
    relay.shutdown().await;
}

#[tokio::test]
async fn clickhouse_unreachable_is_a_503_with_retry_after_never_a_500() {
    let db = fresh_database("unreachable").await;
    let mut config = db.config();
    // Nothing listens on the port of a socket we bound and closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    config.clickhouse.url = format!("http://127.0.0.1:{port}");
    let relay = relay::start_without_clickhouse(config).await;
    let body = logs_request(vec![api_request("down", 1)]).to_string().into_bytes();
    let (status, _, headers) = post(&relay, "/v1/logs", "application/json", &[], body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get("retry-after").is_some());
    let ready = reqwest::get(format!("http://{}/readyz", relay.admin)).await.unwrap().status();
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    relay.shutdown().await;
}

#[tokio::test]
async fn traces_are_accepted_and_counted() {
    let (_db, relay) = relay_for("traces").await;
    let request = json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": [
        { "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "a" },
        { "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "name": "b" },
    ]}]}]});
    let (status, _) = post_json(&relay, "/v1/traces", &request).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = relay.metrics_text().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("tokenledger_records_received_total{signal=\"traces\"}")),
        "{metrics}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_sender_that_half_closes_after_a_large_body_is_answered_and_stored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (db, relay) = relay_for("half_close").await;
    // Larger than a connection's read buffer (64 KiB), so the body is read in several chunks.
    let records = (0..400).map(|seq| api_request("wf-half-close", seq)).collect();
    let body = logs_request(records).to_string().into_bytes();
    assert!(body.len() > 3 * 64 * 1024, "{} bytes", body.len());
    let url = reqwest::Url::parse(&relay.http_url("/v1/logs")).unwrap();
    let mut stream = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    // The sender closes its side (it will send nothing more) and waits for the answer.
    stream.shutdown().await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(api_rows(&db, "wf-half-close").await, 400.0);
    relay.shutdown().await;
}
