//! `tokenledger beads import` and `beads post` as a user runs them: Beads' real JSONL into `beads_issues`
//! (re-import updates, never duplicates; bad lines named, good ones kept), the assessment's Beads join on it, and
//! per-task comments posted through a recording `bd` on PATH (tests/support/recording_bd.py) that keeps its
//! issues in Beads' own format. Against the real ClickHouse engine, one database per test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clickhouse::Row;
use serde::Deserialize;
use serde_json::Value;
use support::clickhouse::{fresh_database, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");
const WORKFLOW: &str = ".claude-4nq";

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/beads/issues.jsonl")
}

fn fixture_lines() -> Vec<Value> {
    std::fs::read_to_string(fixture_path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary against `db`, with `path_dir` (the recording bd) first on PATH.
fn tokenledger(db: &TestDb, args: &[&str], extra_env: &[(&str, &str)], path_dir: Option<&Path>) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
        .envs(extra_env.iter().copied())
        .current_dir(std::env::temp_dir());
    if let Some(dir) = path_dir {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", dir.display()));
    }
    let output = command.output().unwrap();
    Run {
        ok: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
    }
}

#[derive(Debug, Row, Deserialize, PartialEq)]
struct Issue {
    id: String,
    status: String,
    issue_type: String,
    priority: u8,
    parent: String,
    workflow_id: String,
    updated_at: i64,
}

async fn issues(db: &TestDb) -> Vec<Issue> {
    db.client
        .query(
            "SELECT id, status, issue_type, priority, parent, workflow_id, updated_at FROM beads_issues FINAL \
             ORDER BY id",
        )
        .fetch_all()
        .await
        .unwrap()
}

async fn stored_rows(db: &TestDb) -> f64 {
    db.number("SELECT toFloat64(count()) FROM beads_issues").await
}

#[tokio::test]
async fn import_loads_every_issue_with_its_parent_and_workflow() {
    let db = fresh_database("beads_import").await;
    db.apply_schema().await;
    let path = fixture_path();
    let run = tokenledger(&db, &["beads", "import", path.to_str().unwrap()], &[], None);
    assert!(run.ok, "{}", run.stderr);
    let lines = fixture_lines();
    assert!(run.stdout.contains(&format!("imported {} issues", lines.len())), "{}", run.stdout);

    let got = issues(&db).await;
    assert_eq!(got.len(), lines.len());
    for line in &lines {
        let id = line["id"].as_str().unwrap();
        let row = got.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("{id} not imported"));
        assert_eq!(row.status, line["status"].as_str().unwrap(), "{id}");
        assert_eq!(row.issue_type, line["issue_type"].as_str().unwrap(), "{id}");
        assert_eq!(u64::from(row.priority), line["priority"].as_u64().unwrap(), "{id}");
        // The parent: the parent-child dependency when there is one, else the id's hierarchy, else none.
        let by_dependency = line["dependencies"].as_array().and_then(|deps| {
            deps.iter().find(|d| d["type"] == "parent-child").map(|d| d["depends_on_id"].as_str().unwrap())
        });
        let expected_parent = by_dependency.unwrap_or(match id {
            "tl-9x2.1" => "tl-9x2",
            _ => "",
        });
        assert_eq!(row.parent, expected_parent, "{id}");
        let root = if expected_parent.is_empty() { id } else { expected_parent };
        assert_eq!(row.workflow_id, root, "{id}");
    }
    let stage_tasks = got.iter().filter(|r| r.workflow_id == WORKFLOW && r.id != WORKFLOW).count();
    assert_eq!(stage_tasks, 4);
}

/// Copies the fixture with some issues moved on (new status, later updated_at), as Beads would re-export it.
fn later_export(dir: &Path) -> (PathBuf, BTreeMap<String, String>) {
    let changes = [(".claude-4nq.3-implement", "closed"), (".claude-4nq.4-review", "in_progress")];
    let mut text = String::new();
    let mut expected = BTreeMap::new();
    for mut line in fixture_lines() {
        let id = line["id"].as_str().unwrap().to_string();
        if let Some((_, status)) = changes.iter().find(|(changed, _)| *changed == id) {
            line["status"] = Value::from(*status);
            line["updated_at"] = Value::from("2026-11-25T09:30:00Z");
            if *status == "closed" {
                line["closed_at"] = Value::from("2026-11-25T09:30:00Z");
            }
        }
        expected.insert(id, line["status"].as_str().unwrap().to_string());
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    let path = dir.join("issues.jsonl");
    std::fs::write(&path, text).unwrap();
    (path, expected)
}

#[tokio::test]
async fn reimporting_changed_statuses_updates_and_never_duplicates() {
    let db = fresh_database("beads_reimport").await;
    db.apply_schema().await;
    let first = fixture_path();
    for _ in 0..2 {
        assert!(tokenledger(&db, &["beads", "import", first.to_str().unwrap()], &[], None).ok);
    }
    let dir = tempfile::tempdir().unwrap();
    let (later, expected) = later_export(dir.path());
    let run = tokenledger(&db, &["beads", "import", later.to_str().unwrap()], &[], None);
    assert!(run.ok, "{}", run.stderr);

    let got = issues(&db).await;
    let statuses: BTreeMap<String, String> = got.iter().map(|r| (r.id.clone(), r.status.clone())).collect();
    assert_eq!(statuses, expected, "one row per issue, each with its latest status");
    // Until parts merge the table may hold each import's row (FINAL above reads one); merged, one row remains.
    db.client.query("OPTIMIZE TABLE beads_issues FINAL").execute().await.unwrap();
    assert_eq!(stored_rows(&db).await, expected.len() as f64, "one stored row per issue once merged");
    let statuses: BTreeMap<String, String> = issues(&db).await.into_iter().map(|r| (r.id, r.status)).collect();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn a_bad_line_is_named_and_the_good_lines_are_still_imported() {
    let db = fresh_database("beads_bad_line").await;
    db.apply_schema().await;
    let mut lines: Vec<String> = std::fs::read_to_string(fixture_path()).unwrap().lines().map(String::from).collect();
    let good = lines.len();
    lines.insert(2, r#"{"_type":"issue","id":"tl-broken","title":"no times"}"#.into());
    lines.insert(4, "{\"_type\":\"issue\",\"id\":".into());
    lines.push(r#"{"_type":"memory","key":"style","value":"terse"}"#.into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issues.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();

    let run = tokenledger(&db, &["beads", "import", path.to_str().unwrap()], &[], None);
    assert_eq!(run.code, Some(65), "bad lines fail the command with EX_DATAERR");
    assert!(run.stderr.contains(&format!("imported {good} issues; 2 line(s) could not be read")), "{}", run.stderr);
    assert!(run.stderr.contains("line 3: tl-broken: no \"created_at\""), "{}", run.stderr);
    assert!(run.stderr.contains("line 5: not a Beads issue"), "{}", run.stderr);
    assert_eq!(issues(&db).await.len(), good, "every good line imported, the memory record skipped");

    let missing = tokenledger(&db, &["beads", "import", "/nonexistent/issues.jsonl"], &[], None);
    assert!(!missing.ok && missing.stderr.contains("cannot read /nonexistent/issues.jsonl"), "{}", missing.stderr);
}

#[derive(Debug, Row, Deserialize)]
struct TaskSums {
    task_id: String,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    requests: u64,
    cost: f64,
}

/// Each task's sums, straight from the events (FINAL), to compare with what tokenledger reports.
async fn task_sums(db: &TestDb) -> Vec<TaskSums> {
    db.fetch_all(
        "SELECT task_id, sum(input_tokens) AS input, sum(output_tokens) AS output, \
         sum(cache_read_tokens) AS cache_read, sum(cache_creation_tokens) AS cache_creation, count() AS requests, \
         sum(cost_usd) AS cost FROM otel_api_request_events FINAL WHERE workflow_id = ? AND task_id != '' \
         GROUP BY task_id ORDER BY task_id",
        WORKFLOW,
    )
    .await
}

#[tokio::test]
async fn the_assessments_beads_join_returns_per_task_figures_verbatim() {
    let db = fresh_database("beads_join").await;
    db.apply_schema().await;
    support::relay::send_fixtures(&db).await;
    let path = fixture_path();
    assert!(tokenledger(&db, &["beads", "import", path.to_str().unwrap()], &[], None).ok);

    let sql = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assessment/beads_join.sql"),
    )
    .unwrap();
    let check = |body: String, sums: &[TaskSums]| {
        let mut lines = body.lines();
        assert_eq!(
            lines.next().unwrap().split('\t').collect::<Vec<_>>(),
            ["task_id", "title", "status", "total_input_tokens", "total_output_tokens", "total_cost_usd"]
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), 4, "one row per stage task:\n{body}");
        for row in &rows {
            let sum = sums.iter().find(|s| s.task_id == row[0]).unwrap_or_else(|| panic!("{row:?}"));
            assert_eq!(row[3].parse::<u64>().unwrap(), sum.input, "{row:?}");
            assert_eq!(row[4].parse::<u64>().unwrap(), sum.output, "{row:?}");
            assert!((row[5].parse::<f64>().unwrap() - sum.cost).abs() < 1e-12, "{row:?}");
        }
        let costs: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
        assert!(costs.windows(2).all(|w| w[0] >= w[1]), "ORDER BY total_cost_usd DESC: {costs:?}");
    };
    let sums = task_sums(&db).await;
    assert_eq!(sums.len(), 4);
    check(db.run_sql(&sql, &[]).await, &sums);

    // A second import leaves two unmerged rows per issue: the assessment's query (no FINAL) would count each
    // task twice until a merge; with the `final` setting it reads one row per issue.
    assert!(tokenledger(&db, &["beads", "import", path.to_str().unwrap()], &[], None).ok);
    check(db.run_sql(&sql, &[("final", "1")]).await, &sums);
}

/// A directory with `bd` (the recording script) and the state it keeps: Beads' issues file and the calls log.
struct RecordingBd {
    dir: tempfile::TempDir,
}

impl RecordingBd {
    fn new() -> RecordingBd {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/recording_bd.py");
        std::os::unix::fs::symlink(script, dir.path().join("bd")).unwrap();
        std::fs::copy(fixture_path(), dir.path().join("issues.jsonl")).unwrap();
        RecordingBd { dir }
    }

    fn env(&self) -> (&'static str, String) {
        ("RECORDING_BD_DIR", self.dir.path().display().to_string())
    }

    /// Every call since the last `take_calls`, as argv lists.
    fn take_calls(&self) -> Vec<Vec<String>> {
        let path = self.dir.path().join("calls.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap();
                value["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
            })
            .collect()
    }

    fn post(&self, db: &TestDb, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let (key, value) = self.env();
        let mut env = vec![(key, value.as_str())];
        env.extend_from_slice(extra_env);
        let mut args = vec!["beads", "post", "--workflow", WORKFLOW];
        args.extend_from_slice(extra_args);
        tokenledger(db, &args, &env, Some(self.dir.path()))
    }
}

const STAGE_TASKS: [&str; 4] =
    [".claude-4nq.1-analyze", ".claude-4nq.2-plan", ".claude-4nq.3-implement", ".claude-4nq.4-review"];

fn comment_figures_match(text: &str, sum: &TaskSums) {
    let count = tokenledger::ledger::human::count;
    for expected in [
        format!("| requests | {} |", count(sum.requests)),
        format!("| input tokens | {} |", count(sum.input)),
        format!("| output tokens | {} |", count(sum.output)),
        format!("| cache read tokens | {} |", count(sum.cache_read)),
        format!("| cache creation tokens | {} |", count(sum.cache_creation)),
        format!("| cost (Claude Code's cost_usd) | ${:.6} |", sum.cost),
    ] {
        assert!(text.contains(&expected), "{expected} in the comment for {}:\n{text}", sum.task_id);
    }
    assert!(text.contains(&format!("<!-- tokenledger:task-metrics task={} figures=", sum.task_id)), "{text}");
}

#[tokio::test]
async fn post_comments_once_per_stage_task_and_again_only_when_figures_change() {
    let db = fresh_database("beads_post").await;
    db.apply_schema().await;
    support::relay::send_fixtures(&db).await;
    let bd = RecordingBd::new();
    assert!(tokenledger(&db, &["beads", "import", fixture_path().to_str().unwrap()], &[], None).ok);

    // A dry run only reads, and shows what it would post.
    let run = bd.post(&db, &["--dry-run"], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout.matches("--- would post to").count(), 4, "{}", run.stdout);
    assert!(bd.take_calls().iter().all(|call| call[0] == "comments"));

    // First post: per stage task, in workflow order, read its comments then add one; `beads.args` goes first.
    let run = bd.post(&db, &[], &[("TOKENLEDGER_BEADS__ARGS", "[--actor,tokenledger]")]);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let calls: Vec<Vec<String>> = bd
        .take_calls()
        .into_iter()
        .map(|call| {
            assert_eq!(call[..2], ["--actor", "tokenledger"], "{call:?}");
            call[2..].to_vec()
        })
        .collect();
    let sums = task_sums(&db).await;
    assert_eq!(calls.len(), 8, "{calls:#?}");
    for (pair, task) in calls.chunks(2).zip(STAGE_TASKS) {
        assert_eq!(pair[0], ["comments", task, "--json"]);
        assert_eq!(&pair[1][..2], ["comment", task]);
        assert_eq!(pair[1].len(), 3, "the text is one argument");
        let stage = task.rsplit_once('-').unwrap().1;
        assert!(pair[1][2].starts_with(&format!("## Token usage: {stage}\n")), "{}", pair[1][2]);
        comment_figures_match(&pair[1][2], sums.iter().find(|s| s.task_id == task).unwrap());
    }
    assert_eq!(run.stdout.matches(": posted,").count(), 4, "{}", run.stdout);

    // The same figures again (the fixtures redelivered too: FINAL reads them once): nothing is posted. This
    // time bd answers in its envelope format.
    support::relay::send_fixtures(&db).await;
    let run = bd.post(&db, &[], &[("BD_JSON_ENVELOPE", "1")]);
    assert!(run.ok, "{}", run.stderr);
    let calls = bd.take_calls();
    let expected: Vec<Vec<String>> =
        STAGE_TASKS.iter().map(|t| vec!["comments".to_string(), t.to_string(), "--json".into()]).collect();
    assert_eq!(calls, expected, "only reads");
    assert_eq!(run.stdout.matches("unchanged, nothing posted").count(), 4, "{}", run.stdout);

    // Two more plan requests, one without a task_id (as a subagent of an orchestrating run sends it): it goes
    // to the Beads task of its stage. One update, for that task only.
    let plan = support::events::ApiRequest {
        timestamp_ns: 1_795_593_800_000_000_000,
        workflow_id: WORKFLOW.into(),
        workflow_path: "full".into(),
        stage: "plan".into(),
        task_id: STAGE_TASKS[1].into(),
        model: "claude-sonnet-4-5-20250929".into(),
        input_tokens: 700,
        output_tokens: 90,
        cache_read_tokens: 0,
        cache_creation_tokens: 0,
        cost_usd: 0.0035,
        duration_ms: 40,
    };
    let untasked = support::events::ApiRequest {
        task_id: String::new(),
        timestamp_ns: plan.timestamp_ns + 1_000_000_000,
        input_tokens: 300,
        output_tokens: 11,
        cache_read_tokens: 2_000,
        cost_usd: 0.0021,
        ..plan.clone()
    };
    support::events::send(&db, &[plan, untasked.clone()], 1_000).await;
    let run = bd.post(&db, &[], &[]);
    assert!(run.ok, "{}", run.stderr);
    let calls = bd.take_calls();
    let writes: Vec<_> = calls.iter().filter(|c| c[0] == "comment").collect();
    assert_eq!(writes.len(), 1, "{calls:#?}");
    assert_eq!(writes[0][1], STAGE_TASKS[1]);
    assert!(writes[0][2].starts_with("## Token usage: plan (updated"), "{}", writes[0][2]);
    let sums = task_sums(&db).await;
    let tasked = sums.iter().find(|s| s.task_id == STAGE_TASKS[1]).unwrap();
    let expected = TaskSums {
        task_id: tasked.task_id.clone(),
        input: tasked.input + untasked.input_tokens,
        output: tasked.output + untasked.output_tokens,
        cache_read: tasked.cache_read + untasked.cache_read_tokens,
        cache_creation: tasked.cache_creation + untasked.cache_creation_tokens,
        requests: tasked.requests + 1,
        cost: tasked.cost + untasked.cost_usd,
    };
    comment_figures_match(&writes[0][2], &expected);
    assert_eq!(calls.len(), 5, "four reads and one write: {calls:#?}");

    // Beads holds what was posted, in its own format: two tokenledger comments on plan, one on each other task.
    let issues: Vec<Value> = std::fs::read_to_string(bd.dir.path().join("issues.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for issue in &issues {
        let id = issue["id"].as_str().unwrap();
        let expected = match id {
            ".claude-4nq.2-plan" => 2,
            _ if STAGE_TASKS.contains(&id) => 1,
            _ => 0,
        };
        let comments = issue["comments"].as_array().cloned().unwrap_or_default();
        assert_eq!(comments.len(), expected, "{id}");
        if let Some(first) = comments.first() {
            assert_eq!(first["author"], "tokenledger", "the first post ran with --actor tokenledger");
        }
    }
}

#[tokio::test]
async fn post_reports_a_missing_bd_an_unknown_workflow_and_a_failing_task() {
    let db = fresh_database("beads_post_errors").await;
    db.apply_schema().await;
    support::relay::send_fixtures(&db).await;

    let run = tokenledger(&db, &["beads", "post", "--workflow", "no-such-workflow"], &[], None);
    assert!(
        !run.ok && run.stderr.contains("no api_request events for workflow \"no-such-workflow\""),
        "{}",
        run.stderr
    );

    let run = tokenledger(
        &db,
        &["beads", "post", "--workflow", WORKFLOW],
        &[("TOKENLEDGER_BEADS__COMMAND", "/nonexistent/bd")],
        None,
    );
    assert!(run.stderr.contains("cannot run `/nonexistent/bd`"), "{}", run.stderr);
    assert_eq!(run.code, Some(69), "EX_UNAVAILABLE");

    // bd knows only some of the tasks: the others are posted, the unknown one is reported, the exit is non-zero.
    let bd = RecordingBd::new();
    let kept: Vec<String> = std::fs::read_to_string(fixture_path())
        .unwrap()
        .lines()
        .filter(|l| !l.contains("\"id\":\".claude-4nq.4-review\""))
        .map(String::from)
        .collect();
    std::fs::write(bd.dir.path().join("issues.jsonl"), kept.join("\n")).unwrap();
    let run = bd.post(&db, &[], &[]);
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("1 task(s) could not be posted") && run.stderr.contains(".claude-4nq.4-review"));
    assert!(run.stderr.contains("issue .claude-4nq.4-review not found"), "bd's own message: {}", run.stderr);
    let writes = bd.take_calls().into_iter().filter(|c| c[0] == "comment").count();
    assert_eq!(writes, 3);
}
