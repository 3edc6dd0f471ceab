//! The Grafana dashboards (grafana/dashboards/*.json): valid dashboards whose datasources, links and variables
//! exist; and every ClickHouse panel's SQL, expanded as Grafana and the ClickHouse plugin expand it
//! (tests/support/grafana.rs) with its variables at All, one value and two values, run on the engine with the
//! read-only user's settings profile over data sent through the real relay, returns rows in the shape its panel
//! type needs.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::clickhouse::{fresh_database, TestDb};
use support::events::ApiRequest;
use support::grafana::{self, QueryTime, Variable, ALL};
use support::otlp_json;
use support::stack_files::{child, profile_settings, read, repo, xml_user, BIN, USERS_XML};

/// The dashboard uids other parts of the stack link to (alerts, the README).
const UIDS: [&str; 7] = [
    "tokenledger-workflow-cost",
    "tokenledger-token-consumption",
    "tokenledger-stage-performance",
    "tokenledger-workflow-paths",
    "tokenledger-optimization",
    "tokenledger-workflow-detail",
    "tokenledger-relay-health",
];

fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(repo("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn datasource_uids() -> BTreeMap<String, String> {
    let yaml: Value =
        serde_yaml_ng::from_str(&read("grafana/provisioning/datasources/tokenledger.yml")).expect("datasources YAML");
    yaml["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["uid"].as_str().unwrap().to_string(), d["type"].as_str().unwrap().to_string()))
        .collect()
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"].as_array().unwrap().iter().collect()
}

fn is_clickhouse(target: &Value) -> bool {
    target["datasource"]["type"] == "grafana-clickhouse-datasource"
}

#[test]
fn dashboards_are_valid_and_reference_what_exists() {
    let all = dashboards();
    let uids: BTreeSet<String> = all.iter().map(|(_, d)| d["uid"].as_str().unwrap().to_string()).collect();
    assert_eq!(uids, UIDS.iter().map(|s| s.to_string()).collect(), "dashboard uids");
    let sources = datasource_uids();
    // The generator and the JSON files agree (the files are what Grafana loads).
    let check = std::process::Command::new("python3").arg(repo("grafana/generate.py")).arg("--check").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    for (name, dashboard) in &all {
        assert!(!dashboard["title"].as_str().unwrap_or_default().is_empty(), "{name}: title");
        let schema = dashboard["schemaVersion"].as_u64().unwrap_or_else(|| panic!("{name}: schemaVersion"));
        assert!((36..=42).contains(&schema), "{name}: schemaVersion {schema} (v1 API ends at 42)");
        let variables: BTreeSet<String> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            if variable["type"] == "query" {
                let uid = variable["datasource"]["uid"].as_str().unwrap();
                assert_eq!(sources.get(uid).map(String::as_str), variable["datasource"]["type"].as_str(), "{name}");
            }
        }
        let mut ids = BTreeSet::new();
        for panel in panels(dashboard) {
            let title = panel["title"].as_str().unwrap();
            assert!(ids.insert(panel["id"].as_u64().unwrap()), "{name}: panel id repeated at {title}");
            assert!(!panel["description"].as_str().unwrap_or_default().is_empty(), "{name}/{title}: description");
            let pos = &panel["gridPos"];
            assert!(pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24, "{name}/{title}: gridPos");
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}/{title}: no target");
            for target in targets {
                let uid = target["datasource"]["uid"].as_str().unwrap();
                let kind = target["datasource"]["type"].as_str().unwrap();
                assert_eq!(sources.get(uid).map(String::as_str), Some(kind), "{name}/{title}: datasource {uid}");
                if is_clickhouse(target) {
                    // The plugin's target model (src/types/sql.ts): a missing pluginVersion is read as a v3
                    // query and migrated; the backend reads rawSql and format.
                    assert_eq!(target["editorType"], "sql", "{name}/{title}");
                    assert_eq!(target["pluginVersion"], "4.20.0", "{name}/{title}");
                    let (format, query_type) =
                        if panel["type"] == "timeseries" { (0, "timeseries") } else { (1, "table") };
                    assert_eq!(target["format"], format, "{name}/{title}");
                    assert_eq!(target["queryType"], query_type, "{name}/{title}");
                    // Every variable the SQL names is the dashboard's; $__ names are the plugin's macros.
                    let sql = target["rawSql"].as_str().unwrap();
                    let defined: BTreeMap<String, Variable> = variables
                        .iter()
                        .map(|v| (v.clone(), Variable { current: vec!["x".into()], ..Default::default() }))
                        .collect();
                    grafana::template(&grafana::conditional_all(sql, &defined).unwrap(), &defined)
                        .unwrap_or_else(|e| panic!("{name}/{title}: {e}"));
                } else {
                    assert!(!target["expr"].as_str().unwrap_or_default().is_empty(), "{name}/{title}: expr");
                }
            }
            // Charts and stats carry a unit; tables carry one per figure column (checked on the rows below).
            let defaults = panel["fieldConfig"]["defaults"]["unit"].as_str();
            let overrides = panel["fieldConfig"]["overrides"].as_array().unwrap();
            assert!(panel["type"] == "table" || defaults.is_some(), "{name}/{title}: no unit");
            // Links go to dashboards that exist, with a variable the target defines.
            for link in overrides.iter().flat_map(|o| o["properties"].as_array().unwrap()) {
                for l in link["value"].as_array().into_iter().flatten() {
                    let url = l["url"].as_str().unwrap();
                    let uid = url.strip_prefix("/d/").unwrap().split('?').next().unwrap();
                    assert!(uids.contains(uid), "{name}/{title}: link to {uid}");
                    let target = &all.iter().find(|(_, d)| d["uid"] == uid).unwrap().1;
                    let var = url.split("var-").nth(1).unwrap().split('=').next().unwrap();
                    assert!(
                        target["templating"]["list"].as_array().unwrap().iter().any(|v| v["name"] == var),
                        "{name}/{title}: {uid} has no variable {var}"
                    );
                }
            }
        }
    }
}

fn vars(pairs: &[(&str, Vec<&str>, Vec<&str>)]) -> BTreeMap<String, Variable> {
    pairs
        .iter()
        .map(|(n, current, options)| {
            let variable = Variable {
                current: current.iter().map(|s| s.to_string()).collect(),
                options: options.iter().map(|s| s.to_string()).collect(),
                all_value: None,
            };
            (n.to_string(), variable)
        })
        .collect()
}

#[test]
fn variables_are_formatted_as_grafana_formats_them() {
    let options = vec!["a", "o'b", "c"];
    let single = vars(&[("v", vec!["o'b"], options.clone())]);
    let multi = vars(&[("v", vec!["a", "c"], options.clone())]);
    let all = vars(&[("v", vec![ALL], options.clone())]);
    // The plugin's default: one value as it is, several quoted and joined, not escaped.
    assert_eq!(grafana::template("x = $v", &single).unwrap(), "x = o'b");
    assert_eq!(grafana::template("x IN ($v)", &multi).unwrap(), "x IN ('a','c')");
    assert_eq!(grafana::template("x IN (${v})", &all).unwrap(), "x IN ('a','o'b','c')");
    // singlequote quotes each value and escapes quotes.
    assert_eq!(grafana::template("${v:singlequote}", &single).unwrap(), "'o\\'b'");
    assert_eq!(grafana::template("${v:singlequote}", &multi).unwrap(), "'a','c'");
    assert_eq!(grafana::template("[[v]]", &multi).unwrap(), "'a','c'");
    // All is every option, unless the variable has a custom allValue, written as it is.
    assert_eq!(grafana::template("${v:singlequote}", &all).unwrap(), "'a','o\\'b','c'");
    let mut custom = all.clone();
    custom.get_mut("v").unwrap().all_value = Some(".*".into());
    assert_eq!(grafana::template("${v:singlequote}", &custom).unwrap(), ".*");
    // $__conditionalAll: 1=1 for All or no value, else the condition with the variable formatted.
    let cond = "WHERE $__conditionalAll(x IN (${v:singlequote}), $v) AND y";
    let expand = |v: &BTreeMap<String, Variable>| grafana::template(&grafana::conditional_all(cond, v).unwrap(), v);
    assert_eq!(expand(&all).unwrap(), "WHERE 1=1 AND y");
    assert_eq!(expand(&multi).unwrap(), "WHERE x IN ('a','c') AND y");
    assert_eq!(expand(&vars(&[("v", vec![], options.clone())])).unwrap(), "WHERE 1=1 AND y");
    // Names that are not variables: the plugin's macros pass, anything else is an error.
    assert_eq!(grafana::template("$__timeFilter(t) $__interval_s", &single).unwrap(), "$__timeFilter(t) $__interval_s");
    assert!(grafana::template("$nope", &single).is_err());
}

#[test]
fn macros_expand_as_the_plugin_writes_them() {
    // 2014-11-12T11:45:26.371Z to 2015-11-12T11:45:26.371Z, 20 s interval.
    let time = QueryTime { from_ms: 1_415_792_726_371, to_ms: 1_447_328_726_371, interval_ms: 20_000 };
    let cases = [
        ("$__fromTime", "toDateTime(1415792726)"),
        ("$__toTime", "toDateTime(1447328726)"),
        ("$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
        ("$__timeFilter(c)", "c >= toDateTime(1415792726) AND c <= toDateTime(1447328726)"),
        (
            "$__timeFilter_ms(c)",
            "c >= fromUnixTimestamp64Milli(1415792726371) AND c <= fromUnixTimestamp64Milli(1447328726371)",
        ),
        ("$__dateFilter(d)", "d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"),
        (
            "$__dt(d, t)",
            "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND \
             (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))",
        ),
        ("$__timeInterval(col)", "toStartOfInterval(toDateTime(col), INTERVAL 20 second)"),
        ("$__timeInterval_ms(col)", "toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond)"),
        ("$__interval_s", "20"),
        (
            "f($__timeFilter( toDate(x) ))",
            "f(toDate(x) >= toDateTime(1415792726) AND toDate(x) <= toDateTime(1447328726))",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(grafana::macros(sql, time).unwrap(), want, "{sql}");
    }
    let short = QueryTime { interval_ms: 200, ..time };
    assert_eq!(grafana::macros("$__interval_s", short).unwrap(), "1", "at least one second");
    assert!(grafana::macros("$__timeFilter(a, b)", time).is_err());
    // A name that is no macro of the plugin is left as it is (ClickHouse then refuses it); comments are blanked.
    assert_eq!(grafana::macros("$__nope(a) $__fromTimeX", time).unwrap(), "$__nope(a) $__fromTimeX");
    assert_eq!(grafana::macros("x -- $__nope\n$__toTime", time).unwrap(), "x           \ntoDateTime(1447328726)");
}

// ---- The panels on data ----

const NS: i64 = 1_000_000_000;

/// One synthetic workflow: its path, and per stage (stage, agent, model, model_expected, requests).
struct Workflow {
    id: &'static str,
    path: &'static str,
    stages: &'static [(&'static str, &'static str, &'static str, &'static str, u64)],
}

const WORKFLOWS: [Workflow; 4] = [
    Workflow {
        id: "wf-full-ok",
        path: "full",
        stages: &[
            ("analyze", "analyst", "claude-opus-4-5-20251101", "opus", 2),
            ("plan", "planner", "claude-sonnet-4-5-20250929", "sonnet", 2),
            ("implement", "implementer", "claude-sonnet-4-5-20250929", "sonnet", 4),
            ("review", "reviewer", "claude-opus-4-5-20251101", "sonnet", 2),
        ],
    },
    Workflow {
        id: "wf-full-failed",
        path: "full",
        stages: &[
            ("analyze", "analyst", "claude-opus-4-5-20251101", "opus", 1),
            ("implement", "implementer", "claude-sonnet-4-5-20250929", "sonnet", 3),
        ],
    },
    Workflow {
        id: "wf-fast-ok",
        path: "fast",
        stages: &[("implement", "implementer", "claude-haiku-4-5-20251001", "haiku", 2)],
    },
    Workflow {
        id: "wf-fast-error",
        path: "fast",
        stages: &[("implement", "implementer", "claude-sonnet-4-5-20250929", "sonnet", 2)],
    },
];

/// Sends the captured fixtures and the synthetic workflows (with a failed tool call in wf-full-failed and an
/// api_error in wf-fast-error) through the relay; imports the Beads fixture. Returns (events, start of data ns).
async fn load(db: &TestDb) -> (Vec<ApiRequest>, i64) {
    let relay = support::relay::start(db.config()).await;
    let client = reqwest::Client::new();
    for run in support::fixtures::FIXTURE_RUNS {
        for (file, kind) in [("logs-1.json", "application/json"), ("logs-1.pb", "application/x-protobuf")] {
            if let Some(body) = support::fixtures::fixture(run, file) {
                let response =
                    client.post(relay.http_url("/v1/logs")).header("content-type", kind).body(body).send().await;
                assert!(response.unwrap().status().is_success(), "{run}/{file}");
            }
        }
    }
    let now = otlp_json::now_ns() as i64;
    let start = now - 3 * 3600 * NS;
    let mut events = Vec::new();
    let mut extra = Vec::new();
    for (w, workflow) in WORKFLOWS.iter().enumerate() {
        let mut t = start + w as i64 * 1800 * NS;
        for (s, (stage, agent, model, expected, requests)) in workflow.stages.iter().enumerate() {
            for r in 0..*requests {
                t += 7 * NS;
                let input = 1000 + 100 * s as u64 + r;
                let event = ApiRequest {
                    timestamp_ns: t,
                    workflow_id: workflow.id.into(),
                    workflow_path: workflow.path.into(),
                    stage: stage.to_string(),
                    model: model.to_string(),
                    input_tokens: input,
                    output_tokens: 20 + 10 * r,
                    // The fast workflows barely reuse their prompt: a low cache-hit rate to find.
                    cache_read_tokens: if workflow.path == "fast" { 100 } else { 5000 },
                    cache_creation_tokens: 300,
                    cost_usd: 0.001 * (1 + w as u64 + s as u64 + r) as f64,
                    duration_ms: 500 + 100 * r,
                    ..Default::default()
                };
                extra.push(((*agent).to_string(), (*expected).to_string()));
                events.push(event);
            }
        }
    }
    let mut records = support::events::records(&events, 1000);
    for (record, (agent, expected)) in records.iter_mut().zip(&extra) {
        let attributes = record["attributes"].as_array_mut().unwrap();
        attributes.push(otlp_json::kv("agent", agent));
        attributes.push(otlp_json::kv("model_expected", expected));
    }
    // One tool call that failed and one that worked in wf-full-failed; an api_error in wf-fast-error.
    let at = |w: usize| (start + w as i64 * 1800 * NS + 60 * NS) as u128;
    let failed = [("workflow_id", "wf-full-failed"), ("workflow_path", "full"), ("stage", "implement")];
    records.push(otlp_json::record(
        "tool_result",
        at(1),
        5000,
        &failed,
        &[("tool_name", "Bash"), ("success", "false"), ("duration_ms", "31"), ("error", "exit status 1")],
    ));
    records.push(otlp_json::record(
        "tool_result",
        at(1) + 1,
        5001,
        &failed,
        &[("tool_name", "Read"), ("success", "true"), ("duration_ms", "4")],
    ));
    records.push(otlp_json::record(
        "api_error",
        at(3),
        5002,
        &[("workflow_id", "wf-fast-error"), ("workflow_path", "fast"), ("stage", "implement")],
        &[
            ("model", "claude-sonnet-4-5-20250929"),
            ("error", "Overloaded"),
            ("status_code", "529"),
            ("attempt", "1"),
            ("duration_ms", "250"),
        ],
    ));
    otlp_json::send(&relay, &[("service.name", "claude-code"), ("service.version", "2.1.331")], records).await;
    relay.shutdown().await;

    let beads = repo("tests/fixtures/beads/issues.jsonl");
    let output = std::process::Command::new(BIN)
        .args(["beads", "import", beads.to_str().unwrap()])
        .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // A redelivery that reached the table: a second copy of every wf-full-ok row, merges stopped so that only
    // FINAL folds them. The exact totals below (and the requests per workflow) prove the rollups count them once.
    db.run_sql("SYSTEM STOP MERGES otel_api_request_events", &[]).await;
    db.run_sql(
        "INSERT INTO otel_api_request_events SELECT * FROM otel_api_request_events WHERE workflow_id = 'wf-full-ok'",
        &[],
    )
    .await;
    let copies = db.number("SELECT toFloat64(count()) FROM otel_api_request_events WHERE workflow_id = 'wf-full-ok'");
    assert_eq!(copies.await, 2.0 * WORKFLOWS[0].stages.iter().map(|s| s.4).sum::<u64>() as f64);
    // The overview panels read the hourly rollups: recompute them now rather than wait for the minute's refresh.
    // Twice: each refresh appends a whole copy of the rollup, and only the newest may count.
    db.refresh_rollups().await;
    db.refresh_rollups().await;
    (events, start)
}

/// The read-only user's settings profile (final = 1, readonly = 2, limits), from the shipped users XML: every
/// panel query runs under it, as Grafana's queries do.
fn reader_settings() -> Vec<(String, String)> {
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let profile = child(xml_user(&doc, "tokenledger_reader"), "profile").text().unwrap().trim().to_string();
    profile_settings(&doc, &profile).into_iter().collect()
}

/// Column names and types, and the rows, of a query run as the reader would run it.
async fn run(db: &TestDb, sql: &str) -> Result<(Vec<(String, String)>, Vec<Vec<Value>>), String> {
    let mut url = format!("{}/?database={}&default_format=JSONCompact", db.url, db.name);
    for (name, value) in reader_settings() {
        url.push_str(&format!("&{name}={value}"));
    }
    let response = reqwest::Client::new().post(url).body(sql.to_string()).send().await.map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let body = response.text().await.unwrap();
    if !ok {
        return Err(body);
    }
    let value: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let meta = value["meta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["type"].as_str().unwrap().to_string()))
        .collect();
    let rows = value["data"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
    Ok((meta, rows))
}

fn numeric(kind: &str) -> bool {
    let inner = kind.trim_start_matches("Nullable(").trim_end_matches(')');
    ["UInt", "Int", "Float", "Decimal", "Bool"].iter().any(|p| inner.starts_with(p))
}

/// A label column: String (clickhouse-go reads LowCardinality(String) as a Go string too).
fn label(kind: &str) -> bool {
    kind == "String" || kind == "LowCardinality(String)"
}

/// Checks the rows' shape against the panel type; returns the number of rows.
fn check_shape(what: &str, kind: &str, meta: &[(String, String)], rows: &[Vec<Value>]) -> usize {
    match kind {
        "timeseries" => {
            assert!(meta[0].1.starts_with("DateTime"), "{what}: first column {:?} is not a time", meta[0]);
            for (name, t) in &meta[1..] {
                assert!(numeric(t) || label(t), "{what}: {name} {t} is neither a value nor a String label");
            }
            assert!(meta[1..].iter().any(|(_, t)| numeric(t)), "{what}: no value column");
            let times: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "{what}: not sorted by time: {times:?}");
        }
        "stat" => {
            assert!(rows.len() <= 1, "{what}: a stat reads one row, got {}", rows.len());
            assert!(meta.iter().all(|(_, t)| numeric(t)), "{what}: {meta:?}");
        }
        "barchart" | "piechart" => {
            assert!(label(&meta[0].1), "{what}: first column {:?} must be the String category", meta[0]);
            assert!(meta[1..].iter().all(|(_, t)| numeric(t)) && meta.len() > 1, "{what}: {meta:?}");
        }
        "table" => {
            let names: BTreeSet<&String> = meta.iter().map(|(n, _)| n).collect();
            assert_eq!(names.len(), meta.len(), "{what}: repeated column names");
        }
        other => panic!("{what}: panel type {other} not checked"),
    }
    rows.len()
}

/// The unit a figure column must show, by its name: money, rates, durations.
fn unit_expected(column: &str) -> Option<&'static str> {
    let percent = ["_rate", "_ratio", "_share"].iter().any(|s| column.ends_with(s)) || column.starts_with("share_");
    if percent {
        Some("percentunit")
    } else if column.contains("cost") {
        Some("currencyUSD")
    } else if column.ends_with("_ms") {
        Some("ms")
    } else {
        None
    }
}

/// A column's unit in a panel: its override, else the panel's default.
fn unit_of(panel: &Value, column: &str) -> Option<String> {
    let overrides = panel["fieldConfig"]["overrides"].as_array().unwrap();
    overrides
        .iter()
        .filter(|o| o["matcher"]["options"] == column)
        .flat_map(|o| o["properties"].as_array().unwrap())
        .find(|p| p["id"] == "unit")
        .map(|p| p["value"].as_str().unwrap().to_string())
        .or_else(|| panel["fieldConfig"]["defaults"]["unit"].as_str().map(str::to_string))
}

/// A JSON number or a quoted 64-bit integer.
fn num(value: &Value) -> f64 {
    value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("{value}"))
}

#[tokio::test]
async fn every_panel_returns_rows_in_its_panel_shape_with_all_one_and_two_values() {
    let db = fresh_database("grafana_panels").await;
    let (events, start) = load(&db).await;
    // The range: from the captured fixtures (their own capture time) to now.
    let first: i64 = run(&db, "SELECT toUnixTimestamp(min(timestamp)) FROM otel_api_request_events").await.unwrap().1
        [0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("no data"));
    let now_ms = otlp_json::now_ns() as i64 / 1_000_000 + 60_000;
    let time = QueryTime { from_ms: first * 1000 - 3_600_000, to_ms: now_ms, interval_ms: 0 };
    let time = QueryTime { interval_ms: ((time.to_ms - time.from_ms) / 500).max(1000), ..time };
    assert!(start / 1_000_000 > time.from_ms);

    let mut ran = 0;
    for (name, dashboard) in dashboards() {
        // The variables' options are their own queries' rows, expanded the same way.
        let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut custom: BTreeMap<String, Variable> = BTreeMap::new();
        for v in dashboard["templating"]["list"].as_array().unwrap() {
            let var_name = v["name"].as_str().unwrap().to_string();
            if v["type"] == "query" {
                let sql = grafana::expand(v["query"].as_str().unwrap(), &BTreeMap::new(), time).unwrap();
                let (_, rows) = run(&db, &sql).await.unwrap_or_else(|e| panic!("{name} variable {var_name}: {e}"));
                let values: Vec<String> = rows.iter().map(|r| r[0].as_str().unwrap().to_string()).collect();
                assert!(!values.is_empty(), "{name}: variable {var_name} has no option");
                options.insert(var_name, values);
            } else if v["type"] == "custom" {
                let current = v["current"]["value"].as_str().unwrap().to_string();
                custom.insert(var_name, Variable { current: vec![current], ..Default::default() });
            }
        }
        // Selections: All (multi-value variables), the first option, the first two.
        let mut selections: Vec<(String, BTreeMap<String, Variable>)> = Vec::new();
        for (label, pick) in [("All", 0usize), ("one", 1), ("two", 2)] {
            let mut selected = custom.clone();
            for (var_name, values) in &options {
                let multi = dashboard["templating"]["list"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["name"] == var_name.as_str() && v["multi"] == true);
                let current: Vec<String> = match (pick, multi) {
                    (0, true) => vec![ALL.to_string()],
                    (0, false) | (1, _) => values[..1].to_vec(),
                    (_, true) => values.iter().take(2).cloned().collect(),
                    (_, false) => values[values.len() - 1..].to_vec(),
                };
                selected.insert(var_name.clone(), Variable { current, options: values.clone(), all_value: None });
            }
            selections.push((label.to_string(), selected));
        }
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap();
            let kind = panel["type"].as_str().unwrap();
            for target in panel["targets"].as_array().unwrap().iter().filter(|t| is_clickhouse(t)) {
                for (label, variables) in &selections {
                    let what = format!("{name}/{title} ({label})");
                    let sql = grafana::expand(target["rawSql"].as_str().unwrap(), variables, time)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(!sql.contains('$'), "{what}: left unexpanded: {sql}");
                    let (meta, rows) = run(&db, &sql).await.unwrap_or_else(|e| panic!("{what}\n{sql}\n{e}"));
                    let count = check_shape(&what, kind, &meta, &rows);
                    for (column, _) in meta.iter().filter(|(_, t)| numeric(t)) {
                        let want = unit_expected(column);
                        if let (Some(want), true) = (want, label == "All") {
                            assert_eq!(unit_of(panel, column).as_deref(), Some(want), "{what}: unit of {column}");
                        }
                    }
                    // With everything selected, every panel of the overview dashboards has something to show.
                    if label == "All" && name != "workflow-detail.json" {
                        assert!(count > 0, "{what}: no rows\n{sql}");
                    }
                    ran += 1;
                }
            }
        }
    }
    assert!(ran > 100, "{ran} panel queries");

    // Figures: the cost dashboard's total equals what was sent (fixtures' api_requests plus the synthetic ones).
    let window = QueryTime { from_ms: start / 1_000_000 - 1000, ..time };
    let all_cost = dashboards().into_iter().find(|(n, _)| n == "workflow-cost.json").unwrap().1;
    let total = &panels(&all_cost)[0]["targets"][0]["rawSql"];
    let everything =
        vars(&[("workflow", vec![ALL], vec![]), ("stage", vec![ALL], vec![]), ("model", vec![ALL], vec![])]);
    let sql = grafana::expand(total.as_str().unwrap(), &everything, window).unwrap();
    let got = num(&run(&db, &sql).await.unwrap().1[0][0]);
    let sent: f64 = events.iter().map(|e| e.cost_usd).sum();
    assert!((got - sent).abs() < 1e-9, "total cost {got} vs sent {sent}");
    // One workflow selected: its own cost only.
    let mut one = everything.clone();
    one.get_mut("workflow").unwrap().current = vec!["wf-full-ok".into()];
    let got = num(&run(&db, &grafana::expand(total.as_str().unwrap(), &one, window).unwrap()).await.unwrap().1[0][0]);
    let sent: f64 = events.iter().filter(|e| e.workflow_id == "wf-full-ok").map(|e| e.cost_usd).sum();
    assert!((got - sent).abs() < 1e-9, "wf-full-ok cost {got} vs sent {sent}");

    // The detail dashboard for each workflow: its stages always; its failures where they were sent.
    let detail = dashboards().into_iter().find(|(n, _)| n == "workflow-detail.json").unwrap().1;
    let rows_of = |title: &str, workflow: &str| {
        let panel = panels(&detail).into_iter().find(|p| p["title"] == title).unwrap().clone();
        let variables = vars(&[("workflow_id", vec![workflow], vec![])]);
        let sql = grafana::expand(panel["targets"][0]["rawSql"].as_str().unwrap(), &variables, time).unwrap();
        let db = &db;
        async move { run(db, &sql).await.unwrap().1 }
    };
    for workflow in WORKFLOWS.iter().map(|w| w.id).chain([".claude-4nq", "wf-7"]) {
        assert!(!rows_of("Stages", workflow).await.is_empty(), "{workflow}: no stage");
        assert!(!rows_of("Requests over time", workflow).await.is_empty(), "{workflow}: no requests");
        let failed = rows_of("Failed tool calls", workflow).await.len();
        assert_eq!(failed, usize::from(workflow == "wf-full-failed"), "{workflow}: failed tool calls");
        let errors = rows_of("Error events", workflow).await.len();
        assert_eq!(errors, usize::from(workflow == "wf-fast-error"), "{workflow}: api errors");
        let beads = rows_of("Beads issues", workflow).await.len();
        assert_eq!(beads > 0, workflow == ".claude-4nq", "{workflow}: Beads issues");
    }
}

#[tokio::test]
async fn path_analysis_applies_the_success_definition() {
    let db = fresh_database("grafana_paths").await;
    let (_, _) = load(&db).await;
    let to = otlp_json::now_ns() as i64 / NS + 60;
    let sql = format!(
        "SELECT workflow_id, workflow_path, success, api_errors, tool_failures, beads_open, requests \
         FROM workflow_outcomes(from_time = toDateTime(0), to_time = toDateTime({to})) ORDER BY workflow_id"
    );
    let (_, rows) = run(&db, &sql).await.unwrap();
    let by_id: BTreeMap<String, Vec<Value>> =
        rows.into_iter().map(|r| (r[0].as_str().unwrap().to_string(), r)).collect();
    let success = |id: &str| num(&by_id.get(id).unwrap_or_else(|| panic!("{id}: {by_id:?}"))[2]) == 1.0;
    // Sent clean: successful. A failed tool call, an api_error, an open Beads issue (the fixture's epic
    // .claude-4nq is in_progress): not.
    assert!(success("wf-full-ok") && success("wf-fast-ok"), "{by_id:?}");
    assert!(!success("wf-full-failed"), "{by_id:?}");
    assert_eq!(num(&by_id["wf-full-failed"][4]), 1.0);
    assert!(!success("wf-fast-error"), "{by_id:?}");
    assert_eq!(num(&by_id["wf-fast-error"][3]), 1.0);
    assert!(!success(".claude-4nq"), "{by_id:?}");
    assert!(num(&by_id[".claude-4nq"][5]) > 0.0);
    // wf-7 (the subagent fixture): its tool calls succeeded, no Beads issue: successful.
    assert!(success("wf-7"), "{by_id:?}");
    // Requests per workflow equal what was sent.
    for workflow in &WORKFLOWS {
        let sent: u64 = workflow.stages.iter().map(|s| s.4).sum();
        assert_eq!(num(&by_id[workflow.id][6]), sent as f64, "{}", workflow.id);
    }
}

/// `make demo`'s promise: after `tokenledger demo` (defaults: 40 workflows over 7 days) every ClickHouse panel of
/// every dashboard has rows for the dashboards' default range (the last 7 days) with the variables at All, and the
/// workflow detail dashboard has rows for the workflow the demo put over its budget. The one exception is the
/// detail dashboard's Beads panel: Beads issues come from `tokenledger beads import`, not from telemetry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_has_rows_on_demo_data() {
    let db = fresh_database("grafana_demo").await;
    let summary = support::relay::run_demo(&db, Vec::new()).await;
    // The overview dashboards read the hourly rollups; their minute's refresh is run at once.
    db.refresh_rollups().await;
    let over_budget = summary["over_budget"]["workflow_id"].as_str().unwrap().to_string();

    let now_ms = otlp_json::now_ns() as i64 / 1_000_000;
    let from_ms = now_ms - 7 * 24 * 3_600_000;
    let time = QueryTime { from_ms, to_ms: now_ms, interval_ms: (now_ms - from_ms) / 500 };
    let mut checked = 0;
    for (name, dashboard) in dashboards() {
        let mut variables: BTreeMap<String, Variable> = BTreeMap::new();
        for v in dashboard["templating"]["list"].as_array().unwrap() {
            let var_name = v["name"].as_str().unwrap().to_string();
            let variable = match (v["type"].as_str(), v["multi"] == true) {
                (Some("query"), true) => {
                    let sql = grafana::expand(v["query"].as_str().unwrap(), &BTreeMap::new(), time).unwrap();
                    let (_, rows) = run(&db, &sql).await.unwrap_or_else(|e| panic!("{name} {var_name}: {e}"));
                    let options = rows.iter().map(|r| r[0].as_str().unwrap().to_string()).collect();
                    Variable { current: vec![ALL.to_string()], options, all_value: None }
                }
                (Some("query"), false) => Variable { current: vec![over_budget.clone()], ..Default::default() },
                (Some("custom"), _) => Variable {
                    current: vec![v["current"]["value"].as_str().unwrap().to_string()],
                    ..Default::default()
                },
                _ => continue,
            };
            variables.insert(var_name, variable);
        }
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap();
            for target in panel["targets"].as_array().unwrap().iter().filter(|t| is_clickhouse(t)) {
                let raw = target["rawSql"].as_str().unwrap();
                if raw.contains("beads_issues") && name == "workflow-detail.json" {
                    continue;
                }
                let what = format!("{name}/{title}");
                let sql = grafana::expand(raw, &variables, time).unwrap_or_else(|e| panic!("{what}: {e}"));
                let (meta, rows) = run(&db, &sql).await.unwrap_or_else(|e| panic!("{what}\n{sql}\n{e}"));
                let count = check_shape(&what, panel["type"].as_str().unwrap(), &meta, &rows);
                assert!(count > 0, "{what}: no rows on demo data\n{sql}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "{checked} panels checked");
}
