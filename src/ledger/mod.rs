//! The read side: what ClickHouse holds, asked one question per file (its SQL beside its `#[derive(Row)]` row
//! struct), for reports, Beads comments, weekly summaries, the price check and the budget figures `serve` exports
//! on /metrics (figures → exposition, refreshed by export). Every query reads the deduplicated
//! state with `FINAL` (as the views do), so a redelivered record counts once. Never reaches receive/; the one
//! thing it writes is the price table the `workflow_cost_check` view joins.

pub mod activity;
pub mod beads;
pub mod error;
pub mod export;
pub mod exposition;
pub mod figures;
pub mod human;
pub mod prices;
pub mod scope;
pub mod status;
pub mod usage;
pub mod weekly;

pub use error::LedgerError;
pub use scope::Scope;
