//! The SQL of the weekly summary, one statement per question, built with the period and thresholds written in as
//! literals: the text shown in the summary is exactly the text that ran, and can be pasted into clickhouse-client.
//! Every statement reads `otel_api_request_events` with FINAL (a redelivered event is counted once).

use super::Period;
use crate::config::WeeklyConfig;

/// An event counts as Opus when its model name contains `opus` (any version, any case).
const IS_OPUS: &str = "positionCaseInsensitive(model, 'opus') > 0";

/// The column, qualified: a bare `cost_usd` beside `sum(cost_usd) AS cost_usd` would name the alias.
const COST: &str = "otel_api_request_events.cost_usd";

fn range(period: &Period) -> String {
    format!(
        "timestamp >= toDateTime64('{}', 3, 'UTC') AND timestamp < toDateTime64('{}', 3, 'UTC')",
        crate::ledger::human::clickhouse_time(period.from_ns),
        crate::ledger::human::clickhouse_time(period.to_ns)
    )
}

/// Spend, requests, tokens and Opus spend of a period.
pub fn totals(period: &Period) -> String {
    format!(
        "SELECT
    count() AS requests,
    uniqExactIf(workflow_id, workflow_id != '') AS workflows,
    sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sumIf({COST}, {IS_OPUS}) AS opus_cost_usd
FROM otel_api_request_events FINAL
WHERE {}",
        range(period)
    )
}

/// The most expensive workflows of a period.
pub fn top_workflows(period: &Period, top: usize) -> String {
    format!(
        "SELECT
    workflow_id,
    anyIf(workflow_path, workflow_path != '') AS workflow_path,
    arraySort(groupUniqArrayIf(toString(stage), stage != '')) AS stages,
    count() AS requests,
    sum(cost_usd) AS cost_usd,
    sum(cache_read_tokens) / nullIf(sum(input_tokens + cache_read_tokens + cache_creation_tokens), 0) AS cache_hit_rate
FROM otel_api_request_events FINAL
WHERE {} AND workflow_id != ''
GROUP BY workflow_id
ORDER BY cost_usd DESC, workflow_id
LIMIT {top}",
        range(period)
    )
}

/// The most expensive stages of a period.
pub fn top_stages(period: &Period, top: usize) -> String {
    format!(
        "SELECT
    stage,
    count() AS requests,
    uniqExact(workflow_id) AS workflows,
    sum(cost_usd) AS cost_usd,
    sumIf({COST}, {IS_OPUS}) AS opus_cost_usd
FROM otel_api_request_events FINAL
WHERE {} AND stage != ''
GROUP BY stage
ORDER BY cost_usd DESC, stage
LIMIT {top}",
        range(period)
    )
}

/// Hint: stages that spent at least `sonnet_min_opus_share` of their cost on Opus.
pub fn sonnet_candidates(period: &Period, config: &WeeklyConfig) -> String {
    format!(
        "SELECT
    stage,
    countIf({IS_OPUS}) AS opus_requests,
    sumIf({COST}, {IS_OPUS}) AS opus_cost_usd,
    sum(cost_usd) AS cost_usd,
    opus_cost_usd / cost_usd AS opus_share
FROM otel_api_request_events FINAL
WHERE {} AND stage != ''
GROUP BY stage
HAVING opus_cost_usd > 0 AND opus_share >= {:?}
ORDER BY opus_cost_usd DESC, stage",
        range(period),
        config.sonnet_min_opus_share
    )
}

/// Hint: workflows whose cache hit rate is below `low_cache_hit_rate`.
pub fn low_cache_reuse(period: &Period, config: &WeeklyConfig) -> String {
    format!(
        "SELECT
    workflow_id,
    count() AS requests,
    sum(input_tokens + cache_read_tokens + cache_creation_tokens) AS prompt_tokens,
    sum(cache_read_tokens) AS cache_read,
    cache_read / prompt_tokens AS cache_hit_rate
FROM otel_api_request_events FINAL
WHERE {} AND workflow_id != ''
GROUP BY workflow_id
HAVING prompt_tokens > 0 AND cache_hit_rate < {:?}
ORDER BY cache_hit_rate, workflow_id",
        range(period),
        config.low_cache_hit_rate
    )
}

/// Hint: full-path workflows that cost no more than `fast_track_max_cost_ratio` × the average fast-path workflow.
pub fn fast_track_candidates(period: &Period, config: &WeeklyConfig) -> String {
    format!(
        "WITH per_workflow AS
(
    SELECT
        workflow_id,
        anyIf(workflow_path, workflow_path != '') AS path,
        count() AS requests,
        sum(cost_usd) AS cost_usd
    FROM otel_api_request_events FINAL
    WHERE {} AND workflow_id != ''
    GROUP BY workflow_id
)
SELECT
    workflow_id,
    requests,
    cost_usd,
    ifNull((SELECT avg(cost_usd) FROM per_workflow WHERE path = 'fast'), nan) AS fast_average_cost_usd
FROM per_workflow
WHERE path = 'full' AND cost_usd <= {:?} * fast_average_cost_usd
ORDER BY cost_usd, workflow_id",
        range(period),
        config.fast_track_max_cost_ratio
    )
}
