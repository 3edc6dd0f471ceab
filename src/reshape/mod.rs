//! Reshaping: decoded OTLP → typed rows, with workflow attribution. No I/O, no clock, no globals (the one piece
//! of state, the subagent directory, is passed in), so most of the product's logic is tested without a server.
//!
//! - [`attrs`] reads attribute values of any shape into column types;
//! - [`fields`] files a record's attributes by key in one pass;
//! - [`workflow`] decides workflow / stage / agent, with [`agents`] naming subagents by their id;
//! - [`logs`] and [`metrics`] build the rows of [`rows`] (the typed ones in `typed`);
//! - [`hash`] gives each record the content key that makes redelivery harmless.

pub mod agents;
pub mod attrs;
pub mod fields;
pub mod hash;
pub mod input;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod rows;
pub mod timestamp;
mod typed;
pub mod workflow;

pub use agents::AgentDirectory;
pub use input::{Decoded, LogsRequest, MetricsRequest, Request, Scoped};
pub use limits::Clock;
pub use logs::reshape_logs;
pub use metrics::reshape_metrics;
pub use rows::Rows;
pub use workflow::StageMap;

/// The rows of one request, and what of it could not be stored in full.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reshaped {
    /// Rows for every table.
    pub rows: Rows,
    /// Records (or data points) rejected in whole or from their typed table; reported in `partial_success`.
    pub rejected: u64,
    /// Why, one line per rejected record.
    pub problems: Vec<String>,
}

impl Reshaped {
    fn reject(&mut self, problem: String) {
        self.rejected += 1;
        self.problems.push(problem);
    }

    /// The `partial_success.error_message`: the first reasons, and how many more there were.
    pub fn summary(&self) -> String {
        const SHOWN: usize = 3;
        let mut text = self.problems.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
        if self.problems.len() > SHOWN {
            text.push_str(&format!("; and {} more", self.problems.len() - SHOWN));
        }
        text
    }
}
