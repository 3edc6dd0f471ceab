//! Golden tests of the report renderers: fixed ledger rows (tests/fixtures/report/rows.json) → a workflow report
//! and a top report → table, Markdown, CSV, JSON and HTML, each compared byte for byte with its file in
//! tests/fixtures/report/. After an intended change, regenerate them with `UPDATE_GOLDEN=1 cargo test --test
//! report_golden` and review the diff.

use std::path::PathBuf;

use serde::Deserialize;
use tokenledger::ledger::activity::ActivityRow;
use tokenledger::ledger::status::StatusRow;
use tokenledger::ledger::usage::UsageRow;
use tokenledger::report::build::{self, Pricing};
use tokenledger::report::model::{Dimension, Report};
use tokenledger::report::{render, Format};

#[derive(Deserialize)]
struct Input {
    now_ms: i64,
    usage: Vec<UsageRow>,
    activity: Vec<ActivityRow>,
    statuses: Vec<StatusRow>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn input() -> Input {
    let text = std::fs::read_to_string(dir().join("rows.json")).expect("tests/fixtures/report/rows.json");
    serde_json::from_str(&text).expect("rows.json matches the ledger's row structs")
}

fn reports() -> (Report, Report) {
    let input = input();
    let prices = tokenledger::config::Config::default().prices;
    let pricing = Pricing::new(&prices);
    let usage: Vec<UsageRow> = input.usage.iter().filter(|r| r.workflow_id == "wf-42").cloned().collect();
    let activity: Vec<ActivityRow> = input.activity.iter().filter(|r| r.workflow_id == "wf-42").cloned().collect();
    let workflow = build::workflow_report("wf-42", &usage, &activity, &pricing);
    let week = 7 * 24 * 3600 * 1000;
    let top = build::top_report(
        input.now_ms - week,
        input.now_ms,
        input.now_ms,
        Dimension::Workflow,
        10,
        &input.usage,
        &input.activity,
        &input.statuses,
        &pricing,
    );
    (Report::Workflow(workflow), Report::Top(top))
}

/// Compares `actual` with the golden file, or rewrites it under UPDATE_GOLDEN.
fn golden(name: &str, actual: &str) {
    let path = dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 cargo test --test report_golden rewrites it)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn workflow_report_in_every_format_matches_its_golden_file() {
    let (workflow, _) = reports();
    golden("workflow.table.txt", &render(&workflow, Format::Table, false));
    golden("workflow.md", &render(&workflow, Format::Markdown, false));
    golden("workflow.csv", &render(&workflow, Format::Csv, false));
    golden("workflow.json", &render(&workflow, Format::Json, false));
    golden("workflow.html", &render(&workflow, Format::Html, false));
}

#[test]
fn top_report_in_every_format_matches_its_golden_file() {
    let (_, top) = reports();
    golden("top.table.txt", &render(&top, Format::Table, false));
    golden("top.md", &render(&top, Format::Markdown, false));
    golden("top.csv", &render(&top, Format::Csv, false));
    golden("top.json", &render(&top, Format::Json, false));
}

/// What the golden files show must follow from the input, not only match a file: the checks below are computed
/// from rows.json and the shipped price table.
#[test]
fn the_golden_input_exercises_the_price_check() {
    let (Report::Workflow(workflow), Report::Top(top)) = reports() else { unreachable!() };
    let order: Vec<&str> = workflow.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(order, ["analyze", "plan", "implement", "review", "docs", ""]);
    let check = &workflow.price_check;
    assert_eq!(check.unknown_models, ["claude-mystery-9"], "listed, not priced");
    let flagged: Vec<&str> = check.models.iter().filter(|m| m.flagged).map(|m| m.model.as_str()).collect();
    assert_eq!(flagged, ["claude-opus-5-5"], "{check:#?}");
    let unstaged = workflow.stages.iter().find(|s| s.stage.is_empty()).unwrap();
    assert_eq!(unstaged.figures.recomputed_cost_usd, None, "a group with an unknown model has no recomputed cost");
    let input = input();
    let tools: u64 = input.activity.iter().filter(|a| a.workflow_id == "wf-42").map(|a| a.tool_calls).sum();
    assert_eq!(workflow.totals.tool_calls, tools);
    assert_eq!(top.rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["wf-42", "wf-43"]);
    assert_eq!(top.rows[0].status.as_deref(), Some("closed"), "Beads' status");
    assert_eq!(top.rows[1].status.as_deref(), Some("active"), "its last request was 100 s before now");
    let flags: Vec<bool> = top.rows.iter().map(|r| r.price_flagged).collect();
    assert_eq!(flags, [true, false], "wf-42 holds the mispriced model, wf-43 does not");
    // Colour only when asked for, and then in the table only.
    let plain = render(&Report::Workflow(workflow.clone()), Format::Table, false);
    let coloured = render(&Report::Workflow(workflow), Format::Table, true);
    assert!(!plain.contains('\x1b') && coloured.contains('\x1b'));
}
