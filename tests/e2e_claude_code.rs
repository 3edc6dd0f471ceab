//! End to end with the real Claude Code CLI (2.1.331, installed by `make deps`): one workflow of four `claude -p`
//! runs against the scripted Anthropic Messages API (tests/support/fake_anthropic.py), each exporting its
//! OpenTelemetry (CLAUDE_CODE_ENABLE_TELEMETRY=1) straight to one in-process relay that writes to ClickHouse:
//!
//! | run | OTLP protocol | OTEL_RESOURCE_ATTRIBUTES | what the model does |
//! |---|---|---|---|
//! | analyze | grpc | stage=analyze, agent=analyst | answers (opus) |
//! | plan | http/protobuf | stage=plan, agent=planner | answers (sonnet) |
//! | implement | http/json | stage=implement, agent=implementer | runs Bash, then answers (sonnet 4.5) |
//! | orchestrate | http/protobuf | stage=implement, agent=orchestrator | hands a review to the custom subagent `reviewer` (.claude/agents/reviewer.md, haiku), which runs Bash |
//!
//! It proves that ClickHouse then holds what the CLI itself reported: per workflow (workflow_summary), per stage
//! and per agent (sums over otel_api_request_events FINAL, stage_performance), per model and stage
//! (model_cost_comparison), tokens exactly and cost within 1e-9 relative; that every request the API served
//! landed once, with its run's stage and agent, or for the subagent's requests with agent `reviewer` and the stage
//! the relay's default agent → stage map gives it (`review`), over the `implement` its parent run was started with
//! (issue 8); that the Bash call has its tool_result row under
//! the implement stage, the reviewer its subagent_completed row, and that the DELTA metrics
//! (claude_code.cost.usage, token.usage, session.count) add up to the same totals.
//!
//! Nothing expected is hard-coded: tokens and cost per model come from each run's `--output-format json` result,
//! and which request belonged to which agent from the fake's record of what it served (`GET /_requests`).
//! Skipped, with a message, when the CLI is not installed, unless CI is set (then it fails).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::Deserialize;
use support::claude::{self, ClaudeRun, CliResult, FakeAnthropic, FinishedRun, OtlpProtocol, ServedRequest};
use support::clickhouse::{fresh_database, ModelCost, TestDb};
use support::figures::{costs_equal, Figures};
use support::relay::TestRelay;

/// How long the rows may take to show up once the last CLI has exited. They are normally there already: the CLI
/// flushes its telemetry before it exits and the relay answers an export only once its rows are committed.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(20);

/// The custom subagent the last run delegates to; the relay's default config maps this agent to stage `review`.
const REVIEWER: &str = "reviewer";
const REVIEWER_MODEL: &str = "haiku";

/// One `claude -p` run of the workflow.
struct Step {
    /// Names the run in messages and in its task_id.
    name: &'static str,
    /// `stage` in OTEL_RESOURCE_ATTRIBUTES. Claude Code copies it onto the records of the run's subagents too; a
    /// subagent whose name the relay maps takes its own stage instead.
    stage: Option<&'static str>,
    /// `agent` in OTEL_RESOURCE_ATTRIBUTES.
    agent: &'static str,
    protocol: OtlpProtocol,
    model: &'static str,
    /// With the fake's directives: `[[bash:CMD]]` makes the model run Bash, `[[agent:TYPE:PROMPT]]` delegate.
    prompt: String,
}

/// The workflow. Within one run every model serves one agent only (the reviewer has a model of its own), so the
/// CLI's per-model figures are per-agent figures.
fn workflow_steps() -> Vec<Step> {
    let step = |name, stage, agent, protocol, model, prompt: &str| Step {
        name,
        stage,
        agent,
        protocol,
        model,
        prompt: prompt.to_string(),
    };
    vec![
        step("analyze", Some("analyze"), "analyst", OtlpProtocol::Grpc, "opus", "Analyze the repository."),
        step("plan", Some("plan"), "planner", OtlpProtocol::HttpProtobuf, "sonnet", "Plan the change."),
        step(
            "implement",
            Some("implement"),
            "implementer",
            OtlpProtocol::HttpJson,
            "claude-sonnet-4-5-20250929",
            "Implement the change. [[bash:echo implemented]]",
        ),
        step(
            "orchestrate",
            Some("implement"),
            "orchestrator",
            OtlpProtocol::HttpProtobuf,
            "sonnet",
            &format!("Have the change reviewed. [[agent:{REVIEWER}:Review the change. [[bash:echo reviewed]]]]"),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_stage_workflow_with_a_custom_subagent_lands_in_clickhouse_as_the_cli_reported_it() {
    let test = "e2e_claude_code";
    let Some(cli) = claude::cli_or_skip(test) else { return };

    let db = fresh_database(test).await;
    db.apply_schema().await;
    let config = db.config();
    let relay = support::relay::start(config.clone()).await;
    let fake = FakeAnthropic::start();
    let workdir = tempfile::tempdir().expect("a temporary working directory");
    claude::write_custom_agent(
        workdir.path(),
        REVIEWER,
        "Reviews changes. Use it when asked to review.",
        "Bash, Read",
        REVIEWER_MODEL,
        "You are a code reviewer. Run the commands you are asked to run and report briefly.",
    );
    let workflow_id = unique_workflow_id();

    let mut expected = Expected::default();
    let mut runs = Vec::new();
    for step in workflow_steps() {
        let finished = claude_run(&cli, workdir.path(), &fake, &relay, &workflow_id, &step).run().await;
        let served = fake.requests_of_session(&finished.result.session_id).await;
        assert!(
            !served.is_empty(),
            "{}: the fake served no request to session {}",
            step.name,
            finished.result.session_id
        );
        expected.add_run(&step, &workflow_id, &finished.result, &served, &config.stages);
        runs.push(Run { step, finished, served });
    }
    let (waited, polls) = wait_for_the_workflow(&db, &workflow_id, &expected, runs.len()).await;
    for run in &runs {
        eprintln!(
            "{test}: {} ({}) ran in {:.2?}, {} API requests, ${}",
            run.step.name,
            run.step.protocol.env_value(),
            run.finished.elapsed,
            run.served.len(),
            run.finished.result.total_cost_usd
        );
    }
    eprintln!(
        "{test}: rows checked complete after {polls} poll(s), {waited:.2?} after the last run exited; {workflow_id}"
    );

    // The expectations cover what the issue asks for: four stages, one of them only through the subagent.
    let stages: BTreeSet<String> = expected.by(|a| a.stage.clone()).into_keys().filter(|s| !s.is_empty()).collect();
    assert_eq!(stages, ["analyze", "implement", "plan", "review"].map(String::from).into(), "stages covered");

    every_served_request_landed_once_where_it_belongs(&db, &workflow_id, &expected).await;
    workflow_summary_equals_the_cli_totals(&db, &workflow_id, &expected).await;
    assert_figures_match(
        "per stage",
        &api_request_figures_by(&db, &workflow_id, "stage").await,
        &expected.by(|a| a.stage.clone()),
    );
    assert_figures_match(
        "per agent",
        &api_request_figures_by(&db, &workflow_id, "agent").await,
        &expected.by(|a| a.agent.clone()),
    );
    stage_performance_view_agrees(&db, &expected).await;
    model_cost_comparison_view_agrees(&db, &expected).await;
    the_bash_call_has_its_tool_result_row(&db, &workflow_id, &runs).await;
    the_reviewer_has_its_subagent_completed_row(&db, &workflow_id, &runs).await;
    metrics_add_up_to_the_same_totals(&db, &workflow_id, &expected, runs.len()).await;

    relay.shutdown().await;
}

// ------------------------------------------------------------------------------------------------
// Running the workflow

/// A finished step: what the CLI reported and what the fake served it.
struct Run {
    step: Step,
    finished: FinishedRun,
    served: Vec<ServedRequest>,
}

fn unique_workflow_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("wf-e2e-{}-{nanos}", std::process::id())
}

fn task_id(workflow_id: &str, step: &Step) -> String {
    format!("{workflow_id}.{}", step.name)
}

/// The step's `claude -p` run, exporting to the relay's listener for its protocol.
fn claude_run(
    cli: &std::path::Path,
    workdir: &std::path::Path,
    fake: &FakeAnthropic,
    relay: &TestRelay,
    workflow_id: &str,
    step: &Step,
) -> ClaudeRun {
    let endpoint = match step.protocol {
        OtlpProtocol::Grpc => relay.grpc,
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => relay.http,
    };
    let task = task_id(workflow_id, step);
    let mut attributes = vec![("workflow_id", workflow_id), ("workflow_path", "full"), ("task_id", task.as_str())];
    if let Some(stage) = step.stage {
        attributes.push(("stage", stage));
    }
    attributes.push(("agent", step.agent));
    // OTEL_LOG_TOOL_DETAILS=1 makes the custom subagent's events say agent.name=reviewer (else `custom`).
    ClaudeRun::new(cli, workdir, fake, step.protocol, endpoint, step.model, &step.prompt)
        .resource_attributes(&attributes)
        .log_tool_details()
}

// ------------------------------------------------------------------------------------------------
// What ClickHouse must hold

/// The columns the relay derives for a request: where its tokens and cost belong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attribution {
    task_id: String,
    stage: String,
    agent: String,
    model: String,
}

/// A served request's usage as the four token counts, in the order of [`Figures`].
fn served_tokens(request: &ServedRequest) -> [u64; 4] {
    let u = request.usage;
    [u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens]
}

/// What the runs reported, arranged as the relay must store it.
#[derive(Default)]
struct Expected {
    /// Figures per attribution: tokens and cost from the CLI's `modelUsage`, request counts from the fake.
    by_attribution: BTreeMap<Attribution, Figures>,
    /// Every billed request served, by request_id: where it belongs and its tokens.
    requests: BTreeMap<String, (Attribution, [u64; 4])>,
    /// Sum of the runs' `total_cost_usd`.
    total_cost_usd: f64,
}

impl Expected {
    /// Adds one run: its requests (from the fake) and its per-model figures (from the CLI).
    fn add_run(
        &mut self,
        step: &Step,
        workflow_id: &str,
        result: &CliResult,
        served: &[ServedRequest],
        stages: &BTreeMap<String, String>,
    ) {
        let task_id = task_id(workflow_id, step);
        // The main loop's requests belong to the run's own stage and agent; a subagent's to the subagent, staged
        // through the relay's agent → stage map, else with the stage of the run that spawned it.
        let run_stage = step.stage.unwrap_or_default().to_string();
        let attribution_of = |request: &ServedRequest| -> Attribution {
            let (stage, agent) = match (request.role.as_str(), &request.agent_type) {
                ("subagent", Some(agent)) => (stages.get(agent).cloned().unwrap_or(run_stage.clone()), agent.clone()),
                ("subagent", None) => panic!("{}: the fake served a subagent of unknown type: {request:?}", step.name),
                _ => (step.stage.unwrap_or_default().to_string(), step.agent.to_string()),
            };
            Attribution { task_id: task_id.clone(), stage, agent, model: request.model.clone() }
        };

        let mut per_model: BTreeMap<&str, (BTreeSet<Attribution>, u64, [u64; 4])> = BTreeMap::new();
        for request in served {
            let attribution = attribution_of(request);
            let tokens = served_tokens(request);
            let (attributions, count, sums) = per_model.entry(&request.model).or_default();
            attributions.insert(attribution.clone());
            *count += 1;
            for (sum, n) in sums.iter_mut().zip(tokens) {
                *sum += n;
            }
            let previous = self.requests.insert(request.request_id.clone(), (attribution, tokens));
            assert!(previous.is_none(), "the fake served request_id {} twice", request.request_id);
        }

        let served_models: BTreeSet<&str> = per_model.keys().copied().collect();
        let reported_models: BTreeSet<&str> = result.model_usage.keys().map(String::as_str).collect();
        assert_eq!(reported_models, served_models, "{}: models in the CLI's modelUsage vs models served", step.name);
        let mut model_costs = 0.0;
        for (model, usage) in &result.model_usage {
            let (attributions, count, served_sums) = &per_model[model.as_str()];
            assert_eq!(
                attributions.len(),
                1,
                "{}: {model} served {attributions:?}; the workflow must give every agent of a run a model of its own, \
                 so that the CLI's per-model figures are per-agent figures",
                step.name
            );
            let reported = [
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
            ];
            assert_eq!(
                reported, *served_sums,
                "{}: the CLI's modelUsage[{model}] tokens (input, output, cache read, cache creation) vs what the fake \
                 returned",
                step.name
            );
            let attribution = attributions.iter().next().expect("one attribution").clone();
            *self.by_attribution.entry(attribution).or_default() += Figures {
                requests: *count,
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_read_tokens: usage.cache_read_input_tokens,
                cache_creation_tokens: usage.cache_creation_input_tokens,
                cost_usd: usage.cost_usd,
            };
            model_costs += usage.cost_usd;
        }
        assert!(
            costs_equal(model_costs, result.total_cost_usd),
            "{}: the CLI's modelUsage costs add up to {model_costs}, its total_cost_usd is {}",
            step.name,
            result.total_cost_usd
        );
        self.total_cost_usd += result.total_cost_usd;
    }

    /// The figures grouped by a key of the attribution.
    fn by(&self, key: impl Fn(&Attribution) -> String) -> BTreeMap<String, Figures> {
        let mut grouped: BTreeMap<String, Figures> = BTreeMap::new();
        for (attribution, figures) in &self.by_attribution {
            *grouped.entry(key(attribution)).or_default() += *figures;
        }
        grouped
    }

    fn total(&self) -> Figures {
        self.by(|_| String::new()).remove("").unwrap_or_default()
    }
}

fn assert_figures_match(what: &str, actual: &BTreeMap<String, Figures>, expected: &BTreeMap<String, Figures>) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: groups in ClickHouse vs groups the CLI reported\nClickHouse: {actual:#?}\nCLI: {expected:#?}"
    );
    for (key, want) in expected {
        let got = &actual[key];
        assert!(got.matches(want), "{what} {key:?}:\nClickHouse {got:?}\nCLI        {want:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Waiting

/// Polls until every served request has its row, every run its session.count point and the subagent its
/// subagent_completed row, or the deadline passes (the assertions then say what is missing). Returns how long
/// that took and how many polls.
async fn wait_for_the_workflow(db: &TestDb, workflow_id: &str, expected: &Expected, runs: usize) -> (Duration, u32) {
    let started = Instant::now();
    let mut polls = 0;
    let requests =
        format!("SELECT toFloat64(count()) FROM otel_api_request_events FINAL WHERE workflow_id = '{workflow_id}'");
    let sessions = format!(
        "SELECT toFloat64(sum(value)) FROM otel_metrics FINAL \
         WHERE workflow_id = '{workflow_id}' AND metric_name = 'claude_code.session.count'"
    );
    let subagents =
        format!("SELECT toFloat64(count()) FROM otel_subagent_events FINAL WHERE workflow_id = '{workflow_id}'");
    loop {
        polls += 1;
        let complete = db.number(&requests).await >= expected.requests.len() as f64
            && db.number(&sessions).await >= runs as f64
            && db.number(&subagents).await >= 1.0;
        if complete || started.elapsed() > ARRIVAL_DEADLINE {
            return (started.elapsed(), polls);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------------------------------------
// The checks

#[derive(Debug, Row, Deserialize)]
struct LandedRequest {
    request_id: String,
    task_id: String,
    stage: String,
    agent: String,
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_creation_tokens: u64,
}

/// Joins ClickHouse to the fake on request_id: each request once, with its run's (or subagent's) attribution.
async fn every_served_request_landed_once_where_it_belongs(db: &TestDb, workflow_id: &str, expected: &Expected) {
    let sql = "SELECT request_id, toString(task_id) AS task_id, toString(stage) AS stage, toString(agent) AS agent, \
               toString(model) AS model, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens \
               FROM otel_api_request_events FINAL WHERE workflow_id = ? ORDER BY request_id";
    let rows = db.fetch_all::<LandedRequest>(sql, workflow_id).await;
    let landed: BTreeMap<String, (Attribution, [u64; 4])> = rows
        .into_iter()
        .map(|r| {
            let attribution = Attribution { task_id: r.task_id, stage: r.stage, agent: r.agent, model: r.model };
            let tokens = [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens];
            (r.request_id, (attribution, tokens))
        })
        .collect();
    let ids: BTreeSet<&String> = landed.keys().chain(expected.requests.keys()).collect();
    let differences: Vec<String> = ids
        .into_iter()
        .filter(|id| landed.get(*id) != expected.requests.get(*id))
        .map(|id| format!("{id}:\n  ClickHouse {:?}\n  served     {:?}", landed.get(id), expected.requests.get(id)))
        .collect();
    assert!(
        differences.is_empty(),
        "api_request rows (FINAL) joined to the requests the fake served, on request_id; (attribution, \
         [input, output, cache read, cache creation]) that differ:\n{}",
        differences.join("\n")
    );
}

#[derive(Debug, Row, Deserialize)]
struct WorkflowSummary {
    total_input_tokens: u64,
    total_output_tokens: u64,
    total_cache_read_tokens: u64,
    total_cost_usd: f64,
    api_requests: u64,
}

async fn workflow_summary_equals_the_cli_totals(db: &TestDb, workflow_id: &str, expected: &Expected) {
    let sql = "SELECT total_input_tokens, total_output_tokens, total_cache_read_tokens, total_cost_usd, api_requests \
               FROM workflow_summary WHERE workflow_id = ?";
    let rows = db.fetch_all::<WorkflowSummary>(sql, workflow_id).await;
    let [summary] = rows.as_slice() else { panic!("workflow_summary rows for {workflow_id}: {rows:?}") };
    let want = expected.total();
    assert_eq!(
        (
            summary.api_requests,
            summary.total_input_tokens,
            summary.total_output_tokens,
            summary.total_cache_read_tokens
        ),
        (want.requests, want.input_tokens, want.output_tokens, want.cache_read_tokens),
        "workflow_summary (requests, input, output, cache read) vs the CLI"
    );
    assert!(
        costs_equal(summary.total_cost_usd, expected.total_cost_usd),
        "workflow_summary.total_cost_usd {} vs the runs' total_cost_usd summed {}",
        summary.total_cost_usd,
        expected.total_cost_usd
    );
    let cache_creation = db
        .number(&format!(
            "SELECT toFloat64(sum(cache_creation_tokens)) FROM otel_api_request_events FINAL WHERE workflow_id = '{workflow_id}'"
        ))
        .await;
    assert_eq!(cache_creation, want.cache_creation_tokens as f64, "cache creation tokens of the workflow");
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

/// Sums over the workflow's api_request rows (FINAL), grouped by a column.
async fn api_request_figures_by(db: &TestDb, workflow_id: &str, column: &str) -> BTreeMap<String, Figures> {
    let sql = format!(
        "SELECT toString({column}) AS key, count() AS requests, sum(input_tokens) AS input_tokens, \
         sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, \
         sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd \
         FROM otel_api_request_events FINAL WHERE workflow_id = ? GROUP BY key ORDER BY key"
    );
    let rows = db
        .client
        .query(&sql)
        .bind(workflow_id)
        .fetch_all::<FiguresRow>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            let figures = Figures {
                requests: r.requests,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cache_read_tokens: r.cache_read_tokens,
                cache_creation_tokens: r.cache_creation_tokens,
                cost_usd: r.cost_usd,
            };
            (r.key, figures)
        })
        .collect()
}

#[derive(Debug, Row, Deserialize)]
struct StagePerformance {
    stage: String,
    agent: String,
    workflow_count: u64,
    avg_cost: f64,
    avg_tokens: f64,
    cache_hit_rate: Option<f64>,
}

/// stage_performance (the database holds this one workflow only): one row per staged (stage, agent), averages
/// that multiply back to the CLI's figures.
async fn stage_performance_view_agrees(db: &TestDb, expected: &Expected) {
    let sql = "SELECT toString(stage) AS stage, toString(agent) AS agent, workflow_count, avg_cost, avg_tokens, \
               cache_hit_rate FROM stage_performance ORDER BY stage, agent";
    let rows = db.client.query(sql).fetch_all::<StagePerformance>().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let want = expected.by(|a| format!("{} / {}", a.stage, a.agent));
    let want: BTreeMap<_, _> = want.into_iter().filter(|(key, _)| !key.starts_with(" / ")).collect();
    let got: Vec<String> = rows.iter().map(|r| format!("{} / {}", r.stage, r.agent)).collect();
    assert_eq!(got, want.keys().cloned().collect::<Vec<_>>(), "stage_performance rows (stage / agent)");
    for row in &rows {
        let w = &want[&format!("{} / {}", row.stage, row.agent)];
        let n = w.requests as f64;
        let hit_rate =
            w.cache_read_tokens as f64 / (w.input_tokens + w.cache_read_tokens + w.cache_creation_tokens) as f64;
        assert_eq!(row.workflow_count, 1, "{row:?}");
        assert!(
            costs_equal(row.avg_cost * n, w.cost_usd),
            "stage_performance {row:?}: avg_cost × {n} vs the CLI's {w:?}"
        );
        assert!(
            (row.avg_tokens * n - (w.input_tokens + w.output_tokens) as f64).abs() < 1e-6,
            "stage_performance {row:?}: avg_tokens × {n} vs the CLI's {w:?}"
        );
        assert!(
            row.cache_hit_rate.is_some_and(|rate| (rate - hit_rate).abs() < 1e-12),
            "stage_performance {row:?}: cache_hit_rate vs {hit_rate} from the CLI's {w:?}"
        );
    }
}

/// model_cost_comparison (the database holds this one workflow only): per (model, stage), the CLI's figures.
async fn model_cost_comparison_view_agrees(db: &TestDb, expected: &Expected) {
    let sql = "SELECT toString(model) AS model, toString(stage) AS stage, request_count, total_cost, \
               total_input_tokens, total_output_tokens FROM model_cost_comparison";
    let rows = db.client.query(sql).fetch_all::<ModelCost>().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let got: BTreeMap<String, Figures> = rows
        .iter()
        .map(|r| {
            let figures = Figures {
                requests: r.request_count,
                input_tokens: r.total_input_tokens,
                output_tokens: r.total_output_tokens,
                cost_usd: r.total_cost,
                ..Figures::default()
            };
            (format!("{} @ {}", r.model, r.stage), figures)
        })
        .collect();
    // The view has no cache columns: leave them out of the comparison.
    let want = expected
        .by(|a| format!("{} @ {}", a.model, a.stage))
        .into_iter()
        .map(|(key, f)| (key, Figures { cache_read_tokens: 0, cache_creation_tokens: 0, ..f }))
        .collect();
    assert_figures_match("model_cost_comparison (model @ stage)", &got, &want);
    let models: BTreeSet<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    assert!(models.len() >= 3, "the workflow should use several models, so per-model cost differs: {models:?}");
}

#[derive(Debug, Row, Deserialize)]
struct ToolResult {
    tool_name: String,
    tool_use_id: String,
    stage: String,
    agent: String,
    agent_id: String,
    success: bool,
}

/// The implement run's Bash call, and the reviewer's, each have their tool_result row (joined on tool_use_id).
async fn the_bash_call_has_its_tool_result_row(db: &TestDb, workflow_id: &str, runs: &[Run]) {
    let sql = "SELECT toString(tool_name) AS tool_name, tool_use_id, toString(stage) AS stage, \
               toString(agent) AS agent, agent_id, success FROM otel_tool_result_events FINAL WHERE workflow_id = ?";
    let rows = db.fetch_all::<ToolResult>(sql, workflow_id).await;
    let rows_of = |tool_use_id: &str| rows.iter().filter(|r| r.tool_use_id == tool_use_id).collect::<Vec<_>>();

    let implement = run_named(runs, "implement");
    let bash = bash_request(implement, |r| r.role == "main");
    let bash_id = bash.tool_use_id.as_deref().expect("a tool_use response has a tool_use_id");
    let [row] = rows_of(bash_id)[..] else { panic!("tool_result rows for {bash_id}: {rows:#?}") };
    assert_eq!(
        (row.tool_name.as_str(), row.stage.as_str(), row.agent.as_str(), row.success),
        ("Bash", "implement", "implementer", true),
        "the implement run's Bash tool_result: {row:?}"
    );

    // The reviewer's own Bash call is there too, credited to the reviewer and its stage: Claude Code puts
    // agent.name on a subagent's api_request events only, and the relay names the tool_result's agent_id from them.
    let orchestrate = run_named(runs, "orchestrate");
    let reviewer_bash = bash_request(orchestrate, |r| r.agent_type.as_deref() == Some(REVIEWER));
    let reviewer_bash_id = reviewer_bash.tool_use_id.as_deref().expect("a tool_use response has a tool_use_id");
    let [row] = rows_of(reviewer_bash_id)[..] else { panic!("tool_result rows for {reviewer_bash_id}: {rows:#?}") };
    assert_eq!(
        (row.tool_name.as_str(), Some(row.agent_id.as_str()), row.agent.as_str(), row.stage.as_str(), row.success),
        ("Bash", reviewer_bash.agent_id.as_deref(), REVIEWER, "review", true),
        "the reviewer's Bash tool_result: {row:?}"
    );
}

#[derive(Debug, Row, Deserialize)]
struct SubagentCompleted {
    agent_type: String,
    agent: String,
    stage: String,
    agent_id: String,
    model: String,
    total_tool_uses: u64,
}

/// One subagent_completed row, for the reviewer, with the agent_id and model its requests were served with.
async fn the_reviewer_has_its_subagent_completed_row(db: &TestDb, workflow_id: &str, runs: &[Run]) {
    let sql = "SELECT toString(agent_type) AS agent_type, toString(agent) AS agent, toString(stage) AS stage, \
               agent_id, toString(model) AS model, total_tool_uses FROM otel_subagent_events FINAL WHERE workflow_id = ?";
    let rows = db.fetch_all::<SubagentCompleted>(sql, workflow_id).await;
    let [row] = rows.as_slice() else { panic!("subagent_completed rows of {workflow_id}: {rows:#?}") };
    let reviewer_bash = bash_request(run_named(runs, "orchestrate"), |r| r.agent_type.as_deref() == Some(REVIEWER));
    assert_eq!(
        (row.agent_type.as_str(), row.agent.as_str(), row.stage.as_str()),
        (REVIEWER, REVIEWER, "review"),
        "subagent_completed (agent_type, agent, stage)"
    );
    assert_eq!(
        (Some(row.agent_id.as_str()), row.model.as_str(), row.total_tool_uses),
        (reviewer_bash.agent_id.as_deref(), reviewer_bash.model.as_str(), 1),
        "subagent_completed (agent_id, model, total_tool_uses)"
    );
}

fn run_named<'a>(runs: &'a [Run], name: &str) -> &'a Run {
    runs.iter().find(|r| r.step.name == name).unwrap_or_else(|| panic!("no run named {name}"))
}

/// The run's one Bash tool_use among the requests `whose` selects.
fn bash_request(run: &Run, whose: impl Fn(&ServedRequest) -> bool) -> &ServedRequest {
    let bash: Vec<_> = run.served.iter().filter(|r| r.response == "tool_use:Bash" && whose(r)).collect();
    let [request] = bash[..] else {
        panic!("{}: expected one Bash tool_use, the fake served {:#?}", run.step.name, run.served)
    };
    request
}

#[derive(Debug, Row, Deserialize)]
struct MetricSum {
    key: String,
    value: f64,
}

/// Sums of one metric's points (DELTA, so the sum is the total) over the workflow, grouped by a column.
async fn metric_sums_by(db: &TestDb, workflow_id: &str, metric: &str, column: &str) -> BTreeMap<String, f64> {
    let sql = format!(
        "SELECT toString({column}) AS key, sum(value) AS value FROM otel_metrics FINAL \
         WHERE workflow_id = ? AND metric_name = ? GROUP BY key ORDER BY key"
    );
    let rows = db
        .client
        .query(&sql)
        .bind(workflow_id)
        .bind(metric)
        .fetch_all::<MetricSum>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|r| (r.key, r.value)).collect()
}

/// claude_code.cost.usage adds up to the api_request cost per workflow and per stage (its subagent points carry
/// agent.name too), token.usage to the tokens per type, session.count to the number of runs; all DELTA.
async fn metrics_add_up_to_the_same_totals(db: &TestDb, workflow_id: &str, expected: &Expected, runs: usize) {
    let sessions = metric_sums_by(db, workflow_id, "claude_code.session.count", "workflow_id").await;
    assert_eq!(
        sessions.get(workflow_id).copied(),
        Some(runs as f64),
        "claude_code.session.count: one per run; fewer means a run's metrics export did not arrive \
         (the CLI sends metrics after logs, within its 2 s exit budget)"
    );
    let cost_by_stage = metric_sums_by(db, workflow_id, "claude_code.cost.usage", "stage").await;
    let want_by_stage = expected.by(|a| a.stage.clone());
    assert_eq!(
        cost_by_stage.keys().collect::<Vec<_>>(),
        want_by_stage.keys().collect::<Vec<_>>(),
        "claude_code.cost.usage stages: {cost_by_stage:?}"
    );
    for (stage, want) in &want_by_stage {
        assert!(
            costs_equal(cost_by_stage[stage], want.cost_usd),
            "claude_code.cost.usage of stage {stage:?}: {} vs the CLI's {}",
            cost_by_stage[stage],
            want.cost_usd
        );
    }
    let total_cost: f64 = cost_by_stage.values().sum();
    assert!(
        costs_equal(total_cost, expected.total_cost_usd),
        "claude_code.cost.usage of the workflow: {total_cost} vs the runs' total_cost_usd {}",
        expected.total_cost_usd
    );

    let tokens = metric_sums_by(db, workflow_id, "claude_code.token.usage", "type").await;
    let total = expected.total();
    let want_tokens: BTreeMap<String, f64> = [
        ("cacheCreation", total.cache_creation_tokens),
        ("cacheRead", total.cache_read_tokens),
        ("input", total.input_tokens),
        ("output", total.output_tokens),
    ]
    .into_iter()
    .map(|(kind, n)| (kind.to_string(), n as f64))
    .collect();
    assert_eq!(tokens, want_tokens, "claude_code.token.usage by type vs the CLI's tokens");

    let not_delta = db
        .number(&format!(
            "SELECT toFloat64(count()) FROM otel_metrics FINAL WHERE workflow_id = '{workflow_id}' \
             AND metric_name IN ('claude_code.cost.usage', 'claude_code.token.usage') AND temporality != 'delta'"
        ))
        .await;
    assert_eq!(not_delta, 0.0, "cost.usage and token.usage points that are not DELTA");
}
