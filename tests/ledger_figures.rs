//! The ledger figures on /metrics (issue 6 §1), with the real `tokenledger serve` binary and the ClickHouse
//! engine: api_request events sent through the relay's OTLP/HTTP listener, then every contract series compared with
//! what ClickHouse holds (computed here with SQL of its own), budgets from a config file and the environment, the
//! active window and the series cap, redeliveries counted once, two relays exporting the same lines, a ClickHouse
//! outage (figures kept, marked stale, errors counted) and `promtool check metrics` on a real scrape.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::clickhouse::{fresh_database, TestDb};
use support::events::ApiRequest;

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");
const HOUR_NS: i64 = 3_600_000_000_000;
const SONNET: &str = "claude-sonnet-4-5-20250929";
const OPUS: &str = "claude-opus-4-5-20251101";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now_ns() -> i64 {
    support::otlp_json::now_ns() as i64
}

/// A `tokenledger serve` child on free loopback ports, stopped with SIGTERM when dropped.
struct Serve {
    child: Child,
    http: u16,
    admin: u16,
    log: std::path::PathBuf,
}

impl Serve {
    /// Starts `serve` against `url`/`database`, refreshing every second, with `env` and an optional config file.
    fn start(url: &str, database: &str, env: &[(&str, &str)], config: Option<&str>) -> Serve {
        let (http, grpc, admin) = (free_port(), free_port(), free_port());
        let target = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        let log = target.join(format!("ledger-{database}-{admin}.log"));
        let mut command = Command::new(BIN);
        if let Some(text) = config {
            let path = target.join(format!("ledger-{database}-{admin}.toml"));
            std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
            command.arg("--config").arg(path);
        }
        command
            .arg("serve")
            .env("TOKENLEDGER_CLICKHOUSE__URL", url)
            .env("TOKENLEDGER_CLICKHOUSE__DATABASE", database)
            .env("TOKENLEDGER_OTLP__HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("TOKENLEDGER_OTLP__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("TOKENLEDGER_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
            .env("TOKENLEDGER_BATCH__MAX_DELAY_MS", "100")
            .env("TOKENLEDGER_LEDGER_EXPORT__REFRESH_SECS", "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .current_dir(std::env::temp_dir())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = command.spawn().unwrap();
        Serve { child, http, admin, log }
    }

    async fn metrics(&self) -> String {
        match reqwest::get(format!("http://127.0.0.1:{}/metrics", self.admin)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until /metrics satisfies `ok` (30 s at most), and returns it.
    async fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.metrics().await;
            if ok(&text) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what}: not seen within 30 s\n{text}\nlog:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Posts api_request records over OTLP/HTTP JSON; panics unless 2xx.
    async fn post(&self, records: &[Value]) {
        let body = json!({ "resourceLogs": [{
            "resource": { "attributes": [
                support::otlp_json::kv("service.name", "claude-code"),
                support::otlp_json::kv("service.version", "2.1.331"),
            ]},
            "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": records }],
        }]});
        let started = Instant::now();
        loop {
            let response = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{}/v1/logs", self.http))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            match response {
                Ok(response) if response.status().is_success() => return,
                // Not listening or not ready yet (503 until the schema step is done).
                _ if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Ok(response) => panic!("{}: {}", response.status(), response.text().await.unwrap()),
                Err(error) => panic!("posting: {error}"),
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// An api_request event, with `model_expected` added when not empty.
struct Event {
    request: ApiRequest,
    model_expected: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn event(at: i64, workflow: &str, path: &str, stage: &str, model: &str, expected: &'static str, cost: f64) -> Event {
    let tokens = (cost * 1e6) as u64;
    Event {
        request: ApiRequest {
            timestamp_ns: at,
            workflow_id: workflow.into(),
            workflow_path: path.into(),
            stage: stage.into(),
            task_id: String::new(),
            model: model.into(),
            input_tokens: tokens % 997 + 10,
            output_tokens: tokens % 89 + 1,
            cache_read_tokens: tokens % 3_001,
            cache_creation_tokens: tokens % 211,
            cost_usd: cost,
            duration_ms: 100,
        },
        model_expected: expected,
    }
}

/// The OTLP log records of `events`, sequence numbers from `first`.
fn records(events: &[Event], first: u64) -> Vec<Value> {
    let requests: Vec<ApiRequest> = events.iter().map(|e| e.request.clone()).collect();
    let mut records = support::events::records(&requests, first);
    for (record, event) in records.iter_mut().zip(events) {
        if !event.model_expected.is_empty() {
            let attributes = record["attributes"].as_array_mut().unwrap();
            attributes.push(support::otlp_json::kv("model_expected", event.model_expected));
        }
    }
    records
}

/// Samples of the `tokenledger_ledger_*` figure families (not the exporter's health), `name{labels}` → value.
fn figures(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("tokenledger_ledger_"))
        .filter(|l| {
            !["tokenledger_ledger_up", "tokenledger_ledger_last_success", "tokenledger_ledger_refresh_"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("{l}")))
        })
        .collect()
}

/// The value of one sample line, `name{labels}` exactly as rendered.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// `k="v"` with the exposition format's escaping, written out independently of the relay's.
fn label(key: &str, value: &str) -> String {
    format!("{key}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// The cost series of a workflow.
fn cost_key(workflow_id: &str, workflow_path: &str) -> String {
    format!(
        "tokenledger_ledger_workflow_cost_usd{{{},{}}}",
        label("workflow_id", workflow_id),
        label("workflow_path", workflow_path)
    )
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct WorkflowRow {
    workflow_id: String,
    workflow_path: String,
    cost: f64,
    requests: u64,
    cache_hit: f64,
    active: u8,
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct KeyedRow {
    workflow_id: String,
    stage: String,
    key: String,
    value: f64,
}

/// What the exporter should show for `db`, computed here: the series it must render, `name{labels}` → value.
async fn expected(db: &TestDb, budgets: &dyn Fn(&str) -> Option<f64>, window_secs: u32) -> BTreeMap<String, f64> {
    let mut want = BTreeMap::new();
    // The path: the last non-empty one by time.
    let sql = format!(
        "SELECT workflow_id, \
         arrayElement(arrayFilter(p -> p != '', arrayMap(t -> t.2, arraySort(groupArray((timestamp, workflow_path))))), -1) \
         AS workflow_path, sum(cost_usd) AS cost, count() AS requests, \
         sum(cache_read_tokens) / sum(input_tokens + cache_read_tokens + cache_creation_tokens) AS cache_hit, \
         max(timestamp) > now() - INTERVAL {window_secs} SECOND AS active \
         FROM otel_api_request_events FINAL GROUP BY workflow_id"
    );
    let workflows: Vec<WorkflowRow> = db.client.query(&sql).fetch_all().await.unwrap();
    let mut paths = BTreeMap::new();
    for w in workflows.iter().filter(|w| w.active == 1) {
        let labels = format!("{},{}", label("workflow_id", &w.workflow_id), label("workflow_path", &w.workflow_path));
        want.insert(format!("tokenledger_ledger_workflow_cost_usd{{{labels}}}"), w.cost);
        want.insert(format!("tokenledger_ledger_workflow_requests{{{labels}}}"), w.requests as f64);
        want.insert(format!("tokenledger_ledger_workflow_cache_hit_ratio{{{labels}}}"), w.cache_hit);
        if let Some(budget) = budgets(&w.workflow_path) {
            want.insert(format!("tokenledger_ledger_workflow_budget_usd{{{labels}}}"), budget);
        }
        paths.insert(w.workflow_id.clone(), w.workflow_path.clone());
    }
    let stages: Vec<KeyedRow> = db
        .client
        .query(
            "SELECT workflow_id, stage, '' AS key, sum(cost_usd) AS value FROM otel_api_request_events FINAL \
             WHERE stage != '' GROUP BY workflow_id, stage",
        )
        .fetch_all()
        .await
        .unwrap();
    for s in stages.iter().filter(|s| paths.contains_key(&s.workflow_id)) {
        let labels = [
            label("workflow_id", &s.workflow_id),
            label("workflow_path", &paths[&s.workflow_id]),
            label("stage", &s.stage),
        ];
        want.insert(format!("tokenledger_ledger_stage_cost_usd{{{}}}", labels.join(",")), s.value);
    }
    let opus: Vec<KeyedRow> = db
        .client
        .query(
            "SELECT workflow_id, stage, model_expected AS key, countIf(model LIKE '%opus%') / count() AS value \
             FROM otel_api_request_events FINAL WHERE model_expected != '' GROUP BY workflow_id, stage, key",
        )
        .fetch_all()
        .await
        .unwrap();
    for o in opus.iter().filter(|o| paths.contains_key(&o.workflow_id)) {
        let labels = [
            label("workflow_id", &o.workflow_id),
            label("workflow_path", &paths[&o.workflow_id]),
            label("stage", &o.stage),
            label("model_expected", &o.key),
        ];
        want.insert(format!("tokenledger_ledger_opus_request_ratio{{{}}}", labels.join(",")), o.value);
    }
    // Today and this ISO week, by calendar (the relay compares with their start times).
    let day = db
        .number(
            "SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events FINAL \
             WHERE toDate(timestamp, 'UTC') = toDate(now(), 'UTC')",
        )
        .await;
    let week = db
        .number(
            "SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events FINAL \
             WHERE toStartOfWeek(timestamp, 1, 'UTC') = toStartOfWeek(now(), 1, 'UTC')",
        )
        .await;
    want.insert("tokenledger_ledger_spend_usd{period=\"day\"}".into(), day);
    want.insert("tokenledger_ledger_spend_usd{period=\"week\"}".into(), week);
    // The median of the last 7 days' per-(workflow, stage) costs, taken here in Rust.
    let recent: Vec<KeyedRow> = db
        .client
        .query(
            "SELECT workflow_id, stage, '' AS key, sum(cost_usd) AS value FROM otel_api_request_events FINAL \
             WHERE stage != '' AND timestamp > now() - INTERVAL 7 DAY GROUP BY workflow_id, stage",
        )
        .fetch_all()
        .await
        .unwrap();
    let mut per_stage: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &recent {
        per_stage.entry(r.stage.as_str()).or_default().push(r.value);
    }
    for (stage, mut costs) in per_stage {
        costs.sort_by(f64::total_cmp);
        let n = costs.len();
        let median = if n % 2 == 1 { costs[n / 2] } else { (costs[n / 2 - 1] + costs[n / 2]) / 2.0 };
        want.insert(format!("tokenledger_ledger_stage_median_cost_usd{{{}}}", label("stage", stage)), median);
    }
    want
}

/// Series the figure comparisons leave to the assertions of each test.
const BUDGETS: &[&str] = &["tokenledger_ledger_team_budget_usd", "tokenledger_ledger_series_omitted"];

/// Whether the exported figures are exactly `want` (as [`assert_figures`]), to wait for a refresh that saw all.
fn matches(text: &str, want: &BTreeMap<String, f64>, extra: &[&str]) -> bool {
    let got = figures(text);
    let got_keys: BTreeSet<&String> = got.keys().filter(|k| !extra.iter().any(|e| k.starts_with(e))).collect();
    got_keys == want.keys().collect() && want.iter().all(|(series, value)| close(got[series], *value))
}

/// Asserts the exported figures are exactly `want` (same series, values within float tolerance), `extra` aside.
fn assert_figures(text: &str, want: &BTreeMap<String, f64>, extra: &[&str]) {
    let got = figures(text);
    let got_keys: BTreeSet<&String> = got.keys().filter(|k| !extra.iter().any(|e| k.starts_with(e))).collect();
    let want_keys: BTreeSet<&String> = want.keys().collect();
    assert_eq!(got_keys, want_keys, "the exported series\n{text}");
    for (series, value) in want {
        assert!(close(got[series], *value), "{series}: exported {}, ClickHouse holds {value}", got[series]);
    }
}

/// Four workflows: two on the full path (one with a quote and a backslash in its id), one fast, and one whose
/// last request is two days old (outside the default one-day window, inside the week's median).
fn workload(now: i64) -> Vec<Event> {
    let quoted = "wf-\"q\\1";
    vec![
        event(now - 3 * HOUR_NS, "wf-full", "full", "analyze", SONNET, "sonnet", 0.0125),
        event(now - 3 * HOUR_NS + 1, "wf-full", "full", "plan", SONNET, "sonnet", 0.02),
        event(now - 2 * HOUR_NS, "wf-full", "full", "implement", OPUS, "sonnet", 0.31),
        event(now - 2 * HOUR_NS + 1, "wf-full", "full", "implement", SONNET, "sonnet", 0.04),
        event(now - HOUR_NS, "wf-full", "full", "review", OPUS, "opus", 0.5),
        event(now - HOUR_NS, "wf-fast", "fast", "implement", SONNET, "", 0.07),
        event(now - HOUR_NS + 1, "wf-fast", "fast", "review", SONNET, "sonnet", 0.03),
        event(now - 30 * 60_000_000_000, quoted, "full", "plan", SONNET, "", 0.015),
        event(now - 20 * 60_000_000_000, quoted, "", "implement", OPUS, "sonnet", 0.2),
        event(now - 48 * HOUR_NS, "wf-old", "full", "implement", SONNET, "sonnet", 0.11),
        event(now - 47 * HOUR_NS, "wf-old", "full", "review", SONNET, "", 0.09),
    ]
}

#[tokio::test]
async fn the_figures_are_what_clickhouse_holds_with_budgets_window_and_redeliveries() {
    let db = fresh_database("ledger_figures").await;
    let config = "[budgets]\nweekly_usd = 0\n[budgets.workflow_path_usd]\nfast = 0.25\n";
    let env = [("TOKENLEDGER_BUDGETS__WORKFLOW_USD", "0.75"), ("TOKENLEDGER_BUDGETS__DAILY_USD", "3.5")];
    let relay = Serve::start(&db.url, &db.name, &env, Some(config));
    let events = workload(now_ns());
    relay.post(&records(&events, 1)).await;
    // The same records again, as a collector retrying a request whose answer it lost.
    relay.post(&records(&events, 1)).await;

    // And a copy written past the relay's memory (another relay, or one restarted after its window): rows with
    // the same key on disk twice until a merge folds them; the figures read the folded state.
    db.run_sql(
        "INSERT INTO otel_api_request_events SELECT * FROM otel_api_request_events WHERE workflow_id = 'wf-fast'",
        &[],
    )
    .await;
    let raw = db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await;
    let sent_once = events.len() as f64;
    assert!(raw > sent_once, "the copy is on disk unmerged: {raw} rows");
    let stored = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await;
    assert_eq!(stored, sent_once, "ClickHouse holds each record once");
    let budgets = |path: &str| match path {
        "fast" => Some(0.25),
        _ => Some(0.75),
    };
    let want = expected(&db, &budgets, 86_400).await;
    let text = relay.wait_for("the figures of every active workflow", |t| matches(t, &want, BUDGETS)).await;
    assert_figures(&text, &want, BUDGETS);

    // Redelivery counted once: the requests exported are the events sent once, per workflow.
    for workflow in ["wf-full", "wf-fast"] {
        let sent = events.iter().filter(|e| e.request.workflow_id == workflow).count() as f64;
        let prefix = format!("tokenledger_ledger_workflow_requests{{{},", label("workflow_id", workflow));
        let exported: f64 = figures(&text).iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v).sum();
        assert_eq!(exported, sent, "{workflow}");
    }
    let outside = figures(&text).into_keys().filter(|k| k.contains("wf-old")).collect::<Vec<_>>();
    assert!(outside.is_empty(), "a workflow last active two days ago is outside the one-day window: {outside:?}");
    assert!(
        text.contains(&format!("tokenledger_ledger_workflow_cost_usd{{{},", label("workflow_id", "wf-\"q\\1"))),
        "the quoted id is escaped: {text}"
    );
    // The path of a workflow is its latest non-empty one (its last request carried none).
    assert!(text.contains(&format!("{},{}", label("workflow_id", "wf-\"q\\1"), label("workflow_path", "full"))));
    assert_eq!(value(&text, "tokenledger_ledger_team_budget_usd{period=\"day\"}"), Some(3.5), "env budget");
    assert!(!text.contains("tokenledger_ledger_team_budget_usd{period=\"week\"}"), "0 in the file: no budget");
    assert_eq!(value(&text, "tokenledger_ledger_series_omitted"), Some(0.0));
    assert_eq!(value(&text, "tokenledger_ledger_up"), Some(1.0));
    assert_eq!(value(&text, "tokenledger_ledger_refresh_errors_total"), Some(0.0));
    let last = value(&text, "tokenledger_ledger_last_success_timestamp_seconds").expect("a last success");
    assert!((now_ns() as f64 / 1e9 - last).abs() < 60.0, "last success {last} is recent");
    assert!(value(&text, "tokenledger_ledger_refresh_duration_seconds_count").unwrap() >= 1.0);

    // promtool checks the whole scrape: the relay's own metrics and the ledger's, HELP and TYPE included.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; `make deps` installs it)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
    // The relay's per-process cost figure is a gauge without a counter's suffix now.
    assert!(text.contains("# TYPE tokenledger_committed_cost_usd gauge"), "{text}");
    assert!(!text.contains("tokenledger_cost_usd_total"));

    // Workflows leave the window: with a 45-minute window only the quoted one (20 minutes ago) remains.
    drop(relay);
    let relay = Serve::start(&db.url, &db.name, &[("TOKENLEDGER_LEDGER_EXPORT__ACTIVE_WINDOW_SECS", "2700")], None);
    let want = expected(&db, &|_| Some(10.0), 2_700).await;
    let text = relay.wait_for("the figures of the shorter window", |t| matches(t, &want, BUDGETS)).await;
    assert_figures(&text, &want, BUDGETS);
    let ledger = figures(&text).into_keys().collect::<Vec<_>>().join("\n");
    assert!(
        !ledger.contains("\"wf-full\"") && !ledger.contains("\"wf-fast\"") && ledger.contains("wf-\\\"q"),
        "{text}"
    );
}

#[tokio::test]
async fn the_cap_keeps_the_most_recently_active_workflows_and_counts_the_rest() {
    let db = fresh_database("ledger_cap").await;
    let relay = Serve::start(&db.url, &db.name, &[("TOKENLEDGER_LEDGER_EXPORT__MAX_WORKFLOWS", "2")], None);
    let now = now_ns();
    let events: Vec<Event> = (0..5)
        .map(|i| event(now - (i + 1) * HOUR_NS, &format!("wf-{i}"), "full", "plan", SONNET, "", 0.01 * (i + 1) as f64))
        .collect();
    relay.post(&records(&events, 1)).await;
    let active = db
        .number(
            "SELECT toFloat64(uniqExact(workflow_id)) FROM otel_api_request_events FINAL \
             WHERE timestamp > now() - INTERVAL 1 DAY",
        )
        .await;
    let text = relay
        .wait_for("the capped figures", |t| value(t, "tokenledger_ledger_series_omitted") == Some(active - 2.0))
        .await;
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("tokenledger_ledger_workflow_cost_usd{"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    // The two latest by their last request, read from ClickHouse.
    let latest: Vec<String> = db
        .client
        .query("SELECT workflow_id FROM otel_api_request_events FINAL GROUP BY workflow_id ORDER BY max(timestamp) DESC LIMIT 2")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(exported, latest.iter().map(String::as_str).collect(), "{text}");
}

#[tokio::test]
async fn two_relays_on_one_clickhouse_export_identical_figures() {
    let db = fresh_database("ledger_twins").await;
    let one = Serve::start(&db.url, &db.name, &[], None);
    let two = Serve::start(&db.url, &db.name, &[], None);
    let events = workload(now_ns());
    // Each relay receives half of the records: neither saw all of them.
    let (first, second) = events.split_at(events.len() / 2);
    one.post(&records(first, 1)).await;
    two.post(&records(second, 1_000)).await;
    let want = expected(&db, &|_| Some(10.0), 86_400).await;
    let settled = |t: &str| matches(t, &want, BUDGETS);
    let a = one.wait_for("relay one's figures", settled).await;
    let b = two.wait_for("relay two's figures", settled).await;
    assert_figures(&a, &want, BUDGETS);
    assert_eq!(figures(&a), figures(&b), "the ledger lines of both relays");
}

#[tokio::test]
async fn a_clickhouse_outage_keeps_the_figures_marks_them_stale_and_counts_errors() {
    // A ClickHouse of this test's own, on a data directory, so it can be stopped and started again.
    let data = std::env::temp_dir().join(format!("ledger-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let (mut front, port) = support::clickhouse::start_front(Some(&data));
    let url = format!("http://127.0.0.1:{port}");
    let database = "ledger_outage";
    let admin = clickhouse::Client::default().with_url(&url);
    admin.query(&format!("CREATE DATABASE IF NOT EXISTS {database}")).execute().await.unwrap();
    let relay = Serve::start(&url, database, &[], None);
    let events = workload(now_ns());
    relay.post(&records(&events, 1)).await;
    let client = admin.with_database(database);
    let stored: f64 = client
        .query("SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events FINAL WHERE workflow_id = 'wf-full'")
        .fetch_one()
        .await
        .unwrap();
    let key = cost_key("wf-full", "full");
    let before = relay.wait_for("the figures", |t| figures(t).get(&key).is_some_and(|v| close(*v, stored))).await;

    front.kill().unwrap();
    front.wait().unwrap();
    let during = relay
        .wait_for("stale figures", |t| {
            value(t, "tokenledger_ledger_up") == Some(0.0)
                && value(t, "tokenledger_ledger_refresh_errors_total").is_some_and(|n| n >= 2.0)
        })
        .await;
    assert_eq!(figures(&during), figures(&before), "the last figures stay, not zeros");
    let log = std::fs::read_to_string(&relay.log).unwrap();
    assert!(log.contains("ledger refresh failed") && log.contains(&url), "a warning with the error: {log}");

    let (_front, _) = support::clickhouse::start_front_on(Some(&data), port);
    let after = relay.wait_for("figures up again", |t| value(t, "tokenledger_ledger_up") == Some(1.0)).await;
    assert_eq!(figures(&after), figures(&before));
    let errors = value(&after, "tokenledger_ledger_refresh_errors_total").unwrap();
    assert!(errors >= 2.0, "the counter keeps the failures: {errors}");
    drop(relay);
    let _ = std::fs::remove_dir_all(&data);
}
