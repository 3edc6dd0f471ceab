//! The demo's workflows before any record exists: when each ran, on which path, whether its stages are separate
//! `claude` runs or subagents of one run, which model each stage used and what it should cost. Pure.
//!
//! The numbers here decide which alerts the data trips, so they are chosen against the rules: a typical full
//! workflow costs [`TYPICAL_SHARE`] of the budget and each (workflow, stage) cost stays within 0.75–1.3× its
//! stage's typical cost, except in three places. The one over-budget workflow (recent) has every stage at
//! [`OVER_BUDGET_FACTOR`]× typical: over its budget, yet each stage under the 3× median alert. The cases meant for
//! the optimisation dashboards (low cache reuse, Opus where Sonnet is expected, one stage costing 4–5×) start
//! more than [`QUIET_AGE_HOURS`] hours ago, so they fill history without paging anyone.

use super::random::Random;

/// One hour in nanoseconds.
pub const HOUR_NS: i64 = 3_600_000_000_000;
/// A typical full-path workflow costs this share of the per-workflow budget.
pub const TYPICAL_SHARE: f64 = 0.45;
/// Every stage of the over-budget workflow costs this many times its typical cost (under the 3× median alert).
pub const OVER_BUDGET_FACTOR: f64 = 2.5;
/// The cases that would page (low cache reuse, Opus for Sonnet, a costly stage) are older than this.
pub const QUIET_AGE_HOURS: i64 = 26;
/// Fewest workflows: the over-budget one, two recent ones, one of each optimisation case.
pub const MIN_WORKFLOWS: usize = 6;

/// A workflow stage, in workflow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// analyze (agent analyst).
    Analyze,
    /// plan (agent planner).
    Plan,
    /// implement (agent implementer).
    Implement,
    /// review (agent reviewer).
    Review,
}

impl Stage {
    /// All four, in order.
    pub const ALL: [Stage; 4] = [Stage::Analyze, Stage::Plan, Stage::Implement, Stage::Review];

    /// The `stage` attribute.
    pub fn name(self) -> &'static str {
        ["analyze", "plan", "implement", "review"][self as usize]
    }

    /// The agent that runs it (the names `[stages]` maps by default).
    pub fn agent(self) -> &'static str {
        ["analyst", "planner", "implementer", "reviewer"][self as usize]
    }

    /// Its number in the workflow (task ids `<workflow>.<n>-<stage>`).
    pub fn number(self) -> usize {
        self as usize + 1
    }

    /// The model the team expects for it (`model_expected`), as the captured runs had it.
    pub fn expected(self) -> Family {
        [Family::Opus, Family::Sonnet, Family::Sonnet, Family::Opus][self as usize]
    }

    /// Its share of a typical full workflow's cost.
    fn share(self) -> f64 {
        [0.22, 0.13, 0.45, 0.20][self as usize]
    }

    /// How many API requests its main conversation makes, fewest and most.
    fn requests(self) -> (u32, u32) {
        [(6, 12), (4, 8), (14, 30), (5, 10)][self as usize]
    }
}

/// A model family and the model id Claude Code 2.1.331 resolves its alias to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// claude-opus-5-5.
    Opus,
    /// claude-sonnet-5-5.
    Sonnet,
    /// claude-haiku-5-5.
    Haiku,
}

impl Family {
    /// The alias (`model_expected` values and `--model` aliases).
    pub fn alias(self) -> &'static str {
        ["opus", "sonnet", "haiku"][self as usize]
    }

    /// The model id on the records (the CLI's resolution of the alias).
    pub fn model(self) -> &'static str {
        ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"][self as usize]
    }
}

/// fast (implement, review) or full (all four stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowPath {
    /// implement and review only.
    Fast,
    /// analyze, plan, implement, review.
    Full,
}

impl WorkflowPath {
    /// The `workflow_path` attribute.
    pub fn name(self) -> &'static str {
        match self {
            WorkflowPath::Fast => "fast",
            WorkflowPath::Full => "full",
        }
    }

    /// Its stages, in order.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            WorkflowPath::Fast => &Stage::ALL[2..],
            WorkflowPath::Full => &Stage::ALL,
        }
    }
}

/// How the stages were started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each stage its own `claude` run (`tokenledger run --stage …`).
    Runs,
    /// One orchestrating run whose custom subagents (analyst, planner, …) do the stages.
    Subagents,
}

/// What a workflow is there to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Recent, over its budget: the one alert.
    OverBudget,
    /// Recent (within the last hour), ordinary.
    Recent,
    /// Ordinary, any time in the span.
    Normal,
    /// Old: most prompt tokens are not read from the cache.
    LowCache,
    /// Old: plan and implement ran on Opus although Sonnet was expected.
    OpusForSonnet,
    /// Old: one stage cost 4–5× its typical cost.
    CostSpike(Stage),
}

/// One stage of a planned workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// Which stage.
    pub stage: Stage,
    /// What its requests should cost in total, USD.
    pub cost_usd: f64,
    /// The model its agent used.
    pub family: Family,
    /// Share of prompt tokens read from the cache.
    pub cache_hit: f64,
    /// API requests of its main conversation.
    pub requests: u32,
}

/// A planned workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowPlan {
    /// `workflow_id`, in the form `tokenledger run --workflow new` mints.
    pub id: String,
    /// fast or full.
    pub path: WorkflowPath,
    /// Runs or subagents.
    pub mode: Mode,
    /// Why it is there.
    pub case: Case,
    /// `complexity` attribute.
    pub complexity: &'static str,
    /// When its first run starts, ns since the epoch.
    pub start_ns: i64,
    /// Its records must all fall before this, ns since the epoch.
    pub end_by_ns: i64,
    /// Its stages, in order.
    pub stages: Vec<StagePlan>,
    /// Chance that a tool call fails.
    pub tool_failure_rate: f64,
    /// Chance that an API request is preceded by a failed attempt (api_error).
    pub api_error_rate: f64,
}

/// What to plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scope {
    /// How many workflows (at least [`MIN_WORKFLOWS`]).
    pub workflows: usize,
    /// Over how many days before `now_ns`.
    pub days: u32,
    /// The per-workflow budget, USD.
    pub budget_usd: f64,
    /// The end of the span, ns since the epoch.
    pub now_ns: i64,
}

/// Plans every workflow, the over-budget one first.
pub fn plan(scope: &Scope, random: &mut Random) -> Vec<WorkflowPlan> {
    let now = scope.now_ns;
    let earliest = now - i64::from(scope.days) * 24 * HOUR_NS + HOUR_NS;
    let interesting = (scope.workflows / 6).max(3);
    let spikes = [Stage::Analyze, Stage::Plan, Stage::Review];
    (0..scope.workflows.max(MIN_WORKFLOWS))
        .map(|index| {
            let (case, path, mode) = match index {
                0 => (Case::OverBudget, WorkflowPath::Full, Mode::Runs),
                1 => (Case::Recent, WorkflowPath::Full, Mode::Subagents),
                2 => (Case::Recent, WorkflowPath::Fast, Mode::Runs),
                i if i < 3 + interesting => {
                    let k = i - 3;
                    match k % 3 {
                        0 => {
                            (Case::LowCache, WorkflowPath::Full, if k % 2 == 0 { Mode::Runs } else { Mode::Subagents })
                        }
                        1 => (Case::OpusForSonnet, random.path(0.5), Mode::Runs),
                        _ => (Case::CostSpike(spikes[(k / 3) % spikes.len()]), WorkflowPath::Full, Mode::Runs),
                    }
                }
                _ => (Case::Normal, random.path(0.6), if random.chance(0.35) { Mode::Subagents } else { Mode::Runs }),
            };
            let (start_ns, end_by_ns) = match case {
                Case::OverBudget => (now - 50 * 60_000_000_000, now - 2 * 60_000_000_000),
                Case::Recent => {
                    let start = now - random.range_i64(30, 45) * 60_000_000_000;
                    (start, now - 60_000_000_000)
                }
                Case::Normal => {
                    let start = random.range_i64(earliest, now - 3 * HOUR_NS);
                    (start, start + 2 * HOUR_NS)
                }
                _ => {
                    let start = random.range_i64(earliest, now - QUIET_AGE_HOURS * HOUR_NS);
                    (start, start + 2 * HOUR_NS)
                }
            };
            let stages = path.stages().iter().map(|&stage| stage_plan(stage, case, scope.budget_usd, random)).collect();
            let struggling = case == Case::Normal && random.chance(0.2);
            WorkflowPlan {
                id: workflow_id(start_ns, random),
                path,
                mode,
                case,
                complexity: if path == WorkflowPath::Full { "complex" } else { "simple" },
                start_ns,
                end_by_ns,
                stages,
                tool_failure_rate: if struggling { 0.3 } else { 0.06 },
                api_error_rate: if struggling { 0.08 } else { 0.03 },
            }
        })
        .collect()
}

fn stage_plan(stage: Stage, case: Case, budget_usd: f64, random: &mut Random) -> StagePlan {
    let factor = match case {
        Case::OverBudget => OVER_BUDGET_FACTOR,
        Case::Recent => random.range_f64(0.8, 1.2),
        Case::Normal => random.range_f64(0.75, 1.3),
        Case::CostSpike(spiked) if spiked == stage => random.range_f64(4.0, 5.0),
        Case::CostSpike(_) => random.range_f64(0.8, 0.9),
        Case::LowCache | Case::OpusForSonnet => random.range_f64(0.8, 1.25),
    };
    let family = match (case, stage.expected()) {
        (Case::OpusForSonnet, Family::Sonnet) => Family::Opus,
        (_, expected) => expected,
    };
    let cache_hit = match case {
        Case::LowCache => random.range_f64(0.08, 0.25),
        _ => random.range_f64(0.78, 0.92),
    };
    let (fewest, most) = stage.requests();
    let mut requests = random.range_u32(fewest, most);
    if case == Case::OverBudget {
        requests *= 2;
    }
    StagePlan { stage, cost_usd: budget_usd * TYPICAL_SHARE * stage.share() * factor, family, cache_hit, requests }
}

/// `wf-YYYYMMDD-HHMMSS-xxxxxx`: the workflow's UTC start and 24 random bits, as `--workflow new` mints them.
fn workflow_id(start_ns: i64, random: &mut Random) -> String {
    let time = super::clock::rfc3339_ms(start_ns);
    let digits: String = time.chars().filter(char::is_ascii_digit).collect();
    format!("wf-{}-{}-{:06x}", &digits[..8], &digits[8..14], random.bits(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope { workflows: 40, days: 7, budget_usd: 10.0, now_ns: 1_795_593_706_569_000_000 }
    }

    #[test]
    fn only_the_over_budget_workflow_is_planned_over_the_budget() {
        let plans = plan(&scope(), &mut Random::new(7));
        let over: Vec<_> = plans.iter().filter(|p| p.stages.iter().map(|s| s.cost_usd).sum::<f64>() > 10.0).collect();
        assert_eq!(over.len(), 1);
        assert_eq!(over[0].case, Case::OverBudget);
    }

    #[test]
    fn cases_that_would_page_are_old_and_recent_ones_are_recent() {
        let s = scope();
        for p in plan(&s, &mut Random::new(3)) {
            match p.case {
                Case::LowCache | Case::OpusForSonnet | Case::CostSpike(_) => {
                    assert!(p.end_by_ns <= s.now_ns - 24 * HOUR_NS, "{p:?}")
                }
                Case::OverBudget | Case::Recent => assert!(p.start_ns >= s.now_ns - HOUR_NS, "{p:?}"),
                Case::Normal => assert!(p.end_by_ns <= s.now_ns && p.start_ns >= s.now_ns - 7 * 24 * HOUR_NS),
            }
        }
    }

    #[test]
    fn workflow_ids_look_minted() {
        let id = workflow_id(1_795_593_706_569_000_000, &mut Random::new(1));
        assert!(id.starts_with("wf-20261125-080146-") && id.len() == 25, "{id}");
    }
}
