//! Starting a workflow step so its telemetry is attributed: the workflow attributes (checked and
//! percent-encoded for OTEL_RESOURCE_ATTRIBUTES), the telemetry environment Claude Code needs, minted workflow ids,
//! and running the step's command with signals and exit status passed through. `tokenledger run` and
//! `tokenledger env` are thin layers over this.
//!
//! A running `claude` fixed its resource attributes when it started, and its child processes do not get OTEL_*:
//! a stage can only be told apart by starting it as its own process with the right environment, which is what
//! this module does (or, inside one run, by the subagent's name, which the relay maps to a stage).

pub mod attributes;
pub mod child;
pub mod environment;
pub mod settings_conflicts;
pub mod workflow_id;

pub use attributes::{AttributeError, Attributes};
pub use child::LaunchError;
pub use environment::{Environment, Format};
