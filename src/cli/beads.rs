//! `tokenledger beads import [PATH]` and `tokenledger beads post --workflow ID`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::beads::bd::Bd;
use crate::beads::post::{self, Outcome};
use crate::beads::{import, BeadsError};
use crate::config::Config;
use crate::ledger;
use crate::sink::client;

/// `beads` actions.
#[derive(Debug, Subcommand)]
pub enum BeadsAction {
    /// Load Beads' issues (its JSONL export) into the beads_issues table; importing again updates, never
    /// duplicates.
    Import {
        /// The JSONL file. Default: beads.issues_path (.beads/issues.jsonl).
        path: Option<PathBuf>,
    },
    /// Post each stage task's token figures as a Beads comment (`bd comment`), unless its last one has them.
    Post {
        /// The workflow (its Beads epic id).
        #[arg(long)]
        workflow: String,
        /// Print what would be posted; post nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `beads` action.
pub fn run(config: &Config, action: BeadsAction) -> anyhow::Result<()> {
    let client = client::build(&config.clickhouse);
    match action {
        BeadsAction::Import { path } => {
            let path = path.unwrap_or_else(|| config.beads.issues_path.clone());
            let imported = super::runtime()?.block_on(import::import_file(&client, &path))?;
            let skipped = match imported.skipped {
                0 => String::new(),
                n => format!(" ({n} non-issue records skipped)"),
            };
            println!("imported {} issues from {}{skipped}", imported.issues, path.display());
            Ok(())
        }
        BeadsAction::Post { workflow, dry_run } => post_figures(config, &client, &workflow, dry_run),
    }
}

fn post_figures(config: &Config, client: &clickhouse::Client, workflow: &str, dry_run: bool) -> anyhow::Result<()> {
    let (groups, tasks) = super::runtime()?
        .block_on(async {
            Ok::<_, clickhouse::error::Error>((
                ledger::beads::task_stage_figures(client, workflow).await?,
                ledger::beads::workflow_tasks(client, workflow).await?,
            ))
        })
        .with_context(|| format!("reading workflow {workflow:?} from {}", config.clickhouse.url))?;
    if groups.is_empty() {
        return Err(BeadsError::UnknownWorkflow(workflow.to_string()).into());
    }
    let assignment = post::assign(workflow, &groups, &tasks);
    for group in &assignment.unassigned {
        eprintln!(
            "not posted: {} requests (${:.6}) with task_id {:?} and stage {:?}: no Beads task of that stage \
             (import the issues with `tokenledger beads import`, or start runs with a task_id)",
            group.requests, group.cost_usd, group.task_id, group.stage
        );
    }
    let bd = Bd::new(&config.beads);
    let outcomes = post::post(&bd, &assignment.tasks, dry_run)?;
    let mut failed = Vec::new();
    for (task, outcome) in assignment.tasks.iter().zip(outcomes) {
        let what = match outcome {
            Outcome::Posted => "posted",
            Outcome::Updated => "posted an update",
            Outcome::Unchanged => "unchanged, nothing posted",
            Outcome::WouldPost { update } => {
                println!("--- would post to {}:\n{}\n", task.task_id, task.comment(update));
                continue;
            }
            Outcome::Failed(error) => {
                failed.push(format!("  {}: {error}", task.task_id));
                continue;
            }
        };
        println!("{} ({}): {what}, ${:.6}", task.task_id, task.stages.join(", "), task.cost_usd);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(BeadsError::PostFailed(failed).into())
    }
}
