//! `tokenledger env [FLAGS]`: prints the telemetry environment of a workflow step, for `eval "$(tokenledger env …)"`,
//! settings.json's `env` block, or a dotenv file.

use clap::Args;

use crate::config::Config;
use crate::launch::environment::RESOURCE_ATTRIBUTES;
use crate::launch::{Environment, Format};

use super::workflow::WorkflowArgs;

/// `env` arguments.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The step's attributes.
    #[command(flatten)]
    pub workflow: WorkflowArgs,
    /// shell: `export NAME='value'` lines; json: an object for settings.json's `env`; dotenv: `NAME=value` lines.
    #[arg(long, value_enum, default_value = "shell")]
    pub format: Format,
    /// Print only the workflow id (with `--workflow new`, the one minted), e.g. `WF=$(tokenledger env --workflow
    /// new --print-id)`.
    #[arg(long, conflicts_with = "format", requires = "workflow")]
    pub print_id: bool,
}

/// Prints the environment (or the id).
pub fn print(config: &Config, args: &EnvArgs) -> anyhow::Result<()> {
    let resolved = args.workflow.resolve()?;
    if args.print_id {
        let id = resolved.attributes.get("workflow_id").unwrap_or_default();
        println!("{id}");
        return Ok(());
    }
    let inherited = std::env::var(RESOURCE_ATTRIBUTES).ok();
    let environment = Environment::build(&config.claude_telemetry, &resolved.attributes, inherited.as_deref())?;
    if let Some(id) = &resolved.minted {
        eprintln!("tokenledger: workflow_id={id}");
    }
    print!("{}", environment.render(args.format)?);
    Ok(())
}
