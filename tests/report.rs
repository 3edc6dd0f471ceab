//! `tokenledger report` as a user runs it (the real binary), against ClickHouse filled by the real Claude Code CLI
//! through an in-process relay, or by rows written for a price-check case:
//!
//! - three stages of one workflow (two separate `claude -p` runs, and a third run whose custom subagent `reviewer`
//!   is staged `review` by the relay): `report --workflow ID --format json` shows, per stage, the requests, tokens,
//!   cost, models and tool calls the CLI and the scripted API reported; the price check agrees with the CLI's
//!   own costs; the HTML report rendered by headless Chromium shows the same numbers (and a screenshot is taken);
//! - an unknown workflow, an unreachable ClickHouse and a database without the schema exit 66, 69 and 70;
//! - the price check flags a workflow whose reported cost is 5 % above its tokens × price, lists an unknown model
//!   without pricing it, and the `workflow_cost_check` view says the same; `--watch` redraws.
//!
//! Expected figures come from the CLI's `--output-format json` result and the fake API's record of what it served.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::claude::{self, ClaudeRun, FakeAnthropic, OtlpProtocol, ServedRequest};
use support::clickhouse::{fresh_database, TestDb};
use support::figures::costs_equal;

/// The binary under test: cargo's, or TEST_TOKENLEDGER_BIN (a copy, when several worktrees share one target dir).
fn bin() -> String {
    std::env::var("TEST_TOKENLEDGER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tokenledger").to_string())
}

/// Runs `tokenledger ARGS` against `url`/`database`, in a scratch directory (no ./tokenledger.toml).
fn tokenledger(url: &str, database: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("TOKENLEDGER_CLICKHOUSE__URL", url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", database)
        .env("NO_COLOR", "1")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("running tokenledger")
}

fn report_json(db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let output = tokenledger(&db.url, &db.name, &all);
    assert!(output.status.success(), "tokenledger {all:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("report JSON ({e}):\n{}", String::from_utf8_lossy(&output.stdout));
    })
}

// ------------------------------------------------------------------------------------------------
// The real CLI, three stages

/// One `claude -p` run of the workflow.
struct Step {
    name: &'static str,
    /// `stage` resource attribute (None: the run only orchestrates; its subagent is staged by name).
    stage: Option<&'static str>,
    agent: &'static str,
    protocol: OtlpProtocol,
    model: &'static str,
    prompt: &'static str,
}

const REVIEWER: &str = "reviewer";

fn steps() -> [Step; 3] {
    [
        Step {
            name: "analyze",
            stage: Some("analyze"),
            agent: "analyst",
            protocol: OtlpProtocol::Grpc,
            model: "opus",
            prompt: "Analyze the repository.",
        },
        Step {
            name: "plan",
            stage: Some("plan"),
            agent: "planner",
            protocol: OtlpProtocol::HttpProtobuf,
            model: "sonnet",
            prompt: "Plan the change. [[bash:echo planned]]",
        },
        Step {
            name: "orchestrate",
            stage: None,
            agent: "orchestrator",
            protocol: OtlpProtocol::HttpJson,
            model: "claude-sonnet-4-5-20250929",
            prompt: "Have it reviewed. [[agent:reviewer:Review the change. [[bash:echo reviewed]]]]",
        },
    ]
}

/// What one stage must show: summed from the fake's served requests (counts, tool calls, models) and the CLI's
/// per-model figures (tokens, cost).
#[derive(Debug, Default, Clone)]
struct StageExpected {
    requests: u64,
    tokens: [u64; 4],
    cost_usd: f64,
    models: std::collections::BTreeSet<String>,
    tool_calls: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_stage_workflow_reports_per_stage_what_the_cli_reported() {
    let test = "report_cli";
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let config = db.config();
    let relay = support::relay::start(config.clone()).await;
    let fake = FakeAnthropic::start();
    let workdir = tempfile::tempdir().unwrap();
    claude::write_custom_agent(
        workdir.path(),
        REVIEWER,
        "Reviews changes. Use it when asked to review.",
        "Bash, Read",
        "haiku",
        "You are a code reviewer. Run the commands you are asked to run and report briefly.",
    );
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let workflow_id = format!("wf-report-{}-{nanos}", std::process::id());

    let mut expected: BTreeMap<String, StageExpected> = BTreeMap::new();
    let mut served_total = 0;
    for step in steps() {
        // Each step is started as a user starts it: `tokenledger run`, whose config points Claude Code at the
        // relay (the endpoint the CLI would otherwise have is unreachable, so rows arrive only through it).
        let endpoint = if step.protocol == OtlpProtocol::Grpc { relay.grpc } else { relay.http };
        let config_file = workdir.path().join(format!("tokenledger-{}.toml", step.agent));
        std::fs::write(
            &config_file,
            format!(
                "[claude_telemetry]\nendpoint = \"http://{endpoint}\"\nprotocol = \"{}\"\n\
                 logs_export_interval_ms = 500\nmetric_export_interval_ms = 1000\n",
                step.protocol.env_value()
            ),
        )
        .unwrap();
        let mut launcher = vec![bin(), "--config".into(), config_file.display().to_string(), "run".into()];
        launcher.extend(["--workflow".into(), workflow_id.clone(), "--path".into(), "full".into()]);
        if let Some(stage) = step.stage {
            launcher.extend(["--stage".into(), stage.to_string()]);
        }
        launcher.extend(["--agent".into(), step.agent.to_string(), "--".into()]);
        let unreachable: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
        let run = ClaudeRun::new(&cli, workdir.path(), &fake, step.protocol, unreachable, step.model, step.prompt)
            .launched_by(launcher)
            .run()
            .await;
        let served = fake.requests_of_session(&run.result.session_id).await;
        served_total += served.len();
        add_run(&mut expected, &step, &served, &run.result.model_usage, &config.stages);
    }
    let tool_calls: u64 = expected.values().map(|e| e.tool_calls).sum();
    wait_for_rows(&db, &workflow_id, served_total, tool_calls).await;
    assert!(expected.contains_key("review") && expected.len() == 4, "stages expected: {:?}", expected.keys());

    let report = report_json(&db, &["--workflow", &workflow_id]);
    assert_eq!(report["report"], "workflow");
    assert_eq!(report["workflow_id"], workflow_id.as_str());
    let stages = report["stages"].as_array().expect("stages");
    let order: Vec<&str> = stages.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(order, ["analyze", "plan", "review", ""], "workflow order, unstaged last");
    for stage in stages {
        let name = stage["stage"].as_str().unwrap();
        let want = &expected[name];
        let got_tokens = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"]
            .map(|field| stage[field].as_u64().unwrap_or_else(|| panic!("{name}.{field}: {stage}")));
        assert_eq!(stage["requests"].as_u64(), Some(want.requests), "{name} requests: {stage}");
        assert_eq!(got_tokens, want.tokens, "{name} tokens (input, output, cache read, cache creation)");
        let cost = stage["cost_usd"].as_f64().unwrap();
        assert!(costs_equal(cost, want.cost_usd), "{name} cost {cost} vs the CLI's {}", want.cost_usd);
        let models: Vec<&str> = stage["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(models, want.models.iter().map(String::as_str).collect::<Vec<_>>(), "{name} models");
        assert_eq!(stage["tool_calls"].as_u64(), Some(want.tool_calls), "{name} tool calls: {stage}");
        assert_eq!(stage["tool_failures"].as_u64(), Some(0), "{name}");
        assert_eq!(stage["api_errors"].as_u64(), Some(0), "{name}");
        let prompt = want.tokens[0] + want.tokens[2] + want.tokens[3];
        let rate = stage["cache_hit_rate"].as_f64().unwrap();
        assert!((rate - want.tokens[2] as f64 / prompt as f64).abs() < 1e-12, "{name} cache hit rate {rate}");
        assert!(stage["wall_clock_ms"].as_u64().unwrap() >= stage["request_duration_ms"].as_u64().unwrap() / 2);
        // The shipped prices are the CLI's own for these models: recomputed equals reported.
        let recomputed = stage["recomputed_cost_usd"].as_f64().expect("every model here has a price");
        assert!((recomputed - cost).abs() <= 1e-6 * cost, "{name}: recomputed {recomputed} vs reported {cost}");
    }
    let reviewer = report["agents"].as_array().unwrap().iter().find(|a| a["agent"] == REVIEWER).expect("reviewer");
    assert_eq!(reviewer["stages"], serde_json::json!(["review"]));
    let total_cost: f64 = expected.values().map(|e| e.cost_usd).sum();
    assert!(costs_equal(report["totals"]["cost_usd"].as_f64().unwrap(), total_cost), "{}", report["totals"]);
    assert_eq!(report["totals"]["requests"].as_u64(), Some(served_total as u64));
    let check = &report["price_check"];
    assert_eq!((check["flagged"].as_bool(), check["unknown_models"].as_array().map(Vec::len)), (Some(false), Some(0)));

    html_in_chromium_shows_the_json_numbers(&db, &workflow_id, &report);
    relay.shutdown().await;
}

/// Adds one run to the per-stage expectations: the main loop's requests belong to the run's stage (or none), a
/// subagent's to the stage the relay's agent → stage map gives its type.
fn add_run(
    expected: &mut BTreeMap<String, StageExpected>,
    step: &Step,
    served: &[ServedRequest],
    model_usage: &BTreeMap<String, claude::CliModelUsage>,
    stage_map: &BTreeMap<String, String>,
) {
    let stage_of = |request: &ServedRequest| match (request.role.as_str(), &request.agent_type) {
        ("subagent", Some(agent)) => stage_map.get(agent).cloned().unwrap_or_default(),
        _ => step.stage.unwrap_or_default().to_string(),
    };
    let mut stage_of_model: BTreeMap<&str, String> = BTreeMap::new();
    for request in served {
        let stage = stage_of(request);
        let previous = stage_of_model.insert(&request.model, stage.clone());
        assert!(previous.is_none_or(|p| p == stage), "{}: one model per stage in a run", step.name);
        let entry = expected.entry(stage).or_default();
        entry.requests += 1;
        entry.models.insert(request.model.clone());
        entry.tool_calls += u64::from(request.response.starts_with("tool_use:"));
    }
    for (model, usage) in model_usage {
        let stage = stage_of_model.get(model.as_str()).unwrap_or_else(|| panic!("{}: {model} not served", step.name));
        let entry = expected.get_mut(stage).unwrap();
        for (sum, n) in entry.tokens.iter_mut().zip([
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_input_tokens,
            usage.cache_creation_input_tokens,
        ]) {
            *sum += n;
        }
        entry.cost_usd += usage.cost_usd;
    }
}

/// Waits until every served request and every tool call has its row (the CLI flushes on exit and the relay
/// answers once committed, so this is normally at once).
async fn wait_for_rows(db: &TestDb, workflow_id: &str, requests: usize, tools: u64) {
    let started = Instant::now();
    let count =
        |table: &str| format!("SELECT toFloat64(count()) FROM {table} FINAL WHERE workflow_id = '{workflow_id}'");
    while started.elapsed() < Duration::from_secs(20) {
        if db.number(&count("otel_api_request_events")).await >= requests as f64
            && db.number(&count("otel_tool_result_events")).await >= tools as f64
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------------------------------------
// HTML in headless Chromium

/// Debian's chromium, or None (said on stderr) outside CI; `make test` installs it.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.is_file() {
        return Some(path);
    }
    assert!(!claude::in_ci(), "{test}: /usr/bin/chromium is missing; `make test` installs it");
    eprintln!("SKIPPED {test} (HTML part): /usr/bin/chromium is missing (apt-get install chromium)");
    None
}

/// Runs headless Chromium with the flags that work on this kind of machine (no sandbox as root, no background
/// networking: the network is closed) and a fresh profile.
fn chromium(binary: &Path, args: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null());
    command.output().expect("running chromium")
}

fn html_in_chromium_shows_the_json_numbers(db: &TestDb, workflow_id: &str, report: &Value) {
    let Some(browser) = chromium_or_skip("report_html") else { return };
    let output = tokenledger(&db.url, &db.name, &["report", "--workflow", workflow_id, "--format", "html"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let page = target.join(format!("report-{}.html", std::process::id()));
    std::fs::write(&page, &output.stdout).unwrap();
    let url = format!("file://{}", page.display());

    let dom = chromium(&browser, &["--dump-dom".into(), url.clone()]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.status.success() && dom_text.contains("</svg>"), "chromium --dump-dom: {dom:?}");
    for stage in report["stages"].as_array().unwrap() {
        let name = stage["stage"].as_str().unwrap();
        let row = table_row(&dom_text, &format!("data-stage=\"{name}\""))
            .unwrap_or_else(|| panic!("no row for stage {name:?} in the rendered page {}", page.display()));
        for field in ["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"] {
            assert_eq!(cell(row, field), Some(stage[field].as_u64().unwrap().to_string()), "{name}.{field}");
        }
        let shown: f64 = cell(row, "cost_usd").and_then(|c| c.parse().ok()).expect("a cost cell");
        assert!(same_to_6_decimals(shown, stage["cost_usd"].as_f64().unwrap()), "{name}: cost {shown} shown");
        assert_eq!(cell(row, "tool_calls"), Some(stage["tool_calls"].to_string()), "{name}");
    }
    let tile = cell(&dom_text, "cost_usd").expect("the cost tile");
    let shown: f64 = tile.trim_start_matches('$').parse().expect("a cost");
    assert!(same_to_6_decimals(shown, report["totals"]["cost_usd"].as_f64().unwrap()), "total cost {tile} shown");
    for chart in ["cost-per-stage", "cost-per-agent"] {
        assert!(dom_text.contains(&format!("id=\"{chart}\"")), "{chart} chart");
    }

    let screenshot = target.join(format!("report-{}.png", std::process::id()));
    let shot =
        chromium(&browser, &[format!("--screenshot={}", screenshot.display()), "--window-size=1800,1000".into(), url]);
    let bytes = std::fs::read(&screenshot).unwrap_or_else(|e| panic!("no screenshot ({e}): {shot:?}"));
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "a rendered page, not a blank one");
    eprintln!("report_html: page {} screenshot {} ({} bytes)", page.display(), screenshot.display(), bytes.len());
    // The README shows this screenshot; UPDATE_SCREENSHOT=1 replaces docs/report.png with the one just taken.
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&screenshot, docs.join("report.png")).unwrap();
    }
}

/// A cost shown with six decimals is the JSON's figure (each query sums the doubles in its own order, so a figure
/// on a rounding boundary may round either way).
fn same_to_6_decimals(shown: f64, json: f64) -> bool {
    (shown - json).abs() <= 0.5e-6 + 1e-12
}

/// The `<tr …>…</tr>` whose opening tag holds `marker`.
fn table_row<'a>(dom: &'a str, marker: &str) -> Option<&'a str> {
    let start = dom.find(&format!("<tr {marker}"))?;
    let end = dom[start..].find("</tr>")? + start;
    Some(&dom[start..end])
}

/// The text of the `<td data-field="FIELD">` in a row.
fn cell(row: &str, field: &str) -> Option<String> {
    let open = format!("data-field=\"{field}\">");
    let start = row.find(&open)? + open.len();
    let end = row[start..].find('<')? + start;
    Some(row[start..end].to_string())
}

// ------------------------------------------------------------------------------------------------
// Errors and exit codes

#[tokio::test]
async fn unknown_workflow_unreachable_clickhouse_and_missing_schema_have_their_exit_codes() {
    let db = fresh_database("report_errors").await;
    db.apply_schema().await;
    let unknown = tokenledger(&db.url, &db.name, &["report", "--workflow", "wf-never-seen"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(66), "{stderr}");
    assert!(stderr.contains("unknown workflow \"wf-never-seen\""), "{stderr}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}"); // the listener is dropped below: nothing answers there
    let unreachable = tokenledger(&url, &db.name, &["report", "--workflow", "wf-1"]);
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains(&format!("ClickHouse at {url} is unreachable")), "{stderr}");

    let empty = fresh_database("report_no_schema").await;
    let no_schema = tokenledger(&empty.url, &empty.name, &["report", "--since", "1d"]);
    let stderr = String::from_utf8_lossy(&no_schema.stderr);
    assert_eq!(no_schema.status.code(), Some(70), "{stderr}");
    assert!(stderr.contains("tokenledger schema apply"), "{stderr}");

    let bad = tokenledger(&db.url, &db.name, &["report", "--since", "seven days"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error: {}", String::from_utf8_lossy(&bad.stderr));
}

// ------------------------------------------------------------------------------------------------
// The price check

/// The test's own price for `test-model`, USD per million tokens: input, output, cache read, 5m write, 1h write.
const TEST_PRICE: [f64; 5] = [1.0, 2.0, 0.5, 4.0, 8.0];
/// Tokens of every test request: input, output, cache read, cache creation (no TTL split: the 5m rate).
const TEST_TOKENS: [u64; 4] = [1000, 200, 5000, 300];

#[tokio::test]
async fn the_price_check_flags_a_mispriced_workflow_and_lists_unknown_models() {
    let db = fresh_database("report_prices").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenledger.toml");
    let [input, output, cache_read, write_5m, write_1h] = TEST_PRICE;
    std::fs::write(
        &config,
        format!(
            "[prices.\"test-model\"]\ninput = {input}\noutput = {output}\ncache_read = {cache_read}\n\
             cache_write_5m = {write_5m}\ncache_write_1h = {write_1h}\nsource = \"test\"\nas_of = \"2026-12-01\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let applied = tokenledger(&db.url, &db.name, &["--config", config, "schema", "apply"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));

    let [ti, to, tr, tc] = TEST_TOKENS;
    let right = (ti as f64 * input + to as f64 * output + tr as f64 * cache_read + tc as f64 * write_5m) / 1e6;
    let rows = [
        ("wf-right", "test-model", right),
        ("wf-wrong", "test-model", right * 1.05),
        ("wf-unknown", "test-model", right),
        ("wf-unknown", "mystery-model", 0.002),
    ];
    for (i, (workflow, model, cost)) in rows.iter().enumerate() {
        db.client
            .query(&format!(
                "INSERT INTO otel_api_request_events (timestamp, event_key, workflow_id, stage, agent, model, \
                 input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, duration_ms) \
                 VALUES (now64(9) - {i}, {i}, '{workflow}', 'implement', 'implementer', '{model}', {ti}, {to}, {tr}, \
                 {tc}, {cost}, 100)"
            ))
            .execute()
            .await
            .unwrap();
    }

    let report = |workflow: &str| {
        let output =
            tokenledger(&db.url, &db.name, &["--config", config, "report", "--workflow", workflow, "--format", "json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let wrong = report("wf-wrong");
    let check = &wrong["price_check"];
    assert_eq!(check["flagged"], true, "{check}");
    assert!((check["difference_ratio"].as_f64().unwrap() - 0.05).abs() < 1e-9, "{check}");
    assert!(costs_equal(check["recomputed_cost_usd"].as_f64().unwrap(), right));
    let right_report = report("wf-right");
    assert_eq!(right_report["price_check"]["flagged"], false, "{}", right_report["price_check"]);
    let unknown = report("wf-unknown");
    let check = &unknown["price_check"];
    assert_eq!(check["unknown_models"], serde_json::json!(["mystery-model"]));
    assert!(costs_equal(check["unknown_models_cost_usd"].as_f64().unwrap(), 0.002));
    assert!(costs_equal(check["recomputed_cost_usd"].as_f64().unwrap(), right), "only the priced model is recomputed");
    assert_eq!(check["flagged"], false);
    assert_eq!(unknown["totals"]["recomputed_cost_usd"], Value::Null, "never priced as zero");
    let mystery = check["models"].as_array().unwrap().iter().find(|m| m["model"] == "mystery-model").unwrap();
    assert_eq!((mystery["priced_as"].clone(), mystery["recomputed_cost_usd"].clone()), (Value::Null, Value::Null));

    // The view, with the prices `schema apply` stored from the same config, says the same.
    #[derive(Debug, PartialEq, clickhouse::Row, serde::Deserialize)]
    struct Checked {
        workflow_id: String,
        flagged: bool,
        unknown_models: Vec<String>,
        recomputed_cost_usd: f64,
    }
    let checked: Vec<Checked> = db
        .client
        .query(
            "SELECT workflow_id, flagged, unknown_models, recomputed_cost_usd FROM workflow_cost_check \
             ORDER BY workflow_id",
        )
        .fetch_all()
        .await
        .unwrap();
    let summary: Vec<(&str, bool, Vec<String>)> =
        checked.iter().map(|c| (c.workflow_id.as_str(), c.flagged, c.unknown_models.clone())).collect();
    assert_eq!(
        summary,
        [
            ("wf-right", false, vec![]),
            ("wf-unknown", false, vec!["mystery-model".to_string()]),
            ("wf-wrong", true, vec![]),
        ]
    );
    assert!(checked.iter().all(|c| costs_equal(c.recomputed_cost_usd, right)), "{checked:?}");

    // The top report flags the same workflow.
    let output = tokenledger(&db.url, &db.name, &["--config", config, "report", "--since", "1h", "--format", "json"]);
    let top: Value = serde_json::from_slice(&output.stdout).unwrap();
    let flagged: Vec<&str> = top["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["price_flagged"] == true)
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["wf-wrong"], "{top}");

    // --watch redraws until stopped (off a terminal: one report after another, no screen clearing).
    let mut watch = Command::new(bin())
        .args(["--config", config, "report", "--workflow", "wf-right", "--format", "csv", "--watch", "1"])
        .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    watch.kill().unwrap();
    let output = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.matches("workflow_id,section").count() >= 2 && !text.contains('\x1b'), "{text}");
}
