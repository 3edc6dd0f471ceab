//! The budget figures alerts read: per recently active workflow its cost, requests, cache hits, per-stage cost and
//! Opus share; the team's spend today and this week; each stage's median cost. Three queries over
//! `otel_api_request_events FINAL` (the deduplicated state), timed by ClickHouse's clock (`now()`), so every relay
//! on the same ClickHouse reads the same figures. Pure reading: rendering is [`super::exposition`]'s.

use serde::Deserialize;

use super::LedgerError;
use crate::config::LedgerExportConfig;

/// One workflow active within the window, its figures over its whole history.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct WorkflowFigures {
    /// `workflow_id`.
    pub workflow_id: String,
    /// Its latest non-empty `workflow_path` (empty when none was given).
    pub workflow_path: String,
    /// Sum of `cost_usd`.
    pub cost_usd: f64,
    /// api_request events.
    pub requests: u64,
    /// Input tokens (not cached).
    pub input_tokens: u64,
    /// Tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Tokens written to the cache.
    pub cache_creation_tokens: u64,
    /// Workflows active in the window, all of them (the same on every row): what the cap left out is this minus
    /// the rows returned.
    pub active_workflows: u64,
}

impl WorkflowFigures {
    /// cache_read / (input + cache_read + cache_creation); None without any input tokens (no ratio to report).
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        let all = self.input_tokens + self.cache_read_tokens + self.cache_creation_tokens;
        (all > 0).then(|| self.cache_read_tokens as f64 / all as f64)
    }
}

// The window keeps the set of workflows small; the cap keeps it bounded when many are active at once. The cap
// takes the most recently active first (latest api_request, ties by workflow_id so every relay picks the same
// ones) and the rest are only counted. The active set reads without FINAL: a duplicate row has the same
// workflow_id and timestamp, so it changes neither who is active nor when, and skipping the merge keeps this
// scan of the whole window cheap. Costs are whole-history sums of the chosen workflows: their rows are found
// by the table's primary key (workflow_id, timestamp), not by scanning the table. Rows without a workflow_id are
// no workflow and are left out.
const WORKFLOWS: &str = "\
WITH active AS
(
    SELECT workflow_id, max(timestamp) AS last_seen
    FROM otel_api_request_events
    WHERE timestamp >= now64(9, 'UTC') - toIntervalSecond(?) AND workflow_id != ''
    GROUP BY workflow_id
)
SELECT workflow_id,
       argMaxIf(workflow_path, timestamp, workflow_path != '') AS workflow_path,
       toFloat64(sum(cost_usd)) AS cost_usd,
       count() AS requests,
       sum(input_tokens) AS input_tokens,
       sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_creation_tokens) AS cache_creation_tokens,
       toUInt64(ifNull((SELECT count() FROM active), 0)) AS active_workflows
FROM otel_api_request_events FINAL
WHERE workflow_id IN (SELECT workflow_id FROM active ORDER BY last_seen DESC, workflow_id LIMIT ?)
GROUP BY workflow_id
ORDER BY workflow_id";

/// One (workflow, stage, model_expected) group of the exported workflows.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct StageGroup {
    /// `workflow_id`.
    pub workflow_id: String,
    /// `stage` (may be empty).
    pub stage: String,
    /// `model_expected` (may be empty).
    pub model_expected: String,
    /// Sum of `cost_usd`.
    pub cost_usd: f64,
    /// api_request events.
    pub requests: u64,
    /// Of those, on a model whose name contains "opus".
    pub opus_requests: u64,
}

const STAGES: &str = "\
SELECT workflow_id, stage, model_expected,
       toFloat64(sum(cost_usd)) AS cost_usd,
       count() AS requests,
       countIf(positionCaseInsensitive(model, 'opus') > 0) AS opus_requests
FROM otel_api_request_events FINAL
WHERE workflow_id IN ?
GROUP BY workflow_id, stage, model_expected
ORDER BY workflow_id, stage, model_expected";

/// One stage's share of the team figures (stage may be empty: rows without one still count as spend).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct StageTotals {
    /// `stage`.
    pub stage: String,
    /// Its spend of the current UTC day.
    pub day_usd: f64,
    /// Its spend of the current ISO week.
    pub week_usd: f64,
    /// Median of its per-(workflow, stage) costs within the median window (0 when `pairs` is 0).
    pub median_usd: f64,
    /// (workflow, stage) pairs behind that median.
    pub pairs: u64,
}

// One FINAL scan from the earlier of the week's start and the median window's start. Day and ISO week start at
// 00:00 UTC by ClickHouse's clock. The median is taken over the per-(workflow, stage) costs of the last N days,
// interpolated between the two middle values when their count is even (R-7, what numpy and most people call the
// median); it is exact, unlike ClickHouse's sampling `median`, so two relays agree.
const TEAM: &str = "\
WITH toStartOfDay(now('UTC')) AS day_start,
     toDateTime(toMonday(now('UTC')), 'UTC') AS week_start,
     now64(9, 'UTC') - toIntervalDay(?) AS median_start
SELECT stage,
       toFloat64(sum(day_part)) AS day_usd,
       toFloat64(sum(week_part)) AS week_usd,
       toFloat64(ifNotFinite(quantileExactInclusiveIf(0.5)(recent, recent_rows > 0), 0)) AS median_usd,
       countIf(recent_rows > 0) AS pairs
FROM
(
    SELECT workflow_id, stage,
           sumIf(cost_usd, timestamp >= day_start) AS day_part,
           sumIf(cost_usd, timestamp >= week_start) AS week_part,
           sumIf(cost_usd, timestamp >= median_start) AS recent,
           countIf(timestamp >= median_start) AS recent_rows
    FROM otel_api_request_events FINAL
    WHERE timestamp >= least(week_start, median_start)
    GROUP BY workflow_id, stage
)
GROUP BY stage
ORDER BY stage";

/// What one refresh read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// The exported workflows, by workflow_id.
    pub workflows: Vec<WorkflowFigures>,
    /// Their (stage, model_expected) groups.
    pub stages: Vec<StageGroup>,
    /// Spend and median per stage.
    pub team: Vec<StageTotals>,
    /// Active workflows left out by the cap.
    pub omitted: u64,
}

/// Reads the figures of `config`'s window and cap.
pub async fn fetch(
    client: &clickhouse::Client,
    url: &str,
    config: &LedgerExportConfig,
) -> Result<Figures, LedgerError> {
    let err = |what| move |e| LedgerError::from_client(what, url, e);
    let workflows: Vec<WorkflowFigures> = client
        .query(WORKFLOWS)
        .bind(config.active_window_secs)
        .bind(config.max_workflows as u64)
        .fetch_all()
        .await
        .map_err(err("ledger figures per workflow"))?;
    let ids: Vec<&str> = workflows.iter().map(|w| w.workflow_id.as_str()).collect();
    let stages = if ids.is_empty() {
        Vec::new()
    } else {
        client.query(STAGES).bind(&ids).fetch_all().await.map_err(err("ledger figures per stage"))?
    };
    let team = client
        .query(TEAM)
        .bind(config.median_window_days)
        .fetch_all()
        .await
        .map_err(err("ledger spend and stage medians"))?;
    let active = workflows.first().map_or(0, |w| w.active_workflows);
    let omitted = active.saturating_sub(workflows.len() as u64);
    Ok(Figures { workflows, stages, team, omitted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hit_ratio_counts_every_input_token_and_is_absent_without_any() {
        let mut w = WorkflowFigures {
            workflow_id: "w".into(),
            workflow_path: String::new(),
            cost_usd: 0.0,
            requests: 1,
            input_tokens: 100,
            cache_read_tokens: 300,
            cache_creation_tokens: 100,
            active_workflows: 1,
        };
        assert_eq!(w.cache_hit_ratio(), Some(0.6));
        (w.input_tokens, w.cache_read_tokens, w.cache_creation_tokens) = (0, 0, 0);
        assert_eq!(w.cache_hit_ratio(), None);
    }
}
