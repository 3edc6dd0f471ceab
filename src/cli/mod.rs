//! The command line: `serve`, `schema print|apply`, `config`, `health`, `run`, `env`, `report`, `beads
//! import|post`, `weekly`, `demo`, `version`; one file per subcommand.

mod beads;
mod config;
pub mod demo;
mod env;
pub mod exit;
mod health;
pub mod report;
mod run;
mod schema;
mod serve;
mod weekly;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Claude Code OpenTelemetry → per-workflow token and cost rows in ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "tokenledger", version)]
pub struct Cli {
    /// Config file (TOML). Default: ./tokenledger.toml when it exists.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay: OTLP gRPC + HTTP in, ClickHouse out, admin listener for /metrics.
    Serve,
    /// The ClickHouse schema.
    Schema {
        /// print or apply.
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Per-workflow figures (per stage and agent), or the top workflows / stages / agents / models by cost.
    Report(report::ReportArgs),
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Run a workflow step (`-- claude -p …`) with the telemetry environment and its attributes; exits with its
    /// status.
    #[command(after_help = MERGE_NOTE)]
    Run(run::RunArgs),
    /// Print a workflow step's telemetry environment: `eval "$(tokenledger env --stage plan …)"`.
    #[command(after_help = MERGE_NOTE)]
    Env(env::EnvArgs),
    /// Beads: import its issues; post each stage task's token figures as a comment.
    Beads {
        /// import or post.
        #[command(subcommand)]
        action: beads::BeadsAction,
    },
    /// A Markdown (or JSON) summary of a week: spend, top workflows and stages, change, optimization hints.
    Weekly(weekly::WeeklyArgs),
    /// Ask the running relay whether it is alive (exit 0 when /healthz answers 200); for container healthchecks.
    Health {
        /// Check /readyz instead: ClickHouse answers and the schema is in place.
        #[arg(long)]
        ready: bool,
        /// The admin listener to ask (default: `admin.addr` of the configuration, on this host).
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<std::net::SocketAddr>,
    },
    /// Send realistic Claude Code telemetry (N workflows over the last days, one of them over its budget) to a
    /// collector or relay, to fill the dashboards and fire one alert.
    Demo(demo::DemoArgs),
    /// Print the version.
    Version,
}

/// How `run` and `env` treat the caller's attributes.
const MERGE_NOTE: &str =
    "The attributes go into OTEL_RESOURCE_ATTRIBUTES, percent-encoded. An OTEL_RESOURCE_ATTRIBUTES \
already in the environment is merged: these flags win over its entries of the same key; its other entries are kept.";

/// `schema` actions.
#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Print the schema SQL.
    Print,
    /// Create the database, tables and views (idempotent).
    Apply,
}

impl Command {
    /// Whether this is the long-running relay (the only command worth tuning the allocator for).
    pub fn is_relay(&self) -> bool {
        matches!(self, Command::Serve)
    }
}

impl Cli {
    /// Runs the chosen subcommand; its exit code on success (a command that runs a child returns the child's).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if let Command::Run(args) = &self.command {
            let config = Config::load(self.config.as_deref())?;
            return run::run(&config, args);
        }
        self.dispatch().map(|()| ExitCode::SUCCESS)
    }

    fn dispatch(self) -> anyhow::Result<()> {
        if let Command::Version = self.command {
            println!("tokenledger {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        let config = Config::load(self.config.as_deref())?;
        match self.command {
            Command::Serve => runtime()?.block_on(serve::run(config)),
            Command::Schema { action: SchemaAction::Print } => {
                print!("{}", crate::sink::schema::print(&config.clickhouse.database));
                Ok(())
            }
            Command::Schema { action: SchemaAction::Apply } => runtime()?.block_on(schema::apply(&config)),
            Command::Report(args) => runtime()?.block_on(report::run(&config, &args)),
            Command::Config => config::print(&config),
            Command::Env(args) => env::print(&config, &args),
            Command::Beads { action } => beads::run(&config, action),
            Command::Weekly(args) => weekly::run(&config, args),
            Command::Demo(args) => demo::run(&config, &args),
            Command::Health { ready, addr } => health::run(&config, addr, ready),
            Command::Run(_) | Command::Version => Ok(()),
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
