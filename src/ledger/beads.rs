//! The figures a Beads stage task gets as a comment: a workflow's api_request events grouped by task and stage,
//! and the workflow's Beads tasks, both read deduplicated (FINAL).

use clickhouse::Row;
use serde::Deserialize;

/// One (task_id, stage) group of a workflow's api_request events.
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct TaskStageFigures {
    /// `task_id` of the events (empty when the run had none).
    pub task_id: String,
    /// `stage` of the events (empty when unknown).
    pub stage: String,
    /// API requests.
    pub requests: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Sum of Claude Code's `cost_usd`.
    pub cost_usd: f64,
    /// Sum of request durations (ms).
    pub duration_ms: u64,
    /// First request, nanoseconds since the epoch.
    pub first_ns: i64,
    /// Last request, nanoseconds since the epoch.
    pub last_ns: i64,
    /// Models that served the requests, sorted.
    pub models: Vec<String>,
}

/// A Beads task of the workflow (from `beads_issues`).
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct WorkflowTask {
    /// Beads id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
}

/// The per-(task, stage) figures of a workflow.
pub const TASK_STAGE_SQL: &str = "\
SELECT
    task_id,
    stage,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(cost_usd) AS cost_usd,
    sum(duration_ms) AS duration_ms,
    toUnixTimestamp64Nano(min(timestamp)) AS first_ns,
    toUnixTimestamp64Nano(max(timestamp)) AS last_ns,
    arraySort(groupUniqArray(toString(model))) AS models
FROM otel_api_request_events FINAL
WHERE workflow_id = ?
GROUP BY task_id, stage
ORDER BY task_id, stage";

/// The workflow's Beads issues other than its epic.
pub const WORKFLOW_TASKS_SQL: &str = "\
SELECT id, title, toString(status) AS status
FROM beads_issues FINAL
WHERE workflow_id = ? AND id != ?
ORDER BY id";

/// Reads a workflow's (task, stage) groups.
pub async fn task_stage_figures(
    client: &clickhouse::Client,
    workflow_id: &str,
) -> Result<Vec<TaskStageFigures>, clickhouse::error::Error> {
    client.query(TASK_STAGE_SQL).bind(workflow_id).fetch_all().await
}

/// Reads the workflow's imported Beads tasks (empty when none were imported).
pub async fn workflow_tasks(
    client: &clickhouse::Client,
    workflow_id: &str,
) -> Result<Vec<WorkflowTask>, clickhouse::error::Error> {
    client.query(WORKFLOW_TASKS_SQL).bind(workflow_id).bind(workflow_id).fetch_all().await
}
