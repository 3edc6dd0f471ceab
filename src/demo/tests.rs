//! The demo's promises, checked on the generated records themselves for several seeds: one workflow over budget
//! and recent, nothing that would page among the other recent ones, every dimension the dashboards group by.

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

use super::plan::HOUR_NS;
use super::{generate, Demo, Options};

const NOW: i64 = 1_795_593_706_569_000_000;

fn options(seed: u64) -> Options {
    Options { workflows: 40, days: 7, seed, budget_usd: 10.0, now_ns: NOW }
}

/// One api_request as the checks need it.
struct Request {
    time: i64,
    workflow: String,
    path: String,
    stage: String,
    agent_name: String,
    model: String,
    expected: String,
    cost: f64,
    prompt: u64,
    cache_read: u64,
}

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn requests(demo: &Demo) -> Vec<Request> {
    let mut out = Vec::new();
    for logs in &demo.logs {
        for record in logs.scope_logs.iter().flat_map(|s| &s.log_records) {
            let a: BTreeMap<&str, String> =
                record.attributes.iter().map(|kv| (kv.key.as_str(), text(&kv.value))).collect();
            if a["event.name"] != "api_request" {
                continue;
            }
            let n = |k: &str| a[k].parse::<u64>().unwrap();
            // The relay's stage rule: a subagent named in [stages] takes that stage, else the run's.
            let stage = match a.get("agent.name").map(String::as_str) {
                Some("analyst") => "analyze".to_string(),
                Some("planner") => "plan".to_string(),
                Some("implementer") => "implement".to_string(),
                Some("reviewer") => "review".to_string(),
                _ => a.get("stage").cloned().unwrap_or_default(),
            };
            out.push(Request {
                time: record.time_unix_nano as i64,
                workflow: a["workflow_id"].clone(),
                path: a["workflow_path"].clone(),
                stage,
                agent_name: a.get("agent.name").cloned().unwrap_or_default(),
                model: a["model"].clone(),
                expected: a.get("model_expected").cloned().unwrap_or_default(),
                cost: a["cost_usd"].parse().unwrap(),
                prompt: n("input_tokens") + n("cache_read_tokens") + n("cache_creation_tokens"),
                cache_read: n("cache_read_tokens"),
            });
        }
    }
    out
}

#[test]
fn one_recent_workflow_is_over_budget_and_no_other_recent_one_would_page() {
    for seed in [1, 2, 3, 42, 2026] {
        let demo = generate(&options(seed));
        let requests = requests(&demo);
        let mut cost: BTreeMap<&str, f64> = BTreeMap::new();
        let mut last: BTreeMap<&str, i64> = BTreeMap::new();
        let mut stage_cost: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for r in &requests {
            assert!(r.time <= NOW && r.time >= NOW - 7 * 24 * HOUR_NS, "seed {seed}: {} out of the span", r.time);
            *cost.entry(&r.workflow).or_default() += r.cost;
            *stage_cost.entry((&r.workflow, &r.stage)).or_default() += r.cost;
            let t = last.entry(&r.workflow).or_default();
            *t = (*t).max(r.time);
        }
        let over: Vec<_> = cost.iter().filter(|(_, &c)| c > 10.0).collect();
        assert_eq!(over.len(), 1, "seed {seed}: {over:?}");
        let (over_id, over_cost) = over[0];
        assert_eq!(demo.summary.over_budget.workflow_id, *over_id);
        assert!((demo.summary.over_budget.cost_usd - over_cost).abs() < 1e-9);
        let first = requests.iter().filter(|r| r.workflow == *over_id).map(|r| r.time).min().unwrap();
        assert!(first >= NOW - HOUR_NS, "seed {seed}: the over-budget workflow started over an hour ago");

        let mut by_stage: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for ((_, stage), c) in &stage_cost {
            by_stage.entry(stage).or_default().push(*c);
        }
        let median = |stage: &str| {
            let mut v = by_stage[stage].clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let recent: BTreeSet<&str> = last.iter().filter(|(_, &t)| t >= NOW - 24 * HOUR_NS).map(|(w, _)| *w).collect();
        assert!(recent.len() >= 3, "seed {seed}: {recent:?}");
        for workflow in &recent {
            if workflow != over_id {
                assert!(cost[workflow] < 0.8 * 10.0, "seed {seed}: {workflow} costs {}", cost[workflow]);
            }
            let mine: Vec<&Request> = requests.iter().filter(|r| r.workflow == *workflow).collect();
            let prompt: u64 = mine.iter().map(|r| r.prompt).sum();
            let read: u64 = mine.iter().map(|r| r.cache_read).sum();
            assert!(read as f64 / prompt as f64 > 0.6, "seed {seed}: {workflow} has a low cache-hit rate");
            assert!(
                !mine.iter().any(|r| r.expected == "sonnet" && r.model.contains("opus")),
                "seed {seed}: {workflow} uses Opus where Sonnet is expected"
            );
            for stage in ["analyze", "plan", "implement", "review"] {
                if let Some(c) = stage_cost.get(&(workflow, stage)) {
                    assert!(
                        *c < 3.0 * median(stage),
                        "seed {seed}: {workflow} {stage} {c} vs median {}",
                        median(stage)
                    );
                }
            }
        }
    }
}

#[test]
fn team_spend_stays_under_the_default_daily_and_weekly_budgets() {
    // budgets.daily_usd 150 and weekly_usd 1000 (the defaults): the demo's defaults must not page on them, whatever
    // the time of day it runs.
    for hour in [0, 6, 12, 18, 23] {
        let options = Options {
            now_ns: NOW - NOW.rem_euclid(86_400_000_000_000) + hour * HOUR_NS + 3_540_000_000_000,
            ..options(1)
        };
        let summary = generate(&options).summary;
        assert!(summary.day_cost_usd < 0.8 * 150.0, "{hour}h: {summary:?}");
        assert!(summary.week_cost_usd < 0.8 * 1000.0 && summary.day_cost_usd <= summary.week_cost_usd, "{summary:?}");
        assert!(
            summary.week_cost_usd <= summary.cost_usd && summary.day_cost_usd > summary.over_budget.cost_usd - 1e-9
        );
    }
}

#[test]
fn iso_weeks_start_on_monday() {
    // 2026-11-25 is a Wednesday; its week starts on Monday 2026-11-23.
    assert_eq!(super::week_start(NOW), 1_795_392_000_000_000_000);
    assert_eq!(super::day_start(NOW), 1_795_564_800_000_000_000);
}

#[test]
fn every_dimension_the_dashboards_group_by_is_there() {
    let demo = generate(&options(1));
    let requests = requests(&demo);
    let set = |f: &dyn Fn(&Request) -> String| requests.iter().map(f).collect::<BTreeSet<String>>();
    assert_eq!(set(&|r| r.path.clone()), BTreeSet::from(["fast".into(), "full".into()]));
    assert_eq!(
        set(&|r| r.model.clone()),
        BTreeSet::from(["claude-haiku-5-5".into(), "claude-opus-5-5".into(), "claude-sonnet-5-5".into()])
    );
    for stage in ["analyze", "plan", "implement", "review"] {
        assert!(requests.iter().any(|r| r.stage == stage && r.agent_name.is_empty()), "{stage} as a run");
        assert!(
            requests.iter().any(|r| r.stage == stage && !r.agent_name.is_empty() && r.agent_name != "Explore"),
            "{stage} as a subagent"
        );
    }
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    for record in demo.logs.iter().flat_map(|l| &l.scope_logs).flat_map(|s| &s.log_records) {
        *events.entry(text(&record.body)).or_default() += 1;
    }
    for name in ["api_request", "api_error", "tool_result", "tool_decision", "subagent_completed", "user_prompt"] {
        assert!(events.get(&format!("claude_code.{name}")).copied().unwrap_or(0) > 0, "{name}: {events:?}");
    }
    let failed = demo
        .logs
        .iter()
        .flat_map(|l| &l.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|r| r.attributes.iter().any(|kv| kv.key == "success" && text(&kv.value) == "false"))
        .count();
    assert!(failed > 0);
}

#[test]
fn a_seed_gives_the_same_bytes_and_another_seed_other_ones() {
    let bytes = |seed| {
        let demo = generate(&options(seed));
        let mut all = Vec::new();
        for request in demo.log_requests(8) {
            all.extend(request.encode_to_vec());
        }
        for request in demo.metric_requests(8) {
            all.extend(request.encode_to_vec());
        }
        all
    };
    assert_eq!(bytes(5), bytes(5));
    assert_ne!(bytes(5), bytes(6));
}
