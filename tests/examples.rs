//! The workflow examples, run as a user runs them, with the real Claude Code CLI against the scripted Anthropic API
//! (tests/support/fake_anthropic.py) and a relay writing to ClickHouse. The examples are driven only through the
//! environment variables they document (TOKENLEDGER, CLAUDE, CLAUDE_ARGS, OUT_DIR, BD, and tokenledger's own
//! TOKENLEDGER_CLAUDE_TELEMETRY__* settings), never a test copy of them:
//!
//! - examples/four-stage/four-stage.sh: four `claude -p` runs of one minted workflow land as four stages, each with
//!   its agent, derived task id, path and expected model, and exactly the requests, tokens and cost its run
//!   reported; with Beads (a recording `bd` on PATH) the epic is the workflow and the stage tasks are the task ids.
//! - examples/master-agent/.claude: `tokenledger run --workflow new` (no --stage) of `/develop`, whose four custom
//!   subagents land under the stages their names map to, the orchestrator's own requests under no stage.
//!
//! Expected figures come from the fake's record of what it served and from each run's `--output-format json`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::Deserialize;
use support::claude::{self, CliResult, FakeAnthropic, ServedRequest};
use support::clickhouse::{fresh_database, TestDb};
use support::figures::costs_equal;
use support::relay::TestRelay;

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment a user's shell would have, plus what points the CLI at the fake and tokenledger at the relay.
fn user_env(command: &mut Command, home: &Path, fake: &FakeAnthropic, relay: &TestRelay, path: &str) {
    command
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("ANTHROPIC_BASE_URL", fake.base_url())
        .env("ANTHROPIC_API_KEY", "sk-test")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("TOKENLEDGER_CLAUDE_TELEMETRY__ENDPOINT", format!("http://{}", relay.grpc))
        .env("TOKENLEDGER_CLAUDE_TELEMETRY__LOGS_EXPORT_INTERVAL_MS", "500")
        .env("TOKENLEDGER_CLAUDE_TELEMETRY__METRIC_EXPORT_INTERVAL_MS", "1000");
}

const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn check(what: &str, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{what} exited with {}\nstdout: {}\nstderr: {stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Requests, tokens and cost of a group of api_request events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Figures {
    requests: u64,
    tokens: [u64; 4],
    cost_usd: f64,
}

impl Figures {
    fn add_served(&mut self, request: &ServedRequest) {
        let u = request.usage;
        self.requests += 1;
        for (sum, n) in self.tokens.iter_mut().zip([
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens,
        ]) {
            *sum += n;
        }
    }
}

#[derive(Debug, Row, Deserialize)]
struct Group {
    key: String,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_creation_tokens: u64,
    cost_usd: f64,
}

/// api_request figures of a workflow grouped by `key` (an SQL expression), once `expected_requests` rows are in.
async fn figures_by(db: &TestDb, workflow_id: &str, key: &str, expected_requests: u64) -> BTreeMap<String, Figures> {
    let sql = format!(
        "SELECT {key} AS key, count() AS requests, sum(input_tokens) AS input_tokens, \
         sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, \
         sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd \
         FROM otel_api_request_events FINAL WHERE workflow_id = ? GROUP BY key ORDER BY key"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = db.fetch_all::<Group>(&sql, workflow_id).await;
        let total: u64 = rows.iter().map(|r| r.requests).sum();
        if total >= expected_requests || Instant::now() > deadline {
            return rows
                .into_iter()
                .map(|r| {
                    let tokens = [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens];
                    (r.key, Figures { requests: r.requests, tokens, cost_usd: r.cost_usd })
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_figures(what: &str, got: &BTreeMap<String, Figures>, want: &BTreeMap<String, Figures>, with_cost: bool) {
    for (key, g) in got {
        eprintln!("{what}: {key}: {} requests, tokens {:?}, ${:.6}", g.requests, g.tokens, g.cost_usd);
    }
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: groups");
    for (key, w) in want {
        let g = &got[key];
        assert_eq!((g.requests, g.tokens), (w.requests, w.tokens), "{what} {key}: requests and tokens");
        if with_cost {
            let close = costs_equal(g.cost_usd, w.cost_usd);
            assert!(close, "{what} {key}: cost {} vs the CLI's {}", g.cost_usd, w.cost_usd);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// examples/four-stage/four-stage.sh

/// The stages the script runs, with their agent and default model (its documented defaults).
const STAGES: [(&str, &str, &str, &str); 4] = [
    ("1", "analyze", "analyst", "opus"),
    ("2", "plan", "planner", "sonnet"),
    ("3", "implement", "implementer", "sonnet"),
    ("4", "review", "reviewer", "opus"),
];

struct ScriptRun {
    workflow_id: String,
    /// Per stage: what the CLI printed with --output-format json.
    results: BTreeMap<String, CliResult>,
}

fn run_four_stage(workdir: &Path, env: impl FnOnce(&mut Command), task: &str) -> ScriptRun {
    let cli = claude::cli_path();
    let out_dir = workdir.join("out");
    let mut command = Command::new("sh");
    command.arg(repo().join("examples/four-stage/four-stage.sh")).arg(task).current_dir(workdir);
    env(&mut command);
    command
        .env("TOKENLEDGER", BIN)
        .env("CLAUDE", &cli)
        .env("CLAUDE_ARGS", "--output-format json")
        .env("OUT_DIR", &out_dir);
    let stderr = check("four-stage.sh", &command.output().unwrap());
    let workflow_id = stderr
        .lines()
        .find_map(|line| line.strip_prefix("workflow ").and_then(|rest| rest.split_once(" (")).map(|(id, _)| id))
        .unwrap_or_else(|| panic!("four-stage.sh did not say its workflow id:\n{stderr}"))
        .to_string();
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let stage = name.split_once('-').map(|(_, stage)| stage.to_string()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let result: CliResult = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        assert!(!result.is_error, "{name}: {text}");
        results.insert(stage, result);
    }
    ScriptRun { workflow_id, results }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_stage_script_lands_four_attributed_stages() {
    let test = "examples_four_stage";
    if claude::cli_or_skip(test).is_none() {
        return;
    }
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let relay = support::relay::start(db.config()).await;
    let fake = FakeAnthropic::start();
    let (workdir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // No `bd` on this PATH: the workflow id is minted and task ids are derived from it.
    let run = run_four_stage(
        workdir.path(),
        |c| user_env(c, home.path(), &fake, &relay, SYSTEM_PATH),
        "Add a greeting [[bash:echo greeted]]",
    );
    assert!(run.workflow_id.starts_with("wf-"), "a minted id: {}", run.workflow_id);

    let mut want = BTreeMap::new();
    for (number, stage, agent, model) in STAGES {
        let result = run.results.get(stage).unwrap_or_else(|| panic!("no output of stage {stage}"));
        let mut figures = Figures { cost_usd: result.total_cost_usd, ..Figures::default() };
        for request in fake.requests_of_session(&result.session_id).await {
            figures.add_served(&request);
        }
        assert!(figures.requests >= 2, "{stage}: the task's Bash directive makes two requests");
        let task_id = format!("{}.{number}-{stage}", run.workflow_id);
        want.insert(format!("{stage} | {agent} | {task_id} | full | {model}"), figures);
    }
    let total = want.values().map(|f| f.requests).sum();
    let key = "concat(stage, ' | ', agent, ' | ', task_id, ' | ', workflow_path, ' | ', model_expected)";
    let got = figures_by(&db, &run.workflow_id, key, total).await;
    assert_figures("four-stage.sh", &got, &want, true);
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_beads_the_epic_is_the_workflow_and_stage_tasks_are_the_task_ids() {
    let test = "examples_four_stage_beads";
    if claude::cli_or_skip(test).is_none() {
        return;
    }
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let relay = support::relay::start(db.config()).await;
    let fake = FakeAnthropic::start();
    let (workdir, home, bin) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // A `bd` that records its arguments and answers `create --json` as Beads does (an object with the new id;
    // children of an epic get `<epic>.<n>`).
    let log = bin.path().join("bd.log");
    let bd = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\n\
         parent=''; prev=''; for a in \"$@\"; do [ \"$prev\" = --parent ] && parent=$a; prev=$a; done\n\
         n=$(wc -l < '{log}')\n\
         if [ -n \"$parent\" ]; then id=\"$parent.$n\"; else id=\".tl-{pid}\"; fi\n\
         printf '{{\\n  \"id\": \"%s\",\\n  \"title\": \"t\",\\n  \"status\": \"open\"\\n}}\\n' \"$id\"\n",
        log = log.display(),
        pid = std::process::id()
    );
    std::fs::write(bin.path().join("bd"), bd).unwrap();
    let mut permissions = std::fs::metadata(bin.path().join("bd")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(bin.path().join("bd"), permissions).unwrap();
    let path = format!("{}:{SYSTEM_PATH}", bin.path().display());

    let task = "Fix the typo";
    let run = run_four_stage(
        workdir.path(),
        |c| {
            user_env(c, home.path(), &fake, &relay, &path);
            c.env("WORKFLOW_PATH", "fast");
        },
        task,
    );
    let calls: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    let epic = &run.workflow_id;
    assert_eq!(
        calls,
        [
            format!("create {task} -t epic --json"),
            format!("create implement: {task} -t task --parent {epic} --json"),
            format!("create review: {task} -t task --parent {epic} --json"),
        ],
        "what bd was asked (the fast path runs implement and review)"
    );

    let mut want = BTreeMap::new();
    for (i, (_, stage, agent, model)) in STAGES.iter().skip(2).enumerate() {
        let result = &run.results[*stage];
        let mut figures = Figures { cost_usd: result.total_cost_usd, ..Figures::default() };
        for request in fake.requests_of_session(&result.session_id).await {
            figures.add_served(&request);
        }
        // The recording bd numbers its answers by call: the epic was call 1, the stage tasks calls 2 and 3.
        want.insert(format!("{stage} | {agent} | {epic}.{} | fast | {model}", i + 2), figures);
    }
    let total = want.values().map(|f| f.requests).sum();
    let key = "concat(stage, ' | ', agent, ' | ', task_id, ' | ', workflow_path, ' | ', model_expected)";
    assert_figures("four-stage.sh with Beads", &figures_by(&db, epic, key, total).await, &want, true);
    relay.shutdown().await;
}

// ------------------------------------------------------------------------------------------------
// examples/master-agent

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[derive(Debug, Row, Deserialize)]
struct Completed {
    agent_type: String,
    stage: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_agent_s_subagents_land_under_the_stages_their_names_map_to() {
    let test = "examples_master_agent";
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let config = db.config();
    let relay = support::relay::start(config.clone()).await;
    let fake = FakeAnthropic::start();
    let (workdir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_dir(&repo().join("examples/master-agent/.claude"), &workdir.path().join(".claude"));

    // The model's moves: each subagent in turn, the analyst, implementer and reviewer running a command.
    let task = "Add a greeting [[agent:analyst:Analyze the greeting task [[bash:echo analyzed]]]] \
                [[agent:planner:Plan the greeting]] \
                [[agent:implementer:Implement the greeting [[bash:echo implemented]]]] \
                [[agent:reviewer:Review the greeting [[bash:echo reviewed]]]]";
    let mut command = Command::new(BIN);
    user_env(&mut command, home.path(), &fake, &relay, SYSTEM_PATH);
    command
        .current_dir(workdir.path())
        .args(["run", "--workflow", "new", "--path", "full", "--agent", "orchestrator", "--"])
        .arg(&cli)
        .args(["-p", &format!("/develop {task}"), "--model", "sonnet", "--output-format", "json"]);
    let output = command.output().unwrap();
    let stderr = check("tokenledger run … claude -p /develop", &output);
    let workflow_id = stderr
        .lines()
        .find_map(|line| line.strip_prefix("tokenledger: workflow_id="))
        .unwrap_or_else(|| panic!("the minted id on stderr:\n{stderr}"))
        .to_string();
    let result: CliResult = serde_json::from_slice(&output.stdout).unwrap();

    // Per (stage, agent): the orchestrator's own requests under no stage; each subagent's under its mapped stage.
    let served = fake.requests_of_session(&result.session_id).await;
    let mut want: BTreeMap<String, Figures> = BTreeMap::new();
    for request in &served {
        let (stage, agent) = match (request.role.as_str(), request.agent_type.as_deref()) {
            ("subagent", Some(agent)) => (config.stages.get(agent).cloned().unwrap_or_default(), agent.to_string()),
            _ => (String::new(), "orchestrator".to_string()),
        };
        want.entry(format!("{stage} | {agent}")).or_default().add_served(request);
    }
    let subagents: Vec<&String> = want.keys().filter(|k| !k.starts_with(" | ")).collect();
    assert_eq!(subagents.len(), 4, "the fake served the four subagents: {:?}", want.keys());
    let total = served.len() as u64;
    let got = figures_by(&db, &workflow_id, "concat(stage, ' | ', agent)", total).await;
    assert_figures("/develop", &got, &want, false);
    let cost: f64 = got.values().map(|f| f.cost_usd).sum();
    assert!(
        costs_equal(cost, result.total_cost_usd),
        "the workflow's cost {cost} vs the CLI's total_cost_usd {}",
        result.total_cost_usd
    );

    // Each subagent's subagent_completed row is there, under its stage.
    let sql = "SELECT toString(agent_type) AS agent_type, toString(stage) AS stage FROM otel_subagent_events FINAL \
               WHERE workflow_id = ? ORDER BY agent_type";
    let completed = db.fetch_all::<Completed>(sql, &workflow_id).await;
    let completed: Vec<String> = completed.iter().map(|c| format!("{} | {}", c.stage, c.agent_type)).collect();
    let mut want_completed: Vec<String> = subagents.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    want_completed.sort_by_key(|k| k.split(" | ").nth(1).map(String::from));
    assert_eq!(completed, want_completed, "subagent_completed (stage | agent_type)");
    relay.shutdown().await;
}
