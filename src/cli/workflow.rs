//! The flags `run` and `env` share: the workflow attributes a step is started with.

use clap::{Args, ValueEnum};

use crate::launch::workflow_id::{self, NEW};
use crate::launch::{AttributeError, Attributes};

/// Workflow attributes, each sent as the OTEL_RESOURCE_ATTRIBUTES key of its name. They win over the same keys in
/// an OTEL_RESOURCE_ATTRIBUTES already in the environment; its other keys are kept.
#[derive(Debug, Clone, Args)]
pub struct WorkflowArgs {
    /// `workflow_id`; `new` mints one (`wf-<UTC date>-<time>-<random>`) and prints it on stderr.
    #[arg(long, value_name = "ID")]
    pub workflow: Option<String>,
    /// `stage` (analyze, plan, implement, review, …). An orchestrating run goes without: its subagents are staged
    /// by their names.
    #[arg(long)]
    pub stage: Option<String>,
    /// `task_id`, e.g. the Beads task of the stage.
    #[arg(long, value_name = "ID")]
    pub task_id: Option<String>,
    /// `agent`: who runs the step (analyst, planner, …).
    #[arg(long)]
    pub agent: Option<String>,
    /// `workflow_path`.
    #[arg(long, value_enum)]
    pub path: Option<WorkflowPath>,
    /// `complexity` (e.g. simple, complex).
    #[arg(long)]
    pub complexity: Option<String>,
    /// `model_expected`: the model the step should use, to compare with the one it did.
    #[arg(long, value_name = "MODEL")]
    pub model_expected: Option<String>,
    /// Any other attribute (repeatable); the value is taken literally and percent-encoded.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attrs: Vec<String>,
}

/// The assessment's two workflow paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkflowPath {
    /// The fast track (fewer stages).
    Fast,
    /// All stages.
    Full,
}

/// The attributes of the flags, and the workflow id when `--workflow new` minted it.
pub struct Resolved {
    /// What goes into OTEL_RESOURCE_ATTRIBUTES.
    pub attributes: Attributes,
    /// The id minted for `--workflow new`.
    pub minted: Option<String>,
}

impl WorkflowArgs {
    /// Checks every flag (before anything runs) and mints the workflow id if asked to.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let minted = match self.workflow.as_deref() {
            Some(NEW) => Some(workflow_id::mint().map_err(|e| anyhow::anyhow!("cannot mint a workflow id: {e}"))?),
            _ => None,
        };
        let path = self.path.map(|p| match p {
            WorkflowPath::Fast => "fast",
            WorkflowPath::Full => "full",
        });
        let mut attributes = Attributes::new();
        let flags = [
            ("workflow_id", minted.as_deref().or(self.workflow.as_deref())),
            ("workflow_path", path),
            ("complexity", self.complexity.as_deref()),
            ("stage", self.stage.as_deref()),
            ("task_id", self.task_id.as_deref()),
            ("agent", self.agent.as_deref()),
            ("model_expected", self.model_expected.as_deref()),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                attributes.push(key, value).map_err(|e| flag_error(key, e))?;
            }
        }
        for pair in &self.attrs {
            attributes.push_pair(pair)?;
        }
        Ok(Resolved { attributes, minted })
    }
}

/// Names the flag rather than the attribute key, for the flags that have one.
fn flag_error(key: &str, error: AttributeError) -> anyhow::Error {
    let flag = match key {
        "workflow_id" => "--workflow",
        "workflow_path" => "--path",
        other => return anyhow::Error::new(error).context(format!("--{}", other.replace('_', "-"))),
    };
    anyhow::Error::new(error).context(flag)
}
