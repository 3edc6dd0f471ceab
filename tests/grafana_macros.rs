//! The ClickHouse plugin's own macro cases (pkg/macros/macros_test.go of grafana/clickhouse-datasource v4.20.0,
//! kept as data in tests/fixtures/grafana/macros_cases.json) run against the port in tests/support/grafana.rs
//! that the panel tests expand every dashboard's SQL with: each case's output, or its error and the error's kind;
//! and its $__conditionalAll cases (src/data/CHDatasource.test.ts, tests/fixtures/grafana/conditional_all_cases.json).

mod support;

use serde_json::Value;
use support::grafana::{self, ExpandError, QueryNames, QueryTime};

/// Go's zero time.Time{} (0001-01-01T00:00:00Z), in Unix milliseconds.
const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

fn ms(value: &Value) -> i64 {
    match value {
        Value::Null => GO_ZERO_TIME_MS,
        Value::Number(n) => n.as_i64().unwrap(),
        Value::String(s) => {
            let t = humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        }
        other => panic!("time {other}"),
    }
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grafana/macros_cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["commit"], "973c4a508220c378ef8a477f3133bba935ca2345");
    doc["cases"].as_array().unwrap().clone()
}

fn check_error(what: &str, kind: &str, got: Result<String, ExpandError>) {
    let err = match got {
        Ok(sql) => panic!("{what}: expected an error ({kind}), got {sql:?}"),
        Err(e) => e,
    };
    match kind {
        "any" => {}
        "downstream" => assert!(err.is_downstream(), "{what}: {err} is not downstream"),
        "bad_argument_count" => {
            assert!(matches!(err, ExpandError::BadArgumentCount(..)), "{what}: {err}");
            assert!(err.is_downstream(), "{what}: {err} is not downstream");
        }
        other => panic!("{what}: unknown error kind {other}"),
    }
}

#[test]
fn the_plugins_own_macro_cases_pass_on_the_port() {
    let cases = cases();
    assert_eq!(cases.len(), 45, "every case of macros_test.go");
    for (i, case) in cases.iter().enumerate() {
        let what = format!("[{}] {} {}", i + 1, case["test"], case["name"].as_str().unwrap_or_default());
        if let Some(helper) = case["helper"].as_str() {
            let t = ms(&case["time"]);
            let got = match helper {
                "timeToDate" => grafana::date_literal(t),
                "timeToDateTime" => grafana::datetime_literal(t),
                "timeToDateTime64" => grafana::datetime64_literal(t),
                other => panic!("{what}: helper {other}"),
            };
            assert_eq!(got, case["want"].as_str().unwrap(), "{what}");
            continue;
        }
        let interval_ns = case["interval_ns"].as_i64().unwrap();
        let time =
            QueryTime { from_ms: ms(&case["from"]), to_ms: ms(&case["to"]), interval_ms: interval_ns / 1_000_000 };
        let names = QueryNames {
            table: case["table"].as_str().unwrap_or_default().to_string(),
            column: case["column"].as_str().unwrap_or_default().to_string(),
        };
        let got = if let Some(macro_name) = case["macro"].as_str() {
            assert!(grafana::MACRO_NAMES.contains(&macro_name), "{what}: {macro_name} is a macro of the plugin");
            let args: Vec<String> =
                case["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            grafana::expand_one(macro_name, &args, time, &names)
        } else {
            grafana::macros_with(case["input"].as_str().unwrap(), time, &names)
        };
        match (case["want"].as_str(), case["error"].as_str()) {
            (Some(want), None) => assert_eq!(got.unwrap_or_else(|e| panic!("{what}: {e}")), want, "{what}"),
            (None, Some(kind)) => check_error(&what, kind, got),
            _ => panic!("{what}: a case has either want or error"),
        }
    }
}

#[test]
fn the_plugins_own_conditional_all_cases_pass_on_the_port() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grafana/conditional_all_cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["commit"], "973c4a508220c378ef8a477f3133bba935ca2345");
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5, "every $__conditionalAll case of CHDatasource.test.ts");
    for case in cases {
        let variables = case["variables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, value)| {
                let current = vec![value.as_str().unwrap().to_string()];
                (name.clone(), grafana::Variable { current, ..Default::default() })
            })
            .collect();
        let got = grafana::conditional_all(case["input"].as_str().unwrap(), &variables).unwrap();
        assert_eq!(got, case["want"].as_str().unwrap(), "{}", case["test"]);
    }
}
