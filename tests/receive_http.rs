//! The OTLP/HTTP edge: status codes as the OTLP spec and the collector's exporter expect them, compression,
//! authentication, redelivery, and a table of malformed payloads, each with its documented answer, sent between
//! good records that must still be stored.

mod support;

use std::io::Write;

use prost::Message;
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

/// `partialSuccess.rejectedLogRecords` (or data points) of a JSON response; int64 may be a number or a string.
fn rejected(response: &Value, field: &str) -> u64 {
    match &response["partialSuccess"][field] {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        _ => 0,
    }
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

/// An api_request with attribute `key` replaced (or removed when `value` is None).
fn api_request_with(workflow: &str, seq: i64, key: &str, value: Option<Value>) -> Value {
    let mut record = api_request(workflow, seq);
    let attributes = record["attributes"].as_array_mut().unwrap();
    attributes.retain(|a| a["key"] != key);
    if let Some(value) = value {
        attributes.push(kv(key, value));
    }
    record
}

/// A tool_result record (with its string-typed values, as Claude Code sends them) with `key` set to `value`.
fn tool_result(workflow: &str, seq: i64, key: &str, value: Value) -> Value {
    let mut attributes = vec![
        kv("workflow_id", s(workflow)),
        kv("event.sequence", i(seq)),
        kv("tool_name", s("Bash")),
        kv("success", s("true")),
        kv("duration_ms", s("23")),
    ];
    attributes.retain(|a| a["key"] != key);
    attributes.push(kv(key, value));
    json!({
        "timeUnixNano": (1_795_593_709_000_000_000i64 + seq).to_string(),
        "body": s("claude_code.tool_result"),
        "attributes": attributes,
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

/// A malformed record between two good ones of the same workflow: what the relay answers and keeps.
struct RecordCase {
    name: &'static str,
    bad: fn(&str) -> Value,
    /// Records reported in partial_success.
    rejected: u64,
    /// api_request rows stored for the workflow (the two good ones, plus the bad one if it is still readable).
    api_rows: f64,
    /// Whether the bad record is still kept in otel_events under the workflow.
    in_events: bool,
}

#[tokio::test]
async fn malformed_records_are_rejected_alone_and_good_records_around_them_are_stored() {
    let cases = [
        RecordCase {
            name: "doubleValue holding an object (one Claude Code build)",
            bad: |w| api_request_with(w, 2, "cost_usd", Some(json!({"doubleValue": {}}))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "token count that is not a number",
            bad: |w| api_request_with(w, 2, "input_tokens", Some(s("abc"))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "negative token count",
            bad: |w| api_request_with(w, 2, "output_tokens", Some(i(-5))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "fractional token count",
            bad: |w| api_request_with(w, 2, "input_tokens", Some(json!({"doubleValue": 1.5}))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "api_request without cost_usd",
            bad: |w| api_request_with(w, 2, "cost_usd", None),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "api_request without model",
            bad: |w| api_request_with(w, 2, "model", None),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "cost_usd that is infinite text",
            bad: |w| api_request_with(w, 2, "cost_usd", Some(s("inf"))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "tool_result success that is not a boolean",
            bad: |w| tool_result(w, 2, "success", s("maybe")),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "event.sequence that is not a number",
            bad: |w| api_request_with(w, 2, "event.sequence", Some(s("x"))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "record that is not an object",
            bad: |_| json!(42),
            rejected: 1,
            api_rows: 2.0,
            in_events: false,
        },
        RecordCase {
            name: "timeUnixNano that is not a number",
            bad: |w| {
                let mut r = api_request(w, 2);
                r["timeUnixNano"] = json!("soon");
                r
            },
            rejected: 1,
            api_rows: 2.0,
            in_events: false,
        },
        // Kept in otel_events, but without attributes it has no workflow.
        RecordCase {
            name: "attributes that are not a list",
            bad: |w| {
                let mut r = api_request(w, 2);
                r["attributes"] = json!({"a": 1});
                r
            },
            rejected: 1,
            api_rows: 2.0,
            in_events: false,
        },
        // Accepted shapes: coerced, not rejected.
        RecordCase {
            name: "tokens as spec-style strings",
            bad: |w| api_request_with(w, 2, "input_tokens", Some(json!({"intValue": "1200"}))),
            rejected: 0,
            api_rows: 3.0,
            in_events: true,
        },
        RecordCase {
            name: "tokens as doubles (collector json_parser)",
            bad: |w| api_request_with(w, 2, "input_tokens", Some(json!({"doubleValue": 1200.0}))),
            rejected: 0,
            api_rows: 3.0,
            in_events: true,
        },
        RecordCase {
            name: "every value as a string (older Claude Code)",
            bad: |w| api_request_with(w, 2, "cost_usd", Some(s("0.006825"))),
            rejected: 0,
            api_rows: 3.0,
            in_events: true,
        },
        // Bounds (issue 8): past one, a record is kept in otel_events (over-long values cut short) and left out
        // of its typed table, so it never reaches a cost figure or a /metrics label.
        RecordCase {
            name: "a 1 MiB attribute value (over the 64 KiB bound)",
            bad: |w| api_request_with(w, 2, "huge", Some(s(&"x".repeat(1 << 20)))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "a 64 KiB attribute value (at the bound)",
            bad: |w| api_request_with(w, 2, "big", Some(s(&"x".repeat(64 * 1024)))),
            rejected: 0,
            api_rows: 3.0,
            in_events: true,
        },
        RecordCase {
            name: "a 10 MB workflow_id (its record is kept under the id cut to 256 bytes)",
            bad: |w| api_request_with(w, 2, "workflow_id", Some(s(&format!("{w}{}", "w".repeat(10_000_000))))),
            rejected: 1,
            api_rows: 2.0,
            in_events: false,
        },
        RecordCase {
            name: "a 300-byte stage",
            bad: |w| api_request_with(w, 2, "stage", Some(s(&"s".repeat(300)))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "cost_usd 1e308",
            bad: |w| api_request_with(w, 2, "cost_usd", Some(json!({ "doubleValue": 1e308 }))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "a negative cost_usd",
            bad: |w| api_request_with(w, 2, "cost_usd", Some(json!({ "doubleValue": -0.5 }))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "output_tokens 2^63-1",
            bad: |w| api_request_with(w, 2, "output_tokens", Some(json!({ "intValue": "9223372036854775807" }))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "input_tokens at the 10,000,000 bound",
            bad: |w| api_request_with(w, 2, "input_tokens", Some(i(10_000_000))),
            rejected: 0,
            api_rows: 3.0,
            in_events: true,
        },
        RecordCase {
            name: "a duration of ten days",
            bad: |w| api_request_with(w, 2, "duration_ms", Some(i(864_000_000))),
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "an event time in 2100 (ahead of the relay's clock)",
            bad: |w| {
                let mut r = api_request(w, 2);
                r["timeUnixNano"] = json!("4102444800000000000");
                r
            },
            rejected: 1,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "an unknown event name",
            bad: |w| {
                let mut r = api_request(w, 2);
                r["body"] = s("claude_code.from_the_future");
                r
            },
            rejected: 0,
            api_rows: 2.0,
            in_events: true,
        },
        RecordCase {
            name: "a body that is not a string and no event.name",
            bad: |w| {
                let mut r = api_request_with(w, 2, "event.name", None);
                r["body"] = i(7);
                r
            },
            rejected: 0,
            api_rows: 2.0,
            in_events: true,
        },
    ];
    let (db, relay) = relay_for("bad_records").await;
    for (n, case) in cases.iter().enumerate() {
        let workflow = format!("case-{n}");
        let request = logs_request(vec![api_request(&workflow, 1), (case.bad)(&workflow), api_request(&workflow, 3)]);
        let (status, response) = post_json(&relay, "/v1/logs", &request).await;
        assert_eq!(status, StatusCode::OK, "{}: {response}", case.name);
        assert_eq!(rejected(&response, "rejectedLogRecords"), case.rejected, "{}: {response}", case.name);
        if case.rejected > 0 {
            assert!(
                response["partialSuccess"]["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
                "{}",
                case.name
            );
        }
        assert_eq!(api_rows(&db, &workflow).await, case.api_rows, "{}", case.name);
        let events = db
            .number(&format!("SELECT toFloat64(count()) FROM otel_events FINAL WHERE workflow_id = '{workflow}'"))
            .await;
        assert_eq!(events, if case.in_events { 3.0 } else { 2.0 }, "{}", case.name);
    }
    // No over-long value or implausible figure reached the cost series on /metrics.
    let metrics = relay.metrics_text().await;
    assert!(metrics.len() < 1 << 20, "/metrics is {} bytes", metrics.len());
    assert!(!metrics.contains(&"w".repeat(300)) && !metrics.contains(&"s".repeat(300)), "an over-long label");
    let costs = metrics.lines().filter(|l| l.starts_with("tokenledger_cost_usd_total{"));
    let largest = costs.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).fold(0.0, f64::max);
    assert!(largest < 1.0, "no workflow's cost series holds an implausible cost: {largest}");
    relay.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_the_documented_status() {
    let db = fresh_database("bad_requests").await;
    db.apply_schema().await;
    let mut config = db.config();
    config.otlp.max_request_bytes = 64 * 1024;
    let relay = relay::start(config).await;
    let good = logs_request(vec![api_request("good", 1)]).to_string().into_bytes();

    let gzip = |data: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    };
    // (case, path, content type, extra headers, body, expected status)
    type RequestCase =
        (&'static str, &'static str, &'static str, Vec<(&'static str, &'static str)>, Vec<u8>, StatusCode);
    let cases: Vec<RequestCase> = vec![
        ("not JSON", "/v1/logs", "application/json", vec![], b"{not json".to_vec(), StatusCode::BAD_REQUEST),
        ("a JSON array", "/v1/logs", "application/json", vec![], b"[]".to_vec(), StatusCode::BAD_REQUEST),
        (
            "resourceLogs not an array",
            "/v1/logs",
            "application/json",
            vec![],
            br#"{"resourceLogs":7}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "protobuf garbage",
            "/v1/logs",
            "application/x-protobuf",
            vec![],
            vec![0xff, 0xff, 0xff, 0xff, 0x0f],
            StatusCode::BAD_REQUEST,
        ),
        (
            "metrics protobuf garbage",
            "/v1/metrics",
            "application/x-protobuf",
            vec![],
            vec![0x0a, 0x05, 0x01],
            StatusCode::BAD_REQUEST,
        ),
        ("wrong content type", "/v1/logs", "text/plain", vec![], good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "unsupported content encoding",
            "/v1/logs",
            "application/json",
            vec![("content-encoding", "br")],
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "corrupt gzip",
            "/v1/logs",
            "application/json",
            vec![("content-encoding", "gzip")],
            b"\x1f\x8b\x08garbage".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "body over the limit",
            "/v1/logs",
            "application/json",
            vec![],
            vec![b' '; 65 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "gzip that inflates over the limit",
            "/v1/logs",
            "application/json",
            vec![("content-encoding", "gzip")],
            gzip(&vec![b' '; 1 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "JSON with invalid UTF-8 (replaced, accepted)",
            "/v1/logs",
            "application/json",
            vec![],
            {
                let mut body = logs_request(vec![api_request("utf8", 1)]).to_string().into_bytes();
                let at = body.windows(4).position(|w| w == b"sess").unwrap();
                body[at] = 0xff;
                body
            },
            StatusCode::OK,
        ),
        (
            "gzip-compressed JSON",
            "/v1/logs",
            "application/json",
            vec![("content-encoding", "gzip")],
            gzip(&good),
            StatusCode::OK,
        ),
        (
            "zstd-compressed JSON",
            "/v1/logs",
            "application/json",
            vec![("content-encoding", "zstd")],
            zstd::encode_all(&good[..], 3).unwrap(),
            StatusCode::OK,
        ),
    ];
    for (name, path, content_type, headers, body, expected) in cases {
        let (status, response, _) = post(&relay, path, content_type, &headers, body).await;
        assert_eq!(status, expected, "{name}: {}", String::from_utf8_lossy(&response));
        if status.is_client_error() && content_type == "application/json" && status != StatusCode::PAYLOAD_TOO_LARGE {
            let error: Value = serde_json::from_slice(&response).unwrap_or(Value::Null);
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: an error body says why");
        }
    }
    assert_eq!(api_rows(&db, "utf8").await, 1.0);
    assert_eq!(api_rows(&db, "good").await, 1.0, "gzip and zstd copies of one request fold into one row");
    relay.shutdown().await;
}

#[tokio::test]
async fn one_protobuf_record_with_invalid_utf8_is_rejected_alone() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    let (db, relay) = relay_for("bad_utf8_pb").await;
    let json_request = logs_request(vec![
        api_request("pb", 1),
        api_request_with("pb", 2, "marker", Some(s("MARKER"))),
        api_request("pb", 3),
    ]);
    let request: ExportLogsServiceRequest = serde_json::from_value(json_request).unwrap();
    let mut body = request.encode_to_vec();
    let at = body.windows(6).position(|w| w == b"MARKER").unwrap();
    body[at..at + 2].copy_from_slice(&[0xc3, 0x28]); // an invalid two-byte sequence
    let (status, response, _) = post(&relay, "/v1/logs", "application/x-protobuf", &[], body).await;
    assert_eq!(status, StatusCode::OK);
    let response =
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse::decode(&response[..]).unwrap();
    assert_eq!(response.partial_success.map(|p| p.rejected_log_records), Some(1));
    assert_eq!(api_rows(&db, "pb").await, 2.0);
    relay.shutdown().await;
}

#[tokio::test]
async fn unsupported_metric_points_are_counted_not_stored() {
    let (db, relay) = relay_for("bad_metrics").await;
    let point = |v: Value| json!({ "attributes": [kv("workflow_id", s("m")), kv("type", s("input"))], "timeUnixNano": "1795593709000000000", "asDouble": v });
    let request = json!({ "resourceMetrics": [{ "resource": {"attributes": []}, "scopeMetrics": [{ "metrics": [
        { "name": "claude_code.token.usage", "unit": "tokens", "sum": { "aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [point(json!(1200.0))] } },
        { "name": "latency", "histogram": { "aggregationTemporality": 1, "dataPoints": [{ "count": "1", "sum": 1.0 }, { "count": "1", "sum": 2.0 }] } },
        { "name": "broken", "sum": { "aggregationTemporality": 1, "dataPoints": [{ "attributes": [kv("x", json!({"doubleValue": {}}))], "asDouble": 1.0 }] } },
    ]}]}]});
    let (status, response) = post_json(&relay, "/v1/metrics", &request).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(
        rejected(&response, "rejectedDataPoints"),
        3,
        "two histogram points and one unreadable metric: {response}"
    );
    assert_eq!(db.number("SELECT toFloat64(sum(value)) FROM otel_metrics FINAL WHERE workflow_id = 'm'").await, 1200.0);
    relay.shutdown().await;
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
        .filter(|l| l.starts_with("tokenledger_cost_usd_total{") && l.contains("workflow_id=\"wf-7\""))
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
