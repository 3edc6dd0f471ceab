//! `tokenledger demo`: the real binary sends its OTLP/HTTP to a relay into the ClickHouse engine, and what lands
//! (read with FINAL) is what the demo promised and printed; the same seed gives the same content keys; and its
//! payloads carry the attribute keys, value types, scopes and resources of the real CLI's (tests/fixtures).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use serde_json::Value;
use support::clickhouse::{fresh_database, TestDb};
use support::figures::costs_equal;
use support::relay;

const BUDGET: f64 = 10.0;

/// The end of the demo's span: a minute ago, so every record is recent and none is ahead of the relay's clock.
fn recent_end() -> String {
    let end = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    humantime::format_rfc3339_millis(end).to_string()
}

/// Runs the real `tokenledger demo` against a fresh relay on `db`; returns its JSON summary.
async fn run_demo(db: &TestDb, seed: u64, workflows: u64, end: &str) -> Value {
    let args = ["--workflows", &workflows.to_string(), "--days", "5", "--seed", &seed.to_string()]
        .into_iter()
        .chain(["--budget-usd", &BUDGET.to_string(), "--now", end])
        .map(str::to_string)
        .collect();
    relay::run_demo(db, args).await
}

async fn count(db: &TestDb, sql: &str) -> u64 {
    db.client.query(sql).fetch_one::<u64>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn keys(db: &TestDb) -> BTreeSet<(String, u64)> {
    let sql = "SELECT 'event' AS t, event_key FROM otel_events FINAL UNION ALL SELECT 'metric', event_key FROM otel_metrics FINAL";
    db.client.query(sql).fetch_all::<(String, u64)>().await.unwrap().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_lands_as_promised_and_a_seed_gives_the_same_content_keys() {
    let db = fresh_database("demo").await;
    db.apply_schema().await;
    let end = recent_end();
    let summary = run_demo(&db, 7, 24, &end).await;
    let u = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("{key} in {summary}"));

    // Every record arrived and none was rejected (the demo exits 65 on a partial_success): otel_events keeps every
    // log record, otel_metrics every point.
    assert_eq!(count(&db, "SELECT count() FROM otel_events FINAL").await, u("log_records"));
    assert_eq!(count(&db, "SELECT count() FROM otel_metrics FINAL").await, u("metric_points"));
    assert_eq!(count(&db, "SELECT count() FROM otel_api_request_events FINAL").await, u("api_requests"));
    assert_eq!(count(&db, "SELECT uniqExact(workflow_id) FROM otel_api_request_events FINAL").await, 24);
    assert_eq!(u("workflows"), 24);

    let paths: Vec<String> = db
        .client
        .query("SELECT DISTINCT workflow_path FROM otel_api_request_events FINAL ORDER BY workflow_path")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(paths, ["fast", "full"]);
    for (stage, agent) in
        [("analyze", "analyst"), ("plan", "planner"), ("implement", "implementer"), ("review", "reviewer")]
    {
        let runs = format!(
            "SELECT count() FROM otel_api_request_events FINAL WHERE stage = '{stage}' AND agent = '{agent}' AND agent_name = '' AND task_id != ''"
        );
        let subagents = format!(
            "SELECT count() FROM otel_api_request_events FINAL WHERE stage = '{stage}' AND agent_name = '{agent}' AND agent = '{agent}' AND task_id = ''"
        );
        assert!(count(&db, &runs).await > 0, "{stage} as its own run");
        assert!(count(&db, &subagents).await > 0, "{stage} as a subagent");
    }
    let families = "SELECT uniqExact(multiIf(model LIKE '%opus%', 'opus', model LIKE '%sonnet%', 'sonnet', model LIKE '%haiku%', 'haiku', model)) FROM otel_api_request_events FINAL";
    assert_eq!(count(&db, families).await, 3);
    assert!(count(&db, "SELECT sum(cache_read_tokens) FROM otel_api_request_events FINAL").await > 0);
    assert!(count(&db, "SELECT sum(cache_creation_tokens) FROM otel_api_request_events FINAL").await > 0);
    assert!(count(&db, "SELECT count() FROM otel_tool_result_events FINAL WHERE NOT success").await > 0);
    assert!(count(&db, "SELECT count() FROM otel_tool_result_events FINAL WHERE success").await > 0);
    assert!(count(&db, "SELECT count() FROM otel_api_error_events FINAL").await > 0);
    assert!(count(&db, "SELECT count() FROM otel_subagent_events FINAL").await > 0);
    // The subagents' tool results are credited to them through agent_id, as the real CLI's are.
    assert!(count(&db, "SELECT count() FROM otel_tool_result_events FINAL WHERE agent = 'reviewer' AND stage = 'review' AND agent_id != ''").await > 0);
    let metric_cost =
        db.number("SELECT sum(value) FROM otel_metrics FINAL WHERE metric_name = 'claude_code.cost.usage'").await;
    assert!(costs_equal(metric_cost, summary["cost_usd"].as_f64().unwrap()), "{metric_cost} vs {summary}");

    // Exactly one workflow over the budget, the one the demo printed, at the cost it printed.
    let over: Vec<(String, f64)> = db
        .client
        .query("SELECT workflow_id, sum(cost_usd) AS c FROM otel_api_request_events FINAL GROUP BY workflow_id HAVING c > ? ORDER BY workflow_id")
        .bind(BUDGET)
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0].0, summary["over_budget"]["workflow_id"].as_str().unwrap());
    let printed = summary["over_budget"]["cost_usd"].as_f64().unwrap();
    assert!(costs_equal(over[0].1, printed), "{} vs printed {printed}", over[0].1);
    let latest = format!("SELECT toFloat64(dateDiff('second', max(timestamp), now64())) FROM otel_api_request_events FINAL WHERE workflow_id = '{}'", over[0].0);
    assert!(db.number(&latest).await < 3600.0, "its requests are within the last hour");

    // The same seed and end give the same content keys; another seed other ones.
    let again = fresh_database("demo_again").await;
    again.apply_schema().await;
    let summary_again = run_demo(&again, 7, 24, &end).await;
    assert_eq!(summary_again, summary);
    let first = keys(&db).await;
    assert_eq!(first.len() as u64, u("log_records") + u("metric_points"));
    assert_eq!(keys(&again).await, first);
    let other = fresh_database("demo_other").await;
    other.apply_schema().await;
    run_demo(&other, 8, 6, &end).await;
    assert!(keys(&other).await.is_disjoint(&first));
}

/// The real binary with `args`; its exit code, stdout and stderr.
async fn demo_binary(args: Vec<String>) -> (Option<i32>, String, String) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tokenledger")).arg("demo").args(&args).output().expect("tokenledger runs")
    })
    .await
    .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_records_are_reported_and_exit_65_an_unreachable_endpoint_69() {
    // A relay that keeps events older than 48 h out of their tables rejects the older part of a 5-day demo
    // (partial_success): the demo says how many and exits 65 (EX_DATAERR), after printing what it sent.
    let db = fresh_database("demo_rejected").await;
    db.apply_schema().await;
    let mut config = db.config();
    config.limits.max_event_age_hours = 48;
    let relay = relay::start(config).await;
    let endpoint = format!("http://{}", relay.http);
    let args = ["--endpoint", &endpoint, "--workflows", "8", "--days", "5", "--seed", "4", "--format", "json"];
    let (code, stdout, stderr) = demo_binary(args.iter().map(|a| a.to_string()).collect()).await;
    relay.shutdown().await;
    assert_eq!(code, Some(65), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let rejected: u64 = stderr
        .split_whitespace()
        .skip_while(|w| !w.starts_with("tokenledger:"))
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stderr.contains("log records and") && stderr.contains("were rejected"), "{stderr}");
    // Every record older than the limit, of any kind, is the rejected part (kept in otel_events / otel_metrics).
    let points: u64 = stderr.split(" and ").nth(1).and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap();
    let old = "SELECT count() FROM otel_events FINAL WHERE timestamp < now64() - INTERVAL 48 HOUR";
    assert_eq!(rejected, count(&db, old).await, "the rejected records are the old ones: {stderr}");
    // Rejected points are not stored: the stored ones are the rest.
    let stored = count(&db, "SELECT count() FROM otel_metrics FINAL").await;
    assert_eq!(points + stored, summary["metric_points"].as_u64().unwrap(), "{stderr}");
    assert!(rejected > 0 && points > 0);

    let (code, _, stderr) =
        demo_binary(["--endpoint", "http://127.0.0.1:1", "--workflows", "6"].map(String::from).to_vec()).await;
    assert_eq!(code, Some(69), "{stderr}");
    assert!(stderr.contains("cannot reach http://127.0.0.1:1/v1/"), "{stderr}");
}

// ---- attribute shapes against the real CLI's payloads ----

/// The shape of one record or data point: its kind (event name, metric name), its attribute keys with their value
/// types, and what surrounds it (scope, resource keys and types, body, metric unit and temporality).
#[derive(Debug, Clone)]
struct Shape {
    kind: String,
    keys: BTreeMap<String, &'static str>,
    resource: BTreeMap<String, &'static str>,
    around: Vec<String>,
}

fn json_type(value: &Value) -> &'static str {
    let object = value.as_object().expect("an AnyValue");
    match object.keys().next().map(String::as_str) {
        Some("stringValue") => "string",
        Some("intValue") => "int",
        Some("doubleValue") => "double",
        Some("boolValue") => "bool",
        Some("arrayValue") => "array",
        other => panic!("value type {other:?}"),
    }
}

fn proto_type(kv: &KeyValue) -> &'static str {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(_)) => "string",
        Some(Any::IntValue(_)) => "int",
        Some(Any::DoubleValue(_)) => "double",
        Some(Any::BoolValue(_)) => "bool",
        Some(Any::ArrayValue(_)) => "array",
        other => panic!("value type {other:?}"),
    }
}

fn json_keys(attributes: &Value) -> BTreeMap<String, &'static str> {
    attributes
        .as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap().to_string(), json_type(&kv["value"]))).collect())
        .unwrap_or_default()
}

fn proto_keys(attributes: &[KeyValue]) -> BTreeMap<String, &'static str> {
    attributes.iter().map(|kv| (kv.key.clone(), proto_type(kv))).collect()
}

fn event_name(keys: &BTreeMap<String, &'static str>, find: impl Fn(&str) -> Option<String>) -> String {
    assert!(keys.contains_key("event.name"));
    find("event.name").expect("event.name")
}

/// The shapes of every fixture run (JSON and protobuf alike).
fn fixture_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    for run in std::fs::read_dir(support::fixtures::dir()).unwrap() {
        let run = run.unwrap().path();
        if !run.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&run).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            match (name.starts_with("logs"), name.ends_with(".json")) {
                (true, true) => shapes.extend(json_log_shapes(&serde_json::from_slice(&bytes).unwrap())),
                (false, true) => shapes.extend(json_metric_shapes(&serde_json::from_slice(&bytes).unwrap())),
                (true, false) => {
                    shapes.extend(proto_log_shapes(&ExportLogsServiceRequest::decode(&bytes[..]).unwrap()))
                }
                (false, false) => {
                    shapes.extend(proto_metric_shapes(&ExportMetricsServiceRequest::decode(&bytes[..]).unwrap()))
                }
            }
        }
    }
    shapes
}

fn json_log_shapes(body: &Value) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for rl in body["resourceLogs"].as_array().unwrap() {
        let resource = json_keys(&rl["resource"]["attributes"]);
        for sl in rl["scopeLogs"].as_array().unwrap() {
            let scope =
                format!("{} {}", sl["scope"]["name"].as_str().unwrap(), sl["scope"]["version"].as_str().unwrap());
            for record in sl["logRecords"].as_array().unwrap() {
                let keys = json_keys(&record["attributes"]);
                let kind = event_name(&keys, |k| {
                    record["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|kv| kv["key"] == k)
                        .map(|kv| kv["value"]["stringValue"].as_str().unwrap().to_string())
                });
                let body = record["body"]["stringValue"].as_str().unwrap().to_string();
                shapes.push(Shape { kind, keys, resource: resource.clone(), around: vec![scope.clone(), body] });
            }
        }
    }
    shapes
}

fn proto_log_shapes(request: &ExportLogsServiceRequest) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for rl in &request.resource_logs {
        let resource = proto_keys(&rl.resource.as_ref().unwrap().attributes);
        for sl in &rl.scope_logs {
            let scope = sl.scope.as_ref().unwrap();
            let scope = format!("{} {}", scope.name, scope.version);
            for record in &sl.log_records {
                let keys = proto_keys(&record.attributes);
                let text = |kv: &KeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Any::StringValue(s)) => s.clone(),
                    _ => String::new(),
                };
                let kind = event_name(&keys, |k| record.attributes.iter().find(|kv| kv.key == k).map(text));
                let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Any::StringValue(s)) => s.clone(),
                    other => panic!("body {other:?}"),
                };
                shapes.push(Shape { kind, keys, resource: resource.clone(), around: vec![scope.clone(), body] });
            }
        }
    }
    shapes
}

fn json_metric_shapes(body: &Value) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for rm in body["resourceMetrics"].as_array().unwrap() {
        let resource = json_keys(&rm["resource"]["attributes"]);
        for sm in rm["scopeMetrics"].as_array().unwrap() {
            let scope =
                format!("{} {}", sm["scope"]["name"].as_str().unwrap(), sm["scope"]["version"].as_str().unwrap());
            for metric in sm["metrics"].as_array().unwrap() {
                let sum = &metric["sum"];
                let around = vec![
                    scope.clone(),
                    metric["unit"].as_str().unwrap_or_default().to_string(),
                    metric["description"].as_str().unwrap_or_default().to_string(),
                    format!("sum temporality {} monotonic {}", sum["aggregationTemporality"], sum["isMonotonic"]),
                ];
                for point in sum["dataPoints"].as_array().unwrap() {
                    assert!(point.get("asDouble").is_some(), "fixtures send doubles");
                    shapes.push(Shape {
                        kind: metric["name"].as_str().unwrap().to_string(),
                        keys: json_keys(&point["attributes"]),
                        resource: resource.clone(),
                        around: around.clone(),
                    });
                }
            }
        }
    }
    shapes
}

fn proto_metric_shapes(request: &ExportMetricsServiceRequest) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for rm in &request.resource_metrics {
        let resource = proto_keys(&rm.resource.as_ref().unwrap().attributes);
        for sm in &rm.scope_metrics {
            let scope = sm.scope.as_ref().unwrap();
            let scope = format!("{} {}", scope.name, scope.version);
            for metric in &sm.metrics {
                let Some(Data::Sum(sum)) = &metric.data else { panic!("{} is not a Sum", metric.name) };
                let around = vec![
                    scope.clone(),
                    metric.unit.clone(),
                    metric.description.clone(),
                    format!("sum temporality {} monotonic {}", sum.aggregation_temporality, sum.is_monotonic),
                ];
                for point in &sum.data_points {
                    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
                    assert!(matches!(point.value, Some(Number::AsDouble(_))), "{} sends doubles", metric.name);
                    shapes.push(Shape {
                        kind: metric.name.clone(),
                        keys: proto_keys(&point.attributes),
                        resource: resource.clone(),
                        around: around.clone(),
                    });
                }
            }
        }
    }
    shapes
}

/// The resource keys the CLI adds itself (host, OS, service): those it does not copy onto its records, unlike the
/// OTEL_RESOURCE_ATTRIBUTES keys a workflow chooses.
fn cli_resource_keys(fixtures: &[Shape]) -> BTreeSet<String> {
    fixtures.iter().flat_map(|s| s.resource.keys().filter(|k| !s.keys.contains_key(*k)).cloned()).collect()
}

/// A shape's own keys: without the OTEL_RESOURCE_ATTRIBUTES keys the CLI copies from the resource.
fn own_keys(shape: &Shape, cli_keys: &BTreeSet<String>) -> BTreeMap<String, &'static str> {
    shape
        .keys
        .iter()
        .filter(|(k, _)| !shape.resource.contains_key(*k) || cli_keys.contains(*k))
        .map(|(k, t)| (k.clone(), *t))
        .collect()
}

#[test]
fn demo_payloads_have_the_key_sets_of_the_real_cli() {
    let fixtures = fixture_shapes();
    let cli_keys = cli_resource_keys(&fixtures);
    assert!(cli_keys.contains("service.name") && !cli_keys.contains("workflow_id"), "{cli_keys:?}");
    // Per kind: the keys every fixture record of that kind has, every key any of them has (with its type), and
    // what surrounds them.
    let mut always: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ever: BTreeMap<String, BTreeMap<String, &'static str>> = BTreeMap::new();
    let mut around: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut resource_types: BTreeMap<String, &'static str> = BTreeMap::new();
    for shape in &fixtures {
        let own = own_keys(shape, &cli_keys);
        let set: BTreeSet<String> = own.keys().cloned().collect();
        always.entry(shape.kind.clone()).and_modify(|a| *a = a.intersection(&set).cloned().collect()).or_insert(set);
        ever.entry(shape.kind.clone()).or_default().extend(own);
        around.entry(shape.kind.clone()).or_default().insert(shape.around.clone());
        resource_types
            .extend(shape.resource.iter().filter(|(k, _)| cli_keys.contains(*k)).map(|(k, t)| (k.clone(), *t)));
    }
    // Keys every record of every kind has (the session's identity, event.name, …): what an api_error, which no
    // fixture holds, must have too.
    let every_event: BTreeSet<String> = always
        .iter()
        .filter(|(kind, _)| !kind.starts_with("claude_code."))
        .map(|(_, keys)| keys.clone())
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap();
    assert!(every_event.contains("session.id") && every_event.contains("event.sequence"), "{every_event:?}");

    let now = 1_795_593_706_569_000_000;
    let demo = tokenledger::demo::generate(&tokenledger::demo::Options {
        workflows: 12,
        days: 5,
        seed: 3,
        budget_usd: BUDGET,
        now_ns: now,
    });
    let mut shapes = Vec::new();
    for request in demo.log_requests(8) {
        shapes.extend(proto_log_shapes(&request));
    }
    for request in demo.metric_requests(8) {
        shapes.extend(proto_metric_shapes(&request));
    }
    let mut kinds_seen = BTreeSet::new();
    let mut unmatched_kinds = BTreeSet::new();
    for shape in &shapes {
        kinds_seen.insert(shape.kind.clone());
        // The resource: the CLI's own keys in the CLI's types, and every OTEL_RESOURCE_ATTRIBUTES key on the record.
        let resource: BTreeSet<&String> = shape.resource.keys().filter(|k| cli_keys.contains(*k)).collect();
        assert_eq!(resource, cli_keys.iter().collect(), "{}: resource keys", shape.kind);
        for (key, kind) in &shape.resource {
            if let Some(expected) = resource_types.get(key) {
                assert_eq!(kind, expected, "resource {key}");
            }
            if !cli_keys.contains(key) {
                assert_eq!(shape.keys.get(key), Some(kind), "{}: the resource's {key} is copied onto it", shape.kind);
            }
        }
        let own = own_keys(shape, &cli_keys);
        let Some(fixture_keys) = ever.get(&shape.kind) else {
            unmatched_kinds.insert(shape.kind.clone());
            let keys: BTreeSet<String> = own.keys().cloned().collect();
            assert!(keys.is_superset(&every_event), "{}: {keys:?} lacks some of {every_event:?}", shape.kind);
            continue;
        };
        for (key, kind) in &own {
            assert_eq!(fixture_keys.get(key), Some(kind), "{}: key {key} ({kind}) is not in any fixture's", shape.kind);
        }
        let keys: BTreeSet<String> = own.keys().cloned().collect();
        let missing: Vec<_> = always[&shape.kind].difference(&keys).collect();
        assert!(missing.is_empty(), "{}: every fixture record has {missing:?}", shape.kind);
        assert!(
            around[&shape.kind].contains(&shape.around),
            "{}: {:?} not in {:?}",
            shape.kind,
            shape.around,
            around[&shape.kind]
        );
    }
    // Only api_error has no fixture; everything the fixtures show a run sending, the demo sends.
    assert_eq!(unmatched_kinds, BTreeSet::from(["api_error".to_string()]));
    for kind in ever.keys() {
        assert!(kinds_seen.contains(kind), "the demo never sends {kind}");
    }
}
