//! Beads' JSONL (`.beads/issues.jsonl`, written by `bd export`) → [`BeadsIssueRow`]s. Pure: no I/O.
//!
//! The format, as Beads writes it (internal/types/types.go `Issue`, cmd/bd/export.go): one JSON object per line;
//! current versions start each line with `"_type":"issue"` (a `"_type":"memory"` line is not an issue and is
//! skipped), older ones have no `_type`. Fields read here: `id`, `title`, `status`, `priority` (0-4),
//! `issue_type`, `created_at`, `updated_at`, `closed_at` (RFC 3339, as Go writes `time.Time`), `parent` (set
//! by some `bd … --json` outputs) and `dependencies` (`{"issue_id", "depends_on_id", "type": "parent-child"}`
//! on the child). `status` and `issue_type` are left out when empty; Beads reads that as `open` and `task`.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::reshape::timestamp::parse_rfc3339_nanos;

/// A row of `beads_issues`, column for column (clickhouse/001_tables.sql).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct BeadsIssueRow {
    /// Beads id, e.g. `.claude-4nq.1-analyze`.
    pub id: String,
    /// Title.
    pub title: String,
    /// `open`, `in_progress`, `blocked`, `closed`, … (custom statuses pass through).
    pub status: String,
    /// `epic`, `task`, `bug`, …
    pub issue_type: String,
    /// 0 (critical) to 4 (backlog).
    pub priority: u8,
    /// The parent issue's id, empty for a root.
    pub parent: String,
    /// The root of the issue's parent chain (the workflow's epic); a root is its own workflow.
    pub workflow_id: String,
    /// Created, milliseconds since the epoch (DateTime64(3)).
    pub created_at: i64,
    /// Last updated, milliseconds; the version ReplacingMergeTree keeps the newest of.
    pub updated_at: i64,
    /// Closed, milliseconds, when closed.
    pub closed_at: Option<i64>,
}

impl BeadsIssueRow {
    /// The table.
    pub const TABLE: &'static str = "beads_issues";
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl LineError {
    /// One `  line N: reason` per error.
    pub fn list(errors: &[LineError]) -> String {
        errors.iter().map(|e| format!("  line {}: {}", e.line, e.reason)).collect::<Vec<_>>().join("\n")
    }
}

/// What a file held.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    /// One row per issue line.
    pub rows: Vec<BeadsIssueRow>,
    /// Lines of another record type (`"_type":"memory"`), left out on purpose.
    pub skipped: usize,
    /// Lines that could not be read; the others are still in `rows`.
    pub errors: Vec<LineError>,
}

#[derive(Deserialize)]
struct IssueLine {
    #[serde(rename = "_type")]
    record_type: Option<String>,
    id: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    issue_type: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    closed_at: Option<String>,
    parent: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
}

#[derive(Deserialize)]
struct Dependency {
    #[serde(default)]
    issue_id: String,
    #[serde(default)]
    depends_on_id: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// Reads every line of a Beads JSONL text. Blank lines are ignored; a bad line is reported with its number and
/// the rest are still read. `workflow_id` is derived once all lines are known (see [`workflow_of`]).
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Some(row)) => parsed.rows.push(row),
            Ok(None) => parsed.skipped += 1,
            Err(reason) => parsed.errors.push(LineError { line: index + 1, reason }),
        }
    }
    let parents: HashMap<String, String> = parsed.rows.iter().map(|row| (row.id.clone(), row.parent.clone())).collect();
    for row in &mut parsed.rows {
        row.workflow_id = workflow_of(&row.id, &parents);
    }
    parsed
}

fn parse_line(line: &str) -> Result<Option<BeadsIssueRow>, String> {
    let issue: IssueLine = serde_json::from_str(line).map_err(|e| format!("not a Beads issue: {e}"))?;
    if let Some(kind) = issue.record_type.as_deref().filter(|kind| *kind != "issue") {
        tracing::debug!(kind, "skipping a non-issue Beads record");
        return Ok(None);
    }
    let id = issue.id.filter(|id| !id.trim().is_empty()).ok_or("no \"id\"")?;
    let time = |field: &str, value: Option<String>| -> Result<i64, String> {
        let text = value.ok_or_else(|| format!("{id}: no {field:?}"))?;
        parse_rfc3339_nanos(&text)
            .map(|nanos| nanos.div_euclid(1_000_000))
            .ok_or_else(|| format!("{id}: {field} {text:?} is not an RFC 3339 time"))
    };
    let priority =
        u8::try_from(issue.priority).map_err(|_| format!("{id}: priority {} is out of range", issue.priority))?;
    let created_at = time("created_at", issue.created_at)?;
    let updated_at = time("updated_at", issue.updated_at)?;
    let closed_at = match issue.closed_at {
        Some(text) => Some(time("closed_at", Some(text))?),
        None => None,
    };
    let from_dependency = issue.dependencies.unwrap_or_default().into_iter().find(|dep| {
        dep.kind == "parent-child" && (dep.issue_id == id || dep.issue_id.is_empty()) && !dep.depends_on_id.is_empty()
    });
    let parent = issue
        .parent
        .filter(|parent| !parent.is_empty())
        .or(from_dependency.map(|dep| dep.depends_on_id))
        .or_else(|| hierarchical_parent(&id).map(str::to_string))
        .unwrap_or_default();
    Ok(Some(BeadsIssueRow {
        title: issue.title,
        status: if issue.status.is_empty() { "open".into() } else { issue.status },
        issue_type: if issue.issue_type.is_empty() { "task".into() } else { issue.issue_type },
        priority,
        parent,
        workflow_id: String::new(),
        created_at,
        updated_at,
        closed_at,
        id,
    }))
}

/// The parent a hierarchical id names: `bd-a3f8.1` → `bd-a3f8`, `.claude-4nq.1-analyze` → `.claude-4nq`. Beads
/// numbers children `PARENT.N`; the part after the last dot must start with a digit, and a leading dot is part of
/// the id (`.claude-4nq` has no parent).
pub fn hierarchical_parent(id: &str) -> Option<&str> {
    let dot = id.rfind('.')?;
    let (parent, child) = (&id[..dot], &id[dot + 1..]);
    (!parent.is_empty() && child.starts_with(|c: char| c.is_ascii_digit())).then_some(parent)
}

/// The stage a task id names by the workflow convention `EPIC.N-STAGE`: `.claude-4nq.2-plan` → `plan`.
pub fn stage_of_task_id(id: &str) -> Option<&str> {
    hierarchical_parent(id)?;
    let child = &id[id.rfind('.')? + 1..];
    let stage = child.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix('-')?;
    (!stage.is_empty()).then_some(stage)
}

/// The root of `id`'s parent chain: parents from the file where the issue is in it, else from the id's
/// hierarchy. A root is its own workflow; a cycle stops at the first issue seen twice.
pub fn workflow_of(id: &str, parents: &HashMap<String, String>) -> String {
    let mut current = id.to_string();
    let mut seen = vec![current.clone()];
    loop {
        let parent = match parents.get(&current) {
            Some(parent) if !parent.is_empty() => Some(parent.clone()),
            Some(_) => None,
            None => hierarchical_parent(&current).map(str::to_string),
        };
        match parent {
            Some(parent) if !seen.contains(&parent) => {
                seen.push(parent.clone());
                current = parent;
            }
            _ => return current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_follows_beads_child_numbering() {
        assert_eq!(hierarchical_parent(".claude-4nq.1-analyze"), Some(".claude-4nq"));
        assert_eq!(hierarchical_parent("bd-a3f8.1.2"), Some("bd-a3f8.1"));
        assert_eq!(hierarchical_parent(".claude-4nq"), None);
        assert_eq!(hierarchical_parent("bd-a3f8"), None);
        assert_eq!(hierarchical_parent("v1.x"), None);
        assert_eq!(stage_of_task_id(".claude-4nq.2-plan"), Some("plan"));
        assert_eq!(stage_of_task_id("bd-a3f8.1"), None);
        assert_eq!(stage_of_task_id(".claude-4nq"), None);
    }

    #[test]
    fn workflow_is_the_root_of_file_parents_then_id_hierarchy() {
        let parents: HashMap<String, String> = [("e", ""), ("t", "e"), ("loop-a", "loop-b"), ("loop-b", "loop-a")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(workflow_of("t", &parents), "e");
        assert_eq!(workflow_of("e", &parents), "e");
        assert_eq!(workflow_of(".claude-4nq.1-analyze", &parents), ".claude-4nq");
        assert_eq!(workflow_of("bd-x.1.2", &parents), "bd-x");
        assert_eq!(workflow_of("loop-a", &parents), "loop-b");
    }

    #[test]
    fn a_parent_child_dependency_names_the_parent_and_bad_lines_are_numbered() {
        let text = concat!(
            r#"{"_type":"issue","id":"epic-1","title":"E","status":"open","priority":1,"issue_type":"epic","created_at":"2026-11-25T07:58:02Z","updated_at":"2026-11-25T07:58:02Z"}"#,
            "\n\n",
            r#"{"_type":"issue","id":"task-9","title":"T","status":"closed","priority":2,"issue_type":"task","created_at":"2026-11-25T07:58:02.5-01:00","updated_at":"2026-11-25T09:00:00Z","closed_at":"2026-11-25T09:00:00Z","dependencies":[{"issue_id":"task-9","depends_on_id":"epic-1","type":"parent-child","created_at":"2026-11-25T07:58:02Z"}]}"#,
            "\n",
            r#"{"_type":"memory","key":"k","value":"v"}"#,
            "\n",
            "{not json\n",
            r#"{"_type":"issue","id":"task-10","title":"T","created_at":"yesterday","updated_at":"2026-11-25T09:00:00Z"}"#,
            "\n",
            r#"{"id":"old-1","title":"no _type, no status","created_at":"2026-11-25T07:58:02Z","updated_at":"2026-11-25T07:58:02Z"}"#,
        );
        let parsed = parse(text);
        let ids: Vec<_> =
            parsed.rows.iter().map(|r| (r.id.as_str(), r.parent.as_str(), r.workflow_id.as_str())).collect();
        assert_eq!(ids, [("epic-1", "", "epic-1"), ("task-9", "epic-1", "epic-1"), ("old-1", "", "old-1")]);
        assert_eq!(parsed.skipped, 1);
        assert_eq!(parsed.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [5, 6], "{:?}", parsed.errors);
        assert!(parsed.errors[1].reason.contains("task-10") && parsed.errors[1].reason.contains("created_at"));
        let task = &parsed.rows[1];
        assert_eq!(task.created_at, 1_795_597_082_500, "08:58:02.5 UTC in milliseconds");
        assert_eq!(task.closed_at, Some(task.updated_at));
        assert_eq!((parsed.rows[2].status.as_str(), parsed.rows[2].issue_type.as_str()), ("open", "task"));
    }
}
