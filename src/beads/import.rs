//! Beads issues into `beads_issues`. The table is `ReplacingMergeTree(updated_at) ORDER BY id`: importing the
//! same file again, or a newer one, leaves one row per issue (the newest `updated_at`) once read with FINAL.

use std::path::Path;

use super::jsonl::{self, BeadsIssueRow};
use super::BeadsError;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Issues written.
    pub issues: usize,
    /// Records of another kind (`"_type":"memory"`) left out.
    pub skipped: usize,
}

/// Reads `path` and writes every readable issue line. When some lines cannot be read, the others are still
/// written and the error lists the bad lines by number.
pub async fn import_file(client: &clickhouse::Client, path: &Path) -> Result<Imported, BeadsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| BeadsError::Read { path: path.display().to_string(), source })?;
    let parsed = jsonl::parse(&text);
    insert(client, &parsed.rows).await?;
    if parsed.errors.is_empty() {
        Ok(Imported { issues: parsed.rows.len(), skipped: parsed.skipped })
    } else {
        Err(BeadsError::BadLines { path: path.display().to_string(), imported: parsed.rows.len(), bad: parsed.errors })
    }
}

/// Inserts rows into `beads_issues` in one INSERT (nothing when empty).
pub async fn insert(client: &clickhouse::Client, rows: &[BeadsIssueRow]) -> Result<(), BeadsError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<BeadsIssueRow>(BeadsIssueRow::TABLE).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    Ok(())
}
