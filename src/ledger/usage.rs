//! The API requests of a scope, summed per (workflow, path, stage, agent, model, prompt tier): the source of every
//! token, cost and duration figure of a report. Reports add these groups up in any direction without asking again.

use serde::{Deserialize, Serialize};

use super::{LedgerError, Scope};

/// One group of `claude_code.api_request` events.
#[derive(Debug, Clone, Default, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct UsageRow {
    /// Workflow id.
    pub workflow_id: String,
    /// `workflow_path` (fast, full, …).
    pub workflow_path: String,
    /// Stage (empty when none was derived).
    pub stage: String,
    /// Agent.
    pub agent: String,
    /// Model id as Claude Code sent it.
    pub model: String,
    /// How many of the price table's long-prompt thresholds (ascending) these requests' prompts exceed.
    pub prompt_tier: u8,
    /// Number of requests.
    pub requests: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens, all TTLs.
    pub cache_creation_tokens: u64,
    /// Cache-write tokens with the 5-minute TTL.
    pub cache_creation_5m_tokens: u64,
    /// Cache-write tokens with the 1-hour TTL.
    pub cache_creation_1h_tokens: u64,
    /// Sum of the reported `cost_usd`.
    pub cost_usd: f64,
    /// Sum of the requests' `duration_ms`.
    pub duration_ms: u64,
    /// Earliest request start (its event time minus its duration), Unix ms.
    pub first_ms: i64,
    /// Latest request end (its event time), Unix ms.
    pub last_ms: i64,
}

/// The SQL; `{scope}` becomes the scope's condition. The thresholds are bound first, then the scope's values.
/// The sums keep the column names (the row struct is matched by name), hence `prefer_column_name_to_alias`.
const SQL: &str = "\
SELECT
    workflow_id, workflow_path, stage, agent, model,
    toUInt8(arrayCount(t -> input_tokens + cache_read_tokens + cache_creation_tokens > t,
                       CAST(? AS Array(UInt64)))) AS prompt_tier,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(cache_creation_5m_tokens) AS cache_creation_5m_tokens,
    sum(cache_creation_1h_tokens) AS cache_creation_1h_tokens,
    sum(cost_usd) AS cost_usd,
    sum(duration_ms) AS duration_ms,
    min(toUnixTimestamp64Milli(timestamp) - toInt64(duration_ms)) AS first_ms,
    max(toUnixTimestamp64Milli(timestamp)) AS last_ms
FROM otel_api_request_events FINAL
WHERE {scope}
GROUP BY workflow_id, workflow_path, stage, agent, model, prompt_tier
ORDER BY workflow_id, stage, agent, model, prompt_tier
SETTINGS prefer_column_name_to_alias = 1";

/// The usage groups of `scope`; `thresholds` from [`super::prices::thresholds`].
pub async fn fetch(
    client: &clickhouse::Client,
    url: &str,
    scope: &Scope,
    thresholds: &[u64],
) -> Result<Vec<UsageRow>, LedgerError> {
    let sql = SQL.replace("{scope}", scope.condition());
    let query = scope.bind(client.query(&sql).bind(thresholds));
    query.fetch_all().await.map_err(|e| LedgerError::from_client("API request usage", url, e))
}
