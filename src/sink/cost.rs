//! `tokenledger_committed_cost_usd` and `tokenledger_tokens_total` by workflow, stage, agent and model: what this
//! process committed since it started (throughput, not budgets: alerts read the ledger figures of
//! [`crate::ledger::export`], which are what ClickHouse holds). Counted when the rows are committed, never before.
//!
//! Two guards keep the counters honest and small: only records new to the sink's memory of committed keys are
//! counted (a redelivery that was in flight beside its first copy is committed twice but counted once; see
//! [`super::dedup::RecentKeys::remember`]), and at most `max_series` label sets exist at once; past that, new
//! workflows are counted under workflow_id="_overflow" until idle label sets expire (the exporter drops them
//! after the same idle time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::reshape::rows::ApiRequestRow;
use crate::telemetry::names;

/// The label value used once `max_series` is reached.
pub const OVERFLOW: &str = "_overflow";

type Labels = (String, String, String, String);

/// The cost counters' state.
pub struct CostCounters {
    max_series: usize,
    idle: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    series: HashMap<Labels, Instant>,
}

/// What a request adds to the counters once committed.
#[derive(Default)]
pub struct Tally(Vec<(u64, Labels, f64, [u64; 4])>);

/// Token types, as Claude Code names them in claude_code.token.usage.
const TOKEN_TYPES: [&str; 4] = ["input", "output", "cacheRead", "cacheCreation"];

impl CostCounters {
    /// Counters with the configured limits.
    pub fn new(max_series: usize, idle: Duration) -> CostCounters {
        CostCounters { max_series, idle, state: Mutex::new(State::default()) }
    }

    /// Reads what `rows` would add; cheap, and done before the rows move to the batchers.
    pub fn tally(&self, rows: &[ApiRequestRow]) -> Tally {
        Tally(
            rows.iter()
                .map(|r| {
                    let labels = (r.workflow_id.clone(), r.stage.clone(), r.agent.clone(), r.model.clone());
                    let tokens = [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens];
                    (r.event_key, labels, r.cost_usd, tokens)
                })
                .collect(),
        )
    }

    /// Adds the records of a committed tally whose keys are in `fresh` (those committed for the first time).
    pub fn record(&self, tally: Tally, fresh: &[u64]) {
        if tally.0.is_empty() || fresh.is_empty() {
            return;
        }
        let fresh: std::collections::HashSet<u64> = fresh.iter().copied().collect();
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        for (key, labels, cost, tokens) in tally.0 {
            if !fresh.contains(&key) {
                continue;
            }
            let (workflow, stage, agent, model) = self.admit(&mut state, labels, now);
            let labels = [("workflow_id", workflow), ("stage", stage), ("agent", agent), ("model", model)];
            // A gauge only ever increased: the `metrics` crate's counters are integers and cost is fractional.
            metrics::gauge!(names::COST_USD, &labels).increment(cost);
            for (token_type, count) in TOKEN_TYPES.iter().zip(tokens) {
                let mut with_type = labels.to_vec();
                with_type.push(("type", token_type.to_string()));
                metrics::counter!(names::TOKENS, &with_type).increment(count);
            }
        }
    }

    /// The labels to count under: these, or the overflow set when too many series exist.
    fn admit(&self, state: &mut State, labels: Labels, now: Instant) -> Labels {
        if let Some(seen) = state.series.get_mut(&labels) {
            *seen = now;
            return labels;
        }
        if state.series.len() >= self.max_series {
            let idle = self.idle;
            state.series.retain(|_, seen| now.duration_since(*seen) < idle);
        }
        if state.series.len() >= self.max_series {
            metrics::counter!(names::SERIES_OVERFLOW).increment(1);
            return (OVERFLOW.into(), labels.1, labels.2, labels.3);
        }
        state.series.insert(labels.clone(), now);
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(workflow: &str) -> Labels {
        (workflow.into(), "plan".into(), "planner".into(), "m".into())
    }

    #[test]
    fn past_max_series_new_workflows_count_as_overflow_until_idle_ones_expire() {
        let counters = CostCounters::new(2, Duration::from_millis(50));
        let mut state = State::default();
        let now = Instant::now();
        assert_eq!(counters.admit(&mut state, labels("a"), now).0, "a");
        assert_eq!(counters.admit(&mut state, labels("b"), now).0, "b");
        assert_eq!(counters.admit(&mut state, labels("c"), now).0, OVERFLOW);
        assert_eq!(counters.admit(&mut state, labels("a"), now).0, "a", "known series keep their labels");
        let later = now + Duration::from_millis(100);
        assert_eq!(counters.admit(&mut state, labels("c"), later).0, "c", "idle series made room");
    }
}
