//! `tokenledger demo`: realistic Claude Code telemetry for N workflows over the last days, generated from a seed
//! and sent as OTLP, so dashboards and alerts have something to show before real workflows run.
//!
//! [`generate`] is pure (the seed and the end time decide every byte): [`plan`] picks the workflows and what each
//! stage should cost, [`workflow`] plays each one out as `claude` sessions, [`session`] writes a session's records
//! and metrics in the shapes Claude Code 2.1.331 sends. [`send`] posts them over OTLP/HTTP (protobuf).

pub mod clock;
pub mod otlp;
pub mod plan;
pub mod random;
pub mod send;
pub mod session;
pub mod usage;
pub mod workflow;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, ResourceMetrics};
use serde::Serialize;

use plan::{Case, Scope};
use random::Random;
use workflow::Developer;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Workflows (at least [`plan::MIN_WORKFLOWS`]).
    pub workflows: usize,
    /// Days before `now_ns` the workflows are spread over (the interesting old ones need at least 2).
    pub days: u32,
    /// The seed.
    pub seed: u64,
    /// The per-workflow budget the one over-budget workflow crosses, USD.
    pub budget_usd: f64,
    /// The end of the span, ns since the epoch; nothing is stamped later.
    pub now_ns: i64,
}

/// The generated telemetry: one entry per `claude` session, in the order the sessions started.
pub struct Demo {
    /// Each session's log records under its resource.
    pub logs: Vec<ResourceLogs>,
    /// Each session's metrics under its resource.
    pub metrics: Vec<ResourceMetrics>,
    /// What is in it.
    pub summary: Summary,
}

/// What the demo holds, for the summary it prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Workflows.
    pub workflows: usize,
    /// Of which on the fast path.
    pub fast_workflows: usize,
    /// Of which run as subagents of one run.
    pub subagent_workflows: usize,
    /// `claude` sessions.
    pub sessions: usize,
    /// Log records.
    pub log_records: usize,
    /// api_request events.
    pub api_requests: usize,
    /// Metric data points.
    pub metric_points: usize,
    /// Sum of every api_request's cost_usd.
    pub cost_usd: f64,
    /// Of which in the UTC day of the span's end (what a daily team budget is compared with).
    pub day_cost_usd: f64,
    /// Of which in its ISO week (from Monday 00:00 UTC; a weekly team budget).
    pub week_cost_usd: f64,
    /// The budget used.
    pub budget_usd: f64,
    /// The one workflow over it.
    pub over_budget: OverBudget,
    /// The seed.
    pub seed: u64,
}

/// The workflow that crosses its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverBudget {
    /// Its id.
    pub workflow_id: String,
    /// Its path.
    pub workflow_path: String,
    /// Sum of its api_request cost_usd.
    pub cost_usd: f64,
}

/// The developers whose machines the workflows run on.
fn developers(random: &mut Random) -> Vec<Developer> {
    ["6.8.0-51-generic", "6.11.0-1012-azure", "6.8.0-51-generic"]
        .into_iter()
        .map(|os_version| Developer { user_id: random.hex(64), os_version })
        .collect()
}

/// Generates the demo of `options`.
pub fn generate(options: &Options) -> Demo {
    let mut random = Random::new(options.seed);
    let scope = Scope {
        workflows: options.workflows,
        days: options.days,
        budget_usd: options.budget_usd,
        now_ns: options.now_ns,
    };
    let developers = developers(&mut random);
    let pricer = usage::Pricer::default();
    let plans = plan::plan(&scope, &mut random);
    let mut sessions = Vec::new();
    let mut over_budget = None;
    for plan in &plans {
        let developer = random.pick(&developers);
        let played = workflow::play(plan, developer, &pricer, &mut random);
        if plan.case == Case::OverBudget {
            let cost = played.iter().map(|(logs, _)| cost_since(logs, i64::MIN)).sum();
            over_budget = Some(OverBudget {
                workflow_id: plan.id.clone(),
                workflow_path: plan.path.name().to_string(),
                cost_usd: cost,
            });
        }
        sessions.extend(played);
    }
    sessions.sort_by_key(|(logs, _)| first_time(logs));
    let (logs, metrics): (Vec<_>, Vec<_>) = sessions.into_iter().unzip();
    let records = |l: &ResourceLogs| l.scope_logs.iter().map(|s| s.log_records.len()).sum::<usize>();
    let summary = Summary {
        workflows: plans.len(),
        fast_workflows: plans.iter().filter(|p| p.path == plan::WorkflowPath::Fast).count(),
        subagent_workflows: plans.iter().filter(|p| p.mode == plan::Mode::Subagents).count(),
        sessions: logs.len(),
        log_records: logs.iter().map(records).sum(),
        api_requests: logs.iter().map(|l| events_named(l, "claude_code.api_request")).sum(),
        metric_points: metrics.iter().map(points).sum(),
        cost_usd: logs.iter().map(|l| cost_since(l, i64::MIN)).sum(),
        day_cost_usd: logs.iter().map(|l| cost_since(l, day_start(options.now_ns))).sum(),
        week_cost_usd: logs.iter().map(|l| cost_since(l, week_start(options.now_ns))).sum(),
        budget_usd: options.budget_usd,
        over_budget: over_budget.expect("the plan always has an over-budget workflow"),
        seed: options.seed,
    };
    Demo { logs, metrics, summary }
}

impl Demo {
    /// The log export requests, at most `sessions` sessions each (a collector batches several runs likewise).
    pub fn log_requests(&self, sessions: usize) -> Vec<ExportLogsServiceRequest> {
        self.logs.chunks(sessions.max(1)).map(|c| ExportLogsServiceRequest { resource_logs: c.to_vec() }).collect()
    }

    /// The metric export requests, at most `sessions` sessions each.
    pub fn metric_requests(&self, sessions: usize) -> Vec<ExportMetricsServiceRequest> {
        self.metrics
            .chunks(sessions.max(1))
            .map(|c| ExportMetricsServiceRequest { resource_metrics: c.to_vec() })
            .collect()
    }
}

fn first_time(logs: &ResourceLogs) -> u64 {
    logs.scope_logs.iter().flat_map(|s| &s.log_records).map(|r| r.time_unix_nano).min().unwrap_or(0)
}

fn events_named(logs: &ResourceLogs, body: &str) -> usize {
    logs.scope_logs
        .iter()
        .flat_map(|s| &s.log_records)
        .filter(|r| matches!(r.body.as_ref().and_then(|b| b.value.as_ref()), Some(Value::StringValue(v)) if v == body))
        .count()
}

const DAY_NS: i64 = 86_400_000_000_000;

/// 00:00 UTC of the day of `nanos`.
fn day_start(nanos: i64) -> i64 {
    nanos - nanos.rem_euclid(DAY_NS)
}

/// Monday 00:00 UTC of the ISO week of `nanos` (1970-01-01 was a Thursday).
fn week_start(nanos: i64) -> i64 {
    let day = nanos.div_euclid(DAY_NS);
    (day - (day + 3).rem_euclid(7)) * DAY_NS
}

/// Sum of the cost_usd of a session's api_request events at or after `since_ns`.
fn cost_since(logs: &ResourceLogs, since_ns: i64) -> f64 {
    logs.scope_logs
        .iter()
        .flat_map(|s| &s.log_records)
        .filter(|r| r.time_unix_nano as i64 >= since_ns)
        .flat_map(|r| &r.attributes)
        .filter(|a| a.key == "cost_usd")
        .filter_map(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::DoubleValue(cost)) => Some(*cost),
            _ => None,
        })
        .sum()
}

fn points(metrics: &ResourceMetrics) -> usize {
    metrics
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Sum(sum)) => sum.data_points.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests;
