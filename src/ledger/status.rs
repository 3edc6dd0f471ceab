//! A workflow's status as Beads knows it: the status of the issue whose id is the workflow id (its epic), when
//! `beads_issues` has one.

use serde::{Deserialize, Serialize};

use super::LedgerError;

/// Beads' status of one workflow.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct StatusRow {
    /// Workflow id (= the epic's issue id).
    pub workflow_id: String,
    /// Beads status (open, in_progress, closed, …).
    pub status: String,
}

const SQL: &str = "SELECT id AS workflow_id, status FROM beads_issues FINAL WHERE id IN ? ORDER BY id";

/// The Beads status of those of `workflow_ids` that have an issue.
pub async fn fetch(
    client: &clickhouse::Client,
    url: &str,
    workflow_ids: &[&str],
) -> Result<Vec<StatusRow>, LedgerError> {
    if workflow_ids.is_empty() {
        return Ok(Vec::new());
    }
    client.query(SQL).bind(workflow_ids).fetch_all().await.map_err(|e| LedgerError::from_client("Beads status", url, e))
}
