//! `tokenledger run [FLAGS] -- COMMAND…`: runs a workflow step with the telemetry environment and its attributes;
//! exits with the step's status.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::launch::environment::RESOURCE_ATTRIBUTES;
use crate::launch::{child, settings_conflicts, Environment};

use super::workflow::WorkflowArgs;

/// `run` arguments.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The step's attributes.
    #[command(flatten)]
    pub workflow: WorkflowArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Checks the flags, then runs the command; its exit status is returned (128 + N when a signal N killed it).
pub fn run(config: &Config, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let resolved = args.workflow.resolve()?;
    let inherited = std::env::var(RESOURCE_ATTRIBUTES).ok();
    let environment = Environment::build(&config.claude_telemetry, &resolved.attributes, inherited.as_deref())?;
    if let Some(id) = &resolved.minted {
        eprintln!("tokenledger: workflow_id={id}");
    }
    for conflict in settings_conflicts::conflicts(&settings_conflicts::settings_files_here(), &environment.vars) {
        eprintln!(
            "tokenledger: warning: {} sets {} in its \"env\" block, which Claude Code applies over the environment \
             tokenledger starts it with; remove it there",
            conflict.file.display(),
            conflict.name
        );
    }
    Ok(ExitCode::from(child::run(&args.command, &environment.vars)?))
}
