//! The stack's collector side, with the real collector (built from tests/otelcol/manifest.yaml at the release
//! docker-compose.yml pins, `make deps`) running the SHIPPED ./otel-collector-config.yaml, only its `${env:...}`
//! placeholders set to loopback ports and a temporary queue directory (`validate` of that file:
//! tests/stack_collector_config.rs):
//!
//! - the real Claude Code CLI, configured by README.md's settings.json block (only the endpoint's port changed),
//!   runs a workflow of separate `claude -p` runs per stage plus one run delegating to a custom subagent; gRPC →
//!   collector → otlp_http → an in-process relay → ClickHouse. Per workflow, stage and agent, ClickHouse (read
//!   with `final = 1`, the reader profile's setting) holds the tokens and cost the CLI reported
//!   (`--output-format json`) and the fake API served;
//! - the collector is stopped (SIGTERM, as `docker stop`) while the relay is down: its queue is on disk, the
//!   restarted collector reloads it, and once the relay is back every request lands once.
//!
//! Nothing expected is hard-coded: figures come from the CLI's results and the fake's `GET /_requests`.
//! Skipped, with a message, when the collector or the CLI is missing, unless CI is set (then it fails).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::Deserialize;
use support::claude::{self, ClaudeRun, CliResult, FakeAnthropic, OtlpProtocol, ServedRequest};
use support::clickhouse::{fresh_database, TestDb};
use support::collector::{self, eventually, Collector, RETRY_LOG};
use support::figures::{costs_equal, Figures};
use support::stack::{self, CollectorEnv};

/// How long the collector, the relay and ClickHouse get for any one step.
const PATIENCE: Duration = Duration::from_secs(60);

/// The custom subagent of the last run; the relay's default config maps it to stage `review`.
const REVIEWER: &str = "reviewer";

// ------------------------------------------------------------------------------------------------
// The workflow

/// One `claude -p` run of a workflow.
#[derive(Debug, Clone)]
struct Step {
    name: &'static str,
    /// `stage` in OTEL_RESOURCE_ATTRIBUTES; None for the orchestrator (its subagent's stage comes from the relay's
    /// agent → stage map).
    stage: Option<&'static str>,
    /// `agent` in OTEL_RESOURCE_ATTRIBUTES.
    agent: &'static str,
    model: &'static str,
    /// With the fake's directives: `[[bash:CMD]]` runs Bash, `[[agent:TYPE:PROMPT]]` delegates.
    prompt: String,
}

fn step(
    name: &'static str,
    stage: Option<&'static str>,
    agent: &'static str,
    model: &'static str,
    prompt: &str,
) -> Step {
    Step { name, stage, agent, model, prompt: prompt.to_string() }
}

/// Within a run every model serves one agent (the reviewer has a model of its own), so the CLI's per-model figures
/// are per-agent figures.
fn workflow_steps() -> Vec<Step> {
    vec![
        step("analyze", Some("analyze"), "analyst", "opus", "Analyze the repository."),
        step("plan", Some("plan"), "planner", "sonnet", "Plan the change."),
        step(
            "implement",
            Some("implement"),
            "implementer",
            "claude-sonnet-4-5-20250929",
            "Implement. [[bash:echo ok]]",
        ),
        step(
            "orchestrate",
            None,
            "orchestrator",
            "sonnet",
            &format!("Have it reviewed. [[agent:{REVIEWER}:Review the change. [[bash:echo reviewed]]]]"),
        ),
    ]
}

/// The CLI, the fake API and a working directory with the custom subagent.
struct Cli {
    bin: std::path::PathBuf,
    fake: FakeAnthropic,
    workdir: tempfile::TempDir,
}

impl Cli {
    fn start(bin: std::path::PathBuf) -> Cli {
        let workdir = tempfile::tempdir().unwrap();
        claude::write_custom_agent(
            workdir.path(),
            REVIEWER,
            "Reviews changes. Use it when asked to review.",
            "Bash, Read",
            "haiku",
            "You are a code reviewer. Run the commands you are asked to run and report briefly.",
        );
        Cli { bin, fake: FakeAnthropic::start(), workdir }
    }

    /// Runs `step` configured by README.md's settings.json with the collector's gRPC port; returns the CLI's
    /// result and what the fake served that session.
    async fn run(&self, step: &Step, workflow_id: &str, grpc_port: u16) -> (CliResult, Vec<ServedRequest>) {
        let settings = readme_settings_for(grpc_port);
        let task_id = format!("{workflow_id}.{}", step.name);
        let mut attributes = vec![("workflow_id", workflow_id), ("task_id", task_id.as_str())];
        if let Some(stage) = step.stage {
            attributes.push(("stage", stage));
        }
        attributes.push(("agent", step.agent));
        let endpoint = ([127, 0, 0, 1], grpc_port).into();
        let run = ClaudeRun::new(
            &self.bin,
            self.workdir.path(),
            &self.fake,
            OtlpProtocol::Grpc,
            endpoint,
            step.model,
            &step.prompt,
        )
        .resource_attributes(&attributes)
        .settings_json(settings);
        let finished = run.run().await;
        let served = self.fake.requests_of_session(&finished.result.session_id).await;
        assert!(!served.is_empty(), "{}: the fake served nothing to {}", step.name, finished.result.session_id);
        eprintln!(
            "{}: claude -p ran {:.2?}, {} API requests, ${}",
            step.name,
            finished.elapsed,
            served.len(),
            finished.result.total_cost_usd
        );
        (finished.result, served)
    }
}

/// README.md's settings.json block with only the endpoint's port replaced; it must say gRPC (the path tested).
fn readme_settings_for(grpc_port: u16) -> serde_json::Value {
    let settings = stack::with_endpoint_port(stack::readme_settings(), grpc_port);
    assert_eq!(settings["env"]["OTEL_EXPORTER_OTLP_PROTOCOL"], "grpc", "README's settings.json: {settings}");
    settings
}

// ------------------------------------------------------------------------------------------------
// What ClickHouse must hold

/// Where a request's tokens belong: (workflow_id, stage, agent).
type Key = (String, String, String);

/// What the runs reported, arranged as ClickHouse must hold it.
#[derive(Default)]
struct Expected {
    /// Per (workflow, stage, agent): request counts and tokens from the fake, cost from the CLI's modelUsage.
    figures: BTreeMap<Key, Figures>,
    /// Every served request_id with its key and tokens [input, output, cache read, cache creation].
    requests: BTreeMap<String, (Key, [u64; 4])>,
    /// Sum of the runs' total_cost_usd.
    total_cost_usd: f64,
    /// Runs (each sends one claude_code.session.count point).
    runs: usize,
}

impl Expected {
    /// Adds one run. The fake says which request belonged to whom; the CLI's modelUsage must agree with the fake's
    /// tokens per model and gives each model's cost, which belongs to the one agent that used that model.
    fn add(
        &mut self,
        step: &Step,
        workflow_id: &str,
        result: &CliResult,
        served: &[ServedRequest],
        stages: &BTreeMap<String, String>,
    ) {
        let mut per_model: BTreeMap<&str, (BTreeSet<Key>, Figures)> = BTreeMap::new();
        for request in served {
            let (stage, agent) = match (request.role.as_str(), &request.agent_type) {
                ("subagent", Some(agent)) => (stages.get(agent).cloned().unwrap_or_default(), agent.clone()),
                ("main", _) => (step.stage.unwrap_or_default().to_string(), step.agent.to_string()),
                _ => panic!("{}: a request the workflow did not script: {request:?}", step.name),
            };
            let key = (workflow_id.to_string(), stage, agent);
            let u = request.usage;
            let tokens = [u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens];
            let (keys, figures) = per_model.entry(&request.model).or_default();
            keys.insert(key.clone());
            *figures += Figures {
                requests: 1,
                input_tokens: tokens[0],
                output_tokens: tokens[1],
                cache_read_tokens: tokens[2],
                cache_creation_tokens: tokens[3],
                cost_usd: 0.0,
            };
            assert!(self.requests.insert(request.request_id.clone(), (key, tokens)).is_none(), "request_id twice");
        }
        let reported: BTreeSet<&str> = result.model_usage.keys().map(String::as_str).collect();
        assert_eq!(reported, per_model.keys().copied().collect(), "{}: models the CLI reported vs served", step.name);
        for (model, usage) in &result.model_usage {
            let (keys, served_figures) = &per_model[model.as_str()];
            let [key] = &keys.iter().collect::<Vec<_>>()[..] else {
                panic!("{}: model {model} served several agents {keys:?}", step.name)
            };
            let cli = [
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
            ];
            assert_eq!(
                cli,
                served_figures.tokens()[1..],
                "{}: the CLI's {model} tokens vs what the fake served",
                step.name
            );
            *self.figures.entry((*key).clone()).or_default() += Figures { cost_usd: usage.cost_usd, ..*served_figures };
        }
        let model_costs: f64 = result.model_usage.values().map(|u| u.cost_usd).sum();
        assert!(costs_equal(model_costs, result.total_cost_usd), "{}: modelUsage costs vs total_cost_usd", step.name);
        self.total_cost_usd += result.total_cost_usd;
        self.runs += 1;
    }

    fn by(&self, key: impl Fn(&Key) -> String) -> BTreeMap<String, Figures> {
        let mut grouped: BTreeMap<String, Figures> = BTreeMap::new();
        for (k, figures) in &self.figures {
            *grouped.entry(key(k)).or_default() += *figures;
        }
        grouped
    }
}

/// A client that reads as the reader profile does: the setting `final = 1`, plain SELECTs, no FINAL keyword.
fn reader(db: &TestDb) -> clickhouse::Client {
    db.client.clone().with_setting("final", "1")
}

#[derive(Debug, Row, Deserialize)]
struct FiguresRow {
    key: String,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_creation_tokens: u64,
    cost_usd: f64,
}

/// Sums over otel_api_request_events grouped by an expression, read with `final = 1`.
async fn figures_by(db: &TestDb, expression: &str) -> BTreeMap<String, Figures> {
    let sql = format!(
        "SELECT toString({expression}) AS key, count() AS requests, sum(input_tokens) AS input_tokens, \
         sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, \
         sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd \
         FROM otel_api_request_events GROUP BY key ORDER BY key"
    );
    let rows = reader(db).query(&sql).fetch_all::<FiguresRow>().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            let f = Figures {
                requests: r.requests,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cache_read_tokens: r.cache_read_tokens,
                cache_creation_tokens: r.cache_creation_tokens,
                cost_usd: r.cost_usd,
            };
            (r.key, f)
        })
        .collect()
}

fn assert_figures(what: &str, got: &BTreeMap<String, Figures>, want: &BTreeMap<String, Figures>) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: groups\n{got:#?}\n{want:#?}");
    for (key, w) in want {
        let g = &got[key];
        assert!(
            g.tokens() == w.tokens() && costs_equal(g.cost_usd, w.cost_usd),
            "{what} {key:?}:\nClickHouse {g:?}\nCLI/fake   {w:?}"
        );
    }
}

#[derive(Debug, Row, Deserialize)]
struct Landed {
    request_id: String,
    workflow_id: String,
    stage: String,
    agent: String,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_creation_tokens: u64,
}

/// Every served request has exactly one row (read with `final = 1`) with its attribution and the fake's tokens,
/// and there is no other row; per workflow, stage and agent the sums equal the CLI's figures; the workflow_summary
/// view agrees; the claude_code.session.count metric has one point per run. Returns the raw (unmerged) and the
/// `final = 1` row counts of otel_api_request_events.
async fn assert_clickhouse_holds(db: &TestDb, expected: &Expected) -> (u64, u64) {
    let sql = "SELECT request_id, toString(workflow_id) AS workflow_id, toString(stage) AS stage, \
               toString(agent) AS agent, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens \
               FROM otel_api_request_events ORDER BY request_id";
    let rows = reader(db).query(sql).fetch_all::<Landed>().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut landed: BTreeMap<String, (Key, [u64; 4])> = BTreeMap::new();
    for r in rows {
        let value = (
            (r.workflow_id, r.stage, r.agent),
            [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens],
        );
        assert!(
            landed.insert(r.request_id.clone(), value).is_none(),
            "request {} has two rows with final = 1",
            r.request_id
        );
    }
    assert_eq!(landed, expected.requests, "api_request rows (final = 1) vs the requests the fake served");

    assert_figures("per workflow", &figures_by(db, "workflow_id").await, &expected.by(|k| k.0.clone()));
    assert_figures(
        "per stage",
        &figures_by(db, "(workflow_id, stage)").await,
        &expected.by(|k| format!("('{}','{}')", k.0, k.1)),
    );
    assert_figures(
        "per agent",
        &figures_by(db, "(workflow_id, agent)").await,
        &expected.by(|k| format!("('{}','{}')", k.0, k.2)),
    );
    let total = reader(db)
        .query("SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events")
        .fetch_one::<f64>()
        .await
        .unwrap();
    assert!(
        costs_equal(total, expected.total_cost_usd),
        "sum(cost_usd) {total} vs the runs' total_cost_usd {}",
        expected.total_cost_usd
    );
    let summary = reader(db)
        .query("SELECT toFloat64(sum(total_cost_usd)), toUInt64(sum(api_requests)) FROM workflow_summary")
        .fetch_one::<(f64, u64)>()
        .await
        .unwrap();
    assert!(
        costs_equal(summary.0, expected.total_cost_usd) && summary.1 == expected.requests.len() as u64,
        "workflow_summary {summary:?} vs the CLI's ${} in {} requests",
        expected.total_cost_usd,
        expected.requests.len()
    );
    let sessions = session_points(db).await;
    assert_eq!(
        sessions, expected.runs as f64,
        "claude_code.session.count: one point per run, metrics went through too"
    );

    let raw = db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await as u64;
    let deduplicated =
        reader(db).query("SELECT count() FROM otel_api_request_events").fetch_one::<u64>().await.unwrap();
    (raw, deduplicated)
}

async fn session_points(db: &TestDb) -> f64 {
    reader(db)
        .query("SELECT toFloat64(sum(value)) FROM otel_metrics WHERE metric_name = 'claude_code.session.count'")
        .fetch_one::<f64>()
        .await
        .unwrap()
}

/// Waits until every served request has a row and every run its session.count point (read with `final = 1`).
async fn wait_for(db: &TestDb, expected: &Expected) -> Duration {
    let started = Instant::now();
    eventually("the workflow's rows in ClickHouse", PATIENCE, || async {
        let requests =
            reader(db).query("SELECT count() FROM otel_api_request_events").fetch_one::<u64>().await.unwrap();
        let sessions = session_points(db).await;
        if requests >= expected.requests.len() as u64 && sessions >= expected.runs as f64 {
            Ok(())
        } else {
            Err(format!("{requests} of {} requests, {sessions} of {} sessions", expected.requests.len(), expected.runs))
        }
    })
    .await;
    started.elapsed()
}

fn unique_workflow_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The collector's own account: records accepted, sent, given up, waiting (its Prometheus metrics).
async fn account(collector: &Collector) -> String {
    let mut parts = Vec::new();
    for name in [
        "otelcol_receiver_accepted_log_records",
        "otelcol_receiver_accepted_metric_points",
        "otelcol_exporter_sent_log_records",
        "otelcol_exporter_sent_metric_points",
        "otelcol_exporter_send_failed_log_records",
        "otelcol_exporter_send_failed_metric_points",
        "otelcol_exporter_queue_size",
    ] {
        // The relay's exporter only (the shipped config also writes metrics to Prometheus). An absent series
        // (nothing failed yet) sums to -0.0: print whole numbers.
        let value = if name.starts_with("otelcol_exporter_") {
            collector.exporter_metric(name, "otlp_http").await
        } else {
            collector.metric(name).await
        };
        parts.push(format!("{} {}", name.trim_start_matches("otelcol_"), value.abs()));
    }
    parts.join(", ")
}

/// How many lines of a log file contain `text`.
fn lines_containing(log: &Path, text: &str) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains(text)).count()
}

/// Starts the shipped config and waits until its pipelines run and health_check answers 200.
async fn start_collector(bin: &Path, env: &CollectorEnv) -> Collector {
    let collector = env.start(bin);
    collector.wait_ready(PATIENCE).await;
    eventually("health_check to answer 200", PATIENCE, || async {
        match env.health().await {
            Some(200) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    collector
}

// ------------------------------------------------------------------------------------------------
// The tests with the CLI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_through_the_shipped_collector_lands_in_clickhouse_as_the_cli_reported_it() {
    let test = "stack_collector_workflow";
    let Some(bin) = collector::built_binary_or_skip(test) else { return };
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let started = Instant::now();

    let db = fresh_database(test).await;
    db.apply_schema().await;
    let config = db.config();
    let relay = support::relay::start(config.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let env = CollectorEnv::new(&format!("http://{}", relay.http), queue.path());
    let collector = start_collector(&bin, &env).await;
    // The OTLP/HTTP receiver listens where OTELCOL_HTTP_ENDPOINT says (validate cannot tell: see
    // tests/stack_collector_config.rs); an empty export is a valid one.
    let http = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/logs", env.http_port))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("the OTLP/HTTP receiver on port {}: {e}", env.http_port));
    assert_eq!(http.status(), 200, "an empty OTLP/HTTP export to the collector");
    let cli = Cli::start(cli);

    let workflow_id = unique_workflow_id("wf-stack");
    let mut expected = Expected::default();
    for step in workflow_steps() {
        let (result, served) = cli.run(&step, &workflow_id, env.grpc_port).await;
        expected.add(&step, &workflow_id, &result, &served, &config.stages);
    }
    let stages: BTreeSet<String> = expected.figures.keys().map(|k| k.1.clone()).filter(|s| !s.is_empty()).collect();
    assert_eq!(stages, ["analyze", "implement", "plan", "review"].map(String::from).into(), "stages covered");
    assert!(expected.figures.keys().any(|k| k.2 == REVIEWER), "the subagent's requests are the reviewer's");

    let waited = wait_for(&db, &expected).await;
    let (raw, deduplicated) = assert_clickhouse_holds(&db, &expected).await;
    let account = account(&collector).await;
    eprintln!(
        "{test}: {} requests, ${}; rows complete {waited:.2?} after the last run; api_request rows raw {raw}, \
         final {deduplicated}; collector: {account}; total {:.2?}",
        expected.requests.len(),
        expected.total_cost_usd,
        started.elapsed()
    );
    assert_eq!(
        collector.exporter_metric("otelcol_exporter_send_failed_log_records", "otlp_http").await,
        0.0,
        "{account}"
    );
    assert_eq!(
        collector.metric("otelcol_receiver_accepted_log_records").await,
        collector.exporter_metric("otelcol_exporter_sent_log_records", "otlp_http").await,
        "every log record the collector accepted was sent: {account}"
    );

    let (took, status) = collector.terminate(PATIENCE);
    eprintln!("{test}: the collector stopped {took:.2?} after SIGTERM ({status})");
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_stopped_while_the_relay_is_down_delivers_its_disk_queue_once_after_restart() {
    let test = "stack_collector_restart";
    let Some(bin) = collector::built_binary_or_skip(test) else { return };
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let started = Instant::now();

    let db = fresh_database(test).await;
    db.apply_schema().await;
    let config = db.config();
    let relay_port = collector::free_port();
    let relay = support::relay::start_on(config.clone(), relay_port).await;
    let queue = tempfile::tempdir().unwrap();
    let env = CollectorEnv::new(&format!("http://127.0.0.1:{relay_port}"), queue.path());
    let collector = start_collector(&bin, &env).await;
    let cli = Cli::start(cli);
    let workflow_id = unique_workflow_id("wf-restart");
    let steps = workflow_steps();
    let mut expected = Expected::default();

    // 1. Everything up: the analyze run lands.
    let (result, served) = cli.run(&steps[0], &workflow_id, env.grpc_port).await;
    expected.add(&steps[0], &workflow_id, &result, &served, &config.stages);
    wait_for(&db, &expected).await;
    let before_outage = expected.requests.len();

    // 2. The relay goes down; the implement run exports to the collector, which accepts, fails to deliver and
    //    keeps retrying. Then the collector is stopped like `docker stop` does it.
    relay.shutdown().await;
    // The retry log lines of one signal's exporter (the collector logs `"otelcol.signal": "logs"` on them).
    let retries = |signal: &str| {
        let field = format!("\"otelcol.signal\": \"{signal}\"");
        collector.log_text().lines().filter(|l| l.contains(RETRY_LOG) && l.contains(&field)).count()
    };
    let retries_before = (retries("logs"), retries("metrics"));
    let accepted_before = collector.metric("otelcol_receiver_accepted_log_records").await;
    let points_before = collector.metric("otelcol_receiver_accepted_metric_points").await;
    let (result, served) = cli.run(&steps[2], &workflow_id, env.grpc_port).await;
    expected.add(&steps[2], &workflow_id, &result, &served, &config.stages);
    let accepted = eventually("the collector to accept the run and fail to deliver it", PATIENCE, || async {
        collector.assert_running();
        let accepted = collector.metric("otelcol_receiver_accepted_log_records").await - accepted_before;
        let points = collector.metric("otelcol_receiver_accepted_metric_points").await - points_before;
        let failed = (retries("logs") - retries_before.0, retries("metrics") - retries_before.1);
        // Both signals' exports have been tried and failed: the records have left the batch processor.
        if accepted > 0.0 && points > 0.0 && failed.0 > 0 && failed.1 > 0 {
            Ok(accepted)
        } else {
            Err(format!(
                "{accepted} records and {points} points accepted, (logs, metrics) retries {failed:?}; {}",
                account(&collector).await
            ))
        }
    })
    .await;
    let held = account(&collector).await;
    let held_records = collector.metric("otelcol_receiver_accepted_log_records").await
        - collector.exporter_metric("otelcol_exporter_sent_log_records", "otlp_http").await;
    let held_points = collector.metric("otelcol_receiver_accepted_metric_points").await
        - collector.exporter_metric("otelcol_exporter_sent_metric_points", "otlp_http").await;
    let log = collector.log.clone();
    let (took, status) = collector.terminate(PATIENCE);
    assert!(status.success(), "the collector's exit after SIGTERM: {status}");
    // 0.160 logs the requests it was retrying at shutdown as dropped, yet keeps them in the persistent queue.
    let said_dropped = lines_containing(&log, "interrupted due to shutdown");
    let rows_while_down =
        reader(&db).query("SELECT count() FROM otel_api_request_events").fetch_one::<u64>().await.unwrap();
    assert_eq!(rows_while_down, before_outage as u64, "nothing of the implement run got through the outage");

    // While it is stopped, the implement run's records are in the storage directory, one bbolt file per
    // exporter and signal, as protobuf: its session id is in the logs and the metrics queue files.
    let session = result.session_id.as_bytes();
    let files: Vec<(String, u64, bool)> = std::fs::read_dir(queue.path())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            let holds = bytes.windows(session.len()).any(|w| w == session);
            (e.file_name().to_string_lossy().into_owned(), bytes.len() as u64, holds)
        })
        .collect();
    eprintln!(
        "{test}: stopped {took:.2?} after SIGTERM holding {held_records} log records of {accepted} accepted during the \
         outage ({held}); {said_dropped} log line(s) said 'Dropping data ... interrupted due to shutdown'; queue \
         files (name, bytes, holds session {}) {files:?}",
        result.session_id
    );
    assert_eq!(held_records, accepted, "the collector held every record it accepted during the outage");
    for signal in ["logs", "metrics"] {
        assert!(
            files.iter().any(|(name, _, holds)| *name == format!("exporter_otlp_http__{signal}") && *holds),
            "the {signal} queue file in {} holds session {}: {files:?}",
            queue.path().display(),
            result.session_id
        );
    }

    // 3. Both restart, the collector first: a new process reads the queue from disk while the relay is still
    //    down (its queue_size says so), then the relay comes back on the same port and the queue drains.
    let collector = start_collector(&bin, &env).await;
    let reloaded = eventually("the restarted collector to report its reloaded queue", PATIENCE, || async {
        let size = collector.exporter_metric("otelcol_exporter_queue_size", "otlp_http").await;
        if size > 0.0 {
            Ok(size)
        } else {
            Err(account(&collector).await)
        }
    })
    .await;
    let relay = support::relay::start_on(config.clone(), relay_port).await;
    let drained = wait_for(&db, &expected).await;
    eventually("the restarted collector's queue to drain", PATIENCE, || async {
        let size = collector.exporter_metric("otelcol_exporter_queue_size", "otlp_http").await;
        if size == 0.0 {
            Ok(())
        } else {
            Err(account(&collector).await)
        }
    })
    .await;

    // 4. And the pipeline works on: the plan run lands too.
    let (result, served) = cli.run(&steps[1], &workflow_id, env.grpc_port).await;
    expected.add(&steps[1], &workflow_id, &result, &served, &config.stages);
    wait_for(&db, &expected).await;

    let (raw, deduplicated) = assert_clickhouse_holds(&db, &expected).await;
    let account = account(&collector).await;
    eprintln!(
        "{test}: restarted collector reloaded {reloaded} queued requests; rows complete {drained:.2?} after the relay \
         came back; {} requests in all; api_request rows raw {raw}, final {deduplicated}; collector: {account}; \
         total {:.2?}",
        expected.requests.len(),
        started.elapsed()
    );
    assert_eq!(deduplicated, expected.requests.len() as u64);
    assert!(raw >= deduplicated);
    // The restarted collector's own account: it sent what it accepted itself plus exactly what the first one held.
    let sent = collector.exporter_metric("otelcol_exporter_sent_log_records", "otlp_http").await;
    let accepted_after = collector.metric("otelcol_receiver_accepted_log_records").await;
    assert_eq!(sent - accepted_after, held_records, "records sent from the reloaded queue: {account}");
    let sent = collector.exporter_metric("otelcol_exporter_sent_metric_points", "otlp_http").await;
    let accepted_after = collector.metric("otelcol_receiver_accepted_metric_points").await;
    assert!(held_points > 0.0, "the first collector held metric points too");
    assert_eq!(sent - accepted_after, held_points, "metric points sent from the reloaded queue: {account}");
    for name in ["otelcol_exporter_send_failed_log_records", "otelcol_exporter_send_failed_metric_points"] {
        assert_eq!(collector.exporter_metric(name, "otlp_http").await, 0.0, "{name}: {account}");
    }

    collector.terminate(PATIENCE);
    relay.shutdown().await;
}
