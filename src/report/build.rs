//! Rows → reports, pure: adds up the ledger's usage and activity groups per stage, agent, workflow or any
//! dimension, prices every group with the price table and orders the result. No I/O: the caller passes `now`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use crate::ledger::activity::ActivityRow;
use crate::ledger::prices::{self, ModelPrice, Tokens};
use crate::ledger::status::StatusRow;
use crate::ledger::usage::UsageRow;

use super::model::*;

/// A relative difference above this between reported and recomputed cost is flagged.
pub const PRICE_TOLERANCE: f64 = 0.01;

/// A workflow whose last request is younger than this counts as `active`.
const ACTIVE_WITHIN_MS: i64 = 10 * 60 * 1000;

/// The price table and its thresholds, as the usage rows were queried with.
pub struct Pricing<'a> {
    /// Model id → prices.
    pub prices: &'a BTreeMap<String, ModelPrice>,
    /// [`prices::thresholds`] of `prices`: the query counted how many each prompt exceeds.
    pub thresholds: Vec<u64>,
}

impl<'a> Pricing<'a> {
    /// Pricing with `prices`.
    pub fn new(prices: &'a BTreeMap<String, ModelPrice>) -> Pricing<'a> {
        Pricing { prices, thresholds: prices::thresholds(prices) }
    }

    /// The entry used for a row's model and the row's recomputed cost; None for an unknown model.
    fn price(&self, row: &UsageRow) -> Option<(String, f64)> {
        let (key, price) = prices::lookup(self.prices, &row.model)?;
        let long = price
            .long_prompt_above()
            .and_then(|above| self.thresholds.iter().position(|&t| t == above))
            .is_some_and(|index| usize::from(row.prompt_tier) > index);
        let tokens = Tokens {
            input: row.input_tokens,
            output: row.output_tokens,
            cache_read: row.cache_read_tokens,
            cache_creation: row.cache_creation_tokens,
            cache_creation_5m: row.cache_creation_5m_tokens,
            cache_creation_1h: row.cache_creation_1h_tokens,
        };
        Some((key.to_string(), price.cost(&tokens, long)))
    }
}

/// Sums of one group while rows are added.
#[derive(Default)]
struct Acc {
    figures: Figures,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    models: BTreeSet<String>,
    reported_priced: f64,
    recomputed: f64,
    unknown: BTreeSet<String>,
    unknown_cost: f64,
    /// Priced models: reported and recomputed cost.
    per_model: BTreeMap<String, (f64, f64)>,
    workflows: BTreeSet<String>,
    paths: BTreeSet<String>,
    stages: BTreeSet<String>,
    agents: BTreeSet<String>,
}

impl Acc {
    fn add_usage(&mut self, row: &UsageRow, priced: &Option<(String, f64)>) {
        let f = &mut self.figures;
        f.requests += row.requests;
        f.input_tokens += row.input_tokens;
        f.output_tokens += row.output_tokens;
        f.cache_read_tokens += row.cache_read_tokens;
        f.cache_creation_tokens += row.cache_creation_tokens;
        f.cost_usd += row.cost_usd;
        f.request_duration_ms += row.duration_ms;
        self.first_ms = Some(self.first_ms.map_or(row.first_ms, |m| m.min(row.first_ms)));
        self.last_ms = Some(self.last_ms.map_or(row.last_ms, |m| m.max(row.last_ms)));
        self.models.insert(row.model.clone());
        match priced {
            Some((_, cost)) => {
                self.reported_priced += row.cost_usd;
                self.recomputed += cost;
                let (reported, recomputed) = self.per_model.entry(row.model.clone()).or_default();
                *reported += row.cost_usd;
                *recomputed += cost;
            }
            None => {
                self.unknown.insert(row.model.clone());
                self.unknown_cost += row.cost_usd;
            }
        }
        self.workflows.insert(row.workflow_id.clone());
        self.paths.insert(row.workflow_path.clone());
        self.stages.insert(row.stage.clone());
        self.agents.insert(row.agent.clone());
    }

    fn add_activity(&mut self, row: &ActivityRow) {
        self.figures.tool_calls += row.tool_calls;
        self.figures.tool_failures += row.tool_failures;
        self.figures.api_errors += row.api_errors;
        self.workflows.insert(row.workflow_id.clone());
        self.stages.insert(row.stage.clone());
        self.agents.insert(row.agent.clone());
    }

    /// The whole group, or one of its models, is priced more than the tolerance away from its tokens × price.
    fn flagged(&self) -> bool {
        differs(self.reported_priced, self.recomputed)
            || self.per_model.values().any(|&(reported, recomputed)| differs(reported, recomputed))
    }

    fn figures(&self) -> Figures {
        let mut f = self.figures.clone();
        let prompt = f.input_tokens + f.cache_read_tokens + f.cache_creation_tokens;
        f.cache_hit_rate = (prompt > 0).then(|| f.cache_read_tokens as f64 / prompt as f64);
        f.recomputed_cost_usd = self.unknown.is_empty().then_some(self.recomputed);
        f.started_at = self.first_ms.map(rfc3339_ms);
        f.ended_at = self.last_ms.map(rfc3339_ms);
        f.wall_clock_ms = match (self.first_ms, self.last_ms) {
            (Some(first), Some(last)) => (last - first).max(0) as u64,
            _ => 0,
        };
        f.models = self.models.iter().cloned().collect();
        f
    }
}

/// Reported and recomputed differ by more than [`PRICE_TOLERANCE`] of the recomputed cost.
fn differs(reported: f64, recomputed: f64) -> bool {
    (reported - recomputed).abs() > PRICE_TOLERANCE * recomputed
}

fn ratio(reported: f64, recomputed: f64) -> Option<f64> {
    (recomputed != 0.0).then(|| (reported - recomputed) / recomputed)
}

/// Unix ms → `2026-12-01T16:05:00.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Workflow order: analyze, plan, implement, review, then other stages by name, unstaged last.
pub fn stage_order(stage: &str) -> (u8, &str) {
    match stage {
        "analyze" => (0, ""),
        "plan" => (1, ""),
        "implement" => (2, ""),
        "review" => (3, ""),
        "" => (5, ""),
        other => (4, other),
    }
}

fn ordered_stages<'s>(stages: impl IntoIterator<Item = &'s String>) -> Vec<String> {
    let mut stages: Vec<String> = stages.into_iter().cloned().collect();
    stages.sort_by(|a, b| stage_order(a).cmp(&stage_order(b)));
    stages
}

/// The price check over every usage row.
fn price_check(rows: &[(&UsageRow, Option<(String, f64)>)]) -> PriceCheck {
    let mut per_model: BTreeMap<&str, ModelCheck> = BTreeMap::new();
    let mut all = Acc::default();
    for (row, priced) in rows {
        all.add_usage(row, priced);
        let check = per_model.entry(&row.model).or_insert_with(|| ModelCheck {
            model: row.model.clone(),
            priced_as: priced.as_ref().map(|(key, _)| key.clone()),
            ..ModelCheck::default()
        });
        check.requests += row.requests;
        check.reported_cost_usd += row.cost_usd;
        if let Some((_, cost)) = priced {
            *check.recomputed_cost_usd.get_or_insert(0.0) += cost;
        }
    }
    let models = per_model
        .into_values()
        .map(|mut check| {
            if let Some(recomputed) = check.recomputed_cost_usd {
                check.difference_ratio = ratio(check.reported_cost_usd, recomputed);
                check.flagged = differs(check.reported_cost_usd, recomputed);
            }
            check
        })
        .collect();
    PriceCheck {
        tolerance: PRICE_TOLERANCE,
        reported_priced_cost_usd: all.reported_priced,
        recomputed_cost_usd: all.recomputed,
        difference_ratio: ratio(all.reported_priced, all.recomputed),
        flagged: all.flagged(),
        unknown_models: all.unknown.iter().cloned().collect(),
        unknown_models_cost_usd: all.unknown_cost,
        models,
    }
}

fn priced<'r>(usage: &'r [UsageRow], pricing: &Pricing) -> Vec<(&'r UsageRow, Option<(String, f64)>)> {
    usage.iter().map(|row| (row, pricing.price(row))).collect()
}

/// The report of one workflow from its usage and activity rows.
pub fn workflow_report(
    workflow_id: &str,
    usage: &[UsageRow],
    activity: &[ActivityRow],
    pricing: &Pricing,
) -> WorkflowReport {
    let rows = priced(usage, pricing);
    let mut stages: BTreeMap<String, Acc> = BTreeMap::new();
    let mut agents: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for (row, price) in &rows {
        stages.entry(row.stage.clone()).or_default().add_usage(row, price);
        agents.entry(row.agent.clone()).or_default().add_usage(row, price);
        total.add_usage(row, price);
    }
    for row in activity {
        stages.entry(row.stage.clone()).or_default().add_activity(row);
        agents.entry(row.agent.clone()).or_default().add_activity(row);
        total.add_activity(row);
    }
    let mut stage_list: Vec<StageFigures> = stages
        .iter()
        .map(|(stage, acc)| StageFigures {
            stage: stage.clone(),
            agents: acc.agents.iter().cloned().collect(),
            figures: acc.figures(),
        })
        .collect();
    stage_list.sort_by(|a, b| stage_order(&a.stage).cmp(&stage_order(&b.stage)));
    let mut agent_list: Vec<AgentFigures> = agents
        .iter()
        .map(|(agent, acc)| AgentFigures {
            agent: agent.clone(),
            stages: ordered_stages(&acc.stages),
            figures: acc.figures(),
        })
        .collect();
    agent_list.sort_by(|a, b| b.figures.cost_usd.total_cmp(&a.figures.cost_usd).then_with(|| a.agent.cmp(&b.agent)));
    WorkflowReport {
        report: "workflow".into(),
        workflow_id: workflow_id.to_string(),
        workflow_paths: total.paths.iter().filter(|p| !p.is_empty()).cloned().collect(),
        stages: stage_list,
        agents: agent_list,
        totals: total.figures(),
        price_check: price_check(&rows),
    }
}

/// The window's report grouped by `by`, top `limit` by cost. `statuses` are Beads' statuses of workflows.
#[allow(clippy::too_many_arguments)]
pub fn top_report(
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    by: Dimension,
    limit: usize,
    usage: &[UsageRow],
    activity: &[ActivityRow],
    statuses: &[StatusRow],
    pricing: &Pricing,
) -> TopReport {
    let rows = priced(usage, pricing);
    // A workflow's path, so its tool calls and errors (which carry none) can be grouped by path.
    let path_of: BTreeMap<&str, &str> =
        usage.iter().map(|r| (r.workflow_id.as_str(), r.workflow_path.as_str())).collect();
    let usage_key = |row: &UsageRow| -> Option<String> {
        Some(match by {
            Dimension::Workflow => row.workflow_id.clone(),
            Dimension::Stage => row.stage.clone(),
            Dimension::Agent => row.agent.clone(),
            Dimension::Model => row.model.clone(),
            Dimension::Path => row.workflow_path.clone(),
        })
    };
    let activity_key = |row: &ActivityRow| -> Option<String> {
        match by {
            Dimension::Workflow => Some(row.workflow_id.clone()),
            Dimension::Stage => Some(row.stage.clone()),
            Dimension::Agent => Some(row.agent.clone()),
            // Tool results and API errors carry no model: they are not attributed to one.
            Dimension::Model => None,
            Dimension::Path => path_of.get(row.workflow_id.as_str()).map(|p| p.to_string()),
        }
    };
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for (row, price) in &rows {
        if let Some(key) = usage_key(row) {
            groups.entry(key).or_default().add_usage(row, price);
        }
        total.add_usage(row, price);
    }
    for row in activity {
        if let Some(key) = activity_key(row) {
            groups.entry(key).or_default().add_activity(row);
        }
        total.add_activity(row);
    }
    let status_of: BTreeMap<&str, &str> =
        statuses.iter().map(|s| (s.workflow_id.as_str(), s.status.as_str())).collect();
    let mut out: Vec<TopRow> = groups
        .iter()
        .map(|(key, acc)| {
            let workflow = by == Dimension::Workflow;
            let status = workflow.then(|| match status_of.get(key.as_str()) {
                Some(status) => status.to_string(),
                None if acc.last_ms.is_some_and(|last| now_ms - last < ACTIVE_WITHIN_MS) => "active".into(),
                None => "idle".into(),
            });
            TopRow {
                key: key.clone(),
                workflows: acc.workflows.len() as u64,
                workflow_paths: if workflow {
                    acc.paths.iter().filter(|p| !p.is_empty()).cloned().collect()
                } else {
                    Vec::new()
                },
                stages: if workflow { ordered_stages(acc.stages.iter().filter(|s| !s.is_empty())) } else { Vec::new() },
                status,
                price_flagged: acc.flagged(),
                figures: acc.figures(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.figures.cost_usd.total_cmp(&a.figures.cost_usd).then_with(|| a.key.cmp(&b.key)));
    let rows_omitted = out.len().saturating_sub(limit);
    out.truncate(limit);
    TopReport {
        report: "top".into(),
        from: rfc3339_ms(from_ms),
        to: rfc3339_ms(to_ms),
        by,
        limit,
        rows: out,
        rows_omitted,
        totals: total.figures(),
        price_check: price_check(&rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stage: &str, agent: &str, model: &str, cost: f64) -> UsageRow {
        UsageRow {
            workflow_id: "wf".into(),
            workflow_path: "full".into(),
            stage: stage.into(),
            agent: agent.into(),
            model: model.into(),
            requests: 1,
            input_tokens: 1_000_000,
            cost_usd: cost,
            first_ms: 1_000,
            last_ms: 2_000,
            ..UsageRow::default()
        }
    }

    #[test]
    fn stages_come_in_workflow_order_and_unknown_models_are_not_priced() {
        let prices = prices::shipped();
        let pricing = Pricing::new(&prices);
        let usage = [
            row("review", "reviewer", "claude-haiku-4-5-20251001", 1.0),
            row("zeta", "z", "mystery-1", 7.0),
            row("analyze", "analyst", "claude-opus-4-5", 5.0),
            row("", "orchestrator", "claude-opus-4-5", 5.5),
        ];
        let report = workflow_report("wf", &usage, &[], &pricing);
        let order: Vec<&str> = report.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(order, ["analyze", "review", "zeta", ""]);
        assert_eq!(report.stages[2].figures.recomputed_cost_usd, None);
        assert_eq!(report.stages[0].figures.recomputed_cost_usd, Some(5.0));
        let check = &report.price_check;
        assert_eq!(check.unknown_models, ["mystery-1"]);
        assert_eq!(check.unknown_models_cost_usd, 7.0);
        assert_eq!(check.recomputed_cost_usd, 11.0);
        assert!(check.flagged, "5.5 reported for 5.0 worth of opus: {check:?}");
        let opus = check.models.iter().find(|m| m.model == "claude-opus-4-5").unwrap();
        assert!(opus.flagged && (opus.difference_ratio.unwrap() - 0.05).abs() < 1e-12);
        let haiku = check.models.iter().find(|m| m.model.starts_with("claude-haiku")).unwrap();
        assert_eq!(haiku.priced_as.as_deref(), Some("claude-haiku-4-5"));
        assert!(!haiku.flagged);
    }

    #[test]
    fn the_long_prompt_tier_follows_the_counted_thresholds() {
        let prices = prices::shipped();
        let pricing = Pricing::new(&prices);
        let mut long = row("plan", "planner", "claude-haiku-5-5", 0.5);
        long.prompt_tier = 1;
        let short = row("plan", "planner", "claude-haiku-5-5", 0.1);
        assert_eq!(pricing.price(&long).unwrap().1, 0.5);
        assert!((pricing.price(&short).unwrap().1 - 0.1).abs() < 1e-12);
    }
}
