//! The ledger figures in Prometheus' text exposition format (0.0.4), rendered from the last snapshot as a whole:
//! the `metrics` crate cannot remove a series, and a workflow that left the window must disappear from /metrics.
//! Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::figures::Figures;
use crate::config::BudgetsConfig;

/// Series names: the contract with the alert rules and the relay-health dashboard (notes: contract-6).
pub mod names {
    /// Cost so far of each active workflow.
    pub const WORKFLOW_COST: &str = "tokenledger_ledger_workflow_cost_usd";
    /// The budget that applies to each active workflow.
    pub const WORKFLOW_BUDGET: &str = "tokenledger_ledger_workflow_budget_usd";
    /// api_request count of each active workflow.
    pub const WORKFLOW_REQUESTS: &str = "tokenledger_ledger_workflow_requests";
    /// Cache-hit ratio of each active workflow.
    pub const WORKFLOW_CACHE_HIT: &str = "tokenledger_ledger_workflow_cache_hit_ratio";
    /// Team spend of the current day / week.
    pub const SPEND: &str = "tokenledger_ledger_spend_usd";
    /// Team budget of a day / week.
    pub const TEAM_BUDGET: &str = "tokenledger_ledger_team_budget_usd";
    /// Cost of each stage of each active workflow.
    pub const STAGE_COST: &str = "tokenledger_ledger_stage_cost_usd";
    /// Median per-(workflow, stage) cost of each stage.
    pub const STAGE_MEDIAN: &str = "tokenledger_ledger_stage_median_cost_usd";
    /// Share of Opus requests where a model was expected.
    pub const OPUS_RATIO: &str = "tokenledger_ledger_opus_request_ratio";
    /// Whether the last refresh succeeded.
    pub const UP: &str = "tokenledger_ledger_up";
    /// Unix time of the last successful refresh.
    pub const LAST_SUCCESS: &str = "tokenledger_ledger_last_success_timestamp_seconds";
    /// Refresh latency histogram.
    pub const REFRESH_SECONDS: &str = "tokenledger_ledger_refresh_duration_seconds";
    /// Failed refreshes.
    pub const REFRESH_ERRORS: &str = "tokenledger_ledger_refresh_errors_total";
    /// Workflows left out by the cap.
    pub const SERIES_OMITTED: &str = "tokenledger_ledger_series_omitted";
}

/// Upper bounds of the refresh latency buckets (seconds).
pub const REFRESH_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The exporter's own state beside the figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// The last refresh succeeded.
    pub up: bool,
    /// Unix time of the last success, if any.
    pub last_success: Option<f64>,
    /// Failed refreshes since start.
    pub errors: u64,
    /// Refresh latencies: counts per bucket of [`REFRESH_BUCKETS`] (not cumulative), their sum and count.
    pub latency_buckets: [u64; REFRESH_BUCKETS.len()],
    /// Sum of the latencies (seconds).
    pub latency_sum: f64,
    /// Refreshes timed.
    pub latency_count: u64,
}

impl Health {
    /// Adds one refresh latency.
    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = REFRESH_BUCKETS.iter().position(|upper| seconds <= *upper) {
            self.latency_buckets[i] += 1;
        }
        self.latency_sum += seconds;
        self.latency_count += 1;
    }
}

/// Escapes a label value: backslash, double quote and line feed, as the exposition format requires.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family: its samples as (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family { name, kind, help, samples: Vec::new() }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }

    fn render(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            sample(out, labels, *value);
        }
    }
}

fn sample(out: &mut String, labels: &[(&str, String)], value: f64) {
    if !labels.is_empty() {
        out.push('{');
        for (i, (name, value)) in labels.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(out, "{comma}{name}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

/// Renders the figures (when any refresh has succeeded) and the exporter's health.
pub fn render(figures: Option<&Figures>, budgets: &BudgetsConfig, health: &Health) -> String {
    let mut out = String::new();
    if let Some(figures) = figures {
        render_figures(&mut out, figures, budgets);
    }
    render_health(&mut out, health);
    out
}

fn render_figures(out: &mut String, figures: &Figures, budgets: &BudgetsConfig) {
    let mut cost = Family::new(names::WORKFLOW_COST, "gauge", "Cost so far (USD) of each recently active workflow.");
    let mut budget = Family::new(names::WORKFLOW_BUDGET, "gauge", "Budget (USD) that applies to the workflow.");
    let mut requests = Family::new(names::WORKFLOW_REQUESTS, "gauge", "api_request events of the workflow so far.");
    let mut cache = Family::new(
        names::WORKFLOW_CACHE_HIT,
        "gauge",
        "cache_read / (input + cache_read + cache_creation) tokens of the workflow.",
    );
    let mut path_of = BTreeMap::new();
    for w in &figures.workflows {
        let labels = vec![("workflow_id", w.workflow_id.clone()), ("workflow_path", w.workflow_path.clone())];
        cost.add(labels.clone(), w.cost_usd);
        requests.add(labels.clone(), w.requests as f64);
        if let Some(usd) = budgets.for_workflow(&w.workflow_path) {
            budget.add(labels.clone(), usd);
        }
        if let Some(ratio) = w.cache_hit_ratio() {
            cache.add(labels, ratio);
        }
        path_of.insert(w.workflow_id.as_str(), w.workflow_path.as_str());
    }

    let mut spend = Family::new(names::SPEND, "gauge", "Spend (USD) of the current UTC day / ISO week.");
    let mut team_budget = Family::new(names::TEAM_BUDGET, "gauge", "Team budget (USD) per day / week.");
    let mut median = Family::new(
        names::STAGE_MEDIAN,
        "gauge",
        "Median per-(workflow, stage) cost (USD) of the stage over the median window.",
    );
    let (day, week) = figures.team.iter().fold((0.0, 0.0), |(d, w), s| (d + s.day_usd, w + s.week_usd));
    spend.add(vec![("period", "day".into())], day);
    spend.add(vec![("period", "week".into())], week);
    for stage in figures.team.iter().filter(|s| !s.stage.is_empty() && s.pairs > 0) {
        median.add(vec![("stage", stage.stage.clone())], stage.median_usd);
    }
    for (period, usd) in [("day", budgets.daily_usd), ("week", budgets.weekly_usd)] {
        if usd > 0.0 {
            team_budget.add(vec![("period", period.into())], usd);
        }
    }

    // Stage cost sums the model_expected groups; the Opus ratio keeps them apart and needs an expectation.
    let mut stage_costs: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    let mut opus = Family::new(
        names::OPUS_RATIO,
        "gauge",
        "Share of the requests with model_expected set whose model contains \"opus\".",
    );
    for group in &figures.stages {
        let path = path_of.get(group.workflow_id.as_str()).copied().unwrap_or_default();
        if !group.stage.is_empty() {
            *stage_costs.entry((group.workflow_id.as_str(), group.stage.as_str())).or_default() += group.cost_usd;
        }
        if !group.model_expected.is_empty() && group.requests > 0 {
            let labels = vec![
                ("workflow_id", group.workflow_id.clone()),
                ("workflow_path", path.to_string()),
                ("stage", group.stage.clone()),
                ("model_expected", group.model_expected.clone()),
            ];
            opus.add(labels, group.opus_requests as f64 / group.requests as f64);
        }
    }
    let mut stage = Family::new(names::STAGE_COST, "gauge", "Cost so far (USD) of each stage of an active workflow.");
    for ((workflow_id, stage_name), usd) in stage_costs {
        let path = path_of.get(workflow_id).copied().unwrap_or_default();
        let labels = vec![
            ("workflow_id", workflow_id.to_string()),
            ("workflow_path", path.to_string()),
            ("stage", stage_name.to_string()),
        ];
        stage.add(labels, usd);
    }
    let mut omitted = Family::new(
        names::SERIES_OMITTED,
        "gauge",
        "Active workflows left out because ledger_export.max_workflows was reached.",
    );
    omitted.add(Vec::new(), figures.omitted as f64);

    for family in [cost, budget, requests, cache, spend, team_budget, stage, median, opus, omitted] {
        family.render(out);
    }
}

fn render_health(out: &mut String, health: &Health) {
    let mut up =
        Family::new(names::UP, "gauge", "1 when the last ledger refresh succeeded, 0 when the figures are stale.");
    up.add(Vec::new(), if health.up { 1.0 } else { 0.0 });
    let mut errors = Family::new(names::REFRESH_ERRORS, "counter", "Failed ledger refreshes.");
    errors.add(Vec::new(), health.errors as f64);
    let mut last = Family::new(names::LAST_SUCCESS, "gauge", "Unix time of the last successful ledger refresh.");
    if let Some(at) = health.last_success {
        last.add(Vec::new(), at);
    }
    for family in [up, errors, last] {
        family.render(out);
    }
    let name = names::REFRESH_SECONDS;
    let _ = writeln!(out, "# HELP {name} Duration of ledger refreshes (seconds), failed ones included.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (upper, count) in REFRESH_BUCKETS.iter().zip(health.latency_buckets) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{upper}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", health.latency_count);
    let _ = writeln!(out, "{name}_sum {}", number(health.latency_sum));
    let _ = writeln!(out, "{name}_count {}", health.latency_count);
}

#[cfg(test)]
mod tests {
    use super::super::figures::{StageGroup, StageTotals, WorkflowFigures};
    use super::*;

    fn workflow(id: &str, path: &str, cost: f64) -> WorkflowFigures {
        WorkflowFigures {
            workflow_id: id.into(),
            workflow_path: path.into(),
            cost_usd: cost,
            requests: 2,
            input_tokens: 1,
            cache_read_tokens: 3,
            cache_creation_tokens: 0,
            active_workflows: 2,
        }
    }

    fn group(id: &str, stage: &str, expected: &str, cost: f64, requests: u64, opus: u64) -> StageGroup {
        StageGroup {
            workflow_id: id.into(),
            stage: stage.into(),
            model_expected: expected.into(),
            cost_usd: cost,
            requests,
            opus_requests: opus,
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_label("plain é"), "plain é");
    }

    #[test]
    fn figures_render_with_budgets_stage_sums_and_opus_shares() {
        let figures = Figures {
            workflows: vec![workflow("w\"1", "full", 1.5), workflow("w2", "fast", 0.25)],
            stages: vec![
                group("w\"1", "plan", "", 0.5, 1, 0),
                group("w\"1", "plan", "sonnet", 1.0, 4, 1),
                group("w2", "", "opus", 0.25, 2, 2),
            ],
            team: vec![
                StageTotals { stage: "plan".into(), day_usd: 1.5, week_usd: 2.0, median_usd: 1.5, pairs: 1 },
                StageTotals { stage: "".into(), day_usd: 0.25, week_usd: 0.5, median_usd: 0.0, pairs: 1 },
                StageTotals { stage: "review".into(), day_usd: 0.0, week_usd: 3.0, median_usd: 0.0, pairs: 0 },
            ],
            omitted: 3,
        };
        let mut budgets = BudgetsConfig { workflow_usd: 10.0, daily_usd: 0.0, weekly_usd: 50.0, ..Default::default() };
        budgets.workflow_path_usd.insert("fast".into(), 0.0);
        let text = render(Some(&figures), &budgets, &Health::default());
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has(r#"tokenledger_ledger_workflow_cost_usd{workflow_id="w\"1",workflow_path="full"} 1.5"#), "{text}");
        assert!(has(r#"tokenledger_ledger_workflow_budget_usd{workflow_id="w\"1",workflow_path="full"} 10"#));
        assert!(!text.contains(r#"tokenledger_ledger_workflow_budget_usd{workflow_id="w2""#), "0: no budget");
        assert!(has(r#"tokenledger_ledger_workflow_cache_hit_ratio{workflow_id="w2",workflow_path="fast"} 0.75"#));
        assert!(has(r#"tokenledger_ledger_stage_cost_usd{workflow_id="w\"1",workflow_path="full",stage="plan"} 1.5"#));
        assert!(!text.contains(r#"stage_cost_usd{workflow_id="w2""#), "no series for an empty stage");
        let ratio = r#"tokenledger_ledger_opus_request_ratio{workflow_id="w\"1",workflow_path="full",stage="plan",model_expected="sonnet"} 0.25"#;
        assert!(has(ratio), "{text}");
        assert_eq!(text.matches("tokenledger_ledger_opus_request_ratio{").count(), 2, "one per expectation");
        assert!(has(r#"tokenledger_ledger_spend_usd{period="day"} 1.75"#));
        assert!(has(r#"tokenledger_ledger_spend_usd{period="week"} 5.5"#), "rows without a stage count as spend");
        assert_eq!(text.matches("tokenledger_ledger_stage_median_cost_usd{").count(), 1, "no pairs, no median");
        assert!(has(r#"tokenledger_ledger_team_budget_usd{period="week"} 50"#));
        assert!(!text.contains(r#"team_budget_usd{period="day"}"#));
        assert!(has(r#"tokenledger_ledger_stage_median_cost_usd{stage="plan"} 1.5"#));
        assert!(has("tokenledger_ledger_series_omitted 3"));
        assert!(has("tokenledger_ledger_up 0"));
    }

    #[test]
    fn health_renders_a_cumulative_histogram_and_no_figures_before_the_first_success() {
        let mut health = Health { errors: 2, ..Default::default() };
        health.observe(0.004);
        health.observe(0.2);
        health.observe(100.0);
        let text = render(None, &BudgetsConfig::default(), &health);
        assert!(!text.contains("workflow_cost_usd") && !text.contains("last_success_timestamp_seconds "));
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has("tokenledger_ledger_refresh_errors_total 2"));
        assert!(has(r#"tokenledger_ledger_refresh_duration_seconds_bucket{le="0.005"} 1"#), "{text}");
        assert!(has(r#"tokenledger_ledger_refresh_duration_seconds_bucket{le="0.25"} 2"#));
        assert!(has(r#"tokenledger_ledger_refresh_duration_seconds_bucket{le="30"} 2"#));
        assert!(has(r#"tokenledger_ledger_refresh_duration_seconds_bucket{le="+Inf"} 3"#));
        assert!(has("tokenledger_ledger_refresh_duration_seconds_count 3"));
    }
}
