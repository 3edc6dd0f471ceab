//! Beads (the `bd` issue tracker): its issues into `beads_issues`, and each stage task's token figures back into
//! Beads as a comment.
//!
//! - [`jsonl`] reads Beads' JSONL export (pure): one row per issue, parent and workflow derived;
//! - [`import`] writes those rows to ClickHouse (re-importing replaces, never duplicates);
//! - [`comment`] renders a task's figures as a Markdown comment with a marker that remembers them (pure);
//! - [`bd`] runs the `bd` command (`bd comments ID --json`, `bd comment ID TEXT`);
//! - [`post`] decides, per stage task, whether to post, post an update or leave Beads alone.
//!
//! The figures themselves are queried in [`crate::ledger::beads`].

pub mod bd;
pub mod comment;
pub mod import;
pub mod jsonl;
pub mod post;

pub use jsonl::{BeadsIssueRow, LineError};

/// What can go wrong between tokenledger and Beads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeadsError {
    /// The JSONL file could not be read at all.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Some lines could not be read; every other line was imported.
    #[error("{path}: imported {imported} issues; {} line(s) could not be read:\n{}", .bad.len(), LineError::list(.bad))]
    BadLines {
        /// The file.
        path: String,
        /// Issues written.
        imported: usize,
        /// The lines left out, and why.
        bad: Vec<LineError>,
    },
    /// A query or insert failed.
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// `bd` could not be started.
    #[error("cannot run `{command}` (set beads.command to Beads' bd)")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// `bd` ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// `bd comments --json` printed something that is not its JSON.
    #[error("`{command}` printed unexpected output: {reason}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// The workflow has no api_request events.
    #[error("no api_request events for workflow {0:?}: nothing to post")]
    UnknownWorkflow(String),
    /// Some tasks could not be posted to; the others were.
    #[error("{} task(s) could not be posted:\n{}", .0.len(), .0.join("\n"))]
    PostFailed(Vec<String>),
}
