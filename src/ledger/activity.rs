//! Tool calls (with failures) and API errors of a scope, per (workflow, stage, agent).

use serde::{Deserialize, Serialize};

use super::{LedgerError, Scope};

/// Tool results and API errors of one (workflow, stage, agent).
#[derive(Debug, Clone, Default, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ActivityRow {
    /// Workflow id.
    pub workflow_id: String,
    /// Stage.
    pub stage: String,
    /// Agent.
    pub agent: String,
    /// `claude_code.tool_result` events.
    pub tool_calls: u64,
    /// Of those, unsuccessful.
    pub tool_failures: u64,
    /// `claude_code.api_error` events.
    pub api_errors: u64,
}

const SQL: &str = "\
SELECT workflow_id, stage, agent,
       sum(tool_call) AS tool_calls, sum(tool_failure) AS tool_failures, sum(api_error) AS api_errors
FROM
(
    SELECT workflow_id, stage, agent, toUInt64(1) AS tool_call, toUInt64(NOT success) AS tool_failure,
           toUInt64(0) AS api_error
    FROM otel_tool_result_events FINAL WHERE {scope}
    UNION ALL
    SELECT workflow_id, stage, agent, toUInt64(0), toUInt64(0), toUInt64(1)
    FROM otel_api_error_events FINAL WHERE {scope}
)
GROUP BY workflow_id, stage, agent
ORDER BY workflow_id, stage, agent
SETTINGS prefer_column_name_to_alias = 1";

/// The activity groups of `scope`.
pub async fn fetch(client: &clickhouse::Client, url: &str, scope: &Scope) -> Result<Vec<ActivityRow>, LedgerError> {
    let sql = SQL.replace("{scope}", scope.condition());
    let query = scope.bind(scope.bind(client.query(&sql)));
    query.fetch_all().await.map_err(|e| LedgerError::from_client("tool calls and API errors", url, e))
}
